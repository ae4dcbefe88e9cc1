"""``portax.sharding``: meshes of devices and the shardings that lay arrays out over them (``jax.sharding``)."""
from portax.core.sharded import Shard  # noqa: F401
from portax.core.sharding import (AxisType, Mesh, NamedSharding, PartitionSpec, Sharding,  # noqa: F401
                                  SingleDeviceSharding, get_mesh, set_mesh)

__all__ = ["AxisType", "Mesh", "NamedSharding", "PartitionSpec", "Sharding", "SingleDeviceSharding", "Shard",
           "get_mesh", "set_mesh"]
