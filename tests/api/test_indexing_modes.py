"""Indexing as JAX 0.10.2 has it: ``jax.ds`` slices, ``wrap_negative_indices``, ``jax_check_static_indices``,
fill/clip modes with traced scalar indices, ``.at[].apply`` with duplicates, ``lax.scatter_apply/stack/unstack``."""
import numpy as np
import pytest

import portax
import portax.numpy as jnp
from portax import lax

X = np.arange(5.0, dtype=np.float32)


def test_ds_is_a_dynamic_slice():
    x = jnp.arange(10)
    np.testing.assert_array_equal(x[portax.ds(1, 3)], [1, 2, 3])
    np.testing.assert_array_equal(x[portax.ds(4)], [0, 1, 2, 3])
    assert portax.ds(None) == slice(None)
    # a traced start; clamped so the window fits, as lax.dynamic_slice
    np.testing.assert_array_equal(portax.jit(lambda x, i: x[portax.ds(i, 3)])(x, 8), [7, 8, 9])
    np.testing.assert_array_equal(x.at[portax.ds(2, 2)].set(0), [0, 1, 0, 0, 4, 5, 6, 7, 8, 9])
    with pytest.raises(NotImplementedError, match="stride"):
        x[portax.ds(0, 3, 2)]


@pytest.mark.parametrize("mode", ["fill", "clip"])
@pytest.mark.parametrize("wrap", [True, False])
def test_get_wrap_negative_indices(mode, wrap):
    idx = np.array([-7, -1, 0, 3, 6], np.int32)
    out = jnp.asarray(X).at[idx].get(mode=mode, fill_value=99, wrap_negative_indices=wrap)
    i = np.where(idx < 0, idx + 5, idx) if wrap else idx
    oob = (i < 0) | (i >= 5)
    ref = np.where(oob, 99, X[np.clip(i, 0, 4)]) if mode == "fill" else X[np.clip(i, 0, 4)]
    np.testing.assert_array_equal(out, ref)


@pytest.mark.parametrize("mode", ["fill", "clip"])
@pytest.mark.parametrize("wrap", [True, False])
@pytest.mark.parametrize("op", ["set", "add", "power"])
def test_update_wrap_negative_indices_and_mode(mode, wrap, op):
    idx = np.array([-4, 2, 6], np.int32)  # no duplicates once wrapped and clipped
    vals = np.array([2.0, 3.0, 4.0], np.float32)
    out = getattr(jnp.asarray(X).at[idx], op)(vals, mode=mode, wrap_negative_indices=wrap)
    i = np.where(idx < 0, idx + 5, idx) if wrap else idx
    if mode == "fill":
        keep = (i >= 0) & (i < 5)
        i, vals = i[keep], vals[keep]
    else:
        i = np.clip(i, 0, 4)
    ref = X.copy()
    {"set": np.put, "add": np.add.at, "power": np.power.at}[op](ref, i, vals)
    np.testing.assert_allclose(out, ref)


def test_traced_scalar_index_honours_fill_and_drop():
    x = jnp.asarray(X)
    np.testing.assert_array_equal(portax.jit(lambda x, i: x.at[i].set(0.0))(x, 10), X)  # dropped, not clamped
    np.testing.assert_array_equal(portax.jit(lambda x, i: x.at[i].set(0.0, mode="clip"))(x, 10), [0, 1, 2, 3, 0])
    assert float(portax.jit(lambda x, i: x.at[i].get(mode="fill", fill_value=9.0))(x, 10)) == 9.0
    assert float(portax.jit(lambda x, i: x[i])(x, 10)) == 4.0


@pytest.mark.parametrize("idx,msg", [(-4, "index -4 out of bounds for axis 0 with size 2"),
                                     (np.index_exp[:, [1, 0], 6], "index 6 out of bounds for axis 2 with size 5"),
                                     (np.index_exp[np.arange(2), 6, None], "index 6 out of bounds for axis 1 with size 3")])
def test_check_static_indices(idx, msg):
    arr = jnp.zeros((2, 3, 5))
    arr[idx]  # clamped by default
    portax.config.update("jax_check_static_indices", True)
    try:
        with pytest.raises(IndexError, match=msg):
            arr[idx]
        with pytest.raises(IndexError, match=msg):
            portax.jit(lambda x: x[idx])(arr)
        assert arr.at[idx].get(mode="clip").ndim >= 1  # an explicit mode is not checked
    finally:
        portax.config.update("jax_check_static_indices", False)


def test_apply_runs_once_per_duplicate_index():
    idx = np.array([1, 3, 1, 1, -1], np.int32)
    ref = X.copy()
    np.negative.at(ref, idx)
    np.testing.assert_array_equal(jnp.asarray(X).at[idx].apply(jnp.negative), ref)
    ref = X.copy()
    np.sin.at(ref, [1, 1])
    np.testing.assert_allclose(portax.jit(lambda x, i: x.at[i].apply(jnp.sin))(X, np.array([1, 1])), ref, rtol=1e-6)


def test_scatter_apply_is_not_differentiable_as_jax():
    # JAX's lax_autodiff_test test_scatter_apply_jvp/vjp: "scatter_apply JVP not implemented" in either mode
    f = lambda x: x.at[1].apply(jnp.sin)
    x = jnp.array([1.0, 2.0])
    with pytest.raises(NotImplementedError, match="scatter_apply JVP not implemented"):
        portax.jvp(f, (x,), (x,))
    with pytest.raises(NotImplementedError, match="scatter_apply JVP not implemented"):
        portax.jacrev(f)(x)


def test_scatter_apply_stack_unstack():
    dn = lax.ScatterDimensionNumbers(update_window_dims=(1,), inserted_window_dims=(), scatter_dims_to_operand_dims=(0,))
    x = np.linspace(0.1, 1.0, 10).astype(np.float32)
    out = lax.scatter_apply(x, np.array([[0], [0], [5]]), jnp.sin, dn, update_shape=(3, 2))
    ref = x.copy()
    np.sin.at(ref, [0, 1, 0, 1, 5, 6])
    np.testing.assert_allclose(out, ref, rtol=1e-6)
    batched = portax.vmap(lambda v: lax.scatter_apply(v, np.array([[2]]), jnp.sin, dn, update_shape=(1, 2)))
    np.testing.assert_allclose(batched(np.stack([x, 2 * x])), np.stack([np.where((np.arange(10) == 2) |
                               (np.arange(10) == 3), np.sin(v), v) for v in (x, 2 * x)]), rtol=1e-6)
    a, b = np.ones((2, 3), np.float32), np.zeros((2, 3), np.float32)
    np.testing.assert_array_equal(lax.stack([a, b], axis=1), np.stack([a, b], axis=1))
    parts = lax.unstack(np.arange(6).reshape(2, 3), axis=1)
    assert isinstance(parts, tuple) and len(parts) == 3
    np.testing.assert_array_equal(parts[2], [2, 5])


def test_vmap_of_gather_over_an_empty_batch():
    # the batched gather would need slices of size 1 from an operand dimension of size 0
    x, i = np.zeros((0, 10, 5), np.float32), np.zeros((0, 3), np.int32)
    assert portax.vmap(lambda x, i: x[i])(x, i).shape == (0, 3, 5)
    dn = lax.GatherDimensionNumbers(offset_dims=(1,), collapsed_slice_dims=(0,), start_index_map=(0,))
    out = portax.vmap(lambda x, i: lax.gather(x, i, dn, (1, 5)))(x, np.zeros((0, 2, 1), np.int32))
    assert out.shape == (0, 2, 5)


@pytest.mark.parametrize("idx,fix", [([0], "array"), ([0, 0], "array"), ([[0, 0]], "tuple"), ([0, None], "tuple"),
                                     ([0, slice(None)], "tuple"), ([0, np.arange(2)], "tuple")])
def test_a_list_index_is_a_type_error(idx, fix):
    x = jnp.arange(6).reshape(3, 2)
    msg = rf"Using a non-tuple sequence for multidimensional indexing is not allowed.*arr\[{fix}\(seq\)\]"
    with pytest.raises(TypeError, match=msg):
        x[idx]
    with pytest.raises(TypeError, match=msg):
        x.at[idx].set(0)
    normalized = np.array(idx) if fix == "array" else tuple(idx)
    np.testing.assert_array_equal(x[normalized], np.arange(6).reshape(3, 2)[normalized])


@pytest.mark.parametrize("idx", [np.index_exp[True], np.index_exp[..., False], np.index_exp[0, :2, True],
                                 np.index_exp[0, :2, False], np.index_exp[:2, 0, False],
                                 np.index_exp[:2, np.array([0, 2]), True], np.index_exp[np.array([1, 0]), :, True],
                                 np.index_exp[True, :, True, :, np.array(True)], np.index_exp[None, False, 1]])
def test_scalar_booleans_are_advanced_indices_as_in_numpy(idx):
    x = np.arange(120).reshape(2, 3, 4, 5)
    np.testing.assert_array_equal(jnp.asarray(x)[idx], x[idx])
    ref = x.copy()
    ref[idx] = -1
    np.testing.assert_array_equal(jnp.asarray(x).at[idx].set(-1), ref)


def test_index_arrays_around_an_ellipsis():
    # finding the Ellipsis must not compare the index arrays with it (an ambiguous truth value)
    x = np.arange(60).reshape(3, 4, 5)
    idx = (np.array([0, 2]), Ellipsis, np.array([-1, 2]))
    np.testing.assert_array_equal(jnp.asarray(x)[idx], x[idx])
    ref = x.copy()
    ref[idx] = -1
    np.testing.assert_array_equal(jnp.asarray(x).at[idx].set(-1), ref)


def test_python_int_update_takes_the_array_dtype_and_empty_axis_index_errors():
    a = jnp.zeros(1, dtype=jnp.uint32)
    assert int(a.at[0].set(2**32 - 1)[0]) == 2**32 - 1
    x = jnp.ones((2, 0))
    with pytest.raises(IndexError, match="index 0 is out of bounds for axis 1 with size 0"):
        x[0, 0]
    with pytest.raises(IndexError, match="index is out of bounds for axis 1 with size 0"):
        portax.jit(lambda i: x[0, i])(0)


def test_basic_indexing_is_one_slice():
    # JAX's testSimpleIndexingUsesSlice: the static windows of all dimensions in a single lax.slice
    jaxpr = portax.make_jaxpr(lambda x: x[:2, :2])(jnp.ones((3, 4)))
    (eqn,) = jaxpr.jaxpr.eqns
    assert eqn.primitive is lax.slice_p and eqn.params["strides"] is None
    x = np.arange(120).reshape(2, 3, 4, 5)
    for idx in [np.index_exp[1, ::-2, None, 1:3], np.index_exp[-1, :, ::-1, 2], np.index_exp[None, 0, ..., ::3],
                np.index_exp[1, 5:1:-1, np.array([[1], [0]]), :]]:
        np.testing.assert_array_equal(jnp.asarray(x)[idx], x[idx])


def test_update_with_an_unsafe_value_dtype_warns_or_raises_as_jax():
    x = jnp.arange(5, dtype=jnp.int16)
    assert x.at[0].set(3).dtype == jnp.int16  # a weakly typed Python scalar is safe
    with pytest.warns(FutureWarning, match="scatter inputs have incompatible types"):
        assert x.at[0].set(jnp.int32(1)).dtype == jnp.int16
    with portax.numpy_dtype_promotion("strict"):
        with pytest.raises(ValueError, match="no available implicit dtype promotion path"):
            jnp.zeros(3).at[0].set(jnp.int32(1))


def test_rewriting_take_strategies_match_numpy_and_lower_as_named():
    from portax.core.numpy.indexing import IndexingStrategy as S, rewriting_take, ds
    x = np.arange(60, dtype=np.float32).reshape(3, 4, 5)
    for idx in [1, (-1, 2), (slice(None), 1), (0, slice(1, 3), None), (Ellipsis, slice(None, None, -1))]:
        for strategy in S:
            if strategy is S.SCATTER:
                continue
            np.testing.assert_array_equal(rewriting_take(x, idx, strategy=strategy), x[idx], err_msg=f"{idx} {strategy}")
    prims = lambda f: [e.primitive.name for e in portax.make_jaxpr(f)(x).eqns]
    assert "dynamic_slice" in prims(lambda v: rewriting_take(v, (1, 2), strategy=S.DYNAMIC_SLICE))
    assert prims(lambda v: rewriting_take(v, (1, 2), strategy=S.STATIC_SLICE)) == ["slice", "squeeze"]
    out = rewriting_take(np.arange(10), ds(1, 3), strategy=S.DYNAMIC_SLICE)
    assert out.tolist() == [1, 2, 3]
    # out-of-bounds with mode='clip' clamps; normalize_indices=False leaves negative indices to be clamped to 0
    assert rewriting_take(x, (10, 1), strategy=S.DYNAMIC_SLICE, mode="clip").tolist() == x[2, 1].tolist()
    assert rewriting_take(x, (-2,), strategy=S.STATIC_SLICE, mode="clip", normalize_indices=False).tolist() == \
        x[0].tolist()
    with pytest.raises(IndexError, match="index -4 out of bounds for axis 0 with size 3"):
        rewriting_take(x, -4, strategy=S.STATIC_SLICE)
    with pytest.raises(TypeError, match="static_slice: indices must be static scalars or slices"):
        rewriting_take(x, (np.arange(2), 0), strategy=S.STATIC_SLICE)
    with pytest.raises(TypeError, match="dynamic_slice: only unit steps supported"):
        rewriting_take(x, slice(None, None, 2), strategy=S.DYNAMIC_SLICE)
    with pytest.raises(TypeError, match="Expected strategy to be IndexingStrategy"):
        rewriting_take(x, 0, strategy="gather")


def test_string_index_error_is_jaxs():
    with pytest.raises(TypeError, match="^JAX does not support string indexing; got idx='abc'$"):
        jnp.arange(3)["abc"]
