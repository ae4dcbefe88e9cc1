"""The numpy lowering of ``fused_softmax`` for the reference backend: the oracle the conformance suite
compares cpu_llvm and wgpu with, so it is the primitive's semantics written out (see ``softmax``)."""
from __future__ import annotations

import numpy as np

from .softmax import compute_dtype


def fused_softmax_reference(x: np.ndarray) -> np.ndarray:
    """Softmax over the last axis, computed in ``compute_dtype`` and rounded once to ``x.dtype``."""
    if x.size == 0:
        return np.empty(x.shape, x.dtype)
    c = x.astype(compute_dtype(x.dtype))
    with np.errstate(invalid="ignore", over="ignore"):
        e = np.exp(c - np.max(c, axis=-1, keepdims=True))
        return (e / np.sum(e, axis=-1, keepdims=True)).astype(x.dtype)
