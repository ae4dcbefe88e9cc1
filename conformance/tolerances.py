"""Per-op, per-dtype tolerances (in ulps) and the comparison of a backend's outputs with the reference's.

How an output element passes, for floating-point dtypes:

* exactly equal (``-0 == +0``), or
* within ``ulps`` units in the last place of the reference value, or
* within ``atol_eps * eps(dtype) * accum * max(1, max|reference|)`` in absolute terms, which covers results
  that cancel to near zero (``sin(pi)``) and sums whose rounding depends on the order of accumulation
  (``accum`` is the number of terms summed into one element: reductions, dot products).

NaN must match NaN and infinities must match exactly (sign included) when the backend declares
``ieee_specials``; otherwise elements where the reference is not finite are not compared. Integer and bool
outputs are always compared exactly, and so is every output of a bit-level op (bitcast, PRNG).

Derivatives compose several ops, so jvp/vjp tolerances are ``4 * ulps + 4`` (and the same for ``atol_eps``).
"""
from __future__ import annotations

import dataclasses

import numpy as np

from portax.core import dtypes


@dataclasses.dataclass(frozen=True)
class Tolerance:
    ulps: float = 0
    atol_eps: float = 0
    bitwise: bool = False

    def for_transform(self, transform: str) -> "Tolerance":
        if transform in ("jvp", "vjp") and not self.bitwise:
            return Tolerance(self.ulps * 4 + 4, self.atol_eps * 4 + 4)
        return self

    def __str__(self) -> str:
        if self.bitwise:
            return "bit-exact"
        return f"{self.ulps:g} ulp / {self.atol_eps:g} eps abs"


EXACT = Tolerance(0, 0)
BITWISE = Tolerance(bitwise=True)
# bfloat16 and the float8 types are computed in float32 and rounded once: a couple of their ulps at most.
_NARROW = {d.name: Tolerance(2, 2) for d in dtypes.CUSTOM_FLOATS}
_ROUNDED = {"float16": Tolerance(1, 1), "float32": Tolerance(1, 1), "float64": Tolerance(1, 1), **_NARROW}
_TRANSCENDENTAL = {"float16": Tolerance(2, 2), "float32": Tolerance(4, 4), "float64": Tolerance(4, 4), **_NARROW}
_SPECIAL_FN = {"float16": Tolerance(4, 4), "float32": Tolerance(16, 16), "float64": Tolerance(16, 16), **_NARROW}
_ACCUMULATE = {"float16": Tolerance(2, 2), "float32": Tolerance(2, 2), "float64": Tolerance(2, 2), **_NARROW}
_FACTORIZE = {"float16": Tolerance(16, 16), "float32": Tolerance(64, 64), "float64": Tolerance(64, 64), **_NARROW}

# primitive name -> {float dtype name -> Tolerance}. Names absent here are exact (structural ops, comparisons,
# bitwise and integer ops, conversions, selection, rounding to integers).
TABLE: dict[str, dict[str, Tolerance]] = {}
for _names, _tol in (
        (("add", "sub", "mul", "div", "sqrt", "square", "integer_pow", "rem", "clamp"), _ROUNDED),
        (("rsqrt", "cbrt", "exp", "exp2", "expm1", "log", "log1p", "sin", "cos", "tan", "tanh", "logistic",
          "asin", "acos", "atan", "atan2", "sinh", "cosh", "asinh", "acosh", "atanh", "pow"), _TRANSCENDENTAL),
        (("erf", "erfc", "erf_inv", "lgamma", "digamma"), _SPECIAL_FN),
        (("reduce_sum", "reduce_prod", "cumsum", "cumprod", "cumlogsumexp", "dot_general", "scatter_add",
          "scatter_mul", "conv_general_dilated", "reduce_window_sum", "fft", "psum", "reduce_scatter"), _ACCUMULATE),
        (("cholesky", "triangular_solve", "qr", "svd", "eigh", "eig", "lu", "complex_linalg"), _FACTORIZE),
        (("bitcast_convert_type", "threefry2x32"), {}),
):
    for _n in _names:
        TABLE[_n] = _tol
BITWISE_OPS = frozenset({"bitcast_convert_type", "threefry2x32"})


def set_tolerance(primitive_name: str, dtype, tolerance: Tolerance) -> None:
    """Declare the tolerance of a (plugin) primitive for one float dtype."""
    TABLE.setdefault(primitive_name, {})[np.dtype(dtype).name] = tolerance


def tolerance_for(primitive_name: str, dtype) -> Tolerance:
    if primitive_name in BITWISE_OPS:
        return BITWISE
    return TABLE.get(primitive_name, {}).get(np.dtype(dtype).name, EXACT)


@dataclasses.dataclass
class Mismatch:
    """Why a backend's output differs from the reference's, for the failure message."""

    text: str
    max_ulps: float = 0.0
    max_abs: float = 0.0

    def __str__(self) -> str:
        return self.text


def _ordered(x: np.ndarray) -> np.ndarray:
    """Float bits as int64 keys whose order is the float order (-0 and +0 both map to 0)."""
    bits = x.view(np.dtype(f"i{x.dtype.itemsize}")).astype(np.int64)
    magnitude = bits & np.int64(2 ** (x.dtype.itemsize * 8 - 1) - 1)
    return np.where(bits < 0, -magnitude, bits)


def ulp_distance(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Units in the last place between float arrays of one dtype (as float64)."""
    ka, kb = _ordered(a), _ordered(b)
    same_side = (ka >= 0) == (kb >= 0)
    across = np.abs(ka).astype(np.float64) + np.abs(kb).astype(np.float64)
    return np.where(same_side, np.abs(np.where(same_side, ka - kb, 0)).astype(np.float64), across)


def compare(got: np.ndarray, want: np.ndarray, tol: Tolerance, ieee_specials: bool = True,
            accum: int = 1) -> Mismatch | None:
    """None if ``got`` conforms to ``want`` under ``tol``; otherwise what differs and by how much."""
    got, want = np.asarray(got), np.asarray(want)
    if got.shape != want.shape or got.dtype != want.dtype:
        return Mismatch(f"output is {got.dtype.name}{list(got.shape)}, expected {want.dtype.name}{list(want.shape)}")
    if got.size == 0:
        return None
    if tol.bitwise or dtypes.kind(want.dtype) not in "f":
        g, w = (got, want) if dtypes.kind(want.dtype) != "f" else (_bits(got), _bits(want))
        bad = g != w
        if not bad.any():
            return None
        return Mismatch(f"{int(bad.sum())} of {bad.size} elements differ (exact comparison); first at index "
                        f"{_first(bad)}: got {got[_first(bad)]!r}, expected {want[_first(bad)]!r}")
    finite = np.isfinite(want)
    special_bad = finite & ~np.isfinite(got)  # NaN/Inf where the reference is finite
    if ieee_specials:
        special_bad |= ~finite & ~((np.isnan(want) & np.isnan(got)) | (want == got))
    check = finite & np.isfinite(got)
    g64, w64 = got.astype(np.float64), want.astype(np.float64)
    with np.errstate(invalid="ignore", over="ignore"):
        abs_err = np.where(check, np.abs(g64 - w64), 0.0)
    ulps = np.where(check, ulp_distance(got, want), 0.0)
    scale = max(1.0, float(np.max(np.abs(w64[finite]))) if finite.any() else 1.0)
    atol = tol.atol_eps * float(dtypes.finfo(want.dtype).eps) * max(accum, 1) * scale
    bad = special_bad | (check & (ulps > tol.ulps) & (abs_err > atol))
    if not bad.any():
        return None
    i = _first(bad)
    max_ulps, max_abs = float(ulps.max()), float(abs_err.max())
    text = (f"{int(bad.sum())} of {bad.size} elements out of tolerance: max error {max_ulps:g} ulp "
            f"(abs {max_abs:.3g}) vs tolerance {tol.ulps:g} ulp (abs {atol:.3g}); first at index {i}: "
            f"got {got[i]!r}, expected {want[i]!r}")
    return Mismatch(text, max_ulps, max_abs)


def _bits(x: np.ndarray) -> np.ndarray:
    return x.view(np.dtype(f"u{x.dtype.itemsize}"))


def _first(mask: np.ndarray) -> tuple:
    return tuple(int(i) for i in np.argwhere(mask)[0])
