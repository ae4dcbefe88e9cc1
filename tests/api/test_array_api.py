"""portax.numpy as a Python array API (2023.12) namespace: the standard's functions and keywords against numpy
2.x (itself a conforming namespace), the inspection object, ``device=`` on creation functions and the array
object's ``__array_namespace__``, ``to_device``, ``mT``, ``__dlpack__`` and immutability."""
import inspect

import numpy as np
import pytest

import portax
import portax.numpy as jnp

RNG = np.random.RandomState(0)
A = (RNG.randn(3, 3) + 3 * np.eye(3)).astype(np.float32)
SPD = (A @ A.T).astype(np.float32)
M = RNG.randn(2, 4, 3).astype(np.float32)
V = np.array([0.3, -0.7, 0.2], np.float32)
I = np.array([3, 1, 4, 1, 5, 9, 2, 6], np.int32)
U = np.array([[3, 1, 3], [1, 2, 1]], np.int32)

# (name, function of the namespace, arguments): each is called on numpy and portax.numpy and compared
CASES = [
    ("acos", lambda xp: xp.acos(V)), ("asin", lambda xp: xp.asin(V)), ("atan", lambda xp: xp.atan(V)),
    ("atan2", lambda xp: xp.atan2(V, V[::-1])), ("acosh", lambda xp: xp.acosh(np.abs(SPD) + 1)),
    ("asinh", lambda xp: xp.asinh(V)), ("atanh", lambda xp: xp.atanh(V)),
    ("bitwise_left_shift", lambda xp: xp.bitwise_left_shift(I, np.int32(2))),
    ("bitwise_right_shift", lambda xp: xp.bitwise_right_shift(I, np.int32(1))),
    ("bitwise_invert", lambda xp: xp.bitwise_invert(I)), ("pow", lambda xp: xp.pow(np.abs(SPD), np.float32(1.5))),
    ("concat", lambda xp: xp.concat([A, SPD], axis=1)), ("concat_none", lambda xp: xp.concat([A, V[None]], axis=None)),
    ("permute_dims", lambda xp: xp.permute_dims(M, (2, 0, 1))),
    ("astype", lambda xp: xp.astype(A * 3, xp.int32, copy=False)),
    ("unique_values", lambda xp: np.sort(np.asarray(xp.unique_values(I)))),  # the standard leaves the order open
    ("unique_counts", lambda xp: tuple(xp.unique_counts(I))),
    ("unique_inverse", lambda xp: tuple(xp.unique_inverse(U))),
    ("unique_all", lambda xp: tuple(xp.unique_all(U))),
    ("cumulative_sum", lambda xp: xp.cumulative_sum(M, axis=1, include_initial=True)),
    ("cumulative_sum_int8", lambda xp: xp.cumulative_sum(np.array([100, 100], np.int8))),
    ("cumulative_prod", lambda xp: xp.cumulative_prod(V, include_initial=True)),
    ("take_along_axis", lambda xp: xp.take_along_axis(A, xp.argsort(A, axis=1), axis=1)),
    ("searchsorted_right", lambda xp: xp.searchsorted(np.sort(V), V, side="right")),
    ("searchsorted_sorter", lambda xp: xp.searchsorted(V, V, sorter=np.argsort(V))),
    ("clip_keywords", lambda xp: xp.clip(A, min=0.5, max=2.0)), ("clip_min_only", lambda xp: xp.clip(A, min=1.0)),
    ("clip_array_max", lambda xp: xp.clip(A, max=V)), ("copysign", lambda xp: xp.copysign(A, V)),
    ("hypot", lambda xp: xp.hypot(A, V)), ("logaddexp", lambda xp: xp.logaddexp(A, V)),
    ("nextafter", lambda xp: xp.nextafter(V, np.float32(1.0))), ("signbit", lambda xp: xp.signbit(V)),
    ("trunc", lambda xp: xp.trunc(V * 3)), ("round", lambda xp: xp.round(V * 3)),
    ("maximum", lambda xp: xp.maximum(A, V)), ("minimum", lambda xp: xp.minimum(A, V)),
    ("meshgrid_ij", lambda xp: tuple(xp.meshgrid(V, V[:2], indexing="ij"))),
    ("meshgrid_xy", lambda xp: tuple(xp.meshgrid(V, V[:2], indexing="xy"))),
    ("unstack", lambda xp: tuple(xp.unstack(M, axis=1))),
    ("std_correction", lambda xp: xp.std(M, correction=1)),
    ("var_correction", lambda xp: xp.var(M, axis=0, correction=1.5)),
    ("sum_dtype", lambda xp: xp.sum(I, dtype=xp.float32)), ("matrix_transpose", lambda xp: xp.matrix_transpose(M)),
    ("vecdot", lambda xp: xp.vecdot(M, V)), ("vecdot_axis", lambda xp: xp.vecdot(M, M, axis=1)),
    ("tensordot", lambda xp: xp.tensordot(M, A, axes=1)), ("isdtype", lambda xp: (
        xp.isdtype(xp.float32, "real floating"), xp.isdtype(xp.int8, ("integral", xp.float32)),
        xp.isdtype(xp.bool, "numeric"), xp.isdtype(xp.uint16, "unsigned integer"))),
    ("linalg.matrix_norm_fro", lambda xp: xp.linalg.matrix_norm(M)),
    ("linalg.matrix_norm_nuc_keepdims", lambda xp: xp.linalg.matrix_norm(M, ord="nuc", keepdims=True)),
    ("linalg.matrix_norm_inf", lambda xp: xp.linalg.matrix_norm(M, ord=np.inf)),
    ("linalg.vector_norm", lambda xp: xp.linalg.vector_norm(M, axis=(0, 2), ord=3)),
    ("linalg.vector_norm_all", lambda xp: xp.linalg.vector_norm(M, ord=np.inf, keepdims=True)),
    ("linalg.svdvals", lambda xp: xp.linalg.svdvals(M)), ("linalg.vecdot", lambda xp: xp.linalg.vecdot(M, V)),
    ("linalg.matrix_transpose", lambda xp: xp.linalg.matrix_transpose(M)),
    ("linalg.outer", lambda xp: xp.linalg.outer(V, V[:2])),
    ("linalg.tensordot", lambda xp: xp.linalg.tensordot(M, M, axes=([0, 2], [0, 2]))),
    ("linalg.trace", lambda xp: xp.linalg.trace(M, offset=1)),
    ("linalg.diagonal", lambda xp: xp.linalg.diagonal(M, offset=-1)),
    ("linalg.cross", lambda xp: xp.linalg.cross(A, A[::-1])),
    ("linalg.cross_axis", lambda xp: xp.linalg.cross(A.T, A[::-1].T, axis=0)),
    ("linalg.cholesky_upper", lambda xp: xp.linalg.cholesky(SPD, upper=True)),
    ("linalg.eigvalsh", lambda xp: xp.linalg.eigvalsh(SPD)), ("linalg.inv", lambda xp: xp.linalg.inv(A)),
    ("linalg.det", lambda xp: xp.linalg.det(A)), ("linalg.slogdet", lambda xp: tuple(xp.linalg.slogdet(A))),
    ("linalg.solve", lambda xp: xp.linalg.solve(A, SPD)),
    ("linalg.pinv_rtol", lambda xp: xp.linalg.pinv(M, rtol=0.3)),
    ("linalg.matrix_rank_rtol", lambda xp: xp.linalg.matrix_rank(A, rtol=0.3)),
    ("linalg.matrix_power", lambda xp: xp.linalg.matrix_power(A, -2)),
    ("linalg.qr_r", lambda xp: np.abs(np.asarray(xp.linalg.qr(M, mode="r")))),
    ("linalg.qr_complete", lambda xp: tuple(np.abs(np.asarray(q)) for q in xp.linalg.qr(M[0].T, mode="complete"))),
    ("linalg.svd_full", lambda xp: tuple(np.abs(np.asarray(q)) for q in xp.linalg.svd(M[0], full_matrices=True))),
    ("linalg.eigh", lambda xp: (np.asarray(xp.linalg.eigh(SPD).eigenvalues),
                                np.abs(np.asarray(xp.linalg.eigh(SPD).eigenvectors)))),
]


@pytest.mark.parametrize("name,fn", CASES, ids=[c[0] for c in CASES])
def test_array_api_function_matches_numpy(name, fn):
    want, got = fn(np), fn(jnp)
    want, got = (want, got) if isinstance(want, tuple) else ((want,), (got,))
    assert len(want) == len(got)
    for w, g in zip(want, got):
        w, g = np.asarray(w), np.asarray(g)
        assert g.shape == w.shape
        if w.dtype.kind in "biu":
            assert g.dtype.kind == w.dtype.kind
            np.testing.assert_array_equal(g, w)
        else:
            np.testing.assert_allclose(g, w, rtol=2e-5, atol=2e-6)


def test_sort_and_argsort_descending():
    np.testing.assert_array_equal(jnp.sort(V, descending=True), np.sort(V)[::-1])
    # stable and descending: equal keys keep their order (the two 1s at positions 1 and 3)
    np.testing.assert_array_equal(jnp.argsort(I, descending=True, stable=True), np.argsort(-I, stable=True))
    np.testing.assert_array_equal(jnp.argsort(M, axis=1, descending=True), np.argsort(-M, axis=1, stable=True))


def test_namespace_version_and_array_namespace():
    assert jnp.__array_api_version__ == "2023.12"
    x = jnp.ones((2, 3))
    assert x.__array_namespace__() is jnp and x.__array_namespace__(api_version="2023.12") is jnp
    with pytest.raises(ValueError, match="api_version='1999.01' is not available"):
        x.__array_namespace__(api_version="1999.01")
    assert portax.jit(lambda y: y.mT)(x).shape == (3, 2)


def test_namespace_info(x64):
    info = jnp.__array_namespace_info__()
    assert info.capabilities()["data-dependent shapes"] is False
    assert info.default_device() == portax.devices()[0] and info.devices() == portax.devices()
    defaults = info.default_dtypes()
    assert defaults["real floating"] == np.float64 and defaults["indexing"] == np.int64
    assert set(info.dtypes(kind="integral")) == {"int8", "int16", "int32", "int64", "uint8", "uint16", "uint32",
                                                 "uint64"}
    assert set(info.dtypes(kind=("bool", "real floating"))) == {"bool", "float32", "float64"}
    with pytest.raises(ValueError, match="unknown dtype kind"):
        info.dtypes(kind="fancy")


def test_namespace_info_without_x64():
    info = jnp.__array_namespace_info__()
    assert info.default_dtypes()["integral"] == np.int32
    assert set(info.dtypes(kind="real floating")) == {"float32"}


CREATION = [
    ("asarray", lambda d: jnp.asarray([1.0, 2.0], device=d)), ("array", lambda d: jnp.array([1, 2], device=d)),
    ("zeros", lambda d: jnp.zeros(3, device=d)), ("ones", lambda d: jnp.ones((2, 2), device=d)),
    ("empty", lambda d: jnp.empty(2, device=d)), ("full", lambda d: jnp.full(2, 7, device=d)),
    ("zeros_like", lambda d: jnp.zeros_like(V, device=d)), ("ones_like", lambda d: jnp.ones_like(V, device=d)),
    ("empty_like", lambda d: jnp.empty_like(V, device=d)), ("full_like", lambda d: jnp.full_like(V, 2, device=d)),
    ("arange", lambda d: jnp.arange(1, 7, 2, device=d)), ("linspace", lambda d: jnp.linspace(0, 1, 4, device=d)),
    ("eye", lambda d: jnp.eye(2, 3, k=1, device=d)), ("from_dlpack", lambda d: jnp.from_dlpack(V, device=d)),
]


@pytest.mark.parametrize("name,make", CREATION, ids=[c[0] for c in CREATION])
def test_creation_functions_take_device(name, make):
    ref = portax.devices("reference")[0]
    assert make(ref).device == ref
    assert make(None).device == portax.devices()[0]
    np.testing.assert_array_equal(make(ref), make(None))
    assert inspect.signature(getattr(jnp, name)).parameters["device"].kind is inspect.Parameter.KEYWORD_ONLY


def test_to_device_dlpack_and_immutability():
    ref = portax.devices("reference")[0]
    x = jnp.arange(6.0).reshape(2, 3)
    y = x.to_device(ref)
    assert y.device == ref
    np.testing.assert_array_equal(y, x)
    with pytest.raises(NotImplementedError, match="stream"):
        x.to_device(ref, stream=1)
    np.testing.assert_array_equal(np.from_dlpack(x), np.arange(6.0).reshape(2, 3))
    assert x.__dlpack__(max_version=(1, 0)) is not None and x.__dlpack__() is not None  # DLPack 1.0 and legacy
    with pytest.raises(TypeError, match=r"immutable.*x\.at\[idx\]\.set\(y\)"):
        x[0, 0] = 1.0


def test_cumulative_errors_and_reshape_copy():
    with pytest.raises(ValueError, match="must be non-scalar to take a cumulative sum"):
        jnp.cumulative_sum(jnp.float32(1.0))
    with pytest.raises(ValueError, match="axis was not set to an explicit value"):
        jnp.cumulative_prod(jnp.ones((2, 2)))
    assert jnp.cumulative_sum(jnp.ones((2, 3), jnp.int8), axis=-1, dtype=jnp.float32).dtype == np.float32
    np.testing.assert_array_equal(jnp.reshape(jnp.arange(6), (2, 3), copy=True), np.arange(6).reshape(2, 3))


def test_vecdot_keeps_dtype_and_checks_axes():
    u8 = np.array([[1, 2, 3]], np.uint8)
    assert jnp.vecdot(u8, u8).dtype == np.uint8 and jnp.linalg.vecdot(u8, u8).dtype == np.uint8
    np.testing.assert_allclose(jnp.vecdot(M, M[0], axis=-2), np.linalg.vecdot(M, M[0], axis=-2), rtol=1e-5)
    with pytest.raises(ValueError, match="axes must match"):
        jnp.vecdot(np.ones((2, 3)), np.ones((3, 2)), axis=0)


def test_vecdot_conjugates_the_first_argument():
    a = (M + 1j * M[::-1]).astype(np.complex64)
    b = (M[:, :, ::-1] - 0.5j * M).astype(np.complex64)
    for fn, ref in ((jnp.vecdot, np.vecdot), (jnp.linalg.vecdot, np.linalg.vecdot)):
        for axis in (-1, 1):
            out = fn(a, b, axis=axis)
            assert out.dtype == np.complex64
            np.testing.assert_allclose(out, np.sum(np.conj(a) * b, axis=axis), rtol=1e-5, atol=1e-6)
            np.testing.assert_allclose(out, ref(a, b, axis=axis), rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(fn(a[0], V), np.conj(a[0]) @ V, rtol=1e-5)  # complex with real
        np.testing.assert_allclose(fn(V, a[0]), a[0] @ V, rtol=1e-5)


def test_can_cast_scalar_types_and_empty_gathers():
    assert jnp.can_cast(np.bool_, np.bool_) and not jnp.can_cast(np.float32, np.int32)
    assert jnp.zeros((0, 3))[jnp.asarray([], jnp.int32)].shape == (0, 3)
    assert jnp.linalg.inv(jnp.ones((2, 0, 0))).shape == (2, 0, 0)
    assert jnp.repeat(jnp.asarray([], bool), jnp.asarray([], jnp.int8)).shape == (0,)


X = np.arange(12, dtype=np.float32).reshape(3, 4) - 5
IDX = np.array([1, 1, 2])

# jnp.<ufunc>.<method> against numpy's ufunc methods
UFUNC_CASES = [
    ("add.reduce", lambda xp: xp.add.reduce(X, axis=1)),
    ("multiply.reduce_keepdims", lambda xp: xp.multiply.reduce(X, axis=0, keepdims=True)),
    ("subtract.reduce", lambda xp: xp.subtract.reduce(X, axis=1)),
    ("maximum.reduce_initial", lambda xp: xp.maximum.reduce(X, axis=1, initial=2.0)),
    ("logaddexp.reduce_where", lambda xp: xp.logaddexp.reduce(X, axis=1, where=X > -2)),
    ("bitwise_xor.reduce", lambda xp: xp.bitwise_xor.reduce(U, axis=1)),
    ("logical_and.reduce", lambda xp: xp.logical_and.reduce(X > -3, axis=0)),
    ("subtract.accumulate", lambda xp: xp.subtract.accumulate(X, axis=1)),
    ("maximum.accumulate", lambda xp: xp.maximum.accumulate(X[::-1], axis=0)),
    ("add.accumulate", lambda xp: xp.add.accumulate(X, axis=1)),
    ("multiply.outer", lambda xp: xp.multiply.outer(X[0], U)),
    ("add.reduceat", lambda xp: xp.add.reduceat(X, np.array([0, 2, 1]), axis=1)),
    ("subtract.reduceat", lambda xp: xp.subtract.reduceat(X, np.array([0, 3]), axis=1)),
]


@pytest.mark.parametrize("name,fn", UFUNC_CASES, ids=[c[0] for c in UFUNC_CASES])
def test_ufunc_methods_match_numpy(name, fn):
    want, got = np.asarray(fn(np)), fn(jnp)
    assert got.shape == want.shape and got.dtype.kind == want.dtype.kind
    np.testing.assert_allclose(got, want, rtol=1e-6)


@pytest.mark.parametrize("name", ["add", "subtract", "maximum", "logaddexp"])
def test_ufunc_at_applies_repeated_indices(name):
    want = X.copy()
    getattr(np, name).at(want, (0, IDX), np.float32(3.0))
    got = getattr(jnp, name).at(X, (0, IDX), 3.0, inplace=False)
    np.testing.assert_allclose(got, want, rtol=1e-6)
    with pytest.raises(NotImplementedError, match="inplace=False"):
        getattr(jnp, name).at(X, (0, IDX), 3.0)


def test_frompyfunc_and_ufunc_objects():
    assert isinstance(jnp.add, jnp.ufunc) and (jnp.add.nin, jnp.add.nout, jnp.add.identity) == (2, 1, 0)
    assert repr(jnp.subtract) == "<jnp.ufunc 'subtract'>"
    np.testing.assert_allclose(jnp.subtract.reduce(X, axis=None), np.subtract.reduce(X.ravel()))  # as JAX
    f = jnp.frompyfunc(lambda a, b: a * b + 1, 2, 1)
    np.testing.assert_allclose(f(X, 2.0), X * 2 + 1)
    want = X[0]
    for row in X[1:]:
        want = want * row + 1
    np.testing.assert_allclose(f.reduce(X, axis=0), want)
    np.testing.assert_allclose(portax.jit(lambda x: f.accumulate(x, axis=1))(X)[:, -1],
                               ((X[:, 0] * X[:, 1] + 1) * X[:, 2] + 1) * X[:, 3] + 1)
    np.testing.assert_allclose(jnp.negative.at(X, np.array([0, 0]), inplace=False)[0], X[0])
    with pytest.raises(ValueError, match="no identity"):
        f.reduce(np.zeros((0, 2), np.float32))
    with pytest.raises(ValueError, match="does not have an identity"):
        f.reduce(X, where=X > 0)
    with pytest.raises(ValueError, match="only supported for binary ufuncs"):
        jnp.negative.reduce(X)
