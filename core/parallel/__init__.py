"""Multi-device parallelism: named axes (``axis_env``), the ``xla_pmap`` primitive and ``pmap``
(``pmap``), and the SPMD runner that executes a per-device program on every device of a mesh with the
backend's collectives (``spmd``), ``shard_map`` over an N-d mesh (``shard_map``, its primitive in
``shard_map_call``) and the sharding pass of jit with shardings (``partition``). Sharded results are
``core.sharded.ShardedArray`` (pmap) and ``core.sharded.MeshArray`` (a NamedSharding)."""
