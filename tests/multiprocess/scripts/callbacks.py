"""Run under mpirun: host callbacks in jit over a global array of a mesh spanning every process's devices run once,
in the process of the mesh's first device, with the global value (as JAX runs them: on device 0); inside a
shard_map each process runs them for its own devices' blocks. Each process prints what its callbacks saw."""
import numpy as np

import portax as jax
from portax.experimental import multihost_utils
from portax.sharding import Mesh, NamedSharding, PartitionSpec as P

jax.distributed.initialize()
p, N = jax.process_index(), jax.device_count()
mesh = Mesh(np.array(jax.devices()), ("x",))
x = np.arange(N * 2 * 3, dtype=np.float32).reshape(N * 2, 3)
g = jax.device_put(x, NamedSharding(mesh, P("x")))
seen = []
out = jax.jit(lambda v: jax.pure_callback(lambda t: seen.append(("jit", float(t.sum()))) or t * 2,
                                          jax.ShapeDtypeStruct(v.shape, v.dtype), v) + v)(g)
np.testing.assert_array_equal(multihost_utils.process_allgather(out), 3 * x)
jax.jit(jax.shard_map(lambda b: jax.debug.callback(lambda t: seen.append(("shard_map", float(t.sum()))), b) or b,
                      mesh=mesh, in_specs=P("x"), out_specs=P("x")))(g)
jax.effects_barrier()
multihost_utils.sync_global_devices("callbacks done")
print(f"process {p} saw {sorted(seen)}", flush=True)
jax.distributed.shutdown()
print(f"process {p}: OK", flush=True)
