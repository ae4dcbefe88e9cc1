"""Data-parallel training with ``pmap`` (``make demo`` runs it when more than one device is available):
each device computes the gradient of its shard of the batch, ``lax.pmean`` averages the gradients over
the devices, and every device applies the same SGD update to its replica of the parameters.

Try it with several virtual devices, e.g. ``PORTAX_REFERENCE_DEVICES=4 python examples/pmap_demo.py``
(``PORTAX_CPU_DEVICES`` for cpu_llvm, ``PORTAX_WGPU_DEVICES`` for wgpu).
"""
import time

import numpy as np

import portax as jax
import portax.numpy as jnp
from portax import lax


def init_params(key, sizes=(2, 32, 1)):
    params = []
    for k, (m, n) in zip(jax.random.split(key, len(sizes) - 1), zip(sizes[:-1], sizes[1:])):
        params.append({"w": jax.random.normal(k, (m, n)) / np.sqrt(m), "b": jnp.zeros(n)})
    return params


def predict(params, x):
    for layer in params[:-1]:
        x = jnp.tanh(x @ layer["w"] + layer["b"])
    return x @ params[-1]["w"] + params[-1]["b"]


def loss(params, x, y):
    return jnp.mean((predict(params, x) - y) ** 2)


def sgd_step(params, x, y, lr):
    """One step on every device: local gradient, averaged over the devices, same update everywhere."""
    value, grads = jax.value_and_grad(loss)(params, x, y)
    grads = lax.pmean(grads, "batch")
    new = jax.tree_util.tree_map(lambda p, g: p - lr * g, params, grads)
    return new, lax.pmean(value, "batch")


def make_data(n, seed=0):
    rng = np.random.RandomState(seed)
    x = rng.uniform(-2, 2, (n, 2)).astype(np.float32)
    y = (np.sin(1.5 * x[:, :1]) * np.cos(1.5 * x[:, 1:])).astype(np.float32)
    return x, y


def train(steps, devices, batch=64, lr=0.1, seed=0):
    """Train on ``devices``; returns the final parameters (device 0's replica) and the losses."""
    n = len(devices)
    if batch % n:
        raise ValueError(f"the batch of {batch} examples does not split over {n} devices")
    x, y = make_data(batch, seed)
    xs, ys = x.reshape(n, batch // n, 2), y.reshape(n, batch // n, 1)
    replicated = jax.device_put_replicated(init_params(jax.random.PRNGKey(seed)), devices)
    step = jax.pmap(sgd_step, axis_name="batch", in_axes=(0, 0, 0, None), devices=devices)
    losses = []
    for _ in range(steps):
        replicated, value = step(replicated, xs, ys, lr)
        losses.append(float(value[0]))
    return jax.tree_util.tree_map(lambda p: p[0], replicated), losses


def main():
    devices = jax.devices()
    print(f"backend: {jax.default_backend()}  devices: {devices}")
    t0 = time.perf_counter()
    params, losses = train(200, devices)
    for i in range(0, 200, 40):
        print(f"step {i:4d}  loss {losses[i]:.5f}")
    print(f"200 data-parallel SGD steps on {len(devices)} devices in {time.perf_counter() - t0:.2f}s; "
          f"final loss {losses[-1]:.5f}")
    x, y = make_data(64)
    print(f"loss of device 0's parameters on the whole batch: {float(loss(params, x, y)):.5f}")


if __name__ == "__main__":
    main()
