"""Elementwise portax.numpy functions against numpy (values, dtypes, promotion) and their derivatives."""
import collections.abc

import numpy as np
import pytest

import portax
import portax.numpy as jnp
from portax.test_util import check_grads

RNG = np.random.RandomState(0)
ANY = RNG.uniform(-3, 3, (3, 4)).astype(np.float32)
POS = RNG.uniform(0.1, 3, (3, 4)).astype(np.float32)
UNIT = RNG.uniform(-0.95, 0.95, (3, 4)).astype(np.float32)
GT1 = RNG.uniform(1.1, 4, (3, 4)).astype(np.float32)
INT = RNG.randint(-20, 20, (3, 4)).astype(np.int32)
NZ_INT = np.where(INT == 0, 3, INT).astype(np.int32)

UNARY = [  # name, domain
    ("exp", ANY), ("exp2", ANY), ("expm1", ANY), ("log", POS), ("log1p", POS), ("log2", POS), ("log10", POS),
    ("sqrt", POS), ("cbrt", ANY), ("sin", ANY), ("cos", ANY), ("tan", UNIT), ("arcsin", UNIT), ("arccos", UNIT),
    ("arctan", ANY), ("sinh", ANY), ("cosh", ANY), ("tanh", ANY), ("arcsinh", ANY), ("arccosh", GT1),
    ("arctanh", UNIT), ("abs", ANY), ("absolute", INT), ("fabs", ANY), ("negative", INT), ("positive", ANY),
    ("sign", ANY), ("sign", INT), ("square", INT), ("reciprocal", POS), ("floor", ANY), ("ceil", ANY),
    ("trunc", ANY), ("rint", ANY), ("round", ANY), ("around", ANY), ("deg2rad", ANY),
    ("rad2deg", ANY), ("degrees", ANY), ("radians", ANY), ("sinc", ANY), ("signbit", ANY), ("isnan", ANY),
    ("isinf", ANY), ("isfinite", INT), ("invert", INT), ("bitwise_not", INT), ("logical_not", INT),
    ("spacing", ANY), ("i0", ANY), ("angle", ANY), ("conjugate", ANY), ("real", ANY), ("imag", ANY),
]


@pytest.mark.parametrize("name,x", UNARY, ids=[f"{n}-{x.dtype}" for n, x in UNARY])
def test_unary_matches_numpy(name, x):
    out = getattr(jnp, name)(x)
    ref = getattr(np, name)(x)
    if ref.dtype == np.float64 and x.dtype.kind in "iu":
        ref = ref.astype(np.float32)
    assert np.asarray(out).dtype == ref.dtype, (out.dtype, ref.dtype)
    np.testing.assert_allclose(out, ref, rtol=2e-6, atol=1e-6)


BINARY = [
    ("add", ANY, POS), ("subtract", INT, INT), ("multiply", ANY, UNIT), ("divide", ANY, POS),
    ("true_divide", INT, NZ_INT), ("floor_divide", INT, NZ_INT), ("floor_divide", ANY, POS),
    ("remainder", INT, NZ_INT), ("mod", ANY, UNIT), ("fmod", INT, NZ_INT), ("fmod", ANY, POS), ("power", POS, ANY),
    ("float_power", POS, UNIT), ("maximum", ANY, UNIT), ("minimum", INT, INT), ("fmax", ANY, UNIT),
    ("fmin", ANY, UNIT), ("arctan2", ANY, UNIT), ("hypot", ANY, UNIT), ("copysign", POS, ANY),
    ("nextafter", ANY, UNIT), ("logaddexp", ANY, UNIT), ("logaddexp2", ANY, UNIT), ("heaviside", ANY, UNIT),
    ("equal", INT, INT), ("not_equal", ANY, UNIT), ("less", ANY, UNIT), ("less_equal", INT, INT),
    ("greater", ANY, UNIT), ("greater_equal", INT, INT), ("bitwise_and", INT, NZ_INT), ("bitwise_or", INT, NZ_INT),
    ("bitwise_xor", INT, NZ_INT), ("logical_and", INT, NZ_INT), ("logical_or", ANY, INT), ("logical_xor", INT, INT),
    ("gcd", INT, NZ_INT), ("lcm", INT, NZ_INT),
]


@pytest.mark.parametrize("name,x,y", BINARY, ids=[f"{n}-{x.dtype}" for n, x, y in BINARY])
def test_binary_matches_numpy(name, x, y):
    out = getattr(jnp, name)(x, y)
    ref = getattr(np, name)(x, y)
    if ref.dtype == np.float64:
        ref = ref.astype(np.float32)
    assert np.asarray(out).dtype == ref.dtype, (out.dtype, ref.dtype)
    np.testing.assert_allclose(out, ref, rtol=2e-6, atol=1e-6)


def test_shifts_power_and_divmod():
    x = np.array([1, 7, -8, 100], np.int32)
    s = np.array([0, 1, 2, 3], np.int32)
    np.testing.assert_array_equal(jnp.left_shift(x, s), np.left_shift(x, s))
    np.testing.assert_array_equal(jnp.right_shift(x, s), np.right_shift(x, s))
    np.testing.assert_array_equal(jnp.right_shift(x.astype(np.uint32), s.astype(np.uint32)),
                                  np.right_shift(x.astype(np.uint32), s.astype(np.uint32)))
    np.testing.assert_array_equal(jnp.power(x, 3), x ** 3)
    np.testing.assert_array_equal(jnp.power(x, s), x ** s)
    q, r = jnp.divmod(x, np.int32(3))
    np.testing.assert_array_equal(q, x // 3)
    np.testing.assert_array_equal(r, x % 3)
    np.testing.assert_array_equal(jnp.bitwise_count(x), np.bitwise_count(x))
    with pytest.raises(ValueError, match="negative integer powers"):
        jnp.power(x, -2)


def test_frexp_ldexp_modf_exact():
    x = np.array([0.0, -0.0, 1.0, -3.75, 1e-40, 6.5e37, np.inf, np.nan, 2.0 ** -130], np.float32)
    m, e = jnp.frexp(x)
    rm, re = np.frexp(x)
    np.testing.assert_array_equal(m, rm)
    np.testing.assert_array_equal(e, re)
    np.testing.assert_array_equal(jnp.ldexp(rm, re), np.ldexp(rm, re))
    np.testing.assert_array_equal(jnp.ldexp(np.float32(1.5), np.int32(-140)), np.ldexp(np.float32(1.5), -140))
    frac, whole = jnp.modf(x[:6])
    rf, rw = np.modf(x[:6])
    np.testing.assert_array_equal(frac, rf)
    np.testing.assert_array_equal(whole, rw)


@pytest.mark.parametrize("a,b,expected", [
    (np.int8(1), np.uint8(1), jnp.int16), (np.int32(1), np.float16(1), jnp.float16),
    (np.float32(1), 2.0, jnp.float32), (np.int8(1), 2, jnp.int8), (np.uint32(1), np.int32(1), jnp.int32),
    (np.bool_(True), np.int8(1), jnp.int8), (np.float16(1), np.uint16(1), jnp.float16),
])
def test_jax_type_promotion(a, b, expected):
    assert jnp.add(jnp.asarray(a), b).dtype == expected
    assert jnp.result_type(jnp.asarray(a), b) == expected


def test_python_scalars_are_weak():
    x = jnp.arange(3, dtype=jnp.int8)
    assert (x + 1).dtype == jnp.int8
    assert (x * 2.5).dtype == jnp.float32
    assert (jnp.ones(2, jnp.float16) + 1.0).dtype == jnp.float16


def test_classification_and_closeness():
    a = np.array([1.0, np.nan, np.inf, -np.inf, 1e-9, 2.0], np.float32)
    b = np.array([1.0 + 1e-7, np.nan, np.inf, np.inf, 0.0, 2.1], np.float32)
    np.testing.assert_array_equal(jnp.isclose(a, b), np.isclose(a, b))
    np.testing.assert_array_equal(jnp.isclose(a, b, equal_nan=True), np.isclose(a, b, equal_nan=True))
    np.testing.assert_array_equal(jnp.isposinf(a), np.isposinf(a))
    np.testing.assert_array_equal(jnp.isneginf(a), np.isneginf(a))
    assert not bool(jnp.allclose(a, b)) and bool(jnp.allclose(a[:1], b[:1]))
    assert bool(jnp.array_equal(a[:1], a[:1])) and not bool(jnp.array_equal(a, a))
    assert bool(jnp.array_equal(a, a, equal_nan=True))
    assert not bool(jnp.array_equal(a, a[:2]))
    assert bool(jnp.array_equiv(np.ones(3), np.ones((2, 3))))
    np.testing.assert_array_equal(jnp.nan_to_num(a), np.nan_to_num(a))
    np.testing.assert_array_equal(jnp.iscomplex(a), np.iscomplex(a))
    np.testing.assert_array_equal(jnp.isreal(a), np.isreal(a))


def test_clip_where_select_piecewise():
    x = np.linspace(-2, 2, 9).astype(np.float32)
    np.testing.assert_array_equal(jnp.clip(x, -1, 0.5), np.clip(x, -1, 0.5))
    np.testing.assert_array_equal(jnp.where(x > 0, x, -x), np.where(x > 0, x, -x))
    np.testing.assert_array_equal(jnp.select([x < -1, x > 1], [x * 2, x * 3], 7.0),
                                  np.select([x < -1, x > 1], [x * 2, x * 3], 7.0))
    np.testing.assert_allclose(jnp.piecewise(x, [x < 0, x >= 0], [lambda v: -v, lambda v: v ** 2]),
                               np.piecewise(x, [x < 0, x >= 0], [lambda v: -v, lambda v: v ** 2]))


GRAD_UNARY = ["exp", "log", "sin", "tanh", "arctan", "sqrt", "cbrt", "log1p", "expm1", "sinc", "arcsinh", "cosh",
              "log2", "reciprocal", "square", "logaddexp", "hypot", "arctan2", "power", "copysign"]


@pytest.mark.parametrize("name", GRAD_UNARY)
def test_elementwise_gradients(name, x64):
    fn = getattr(jnp, name)
    x = np.array([0.4, 1.3, 2.2])
    y = np.array([0.7, -1.1, 1.6])
    if name in ("logaddexp", "hypot", "arctan2", "power", "copysign"):
        check_grads(fn, (x, y) if name != "power" else (x, np.abs(y)), order=2)
    else:
        check_grads(fn, (x,), order=2)


def test_where_gradient_and_vmap(x64):
    f = lambda x: jnp.sum(jnp.where(x > 0, jnp.sqrt(jnp.abs(x) + 1.0), x ** 3))
    check_grads(f, (np.array([-1.2, 0.5, 2.0]),), order=2)
    out = portax.vmap(lambda v: jnp.logaddexp(v, 1.0))(np.arange(3.0))
    np.testing.assert_allclose(out, np.logaddexp(np.arange(3.0), 1.0))


# JAX 0.10.2's derivatives at ties and kinks (jax/_src/lax/lax.py, jax/_src/lax/other.py, jax/_src/numpy/ufuncs.py)
TIE_GRADS = [
    ("logaddexp", (1.5, 1.5), (0.5, 0.5)),  # exp(x - out): a tie splits 1/2, 1/2
    ("logaddexp", (0.0, -np.inf), (1.0, 0.0)),
    ("logaddexp", (np.inf, 1.0), (1.0, np.e)),  # JAX replaces +inf by 0 in exp(x - out)
    ("logaddexp2", (-2.0, -2.0), (0.5, 0.5)),
    ("logaddexp2", (1.0, 0.0), (2 / 3, 1 / 3)),
    ("maximum", (2.0, 2.0), (0.5, 0.5)),
    ("minimum", (-0.0, 0.0), (0.5, 0.5)),
    ("fmax", (1.0, 1.0), (0.0, 1.0)),  # where((x1 > x2) | isnan(x2), x1, x2): a tie takes x2
    ("fmin", (2.0, 2.0), (0.0, 1.0)),
    ("fmax", (np.nan, 1.0), (0.0, 1.0)),
    ("hypot", (0.0, 0.0), (0.5, 0.5)),  # where(max == 0, max, ...) passes 1 to the larger, split on the tie
    ("hypot", (-3.0, 4.0), (-0.6, 0.8)),
]


@pytest.mark.parametrize("name,args,expected", TIE_GRADS, ids=[f"{t[0]}{t[1]}" for t in TIE_GRADS])
def test_derivatives_at_ties_match_jax(name, args, expected):
    grad = portax.grad(getattr(jnp, name), argnums=(0, 1))
    for g in (grad, portax.jit(grad)):
        np.testing.assert_allclose(np.array(g(*args)), expected, rtol=1e-6)


def test_logaddexp_values_with_infinities_and_nan():
    x = np.array([0.0, -np.inf, np.inf, np.inf, np.nan, 80.0, -80.0, 1e-3], np.float32)
    y = np.array([0.0, -np.inf, np.inf, -np.inf, 1.0, 80.0, 3.0, -1e-3], np.float32)
    with np.errstate(invalid="ignore"):
        ref, ref2 = np.logaddexp(x, y), np.logaddexp2(x, y)
    np.testing.assert_allclose(jnp.logaddexp(x, y), ref, rtol=1e-6)
    np.testing.assert_allclose(jnp.logaddexp2(x, y), ref2, rtol=1e-6)


def test_clamp_and_abs_derivatives_match_jax():
    grad = portax.grad(portax.lax.clamp, argnums=(0, 1, 2))
    for (lo, x, hi), expected in [((0.0, -1.0, 2.0), (1, 0, 0)), ((0.0, 3.0, 2.0), (0, 0, 1)),
                                  ((0.0, 1.0, 2.0), (0, 1, 0)), ((3.0, 0.0, 2.0), (0, 0, 0))]:  # lo > hi: no tangent
        np.testing.assert_array_equal(np.array(grad(lo, x, hi)), np.array(expected, np.float32))
    assert complex(portax.grad(lambda z: jnp.abs(z))(0j)) == 0  # JAX replaces |z| = 0 by 1 in the denominator
    np.testing.assert_allclose(complex(portax.grad(lambda z: jnp.abs(z))(3 + 4j)), 0.6 - 0.8j, rtol=1e-6)
    assert float(portax.grad(jnp.abs)(0.0)) == 1.0  # select(x >= 0, g, -g)


def test_hypot_neither_overflows_nor_underflows():
    x = np.array([1e30, 3e-30, 0.0, np.inf, np.nan, -3.0], np.float32)
    y = np.array([1e30, 4e-30, 0.0, np.nan, -np.inf, 4.0], np.float32)
    np.testing.assert_allclose(jnp.hypot(x, y), np.hypot(x, y), rtol=1e-6)
    with pytest.raises(ValueError, match="not well defined for complex"):
        jnp.hypot(1j, 1.0)


def test_heaviside_keeps_nan():
    x1 = np.array([np.nan, 0.0, -0.0, 2.0, -2.0, np.nan, 0.0], np.float32)
    x2 = np.array([0.5, np.nan, 0.25, 0.5, 0.5, np.nan, 3.0], np.float32)
    np.testing.assert_array_equal(jnp.heaviside(x1, x2), np.heaviside(x1, x2))


def test_sinc_derivatives_at_zero_follow_the_series():
    d2 = portax.grad(portax.grad(jnp.sinc))
    d4 = portax.grad(portax.grad(d2))
    np.testing.assert_allclose(d2(0.0), -np.pi ** 2 / 3, rtol=1e-6)  # was 0
    np.testing.assert_allclose(d4(0.0), np.pi ** 4 / 5, rtol=1e-6)
    assert float(portax.grad(jnp.sinc)(0.0)) == 0.0
    np.testing.assert_allclose(portax.jit(portax.vmap(d2))(np.array([0.0, 0.5], np.float32)),
                               [-np.pi ** 2 / 3, _sinc_d2(0.5)], rtol=1e-5)


def _sinc_d2(x):
    """d^2/dx^2 sin(pi x) / (pi x)."""
    p = np.pi * x
    return np.pi ** 2 * (-np.sin(p) / p - 2 * np.cos(p) / p ** 2 + 2 * np.sin(p) / p ** 3)


def test_floor_divide_floats_as_cpython_and_integer_remainder_by_zero():
    a = np.array([1.0, -1.0, 5.5, -5.5, 0.0, 1e8], np.float32)
    b = np.array([0.1, 0.1, -2.0, 2.0, 3.0, 3.0], np.float32)
    np.testing.assert_array_equal(jnp.floor_divide(a, b), np.floor_divide(a, b))  # 1 // 0.1 == 9, not floor(10.0)
    q, r = jnp.divmod(a, b)
    np.testing.assert_array_equal(q, np.floor_divide(a, b))
    np.testing.assert_allclose(r, np.remainder(a, b), rtol=1e-6)
    x, y = np.array([7, -7, 7], np.int32), np.array([0, 0, 2], np.int32)
    np.testing.assert_array_equal(jnp.remainder(x, y), [0, 0, 1])  # x % 0 is 0, as JAX (and numpy)
    np.testing.assert_array_equal(jnp.remainder(x.astype(np.uint8), y.astype(np.uint8)), [0, 0, 1])


def test_integer_floor_divide_by_zero_as_jax():
    """JAX: x // 0 = div(x, 0) - 1 = -2 for any nonzero x (XLA's x / 0 is -1 and x % 0 is x), 0 // 0 = -1."""
    x, y = np.array([1, -1, 0, 7, -7, 7, -7, 6], np.int32), np.array([0, 0, 0, 0, 0, 2, 2, -3], np.int32)
    want = [-2, -2, -1, -2, -2, 3, -4, -2]
    np.testing.assert_array_equal(jnp.floor_divide(x, y), want)
    np.testing.assert_array_equal(portax.jit(lambda a, b: a // b)(x, y), want)


def test_logaddexp_complex_as_jax():
    x = np.array([1 + 2j, -3 + 0.5j, 20 - 3j], np.complex64)
    y = np.array([0.5 - 1j, 2 + 3j, 19 + 3j], np.complex64)
    want = np.log(np.exp(x.astype(np.complex128)) + np.exp(y.astype(np.complex128)))
    np.testing.assert_allclose(jnp.logaddexp(x, y), want, rtol=1e-5)
    want2 = np.log2(np.exp2(x.astype(np.complex128)) + np.exp2(y.astype(np.complex128)))
    np.testing.assert_allclose(jnp.logaddexp2(x, y), want2, rtol=1e-5)


def test_lcm_wraps_like_jax_and_numpy():
    x, y = np.array([-8, 6, 0, -4], np.int8), np.array([25, -4, 5, 6], np.int8)
    np.testing.assert_array_equal(jnp.lcm(x, y), np.lcm(x, y))  # -8, 25: |x| * |y| = 200 wraps to -56


@pytest.mark.parametrize("dtype", ["float32", "float16"])
def test_ldexp_zero_and_inf_with_huge_exponents(dtype):
    x = np.array([0.0, -0.0, np.inf, -np.inf, 1.5, 3e-5, np.nan], dtype)
    for e in (300, -300, 1000, -1000, 5, -20):
        np.testing.assert_array_equal(jnp.ldexp(x, e), np.ldexp(x, e))  # 0 * 2**300 is 0, not NaN


def test_add_and_multiply_of_bools_are_or_and_as_jax():
    a, b = np.array([True, True, False, False]), np.array([True, False, True, False])
    for f in (lambda x, y: x + y, jnp.add):
        out = portax.jit(f)(a, b)
        assert out.dtype == np.bool_
        np.testing.assert_array_equal(out, a | b)
    out = jnp.asarray(a) * b
    assert out.dtype == np.bool_
    np.testing.assert_array_equal(out, a & b)


def test_spacing_of_float16_points_up_and_complex_is_an_error():
    x = np.array([-1.0, 1.0, -2.0, 0.0], np.float16)
    np.testing.assert_array_equal(jnp.spacing(x), np.spacing(x))  # numpy's float16 spacing: towards +inf
    y = np.array([-1.0, 1.0, 0.0], np.float32)
    np.testing.assert_array_equal(jnp.spacing(y), np.spacing(y))
    with pytest.raises(ValueError, match="not defined for complex"):
        jnp.spacing(np.ones(2, np.complex64))


def test_integer_fmod_by_zero_is_zero_and_rint_of_complex():
    out = jnp.fmod(np.array([5, -5, 7], np.int32), np.array([0, 3, 0], np.int8))
    assert out.tolist() == [0, -2, 0]  # was -1 where the divisor is 0
    np.testing.assert_array_equal(jnp.rint(np.array([1.5 + 2.5j, 0.4 - 1.6j], np.complex64)), [2 + 2j, 0 - 2j])


def test_imag_of_real_infinity_is_zero():
    x = jnp.array([np.inf, -np.inf, np.nan, 1.0], jnp.bfloat16)
    assert np.asarray(x.imag, np.float32).tolist() == [0, 0, 0, 0]  # was inf * 0 = nan
    assert jnp.isreal(x).tolist() == [True] * 4 and np.isreal(x).tolist() == [True] * 4


def test_array_class_is_named_like_jaxs():
    x = jnp.ones(2)
    assert type(x).__name__ == "ArrayImpl" and type(x) is portax.Array
    with pytest.raises(TypeError, match="'ArrayImpl' and 'dict'"):
        x + {}
    with pytest.raises(TypeError, match="'list' and 'ArrayImpl'"):
        [1] % x
    assert not isinstance(x, collections.abc.Hashable)  # __hash__ is None, as JAX's ArrayImpl
    with pytest.raises(TypeError, match="unhashable type: 'ArrayImpl'"):
        hash(x)


def test_frexp_mantissa_has_jaxs_derivative():
    # JAX's _frexp_jvp: d mantissa = t * 2**-exponent (bit manipulation alone would give 0)
    x = np.array([3.0, -0.3, 5e-39, 100.0], np.float32)
    want = 2.0 ** -np.frexp(x)[1]
    for g in (portax.grad(lambda v: jnp.frexp(v)[0].sum()), portax.jit(portax.grad(lambda v: jnp.frexp(v)[0].sum()))):
        np.testing.assert_allclose(np.asarray(g(x)), want, rtol=1e-6)
    check_grads(lambda v: jnp.frexp(v)[0], (np.array([1.5, -7.0, 0.3], np.float32),), 1)
