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
elif mode == "diverge_native" and p == 1:  # a large all_gather by MPI's own against a small psum in the header
    jax.pmap(lambda v: lax.all_gather(v, "i"), axis_name="i")(np.ones((jax.local_device_count(), 300), np.float32))
psum(x)
print(f"process {p}: done", flush=True)
