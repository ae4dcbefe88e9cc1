"""The long tail of jnp as JAX 0.10.2 has it: einsum's interleaved form, nested-tuple indices, len() of traced
arrays, every pad_width form and pad mode, linspace over array bounds, weighted quantiles, var/std(mean=),
the dtypes of integer and boolean sums and products, and JAX's errors for a non-boolean where or an array
initial."""
import numpy as np
import pytest

import portax
import portax.numpy as jnp

RNG = np.random.RandomState(0)


# --- einsum(op, sublist, op, sublist, ..., [sublist_out]) ---------------------------------------------------------

A, B, C = (RNG.normal(size=s).astype(np.float32) for s in [(2, 3), (3,), (4, 2, 3)])
INTERLEAVED = [
    (A, [0, 1], B, [1], [0]),
    (A, [0, 1], B, [1]),  # implicit output
    (A, [Ellipsis, 1], B, [1]),
    (A, [5, 2], A, [7, 2]),  # symbols are relabelled in sorted order
    (C, [Ellipsis, 0, 1], A, [0, 1], [Ellipsis]),
    (C, [2, 0, 1], A, [0, 1], B, [1], [2, 0]),
    (A, [1, 0]),  # a transpose by the implicit (sorted) output
]


@pytest.mark.parametrize("args", INTERLEAVED, ids=range(len(INTERLEAVED)))
def test_einsum_interleaved_matches_numpy(args):
    np.testing.assert_allclose(jnp.einsum(*args), np.einsum(*args), rtol=1e-5, atol=1e-5)


def test_einsum_interleaved_any_sortable_symbols():
    out = jnp.einsum(C, ["x", "y", "z"], ["z", "x"])
    np.testing.assert_allclose(out, np.einsum("xyz->zx", C), rtol=1e-5, atol=1e-5)
    with pytest.raises(TypeError, match="hashable and comparable"):
        jnp.einsum(A, [0, "a"], B, ["a"])


# --- indices given as tuples inside the index tuple ------------------------------------------------------------

X = np.arange(12).reshape(3, 4)
NESTED = [((0, 1), (1, 2)), ((0, 1),), (((0, 1), (1, 2)),), ([(0, 1), (1, 2)],), (0, (1, 2)), (Ellipsis, (0, 3)),
          ((True, False, True),), ((2, 0), slice(1, 3))]


@pytest.mark.parametrize("idx", NESTED, ids=range(len(NESTED)))
def test_tuple_entries_index_as_arrays(idx):
    np.testing.assert_array_equal(jnp.asarray(X)[idx], X[idx])
    expected = X.copy()
    expected[idx] = -1
    np.testing.assert_array_equal(jnp.asarray(X).at[idx].set(-1), expected)


# --- len() of a traced array -------------------------------------------------------------------------------------

def test_len_of_tracers():
    x = jnp.arange(3.0)
    np.testing.assert_array_equal(portax.jit(lambda z: z * len(z))(x), [0.0, 3.0, 6.0])
    np.testing.assert_array_equal(portax.vmap(lambda z: z * len(z))(jnp.ones((2, 5))), np.full((2, 5), 5.0))
    np.testing.assert_array_equal(portax.grad(lambda z: jnp.sum(z) * len(z))(jnp.ones(4)), np.full(4, 4.0))
    with pytest.raises(TypeError, match=r"len\(\) of unsized object"):
        portax.jit(lambda z: len(z))(1.0)


# --- jnp.pad -------------------------------------------------------------------------------------------------------

PAD_WIDTHS = [0, 2, (1,), (1, 2), ((1, 2),), "per-axis", "long"]
PAD_MODES = [("constant", {}), ("constant", {"constant_values": (3, 4)}), ("edge", {}), ("wrap", {}),
             ("reflect", {}), ("symmetric", {}), ("reflect", {"reflect_type": "odd"}),
             ("symmetric", {"reflect_type": "odd"}), ("linear_ramp", {}), ("linear_ramp", {"end_values": (5, -3)}),
             ("maximum", {}), ("minimum", {}), ("mean", {}), ("median", {}), ("mean", {"stat_length": 2}),
             ("maximum", {"stat_length": ((1, 3),)})]


@pytest.mark.parametrize("dtype", [np.float32, np.int32])
@pytest.mark.parametrize("shape", [(5,), (3, 4), (1, 3)])
@pytest.mark.parametrize("mode,kw", PAD_MODES, ids=[f"{m}-{'-'.join(k)}" for m, k in PAD_MODES])
def test_pad_matches_numpy(mode, kw, shape, dtype):
    x = (np.arange(np.prod(shape)).reshape(shape) * 1.5 - 2).astype(dtype)
    for pw in PAD_WIDTHS:
        pw = {"per-axis": [(1, 2), (0, 3)][:len(shape)], "long": [(6, 5)] * len(shape)}.get(pw, pw)
        out = jnp.pad(x, pw, mode, **kw)
        expected = np.pad(x, pw, mode, **kw)
        assert out.dtype == expected.dtype
        np.testing.assert_allclose(out, expected, rtol=1e-6, atol=1e-5, err_msg=f"pad_width={pw}")


def test_pad_empty_mode_is_zeros_and_scalars_are_unchanged():
    np.testing.assert_array_equal(jnp.pad(jnp.ones(2), 1, "empty"), [0.0, 1.0, 1.0, 0.0])
    np.testing.assert_array_equal(jnp.pad(jnp.float32(3.0), 2, "edge"), 3.0)


def test_pad_callable_mode():
    def pad_with(row, pad_width, iaxis, kwargs):
        row = row.at[:pad_width[0]].set(kwargs.get("v", 0))
        return row.at[len(row) - pad_width[1]:].set(kwargs.get("v", 0))
    np.testing.assert_array_equal(jnp.pad(jnp.arange(6).reshape(2, 3), 1, pad_with, v=9),
                                  np.pad(np.arange(6).reshape(2, 3), 1, lambda v, p, i, k: None) * 0 +
                                  np.pad(np.arange(6).reshape(2, 3), 1, constant_values=9))


def test_pad_under_jit():
    out = portax.jit(lambda x: jnp.pad(x, ((1, 2),), mode="reflect"))(jnp.arange(4.0))
    np.testing.assert_array_equal(out, np.pad(np.arange(4.0), ((1, 2),), mode="reflect"))


def test_pad_errors_as_jax():
    x = jnp.ones((2, 3))
    with pytest.raises(ValueError, match=r"jnp.pad: pad_width with nd=2 has unsupported shape \(3,\)"):
        jnp.pad(x, (1, 2, 3))
    with pytest.raises(TypeError, match="`pad_width` must be of integral type."):
        jnp.pad(x, 1.5)
    with pytest.raises(TypeError, match="`pad_width` entries must be the same shape"):
        jnp.pad(x, ((1, 2), 3))
    with pytest.raises(ValueError, match="index can't contain negative values"):
        jnp.pad(x, -1)
    with pytest.raises(ValueError, match="unsupported keyword arguments for mode 'edge'"):
        jnp.pad(x, 1, "edge", constant_values=2)
    with pytest.raises(NotImplementedError, match="Unimplemented padding mode 'spiral' for np.pad."):
        jnp.pad(x, 1, "spiral")
    with pytest.raises(ValueError, match="Cannot apply 'edge' padding to empty axis"):
        jnp.pad(jnp.ones((2, 0)), 1, "edge")
    with pytest.raises(ValueError, match="stat_length of 0 yields no value for padding"):
        jnp.pad(x, 1, "mean", stat_length=0)


# --- linspace / logspace over array bounds -------------------------------------------------------------------------

@pytest.mark.parametrize("axis", [0, 1, -1])
def test_linspace_array_bounds_along_axis(axis):
    start, stop = np.zeros((2, 3)), np.array([3.0, -6.0, 9.0])
    for kw in [{}, {"endpoint": False}, {"dtype": np.int32}]:
        out = jnp.linspace(start, stop, 4, axis=axis, **kw)
        expected = np.linspace(start, stop, 4, axis=axis, **kw)
        assert out.shape == expected.shape
        np.testing.assert_allclose(out, expected, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(jnp.logspace(np.zeros(2), np.array([1.0, 2.0]), 3, axis=-1),
                               np.logspace(np.zeros(2), np.array([1.0, 2.0]), 3, axis=-1), rtol=1e-5)


def test_linspace_integer_samples_round_down():
    np.testing.assert_array_equal(jnp.linspace(-3, 10, 4, dtype=jnp.int32), np.linspace(-3, 10, 4, dtype=np.int32))


# --- quantile / percentile with weights ----------------------------------------------------------------------------

@pytest.mark.parametrize("name", ["quantile", "nanquantile", "percentile", "nanpercentile"])
def test_weighted_quantiles_match_numpy(name):
    a = RNG.normal(size=(4, 7)).astype(np.float32)
    w = RNG.uniform(0.1, 3, size=(4, 7)).astype(np.float32)  # JAX, unlike numpy, can pick a zero-weight minimum
    if name.startswith("nan"):
        a[1, 3] = np.nan
    scale = 100 if "percentile" in name else 1
    for q in [0.0, 0.3, 0.5, 1.0, np.array([0.1, 0.5, 0.9], np.float32)]:
        for axis, weights, keepdims in [(None, w, False), (1, w, False), (0, w, True), (1, w[0], False),
                                        (0, w[:, 0], False), (1, None, False), ((0, 1), w, True)]:
            kw = {} if weights is None else {"weights": weights}
            full = {} if weights is None else {
                "weights": np.broadcast_to(weights if weights.ndim == 2 or axis == 1 else weights[:, None], a.shape)}
            out = getattr(jnp, name)(a, q * scale, axis=axis, method="inverted_cdf", keepdims=keepdims, **kw)
            expected = getattr(np, name)(a, q * scale, axis=axis, method="inverted_cdf", keepdims=keepdims, **full)
            np.testing.assert_allclose(out, expected, err_msg=f"q={q} axis={axis}")


def test_weighted_quantile_bad_weights_and_errors():
    x = jnp.array([1.0, 2.0, 3.0])
    assert np.isnan(jnp.quantile(x, 0.5, weights=jnp.array([1.0, -1.0, 1.0]), method="inverted_cdf"))
    assert float(jnp.quantile(jnp.array([1.0, 2, 3, 4, 5]), 0.5, weights=jnp.array([1, 1, 2, 1, 1]),
                              method="inverted_cdf")) == 3.0
    with pytest.raises(NotImplementedError, match="linear doesn't support weights"):
        jnp.quantile(x, 0.5, weights=jnp.ones(3))
    with pytest.raises(ValueError, match="method can only be 'linear', 'lower', 'higher', 'midpoint', 'nearest' or "
                                         "'inverted_cdf'"):
        jnp.quantile(x, 0.5, method="closest")
    with pytest.raises(ValueError, match="Weights shape must match 'a' shape when axis is None."):
        jnp.quantile(x, 0.5, weights=jnp.ones(2), method="inverted_cdf")
    with pytest.raises(ValueError, match=r"Weights shape \(2,\) must match reduction axes \(3,\)"):
        jnp.quantile(jnp.ones((2, 3)), 0.5, axis=1, weights=jnp.ones(2), method="inverted_cdf")
    with pytest.raises(ValueError, match="Weights cannot be complex types."):
        jnp.quantile(x, 0.5, weights=jnp.ones(3, jnp.complex64), method="inverted_cdf")


# --- var / std with a precomputed mean ---------------------------------------------------------------------------

@pytest.mark.parametrize("name", ["var", "std"])
def test_var_std_with_mean(name):
    a = RNG.normal(size=(3, 5)).astype(np.float32)
    m = a.mean(axis=1, keepdims=True)
    np.testing.assert_allclose(getattr(jnp, name)(a, axis=1, mean=m, ddof=1), getattr(np, name)(a, axis=1, mean=m,
                                                                                               ddof=1), rtol=1e-5)


# --- dtypes of sums and products of booleans and small integers ---------------------------------------------------

@pytest.mark.parametrize("name", ["sum", "prod", "cumsum", "cumprod", "cumulative_sum", "cumulative_prod"])
def test_small_integer_and_bool_reduction_dtypes_as_jax(name):
    """sum, prod and cumulative_sum promote narrow integers to the default (unsigned) integer; cumsum, cumprod
    and cumulative_prod keep them (JAX 0.10.2's promote_integers); booleans always become the default int."""
    promote = name in ("sum", "prod", "cumulative_sum")
    expected = {"bool": "int32", "int8": "int32" if promote else "int8", "int16": "int32" if promote else "int16",
                "int32": "int32", "uint8": "uint32" if promote else "uint8", "uint32": "uint32",
                "float16": "float16"}
    for dt, out_dt in expected.items():
        out = getattr(jnp, name)(jnp.ones(3, dt))
        assert out.dtype == out_dt, dt
        np.testing.assert_array_equal(out, getattr(np, name)(np.ones(3, dt)))
    b = jnp.array([True, False, True])
    np.testing.assert_array_equal(getattr(jnp, name)(b), getattr(np, name)(np.array([True, False, True])))


@pytest.mark.parametrize("dtype", [bool, np.float32, np.int8, np.int32])
@pytest.mark.parametrize("out_dtype", [None, bool, np.float32, np.int8, np.int32])
def test_cumsum_dtypes_as_jax(dtype, out_dtype):
    """JAX's test_cumsum_boolean: dtype=bool accumulates ``x != 0``, so -1 and 1 do not cancel."""
    x = np.array([-1, 0, 1], dtype=dtype)
    expected = np.cumsum(x, dtype=out_dtype).astype(out_dtype or (dtype if dtype != bool else np.int32))
    out = jnp.cumsum(x, dtype=out_dtype)
    assert out.dtype == expected.dtype
    np.testing.assert_array_equal(out, expected)


def test_promote_integers_false_keeps_the_dtype():
    assert jnp.sum(jnp.ones(3, jnp.int8), promote_integers=False).dtype == jnp.int8
    assert jnp.sum(jnp.ones(3, jnp.uint8), dtype=jnp.int16).dtype == jnp.int16


# --- JAX's errors for a non-boolean where and an array initial ----------------------------------------------------

@pytest.mark.parametrize("name", ["sum", "prod", "max", "min", "mean", "var", "std", "nanvar"])
def test_non_boolean_where_is_a_value_error(name):
    kw = {"initial": 0.0} if name in ("max", "min") else {}
    with pytest.raises(ValueError, match=rf"jnp.{name}: where must be None or a boolean array; "
                                         r"got where.dtype=dtype\('float32'\)."):
        getattr(jnp, name)(jnp.arange(4.0), where=jnp.ones(4), **kw)


@pytest.mark.parametrize("name", ["sum", "prod", "max", "min"])
def test_array_initial_is_a_value_error(name):
    with pytest.raises(ValueError, match=r"initial value must be a scalar. Got array of shape \(2,\)"):
        getattr(jnp, name)(jnp.arange(4.0), initial=jnp.ones(2))
    np.testing.assert_array_equal(getattr(jnp, name)(jnp.arange(1.0, 4.0), initial=jnp.ones(())),
                                  getattr(np, name)(np.arange(1.0, 4.0), initial=1.0))


@pytest.mark.parametrize("name", ["sum", "prod", "max", "min", "all", "any", "mean", "var", "std", "argmax", "argmin",
                                  "cumsum", "cumprod", "nansum", "nanprod", "nanmax", "nanmin", "nanmean", "nanvar",
                                  "nanstd", "nanargmax", "nanargmin", "nancumsum", "nancumprod", "ptp"])
def test_out_argument_is_not_supported(name):
    """numpy's ``out`` was silently ignored; JAX raises."""
    end = "" if "cum" in name else "."  # JAX's cumulative reductions end their message without a period
    with pytest.raises(NotImplementedError, match=f"^The 'out' argument to jnp.{name} is not supported{end}$"):
        getattr(jnp, name)(jnp.ones(3), out=np.ones(()))


@pytest.mark.parametrize("name,impl", [("quantile", "quantile"), ("percentile", "quantile"), ("median", "quantile"),
                                       ("nanquantile", "nanquantile"), ("nanpercentile", "nanquantile"),
                                       ("nanmedian", "nanquantile")])
def test_quantile_out_and_overwrite_input_are_errors(name, impl):
    args = () if "median" in name else (0.5,)
    for kw in ({"out": np.ones(())}, {"overwrite_input": True}):
        with pytest.raises(ValueError, match=f"jax.numpy.{impl} does not support overwrite_input=True or out"):
            getattr(jnp, name)(jnp.ones(3), *args, **kw)


def test_einsum_path_interleaved():
    assert jnp.einsum_path(A, [0, 1], B, [1], [0])[0] == np.einsum_path(A, [0, 1], B, [1], [0])[0]


@pytest.mark.parametrize("name", ["sum", "max", "mean", "var", "all"])
def test_float_axis_is_a_type_error(name):
    """A float axis was truncated silently (axis=1.5 reduced axis 1); JAX's operator.index raises."""
    with pytest.raises(TypeError, match="'float' object cannot be interpreted as an integer"):
        getattr(jnp, name)(jnp.ones((2, 3)), axis=1.5)
    np.testing.assert_array_equal(getattr(jnp, name)(jnp.ones((2, 3)), axis=np.int64(1)),
                                  getattr(np, name)(np.ones((2, 3)), axis=1))


def test_reduction_dtypes_under_x64(x64):
    """With 64-bit types the default integer is int64: sum/prod/cumulative_sum promote int32 to it, cumsum and
    cumprod keep int32, and booleans become int64 everywhere."""
    i32, b = jnp.ones(3, jnp.int32), jnp.ones(3, bool)
    assert [jnp.sum(i32).dtype, jnp.prod(i32).dtype, jnp.cumulative_sum(i32).dtype] == [jnp.int64] * 3
    assert [jnp.cumsum(i32).dtype, jnp.cumprod(i32).dtype] == [jnp.int32] * 2
    assert [f(b).dtype for f in (jnp.sum, jnp.prod, jnp.cumsum, jnp.cumprod)] == [jnp.int64] * 4
    assert jnp.sum(jnp.ones(3, jnp.uint8)).dtype == jnp.uint64
