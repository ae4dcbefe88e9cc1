"""The NumPy column: each workload as a NumPy user writes it (the MLP's backward pass by hand)."""
from __future__ import annotations

import numpy as np

from .workloads import (LEARNING_RATE, SELU_ALPHA, SELU_SCALE, Job, Sizes, elementwise_inputs, matmul_inputs, mlp_batch,
                        mlp_params)


def _forward(params: list, x: np.ndarray) -> tuple[list, list, np.ndarray]:
    """Activations, pre-activations of the hidden layers, and the log-softmax of the logits."""
    hs, zs = [x], []
    for w, b in params[:-1]:
        zs.append(hs[-1] @ w + b)
        hs.append(np.maximum(zs[-1], 0.0))
    logits = hs[-1] @ params[-1][0] + params[-1][1]
    shifted = logits - logits.max(axis=-1, keepdims=True)
    return hs, zs, shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))


def _mlp_loss(params: list, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    return -np.mean(np.sum(_forward(params, x)[2] * y, axis=-1))


def mlp_grads(params: list, x: np.ndarray, y: np.ndarray, per_example: bool) -> list:
    """Gradients of the mean softmax cross-entropy; per example (leading batch axis) if ``per_example``."""
    hs, zs, log_probs = _forward(params, x)
    delta = np.exp(log_probs) * y.sum(axis=-1, keepdims=True) - y
    if not per_example:
        delta /= x.shape[0]
    grads = []
    for layer in range(len(params) - 1, -1, -1):
        h = hs[layer]
        dw = np.einsum("bi,bj->bij", h, delta) if per_example else h.T @ delta
        grads.append((dw, delta if per_example else delta.sum(axis=0)))
        if layer:
            delta = (delta @ params[layer][0].T) * (zs[layer - 1] > 0)
    return grads[::-1]


def build(key: str, sizes: Sizes) -> Job:
    """Workload ``key`` as NumPy code and its arguments."""
    if key == "dispatch":
        return Job(lambda x: x * 2.0 + 1.0, (np.arange(8, dtype=np.float32),), sizes.dispatch_calls)
    if key == "selu":
        return Job(lambda x: SELU_SCALE * np.where(x > 0, x, SELU_ALPHA * np.expm1(np.minimum(x, 0.0))),
                   tuple(elementwise_inputs(sizes.elementwise, 1)))
    if key == "sum_xyz":
        return Job(lambda x, y, z: np.sum(x + y * z), tuple(elementwise_inputs(sizes.elementwise, 3)))
    if key.startswith("matmul_"):
        return Job(np.matmul, tuple(matmul_inputs(sizes.matmuls[int(key[-1])])))
    if key == "mlp_step":
        def step(params, x, y):
            return [(w - LEARNING_RATE * gw, b - LEARNING_RATE * gb)
                    for (w, b), (gw, gb) in zip(params, mlp_grads(params, x, y, False))]
        return Job(step, (mlp_params(sizes), *mlp_batch(sizes, sizes.batch)))
    if key == "per_example_grads":
        return Job(lambda p, x, y: mlp_grads(p, x, y, True),
                   (mlp_params(sizes), *mlp_batch(sizes, sizes.per_example_batch)))
    if key == "normal":
        return Job(lambda rng: rng.standard_normal(sizes.normals, dtype=np.float32), (np.random.default_rng(0),))
    if key in ("compile_loss", "compile_grad"):  # what the first-call rows compile, for checking their results
        fn = _mlp_loss if key == "compile_loss" else lambda p, x, y: mlp_grads(p, x, y, False)
        return Job(fn, (mlp_params(sizes), *mlp_batch(sizes, sizes.batch)))
    raise NotImplementedError(f"NumPy has no equivalent of workload {key!r}")


def blas_info() -> str:
    """Which BLAS kernel NumPy runs (threadpoolctl when installed, else OpenBLAS's own corename)."""
    try:
        from threadpoolctl import threadpool_info
    except ImportError:
        return _openblas_corename()
    blas = [f"{i.get('internal_api')} {i.get('version')} {i.get('architecture')} ({i.get('num_threads')} threads)"
            for i in threadpool_info() if i.get("user_api") == "blas"]
    return "; ".join(blas) + " (threadpoolctl)" if blas else "no BLAS found by threadpoolctl"


def _openblas_corename() -> str:
    import ctypes
    with open("/proc/self/maps") as maps:
        libs = sorted({line.split()[-1] for line in maps if "openblas" in line.lower() and ".so" in line})
    for path in libs:
        lib = ctypes.CDLL(path)
        for prefix, suffix in (("", ""), ("scipy_", "64_"), ("scipy_", "")):
            fn = getattr(lib, f"{prefix}openblas_get_corename{suffix}", None)
            if fn is not None:
                fn.restype = ctypes.c_char_p
                return f"OpenBLAS core {fn().decode()} (from the library; threadpoolctl not installed)"
    return "unknown BLAS (threadpoolctl not installed, no OpenBLAS loaded)"
