"""Data-parallel training over several processes (``portax[mpi]``): every process joins the run with
``portax.distributed.initialize()``, feeds its part of each global batch to ``pmap`` over its local devices,
and ``lax.pmean`` averages the gradients over every device of every process (over MPI between processes).

    mpirun -n 2 python examples/multiprocess_train.py            # 2 processes on this machine
    mpirun -n 4 --hostfile hosts python examples/multiprocess_train.py   # several machines

The global batch is the same whatever the number of processes, so every run follows the same trajectory;
process 0 prints the losses and the time per step.
"""
import argparse
import time

import numpy as np

import portax as jax
import portax.numpy as jnp
from portax import lax


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


def main(steps=30, batch=2048, width=256, lr=0.05):
    jax.distributed.initialize()
    n_dev, n_local, p = jax.device_count(), jax.local_device_count(), jax.process_index()
    rng = np.random.RandomState(1)
    x = rng.uniform(-2, 2, (batch, 16)).astype(np.float32)
    y = np.sin(x.sum(axis=1, keepdims=True)).astype(np.float32)
    per = batch // n_dev  # examples per device; this process's devices take rows [p*n_local*per, ...)
    mine = slice(p * n_local * per, (p + 1) * n_local * per)
    xs, ys = (a[mine].reshape(n_local, per, -1) for a in (x, y))
    params = jax.device_put_replicated(init_params((16, width, width, 1)), jax.local_devices())
    step = jax.pmap(sgd_step, axis_name="batch", in_axes=(0, 0, 0, None))
    params, value = step(params, xs, ys, lr)  # compile
    value.block_until_ready()
    start = time.perf_counter()
    for _ in range(steps):
        params, value = step(params, xs, ys, lr)
    value.block_until_ready()
    seconds = (time.perf_counter() - start) / steps
    if p == 0:
        print(f"{jax.process_count()} process(es), {n_dev} device(s): loss {float(np.asarray(value)[0]):.6f}, "
              f"{seconds * 1e3:.1f} ms per step", flush=True)
    jax.distributed.shutdown()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--batch", type=int, default=2048)
    args = parser.parse_args()
    main(args.steps, args.batch)
