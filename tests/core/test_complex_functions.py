"""Complex inverse functions, exp2, logistic, lax.pow, lexicographic max/min/argmax/argmin, cumprod and prod's
derivative (issue 13), on the backend under test (``PORTAX_BACKEND``): values against numpy in complex64 and
complex128 (over 40 decades, near the branch points, on the branch cuts with +-0 parts), derivatives against the
analytic ones. Their special values are checked in test_complex_special_values.py."""
import numpy as np
import pytest

import portax as jax
import portax.numpy as jnp
from portax import lax

from core_helpers import x64_enabled
from test_complex_special_values import _run

INVERSES = ["arcsin", "arccos", "arctan", "arcsinh", "arccosh", "arctanh"]
DTYPES = pytest.mark.parametrize("dtype", [np.complex64, np.complex128], ids=["complex64", "complex128"])
V = np.array([1 + 2j, -3 + 0.5j, 0.25 - 1j, -0.5 - 0.3j, 2.5 + 1e-3j], np.complex64)


def _sample() -> np.ndarray:
    """Values whose parts span 1e-20 .. 1e20, values near +-1, +-i and 0, near the unit circle, and on the axes."""
    rng = np.random.RandomState(1)
    mags = 10.0 ** rng.uniform(-20, 20, (2, 2000)) * rng.choice([-1, 1], (2, 2000))
    near = [p + (rng.randn(200) + 1j * rng.randn(200)) * 10.0 ** rng.uniform(-8, -1, 200) for p in (1, -1, 1j, -1j, 0)]
    circle = np.exp(1j * rng.uniform(-np.pi, np.pi, 200)) * (1 + rng.randn(200) * 1e-6)
    axes = np.concatenate([rng.uniform(-3, 3, 100) + 0j, 1j * rng.uniform(-3, 3, 100)])
    return np.concatenate([mags[0] + 1j * mags[1], *near, circle, axes, -axes])


@DTYPES
@pytest.mark.parametrize("name", INVERSES)
def test_inverse_functions_are_accurate_in_each_part(name, dtype):
    z = _sample().astype(dtype)
    got = _run(getattr(jnp, name), "jit", dtype, z).astype(np.complex128)
    want = getattr(np, name)(z.astype(np.complex128))
    info = np.finfo(dtype)
    for g, w in ((got.real, want.real), (got.imag, want.imag)):
        bad = ~(np.abs(g - w) <= 8 * info.eps * np.abs(w) + 4 * info.tiny)
        assert not bad.any(), (z[bad][:5], got[bad][:5], want[bad][:5])


@DTYPES
def test_exp2_and_logistic_match_numpy(dtype):
    """Within a few ulps of the argument's own condition: rounding z log 2 or -z moves e^(...) by eps |z|."""
    rng = np.random.RandomState(2)
    z = (rng.uniform(-60, 60, 500) + 1j * rng.uniform(-60, 60, 500)).astype(dtype)
    wide = z.astype(np.complex128)
    bound = 4 * np.finfo(dtype).eps * (1 + np.abs(wide))
    with np.errstate(all="ignore"):
        logistic = 1 / (1 + np.exp(-wide))
    for f, want in ((jnp.exp2, np.exp2(wide)), (lax.logistic, logistic), (jax.nn.sigmoid, logistic)):
        got = _run(f, "jit", dtype, z)
        assert got.dtype == dtype
        assert np.all(np.abs(got - want) <= bound * np.abs(want)), f


CUTS = {  # points on each function's branch cuts: on the real axis, or on the imaginary axis (arctan, arcsinh)
    "arcsin": [-3, -1.5, 1.5, 3], "arccos": [-3, -1.5, 1.5, 3], "arctanh": [-3, -1.5, 1.5, 3],
    "arccosh": [-3, -0.5, 0.5], "arctan": [-3, -1.5, 1.5, 3], "arcsinh": [-3, -1.5, 1.5, 3]}


@DTYPES
@pytest.mark.parametrize("name", INVERSES)
def test_branch_cuts_follow_the_sign_of_zero(name, dtype):
    pts = np.array(CUTS[name] * 2, np.finfo(dtype).dtype)
    zeros = np.concatenate([np.zeros(pts.size // 2), -np.zeros(pts.size // 2)])
    z = np.empty(pts.size, dtype)  # set part by part: +0 and -0 in the zero part
    z.real, z.imag = (zeros, pts) if name in ("arctan", "arcsinh") else (pts, zeros)
    got, want = _run(getattr(jnp, name), "eager", dtype, z), getattr(np, name)(z)
    np.testing.assert_allclose(got, want, rtol=8 * np.finfo(dtype).eps)
    np.testing.assert_array_equal(np.signbit(got.real), np.signbit(want.real))
    np.testing.assert_array_equal(np.signbit(got.imag), np.signbit(want.imag))


DERIVATIVES = {
    "arcsin": lambda z: 1 / np.sqrt(1 - z * z), "arccos": lambda z: -1 / np.sqrt(1 - z * z),
    "arctan": lambda z: 1 / (1 + z * z), "arcsinh": lambda z: 1 / np.sqrt(1 + z * z),
    "arccosh": lambda z: 1 / (np.sqrt(z - 1) * np.sqrt(z + 1)), "arctanh": lambda z: 1 / (1 - z * z),
    "exp2": lambda z: np.log(2) * np.exp2(z), "logistic": lambda z: np.exp(-z) / (1 + np.exp(-z)) ** 2,
}


@pytest.mark.parametrize("name", sorted(DERIVATIVES))
def test_holomorphic_derivatives(name):
    fn = lax.logistic if name == "logistic" else getattr(jnp, name)
    want = DERIVATIVES[name](V.astype(np.complex128)).astype(np.complex64)
    np.testing.assert_allclose(np.asarray(jax.grad(lambda a: fn(a).sum(), holomorphic=True)(V)), want, rtol=1e-4)
    _, tangent = jax.jvp(fn, (V,), (np.ones_like(V),))
    np.testing.assert_allclose(np.asarray(tangent), want, rtol=1e-4)
    g = jax.grad(lambda a: jnp.real(fn(a)).sum())(V)  # JAX's grad of Re f is f' for holomorphic f (no conj)
    np.testing.assert_allclose(np.asarray(g), want, rtol=1e-4)


def test_arccosh_derivative_left_of_the_imaginary_axis():
    """1 / (sqrt(z - 1) sqrt(z + 1)), checked by a central difference; JAX's rsqrt(z^2 - 1) flips its sign here."""
    with x64_enabled():
        z, h = np.complex128(-3 + 0.5j), 1e-6
        fd = (np.arccosh(z + h) - np.arccosh(z - h)) / (2 * h)
        got = complex(jax.grad(jnp.arccosh, holomorphic=True)(jnp.asarray(z)))
        assert abs(got - fd) < 1e-8 * abs(fd), (got, fd)


def test_lax_pow_is_the_principal_power():
    rng = np.random.RandomState(3)
    x = (rng.randn(50) + 1j * rng.randn(50)).astype(np.complex64)
    y = (rng.randn(50) + 1j * rng.randn(50)).astype(np.complex64)
    want = np.power(x.astype(np.complex128), y).astype(np.complex64)
    np.testing.assert_allclose(np.asarray(lax.pow(x, y)), want, rtol=1e-4)
    np.testing.assert_allclose(np.asarray(jax.jit(lax.pow)(x, y)), want, rtol=1e-4)
    np.testing.assert_array_equal(np.asarray(lax.pow(x, y)), np.asarray(jnp.power(x, y)))
    wide, b = V.astype(np.complex128), np.complex64(0.5 - 2j)
    np.testing.assert_allclose(np.asarray(jax.grad(lambda a: lax.pow(a, jnp.full_like(a, b)).sum(),
                                                   holomorphic=True)(V)), b * wide ** (b - 1), rtol=1e-4)
    np.testing.assert_allclose(np.asarray(jax.grad(lambda e: lax.pow(jnp.asarray(V), e).sum(), holomorphic=True)(
        jnp.full(V.shape, b))), np.log(wide) * wide ** b, rtol=1e-4)


def test_lax_pow_takes_integer_exponents_as_jax():
    n = np.array([2, -3, 0, 5, 1], np.int32)
    want = (V.astype(np.complex128) ** n).astype(np.complex64)
    np.testing.assert_allclose(np.asarray(lax.pow(V, n)), want, rtol=1e-5)
    x = np.array([1.5, -2, 0.5, -1, 3], np.float32)
    np.testing.assert_allclose(np.asarray(jax.jit(lax.pow)(x, n)), x ** n.astype(np.float32), rtol=1e-6)
    np.testing.assert_allclose(np.asarray(jax.grad(lambda a: lax.pow(a, n).sum())(x)), n * x ** (n - 1.0), rtol=1e-6)
    with pytest.raises(TypeError, match="two inexact dtypes must match, but got float32 and complex64"):
        lax.pow(x, V)


TIES = np.array([[1 + 2j, 1 - 1j, -2 + 5j, 1 + 2j], [0j, -0.5 + 3j, -0.5 - 3j, -0.5 + 0j]], np.complex64)


@pytest.mark.parametrize("mode", ["eager", "jit"])
def test_max_min_argmax_argmin_are_lexicographic(mode):
    f = (lambda fn: jax.jit(fn, static_argnums=1)) if mode == "jit" else (lambda fn: fn)
    for axis in (None, 0, 1):
        for name in ("max", "min", "argmax", "argmin"):
            got, want = f(getattr(jnp, name))(TIES, axis), getattr(np, name)(TIES, axis=axis)
            np.testing.assert_array_equal(np.asarray(got), want, err_msg=f"{name} axis={axis}")
    other = TIES[::-1]
    for name in ("maximum", "minimum"):
        fn = jax.jit(getattr(jnp, name)) if mode == "jit" else getattr(jnp, name)
        np.testing.assert_array_equal(np.asarray(fn(TIES, other)), getattr(np, name)(TIES, other))
    np.testing.assert_array_equal(np.asarray(lax.max(TIES, other)), np.maximum(TIES, other))


def test_numpy_comparisons_are_lexicographic():
    other = TIES[::-1]
    for name in ("less", "less_equal", "greater", "greater_equal"):
        np.testing.assert_array_equal(np.asarray(getattr(jnp, name)(TIES, other)), getattr(np, name)(TIES, other))
    np.testing.assert_array_equal(np.asarray(jax.jit(lambda a, b: a < b)(jnp.asarray(TIES), other)), TIES < other)


def test_max_min_with_nan_as_numpy():
    z = np.array([1 + 1j, complex(0, np.nan), 2 + 0j, complex(np.nan, 1)], np.complex64)
    assert np.isnan(complex(jnp.max(z)).real) and np.isnan(complex(jnp.min(z)).imag)
    assert int(jnp.argmax(z)) == np.argmax(z) == 1 and int(jnp.argmin(z)) == np.argmin(z) == 1


def test_nan_reductions_skip_values_with_a_nan_part():
    z = np.array([[1 + 1j, complex(np.nan, 0), 2 + 0j, 2 - 1j], [complex(0, np.nan), -1j, 3j, 0.5 + 0j]], np.complex64)
    for name in ("nanmax", "nanmin", "nanargmax", "nanargmin", "nansum", "nanprod", "nancumsum", "nancumprod"):
        np.testing.assert_allclose(np.asarray(getattr(jnp, name)(z, axis=1)), getattr(np, name)(z, axis=1),
                                   rtol=1e-6, err_msg=name)


def test_max_min_derivatives():
    a, b = V, V[::-1].copy()
    wide_pick = np.where((a.real > b.real) | ((a.real == b.real) & (a.imag > b.imag)), 1, 0)
    g = jax.grad(lambda x: jnp.maximum(x, b).sum(), holomorphic=True)(a)
    np.testing.assert_array_equal(np.asarray(g), np.where(a == b, 0.5, wide_pick).astype(np.complex64))
    g = jax.grad(lambda x: jnp.max(x), holomorphic=True)(TIES[0])  # the maximum 1 + 2j appears twice
    np.testing.assert_array_equal(np.asarray(g), np.array([0.5, 0, 0, 0.5], np.complex64))


@pytest.mark.parametrize("mode", ["eager", "jit"])
def test_cumprod_and_its_derivative(mode):
    f = jax.jit(jnp.cumprod, static_argnums=1) if mode == "jit" else jnp.cumprod
    z = (TIES * 0.5).astype(np.complex64)
    np.testing.assert_allclose(np.asarray(f(z, 1)), np.cumprod(z, axis=1), rtol=1e-6)
    np.testing.assert_allclose(np.asarray(f(z, 0)), np.cumprod(z, axis=0), rtol=1e-6)
    np.testing.assert_allclose(np.asarray(lax.cumprod(jnp.asarray(V), reverse=True)), np.cumprod(V[::-1])[::-1],
                               rtol=1e-6)
    np.testing.assert_array_equal(np.asarray(lax.cummax(TIES, 1)), np.maximum.accumulate(TIES, axis=1))
    np.testing.assert_array_equal(np.asarray(lax.cummin(TIES, 0, reverse=True)),
                                  np.minimum.accumulate(TIES[::-1], axis=0)[::-1])
    # d/dz_k of sum_j prod_{i <= j} z_i = sum_{j >= k} prod_{i <= j, i != k} z_i
    want = np.array([sum(np.prod(np.delete(V[:j + 1], k)) for j in range(k, V.size)) for k in range(V.size)])
    g = jax.grad(lambda a: jnp.cumprod(a).sum(), holomorphic=True)(V)
    np.testing.assert_allclose(np.asarray(g), want.astype(np.complex64), rtol=1e-5)


def test_prod_jvp_and_grad():
    want = np.array([np.prod(np.delete(V, k)) for k in range(V.size)])
    t = np.array([1, 2j, -1, 0.5, 1 - 1j], np.complex64)
    out, tangent = jax.jvp(jnp.prod, (V,), (t,))
    np.testing.assert_allclose(np.asarray(out), np.prod(V), rtol=1e-6)
    np.testing.assert_allclose(complex(tangent), (want * t).sum(), rtol=1e-5)
    np.testing.assert_allclose(np.asarray(jax.grad(jnp.prod, holomorphic=True)(V)), want.astype(np.complex64),
                               rtol=1e-5)
    with_zero = V.copy()
    with_zero[2] = 0
    g = jax.grad(jnp.prod, holomorphic=True)(with_zero)  # exact with a zero factor
    np.testing.assert_allclose(np.asarray(g), np.array([0, 0, np.prod(np.delete(with_zero, 2)), 0, 0], np.complex64),
                               rtol=1e-5)
