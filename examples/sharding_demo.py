"""Sharding walkthrough: a mesh of devices, arrays laid out over it, and a data-parallel training step
written two ways: ``jit`` with ``in_shardings`` (the sharding pass keeps the batch-split work on each
device and adds the partial gradients with a psum) and ``shard_map`` (each device runs the step on its
block; ``lax.pmean`` averages the gradients). Both match the single-device step.

Run it with four virtual devices: ``PORTAX_CPU_DEVICES=4 python examples/sharding_demo.py``
(``PORTAX_REFERENCE_DEVICES`` for the reference backend, ``PORTAX_WGPU_DEVICES`` for wgpu).
"""
import numpy as np

import portax as jax
import portax.numpy as jnp
from portax import lax
from portax.sharding import NamedSharding, PartitionSpec as P


def loss(w, x, y):
    return jnp.mean((jnp.tanh(x @ w["a"]) @ w["b"] - y) ** 2)


def step(w, x, y, lr=0.1):
    value, grads = jax.value_and_grad(loss)(w, x, y)
    return jax.tree_util.tree_map(lambda p, g: p - lr * g, w, grads), value


def make_problem(batch=32, seed=0):
    rng = np.random.RandomState(seed)
    w = {"a": rng.randn(4, 16).astype(np.float32) / 2, "b": rng.randn(16, 1).astype(np.float32) / 4}
    x = rng.randn(batch, 4).astype(np.float32)
    return w, x, np.sin(x.sum(1, keepdims=True))


def train(mesh, steps=5, use_shard_map=False):
    """``steps`` SGD steps with the batch split over every axis of ``mesh``: the parameters and losses."""
    w, x, y = make_problem()
    batch = NamedSharding(mesh, P(mesh.axis_names))  # rows split over all the mesh's devices
    replicated = NamedSharding(mesh, P())
    if use_shard_map:
        def local(w, x, y):  # one device's block of the batch: average the gradients over the mesh
            value, grads = jax.value_and_grad(loss)(w, x, y)
            grads, value = lax.pmean((grads, value), mesh.axis_names)
            return jax.tree_util.tree_map(lambda p, g: p - 0.1 * g, w, grads), value
        run = jax.jit(jax.shard_map(local, mesh=mesh, in_specs=(P(), P(mesh.axis_names), P(mesh.axis_names)),
                                    out_specs=(P(), P())))
    else:
        run = jax.jit(step, in_shardings=(replicated, batch, batch), out_shardings=replicated)
    x, y = jax.device_put(x, batch), jax.device_put(y, batch)
    losses = []
    for _ in range(steps):
        w, value = run(w, x, y)
        losses.append(float(value))
    return w, losses


if __name__ == "__main__":
    n = jax.device_count()
    mesh = jax.make_mesh((2, n // 2) if n % 2 == 0 and n > 1 else (n, 1), ("x", "y"))
    print(f"mesh: {mesh}")
    _, x, _ = make_problem()
    xs = jax.device_put(x[:8], NamedSharding(mesh, P("x", "y")))
    print("an (8, 4) array laid out by P('x', 'y'):")
    jax.debug.visualize_array_sharding(xs)
    w, ref = make_problem()[0], []
    for _ in range(5):
        w, value = step(w, *make_problem()[1:])
        ref.append(float(value))
    for name, shard_map in (("jit(in_shardings=...)", False), ("shard_map", True)):
        _, losses = train(mesh, use_shard_map=shard_map)
        print(f"{name:22s} losses {np.round(losses, 5)}  (one device: {np.round(ref, 5)})")
