"""The benchmark workloads, written once against JAX's API.

``build(fw, key, sizes)`` runs unchanged with ``import portax as jax`` and with the real ``jax``: ``fw`` is a
``worker.Framework`` giving the module (``fw.jax``), its ``jit`` bound to one backend, and ``put``.
``numpy_impl`` holds the NumPy versions. This module imports neither portax nor jax, so the JAX worker
(another virtualenv) loads it too.
"""
from __future__ import annotations

import dataclasses
from typing import Any, Callable

import numpy as np


@dataclasses.dataclass(frozen=True)
class Sizes:
    """Problem sizes of one run (``full`` is what the issues ask for, ``quick`` a smoke run)."""

    elementwise: int  # elements of selu and sum(x + y*z) (and of the bandwidth probes: see membw)
    matmuls: tuple[int, int]  # the two square matmul sizes
    mlp: tuple[int, ...]  # layer widths of the MLP, input first
    batch: int  # training-step batch
    per_example_batch: int  # batch of vmap(grad)
    normals: int  # samples of random.normal
    dispatch_calls: int  # calls per timing sample of the tiny jitted function
    conv: tuple[int, int, int, int, int]  # conv rows: batch, in features, height = width, out features, kernel
    cnn_batch: int  # batch of the CNN train step (28x28 inputs)
    attention: tuple[int, int, int, int]  # dot_product_attention: batch, sequence, heads, head size (BTNH)


SIZES = {
    "full": Sizes(10_000_000, (1024, 2048), (784, 512, 512, 10), 128, 32, 10_000_000, 2000, (32, 32, 14, 64, 3), 32,
                  (8, 128, 8, 64)),
    "quick": Sizes(200_000, (128, 256), (64, 32, 32, 10), 16, 8, 200_000, 200, (4, 8, 8, 16, 3), 4, (2, 16, 2, 8)),
}


@dataclasses.dataclass(frozen=True)
class Workload:
    """One row of the table: ``work(sizes)`` is bytes, flops or items per call (1 for plain times)."""

    key: str
    title: Callable[[Sizes], str]
    unit: str
    work: Callable[[Sizes], float]
    scale: float  # value = work / seconds / scale (rates), or seconds * scale (times)
    rate: bool  # True: higher is better (GB/s, GFLOP/s, steps/s); False: a time
    memory_bound: str | None = None  # "copy" (reads and writes) or "read": the bandwidth it is compared with
    compile_probe: str | None = None  # "loss"/"grad" rows are measured in fresh processes

    def value(self, seconds: float, sizes: Sizes) -> float:
        return self.work(sizes) / seconds / self.scale if self.rate else seconds * self.scale


def _count(n: int) -> str:
    for div, suffix in ((1_000_000, "M"), (1_000, "K")):
        if n >= div and n % div == 0:
            return f"{n // div}{suffix}"
    return str(n)


def _mlp_name(s: Sizes) -> str:
    return "-".join(map(str, s.mlp))


def _matmul(i: int) -> Workload:
    return Workload(f"matmul_{i}", lambda s: f"matmul {s.matmuls[i]}² f32", "GFLOP/s",
                    lambda s: 2.0 * s.matmuls[i] ** 3, 1e9, True)


def _conv_name(s: Sizes) -> str:
    n, c, h, o, k = s.conv
    return f"{n}x{c}x{h}x{h} * {o}x{c}x{k}x{k} SAME, NCHW f32"


def _conv_flops(s: Sizes) -> float:
    n, c, h, o, k = s.conv
    return 2.0 * n * o * h * h * c * k * k


def _compile(probe: str, cache: str) -> Workload:
    what = "MLP loss" if probe == "loss" else "grad of MLP loss"
    return Workload(f"compile_{probe}_{cache}", lambda s: f"first call: {what} ({cache} disk cache)", "ms",
                    lambda s: 1.0, 1e3, False, compile_probe=probe)


WORKLOADS = [
    Workload("dispatch", lambda s: "dispatch: tiny jitted fn", "µs/call", lambda s: 1.0, 1e6, False),
    _compile("loss", "cold"),
    _compile("grad", "cold"),
    _compile("loss", "warm"),
    _compile("grad", "warm"),
    Workload("selu", lambda s: f"selu {_count(s.elementwise)} f32", "GB/s", lambda s: 8.0 * s.elementwise, 1e9, True,
             memory_bound="copy"),
    Workload("sum_xyz", lambda s: f"sum(x + y*z) {_count(s.elementwise)} f32", "GB/s",
             lambda s: 12.0 * s.elementwise, 1e9, True, memory_bound="read"),
    _matmul(0),
    _matmul(1),
    Workload("mlp_step", lambda s: f"MLP {_mlp_name(s)} train step, batch {s.batch}", "steps/s",
             lambda s: 1.0, 1.0, True),
    Workload("conv_fwd", lambda s: f"conv forward {_conv_name(s)}", "GFLOP/s", _conv_flops, 1e9, True),
    Workload("conv_grads", lambda s: f"conv lhs and rhs gradients {_conv_name(s)}", "GFLOP/s",
             lambda s: 2.0 * _conv_flops(s), 1e9, True),
    Workload("cnn_step", lambda s: f"CNN train step (3x3 stride-2 convs 1-32-64 + dense), batch {s.cnn_batch}, "
             "28x28 NCHW", "steps/s", lambda s: 1.0, 1.0, True),
    Workload("per_example_grads", lambda s: f"per-example grads vmap(grad), batch {s.per_example_batch}",
             "ms", lambda s: 1.0, 1e3, False),
    Workload("per_example_linear", lambda s: f"per-example grads vmap(grad) of a linear model, batch "
             f"{s.per_example_batch}, {LINEAR_FEATURES} features", "µs", lambda s: 1.0, 1e6, False),
    Workload("attention", lambda s: "dot_product_attention B{} T{} N{} H{} f32".format(*s.attention), "ms",
             lambda s: 1.0, 1e3, False),
    Workload("normal", lambda s: f"random.normal {_count(s.normals)} f32", "ms", lambda s: 1.0, 1e3, False),
]
BY_KEY = {w.key: w for w in WORKLOADS}
RUNTIME_KEYS = [w.key for w in WORKLOADS if w.compile_probe is None]

SELU_ALPHA = 1.6732632423543772848170429916717
SELU_SCALE = 1.0507009873554804934193349852946


# -- data, shared by every framework (numpy arrays, moved with fw.put) --------------------------------

def mlp_params(sizes: Sizes, seed: int = 0) -> list[tuple[np.ndarray, np.ndarray]]:
    """He-initialised float32 (W, b) pairs for ``sizes.mlp``."""
    rng = np.random.default_rng(seed)
    widths = sizes.mlp
    return [((rng.standard_normal((m, n)) * np.sqrt(2.0 / m)).astype(np.float32), np.zeros(n, np.float32))
            for m, n in zip(widths[:-1], widths[1:])]


def mlp_batch(sizes: Sizes, batch: int, seed: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """Inputs and one-hot labels."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((batch, sizes.mlp[0])).astype(np.float32)
    y = np.eye(sizes.mlp[-1], dtype=np.float32)[rng.integers(0, sizes.mlp[-1], batch)]
    return x, y


def elementwise_inputs(n: int, count: int, seed: int = 2) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [rng.standard_normal(n, dtype=np.float32) for _ in range(count)]


def matmul_inputs(n: int, seed: int = 3) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [rng.standard_normal((n, n), dtype=np.float32) for _ in range(2)]


def conv_inputs(sizes: Sizes, seed: int = 4) -> list[np.ndarray]:
    """x (NCHW), w (OIHW) and an output cotangent of the conv rows."""
    n, c, h, o, k = sizes.conv
    rng = np.random.default_rng(seed)
    return [rng.standard_normal(shape, dtype=np.float32) for shape in ((n, c, h, h), (o, c, k, k), (n, o, h, h))]


def attention_inputs(sizes: Sizes, seed: int = 8) -> list[np.ndarray]:
    """q, k, v of the attention row (batch, sequence, heads, head size: JAX's BTNH layout)."""
    rng = np.random.default_rng(seed)
    return [rng.standard_normal(sizes.attention, dtype=np.float32) for _ in range(3)]


LINEAR_FEATURES = 64  # inputs of the linear model of the per-example-gradients row (sub-millisecond calls)


def linear_problem(sizes: Sizes, seed: int = 7) -> tuple[tuple[np.ndarray, np.ndarray], np.ndarray, np.ndarray]:
    """``((w, b), x, y)`` of a least-squares linear model: w (features,), b a 0-d array, one target per row."""
    rng = np.random.default_rng(seed)
    w = rng.standard_normal(LINEAR_FEATURES).astype(np.float32)
    x = rng.standard_normal((sizes.per_example_batch, LINEAR_FEATURES)).astype(np.float32)
    return (w, np.array(0.5, np.float32)), x, rng.standard_normal(sizes.per_example_batch).astype(np.float32)


CNN_FEATURES = (1, 32, 64)
CNN_SIDE = 28  # input height and width; each stride-2 conv halves it


def cnn_params(seed: int = 5) -> list[tuple[np.ndarray, np.ndarray]]:
    """He-initialised (w, b) of the two 3x3 convs (OIHW) and the dense layer."""
    rng = np.random.default_rng(seed)
    (c0, c1, c2), side = CNN_FEATURES, CNN_SIDE // 4
    shapes = [((c1, c0, 3, 3), c0 * 9), ((c2, c1, 3, 3), c1 * 9), ((c2 * side * side, 10), c2 * side * side)]
    return [((rng.standard_normal(shape) * np.sqrt(2.0 / fan_in)).astype(np.float32),
             np.zeros(shape[0] if len(shape) == 4 else shape[1], np.float32)) for shape, fan_in in shapes]


def cnn_batch(sizes: Sizes, seed: int = 6) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((sizes.cnn_batch, CNN_FEATURES[0], CNN_SIDE, CNN_SIDE)).astype(np.float32)
    y = np.eye(10, dtype=np.float32)[rng.integers(0, 10, sizes.cnn_batch)]
    return x, y


# -- the JAX-API programs ----------------------------------------------------------------------------

def mlp_loss_fn(jax: Any) -> Callable:
    """Softmax cross-entropy of a ReLU MLP, as a JAX user writes it."""
    jnp = jax.numpy

    def loss(params, x, y):
        for w, b in params[:-1]:
            x = jax.nn.relu(x @ w + b)
        w, b = params[-1]
        logits = x @ w + b
        return -jnp.mean(jnp.sum(jax.nn.log_softmax(logits) * y, axis=-1))

    return loss


def cnn_loss_fn(jax: Any) -> Callable:
    """Softmax cross-entropy of two ReLU 3x3 stride-2 convolutions (NCHW) and a dense layer."""
    jnp = jax.numpy

    def loss(params, x, y):
        for w, b in params[:-1]:
            x = jax.nn.relu(jax.lax.conv_general_dilated(x, w, (2, 2), "SAME") + b[None, :, None, None])
        w, b = params[-1]
        logits = x.reshape(x.shape[0], -1) @ w + b
        return -jnp.mean(jnp.sum(jax.nn.log_softmax(logits) * y, axis=-1))

    return loss


def sgd(jax: Any, loss: Callable) -> Callable:
    """One SGD step of ``loss``."""
    def step(params, x, y):
        grads = jax.grad(loss)(params, x, y)
        return jax.tree_util.tree_map(lambda p, g: p - LEARNING_RATE * g, params, grads)
    return step


LEARNING_RATE = 0.01


@dataclasses.dataclass
class Job:
    """``fn(*args)`` called ``calls`` times per run (the last result is what the caller blocks on)."""

    fn: Callable
    args: tuple
    calls: int = 1

    def __call__(self) -> Any:
        out = None
        for _ in range(self.calls):
            out = self.fn(*self.args)
        return out


def build(fw: Any, key: str, sizes: Sizes) -> Job:
    """Workload ``key`` as a jitted function and its arguments, already on the device."""
    jax, jit, put = fw.jax, fw.jit, fw.put
    jnp = jax.numpy
    if key == "dispatch":
        return Job(jit(lambda x: x * 2.0 + 1.0), (put(np.arange(8, dtype=np.float32)),), sizes.dispatch_calls)
    if key == "selu":
        return Job(jit(jax.nn.selu), tuple(map(put, elementwise_inputs(sizes.elementwise, 1))))
    if key == "sum_xyz":
        return Job(jit(lambda x, y, z: jnp.sum(x + y * z)), tuple(map(put, elementwise_inputs(sizes.elementwise, 3))))
    if key.startswith("matmul_"):
        return Job(jit(lambda a, b: a @ b), tuple(map(put, matmul_inputs(sizes.matmuls[int(key[-1])]))))
    if key in ("conv_fwd", "conv_grads"):
        x, w, g = map(put, conv_inputs(sizes))
        conv = lambda x, w: jax.lax.conv_general_dilated(x, w, (1, 1), "SAME")
        if key == "conv_fwd":
            return Job(jit(conv), (x, w))
        return Job(jit(lambda x, w, g: jax.vjp(conv, x, w)[1](g)), (x, w, g))
    if key == "attention":
        return Job(jit(jax.nn.dot_product_attention), tuple(map(put, attention_inputs(sizes))))
    if key == "cnn_step":
        params = jax.tree_util.tree_map(put, cnn_params())
        return Job(jit(sgd(jax, cnn_loss_fn(jax))), (params, *map(put, cnn_batch(sizes))))
    if key == "per_example_linear":
        def squared_error(params, x, y):
            w, b = params
            return (jnp.dot(x, w) + b - y) ** 2
        f = jit(jax.vmap(jax.grad(squared_error), in_axes=(None, 0, 0)))
        (w, b), x, y = linear_problem(sizes)
        return Job(f, ((put(w), put(b)), put(x), put(y)), sizes.dispatch_calls // 10)
    loss = mlp_loss_fn(jax)
    params = jax.tree_util.tree_map(put, mlp_params(sizes))
    if key == "mlp_step":
        return Job(jit(sgd(jax, loss)), (params, *map(put, mlp_batch(sizes, sizes.batch))))
    if key == "per_example_grads":
        def example_loss(params, x, y):
            return loss(params, x[None], y[None])
        f = jit(jax.vmap(jax.grad(example_loss), in_axes=(None, 0, 0)))
        return Job(f, (params, *map(put, mlp_batch(sizes, sizes.per_example_batch))))
    if key == "normal":
        n = sizes.normals
        return Job(jit(lambda k: jax.random.normal(k, (n,), jnp.float32)), (put(np.zeros(2, np.uint32)),))
    if key in ("compile_loss", "compile_grad"):
        f = loss if key == "compile_loss" else jax.grad(loss)
        return Job(jit(f), (params, *map(put, mlp_batch(sizes, sizes.batch))))
    raise KeyError(f"unknown workload {key!r}")
