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


def test_dot_of_mixed_dtypes_computes_in_the_more_precise_one():
    # JAX's dot_general dtype rule (XLA's HigherPrecisionType): no error, the wider/more precise operand's dtype
    x, y = np.arange(3, dtype=np.int16), np.array([0.5, 1.5, 2.5], jnp.bfloat16)
    out = lax.dot(x, y)
    assert out.dtype == jnp.bfloat16 and float(out) == 6.5
    assert lax.dot(np.ones(3, np.int8), np.arange(3, dtype=np.uint8)).dtype == np.int8
    assert lax.dot(np.ones(3, np.float32), np.ones(3, np.complex64)).dtype == np.complex64
    out = portax.jit(lambda a, b: lax.dot(a, b, preferred_element_type=np.float32))(x, y)
    assert out.dtype == np.float32 and float(out) == 6.5
    with pytest.raises(TypeError, match="`preferred_element_type` must not be narrower than the original type"):
        lax.dot(np.ones(3, np.int32), np.ones(3, np.int32), preferred_element_type=np.int8)
    with pytest.raises(TypeError, match=r"dot\(\) takes 2 positional arguments"):
        lax.dot(x, x, lax.Precision.DEFAULT)


def test_broadcast_in_dim_any_dimension_order_and_jax_errors():
    x = np.arange(6.0, dtype=np.float32).reshape(2, 3)
    want = np.broadcast_to(x.T[:, None, :], (3, 4, 2))
    np.testing.assert_array_equal(np.asarray(lax.broadcast_in_dim(x, (3, 4, 2), (2, 0))), want)
    w = np.arange(24.0, dtype=np.float32).reshape(3, 4, 2)
    g = portax.grad(lambda x: (lax.broadcast_in_dim(x, (3, 4, 2), (2, 0)) * w).sum())(x)
    np.testing.assert_array_equal(np.asarray(g), w.sum(1).T)
    for shape, dims, msg in [((2,), (0, 1), "target broadcast shape must have equal or higher rank"),
                             ((2, 3), (2, 0), "must be a subset of output dimensions"),
                             ((2, 2), (0, 0), "must not contain duplicates")]:
        with pytest.raises(TypeError, match=msg):
            lax.broadcast_in_dim(np.ones((2, 2), np.float32), shape, dims)


@pytest.mark.parametrize("dtype", [np.int8, np.uint8, np.int16, np.uint16, np.int32, np.uint32])
def test_mulhi_is_the_high_half_of_the_double_width_product(dtype):
    info = np.iinfo(dtype)
    x = RNG.randint(info.min, int(info.max) + 1, size=100, dtype=np.int64).astype(dtype)
    y = RNG.randint(info.min, int(info.max) + 1, size=100, dtype=np.int64).astype(dtype)
    x[:4], y[:4] = [info.min, info.max, info.min, 0], [info.min, info.max, info.max, info.min]
    want = np.array([(int(a) * int(b)) >> info.bits for a, b in zip(x, y)], np.int64).astype(dtype)
    got = portax.jit(lax.mulhi)(x, y)
    assert got.dtype == dtype
    np.testing.assert_array_equal(np.asarray(got), want)
    with pytest.raises(TypeError, match="mulhi requires integer inputs"):
        lax.mulhi(np.ones(2, np.float32), np.ones(2, np.float32))


def test_betainc_is_regularized_incomplete_beta():
    np.testing.assert_allclose(float(lax.betainc(2.0, 3.0, 0.5)), 0.6875, rtol=1e-5)
    assert lax.betainc is lax.regularized_incomplete_beta


def test_conv_general_dilated_patches_and_local():
    x = _rand((2, 3, 5, 4), np.float32)  # NCHW
    patches = lax.conv_general_dilated_patches(x, (2, 3), (1, 1), "VALID")
    assert patches.shape == (2, 3 * 6, 4, 2)
    want = np.stack([x[:, :, i:i + 4, j:j + 2] for i in range(2) for j in range(3)], 2).reshape(2, 18, 4, 2)
    np.testing.assert_allclose(np.asarray(patches), want, rtol=1e-6)
    # an unshared kernel per output position: the patches contracted over their channels at each position
    w = _rand((18, 7, 4, 2), np.float32)  # (in_features * filter_size, out_features, *output spatial)
    out = lax.conv_general_dilated_local(x, w, (1, 1), "VALID", (2, 3), dimension_numbers=("NCHW", "IOHW", "NCHW"))
    np.testing.assert_allclose(np.asarray(out), np.einsum("bfhw,fohw->bohw", want, w), rtol=1e-4, atol=1e-5)


def test_dynamic_slice_negative_indices_count_from_the_end():
    # JAX's _dynamic_slice_indices: a negative start index wraps once, then the window is clamped
    x = np.arange(5.0, dtype=np.float32)
    np.testing.assert_array_equal(np.asarray(lax.dynamic_slice(x, (-1,), (1,))), [4.0])
    np.testing.assert_array_equal(np.asarray(portax.jit(lambda i: lax.dynamic_slice(x, (i,), (2,)))(-2)), [3.0, 4.0])
    np.testing.assert_array_equal(np.asarray(portax.vmap(lambda i: lax.dynamic_slice(x, (i,), (2,)))(
        np.array([-1, 0, -3], np.int32))), [[3.0, 4.0], [0.0, 1.0], [2.0, 3.0]])
    np.testing.assert_array_equal(np.asarray(lax.dynamic_update_slice(x, np.array([9.0], np.float32), (-1,))),
                                  [0.0, 1.0, 2.0, 3.0, 9.0])
    assert float(lax.dynamic_index_in_dim(x, np.int16(-2), keepdims=False)) == 3.0
    with pytest.raises(ValueError, match="Index -1 is out of bounds for dimension 5 if allow_negative_indices=False"):
        lax.dynamic_slice(x, (-1,), (1,), allow_negative_indices=False)
    with pytest.raises(TypeError, match="index arguments to dynamic_slice must be integers of the same type, got: "
                       "int32, int16"):
        lax.dynamic_slice(np.ones((3, 4), np.float32), (np.int32(1), np.int16(2)), (2, 2))
    with pytest.raises(TypeError, match="index arguments to dynamic_update_slice must be integers of the same type"):
        lax.dynamic_update_slice(np.ones((3, 4), np.float32), np.zeros((2, 2), np.float32),
                                 (np.int32(1), np.int16(2)))


def test_pad_squeeze_split_errors_as_jax():
    with pytest.raises(ValueError, match="padding_value must be a scalar"):
        lax.pad(np.zeros(2, np.float32), np.zeros(2, np.float32), [(0, 0, 0)])
    with pytest.raises(ValueError, match="length of padding_config must equal the number of axes"):
        lax.pad(np.zeros(2, np.float32), 0.0, [(0, 1, 0), (0, 1, 0)])
    with pytest.raises(ValueError, match="interior padding in padding_config must be nonnegative"):
        lax.pad(np.zeros(2, np.float32), 0.0, [(0, 1, -1)])
    with pytest.raises(ValueError, match="Dimension size after padding is not at least 0"):
        lax.pad(np.zeros(2, np.float32), 0.0, [(-4, 0, 1)])
    x = np.zeros((1, 2, 3), np.float32)
    with pytest.raises(ValueError, match="dimensions are not unique"):
        lax.squeeze(x, (0, 0))
    with pytest.raises(TypeError, match="cannot be interpreted as an integer"):
        lax.squeeze(x, (None,))
    with pytest.raises(ValueError, match="Sizes passed to split must be nonnegative"):
        lax.split(np.arange(5), [-1])
    with pytest.raises(ValueError, match="Sum of sizes 6 must be equal to dimension 0"):
        lax.split(np.arange(5), [6])
    with pytest.raises(ValueError, match="axis 1 is out of bounds"):
        lax.split(np.arange(5), sizes=(), axis=1)


def test_padtype_to_pads_gives_python_ints_and_igamma_at_infinity():
    pads = lax.padtype_to_pads(np.array([10, 10]), np.array([5, 5]), np.array([1, 1]), "SAME")
    assert pads == [(2, 2), (2, 2)] and all(type(v) is int for p in pads for v in p)
    assert float(lax.igamma(1.0, np.inf)) == 1.0 and float(lax.igammac(1.0, np.inf)) == 0.0


def test_lax_errors_as_jax_for_scalars_reductions_and_convolutions():
    with pytest.raises(TypeError, match="lax.add requires arguments to have the same dtypes, got int32, float32"):
        lax.add(0, 0.0)
    assert float(lax.add(np.float32(1), 1)) == 2.0  # a Python scalar next to an array takes its dtype
    with pytest.raises(ValueError, match="Invalid axis -1 for operand"):
        lax.argmax(np.ones((2, 3), np.float32), axis=-1, index_dtype=np.int32)
    with pytest.raises(ValueError, match="argmin and argmax require non-empty reduced dimension"):
        lax.argmin(np.ones((0, 2), np.float32), axis=0, index_dtype=np.int32)
    with pytest.raises(TypeError, match="index_dtype must be an integer type"):
        lax.argmin(np.ones((2, 2), np.float32), axis=0, index_dtype=np.float32)
    with pytest.raises(ValueError, match="duplicate value in 'axes'"):
        lax.reduce(np.arange(3), 0, lax.add, (0, 0))
    with pytest.raises(ValueError, match="Operands must have the same tree structure as init_values"):
        lax.reduce({"x": np.ones(5)}, {"y": 0.0}, lambda x, y: {"x": x["x"] + y["x"]}, [0])
    with pytest.raises(ValueError, match="reduce found non-scalar initial value"):
        lax.reduce({"x": np.ones(5)}, {"x": np.ones(5)}, lambda x, y: {"x": x["x"] + y["x"]}, [0])
    with pytest.raises(ValueError, match="conv_general_dilated window and window_strides must have the same number"):
        lax.conv(np.zeros((1, 1, 3, 3), np.float32), np.zeros((1, 1, 1, 1), np.float32), [1], "SAME")


def test_dot_algorithms_round_operands_and_accumulate_as_requested():
    a, b = _rand((3, 4), np.float16), _rand((4, 3), np.float16)
    want = a.astype(np.float32) @ b.astype(np.float32)
    for precision in ("F32_F32_F32", lax.DotAlgorithmPreset.F16_F16_F32, lax.DotAlgorithmPreset.DEFAULT,
                      lax.DotAlgorithm(np.float16, np.float16, np.float32)):
        out = portax.jit(lambda x, y: lax.dot(x, y, precision=precision))(a, b)
        assert out.dtype == np.float16  # the result keeps the operands' dtype, as JAX's
        np.testing.assert_allclose(np.asarray(out, np.float32), want, rtol=2e-3, atol=2e-3)
    x = np.array([1 + 2 ** -10], np.float32)  # x * x accumulated in bfloat16 (BF16_BF16_BF16) rounds to 1
    assert float(lax.dot(x, x, precision=lax.DotAlgorithmPreset.BF16_BF16_BF16)) == 1.0
    with pytest.raises(ValueError, match="requires both inputs to have float8 dtypes"):
        lax.dot(a, b, precision="ANY_F8_ANY_F8_F32")


def test_transcendental_ops_take_jax_accuracy_hint():
    x = np.linspace(-2, 2, 7).astype(np.float32)
    for name in ("exp", "expm1", "log1p", "sin", "cos", "tan", "tanh", "logistic", "sqrt", "cbrt"):
        f = getattr(lax, name)
        arg = np.abs(x) + 0.5 if name in ("sqrt", "log1p", "cbrt") else x
        for accuracy in (lax.AccuracyMode.HIGHEST, lax.Tolerance(atol=1e-6)):
            np.testing.assert_array_equal(np.asarray(f(arg, accuracy=accuracy)), np.asarray(f(arg)))
    g = portax.grad(lambda v: lax.exp(v, accuracy=lax.AccuracyMode.HIGHEST))(1.0)
    np.testing.assert_allclose(float(g), np.e, rtol=1e-6)
    with pytest.raises(ValueError, match="At least one of atol, rtol, or ulps must be set"):
        lax.Tolerance()


def test_ragged_dot_multiplies_each_row_group_by_its_matrix():
    lhs, rhs = _rand((10, 4), np.float32), _rand((3, 4, 5), np.float32)
    sizes = np.array([3, 0, 7], np.int32)
    want = np.concatenate([lhs[:3] @ rhs[0], lhs[3:] @ rhs[2]])
    np.testing.assert_allclose(np.asarray(portax.jit(lax.ragged_dot)(lhs, rhs, sizes)), want, rtol=1e-5, atol=1e-5)
    g = portax.grad(lambda a: lax.ragged_dot(a, rhs, sizes).sum())(lhs)
    np.testing.assert_allclose(np.asarray(g), np.concatenate([np.tile(rhs[0].sum(1), (3, 1)),
                                                              np.tile(rhs[2].sum(1), (7, 1))]), rtol=1e-5)


def test_ragged_dot_general_contracting_mode_gives_one_product_per_group():
    # ragged contracting dim with per-batch group sizes: [b,m,k] x [b,k,n], gs [b,g] -> [g,b,m,n]
    lhs, rhs = _rand((2, 11, 5), np.float32), _rand((2, 5, 7), np.float32)
    sizes = np.array([[2, 0, 3], [1, 4, 0]], np.int32)
    dn = lax.RaggedDotDimensionNumbers(dot_dimension_numbers=(([2], [1]), ([0], [0])), lhs_ragged_dimensions=[2],
                                       rhs_group_dimensions=[])
    out = np.asarray(portax.jit(lambda a, b, g: lax.ragged_dot_general(a, b, g, dn))(lhs, rhs, sizes))
    assert out.shape == (3, 2, 11, 7)
    for b in range(2):
        ends = np.cumsum(sizes[b])
        for j, (s, e) in enumerate(zip(ends - sizes[b], ends)):
            np.testing.assert_allclose(out[j, b], lhs[b][:, s:e] @ rhs[b][s:e], rtol=1e-5, atol=1e-5)


def test_ragged_dot_general_noncontracting_mode_with_batched_group_sizes():
    lhs, rhs = _rand((2, 10, 4), np.float32), _rand((2, 3, 4, 5), np.float32)
    sizes = np.array([[3, 0, 7], [5, 5, 0]], np.int32)
    dn = lax.RaggedDotDimensionNumbers((([2], [2]), ([0], [0])), [1], [1])
    out = np.asarray(lax.ragged_dot_general(lhs, rhs, sizes, dn))
    for b in range(2):
        np.testing.assert_allclose(out[b], np.asarray(lax.ragged_dot(lhs[b], rhs[b], sizes[b])), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("lhs_shape,rhs_shape,gs_shape,dn,msg", [
    ((11, 5), (3, 5, 7), (3,), (([1], [1]), ([], []), [0, 1], [0]), "expects exactly one lhs ragged dimension"),
    ((11, 5), (3, 5, 7), (2, 3), (([1], [1]), ([], []), [0], [0]), r"expected group_sizes to have shape \(3,\)"),
    ((11, 5), (3, 5, 7), (2,), (([1], [1]), ([], []), [0], [0]), "expected rhs group dimension size to be 2, got 3"),
    ((11, 5), (5, 7), (3,), (([1], [0]), ([], []), [0], []), "requires exactly one rhs group dimension"),
])
def test_ragged_dot_general_shape_errors_are_jax_type_errors(lhs_shape, rhs_shape, gs_shape, dn, msg):
    contract, batch, ragged, group = dn
    dims = lax.RaggedDotDimensionNumbers((contract, batch), ragged, group)
    with pytest.raises(TypeError, match=msg):
        lax.ragged_dot_general(np.ones(lhs_shape, np.float32), np.ones(rhs_shape, np.float32),
                               np.ones(gs_shape, np.int32), dims)


@pytest.mark.parametrize("dtype,other", [(np.float32, np.float16), (np.int8, np.int32), (np.complex64, np.complex64)])
def test_unsafe_buffer_pointer_is_shared_by_a_same_dtype_conversion_only(dtype, other):
    # JAX's testConvertElementTypeAvoidsCopies: converting to the same dtype keeps the buffer
    x = portax.device_put(np.zeros(5, dtype))
    if not hasattr(x.device.backend, "buffer_pointer"):  # wgpu: no addresses of device buffers
        with pytest.raises(NotImplementedError, match="does not expose buffer addresses"):
            x.unsafe_buffer_pointer()
        return
    assert isinstance(x.unsafe_buffer_pointer(), int)
    assert lax.convert_element_type(x, dtype).unsafe_buffer_pointer() == x.unsafe_buffer_pointer()
    if other != dtype:
        assert lax.convert_element_type(x, other).unsafe_buffer_pointer() != x.unsafe_buffer_pointer()


@pytest.mark.parametrize("op,value", [(lax.bessel_i0e, 1.0), (lax.bessel_i1e, 1.0), (lax.real, 1 + 0j),
                                      (lax.imag, 1 + 0j), (lax.is_finite, 1.0), (lax.conj, 1.0)])
def test_unary_ops_keep_a_python_scalars_weak_type(op, value):
    # JAX's testUnaryWeakTypes: a weakly typed operand gives a weakly typed result (also of a fixed dtype)
    assert op(value).aval.weak_type
    assert not op(np.float32(1.0) if not isinstance(value, complex) else np.complex64(value)).aval.weak_type


def test_lax_empty_has_the_requested_shape_and_dtype():
    out = lax.empty((2, 2), dtype=jnp.float32)
    assert out.shape == (2, 2) and out.dtype == jnp.float32
    assert lax.empty(3, jnp.int32).shape == (3,)
    assert portax.jit(lambda: lax.empty((4,), jnp.float32))().shape == (4,)


def test_jnp_tile_takes_numpy_integer_reps():
    import portax.numpy as jnp
    x = np.arange(3.0)
    for reps in (np.int64(2), np.array([2, 1]), 2, (1, 2)):
        np.testing.assert_array_equal(np.asarray(jnp.tile(x, reps)), np.tile(x, reps))
    with pytest.raises(TypeError):
        jnp.tile(x, 2.5)
