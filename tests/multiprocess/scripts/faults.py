"""Run under mpirun with one mode: how a multi-process run fails (see test_multiprocess.py)."""
import os
import sys

import numpy as np

import portax as jax
from portax import lax
from portax.experimental import multihost_utils

mode = sys.argv[1]
if mode == "misuse":
    try:
        multihost_utils.process_allgather(np.zeros(2))
    except RuntimeError as e:
        print("error:", e, flush=True)
jax.distributed.initialize(heartbeat_timeout_seconds=int(os.environ.get("TIMEOUT", "100")))
p = jax.process_index()
x = np.ones((jax.local_device_count(), 3), np.float32)
psum = jax.pmap(lambda v: lax.psum(v, "i"), axis_name="i")
if mode == "misuse":
    try:
        jax.distributed.initialize()
    except RuntimeError as e:
        print("error:", e, flush=True)
elif mode == "raise" and p == 1:
    raise ValueError("process 1 fails on purpose")
elif mode == "die" and p == 1:
    os._exit(3)
elif mode == "leave" and p == 1:
    sys.exit(0)
elif mode == "diverge" and p == 1:
    def other_program(v):
        return lax.pmax(v, "i")
    jax.pmap(other_program, axis_name="i")(x)
psum(x)
print(f"process {p}: done", flush=True)
if mode == "misuse":  # a mesh holding other processes' devices: a clear error, never a local computation
    import portax.numpy as jnp
    from portax.sharding import Mesh, NamedSharding, PartitionSpec
    mesh = Mesh(np.array(jax.devices()), ("d",))
    whole = jnp.arange(2.0 * len(jax.devices()))
    for attempt in (lambda: jax.device_put(whole, NamedSharding(mesh, PartitionSpec("d"))),
                    lambda: jax.shard_map(lambda v: lax.psum(v, "d"), mesh=mesh, in_specs=PartitionSpec("d"),
                                          out_specs=PartitionSpec())(np.ones(len(jax.devices())))):
        try:
            attempt()
        except NotImplementedError as e:
            print("error:", str(e).split(":")[0], flush=True)
