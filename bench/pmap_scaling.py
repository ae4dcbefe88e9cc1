"""Data-parallel scaling: one pmap'd SGD step of the benchmark MLP (per-device gradients, ``lax.pmean`` of
them, the same update on every device) on 1 and on 2 devices, with the same batch per device.

``python -m bench.pmap_scaling FRAMEWORK [--mode M] [--devices N]`` measures in this process and prints one
JSON line: ``one_s`` and ``two_s`` (seconds per step, medians, the 1- and 2-device runs interleaved so
that load changes hit both alike) and ``ratio`` (examples/s on 2 devices over examples/s on 1). FRAMEWORK
is a portax backend (started with ``PORTAX_CPU_DEVICES=2``, whose virtual devices get one core each) or
``jax`` (with ``--xla_force_host_platform_device_count=2``); ``--devices 1`` times one device alone (for
portax with ``PORTAX_CPU_DEVICES=1``: one device using every core). Results are checked against NumPy.
"""
from __future__ import annotations

import argparse
import json
import statistics
import time
from typing import Any, Callable

import numpy as np

from . import numpy_impl
from .workloads import LEARNING_RATE, SIZES, Sizes, mlp_batch, mlp_loss_fn, mlp_params

KEY = "pmap_scaling"  # its name among bench.run's workloads
DEVICE_COUNT_VARS = {"cpu_llvm": "PORTAX_CPU_DEVICES", "reference": "PORTAX_REFERENCE_DEVICES",
                     "wgpu": "PORTAX_WGPU_DEVICES"}
PER_DEVICE_BATCH = {"full": 512, "quick": 16}
REPEATS = {"full": (9, 10), "quick": (2, 2)}  # timing samples per device count, steps per sample


def environment(framework: str, devices: int) -> dict[str, str]:
    """The variables a process measuring ``framework`` on ``devices`` (1 or 2) devices starts with."""
    if framework == "jax":
        return {"XLA_FLAGS": "--xla_force_host_platform_device_count=2"}
    return {DEVICE_COUNT_VARS[framework]: str(devices)}


def data_parallel_step(jax: Any) -> Callable:
    """The step a JAX user pmaps over ``axis_name='batch'``."""
    loss = mlp_loss_fn(jax)

    def step(params, x, y):
        grads = jax.lax.pmean(jax.grad(loss)(params, x, y), "batch")
        return jax.tree_util.tree_map(lambda p, g: p - LEARNING_RATE * g, params, grads)
    return step


def expected_step(sizes: Sizes, x: np.ndarray, y: np.ndarray) -> list:
    """NumPy's result of one step on every device's shard: the mean of equal-sized shards' gradients is
    the gradient of the whole batch."""
    params = mlp_params(sizes)
    grads = numpy_impl.mlp_grads(params, x.reshape(-1, x.shape[-1]), y.reshape(-1, y.shape[-1]), False)
    return [(w - LEARNING_RATE * gw, b - LEARNING_RATE * gb) for (w, b), (gw, gb) in zip(params, grads)]


def _framework(name: str) -> tuple[Any, list]:
    if name == "jax":
        import jax
        return jax, jax.devices("cpu")
    import portax
    return portax, portax.devices(name)


def check_step(got: Any, want: list, n: int) -> None:
    """Raise AssertionError unless the stacked per-device parameters ``got`` all equal NumPy's ``want``."""
    for k, ((w, b), (ew, eb)) in enumerate(zip(got, want)):
        for name, g, e in (("w", w, ew), ("b", b, eb)):
            g = np.asarray(g)
            err = float(np.max(np.abs(g - e[None]))) / max(float(np.max(np.abs(e))), 1e-30)
            if g.shape != (n,) + e.shape or not err <= 1e-3:
                raise AssertionError(f"pmap step on {n} device(s): layer {k} {name} has shape {g.shape} and differs "
                                     f"from NumPy's by {err:.3g} (relative)")


def measure(name: str, mode: str, counts: tuple[int, ...]) -> dict:
    """Seconds per step on each device count in ``counts`` (runs interleaved), checked against NumPy."""
    jax, devices = _framework(name)
    if len(devices) < max(counts):
        raise RuntimeError(f"{name} offers {len(devices)} device(s), the benchmark needs {max(counts)}")
    sizes, per_device = SIZES[mode], PER_DEVICE_BATCH[mode]
    x, y = mlp_batch(sizes, 2 * per_device)
    runs = {}
    for n in counts:
        devs = devices[:n]
        xs, ys = x[:n * per_device].reshape(n, per_device, -1), y[:n * per_device].reshape(n, per_device, -1)
        step = jax.pmap(data_parallel_step(jax), axis_name="batch", devices=devs)
        replicas = [(np.stack([w] * n), np.stack([b] * n)) for w, b in mlp_params(sizes)]
        args = jax.pmap(lambda *a: a, devices=devs)(replicas, xs, ys)  # placed on the devices once
        check_step(jax.block_until_ready(step(*args)), expected_step(sizes, xs, ys), n)
        runs[n] = (step, args)
    samples, calls = REPEATS[mode]
    times: dict[int, list[float]] = {n: [] for n in counts}
    for _ in range(samples):
        for n, (step, (params, xs, ys)) in runs.items():
            start = time.perf_counter()
            for _ in range(calls):
                params = step(params, xs, ys)
            jax.block_until_ready(params)
            times[n].append((time.perf_counter() - start) / calls)
    result = {"framework": name, "per_device_batch": per_device, "mlp": list(sizes.mlp)}
    result.update({f"{'one' if n == 1 else 'two'}_s": statistics.median(times[n]) for n in counts})
    if "two_s" in result:
        result["ratio"] = 2 * result["one_s"] / result["two_s"]
    return result


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(prog="python -m bench.pmap_scaling", description=__doc__.splitlines()[0])
    p.add_argument("framework", help="a portax backend name, or jax")
    p.add_argument("--mode", choices=sorted(SIZES), default="full")
    p.add_argument("--devices", type=int, choices=(1, 2), default=2, help="2: time 1 and 2 devices; 1: one only")
    args = p.parse_args(argv)
    print(json.dumps(measure(args.framework, args.mode, (1, 2) if args.devices == 2 else (1,))))


if __name__ == "__main__":
    main()
