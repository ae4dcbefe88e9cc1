"""Every measured result is checked against NumPy, so no cell times a wrong computation.

``verify(key, out, sizes)`` raises ``WrongResult`` naming the workload, the output leaf and the error.
Errors are relative to the largest expected magnitude of each output (for the sum: to the sum of the
magnitudes of its terms, the scale of its rounding error); ``random.normal`` is checked statistically.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from . import numpy_impl
from .workloads import Sizes, elementwise_inputs

TOLERANCES = {"dispatch": 1e-6, "selu": 1e-5, "sum_xyz": 1e-6, "matmul_0": 1e-4, "matmul_1": 1e-4}
MLP_TOLERANCE = 1e-3  # MLP losses and gradients: float32 through three layers, any summation order


class WrongResult(AssertionError):
    pass


def leaves(tree: Any) -> list[np.ndarray]:
    """The arrays of nested lists/tuples (the MLP's ``[(w, b), ...]``), in order."""
    if isinstance(tree, (list, tuple)):
        return [leaf for sub in tree for leaf in leaves(sub)]
    return [np.asarray(tree)]


def _check_normal(sample: np.ndarray, sizes: Sizes) -> None:
    n = sizes.normals
    mean, std = float(np.mean(sample, dtype=np.float64)), float(np.std(sample, dtype=np.float64))
    if sample.shape != (n,) or not np.all(np.isfinite(sample)) or abs(mean) > 6 / np.sqrt(n) or \
            abs(std - 1) > 0.01 + 10 / np.sqrt(n):
        raise WrongResult(f"normal: shape {sample.shape}, mean {mean:.4g}, std {std:.4g} are not those of "
                          f"{n} standard normal samples")


def relative_error(got: np.ndarray, expected: np.ndarray, scale: float | None = None) -> float:
    """The largest difference over ``scale`` (default: the largest expected magnitude)."""
    if scale is None:
        scale = max(float(np.max(np.abs(expected))), 1e-30)
    return float(np.max(np.abs(got.astype(np.float64) - expected))) / scale


def verify(key: str, out: Any, sizes: Sizes) -> None:
    """Raise ``WrongResult`` unless ``out`` (one call's result of workload ``key``) matches NumPy's."""
    got = leaves(out)
    if key == "normal":
        return _check_normal(got[0], sizes)
    base = key.rsplit("_", 1)[0] if key.startswith("compile_") else key
    expected = leaves(numpy_impl.build(base, sizes)())
    if [g.shape for g in got] != [e.shape for e in expected]:
        raise WrongResult(f"{key}: output shapes {[g.shape for g in got]}, expected {[e.shape for e in expected]}")
    tol = TOLERANCES.get(key, MLP_TOLERANCE)
    for i, (g, e) in enumerate(zip(got, expected)):
        scale = None
        if key == "sum_xyz":
            x, y, z = elementwise_inputs(sizes.elementwise, 3)
            scale = float(np.sum(np.abs(x) + np.abs(y * z), dtype=np.float64))
        err = relative_error(g, e, scale)
        if not err <= tol:
            raise WrongResult(f"{key}: output {i} differs from NumPy's by {err:.3g} (relative), tolerance {tol}")
