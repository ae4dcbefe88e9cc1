"""The NumPy column: each workload as a NumPy user writes it (the MLP's backward pass by hand)."""
from __future__ import annotations

import numpy as np

from .workloads import (LEARNING_RATE, SELU_ALPHA, SELU_SCALE, Job, Sizes, attention_inputs, cnn_batch, cnn_params,
                        conv_inputs, elementwise_inputs, linear_problem, matmul_inputs, mlp_batch, mlp_params)


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


def _same_pads(n: int, k: int, s: int) -> tuple[int, int]:
    total = max(0, (-(-n // s) - 1) * s + k - n)
    return total // 2, total - total // 2


def _patches(x: np.ndarray, k: int, s: int) -> np.ndarray:
    """im2col of a 'SAME' k x k stride-s convolution of NCHW ``x``: (N, C, k, k, Ho, Wo)."""
    n, c, h, w = x.shape
    (top, bottom), (left, right) = _same_pads(h, k, s), _same_pads(w, k, s)
    xp = np.pad(x, ((0, 0), (0, 0), (top, bottom), (left, right)))
    ho, wo = -(-h // s), -(-w // s)
    cols = np.empty((n, c, k, k, ho, wo), x.dtype)
    for i in range(k):
        for j in range(k):
            cols[:, :, i, j] = xp[:, :, i:i + s * (ho - 1) + 1:s, j:j + s * (wo - 1) + 1:s]
    return cols


def conv(x: np.ndarray, w: np.ndarray, s: int) -> np.ndarray:
    """'SAME' convolution, NCHW input, OIHW kernel, stride s."""
    cols = _patches(x, w.shape[-1], s)
    n, _, _, _, ho, wo = cols.shape
    out = np.einsum("ok,nkp->nop", w.reshape(w.shape[0], -1), cols.reshape(n, -1, ho * wo))
    return out.reshape(n, w.shape[0], ho, wo)


def conv_grads(x: np.ndarray, w: np.ndarray, g: np.ndarray, s: int) -> tuple[np.ndarray, np.ndarray]:
    """Gradients of ``sum(conv(x, w, s) * g)`` with respect to x and w."""
    k = w.shape[-1]
    cols = _patches(x, k, s)
    n, c, _, _, ho, wo = cols.shape
    gm = g.reshape(n, g.shape[1], -1)
    dw = np.einsum("nop,nkp->ok", gm, cols.reshape(n, -1, ho * wo)).reshape(w.shape)
    dcols = np.einsum("ok,nop->nkp", w.reshape(w.shape[0], -1), gm).reshape(cols.shape)
    (top, bottom), (left, right) = _same_pads(x.shape[2], k, s), _same_pads(x.shape[3], k, s)
    dxp = np.zeros((n, c, x.shape[2] + top + bottom, x.shape[3] + left + right), x.dtype)
    for i in range(k):
        for j in range(k):
            dxp[:, :, i:i + s * (ho - 1) + 1:s, j:j + s * (wo - 1) + 1:s] += dcols[:, :, i, j]
    return dxp[:, :, top:top + x.shape[2], left:left + x.shape[3]], dw


def cnn_grads(params: list, x: np.ndarray, y: np.ndarray) -> list:
    """Gradients of the CNN's mean softmax cross-entropy (``workloads.cnn_loss_fn``) by hand."""
    (w1, b1), (w2, b2), (w3, b3) = params
    z1 = conv(x, w1, 2) + b1[None, :, None, None]
    h1 = np.maximum(z1, 0)
    z2 = conv(h1, w2, 2) + b2[None, :, None, None]
    h2 = np.maximum(z2, 0)
    flat = h2.reshape(len(x), -1)
    logits = flat @ w3 + b3
    p = np.exp(logits - logits.max(axis=1, keepdims=True))
    dl = (p / p.sum(axis=1, keepdims=True) - y) / len(x)
    dz2 = (dl @ w3.T).reshape(h2.shape) * (z2 > 0)
    dh1, dw2 = conv_grads(h1, w2, dz2, 2)
    dz1 = dh1 * (z1 > 0)
    dw1 = conv_grads(x, w1, dz1, 2)[1]
    return [(dw1, dz1.sum(axis=(0, 2, 3))), (dw2, dz2.sum(axis=(0, 2, 3))), (flat.T @ dl, dl.sum(axis=0))]


def _attention(q, k, v):
    """softmax(q k^T / sqrt(head size)) v per batch and head (BTNH), as jax.nn.dot_product_attention."""
    scores = np.einsum("btnh,bsnh->bnts", q, k) / np.float32(np.sqrt(q.shape[-1]))
    weights = np.exp(scores - scores.max(-1, keepdims=True))
    weights /= weights.sum(-1, keepdims=True)
    return np.einsum("bnts,bsnh->btnh", weights, v)


def _sgd(grads_fn):
    def step(params, x, y):
        return [(w - LEARNING_RATE * gw, b - LEARNING_RATE * gb)
                for (w, b), (gw, gb) in zip(params, grads_fn(params, x, y))]
    return step


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
        return Job(_sgd(lambda p, x, y: mlp_grads(p, x, y, False)), (mlp_params(sizes), *mlp_batch(sizes, sizes.batch)))
    if key == "conv_fwd":
        return Job(lambda x, w: conv(x, w, 1), tuple(conv_inputs(sizes)[:2]))
    if key == "conv_grads":
        return Job(lambda x, w, g: conv_grads(x, w, g, 1), tuple(conv_inputs(sizes)))
    if key == "cnn_step":
        return Job(_sgd(cnn_grads), (cnn_params(), *cnn_batch(sizes)))
    if key == "attention":
        return Job(_attention, tuple(attention_inputs(sizes)))
    if key == "per_example_grads":
        return Job(lambda p, x, y: mlp_grads(p, x, y, True),
                   (mlp_params(sizes), *mlp_batch(sizes, sizes.per_example_batch)))
    if key == "per_example_linear":
        def grads(params, x, y):
            w, b = params
            residual2 = 2 * (x @ w + b - y)
            return residual2[:, None] * x, residual2
        (w, b), x, y = linear_problem(sizes)
        return Job(grads, ((w, b), x, y), sizes.dispatch_calls // 10)
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
