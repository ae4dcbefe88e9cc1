"""Elementwise primitives lowered to WGSL, compared with the numpy reference backend."""
import numpy as np
import pytest

import portax.numpy as jnp
from portax import grad, jit, lax

from wgpu_helpers import caps, check, needs_dtype, wgpu_backend, x64_enabled

R = np.random.RandomState(0)
N = 37  # not a multiple of the workgroup size


def floats(lo=-3.0, hi=3.0, n=N, dtype=np.float32):
    return R.uniform(lo, hi, n).astype(dtype)


# op, input domain, tolerance (f32)
UNARY_FLOAT = [
    (lax.neg, (-3, 3), 0), (lax.sign, (-3, 3), 0), (lax.floor, (-3, 3), 0), (lax.ceil, (-3, 3), 0),
    (lax.abs, (-3, 3), 0), (lax.exp, (-5, 5), 2e-6), (lax.exp2, (-5, 5), 2e-6), (lax.log, (0.01, 9), 2e-6),
    (lax.log1p, (-0.9, 9), 2e-6), (lax.expm1, (-3, 3), 2e-6), (lax.tanh, (-12, 12), 2e-6),
    (lax.logistic, (-9, 9), 2e-6), (lax.sin, (-6, 6), 2e-6), (lax.cos, (-6, 6), 2e-6), (lax.tan, (-1.4, 1.4), 1e-5),
    (lax.asin, (-0.99, 0.99), 2e-6), (lax.acos, (-0.99, 0.99), 2e-6), (lax.atan, (-9, 9), 2e-6),
    (lax.sinh, (-5, 5), 2e-6), (lax.cosh, (-5, 5), 2e-6), (lax.asinh, (-9, 9), 2e-6), (lax.acosh, (1, 9), 2e-6),
    (lax.atanh, (-0.95, 0.95), 2e-6), (lax.sqrt, (0, 9), 1e-6), (lax.rsqrt, (0.01, 9), 1e-6),
    (lax.cbrt, (-9, 9), 1e-6), (lax.erf, (-4, 4), 1e-6), (lax.erfc, (-2, 4), 1e-6),
    (lax.erf_inv, (-0.99, 0.99), 1e-5), (lax.lgamma, (0.1, 9), 1e-5), (lax.digamma, (0.1, 9), 1e-5),
    (lax.square, (-3, 3), 1e-6), (lax.is_finite, (-3, 3), 0), (lax.stop_gradient, (-3, 3), 0),
]


@pytest.mark.parametrize("op,domain,tol", UNARY_FLOAT, ids=[o.__name__ for o, _, _ in UNARY_FLOAT])
def test_unary_float32(op, domain, tol):
    check(op, floats(*domain), tol=max(tol, 1e-7))


@pytest.mark.parametrize("op", [lax.lgamma, lax.digamma], ids=["lgamma", "digamma"])
def test_gamma_functions_negative_arguments(op):
    x = np.array([-2.5, -1.5, -0.5, -3.3, -7.2, 0.25], np.float32)
    check(op, x, tol=1e-4)


def test_unary_float16():
    needs_dtype(np.float16)
    x = floats(-3, 3).astype(np.float16)
    check(lambda v: lax.exp(v) * v - lax.tanh(v) + lax.abs(v), x, tol=2e-3)


@pytest.mark.parametrize("method", [lax.RoundingMethod.AWAY_FROM_ZERO, lax.RoundingMethod.TO_NEAREST_EVEN])
def test_round(method):
    x = np.array([0.5, 1.5, 2.5, -0.5, -1.5, -2.5, 0.49, 2.51, -3.7], np.float32)
    check(lambda v: lax.round(v, method), x)


BINARY = [lax.add, lax.sub, lax.mul, lax.div, lax.rem, lax.max, lax.min]


@pytest.mark.parametrize("op", BINARY, ids=lambda o: o.__name__)
@pytest.mark.parametrize("dtype", [np.float32, np.int32, np.uint32])
def test_binary_arithmetic(op, dtype):
    if dtype == np.float32:
        x, y = floats(-9, 9), floats(0.5, 4) * np.where(R.rand(N) < 0.5, -1, 1).astype(np.float32)
    else:
        lo = 0 if dtype == np.uint32 else -50
        x, y = R.randint(lo, 50, N).astype(dtype), R.randint(lo, 9, N).astype(dtype)
        y[:4] = 0  # division and remainder by zero follow the reference
    check(op, x, y, tol=1e-6)


def test_integer_division_edge_cases():
    x = np.array([7, -7, 7, -7, -2**31, -2**31, 5, 0], np.int32)
    y = np.array([2, 2, -2, -2, -1, 1, 0, 0], np.int32)
    check(lambda a, b: (lax.div(a, b), lax.rem(a, b)), x, y)
    check(lambda a, b: (lax.div(a, b), lax.rem(a, b)), x.view(np.uint32), y.view(np.uint32))


def test_pow_and_atan2():
    x, y = floats(0.1, 4), floats(-3, 3)
    check(lax.pow, x, y, tol=1e-5)
    check(lax.pow, np.array([-2, -2, 0, 0, -0.0, 1], np.float32), np.array([3, 0.5, 2, -1, 3, np.nan], np.float32))
    check(lax.atan2, floats(), floats(), tol=2e-6)


def test_float32_pow_is_correctly_rounded_where_the_device_has_float64():
    """cpu_llvm computes float32 pow in float64 and rounds once (x ** 2.0 == x * x, x ** 1.0 == x); a device
    with shader-f64 does the same (it was 1 ulp off for 12% of squares on lavapipe)."""
    needs_dtype(np.float64)
    x = R.uniform(0.1, 10, 4096).astype(np.float32)
    f = jit(lambda a: (a ** 1.0, a ** 2.0, a ** 0.5, a ** -1.0), backend="wgpu")
    one, two, half, inverse = (np.asarray(r) for r in f(x))
    np.testing.assert_array_equal(one, x)
    np.testing.assert_array_equal(two, x * x)
    np.testing.assert_array_equal(half, np.sqrt(x))
    np.testing.assert_array_equal(inverse, np.float32(1) / x)


def test_nextafter():
    x = np.array([1, 1, 0, 0, -1, 3], np.float32)
    y = np.array([2, 0, 1, -1, -2, 3], np.float32)
    check(lax.nextafter, x, y)


@pytest.mark.parametrize("y", [0, 1, 2, 3, 5, -1, -2])
def test_integer_pow(y):
    check(lambda v: lax.integer_pow(v, y), floats(0.5, 2), tol=1e-6)
    if y >= 0:  # integers cannot be raised to negative powers (a TypeError, as in JAX)
        check(lambda v: lax.integer_pow(v, y), np.array([-3, -1, 1, 2, 3], np.int32))


@pytest.mark.parametrize("dtype", [np.int32, np.uint32])
def test_bitwise_and_shifts(dtype):
    info = np.iinfo(dtype)
    x = R.randint(info.min, info.max, N, dtype=np.int64).astype(dtype)
    y = R.randint(0, 40, N).astype(dtype)
    if dtype == np.int32:
        y[:3] = [-1, 32, 31]
    check(lambda a, b: (lax.bitwise_and(a, b), lax.bitwise_or(a, b), lax.bitwise_xor(a, b), lax.bitwise_not(a)), x, y)
    check(lambda a, b: (lax.shift_left(a, b), lax.shift_right_logical(a, b), lax.shift_right_arithmetic(a, b)), x, y)
    check(lambda a: (lax.population_count(a), lax.clz(a)), x)


def test_bool_logic():
    a, b = R.rand(N) < 0.5, R.rand(N) < 0.5
    check(lambda p, q: (lax.bitwise_and(p, q), lax.bitwise_or(p, q), lax.bitwise_xor(p, q), lax.bitwise_not(p),
                        lax.max(p, q), lax.min(p, q), lax.lt(p, q), lax.ge(p, q)), a, b)


@pytest.mark.parametrize("dtype", [np.float32, np.int32, np.uint32, np.bool_])
def test_comparisons(dtype):
    x = R.randint(0, 4, N).astype(dtype)
    y = R.randint(0, 4, N).astype(dtype)
    check(lambda a, b: [f(a, b) for f in (lax.eq, lax.ne, lax.lt, lax.le, lax.gt, lax.ge)], x, y)


def test_nan_handling():
    """NaN is detected from the bits: comparisons, max/min propagation, is_finite, conversions."""
    x = np.array([np.nan, 1, np.nan, -np.inf, np.inf, 2, 0], np.float32)
    y = np.array([1, np.nan, np.nan, 1, 2, 2, -0.0], np.float32)
    check(lambda a, b: [f(a, b) for f in (lax.eq, lax.ne, lax.lt, lax.le, lax.gt, lax.ge, lax.max, lax.min)], x, y)
    check(lambda a: (lax.is_finite(a), lax.convert_element_type(a, jnp.int32), lax.convert_element_type(a, jnp.bool_)),
          x)


CONVERSIONS = [(np.float32, np.int32), (np.float32, np.uint32), (np.float32, np.bool_), (np.int32, np.float32),
               (np.uint32, np.float32), (np.int32, np.uint32), (np.uint32, np.int32), (np.bool_, np.float32),
               (np.bool_, np.int32), (np.int32, np.bool_)]


@pytest.mark.parametrize("src,dst", CONVERSIONS, ids=lambda d: np.dtype(d).name)
def test_convert_element_type(src, dst):
    if np.dtype(src).kind == "f":
        x = np.array([0.5, -0.5, 3.7, -3.7, 3e9, -3e9, 5e9, np.nan, np.inf, -np.inf, 0], np.float32)
    elif np.dtype(src).kind == "b":
        x = np.array([True, False, True])
    else:
        x = np.array([0, 1, -1, 2**31 - 1, -2**31, 7], np.int64).astype(src)
    check(lambda v: lax.convert_element_type(v, dst), x)


def test_float16_conversions():
    needs_dtype(np.float16)
    x = np.array([0.1, -2.5, 65504, 1e-3, 3.3], np.float32)
    check(lambda v: lax.convert_element_type(lax.convert_element_type(v, jnp.float16), jnp.float32), x)


def test_select_n_and_clamp():
    which = R.randint(0, 3, N).astype(np.int32)
    a, b, c = floats(), floats(), floats()
    check(lambda w, p, q, r: lax.select_n(w, p, q, r), which, a, b, c)
    check(lambda p, q: lax.select(p > 0, p, q), a, b)
    check(lambda v: lax.clamp(np.float32(-1), v, np.float32(1.5)), a)


def test_threefry_is_bit_identical():
    k1, k2 = np.uint32(0x12345678), np.uint32(0x9abcdef0)
    x1, x2 = np.arange(N, dtype=np.uint32), np.arange(N, dtype=np.uint32) * np.uint32(7919)
    from portax.core.primitives import prng
    check(lambda a, b, c, d: prng.threefry2x32(a, b, c, d), k1, k2, x1, x2)


def test_bitcast_same_width():
    check(lambda v: (lax.bitcast_convert_type(v, jnp.uint32), lax.bitcast_convert_type(v, jnp.int32)), floats())


def test_float64_and_int64():
    needs_dtype(np.float64)
    needs_dtype(np.int64)
    with x64_enabled():
        x = R.randn(N)
        i = R.randint(-2**40, 2**40, N)
        check(lambda a: (a * 3 + 1 / (1 + a * a), lax.sqrt(lax.abs(a)), lax.floor(a), a > 0.5), x)
        check(lambda a, b: (a * 3 - b, lax.div(a, b + 1), lax.rem(a, b + 1), lax.clz(a), lax.shift_right_logical(a, 3),
                            lax.convert_element_type(a, jnp.float64)), i, np.abs(i) % 1000)
        check(lambda a: lax.bitcast_convert_type(a, jnp.uint32), x)


F64_MATH = [(lax.exp, (-30, 30), 4), (lax.log, (1e-3, 1e3), 4), (lax.sin, (-50, 50), 4), (lax.cos, (-50, 50), 4),
            (lax.tan, (-1.5, 1.5), 8), (lax.atan, (-20, 20), 4), (lax.asin, (-1, 1), 4), (lax.tanh, (-5, 5), 8),
            (lax.expm1, (-1, 1), 8), (lax.log1p, (-0.5, 5), 8), (lax.exp2, (-30, 30), 4), (lax.lgamma, (0.1, 20), 64),
            (lax.erf, (-6, 6), 4), (lax.erfc, (-2, 20), 8), (lax.erf_inv, (-0.999, 0.999), 8)]


@pytest.mark.parametrize("op,domain,ulps", F64_MATH, ids=[o.__name__ for o, _, _ in F64_MATH])
def test_float64_math_is_double_precision(op, domain, ulps):
    """The drivers compute f64 transcendentals in 32 bits; the backend's own are within a few ulp
    (of max(|result|, 1): lgamma's cancellation near its zeros costs absolute accuracy)."""
    needs_dtype(np.float64)
    with x64_enabled():
        x = R.uniform(*domain, 64)
        got = np.asarray(jit(op, backend="wgpu")(x))
        want = np.asarray(jit(op, backend="reference")(x))
        assert np.all(np.abs(got - want) <= ulps * np.spacing(np.maximum(np.abs(want), 1.0)))


def test_driver_capabilities_are_reported():
    c = caps()
    assert np.dtype(np.float32) in c.dtypes and np.dtype(np.bool_) in c.dtypes


NARROW = [np.int8, np.uint8, np.int16, np.uint16]


@pytest.mark.parametrize("dtype", NARROW, ids=lambda d: np.dtype(d).name)
def test_narrow_integers_wrap_like_numpy(dtype):
    """8/16-bit integers live in 32-bit words and are wrapped after every operation."""
    info = np.iinfo(dtype)
    x = R.randint(info.min, info.max + 1, N).astype(dtype)
    y = R.randint(info.min, info.max + 1, N).astype(dtype)
    y[:2] = 0
    check(lambda a, b: (a + b, a * b, a - b, lax.div(a, b), lax.rem(a, b), -a, lax.bitwise_not(a)), x, y)
    s = R.randint(0, info.bits + 3, N).astype(dtype)
    check(lambda a, b: (lax.shift_left(a, b), lax.shift_right_logical(a, b), lax.shift_right_arithmetic(a, b),
                        lax.population_count(a), lax.clz(a)), x, s)
    check(lambda a: (jnp.sum(a, axis=0), jnp.cumsum(a), jnp.sort(a), jnp.max(a), a.astype(jnp.float32),
                     (a.astype(jnp.float32) * 3.7).astype(dtype)), x)


def test_bitcast_through_float16_and_bytes():
    needs_dtype(np.float16)
    x = np.array([1.0, -2.5, 65504, 1e-3], np.float16)
    check(lambda v: lax.bitcast_convert_type(v, jnp.uint16), x)
    halves = np.array([[0x3c00, 0xc000], [1, 0x7bff]], np.uint16).view(np.uint32).reshape(2)
    check(lambda v: lax.bitcast_convert_type(v, jnp.float16), halves)
    check(lambda v: lax.bitcast_convert_type(v, jnp.uint8), np.array([0x01020304, 0xfffefdfc], np.uint32))
    check(lambda v: lax.bitcast_convert_type(v, jnp.int32), np.arange(-4, 4, dtype=np.int8).reshape(2, 4))


SMALL_ARGUMENTS = [(lax.log1p, -3e-8), (lax.atanh, -3e-8), (lax.expm1, 1e-5), (lax.sinh, 1e-5), (lax.asinh, 1e-5),
                   (lax.tanh, 4.6e-4), (lax.log, 1 - 2 ** -24), (lax.sin, 1e22), (lax.cos, 1e22)]


@pytest.mark.parametrize("op,x", SMALL_ARGUMENTS, ids=[f"{o.__name__}({x:g})" for o, x in SMALL_ARGUMENTS])
def test_float32_math_near_zero_and_one_is_accurate(op, x):
    """Not the drivers' builtins (lavapipe: log1p(-3e-8) 240% off, sin(1e22) off entirely): 4 ulp of float64."""
    wgpu_backend()
    v = np.full((4,), x, np.float32)
    got = np.asarray(jit(op, backend="wgpu")(v)).astype(np.float64)
    with x64_enabled():
        want = np.asarray(jit(op, backend="reference")(v.astype(np.float64)))
    assert np.all(np.abs(got - want) <= 4 * np.spacing(np.abs(want.astype(np.float32))))


def test_grad_through_log1p_near_zero():
    """The derivative of -log1p(a)/a at a = -0.0021 was 1.2% off on wgpu."""
    wgpu_backend()
    f = grad(lambda a: -(lax.log1p(a) / a))
    got = float(jit(f, backend="wgpu")(np.float32(-0.0021)))
    a = np.float64(np.float32(-0.0021))
    want = (np.log1p(a) - a / (1 + a)) / a**2  # d/da of -log1p(a)/a, in float64
    assert abs(got - want) <= 1e-4 * abs(want)


@pytest.mark.parametrize("dtype", [np.int8, np.int16, np.int32])
def test_widening_to_int64_keeps_the_sign_in_comparisons(dtype):
    """``x.astype(int64) > 0`` of a negative int32 was true on lavapipe (the widened value compared as if
    zero-extended): the sign extension is done by shifts."""
    needs_dtype(np.int64)
    x = np.array([3, -2, 0, -5, np.iinfo(dtype).min, np.iinfo(dtype).max], dtype)
    with x64_enabled():
        check(lambda v: v.astype(jnp.int64) > 0, x)
        check(lambda v: v.astype(jnp.int64) < 0, x)
        check(lambda v: jnp.where(v.astype(jnp.int64) >= -2, v.astype(jnp.int64) * 3, 7), x)
