"""Data-parallel training over several processes (``portax[mpi]``): every process joins the run with
``portax.distributed.initialize()``, feeds its part of each global batch to ``pmap`` over its local devices,
and ``lax.pmean`` averages the gradients over every device of every process (over MPI between processes).

    mpirun -n 2 python examples/multiprocess_train.py            # 2 processes on this machine
    mpirun -n 4 --hostfile hosts python examples/multiprocess_train.py   # several machines
    mpirun -n 2 python examples/multiprocess_train.py --shard-map  # the same step as a jitted shard_map

With ``--shard-map`` the step is a jitted ``shard_map`` over a mesh of every process's devices: the batch is a
global array (``make_array_from_process_local_data``: each process gives its rows), the parameters are
replicated over the mesh, and each process runs its devices' blocks.

The global batch is the same whatever the number of processes, so every run follows the same trajectory;
process 0 prints the losses and the time per step.
"""
import argparse
import time

import numpy as np

import portax as jax
import portax.numpy as jnp
from portax import lax
from portax.sharding import Mesh, NamedSharding, PartitionSpec as P


def init_params(sizes, seed=0):
    rng = np.random.RandomState(seed)
    return [{"w": (rng.randn(m, n) / np.sqrt(m)).astype(np.float32), "b": np.zeros(n, np.float32)}
            for m, n in zip(sizes[:-1], sizes[1:])]


def loss(params, x, y):
    for layer in params[:-1]:
        x = jnp.tanh(x @ layer["w"] + layer["b"])
    return jnp.mean((x @ params[-1]["w"] + params[-1]["b"] - y) ** 2)


def sgd_step(params, x, y, lr):
    """Local gradient, averaged over every device of every process, same update everywhere."""
    value, grads = jax.value_and_grad(loss)(params, x, y)
    grads = lax.pmean(grads, "batch")
    return jax.tree_util.tree_map(lambda p, g: p - lr * g, params, grads), lax.pmean(value, "batch")


def pmapped(params, xs, ys, lr):
    """The step pmapped over this process's devices (each takes its rows of this process's part)."""
    n_local = jax.local_device_count()
    step = jax.pmap(lambda params, x, y: sgd_step(params, x, y, lr), axis_name="batch")
    return (step, jax.device_put_replicated(params, jax.local_devices()),
            xs.reshape(n_local, -1, xs.shape[-1]), ys.reshape(n_local, -1, ys.shape[-1]))


def sharded(params, xs, ys, lr):
    """The step as a jitted shard_map over a mesh of every process's devices, on global arrays."""
    mesh = Mesh(np.array(jax.devices()), ("batch",))
    step = jax.jit(jax.shard_map(lambda params, x, y: sgd_step(params, x, y, lr), mesh=mesh,
                                 in_specs=(P(), P("batch"), P("batch")), out_specs=(P(), P())))
    rows = NamedSharding(mesh, P("batch"))
    return (step, jax.device_put(params, NamedSharding(mesh, P())), jax.make_array_from_process_local_data(rows, xs),
            jax.make_array_from_process_local_data(rows, ys))


def main(steps=30, batch=2048, width=256, lr=0.05, shard_map=False):
    jax.distributed.initialize()
    n_dev, n_local, p = jax.device_count(), jax.local_device_count(), jax.process_index()
    rng = np.random.RandomState(1)
    x = rng.uniform(-2, 2, (batch, 16)).astype(np.float32)
    y = np.sin(x.sum(axis=1, keepdims=True)).astype(np.float32)
    per = batch // n_dev  # examples per device; this process's devices take rows [p*n_local*per, ...)
    mine = slice(p * n_local * per, (p + 1) * n_local * per)
    step, params, xs, ys = (sharded if shard_map else pmapped)(init_params((16, width, width, 1)), x[mine],
                                                               y[mine], lr)
    params, value = step(params, xs, ys)  # compile
    value.block_until_ready()
    start = time.perf_counter()
    for _ in range(steps):
        params, value = step(params, xs, ys)
    value.block_until_ready()
    seconds = (time.perf_counter() - start) / steps
    if p == 0:
        print(f"{jax.process_count()} process(es), {n_dev} device(s): loss {float(np.ravel(value)[0]):.6f}, "
              f"{seconds * 1e3:.1f} ms per step", flush=True)
    jax.distributed.shutdown()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--batch", type=int, default=2048)
    parser.add_argument("--shard-map", action="store_true", help="a jitted shard_map over every process's devices")
    args = parser.parse_args()
    main(args.steps, args.batch, shard_map=args.shard_map)
