"""jnp functions as JAX 0.10.2 has them where JAX's lax_numpy_test found portax different: traced indices for
insert/place/repeat, take and take_along_axis modes, ravel_multi_index's dtype, trim_zeros over axes, polyfit's
covariance, expand_dims' axis checks, and array operators deferring to other types (NotImplemented)."""
import warnings

import numpy as np
import pytest

import portax
import portax.numpy as jnp
from portax.errors import ConcretizationTypeError

RNG = np.random.RandomState(0)


# --- insert / place / repeat with traced arguments -----------------------------------------------------------

@pytest.mark.parametrize("axis", [None, 0, 1, -1])
@pytest.mark.parametrize("index", [-7, -2, 0, 2, 3, 9])
def test_insert_traced_scalar_index_matches_numpy_clipped(axis, index):
    x = RNG.normal(size=(3, 4)).astype(np.float32)
    n = x.size if axis is None else x.shape[axis]
    expected = np.insert(x, int(np.clip(index + n if index < 0 else index, 0, n)), 5.0, axis=axis)
    out = portax.jit(lambda a, i: jnp.insert(a, i, 5.0, axis=axis))(x, np.int32(index))
    np.testing.assert_array_equal(out, expected)


def test_insert_index_arrays_and_slices_match_numpy():
    x = np.array([[0, 1, 2, 3], [4, 5, 6, 7]])
    for obj, values, axis in [((1, 3), 999, 1), ([2, 2], [5, 6], None), (slice(2, 4), [5, 6], None),
                              ([1], [[1], [2]], 1), (1, [1, 2], 1)]:
        np.testing.assert_array_equal(jnp.insert(x, obj, values, axis=axis), np.insert(x, obj, values, axis=axis))
    with pytest.raises(ValueError, match="index array must be integer typed"):
        jnp.insert(x, jnp.array([1.0]), 0)


def test_place_with_a_traced_mask_cycles_and_truncates_values():
    a = np.arange(12, dtype=np.float32).reshape(3, 4)
    mask = (a % 3 == 0)
    vals = np.array([-1.0, -2.0], np.float32)
    expected = a.copy()
    np.place(expected, mask, vals)
    out = portax.jit(lambda a, m, v: jnp.place(a, m, v, inplace=False))(a, mask, vals)
    np.testing.assert_array_equal(out, expected)
    with pytest.raises(ValueError, match="cannot modify arrays in-place"):
        jnp.place(a, mask, vals)
    with pytest.raises(ValueError, match="arr and mask must be the same size"):
        jnp.place(a, mask[:2], vals, inplace=False)
    with pytest.raises(ValueError, match="Cannot place values from an empty array"):
        jnp.place(a, mask, vals[:0], inplace=False)


@pytest.mark.parametrize("repeats,total", [([1, 2, 3], 6), ([1, 2, 3], 4), ([1, 0, 0], 5), (2, 6), ([0, 0, 0], 0)])
def test_repeat_with_traced_repeats_and_total_repeat_length(repeats, total):
    x = np.array([10.0, 20.0, 30.0], np.float32)
    full = np.repeat(x, repeats)
    # as JAX: cut to ``total``, or padded with the entry after the last repeated one (the last entry at most)
    starts = np.cumsum(np.broadcast_to(repeats, (3,))) - np.broadcast_to(repeats, (3,))
    marks = np.zeros(total, np.int32)
    np.add.at(marks, starts[starts < total], 1)
    expected = x[np.cumsum(marks) - 1] if total else full[:0]
    out = portax.jit(lambda a, r: jnp.repeat(a, r, total_repeat_length=total))(x, np.asarray(repeats))
    np.testing.assert_array_equal(out, expected)
    if total == full.size:
        np.testing.assert_array_equal(out, full)


def test_repeat_needs_total_repeat_length_for_traced_repeats():
    with pytest.raises(ConcretizationTypeError, match="specify a static value for `repeats`"):
        portax.jit(lambda a, r: jnp.repeat(a, r))(np.ones(3), np.array([1, 2, 3]))


def test_choose_raise_mode_under_jit_names_the_fix():
    with pytest.raises(ConcretizationTypeError, match="jnp.choose was jit-compiled with mode='raise'"):
        portax.jit(lambda a: jnp.choose(a, [np.ones(3), np.zeros(3)]))(np.array([0, 1, 0]))
    with pytest.raises(ValueError, match="must be integer typed"):
        jnp.choose(np.array([0.0]), [np.ones(1)])


# --- take / take_along_axis ------------------------------------------------------------------------------------

@pytest.mark.parametrize("mode", [None, "fill", "wrap", "clip"])
def test_take_modes_match_numpy(mode):
    x = np.arange(12.0, dtype=np.float32).reshape(3, 4)
    idx = np.array([-5, -3, -1, 0, 2, 3, 4, 7], np.int32)
    out = portax.jit(lambda a, i: jnp.take(a, i, axis=1, mode=mode))(x, idx)
    if mode in (None, "fill"):
        valid = (idx >= -4) & (idx < 4)
        expected = np.where(valid, np.take(x, np.where(valid, idx, 0), axis=1), np.nan)
    else:
        expected = np.take(x, idx, axis=1, mode=mode)  # numpy's 'clip' clamps negative indices to 0 too
    np.testing.assert_array_equal(out, expected)
    with pytest.raises(ValueError, match="Invalid mode 'bogus' for np.take"):
        jnp.take(x, idx, mode="bogus")


def test_take_along_axis_one_hot_and_negative_index_wrapping():
    x = RNG.normal(size=(3, 5)).astype(np.float32)
    idx = RNG.randint(-5, 5, size=(3, 7)).astype(np.int8)
    expected = np.take_along_axis(x, idx, axis=1)
    np.testing.assert_allclose(jnp.take_along_axis(x, idx, axis=1, mode="one_hot"), expected, rtol=1e-6)
    np.testing.assert_array_equal(jnp.take_along_axis(x, idx, axis=1), expected)
    v, i = np.array([10, 20, 30]), np.array([-1, -2])
    np.testing.assert_array_equal(jnp.take_along_axis(v, i, axis=0, mode="clip"), [30, 20])
    np.testing.assert_array_equal(jnp.take_along_axis(v, i, axis=0, mode="clip", wrap_negative_indices=False),
                                  [10, 10])
    with pytest.raises(TypeError, match="take_along_axis indices must be of integer type, got float32"):
        jnp.take_along_axis(v, np.array([1.0], np.float32), axis=0)
    with pytest.raises(ValueError, match="indices must be 1D if axis=None"):
        jnp.take_along_axis(x, idx, axis=None)


# --- ravel_multi_index / trim_zeros / polyfit / expand_dims ----------------------------------------------------

@pytest.mark.parametrize("in_dtype", [np.int8, np.uint16])
@pytest.mark.parametrize("out_dtype", [None, np.int32])
def test_ravel_multi_index_dtype_and_ignore_mode(in_dtype, out_dtype):
    idx = np.array([0, 1], in_dtype)
    fn = portax.jit(lambda i, j: jnp.ravel_multi_index((i, j), (2, 3), mode="ignore", dtype=out_dtype))
    out = fn(idx, idx)
    assert out.dtype == (out_dtype or in_dtype)
    np.testing.assert_array_equal(out, np.ravel_multi_index((idx, idx), (2, 3)))
    with pytest.raises(ValueError, match="not large enough to hold flattened index"):
        jnp.ravel_multi_index((idx, idx), (200, 300), dtype=np.int8)


@pytest.mark.parametrize("axis", [None, 0, -1, (0, 1)])
@pytest.mark.parametrize("trim", ["f", "b", "fb"])
def test_trim_zeros_along_axes(axis, trim):
    x = np.zeros((4, 5), np.float32)
    x[1:3, 1:4] = 1.0
    x[2, 2] = 0.0
    expected = np.trim_zeros(x, trim, axis=axis if axis != (0, 1) else None)
    np.testing.assert_array_equal(jnp.trim_zeros(x, trim, axis=axis), expected)


@pytest.mark.parametrize("cov", [True, "unscaled"])
@pytest.mark.parametrize("rhs", [1, 3])
def test_polyfit_covariance_matches_numpy(cov, rhs, x64):
    x = np.linspace(0.0, 1.0, 10)
    y = RNG.normal(size=(10, rhs)) if rhs > 1 else RNG.normal(size=10)
    p, c = jnp.polyfit(x, y, 2, cov=cov)
    p_np, c_np = np.polyfit(x, y, 2, cov=cov)
    np.testing.assert_allclose(p, p_np, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(c, c_np, rtol=1e-8, atol=1e-12)


def test_expand_dims_axis_checks_as_jax():
    x = jnp.ones((2, 3))
    assert jnp.expand_dims(x, np.array(0)).shape == (1, 2, 3)
    assert jnp.expand_dims(x, [np.array(-1)]).shape == (2, 3, 1)
    for axes in ([1, 1], [3, -1]):
        with pytest.raises(ValueError, match="repeated axis"):
            jnp.expand_dims(x, axes)


# --- operators with other types --------------------------------------------------------------------------------

class _Reflected:
    def __radd__(self, other):
        return "radd"

    def __rmatmul__(self, other):
        return "rmatmul"

    def __gt__(self, other):
        return "gt"


class _WithJaxArray:
    def __jax_array__(self):
        return jnp.arange(3.0)


def test_operators_defer_to_other_types_as_jax():
    x = jnp.ones(3)
    assert x + _Reflected() == "radd" and x @ _Reflected() == "rmatmul" and (x < _Reflected()) == "gt"
    assert (x == None) is False and (x != None) is True  # noqa: E711
    np.testing.assert_array_equal(x + _WithJaxArray(), [1.0, 2.0, 3.0])
    np.testing.assert_array_equal(_WithJaxArray() - x, [-1.0, 0.0, 1.0])
    for other, op in [([1, 2, 3], "+"), ((1,), "*"), (object(), "-")]:
        with pytest.raises(TypeError, match=f"unsupported operand type\\(s\\) for \\{op}"):
            {"+": lambda: x + other, "*": lambda: other * x, "-": lambda: x - other}[op]()
    with pytest.raises(TypeError, match="unsupported operand type\\(s\\) for =="):
        x == [1, 2, 3]  # noqa: B015


# --- smaller behaviours and errors as JAX 0.10.2 ---------------------------------------------------------------

@pytest.mark.parametrize("yshape,dxshape,axis", [((3, 10), (3, 1), -1), ((3, 4, 5), (4, 5), 0),
                                                 ((3, 4, 5), (3, 3, 5), 1), ((2, 3), (3,), 0)])
def test_trapezoid_with_array_dx_matches_numpy(yshape, dxshape, axis):
    y, dx = RNG.normal(size=yshape).astype(np.float32), RNG.normal(size=dxshape).astype(np.float32)
    np.testing.assert_allclose(jnp.trapezoid(y, dx=dx, axis=axis), np.trapezoid(y, dx=dx, axis=axis), rtol=1e-5,
                               atol=1e-5)


def test_trapezoid_of_integers_with_integer_sample_points_under_strict_promotion():
    y, x = np.array([1, 4, 9, 16], np.int8), np.array([0, 1, 3, 6], np.int8)
    with portax.numpy_dtype_promotion("strict"):
        np.testing.assert_allclose(jnp.trapezoid(y, x), np.trapezoid(y, x))


def test_isdtype_knows_the_ml_dtypes_and_rejects_unknown_kinds():
    assert jnp.isdtype(jnp.bfloat16, "real floating") and jnp.isdtype(jnp.float8_e4m3fn, "numeric")
    assert jnp.isdtype(jnp.int4, "signed integer") and not jnp.isdtype(jnp.bfloat16, "integral")
    assert jnp.isdtype(np.float32, ("bool", np.float32)) and not jnp.isdtype(np.bool_, "numeric")
    with pytest.raises(ValueError, match="Unrecognized kind='floating'"):
        jnp.isdtype(np.float32, "floating")


@pytest.mark.parametrize("fn", [jnp.zeros, jnp.ones, jnp.empty])
def test_shape_errors_name_the_fix(fn):
    with pytest.raises(TypeError, match=r"Did you accidentally write `jax\.numpy\.\w+\(2, 3\)` when you meant"):
        fn(2, 3)
    with pytest.raises(TypeError, match=r"Shapes must be 1D sequences of concrete values of integer type.*\n"
                                        r"If using `jit`, try using `static_argnums`"):
        portax.jit(fn)(2)


def test_rot90_of_a_vector_and_removed_names():
    with pytest.raises(ValueError, match="rot90 requires its first argument to have ndim at least two"):
        jnp.rot90(jnp.ones(2))
    assert not hasattr(jnp, "row_stack")
    with pytest.raises(AttributeError, match="jax.numpy.fix was deprecated"):
        jnp.fix  # noqa: B018


def test_square_of_booleans_is_int32_and_isposinf_rejects_complex():
    out = jnp.square(np.array([True, False]))
    assert out.dtype == np.int32
    np.testing.assert_array_equal(out, [1, 0])
    with pytest.raises(ValueError, match="not well defined for complex types"):
        jnp.isposinf(np.array([1j]))


def test_cov_of_a_single_row_with_rowvar_false_and_dtype():
    x = RNG.normal(size=(1, 3)).astype(np.float32)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # numpy: degrees of freedom <= 0
        expected = np.cov(x, rowvar=False)
    assert jnp.cov(x, rowvar=False).shape == expected.shape == (3, 3)
    assert jnp.cov(RNG.normal(size=(2, 5)), dtype=np.float32).dtype == np.float32
    with pytest.raises(ValueError, match="dtype must be a subclass of float or complex"):
        jnp.corrcoef(x, dtype=np.int32)


def test_signatures_as_jax():
    import inspect
    params = lambda f: list(inspect.signature(f).parameters)  # noqa: E731
    assert params(jnp.max) == ["a", "axis", "out", "keepdims", "initial", "where"]
    assert params(jnp.nansum) == ["a", "axis", "dtype", "out", "keepdims", "initial", "where"]
    assert params(jnp.var)[-3:] == ["where", "mean", "correction"]
    assert params(jnp.hsplit) == ["ary", "indices_or_sections"] and params(jnp.real) == ["val"]
    assert params(jnp.stack) == ["arrays", "axis", "out", "dtype"] and params(jnp.concat) == ["arrays", "axis"]
    assert params(jnp.broadcast_to)[0] == "array" and params(jnp.empty_like)[0] == "prototype"
    with pytest.raises(TypeError, match="interpolation"):
        jnp.quantile(np.ones(3), 0.5, interpolation="linear")
    np.testing.assert_array_equal(jnp.nanmax(np.array([1.0, np.nan, 3.0]), where=np.array([True, True, False]),
                                         initial=-1.0), 1.0)
    with pytest.warns(DeprecationWarning, match="positionally is deprecated"):
        assert jnp.array([1, 2], None, True, "K", 2).shape == (1, 2)
    with pytest.raises(NotImplementedError, match="order='K'"):
        jnp.array([1], order="F")


# --- products: preferred_element_type, vecmat's conjugate, tensordot's axes ------------------------------------

@pytest.mark.parametrize("fn", [
    lambda a, **kw: jnp.dot(a, a.T, **kw), lambda a, **kw: jnp.matmul(a, a.T, **kw),
    lambda a, **kw: jnp.einsum("ij,kj->ik", a, a, **kw), lambda a, **kw: jnp.tensordot(a, a, ((1,), (1,)), **kw),
    lambda a, **kw: jnp.inner(a, a, **kw), lambda a, **kw: jnp.vdot(a, a, **kw),
    lambda a, **kw: jnp.einsum("ij->", a, **kw)], ids=range(7))
def test_products_accumulate_in_preferred_element_type(fn):
    a = np.full((1, 100), 100, np.int8)
    out = fn(a, preferred_element_type=np.int32)
    assert out.dtype == np.int32
    np.testing.assert_array_equal(out, fn(a.astype(np.int32)))  # no int8 overflow
    b = np.ones((2, 3), jnp.bfloat16)
    assert fn(b, preferred_element_type=np.float32).dtype == np.float32


def test_einsum_sums_in_the_operand_dtype():
    assert jnp.einsum("i->", np.ones(3, np.int8)).dtype == np.int8
    np.testing.assert_array_equal(jnp.einsum("ij->i", np.ones((2, 3), bool)), [True, True])


def test_vecmat_conjugates_the_vector():
    x1 = (RNG.normal(size=(2, 3)) + 1j * RNG.normal(size=(2, 3))).astype(np.complex64)
    x2 = (RNG.normal(size=(3, 4)) + 1j * RNG.normal(size=(3, 4))).astype(np.complex64)
    np.testing.assert_allclose(jnp.vecmat(x1, x2), np.vecmat(x1, x2), rtol=1e-5, atol=1e-5)


def test_tensordot_axes_errors_as_jax():
    a, b = np.ones((3, 2, 2)), np.ones((2,))
    for axes, msg in [(2, "Number of tensordot axes.*exceeds input ranks"), (([0], [0, 1]), "equal length"),
                      (("bad", "axes"), "either ints, tuples or lists"), ("badaxes", "must be an int, a pair")]:
        with pytest.raises(TypeError, match=msg):
            jnp.tensordot(a, b, axes=axes)


@pytest.mark.parametrize("sa,sb", [((1, 2, 3), (5, 3, 4)), ((1, 1, 2, 3), (7, 1, 3, 4)), ((6, 1, 2, 3), (1, 5, 3, 4)),
                                   ((3,), (2, 3, 4)), ((2, 2, 3), (3,)), ((1, 2, 3), (1, 3, 4))])
def test_matmul_squeezes_size_one_batch_dimensions(sa, sb):
    a, b = RNG.normal(size=sa).astype(np.float32), RNG.normal(size=sb).astype(np.float32)
    np.testing.assert_allclose(jnp.matmul(a, b), np.matmul(a, b), rtol=1e-5, atol=1e-5)
    jaxpr = portax.make_jaxpr(jnp.matmul)(a, b)
    assert "broadcast_in_dim" not in str(jaxpr).split("dot_general")[0]  # no operand broadcast to the batch shape
    with pytest.raises(ValueError, match="Incompatible types for matmul arguments"):
        jnp.matmul(np.ones((2, 2, 3)), np.ones((3, 3, 4)))


# --- creation, shapes and interpolation ------------------------------------------------------------------------

def test_linspace_logspace_geomspace_keep_complex_bounds():
    np.testing.assert_allclose(jnp.linspace(0, 1 + 1j, 3), np.linspace(0, 1 + 1j, 3), rtol=1e-6)
    np.testing.assert_allclose(jnp.logspace(0, 1j, 3), np.logspace(0, 1j, 3), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(jnp.geomspace(1j, 1000j, 4), np.geomspace(1j, 1000j, 4), rtol=1e-5)
    np.testing.assert_allclose(jnp.geomspace(-1, -1000, 4), np.geomspace(-1, -1000, 4), rtol=1e-5)
    with portax.numpy_dtype_promotion("strict"):
        out = jnp.geomspace(np.ones((2, 2), np.complex64), np.complex64(8), 4, axis=1)
    assert out.shape == (2, 4, 2) and out.dtype == np.complex64


@pytest.mark.parametrize("num,endpoint", [(0, True), (0, False), (1, True), (1, False), (3, True)])
def test_linspace_step_shape_as_numpy(num, endpoint):
    stop = np.ones((2, 2))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        expected = np.linspace(0.0, stop, num, endpoint=endpoint, retstep=True)[1]
    assert jnp.linspace(0.0, stop, num, endpoint=endpoint, retstep=True)[1].shape == np.shape(expected)


def test_tri_with_a_traced_offset_and_unravel_index_with_a_traced_shape():
    np.testing.assert_array_equal(portax.jit(lambda k: jnp.tri(3, 4, k))(1), np.tri(3, 4, 1))
    assert jnp.tri(2).dtype == np.float32
    with pytest.raises(OverflowError):
        jnp.tri(3, k=2**33)
    with pytest.raises(TypeError, match="Shapes must be 1D sequences of concrete values of integer type"):
        portax.jit(jnp.tri)(3, M=3, k=0)
    idx = np.array([-20, -7, -1, 0, 5, 11, 12, 30], np.int32)
    out = portax.jit(jnp.unravel_index)(idx, (3, 4))
    expected = np.unravel_index(np.where(np.clip(idx, -12, 11) < 0, np.clip(idx, -12, 11) + 12, np.clip(idx, -12, 11)),
                                (3, 4))
    for o, e in zip(out, expected):
        np.testing.assert_array_equal(o, e)
    assert jnp.unravel_index(np.int8(5), (3, 4))[0].dtype == np.int8


def test_sort_complex_size_and_ndim_as_jax():
    out = jnp.sort_complex(np.array([3, 1, 2], np.int8))
    assert out.dtype == np.complex64
    np.testing.assert_array_equal(out, [1, 2, 3])
    x = jnp.zeros((2, 3, 4))
    assert jnp.size(x, (0, 2)) == 8 and jnp.size(x, ()) == 1 and jnp.size(x, -1) == 4
    with pytest.raises(ValueError, match="repeated axis"):
        jnp.size(x, (1, -2))
    with pytest.warns(DeprecationWarning, match="ndim requires ndarray or scalar arguments"):
        assert jnp.ndim([1, 2, 3]) == 1


def test_interp_complex_values_extrapolation_and_errors():
    xp, x = np.array([0.0, 1.0, 3.0]), np.array([-1.0, 0.5, 2.0, 4.0])
    fp = np.array([1 + 1j, 2 - 1j, 0 + 3j], np.complex64)
    np.testing.assert_allclose(jnp.interp(x, xp, fp), np.interp(x, xp, fp), rtol=1e-6)
    f = np.array([0.0, 2.0, 6.0])
    np.testing.assert_allclose(jnp.interp(x, xp, f, left="extrapolate", right="extrapolate"), [-2.0, 1.0, 4.0, 8.0])
    with pytest.raises(ValueError, match="the only valid string value of `left` is 'extrapolate'"):
        jnp.interp(x, xp, f, left="nearest")
    with pytest.raises(ValueError, match="complex x values not supported"):
        jnp.interp(x.astype(np.complex64), xp, f)


def test_histogram2d_with_one_edge_array_per_dimension():
    a, b = np.arange(5.0), np.arange(5.0)[::-1]
    bins = [np.array([0, 1, 3, 5]), np.array([0, 2, 3, 4, 6])]
    for rng in [None, [(-1, 1), None]]:
        np.testing.assert_array_equal(jnp.histogram2d(a, b, bins=bins, range=rng)[0],
                                      np.histogram2d(a, b, bins=bins, range=rng)[0])


def test_view_changes_the_last_axis_for_other_item_sizes():
    x = np.arange(6, dtype=np.int16).reshape(2, 3)
    np.testing.assert_array_equal(jnp.asarray(x).view(jnp.int8), x.view(np.int8))
    y = np.arange(8, dtype=np.int8).reshape(2, 4)
    np.testing.assert_array_equal(jnp.asarray(y).view(jnp.int32), y.view(np.int32))
    c = np.array([1 + 2j, 3 - 4j], np.complex64)
    np.testing.assert_array_equal(jnp.asarray(c).view(jnp.float32), c.view(np.float32))
    np.testing.assert_array_equal(jnp.asarray(c.view(np.float32)).view(jnp.complex64), c)
    np.testing.assert_array_equal(jnp.array([1, 0, 1], jnp.int8).view(bool), [True, False, True])
    with pytest.raises(ValueError, match="view\\(\\) of a 0d array is only supported if the itemsize is unchanged"):
        jnp.float32(1).view(jnp.int8)


def test_trace_axes_and_python_int_overflow_errors_as_jax():
    with pytest.raises(ValueError, match="axis1 and axis2 can not be same"):
        jnp.trace(jnp.ones((2, 3, 2)), axis1=1, axis2=-2)
    with pytest.raises(OverflowError, match="Python int 2147483648 too large to convert to int32"):
        jnp.array(2**31)
    assert jnp.array(-2**31).dtype == np.int32


def test_isclose_of_integers_and_complex_numbers_uses_the_tolerances():
    assert bool(jnp.isclose(6, 10, rtol=0.5)) and bool(np.isclose(6, 10, rtol=0.5))
    a, b = np.array([1 + 1j, 1 + 1j], np.complex64), np.array([1 + 1.000001j, 1 + 2j], np.complex64)
    np.testing.assert_array_equal(jnp.isclose(a, b), np.isclose(a, b))
    x, y = np.array([1.0, np.inf, -np.inf, np.nan]), np.array([1.00000001, np.inf, np.inf, np.nan])
    np.testing.assert_array_equal(jnp.isclose(x, y, equal_nan=True), np.isclose(x, y, equal_nan=True))
    key = portax.random.key(0)
    assert bool(jnp.isclose(key, key))


def test_unwrap_keeps_integers_with_an_integer_period():
    x = np.array([0, 3, 7, 1, 9], np.int16)
    with portax.numpy_dtype_promotion("standard"):
        out = jnp.unwrap(x, period=4)
    assert out.dtype == np.int16
    np.testing.assert_array_equal(out, np.unwrap(x, period=4))
    with pytest.raises(ValueError, match="does not support complex inputs"):
        jnp.unwrap(np.array([1j, 2j]))


def test_vander_of_complex_values_under_strict_promotion():
    x = np.array([1 + 1j, 2 - 1j, 0.5j], np.complex64)
    with portax.numpy_dtype_promotion("strict"):
        out = jnp.vander(x, 4)
    np.testing.assert_allclose(out, np.vander(x, 4), rtol=1e-5)
    with pytest.raises(ValueError, match="N must be nonnegative"):
        jnp.vander(x, -1)
