"""Complex special values (issue 12, item 6): every complex elementwise function on a grid whose real and imaginary
parts are 0, -0, +-tiny, +-1, +-2.5, +-100, +-1000, +-1e20, +-huge, +-inf and NaN, eager and under jit, on the
backend under test (``PORTAX_BACKEND``), against numpy (C99 Annex G for the special values).

Comparison per part: a NaN must be NaN (its sign is free); an infinity must be the same infinity, a zero the same
signed zero, except where Annex G leaves that sign unspecified (the other part is NaN, or an input part is not
finite); finite values agree within a tolerance relative to the larger part. Deliberate deviations from numpy:
  * expm1: where e^re overflows, is 0 or NaN, numpy's expm1 gives NaN or inf parts where e^z - 1 does not
    (expm1(inf + 0j) = inf + nan j although exp(inf + 0j) = inf + 0j; expm1(100 + tiny j) = inf + inf j in
    complex64); portax gives e^z - 1 there, from the overflow-free exp (C has no cexpm1).
  * square, z ** 3, multiply: where both products of a part overflow (re^2 - im^2 with both squares infinite), the
    part is inf - inf = NaN, as C's multiplication; numpy's loop fuses one product (FMA) and gives +-inf.
  * reciprocal is 1 / z, as JAX (numpy's own reciprocal loop gives NaN + NaN j at 0, its 1 / z gives inf + NaN j).
  * x ** y is exp(y log x) for every y, as JAX (with Annex G's recovery of infinities in y log x, as C's cpow):
    numpy multiplies repeatedly for real integer y, so x ** 2.0 of an infinite x is compared only with
    non-integer y; pairs whose phase Im(y log x) exceeds 1e4 are left out (no digit of it is known); the signs of
    zero parts of x ** y are not compared.
"""
import warnings

import numpy as np
import pytest

import portax as jax
import portax.numpy as jnp
from portax import lax
from portax.core.backend import get_backend

from core_helpers import x64_enabled

PARTS = [0.0, -0.0, "tiny", "-tiny", 1.0, -1.0, 2.5, -2.5, 100.0, -100.0, 1e3, -1e3, 1e20, -1e20, "huge", "-huge",
         np.inf, -np.inf, np.nan]
BINARY_PARTS = [0.0, -0.0, "tiny", 1.0, -2.5, 1e20, "-huge", np.inf, -np.inf, np.nan]


def _values(parts: list, dtype) -> np.ndarray:
    info = np.finfo(dtype)
    named = {"tiny": info.tiny, "-tiny": -info.tiny, "huge": info.max / 4, "-huge": -info.max / 4}
    return np.array([named.get(p, p) if isinstance(p, str) else p for p in parts], info.dtype)


def _grid(parts: list, dtype) -> np.ndarray:
    v = _values(parts, dtype)
    re, im = np.meshgrid(v, v)
    return _complex(re.ravel(), im.ravel(), dtype)


def _complex(re: np.ndarray, im: np.ndarray, dtype) -> np.ndarray:
    out = np.empty(re.shape, dtype)  # set the parts alone: re + 1j * im would turn inf * 0 into NaN
    out.real, out.imag = re, im
    return out


def _exp_minus_one(z):
    with np.errstate(all="ignore"):
        e = np.exp(z)
    return _complex(e.real - 1, e.imag, z.dtype)


def _expm1(z):
    """numpy's expm1 where e^re is finite and nonzero, e^z - 1 elsewhere."""
    want, alt = np.expm1(z), _exp_minus_one(z)
    inside = np.abs(z.real) <= np.log(np.finfo(z.real.dtype).max)
    return _complex(np.where(inside, want.real, alt.real), np.where(inside, want.imag, alt.imag), z.dtype)


def _cancelling_products(x, y):
    """Where a part of x * y adds two infinite products (inf - inf: NaN in C, +-inf in numpy's fused loop)."""
    with np.errstate(all="ignore"):
        inf = lambda a, b: np.isinf(a * b)
        return (inf(x.real, y.real) & inf(x.imag, y.imag)) | (inf(x.real, y.imag) & inf(x.imag, y.real))


def _cube_products(z):
    with np.errstate(all="ignore"):
        return _cancelling_products(z, z) | _cancelling_products(z * z, z)


def _power_products(x, y):
    with np.errstate(all="ignore"):
        return _cancelling_products(y, np.log(x))


ORACLES = {  # name: (portax function, numpy oracle, parts where NaN may stand for numpy's +-inf)
    "exp": (jnp.exp, np.exp, None), "expm1": (jnp.expm1, _expm1, None), "log": (jnp.log, np.log, None),
    "log1p": (jnp.log1p, np.log1p, None), "log2": (jnp.log2, np.log2, None), "log10": (jnp.log10, np.log10, None),
    "sqrt": (jnp.sqrt, np.sqrt, None), "rsqrt": (lax.rsqrt, lambda z: np.divide(1, np.sqrt(z)), None),
    "sin": (jnp.sin, np.sin, None), "cos": (jnp.cos, np.cos, None), "tan": (jnp.tan, np.tan, None),
    "sinh": (jnp.sinh, np.sinh, None), "cosh": (jnp.cosh, np.cosh, None), "tanh": (jnp.tanh, np.tanh, None),
    "abs": (jnp.abs, np.abs, None), "sign": (jnp.sign, np.sign, None),
    "reciprocal": (jnp.reciprocal, lambda z: np.divide(1, z), None),
    "square": (jnp.square, np.square, lambda z: _cancelling_products(z, z)),
    "cube": (lambda z: z ** 3, lambda z: z * z * z, _cube_products),
    "arcsin": (jnp.arcsin, np.arcsin, None), "arccos": (jnp.arccos, np.arccos, None),
    "arctan": (jnp.arctan, np.arctan, None), "arcsinh": (jnp.arcsinh, np.arcsinh, None),
    "arccosh": (jnp.arccosh, np.arccosh, None), "arctanh": (jnp.arctanh, np.arctanh, None),
    "exp2": (jnp.exp2, np.exp2, None), "logistic": (lax.logistic, lambda z: np.divide(1, 1 + np.exp(-z)), None),
}


def assert_special_values_match(z, got, want, free_nan=None, rtol=1e-5, other=None, zero_signs=True):
    """``got`` against the oracle ``want`` for inputs ``z``, part by part (see the module doc)."""
    got, want = np.asarray(got), np.asarray(want)
    assert got.dtype == want.dtype and got.shape == want.shape, (got.dtype, want.dtype)
    gp = [got.real, got.imag] if got.dtype.kind == "c" else [got]
    wp = [want.real, want.imag] if want.dtype.kind == "c" else [want]
    input_special = ~np.isfinite(z) if other is None else ~(np.isfinite(z) & np.isfinite(other))
    scale = np.max([np.where(np.isnan(w), 0, np.abs(w)) for w in wp], axis=0)  # the larger part of want
    tiny = np.finfo(gp[0].dtype).tiny
    bad = np.zeros(z.shape, bool)
    for k, (g, w) in enumerate(zip(gp, wp)):
        other_nan = np.isnan(wp[1 - k]) if len(wp) == 2 else np.zeros(z.shape, bool)
        sign_free = other_nan | input_special
        nan_ok = free_nan(z) & np.isinf(w) if free_nan is not None else np.zeros(z.shape, bool)
        with np.errstate(all="ignore"):
            wrong = np.where(np.isnan(w), ~np.isnan(g),
                             np.where(np.isinf(w), (g != w) & ~(sign_free & np.isinf(g)),
                                      ~(np.abs(g - w) <= rtol * scale + 4 * tiny)))
            if zero_signs:
                wrong |= (g == 0) & (w == 0) & (np.signbit(g) != np.signbit(w)) & ~sign_free
        bad |= wrong & ~(nan_ok & np.isnan(g))
    if bad.any():
        args = lambda i: repr(z[i]) if other is None else f"{z[i]!r}, {other[i]!r}"
        rows = [f"  f({args(i)}) = {got[i]!r}, numpy {want[i]!r}" for i in np.nonzero(bad)[0][:12]]
        raise AssertionError(f"{bad.sum()} of {z.size} values differ:\n" + "\n".join(rows))


def _oracle(fn, z):
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        return fn(z)


def _comparable_powers(x, y):
    """The pairs whose x ** y numpy and portax compute alike: not numpy's repeated multiplication for a real integer
    y with x not finite (portax takes exp(y log x), as JAX), and not a phase of y log x so large (> 1e4) that
    no digit of it (so of cos and sin) is known."""
    with np.errstate(all="ignore"):
        phase = np.abs((y.astype(np.complex128) * np.log(x.astype(np.complex128))).imag)
    integer = (y.imag == 0) & (y.real == np.round(y.real)) & ~np.isfinite(x)
    keep = ~integer & ~(phase > 1e4)
    return x[keep], y[keep]


EACH_MODE_AND_DTYPE = pytest.mark.parametrize("mode,dtype", [
    pytest.param(m, d, id=f"{m}-{np.dtype(d).name}") for m in ("eager", "jit") for d in (np.complex64, np.complex128)])


def _run(fn, mode: str, dtype, *args) -> np.ndarray:
    """``fn(*args)`` on the backend under test, eagerly or under jit (skipped where it has no such dtype)."""
    part, backend = np.finfo(dtype).dtype, get_backend()
    if part not in backend.capabilities.dtypes and np.dtype(dtype) not in backend.capabilities.dtypes:
        pytest.skip(f"backend {backend.name} has no {part.name}")
    with x64_enabled(dtype == np.complex128):
        return np.asarray((jax.jit(fn) if mode == "jit" else fn)(*map(jnp.asarray, args)))


def _rtol(dtype) -> float:
    return 1e-5 if dtype == np.complex64 else 1e-12


@EACH_MODE_AND_DTYPE
@pytest.mark.parametrize("name", sorted(ORACLES))
def test_unary_special_values_match_numpy(name, mode, dtype):
    fn, oracle, free_nan = ORACLES[name]
    z = _grid(PARTS, dtype)
    assert_special_values_match(z, _run(fn, mode, dtype, z), _oracle(oracle, z), free_nan, _rtol(dtype))


BINARY = {"multiply": (jnp.multiply, np.multiply, _cancelling_products), "divide": (jnp.divide, np.divide, None),
          "power": (jnp.power, np.power, _power_products)}


@EACH_MODE_AND_DTYPE
@pytest.mark.parametrize("name", sorted(BINARY))
def test_binary_special_values_match_numpy(name, mode, dtype):
    fn, oracle, free_nan = BINARY[name]
    g = _grid(BINARY_PARTS, dtype)
    x, y = np.repeat(g, g.size), np.tile(g, g.size)
    if name == "power":
        x, y = _comparable_powers(x, y)
    want = _oracle(lambda v: oracle(v, y), x)
    free = None if free_nan is None else lambda v: free_nan(v, y)
    assert_special_values_match(x, _run(fn, mode, dtype, x, y), want, free, _rtol(dtype), y, name != "power")


def test_issue_examples():
    """The values named in the issue, and overflow-free modulus and division in complex64."""
    inf = np.inf
    np.testing.assert_array_equal(np.asarray(jnp.exp(jnp.asarray(complex(inf, 0), jnp.complex64))),
                                  np.complex64(complex(inf, 0)))
    t = complex(np.asarray(jnp.tan(jnp.asarray(1e20 - 1e20j, jnp.complex64))))
    assert np.isfinite(t.real) and np.isfinite(t.imag) and abs(t - np.tan(1e20 - 1e20j)) < 1e-6
    assert np.asarray(jnp.abs(jnp.asarray(1e30 + 1e30j, jnp.complex64))) == np.float32(np.hypot(1e30, 1e30))
    q = np.asarray(jnp.asarray(1e30 + 1e30j, jnp.complex64) / jnp.asarray(2e30 - 2e30j, jnp.complex64))
    np.testing.assert_allclose(q, 0.5j, atol=1e-7)
    assert complex(np.asarray(jnp.sqrt(jnp.asarray(np.complex64(complex(-1, -0.0)))))) == -1j  # below the cut
    on_axis = np.array([complex(-0.0, 1), complex(-0.0, -2.5)], np.complex64)
    np.testing.assert_array_equal(np.asarray(jnp.log(on_axis)).imag, np.log(on_axis).imag)  # atan2(y, -0) = pi/2
    got = np.asarray(jnp.power(jnp.zeros(3, jnp.complex64), jnp.asarray([0, 2, -1j])))  # 0 ** 0 = 1, 0 ** -i: NaN
    np.testing.assert_array_equal(got, np.array([1, 0, complex(np.nan, np.nan)], np.complex64))


def test_power_derivatives_ignore_the_recovery_of_infinities():
    """The Annex G recovery inside x ** y has no derivative of its own (0 * inf there must not make grads NaN)."""
    v = np.array([1 + 2j, -3 + 0.5j, 0.25 - 1j], np.complex64)
    wide, y = v.astype(np.complex128), 2.5 + 1j
    np.testing.assert_allclose(np.asarray(jax.grad(lambda a: jnp.real(jnp.power(a, y)).sum())(v)),
                               y * wide ** (y - 1), rtol=1e-5)
    np.testing.assert_allclose(complex(jax.grad(lambda b: jnp.real(jnp.power(v, b)).sum())(np.complex64(y))),
                               (np.log(wide) * wide ** y).sum(), rtol=1e-5)
