"""lax.real/imag/complex/conj, lax.index_take, lax.reduce_precision and lax.dot's dimension_numbers, as in JAX
0.10.2 (expected values from JAX's tests/lax_test.py and XLA's ReducePrecision semantics)."""
import numpy as np
import pytest

import portax
import portax.numpy as jnp
from portax import lax

RNG = np.random.RandomState(0)
FORMATS = {np.float16: (5, 10), np.float32: (8, 23), np.float64: (11, 52)}


def _rand(shape, dtype):
    return np.asarray(RNG.randn(*shape) * 3, dtype)


@pytest.mark.parametrize("shape", [(), (3,), (3, 4)])
@pytest.mark.parametrize("dtype,out_dtype", [(np.float32, np.float16), (np.float32, np.float32),
                                             (np.float16, np.float16), (np.float16, np.float32)])
def test_reduce_precision_is_a_round_trip_through_the_narrow_format(shape, dtype, out_dtype):
    # JAX's testReducePrecision: reduce_precision(x, finfo(out).nexp, finfo(out).nmant) == x.astype(out).astype(x)
    x = _rand(shape, dtype)
    nexp, nmant = FORMATS[out_dtype]
    fun = lambda v: lax.reduce_precision(v, nexp, nmant)
    want = x.astype(out_dtype).astype(dtype)
    for got in (fun(x), portax.jit(fun)(x)):
        assert got.dtype == dtype
        np.testing.assert_array_equal(np.asarray(got), want)


def test_reduce_precision_float64(x64):
    x = _rand((5,), np.float64)
    np.testing.assert_array_equal(np.asarray(lax.reduce_precision(x, 8, 23)), x.astype(np.float32).astype(np.float64))
    np.testing.assert_array_equal(np.asarray(lax.reduce_precision(x, 5, 10)), x.astype(np.float16).astype(np.float64))


def test_reduce_precision_rounding_overflow_underflow_and_nan():
    # XLA: round to nearest even, overflow to signed infinity, flush values below the normal range (denormals of
    # the narrow format included) to signed zero, NaN stays NaN
    e = 2.0 ** -11  # half an f16 ulp at 1
    x = np.array([1 + e, 1 + 3 * e, -(1 + 3 * e), 65504.0, 65520.0, -1e6, 6.0e-5, -1e-30, np.nan, np.inf],
                 np.float32)
    want = np.array([1.0, 1 + 4 * e, -(1 + 4 * e), 65504.0, np.inf, -np.inf, 0.0, -0.0, np.nan, np.inf], np.float32)
    got = np.asarray(lax.reduce_precision(x, 5, 10))
    np.testing.assert_array_equal(got, want)
    assert np.signbit(got[7]) and not np.signbit(got[6])
    assert np.isinf(np.asarray(lax.reduce_precision(np.float32(np.nan), 8, 0)))  # no mantissa bits: NaN -> inf
    # ties go to the even exponent when no mantissa bits remain: 3 -> 2 (exponent 128), 6 -> 8 (exponent 130)
    np.testing.assert_array_equal(np.asarray(lax.reduce_precision(np.float32([1.2, 3.0, 3.5, 6.0]), 8, 0)),
                                  [1.0, 2.0, 4.0, 8.0])


def test_reduce_precision_is_linear_under_autodiff():
    # JAX's testReducePrecisionGrad with bfloat16's (nexp, nmant) = (8, 7)
    y, f_vjp = portax.vjp(lambda x: lax.reduce_precision(x, 8, 7), jnp.pi)
    (y2,) = f_vjp(jnp.pi)
    y3 = lax.reduce_precision(jnp.pi, 8, 7)
    assert float(y) == float(y2) == float(y3) == 3.140625
    _, t = portax.jvp(lambda x: lax.reduce_precision(x, 8, 7), (jnp.float32(1.0),), (jnp.float32(np.pi),))
    assert float(t) == 3.140625


def test_reduce_precision_vmap_jaxpr_and_errors():
    x = _rand((4, 3), np.float32)
    np.testing.assert_array_equal(np.asarray(portax.vmap(lambda v: lax.reduce_precision(v, 5, 10))(x)),
                                  x.astype(np.float16).astype(np.float32))
    assert "reduce_precision[exponent_bits=5 mantissa_bits=10]" in str(
        portax.make_jaxpr(lambda v: lax.reduce_precision(v, 5, 10))(x))
    assert lax.reduce_precision_p.name == "reduce_precision"
    with pytest.raises(TypeError, match="reduce_precision does not accept dtype int32"):
        lax.reduce_precision(np.int32(1), 5, 10)
    with pytest.raises(ValueError, match="exponent_bits must be positive; got 0"):
        lax.reduce_precision(x, 0, 10)
    with pytest.raises(ValueError, match="mantissa_bits must be non-negative; got -1"):
        lax.reduce_precision(x, 5, -1)
    with pytest.raises(TypeError):
        lax.reduce_precision(x, 5.5, 10)


def test_real_imag_complex_conj():
    z = np.array([1 + 2j, -3 - 0.5j], np.complex64)
    np.testing.assert_array_equal(np.asarray(lax.real(z)), z.real)
    np.testing.assert_array_equal(np.asarray(lax.imag(z)), z.imag)
    np.testing.assert_array_equal(np.asarray(lax.conj(z)), np.conj(z))
    np.testing.assert_array_equal(np.asarray(lax.complex(z.real, z.imag)), z)
    # JAX's conj takes a real float operand too and returns it as complex
    c = lax.conj(np.float32([1.5, -2.0]))
    assert c.dtype == np.complex64
    np.testing.assert_array_equal(np.asarray(c), np.array([1.5, -2.0], np.complex64))
    assert portax.grad(lambda x: lax.real(lax.conj(x)) * 3.0)(1.0) == 3.0
    with pytest.raises(TypeError):
        lax.conj(np.int32(1))
    with pytest.raises(TypeError):
        lax.real(np.float32(1))


@pytest.mark.parametrize("idxs,axes", [((np.array([0, 2, 1]),), (0,)), ((np.array([-1, -2]),), (0,)),
                                       ((np.array([0, 2]), np.array([1, 3])), (0, 1)),
                                       ((np.array([0, 2]), np.array([1, 3])), [0, 2])])
def test_index_take(idxs, axes):
    # JAX's testIndexTake cases: src[idx % size] along each axis, the other axes kept whole
    src = _rand((3, 4, 5), np.float32)
    idxs = tuple(i.astype(np.int32) for i in idxs)
    index = [slice(None)] * 3
    for i, ax in zip(idxs, axes):
        index[ax] = i % src.shape[ax]
    rest = [d for d in range(3) if d not in axes]
    want = src[tuple(index)]  # numpy puts the (leading or separated) advanced-index axis first, as index_take does
    got = lax.index_take(src, idxs, axes)
    assert got.shape == (len(idxs[0]),) + tuple(src.shape[d] for d in rest)
    np.testing.assert_array_equal(np.asarray(got), want)
    np.testing.assert_array_equal(np.asarray(portax.jit(lambda s, *i: lax.index_take(s, i, axes))(src, *idxs)), want)


def test_dot_dimension_numbers():
    a, b = _rand((2, 3, 4), np.float32), _rand((2, 4, 5), np.float32)
    got = lax.dot(a, b, dimension_numbers=(((2,), (1,)), ((0,), (0,))))
    np.testing.assert_allclose(np.asarray(got), np.einsum("bij,bjk->bik", a, b), rtol=1e-5)
    np.testing.assert_allclose(np.asarray(lax.dot(a[0], b[0])), a[0] @ b[0], rtol=1e-5)
    with pytest.raises(ValueError, match="dimension_numbers must be specified"):
        lax.dot(a, b)
    with pytest.raises(ValueError, match="dimension_numbers must be specified"):
        lax.dot(a[0], a[0])


def test_tile_takes_reps():
    # JAX's lax.tile docstring example, with its keyword name and its error for a wrong length
    x = np.array([[1, 2], [3, 4]], np.int32)
    np.testing.assert_array_equal(np.asarray(lax.tile(x, reps=(2, 3))), np.tile(x, (2, 3)))
    with pytest.raises(TypeError, match="reps length must be equal to the ndim of x"):
        lax.tile(x, (2,))


def test_broadcast_shapes_refuses_negative_and_non_integer_shapes():
    # JAX's testBroadcastShapesFaultyInputs (tests/lax_vmap_test.py)
    assert lax.broadcast_shapes((3, 1), (4,)) == (3, 4)
    with pytest.raises(TypeError, match="Only non-negative indices are allowed"):
        lax.broadcast_shapes((-1,))
    with pytest.raises(TypeError, match="Shapes must be 1D sequences"):
        lax.broadcast_shapes("hello")
