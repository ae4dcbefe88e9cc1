"""Reductions (axis/keepdims/where/initial), nan-variants, order statistics and data-analysis functions of
portax.numpy against numpy, with derivative checks."""
import warnings

import numpy as np
import pytest

import portax
import portax.numpy as jnp
from portax.test_util import check_grads

RNG = np.random.RandomState(0)
X = RNG.randn(3, 4, 5).astype(np.float32)
XI = RNG.randint(-5, 6, (3, 4, 5)).astype(np.int32)
XN = X.copy()
XN[0, 1, 2] = XN[2, 3, 0] = XN[1, :, 4] = np.nan
WHERE = RNG.rand(3, 4, 5) > 0.3

AXES = [None, 0, -1, (0, 2), (1,)]
REDUCTIONS = ["sum", "prod", "mean", "var", "std", "min", "max", "all", "any"]


@pytest.mark.parametrize("axis", AXES, ids=str)
@pytest.mark.parametrize("name", REDUCTIONS)
@pytest.mark.parametrize("keepdims", [False, True])
def test_reductions_match_numpy(name, axis, keepdims):
    out = getattr(jnp, name)(X, axis=axis, keepdims=keepdims)
    ref = getattr(np, name)(X, axis=axis, keepdims=keepdims)
    assert out.shape == ref.shape
    np.testing.assert_allclose(out, ref, rtol=2e-5, atol=1e-5)


@pytest.mark.parametrize("name", ["sum", "prod", "max", "min", "mean", "var", "std", "all", "any"])
def test_reductions_with_where(name):
    kw = {"initial": 0.0} if name in ("max", "min") else {}
    out = getattr(jnp, name)(X, axis=1, where=WHERE, **kw)
    ref = getattr(np, name)(X, axis=1, where=WHERE, **kw)
    np.testing.assert_allclose(out, ref, rtol=2e-5, atol=1e-5)


def test_integer_reductions_and_dtypes():
    assert jnp.sum(XI.astype(np.int8)).dtype == jnp.int32
    assert jnp.sum(np.ones(3, np.uint8)).dtype == jnp.uint32
    assert jnp.mean(XI).dtype == jnp.float32
    assert jnp.sum(X, dtype=jnp.float16).dtype == jnp.float16
    np.testing.assert_array_equal(jnp.sum(XI, axis=2), XI.sum(axis=2))
    np.testing.assert_array_equal(jnp.max(XI, axis=0, initial=3), np.max(XI, axis=0, initial=3))
    np.testing.assert_array_equal(jnp.argmax(X, axis=1), X.argmax(axis=1))
    np.testing.assert_array_equal(jnp.argmin(X), X.argmin())
    np.testing.assert_array_equal(jnp.argmax(X, axis=-1, keepdims=True), X.argmax(axis=-1, keepdims=True))
    np.testing.assert_allclose(jnp.var(X, axis=0, ddof=1), X.var(axis=0, ddof=1), rtol=1e-5)
    np.testing.assert_allclose(jnp.std(X, correction=1), X.std(ddof=1), rtol=1e-5)
    np.testing.assert_array_equal(jnp.count_nonzero(XI, axis=1), np.count_nonzero(XI, axis=1))
    np.testing.assert_allclose(jnp.ptp(X, axis=2), np.ptp(X, axis=2))
    with pytest.raises(ValueError, match="zero-size array"):
        jnp.max(np.zeros((0, 3)), axis=0)


@pytest.mark.parametrize("name", ["cumsum", "cumprod", "nancumsum", "nancumprod"])
@pytest.mark.parametrize("axis", [None, 0, 2])
def test_cumulative(name, axis):
    src = XN * 0.5 if name.startswith("nan") else X * 0.5
    np.testing.assert_allclose(getattr(jnp, name)(src, axis=axis), getattr(np, name)(src, axis=axis), rtol=1e-5,
                               atol=1e-6)


@pytest.mark.parametrize("name", ["nansum", "nanprod", "nanmean", "nanvar", "nanstd", "nanmax", "nanmin",
                                  "nanargmax", "nanargmin", "nanmedian"])
@pytest.mark.parametrize("axis", [None, 1])
def test_nan_reductions(name, axis):
    src = XN if "arg" not in name else np.where(np.isnan(XN).all(axis=1, keepdims=True), 0.0, XN)
    with np.errstate(all="ignore"):
        ref = getattr(np, name)(src, axis=axis)
    np.testing.assert_allclose(getattr(jnp, name)(src, axis=axis), ref, rtol=2e-5, atol=1e-6)


@pytest.mark.parametrize("method", ["linear", "lower", "higher", "midpoint", "nearest"])
@pytest.mark.parametrize("axis,q", [(None, 0.3), (1, [0.0, 0.25, 0.5, 1.0]), ((0, 2), np.array([[0.1], [0.9]])),
                                    (-1, 0.75)])
def test_quantile_methods(method, axis, q):
    np.testing.assert_allclose(jnp.quantile(X, q, axis=axis, method=method),
                               np.quantile(X, q, axis=axis, method=method), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(jnp.percentile(X, np.asarray(q) * 100, axis=axis, method=method, keepdims=True),
                               np.percentile(X, np.asarray(q) * 100, axis=axis, method=method, keepdims=True),
                               rtol=1e-4, atol=1e-5)


def test_median_and_nan_quantiles():
    np.testing.assert_allclose(jnp.median(X, axis=1), np.median(X, axis=1), rtol=1e-6)
    np.testing.assert_allclose(jnp.median(X, axis=(0, 1), keepdims=True), np.median(X, axis=(0, 1), keepdims=True))
    assert np.isnan(jnp.median(XN))
    np.testing.assert_allclose(jnp.nanquantile(XN, [0.2, 0.8], axis=2), np.nanquantile(XN, [0.2, 0.8], axis=2),
                               rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(jnp.nanpercentile(XN, 40.0), np.nanpercentile(XN, 40.0), rtol=1e-5)


def test_average():
    w = RNG.rand(5).astype(np.float32)
    np.testing.assert_allclose(jnp.average(X, axis=2, weights=w), np.average(X, axis=2, weights=w), rtol=1e-5)
    avg, total = jnp.average(X, axis=0, weights=np.abs(X), returned=True)
    ref_avg, ref_total = np.average(X, axis=0, weights=np.abs(X), returned=True)
    np.testing.assert_allclose(avg, ref_avg, rtol=1e-5)
    np.testing.assert_allclose(total, ref_total, rtol=1e-5)


def test_cov_corrcoef():
    m = RNG.randn(3, 10).astype(np.float32)
    y = RNG.randn(10).astype(np.float32)
    np.testing.assert_allclose(jnp.cov(m), np.cov(m), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(jnp.cov(m, y, bias=True), np.cov(m, y, bias=True), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(jnp.cov(m.T, rowvar=False, ddof=0), np.cov(m.T, rowvar=False, ddof=0), rtol=1e-5,
                               atol=1e-6)
    fw, aw = np.array([1, 2, 1, 3, 1, 1, 2, 1, 1, 1]), RNG.rand(10)
    np.testing.assert_allclose(jnp.cov(m, fweights=fw, aweights=aw), np.cov(m, fweights=fw, aweights=aw),
                               rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(jnp.corrcoef(m), np.corrcoef(m), rtol=1e-5, atol=1e-6)


def test_histograms_and_binning():
    data = RNG.randn(50).astype(np.float32)
    for bins in (5, np.array([-2.0, -0.5, 0.0, 0.3, 2.5])):
        h, e = jnp.histogram(data, bins=bins)
        rh, re = np.histogram(data, bins=bins)
        np.testing.assert_array_equal(h, rh)
        np.testing.assert_allclose(e, re, rtol=1e-6)
    h, _ = jnp.histogram(data, bins=4, range=(-1, 1), density=True)
    np.testing.assert_allclose(h, np.histogram(data, bins=4, range=(-1, 1), density=True)[0], rtol=1e-5)
    np.testing.assert_allclose(jnp.histogram_bin_edges(data, 6), np.histogram_bin_edges(data, 6), rtol=1e-6)
    pts = RNG.randn(40, 3).astype(np.float32)
    hist, edges = jnp.histogramdd(pts, bins=(3, 4, 2))
    rhist, redges = np.histogramdd(pts, bins=(3, 4, 2))
    np.testing.assert_array_equal(hist, rhist)
    for e, re_ in zip(edges, redges):
        np.testing.assert_allclose(e, re_, rtol=1e-5, atol=1e-6)
    h2, ex, ey = jnp.histogram2d(pts[:, 0], pts[:, 1], bins=3, range=[(-1, 1), (-2, 2)], density=True)
    rh2, rex, rey = np.histogram2d(pts[:, 0], pts[:, 1], bins=3, range=[(-1, 1), (-2, 2)], density=True)
    np.testing.assert_allclose(h2, rh2, rtol=1e-5)
    np.testing.assert_allclose(ey, rey, rtol=1e-6)
    counts = np.array([0, 3, 1, 3, 7, 1])
    np.testing.assert_array_equal(jnp.bincount(counts), np.bincount(counts))
    np.testing.assert_allclose(jnp.bincount(counts, weights=np.arange(6.0), length=9),
                               np.bincount(counts, weights=np.arange(6.0), minlength=9))
    bins = np.array([0.0, 1.0, 2.5, 4.0])
    x = np.array([-1.0, 0.0, 0.5, 2.5, 3.9, 4.0, 7.0])
    for right in (False, True):
        np.testing.assert_array_equal(jnp.digitize(x, bins, right=right), np.digitize(x, bins, right=right))
        decreasing = bins[::-1]
        np.testing.assert_array_equal(jnp.digitize(x, decreasing, right=right),
                                      np.digitize(x, decreasing, right=right))


def test_bincount_length_is_exact_and_bool_input():
    counts = np.array([0, 3, 1, 3, 7, 1])
    out = jnp.bincount(counts, minlength=20, length=5)  # length wins over minlength; larger values are dropped
    np.testing.assert_array_equal(out, np.bincount(counts)[:5])
    b = np.array([True, False, True, True])
    with portax.numpy_dtype_promotion("strict"):
        np.testing.assert_array_equal(jnp.bincount(b), np.bincount(b))
    np.testing.assert_array_equal(jnp.bincount(np.array([-3, -1])), [2])  # negatives clip to bin 0
    with pytest.raises(TypeError, match="x argument to bincount must have an integer type"):
        jnp.bincount(np.array([1.0]))


def test_interp_gradient_diff_trapezoid():
    xp = np.array([0.0, 1.0, 1.5, 4.0])
    fp = np.array([1.0, -1.0, 2.0, 0.5])
    x = np.linspace(-1, 5, 13)
    np.testing.assert_allclose(jnp.interp(x, xp, fp), np.interp(x, xp, fp), rtol=1e-6)
    np.testing.assert_allclose(jnp.interp(x, xp, fp, left=-9, right=9), np.interp(x, xp, fp, left=-9, right=9))
    np.testing.assert_allclose(jnp.interp(x, xp, fp, period=4.5), np.interp(x, xp, fp, period=4.5), rtol=1e-5)
    f = X[0] ** 2
    np.testing.assert_allclose(jnp.gradient(f), np.gradient(f), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(jnp.gradient(f, 0.5, axis=1), np.gradient(f, 0.5, axis=1), rtol=1e-5, atol=1e-6)
    coords = np.array([0.0, 0.5, 1.5, 1.7, 3.0])
    np.testing.assert_allclose(jnp.gradient(f, coords, axis=1), np.gradient(f, coords, axis=1), rtol=1e-4, atol=1e-5)
    for n in (1, 2):
        np.testing.assert_allclose(jnp.diff(X, n=n, axis=1), np.diff(X, n=n, axis=1), rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(jnp.diff(X[0, 0], prepend=0.0, append=[1.0, 2.0]),
                               np.diff(X[0, 0], prepend=0.0, append=[1.0, 2.0]), rtol=1e-6, atol=1e-6)
    np.testing.assert_array_equal(jnp.diff(X, n=0, axis=1, prepend=X, append=0.0), X)  # n=0: as is, as numpy
    np.testing.assert_allclose(jnp.ediff1d(X[0], to_begin=[7.0], to_end=8.0),
                               np.ediff1d(X[0], to_begin=[7.0], to_end=8.0), rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(jnp.trapezoid(X, axis=1), np.trapezoid(X, axis=1), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(jnp.trapezoid(X[0, 0], x=coords), np.trapezoid(X[0, 0], x=coords), rtol=1e-5)


@pytest.mark.parametrize("mode", ["full", "same", "valid"])
@pytest.mark.parametrize("n,m", [(6, 3), (3, 6), (5, 5), (1, 4)])
def test_convolve_correlate(mode, n, m):
    a, v = RNG.randn(n).astype(np.float32), RNG.randn(m).astype(np.float32)
    np.testing.assert_allclose(jnp.convolve(a, v, mode), np.convolve(a, v, mode), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(jnp.correlate(a, v, mode), np.correlate(a, v, mode), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("mode", ["full", "same", "valid"])
@pytest.mark.parametrize("n,m", [(4, 2), (2, 4)])
def test_correlate_conjugates_v_and_integers_become_inexact(mode, n, m):
    a = (RNG.randn(n) + 1j * RNG.randn(n)).astype(np.complex64)
    v = (RNG.randn(m) + 1j * RNG.randn(m)).astype(np.complex64)
    np.testing.assert_allclose(jnp.correlate(a, v, mode), np.correlate(a, v, mode), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(jnp.convolve(a, v, mode), np.convolve(a, v, mode), rtol=1e-5, atol=1e-5)
    ai, vi = np.arange(1, n + 1), np.arange(2, m + 2)
    out = jnp.convolve(ai, vi, mode)
    assert out.dtype == jnp.float32  # as JAX: promoted to inexact without preferred_element_type
    np.testing.assert_array_equal(out, np.convolve(ai, vi, mode))
    out = jnp.correlate(ai, vi, mode, preferred_element_type=jnp.int32)
    assert out.dtype == jnp.int32
    np.testing.assert_array_equal(out, np.correlate(ai, vi, mode))


def test_reduction_gradients(x64):
    x = RNG.randn(3, 4)
    w = RNG.rand(3, 4) > 0.4
    check_grads(lambda v: jnp.sum(v * v, axis=1), (x,), order=2)
    check_grads(lambda v: jnp.prod(v, axis=0), (x,), order=2)
    check_grads(lambda v: jnp.var(v, axis=1, ddof=1), (x,), order=2)
    check_grads(lambda v: jnp.std(v), (x,), order=1)
    check_grads(lambda v: jnp.mean(v, where=w), (x,), order=1)
    check_grads(lambda v: jnp.max(v, axis=1), (x,), order=1)
    check_grads(lambda v: jnp.cumsum(v, axis=1), (x,), order=1)
    check_grads(lambda v: jnp.cumprod(v, axis=0), (x,), order=1)
    check_grads(lambda v: jnp.quantile(v, 0.3, axis=1), (x,), order=1)
    check_grads(lambda v: jnp.median(v), (x,), order=1)
    check_grads(lambda v: jnp.interp(np.array([0.2, 1.7]), np.array([0.0, 1.0, 2.0]), v[0, :3]), (x,), order=1)
    check_grads(lambda v: jnp.convolve(v[0], v[1, :2]), (x,), order=1)


def test_reductions_under_jit_and_vmap():
    f = portax.jit(lambda v: (jnp.quantile(v, 0.5, axis=0), jnp.var(v, axis=1), jnp.nanmean(v)))
    q, var, nm = f(X[0])
    np.testing.assert_allclose(q, np.quantile(X[0], 0.5, axis=0), rtol=1e-6)
    np.testing.assert_allclose(var, X[0].var(axis=1), rtol=1e-5)
    np.testing.assert_allclose(nm, X[0].mean(), rtol=1e-5)
    out = portax.vmap(lambda v: jnp.median(v))(X.reshape(3, 20))
    np.testing.assert_allclose(out, np.median(X.reshape(3, 20), axis=1), rtol=1e-6)


def _nan_cases():
    rng = np.random.RandomState(11)
    for dt in (np.float32, np.complex64):
        for shape in [(), (4,), (0,), (2, 3), (3, 1), (1, 4), (0, 3), (2, 3, 4), (4, 1, 2)]:
            x = rng.randn(*shape) + (1j * rng.randn(*shape) if dt is np.complex64 else 0)
            x = np.array(x, dt).reshape(shape)
            x[rng.rand(*shape) < 0.25] = np.nan
            where = rng.rand(*shape) < 0.7
            axes = [None] + list(range(len(shape))) + ([(0, len(shape) - 1)] if len(shape) > 1 else [])
            for axis in axes:
                for w in (None, where, where[..., :1] if shape else None):
                    yield x, axis, w


@pytest.mark.parametrize("name", ["nanmean", "nanvar", "nanstd", "mean", "var", "std"])
def test_moments_with_where_match_numpy_in_all_shapes(name):
    for x, axis, where in _nan_cases():
        for keepdims in (False, True):
            kw = {} if where is None else {"where": where}
            with np.errstate(all="ignore"), warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)
                ref = np.asarray(getattr(np, name)(x, axis=axis, keepdims=keepdims, **kw))
            out = getattr(jnp, name)(x, axis=axis, keepdims=keepdims, **kw)
            assert out.shape == ref.shape and out.dtype == ref.dtype, (x.dtype, x.shape, axis, where, keepdims)
            np.testing.assert_allclose(out, ref, rtol=2e-5, atol=1e-6, err_msg=f"{x.dtype} {x.shape} {axis} {where}")


@pytest.mark.parametrize("name", ["var", "std", "nanvar", "nanstd"])
def test_variance_is_nan_when_ddof_is_at_least_n(name):
    fn = getattr(jnp, name)
    assert np.isnan(fn(np.array([1.0, 2.0], np.float32), ddof=2))
    assert np.isnan(fn(np.array([3.0], np.float32), ddof=1))  # was -0.0
    assert np.isnan(fn(np.array([3.0], np.float32), ddof=5))
    out = fn(np.array([[1.0, 2.0, 4.0], [1.0, 2.0, np.nan]], np.float32), axis=1, ddof=2)
    np.testing.assert_array_equal(np.isnan(out), [False, True])  # nan*: two entries left for ddof=2
    w = np.array([[True, True, False], [True, False, False]])
    out = fn(np.array([[1.0, 2.0, 4.0], [1.0, 2.0, 5.0]], np.float32), axis=1, ddof=1, where=w)
    np.testing.assert_array_equal(np.isnan(out), [False, True])
    assert np.isnan(portax.jit(lambda v: fn(v, ddof=3))(np.ones(3, np.float32)))


def test_complex_variance_is_real():
    z = (RNG.randn(3, 4) + 1j * RNG.randn(3, 4)).astype(np.complex64)
    w = RNG.rand(3, 4) > 0.3
    for name in ("var", "std", "nanvar", "nanstd"):
        for kw in ({}, {"where": w}, {"axis": 1, "where": w, "ddof": 1}):
            out = getattr(jnp, name)(z, **kw)
            assert out.dtype == jnp.float32, (name, kw)
            np.testing.assert_allclose(out, getattr(np, name)(z, **kw), rtol=1e-5)
    assert jnp.var(z, dtype=jnp.complex64).dtype == jnp.complex64
    with pytest.raises(ValueError, match="real dtype parameters"):
        jnp.var(z, dtype=jnp.float32)


def test_where_reductions_initial_and_errors():
    x = np.array([1.0, 2.0, 3.0], np.float32)
    w = np.array([True, False, True])
    assert float(jnp.sum(x, where=w, initial=10.0)) == 14.0  # initial is counted once (was 24)
    assert float(jnp.prod(x, where=w, initial=10.0)) == 30.0
    assert float(jnp.max(x, where=w, initial=2.5)) == 3.0
    with pytest.raises(ValueError, match="does not have an identity"):
        jnp.max(x, where=w)
    with pytest.raises(ValueError, match="ddof and correction"):
        jnp.var(x, ddof=1, correction=1)
    np.testing.assert_allclose(jnp.var(x, mean=np.float32(0.0)), np.mean(x * x), rtol=1e-6)


def test_nan_moment_gradients_skip_nans():
    x = np.array([[1.0, np.nan, 3.0], [2.0, 5.0, np.inf]], np.float32)
    w = np.array([[True, True, True], [True, True, False]])
    for name in ("nanvar", "nanstd", "nanmean"):
        g = np.asarray(portax.grad(lambda v: getattr(jnp, name)(v, axis=1, where=w).sum())(x))
        assert np.all(np.isfinite(g)) and g[0, 1] == 0 and g[1, 2] == 0, (name, g)
    g = portax.grad(lambda v: jnp.nanvar(v[0]))(x)
    np.testing.assert_allclose(g[0], [-1.0, 0.0, 1.0], rtol=1e-6)


def test_float16_moments_are_computed_in_float32():
    x = np.full(1000, 100, np.float16)  # its float16 sum overflows to inf
    for name, expected in (("mean", 100.0), ("nanmean", 100.0), ("var", 0.0), ("std", 0.0), ("nanvar", 0.0)):
        out = getattr(jnp, name)(x)
        assert out.dtype == jnp.float16 and float(out) == expected, (name, out)
    y = np.linspace(0, 300, 1001).astype(np.float16)
    np.testing.assert_allclose(jnp.var(y, where=y > 10), np.var(y.astype(np.float32), where=y > 10), rtol=1e-3)


def test_sum_and_prod_accumulate_narrow_floats_in_float32_unless_dtype_given():
    x = np.full(4096, 1, np.float16)
    assert jnp.sum(x).dtype == jnp.float16 and float(jnp.sum(x)) == 4096.0
    prims = [e.primitive.name for e in portax.make_jaxpr(jnp.sum)(x).eqns]
    assert prims == ["convert_element_type", "reduce_sum", "convert_element_type"]
    assert [e.primitive.name for e in portax.make_jaxpr(lambda v: jnp.sum(v, dtype=jnp.float16))(x).eqns] == [
        "reduce_sum"]
    assert [e.primitive.name for e in portax.make_jaxpr(lambda v: jnp.mean(v, dtype=jnp.float16))(x).eqns] == [
        "reduce_sum", "div"]


def test_boolean_sums_and_products():
    b = np.array([[True, False, True], [True, True, True]])
    out = jnp.sum(b, axis=1, promote_integers=False)  # booleans count (as the default integer), as JAX
    assert out.dtype == jnp.int32 and out.tolist() == [2, 3]
    assert jnp.prod(b, axis=1, dtype=bool).tolist() == [False, True]  # was: reduce_prod rejects bool
    assert jnp.sum(np.array([0.0, 2.0]), dtype=bool).tolist() is True


def test_mean_with_integer_dtype_keeps_that_dtype():
    out = jnp.mean(np.array([1.5, 2.5, 4.0], np.float32), dtype=jnp.int16)
    assert out.dtype == jnp.int16 and int(out) == 2  # was int32 (the sum's integer promotion)


def test_nan_reductions_name_themselves_in_where_errors_and_initial_wins_over_all_nan():
    x = np.zeros(3, np.float32)
    for name in ("nansum", "nanprod", "nanmin", "nanmax", "nanmean", "nanvar", "nanstd"):
        with pytest.raises(ValueError, match=f"jnp.{name}: where must be None or a boolean array"):
            getattr(jnp, name)(x, where=np.ones(3, np.int32))
    empty = np.zeros((3, 0), np.float32)
    assert float(jnp.nanmax(empty, initial=1.0)) == 1.0  # was NaN
    assert float(jnp.nanmin(np.full(2, np.nan, np.float32), initial=0.0)) == 0.0
    assert np.isnan(float(jnp.nanmin(np.full(2, np.nan, np.float32))))


def test_average_weights_over_several_axes_and_inexact_returned_sum():
    x = RNG.randn(2, 3, 4).astype(np.float32)
    w = RNG.rand(4, 2).astype(np.float32)
    np.testing.assert_allclose(jnp.average(x, (2, 0), w), np.average(x, (2, 0), w), rtol=1e-5)
    avg, wsum = jnp.average(np.arange(4, dtype=np.int32), weights=np.array([1, 2, 3, 4], np.int32), returned=True)
    assert avg.dtype == wsum.dtype == jnp.float32 and float(wsum) == 10.0
    with pytest.raises(ValueError, match="Shape of weights must be consistent"):
        jnp.average(x, 0, np.ones(3, np.float32))


def test_cov_without_observations_is_nan():
    assert np.isnan(float(jnp.cov(np.zeros((0,), np.float32))))
    out = jnp.cov(np.zeros((3, 0), np.float32))
    assert out.shape == (3, 3) and np.all(np.isnan(out))
