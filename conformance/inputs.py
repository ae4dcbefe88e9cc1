"""Operand values: random arrays inside an op's domain, IEEE special values, integer edge values."""
from __future__ import annotations

import numpy as np

from portax.core import dtypes

# name -> (low, high) for floats; values are drawn uniformly (then cast), keeping results finite in float16.
FLOAT_DOMAINS = {
    "real": (-3.0, 3.0),
    "positive": (0.1, 4.0),
    "unit": (-0.95, 0.95),
    "ge1": (1.05, 4.0),
    "tan": (-1.2, 1.2),
    "near1": (0.5, 1.5),
}


def values(rng: np.random.RandomState, shape: tuple, dtype, domain: str = "real") -> np.ndarray:
    """Random values of ``dtype`` and ``shape``; ``domain`` names a float range (integers stay small)."""
    dtype = np.dtype(dtype)
    shape = tuple(shape)
    if dtypes.kind(dtype) == "b":
        return np.asarray(rng.rand(*shape) < 0.5)
    if dtypes.kind(dtype) == "f":
        if domain == "nonzero":
            sign = np.where(rng.rand(*shape) < 0.5, -1.0, 1.0)
            return (sign * rng.uniform(0.25, 3.0, size=shape)).astype(dtype)
        lo, hi = FLOAT_DOMAINS.get(domain, FLOAT_DOMAINS["real"])
        return np.asarray(rng.uniform(lo, hi, size=shape)).astype(dtype)
    return np.asarray(_ints(rng, shape, dtype, domain), dtype=dtype)


def _ints(rng: np.random.RandomState, shape: tuple, dtype: np.dtype, domain: str) -> np.ndarray:
    if domain == "shift":
        return rng.randint(0, dtype.itemsize * 8, size=shape)
    if domain == "nonzero":
        v = rng.randint(1, 9, size=shape)
        if dtypes.kind(dtype) == "i":
            v = np.where(rng.rand(*shape) < 0.5, -v, v)
        return v
    lo = 0 if dtypes.kind(dtype) == "u" or domain in ("positive", "ge1", "near1") else -9
    return rng.randint(lo, 10, size=shape)


def float_specials(dtype) -> np.ndarray:
    """NaN, infinities, signed zeros, extremes and ordinary values of a float dtype (no subnormals)."""
    fi = dtypes.finfo(dtype)
    return np.array([np.nan, np.inf, -np.inf, 0.0, -0.0, 1.0, -1.0, 0.5, -0.5, 1.5, 2.5, -2.5, fi.max, -fi.max,
                     fi.tiny, -fi.tiny], dtype=dtype)


def magnitude_bands(dtype, domain: str = "real", subnormals: bool = True) -> dict[str, np.ndarray]:
    """Float operands across the whole range, one array per band of similar result sizes (so an absolute
    tolerance scaled by the largest result cannot hide errors on the small ones): tiny (subnormals unless
    the backend flushes them), around +-1 and huge, kept inside ``domain`` (as ``FLOAT_DOMAINS``)."""
    fi = dtypes.finfo(dtype)
    lo = float(fi.smallest_subnormal if subnormals else fi.tiny)
    ks = np.arange(1, 17, dtype=np.float64)
    with np.errstate(over="ignore"):
        bands = {"tiny": np.geomspace(lo, 1e-3, 60), "near 1": np.concatenate([1 + ks * float(fi.eps),
                                                                               1 - ks * float(fi.epsneg)]),
                 "huge": np.geomspace(1e3, float(fi.max), 60)}
    out = {}
    for name, mag in bands.items():
        v = np.concatenate([mag, -mag])
        if domain in ("positive", "near1"):
            v = mag
        elif domain in ("unit", "tan"):
            v = v[np.abs(v) < (1 if domain == "unit" else np.inf)]
        elif domain == "ge1":
            v = mag[mag > 1]
        if v.size:
            out[name] = v.astype(dtype)
    return out


def int_edges(dtype) -> np.ndarray:
    """The extremes of an integer dtype and the values around zero."""
    ii = np.iinfo(dtype)
    vals = [ii.min, ii.min + 1, ii.max, ii.max - 1, 0, 1, 2, 7]
    if dtypes.kind(dtype) == "i":
        vals += [-1, -2, -7]
    return np.array(vals, dtype=dtype)


def edge_values(dtype) -> np.ndarray | None:
    """Special operands for a dtype: IEEE specials for floats, extremes for integers, both bools."""
    dtype = np.dtype(dtype)
    if dtypes.kind(dtype) == "f":
        return float_specials(dtype)
    if dtypes.kind(dtype) in "iu":
        return int_edges(dtype)
    return np.array([False, True])


def cross(*columns: np.ndarray) -> list[np.ndarray]:
    """Every combination of the given value lists, as flat arrays (n-ary ops on all pairs of specials)."""
    grids = np.meshgrid(*columns, indexing="ij")
    return [g.ravel() for g in grids]
