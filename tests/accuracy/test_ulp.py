"""Accuracy in ulps of every float elementwise function on the backend under test (``PORTAX_BACKEND``) over
the whole range: signed zeros, subnormals, tiny, near +-1, huge, overflow edges and IEEE specials.

The oracle is numpy/scipy one precision up: float32 inputs are evaluated in float64, float64 inputs in long
double where numpy has the function (scipy.special exists in float64 only, so its float64 bounds include
scipy's own error). The error is ``|got - exact| / spacing(exact rounded to the dtype)``; NaN-ness,
infinities and the sign of zeros must match the oracle exactly. A backend whose ``Capabilities`` declares
``flushes_subnormals`` may treat subnormal inputs and results as signed zeros (lavapipe keeps them).
"""
from __future__ import annotations

import contextlib
import warnings

import numpy as np
import pytest
import scipy.special as sp

import portax
import portax.numpy as jnp
from portax import lax

RNG = np.random.default_rng(20261207)


def _erf_inv(x):
    return np.copysign(sp.erfinv(x), x)  # jax: erf_inv(-0.) = -0.


def _digamma(x):
    return np.where((x <= 0) & (np.floor(x) == x), np.nan, sp.psi(x))  # jax: NaN at 0 and the poles


def _lgamma(x):
    """scipy's gammaln, except: +inf at -inf (jax), -log|x| below 1e-300 (scipy: inf), and near 1 and 2 the
    series lgamma(1 + t) = -euler t + sum_k (-t)^k zeta(k) / k in long double (scipy is only absolutely
    accurate there)."""
    out = np.where(np.isneginf(x), np.inf, sp.gammaln(x))
    with np.errstate(divide="ignore"):
        out = np.where(np.abs(x) < 1e-300, -np.log(np.abs(x)), out)
    for at in (1, 2):
        t = np.asarray(x, np.longdouble) - at
        near = np.abs(t) <= 0.5
        series = -np.longdouble(np.euler_gamma) * t
        for k in range(2, 80):
            series += (-t) ** k * np.longdouble(sp.zeta(k)) / k
        if at == 2:
            series += np.log1p(t)
        out = np.where(near, series, out)
    return out


def _erfc(x):
    """scipy's erfc, except above 4 (where scipy loses accuracy): the continued fraction in long double,
    exp(-x^2) / (sqrt(pi) (x + (1/2) / (x + (2/2) / (x + ...))))."""
    xl = np.asarray(x, np.longdouble)
    frac = xl.copy()
    for n in range(400, 0, -1):
        frac = xl + (n / 2) / frac
    with np.errstate(all="ignore"):
        cf = np.exp(-xl * xl) / (np.sqrt(np.longdouble(np.pi)) * frac)
    return np.where(x > 4, cf, sp.erfc(x))


# name: (portax function, oracle on float64 / long double arrays, long double ok)
FUNCTIONS = {
    "exp": (lax.exp, np.exp, True), "exp2": (lax.exp2, np.exp2, True), "expm1": (lax.expm1, np.expm1, True),
    "log": (lax.log, np.log, True), "log2": (jnp.log2, np.log2, True), "log10": (jnp.log10, np.log10, True),
    "log1p": (lax.log1p, np.log1p, True),
    "sin": (lax.sin, np.sin, True), "cos": (lax.cos, np.cos, True), "tan": (lax.tan, np.tan, True),
    "asin": (lax.asin, np.arcsin, True), "acos": (lax.acos, np.arccos, True), "atan": (lax.atan, np.arctan, True),
    "atan2": (lax.atan2, np.arctan2, True),
    "sinh": (lax.sinh, np.sinh, True), "cosh": (lax.cosh, np.cosh, True), "tanh": (lax.tanh, np.tanh, True),
    "asinh": (lax.asinh, np.arcsinh, True), "acosh": (lax.acosh, np.arccosh, True),
    "atanh": (lax.atanh, np.arctanh, True),
    "sqrt": (lax.sqrt, np.sqrt, True), "rsqrt": (lax.rsqrt, lambda x: 1 / np.sqrt(x), True),
    "cbrt": (lax.cbrt, np.cbrt, True), "pow": (lax.pow, np.power, True),
    "logistic": (lax.logistic, lambda x: 1 / (1 + np.exp(-x)), True),
    "erf": (lax.erf, sp.erf, False), "erfc": (lax.erfc, _erfc, False), "erf_inv": (lax.erf_inv, _erf_inv, False),
    "lgamma": (lax.lgamma, _lgamma, False), "digamma": (lax.digamma, _digamma, False),
}
BINARY = {"atan2", "pow"}

# name: (float16, float32, float64 ulps). Most functions: 1 ulp in float16 (computed in float32, rounded once),
# 4 ulp in float32 and float64. Wider, and why:
# log2/log10 are log(x) / log(b) in portax.numpy (as in jax.numpy): two roundings plus log's error (so is
# rsqrt, 1 / sqrt(x), in float16);
# pow: float64's error grows with |y log x| (exp of a double-double logarithm);
# erf_inv: steep near +-1 (the error of log((1 - x)(1 + x)) is amplified);
# float32 erfc and digamma: wgpu evaluates them in float32 arithmetic (cpu_llvm in float64): erfc is
# exp(-x^2) (rounded twice) times a fitted erfcx, digamma's reflection adds terms of opposite signs;
# float64 erfc/erf_inv/lgamma/digamma: the oracle (scipy, float64 only; long double above where scipy is
# weakest) is itself off by several ulp, and lgamma/digamma near their zeros are measured absolutely (below).
BOUNDS = {
    "log2": (2, 4, 8), "log10": (2, 4, 8), "rsqrt": (2, 4, 4), "pow": (1, 4, 8), "erf_inv": (1, 6, 8),
    "erfc": (1, 8, 16), "lgamma": (1, 4, 8), "digamma": (1, 6, 32),
}
DEFAULT_BOUND = (1, 4, 4)
DTYPES = (np.float16, np.float32, np.float64)
# lgamma and digamma have zeros on the negative axis where the reflection formula cancels terms of size
# log|x|: there the error is measured in ulps of max(|exact|, 1, log(1 + |x|)) (float64 digamma near its
# poles, where scipy's psi loses accuracy: times |x| / distance).
ABSOLUTE_BELOW_ZERO = {"lgamma", "digamma"}


def _mag(lo: float, hi: float, n: int, signed: bool = True) -> np.ndarray:
    with np.errstate(over="ignore"):
        m = np.geomspace(lo, hi, n)
    return np.concatenate([m, -m]) if signed else m


def _specials(dtype) -> np.ndarray:
    fi = np.finfo(dtype)
    sub = fi.smallest_subnormal
    v = [np.nan, np.inf, 0.0, 1.0, 0.5, 2.0, 3.0, 1.5, 2.5, 10.0, fi.max, fi.tiny, sub, 3 * sub, fi.tiny / 4,
         fi.tiny * (1 - fi.eps), fi.eps, fi.epsneg / 2]
    return np.array(v + [-x for x in v], dtype)


def unary_inputs(name: str, dtype) -> np.ndarray:
    """The sweep of one function: the whole range (magnitudes from the smallest subnormal to the largest
    finite value, random bit patterns), dense ordinary ranges, around +-1 and the function's own edges."""
    fi = np.finfo(dtype)
    eps = float(fi.eps)
    ks = np.arange(1, 33)
    near_one = np.concatenate([1 + ks * eps, 1 - ks * eps / 2, 1 + 2.0 ** -np.arange(1, fi.nmant + 2),
                               1 - 2.0 ** -np.arange(2, fi.nmant + 3)])
    bits = np.dtype(f"u{np.dtype(dtype).itemsize}")
    random_bits = RNG.integers(0, np.iinfo(bits).max, 3000, dtype=bits, endpoint=True).view(dtype)
    parts = [_specials(dtype), _mag(float(fi.smallest_subnormal), float(fi.max), 3000), np.linspace(-10, 10, 2001),
             RNG.uniform(-100, 100, 2000), near_one, -near_one, random_bits[np.isfinite(random_bits)],
             _mag(1e-9, 1e-2, 800)]
    parts += EXTRA.get(name, lambda: [])()
    with np.errstate(over="ignore"):
        return np.concatenate([np.asarray(p, np.float64) for p in parts]).astype(dtype)


EXTRA = {  # function-specific regions
    "exp": lambda: [np.linspace(-746, 710, 4000)], "exp2": lambda: [np.linspace(-1076, 1025, 4000)],
    "expm1": lambda: [np.linspace(-40, 710, 4000)], "sinh": lambda: [np.linspace(-711, 711, 4000)],
    "cosh": lambda: [np.linspace(-711, 711, 4000)], "tanh": lambda: [np.linspace(-20, 20, 4000)],
    "logistic": lambda: [np.linspace(-750, 750, 4000)],
    "log1p": lambda: [-1 + _mag(1e-7, 0.5, 500, signed=False)],
    "acosh": lambda: [1 + _mag(1e-12, 1, 1000, signed=False)],
    "atanh": lambda: [1 - _mag(1e-12, 0.5, 1000, signed=False), -1 + _mag(1e-12, 0.5, 1000, signed=False)],
    "erf_inv": lambda: [1 - _mag(1e-12, 0.5, 1000, signed=False), np.linspace(-1, 1, 4001)],
    "asin": lambda: [np.linspace(-1, 1, 4001)], "acos": lambda: [np.linspace(-1, 1, 4001)],
    "sin": lambda: [np.pi / 2 * np.arange(-3000, 3000), _mag(1e5, 1e30, 2000)],
    "cos": lambda: [np.pi / 2 * np.arange(-3000, 3000), _mag(1e5, 1e30, 2000)],
    "tan": lambda: [np.pi / 2 * np.arange(-3000, 3000), _mag(1e5, 1e30, 2000)],
    "erfc": lambda: [np.linspace(-6, 30, 4000)], "erf": lambda: [np.linspace(-6, 6, 4000)],
    "lgamma": lambda: [np.linspace(-30, 30, 8001), 1 + _mag(1e-9, 0.3, 500), 2 + _mag(1e-9, 0.3, 500),
                       _mag(1e30, 1e36, 100)],
    "digamma": lambda: [np.linspace(-30, 30, 8001), 1.4616321449683622 + _mag(1e-9, 0.1, 500)],
}


def binary_inputs(name: str, dtype) -> tuple[np.ndarray, np.ndarray]:
    """Every pair of specials and ordinary values, plus random pairs over the function's useful range."""
    s = np.concatenate([_specials(dtype), np.array([0.1, 0.3, 7.0, 1e3, 1e-3, -7.0, -0.1, -1e3], dtype)])
    a, b = (g.ravel() for g in np.meshgrid(s, s))
    n = 20000
    if name == "atan2":  # (y, x)
        x = np.concatenate([RNG.uniform(-10, 10, n), 10 ** RNG.uniform(-30, 30, n) * RNG.choice([-1, 1], n)])
        y = np.concatenate([RNG.uniform(-10, 10, n), 10 ** RNG.uniform(-30, 30, n) * RNG.choice([-1, 1], n)])
        x, y = y, x
    else:  # pow (x, y)
        x = np.concatenate([10 ** RNG.uniform(-3, 3, n), RNG.uniform(0, 4, n), RNG.uniform(0.5, 2, n),
                            -np.floor(RNG.uniform(0, 10, n))])
        y = np.concatenate([RNG.uniform(-30, 30, n), RNG.uniform(-10, 10, n), RNG.uniform(-200, 200, n),
                            np.floor(RNG.uniform(-30, 30, n))])
    with np.errstate(over="ignore"):
        return np.concatenate([a, x]).astype(dtype), np.concatenate([b, y]).astype(dtype)


@contextlib.contextmanager
def _x64(on: bool):
    previous = portax.config.enable_x64
    portax.config.update("jax_enable_x64", on)
    try:
        yield
    finally:
        portax.config.update("jax_enable_x64", previous)


def _flushes_subnormals() -> bool:
    return portax.core.backend.registry.get(portax.default_backend()).capabilities.flushes_subnormals


def evaluate(name: str, dtype) -> tuple[tuple, np.ndarray]:
    """(inputs, results) of ``name`` on the backend under test."""
    backend = portax.core.backend.registry.get(portax.default_backend())
    if np.dtype(dtype) not in backend.capabilities.dtypes:
        pytest.skip(f"{np.dtype(dtype).name} unsupported on {portax.default_backend()}")
    xs = binary_inputs(name, dtype) if name in BINARY else (unary_inputs(name, dtype),)
    with _x64(dtype == np.float64):
        try:
            got = np.asarray(FUNCTIONS[name][0](*[jnp.asarray(x) for x in xs]))
        except NotImplementedError as e:  # documented: e.g. erf on wgpu float64
            pytest.skip(str(e))
    assert got.dtype == dtype
    return xs, got


def exact(name: str, xs: tuple) -> np.ndarray:
    """The oracle's value at ``xs`` (float64 for float32 inputs, else long double where numpy has it)."""
    wide = np.longdouble if xs[0].dtype == np.float64 and FUNCTIONS[name][2] else np.float64
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        return np.asarray(FUNCTIONS[name][1](*[x.astype(wide) for x in xs]), wide)


def ulp_errors(name: str, xs: tuple, got: np.ndarray, flush: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """(errors in ulps, mask of special-value mismatches) of ``got`` against the oracle. With ``flush``
    (a device that may flush subnormals) subnormal operands may act as zeros and subnormal results be zeros."""
    err, bad = _errors(name, xs, got, flush)
    if flush:
        tiny = np.finfo(got.dtype).tiny
        flushed = tuple(np.where(np.abs(x) < tiny, np.copysign(0, x), x).astype(x.dtype) for x in xs)
        err2, bad2 = _errors(name, flushed, got, flush)
        err, bad = np.minimum(err, err2), bad & bad2
    return err, bad


def _errors(name: str, xs: tuple, got: np.ndarray, flush: bool) -> tuple[np.ndarray, np.ndarray]:
    dtype = got.dtype
    ref = exact(name, xs)
    with np.errstate(all="ignore"):
        want = ref.astype(dtype)
        if flush:
            got = np.where((got == 0) & (np.abs(want) < np.finfo(dtype).tiny), want, got)
        bad = (np.isnan(want) != np.isnan(got)) | (np.isinf(want) & (got != want))
        bad |= (want == 0) & (got == 0) & (np.signbit(want) != np.signbit(got))
        fin = np.isfinite(want) & ~np.isnan(got)
        bad |= fin & ~np.isfinite(got)
        scale = np.abs(want).astype(np.float64)
        if name in ABSOLUTE_BELOW_ZERO:
            x = xs[0].astype(np.float64)
            scale = np.where(x < 0, np.maximum(scale, np.maximum(1.0, np.log1p(np.abs(x)))), scale)
            if dtype == np.float64 and name == "digamma":  # scipy's psi: ~|x| / distance-to-pole ulps there
                scale *= np.where(x < 0, np.maximum(1, np.abs(x) / np.maximum(np.abs(x - np.rint(x)), 1e-300)), 1)
        err = np.abs(got.astype(ref.dtype) - ref) / np.spacing(scale.astype(dtype)).astype(ref.dtype)
    return np.where(fin & np.isfinite(got), err, 0.0).astype(np.float64), bad


@pytest.mark.parametrize("dtype", DTYPES, ids=["f16", "f32", "f64"])
@pytest.mark.parametrize("name", sorted(FUNCTIONS))
def test_ulp(name, dtype):
    xs, got = evaluate(name, dtype)
    err, bad = ulp_errors(name, xs, got, flush=_flushes_subnormals())
    assert not bad.any(), (f"{name} {np.dtype(dtype).name}: special values differ at x={[x[bad][:6] for x in xs]}: "
                           f"got {got[bad][:6]}, want {exact(name, tuple(x[bad][:6] for x in xs))}")
    bound = BOUNDS.get(name, DEFAULT_BOUND)[DTYPES.index(dtype)]
    i = int(np.argmax(err))
    assert err[i] <= bound, (f"{name} {np.dtype(dtype).name}: {err[i]:.3g} ulp > {bound} at x={[x[i] for x in xs]}: "
                             f"got {got[i]!r}, want {exact(name, tuple(x[i:i + 1] for x in xs))[0]!r}")
