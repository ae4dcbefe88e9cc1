"""Creation, reshaping/joining/splitting, indexing and .at updates, sorting and set operations, polynomials
and windows of portax.numpy against numpy."""
import numpy as np
import pytest

import portax
import portax.numpy as jnp
from portax.errors import NonConcreteBooleanIndexError
from portax.test_util import check_grads

RNG = np.random.RandomState(0)
A = RNG.randn(3, 4, 5).astype(np.float32)
M = np.arange(12.0, dtype=np.float32).reshape(3, 4)


def _eq(out, ref):
    out = np.asarray(out)
    assert out.shape == np.shape(ref), (out.shape, np.shape(ref))
    np.testing.assert_allclose(out, ref, rtol=1e-6, atol=1e-6)


CREATION = [
    ("zeros", ((2, 3),), {}), ("ones", (4,), {"dtype": np.int32}), ("full", ((2, 2), 7.5), {}),
    ("eye", (3,), {"k": 1}), ("eye", (3, 5), {"k": -1}), ("identity", (4,), {}), ("tri", (3, 4), {"k": 1}),
    ("arange", (5,), {}), ("arange", (2, 11, 3), {}), ("arange", (0.0, 1.0, 0.25), {}),
    ("linspace", (0.0, 1.0, 7), {}), ("linspace", (2.0, 3.0, 5), {"endpoint": False}),
    ("logspace", (0.0, 2.0, 5), {}), ("geomspace", (1.0, 1000.0, 4), {}), ("geomspace", (-2.0, -32.0, 5), {}),
    ("indices", ((2, 3),), {}), ("tri", (4,), {}),
]


@pytest.mark.parametrize("name,args,kw", CREATION, ids=[c[0] for c in CREATION])
def test_creation(name, args, kw):
    out, ref = getattr(jnp, name)(*args, **kw), getattr(np, name)(*args, **kw)
    _eq(out, ref)
    if ref.dtype.kind == "f":
        assert out.dtype == jnp.float32
    elif "dtype" in kw:
        assert out.dtype == kw["dtype"]


def test_like_meshgrid_mgrid():
    _eq(jnp.zeros_like(M), np.zeros_like(M))
    _eq(jnp.full_like(M, 3, dtype=jnp.int32), np.full_like(M, 3, dtype=np.int32))
    for indexing in ("xy", "ij"):
        for got, want in zip(jnp.meshgrid(np.arange(3), np.arange(4.0), indexing=indexing),
                             np.meshgrid(np.arange(3), np.arange(4.0), indexing=indexing)):
            _eq(got, want)
    _eq(jnp.mgrid[0:3, 1:5:2], np.mgrid[0:3, 1:5:2])
    _eq(jnp.mgrid[0:1:5j], np.mgrid[0:1:5j])
    for got, want in zip(jnp.ogrid[0:2, 0:3], np.ogrid[0:2, 0:3]):
        _eq(got, want)
    _eq(jnp.r_[np.array([1, 2]), 0, 3:6], np.r_[np.array([1, 2]), 0, 3:6])
    _eq(jnp.c_[np.array([1, 2]), np.array([3, 4])], np.c_[np.array([1, 2]), np.array([3, 4])])
    _eq(jnp.fromfunction(lambda i, j: i * 10 + j, (2, 3)), np.fromfunction(lambda i, j: i * 10 + j, (2, 3)))



@pytest.mark.parametrize("make", [lambda x: jnp.zeros_like(x), lambda x: jnp.ones_like(x),
                                  lambda x: jnp.full_like(x, 7), lambda x: portax.lax.full_like(x, 7)],
                         ids=["zeros_like", "ones_like", "full_like", "lax.full_like"])
def test_made_like_a_weakly_typed_value_is_weakly_typed_as_jax(make):
    for x, weak in [(1.0, True), (3, True), (jnp.asarray(2.0), True), (np.float32(2), False), (jnp.ones(3), False)]:
        out = make(x)
        assert out.weak_type == weak, (x, out)
        assert out.dtype == jnp.result_type(x)


def test_lax_full_needs_a_scalar_fill_value():
    for f in (lambda: portax.lax.full((3,), np.ones(2)), lambda: portax.lax.full_like(M, np.ones(2))):
        with pytest.raises(TypeError, match=r"full must be called with scalar fill_value, got fill_value.shape \(2,\)"):
            f()

PAD_MODES = ("constant", "edge", "reflect", "symmetric", "wrap")
SHAPES = [
    ("reshape", lambda m: (m.reshape(6, -1),), lambda x: x.reshape(6, -1)),
    ("reshape_F", lambda m: (jnp.reshape(m, (4, 3), order="F"),), lambda x: np.reshape(x, (4, 3), order="F")),
    ("ravel", lambda m: (jnp.ravel(m),), np.ravel),
    ("transpose", lambda m: (jnp.transpose(m),), np.transpose),
    ("moveaxis", lambda m: (jnp.moveaxis(m[None], 0, -1),), lambda x: np.moveaxis(x[None], 0, -1)),
    ("swapaxes", lambda m: (jnp.swapaxes(m, 0, 1),), lambda x: np.swapaxes(x, 0, 1)),
    ("rollaxis", lambda m: (jnp.rollaxis(m[None], 2),), lambda x: np.rollaxis(x[None], 2)),
    ("expand_dims", lambda m: (jnp.expand_dims(m, (0, 3)),), lambda x: np.expand_dims(x, (0, 3))),
    ("squeeze", lambda m: (jnp.squeeze(m[None, :, None]),), lambda x: np.squeeze(x[None, :, None])),
    ("flip", lambda m: (jnp.flip(m, 1), jnp.fliplr(m), jnp.flipud(m)),
     lambda x: (np.flip(x, 1), np.fliplr(x), np.flipud(x))),
    ("rot90", lambda m: (jnp.rot90(m), jnp.rot90(m, 3)), lambda x: (np.rot90(x), np.rot90(x, 3))),
    ("roll", lambda m: (jnp.roll(m, 2), jnp.roll(m, (1, -1), (0, 1))), lambda x: (np.roll(x, 2),
                                                                                  np.roll(x, (1, -1), (0, 1)))),
    ("tile", lambda m: (jnp.tile(m, (2, 1, 2)),), lambda x: np.tile(x, (2, 1, 2))),
    ("repeat", lambda m: (jnp.repeat(m, 2, axis=0), jnp.repeat(m, np.array([1, 0, 3]), axis=0)),
     lambda x: (np.repeat(x, 2, axis=0), np.repeat(x, [1, 0, 3], axis=0))),
    ("resize", lambda m: (jnp.resize(m, (5, 5)),), lambda x: np.resize(x, (5, 5))),
    ("broadcast_to", lambda m: (jnp.broadcast_to(m[0], (2, 4)),), lambda x: np.broadcast_to(x[0], (2, 4))),
    ("atleast", lambda m: (jnp.atleast_1d(1.0), jnp.atleast_2d(m[0]), jnp.atleast_3d(m)),
     lambda x: (np.atleast_1d(1.0), np.atleast_2d(x[0]), np.atleast_3d(x))),
    ("concatenate", lambda m: (jnp.concatenate([m, m * 2], 1), jnp.concatenate([m, m], None)),
     lambda x: (np.concatenate([x, x * 2], 1), np.concatenate([x, x], None))),
    ("stack", lambda m: (jnp.stack([m, m], -1), jnp.hstack([m, m]), jnp.vstack([m, m]), jnp.dstack([m, m]),
                         jnp.column_stack([m[0], m[1]])),
     lambda x: (np.stack([x, x], -1), np.hstack([x, x]), np.vstack([x, x]), np.dstack([x, x]),
                np.column_stack([x[0], x[1]]))),
    ("split", lambda m: tuple(jnp.split(m, 2, axis=1)) + tuple(jnp.array_split(m, 3, axis=1)) +
     tuple(jnp.split(m, [1, 3], axis=1)),
     lambda x: tuple(np.split(x, 2, axis=1)) + tuple(np.array_split(x, 3, axis=1)) +
     tuple(np.split(x, [1, 3], axis=1))),
    ("hsplit", lambda m: tuple(jnp.hsplit(m, 2)) + tuple(jnp.vsplit(m, 3)), lambda x: tuple(np.hsplit(x, 2)) +
     tuple(np.vsplit(x, 3))),
    ("append", lambda m: (jnp.append(m, m[:1], axis=0), jnp.append(m, 5.0)),
     lambda x: (np.append(x, x[:1], axis=0), np.append(x, 5.0))),
    ("block", lambda m: (jnp.block([[m, m], [m, m]]),), lambda x: np.block([[x, x], [x, x]])),
    ("pad", lambda m: tuple(jnp.pad(m, ((1, 2), (0, 3)), mode=mode) for mode in PAD_MODES),
     lambda x: tuple(np.pad(x, ((1, 2), (0, 3)), mode=mode) for mode in PAD_MODES)),
    ("unstack", lambda m: jnp.unstack(m, axis=1), lambda x: tuple(np.moveaxis(x, 1, 0))),
    ("insert_delete", lambda m: (jnp.insert(m, 1, 9.0, axis=1), jnp.insert(m, [0, 2], np.array([7.0, 8.0]), axis=1),
                                 jnp.delete(m, [0, 2], axis=1), jnp.delete(m, slice(None, None, 2))),
     lambda x: (np.insert(x, 1, 9.0, axis=1), np.insert(x, [0, 2], [7.0, 8.0], axis=1), np.delete(x, [0, 2], axis=1),
                np.delete(x, slice(None, None, 2)))),
    ("trim_zeros", lambda m: (jnp.trim_zeros(np.array([0, 0, 1, 2, 0])), jnp.trim_zeros(np.array([0, 1, 0]), "f")),
     lambda x: (np.trim_zeros(np.array([0, 0, 1, 2, 0])), np.trim_zeros(np.array([0, 1, 0]), "f"))),
]


def test_argsort_dtype_arange_complex_and_empty_argmax_as_jax():
    x = np.array([3.0, 1.0, 2.0])
    out = jnp.argsort(x, dtype=jnp.int16)
    assert out.dtype == jnp.int16 and out.tolist() == [1, 2, 0]
    with pytest.raises(TypeError, match="'kind' argument to argsort is not supported"):
        jnp.argsort(x, kind="stable")
    for args in ((1 + 2j, 5 + 3j), (0, 5, 1 + 1j)):
        with pytest.raises(ValueError, match="Passing complex start/stop/step to jnp.arange is no longer supported"):
            jnp.arange(*args)
    for fn, name in ((jnp.argmax, "argmax"), (jnp.argmin, "argmin")):
        with pytest.raises(ValueError, match=f"attempt to get {name} of an empty sequence"):
            fn(jnp.zeros((0,)))


@pytest.mark.parametrize("axis", [0, 1, 2, -1, -2])
def test_geomspace_axis(axis):
    start, stop = np.array([1.0, 2.0]), np.array([[10.0, 20.0], [5.0, 6.0]])
    np.testing.assert_allclose(jnp.geomspace(start, stop, 5, axis=axis), np.geomspace(start, stop, 5, axis=axis),
                               rtol=1e-5)


@pytest.mark.parametrize("shift,axis", [(1, 1), (-5, 0), ([2, -1], (0, 1)), (7, None)])
def test_roll_traced_shift(shift, axis):
    x = np.arange(12).reshape(3, 4)
    f = portax.jit(lambda a, s: jnp.roll(a, s, axis=axis))
    np.testing.assert_array_equal(f(x, np.asarray(shift)), np.roll(x, shift, axis=axis))


def test_eye_traced_k():
    f = portax.jit(lambda k: jnp.eye(4, 3, k=k))
    for k in (-2, 0, 1):
        np.testing.assert_array_equal(f(k), np.eye(4, 3, k=k))


@pytest.mark.parametrize("obj,axis", [([0, 3], 1), (np.array([[5], [1]]), None), (np.array([-1, 0]), 0),
                                      (np.zeros((3, 0), int), 1)])
def test_delete_unique_indices_under_jit(obj, axis):
    x = np.arange(24).reshape(4, 6)
    f = portax.jit(lambda a, o: jnp.delete(a, o, axis=axis, assume_unique_indices=True))
    np.testing.assert_array_equal(f(x, np.asarray(obj)), np.delete(x, obj, axis=axis))


@pytest.mark.parametrize("name,got,want", SHAPES, ids=[s[0] for s in SHAPES])
def test_shape_functions(name, got, want):
    outs, refs = got(M), want(M)
    refs = refs if isinstance(refs, tuple) else (refs,)
    assert len(outs) == len(refs)
    for o, r in zip(outs, refs):
        _eq(o, r)


INDEXES = [
    (1,), (-1, 2), (slice(1, None),), (slice(None, None, -1),), (slice(4, 0, -2), Ellipsis), (Ellipsis, 1),
    (None, 0, None), (np.array([2, 0, 2]),), (np.array([[0, 1], [2, 2]]), slice(None), np.array([1, 0])),
    (slice(None), np.array([3, 1]), 2), (1, np.array([0, 3]), np.array([4, -1])), (A[0, 0, 0] > 0,),
    (A[:, :, 0] > 0,), (A > 0.5,), (np.array([True, False, True]), 1), (0, slice(None), np.array([True] * 5)),
]


@pytest.mark.parametrize("idx", INDEXES, ids=range(len(INDEXES)))
def test_getitem(idx):
    _eq(jnp.asarray(A)[idx], A[idx])


def test_dynamic_and_jit_indexing():
    f = portax.jit(lambda x, i: x[i, 1:3])
    _eq(f(A, 2), A[2, 1:3])
    _eq(portax.jit(lambda x, i: x[i])(A, np.array([1, 0])), A[[1, 0]])
    with pytest.raises(NonConcreteBooleanIndexError):
        portax.jit(lambda x: x[x > 0])(A)
    _eq(jnp.asarray(A)[3, -9], A[2, 0])  # out-of-bounds reads clamp, as JAX's gather
    assert jnp.asarray(A)[False].shape == (0,) + A.shape and jnp.asarray(A)[1, True].shape == (1, 4, 5)


AT_CASES = [(np.s_[1], "set"), (np.s_[:, 2], "add"), (np.s_[np.array([0, 2, 0])], "add"), (np.s_[1, :, 3], "mul"),
            (np.s_[np.array([1, 1]), 0], "min"), (np.s_[..., 4], "max"), (np.s_[A > 1.0], "set")]


@pytest.mark.parametrize("idx,op", AT_CASES, ids=[op for _, op in AT_CASES])
def test_at_updates(idx, op):
    ref = A.copy()
    vals = np.float32(2.5)
    if op == "set":
        ref[idx] = vals
    else:
        ufunc = {"add": np.add, "mul": np.multiply, "min": np.minimum, "max": np.maximum}[op]
        ufunc.at(ref, idx, vals)
    _eq(getattr(jnp.asarray(A).at[idx], op)(vals), ref)


def test_at_get_modes_and_gradient(x64):
    x = jnp.arange(5.0)
    _eq(x.at[np.array([1, 7])].get(mode="fill", fill_value=-1.0), [1.0, -1.0])
    _eq(x.at[7].add(1.0, mode="drop"), np.arange(5.0))
    _eq(x.at[1:3].subtract(1.0), [0, 0, 1, 3, 4])
    _eq(x.at[2].divide(4.0), [0, 1, 0.5, 3, 4])
    _eq(x.at[2].power(3), [0, 1, 8, 3, 4])
    _eq(x.at[::2].apply(lambda v: -v), [0, 1, -2, 3, -4])
    check_grads(lambda v: jnp.asarray(v).at[np.array([0, 2, 0])].add(v[1] * v[3]), (np.arange(1.0, 5.0),), order=2)
    check_grads(lambda v: jnp.asarray(v).at[1:3].set(v[0] ** 2), (np.arange(1.0, 5.0),), order=1)
    check_grads(lambda v: jnp.asarray(v)[np.array([[3, 0], [1, 1]])] * v[2], (np.arange(1.0, 5.0),), order=2)


def test_at_divide_and_power_as_jax():
    """JAX's ``.at[i].divide(v)`` is ``x / ones.at[i].mul(v)`` (``power`` likewise): a true division, not a product
    with ``1/v`` (which rounded 32 of these 99 quotients differently), float for an integer array, and a repeated
    index divides (raises) twice."""
    x = np.arange(1, 100, dtype=np.float32)
    np.testing.assert_array_equal(np.asarray(jnp.asarray(x).at[:].divide(3.)), x / np.float32(3))
    _eq(jnp.arange(5.).at[np.array([2, 2])].power(2.), [0, 1, 16, 3, 4])
    _eq(jnp.arange(5.).at[np.array([2, 2])].divide(2.), [0, 1, 0.5, 3, 4])
    r = jnp.arange(5).at[1].divide(2)
    assert r.dtype == np.float32
    _eq(r, [0, 0.5, 2, 3, 4])
    _eq(jnp.arange(5).at[np.array([2, 2])].power(2), [0, 1, 16, 3, 4])


def test_at_update_gradient_of_an_empty_array():
    """``.at[i]`` of a zero-size array scatters into the flattened (empty) operand; its transpose gathered
    windows of size 1 from it and raised TypeError."""
    f = lambda x, u: jnp.sum(jnp.asarray(x).at[-1].set(u))
    gx, gu = portax.grad(f, argnums=(0, 1))(np.zeros((2, 0), np.float32), np.zeros((0,), np.float32))
    assert gx.shape == (2, 0) and gu.shape == (0,)
    gx, gu = portax.jit(portax.grad(lambda x, u: jnp.sum(jnp.asarray(x).at[0].add(u)), argnums=(0, 1)))(
        np.zeros((1, 0), np.float32), np.zeros((0,), np.float32))
    assert gx.shape == (1, 0) and gu.shape == (0,)


def test_take_and_put():
    idx = np.array([[0, 2], [1, 1]])
    _eq(jnp.take(A, idx, axis=1), np.take(A, idx, axis=1))
    _eq(jnp.take(A, np.array([3, 200]), mode="clip"), np.take(A, [3, 200], mode="clip"))
    _eq(jnp.take(A, np.array([3, 59])), np.take(A, [3, 59]))
    order = np.argsort(A, axis=2)
    _eq(jnp.take_along_axis(A, order, axis=2), np.take_along_axis(A, order, axis=2))
    _eq(jnp.take_along_axis(A, order[:, :, :2], axis=-1), np.take_along_axis(A, order[:, :, :2], axis=-1))
    ref = M.copy()
    np.put(ref, [0, 5, -1], [9.0, 8.0])
    _eq(jnp.put(M, np.array([0, 5, -1]), np.array([9.0, 8.0]), inplace=False), ref)
    ref = M.copy()
    np.put_along_axis(ref, np.array([[1], [0], [3]]), 0.5, axis=1)
    _eq(jnp.put_along_axis(M, np.array([[1], [0], [3]]), 0.5, axis=1, inplace=False), ref)
    with pytest.raises(ValueError, match="inplace=False"):
        jnp.put(M, 0, 1.0)
    ref = M.copy()
    np.place(ref, ref > 6, [1.0, 2.0])
    _eq(jnp.place(M, M > 6, np.array([1.0, 2.0]), inplace=False), ref)
    ref = np.zeros((4, 4))
    np.fill_diagonal(ref, [1.0, 2.0])
    _eq(jnp.fill_diagonal(np.zeros((4, 4)), np.array([1.0, 2.0]), inplace=False), ref)


def test_choose_compress_extract():
    choices = [M, M * 10, M * 100]
    a = np.array([[0, 1, 2, 1]] * 3)
    _eq(jnp.choose(a, choices), np.choose(a, choices))
    _eq(jnp.choose(a + 2, choices, mode="wrap"), np.choose(a + 2, choices, mode="wrap"))
    _eq(jnp.compress([True, False, True], M, axis=0), np.compress([True, False, True], M, axis=0))
    _eq(jnp.compress(np.array([False, True]), M, axis=1, size=3, fill_value=-1.0),
        np.array([[1.0, -1, -1], [5, -1, -1], [9, -1, -1]]))
    _eq(jnp.extract(M > 5, M), np.extract(M > 5, M))


def test_index_helpers():
    for got, want in [(jnp.tril_indices(4, -1), np.tril_indices(4, -1)), (jnp.triu_indices(3, 1, 5),
                                                                          np.triu_indices(3, 1, 5)),
                      (jnp.diag_indices(3), np.diag_indices(3)), (jnp.tril_indices_from(M), np.tril_indices_from(M)),
                      (jnp.triu_indices_from(M, 1), np.triu_indices_from(M, 1)),
                      (jnp.mask_indices(3, np.triu), np.mask_indices(3, np.triu)),
                      (jnp.unravel_index(np.array([1, 7, 11]), (3, 4)), np.unravel_index([1, 7, 11], (3, 4))),
                      (jnp.ix_(np.array([0, 2]), np.array([1, 3])), np.ix_([0, 2], [1, 3]))]:
        for g, w in zip(got, want):
            _eq(g, w)
    _eq(jnp.ravel_multi_index((np.array([0, 2]), np.array([3, 1])), (3, 4)),
        np.ravel_multi_index(([0, 2], [3, 1]), (3, 4)))
    _eq(jnp.ravel_multi_index((np.array([5, 2]), np.array([3, 9])), (3, 4), mode="clip"),
        np.ravel_multi_index(([5, 2], [3, 9]), (3, 4), mode="clip"))
    _eq(jnp.diag(M), np.diag(M))
    _eq(jnp.diag(np.arange(3.0), k=-1), np.diag(np.arange(3.0), k=-1))
    _eq(jnp.diagflat(np.arange(2.0), 1), np.diagflat(np.arange(2.0), 1))
    _eq(jnp.diagonal(A, 1, 0, 2), np.diagonal(A, 1, 0, 2))
    _eq(jnp.tril(A, -1), np.tril(A, -1))
    _eq(jnp.triu(M, 1), np.triu(M, 1))
    _eq(jnp.apply_along_axis(lambda v: v.sum() * v, 1, A), np.apply_along_axis(lambda v: v.sum() * v, 1, A))
    _eq(jnp.apply_over_axes(jnp.sum, A, (0, 2)), np.apply_over_axes(np.sum, A, (0, 2)))


@pytest.mark.parametrize("axis", [None, 0, -1])
@pytest.mark.parametrize("descending", [False, True])
def test_sort_argsort(axis, descending):
    x = RNG.randint(0, 4, (3, 6)).astype(np.float32)
    ref_sort = np.sort(x, axis=axis)
    ref_arg = np.argsort(x, axis=axis, stable=True)
    if descending:
        ref_sort = np.flip(ref_sort, axis=-1 if axis is None else axis)
        ref_arg = np.argsort(-x, axis=axis, stable=True)
    _eq(jnp.sort(x, axis=axis, descending=descending), ref_sort)
    _eq(jnp.argsort(x, axis=axis, descending=descending), ref_arg)


def test_sort_ties_signed_zeros_and_nans_as_jax():
    # JAX's sort comparator makes -0.0 and +0.0 equal keys and every NaN one NaN (numpy agrees for zeros)
    x = np.array([0.0, -0.0, 0.0, -0.0, np.nan, -np.nan, 1.0, -1.0], np.float32)
    np.testing.assert_array_equal(jnp.argsort(x), np.argsort(x, stable=True))
    np.testing.assert_array_equal(np.signbit(jnp.sort(x)), np.signbit(x[np.argsort(x, stable=True)]))
    np.testing.assert_array_equal(jnp.argsort(x, descending=True), [4, 5, 6, 0, 1, 2, 3, 7])  # NaNs first
    np.testing.assert_array_equal(portax.jit(jnp.argsort)(x), np.argsort(x, stable=True))
    ints = np.array([-2 ** 31, 0, 5, 0, 2 ** 31 - 1], np.int32)  # -x overflows for the minimum
    np.testing.assert_array_equal(jnp.argsort(ints, descending=True), [4, 2, 1, 3, 0])
    z = np.array([1 + 0j, complex(1, -0.0), complex(-0.0, 1), 1j, 1 + 0j], np.complex64)
    np.testing.assert_array_equal(jnp.argsort(z), np.argsort(z, stable=True))
    np.testing.assert_array_equal(portax.grad(lambda v: jnp.sort(v) @ jnp.arange(4.0))(np.array([0.0, -0.0, 2.0, 0.0])),
                                  [0.0, 1.0, 3.0, 2.0])


def test_searchsorted_lexsort_partition():
    a = np.array([0.0, 1.0, 1.0, 2.5, 4.0])
    v = np.array([-1.0, 1.0, 2.0, 4.0, 9.0])
    for side in ("left", "right"):
        _eq(jnp.searchsorted(a, v, side=side), np.searchsorted(a, v, side=side))
    perm = np.array([4, 0, 2, 1, 3])
    sorter = np.argsort(a[perm])
    _eq(jnp.searchsorted(a[perm], v, sorter=sorter), np.searchsorted(a[perm], v, sorter=sorter))
    k1, k2 = np.array([1, 0, 1, 0, 2]), np.array([3.0, 1.0, 2.0, 1.0, 0.0])
    _eq(jnp.lexsort((k2, k1)), np.lexsort((k2, k1)))
    x = RNG.randn(10).astype(np.float32)
    part = np.asarray(jnp.partition(x, 3))
    assert (part[:3] <= part[3]).all() and (part[4:] >= part[3]).all()
    idx = np.asarray(jnp.argpartition(x, 3))
    assert (x[idx[:3]] <= x[idx[3]]).all()


def test_nonzero_where_argwhere():
    x = np.array([[0, 2, 0], [3, 0, 4]])
    for g, w in zip(jnp.nonzero(x), np.nonzero(x)):
        _eq(g, w)
    _eq(jnp.argwhere(x), np.argwhere(x))
    _eq(jnp.flatnonzero(x), np.flatnonzero(x))
    rows, cols = portax.jit(lambda v: jnp.nonzero(v, size=4, fill_value=-1))(x)
    _eq(rows, [0, 1, 1, -1])
    _eq(cols, [1, 0, 2, -1])


UNIQUE_INPUT = np.array([3, 1, 2, 3, 1, 1, 7, 2])


def test_unique_variants():
    vals, idx, inv, cnt = jnp.unique(UNIQUE_INPUT, return_index=True, return_inverse=True, return_counts=True)
    rvals, ridx, rinv, rcnt = np.unique(UNIQUE_INPUT, return_index=True, return_inverse=True, return_counts=True)
    for g, w in ((vals, rvals), (idx, ridx), (inv, rinv), (cnt, rcnt)):
        _eq(g, w)
    x2 = np.array([[1, 2], [0, 5], [1, 2], [0, 5], [0, 1]])
    _eq(jnp.unique(x2, axis=0), np.unique(x2, axis=0))
    f = np.array([1.0, np.nan, 2.0, np.nan])
    _eq(jnp.unique(f), np.unique(f))
    padded = portax.jit(lambda v: jnp.unique(v, size=6, fill_value=-1))(UNIQUE_INPUT)
    _eq(padded, [1, 2, 3, 7, -1, -1])
    _eq(jnp.unique_values(UNIQUE_INPUT), rvals)
    _eq(jnp.unique_counts(UNIQUE_INPUT).counts, rcnt)
    _eq(jnp.unique_inverse(UNIQUE_INPUT).inverse_indices, rinv)
    _eq(jnp.unique_all(UNIQUE_INPUT).indices, ridx)


def test_set_operations():
    a, b = np.array([5, 1, 3, 3, 9, 2]), np.array([3, 4, 9, 9, 0])
    for name in ("union1d", "intersect1d", "setdiff1d", "setxor1d"):
        _eq(getattr(jnp, name)(a, b), getattr(np, name)(a, b))
    vals, ia, ib = jnp.intersect1d(a, b, return_indices=True)
    rvals, ria, rib = np.intersect1d(a, b, return_indices=True)
    _eq(vals, rvals)
    _eq(ia, ria)
    _eq(ib, rib)
    _eq(jnp.isin(a, b), np.isin(a, b))
    _eq(jnp.isin(a, b, invert=True), np.isin(a, b, invert=True))
    _eq(portax.jit(lambda x, y: jnp.setdiff1d(x, y, size=5, fill_value=0))(a, b), [1, 2, 5, 0, 0])


def test_polynomials_and_windows():
    p, q = np.array([1.0, -2.0, 3.0]), np.array([2.0, 0.5])
    x = np.linspace(-1, 2, 5)
    for name in ("polyadd", "polysub", "polymul"):
        _eq(getattr(jnp, name)(p, q), getattr(np, name)(p, q))
    _eq(jnp.polyval(p, x), np.polyval(p, x))
    _eq(jnp.polyder(np.array([4.0, 3.0, 2.0, 1.0]), 2), np.polyder([4.0, 3.0, 2.0, 1.0], 2))
    _eq(jnp.polyint(p, 2, k=[1.0, 2.0]), np.polyint(p, 2, k=[1.0, 2.0]))
    quo, rem = jnp.polydiv(np.array([1.0, 0.0, -3.0, 2.0]), np.array([1.0, -1.0]))
    rquo, rrem = np.polydiv([1.0, 0.0, -3.0, 2.0], [1.0, -1.0])
    _eq(quo, rquo)
    np.testing.assert_allclose(np.asarray(rem)[-len(rrem):], rrem, atol=1e-6)
    _eq(jnp.poly(np.array([1.0, -2.0, 0.5])), np.poly([1.0, -2.0, 0.5]))
    xs = np.linspace(0, 1, 20)
    ys = 3 * xs ** 2 - xs + 0.5
    np.testing.assert_allclose(jnp.polyfit(xs, ys, 2), np.polyfit(xs, ys, 2), rtol=1e-4, atol=1e-4)
    _eq(jnp.vander(np.array([1.0, 2.0, 3.0]), 4), np.vander([1.0, 2.0, 3.0], 4))
    _eq(jnp.vander(np.array([1.0, 2.0]), increasing=True), np.vander([1.0, 2.0], increasing=True))
    for name in ("bartlett", "blackman", "hamming", "hanning"):
        np.testing.assert_allclose(getattr(jnp, name)(7), getattr(np, name)(7), atol=1e-6)
    np.testing.assert_allclose(jnp.kaiser(6, 4.0), np.kaiser(6, 4.0), rtol=1e-5)
    for coeffs in (p, np.array([0.0, 1.0, 0.0, 1.0]), np.array([1.0, -3.0, 2.0, 0.0, 0.0]), np.array([2.0])):
        np.testing.assert_allclose(np.sort_complex(np.asarray(jnp.roots(coeffs))), np.sort_complex(np.roots(coeffs)),
                                   rtol=1e-4, atol=1e-4)


def test_misc_functions():
    a, b = RNG.randn(4, 3), RNG.randn(4, 3)
    _eq(jnp.cross(a, b), np.cross(a, b))
    _eq(jnp.cross(a[:, :2], b[:, :2]), np.cross(a[:, :2], b[:, :2]))
    _eq(jnp.cross(a.T, b.T, axis=0), np.cross(a.T, b.T, axis=0))
    phase = np.cumsum(RNG.rand(20) * 2.5)
    _eq(jnp.unwrap(np.mod(phase, 2 * np.pi)), np.unwrap(np.mod(phase, 2 * np.pi)))
    bits = RNG.randint(0, 2, (3, 11)).astype(np.uint8)
    for order in ("big", "little"):
        _eq(jnp.packbits(bits, axis=1, bitorder=order), np.packbits(bits, axis=1, bitorder=order))
        packed = np.packbits(bits, bitorder=order)
        _eq(jnp.unpackbits(packed, bitorder=order), np.unpackbits(packed, bitorder=order))
    _eq(jnp.unpackbits(np.array([7, 200], np.uint8), count=10), np.unpackbits(np.array([7, 200], np.uint8), count=10))
    v = jnp.vectorize(lambda x, y: x * 2 + y)
    _eq(v(np.arange(3.0), np.ones((2, 1))), np.arange(3.0) * 2 + np.ones((2, 1)))
    matvec = jnp.vectorize(lambda m, x: m @ x, signature="(n,k),(k)->(n)")
    mats, vecs = RNG.randn(5, 2, 3), RNG.randn(5, 3)
    _eq(matvec(mats, vecs), np.einsum("bnk,bk->bn", mats, vecs))
    assert jnp.iterable([1]) and not jnp.iterable(1)
    assert jnp.isdtype(jnp.float32, "real floating") and not jnp.isdtype(jnp.int32, ("bool", "real floating"))


@pytest.mark.parametrize("side", ["left", "right"])
def test_searchsorted_puts_nans_last_as_numpy(side):
    """A NaN query goes after every number (numpy's and JAX's order); it used to count as before everything."""
    x = np.array([-np.inf, -1.0, 0.0, -0.0, 1.0, np.inf, np.nan, -np.nan], np.float32)
    want = np.searchsorted(x, x, side=side)
    np.testing.assert_array_equal(jnp.searchsorted(x, x, side=side), want)
    np.testing.assert_array_equal(portax.jit(lambda a, v: jnp.searchsorted(a, v, side=side))(x, x), want)


def test_full_python_scalar_takes_the_requested_dtype():
    """A Python scalar fill converts straight to the requested dtype as lax.full does (uint32 max used to overflow
    an int32 intermediate)."""
    u32max = int(np.iinfo(np.uint32).max)
    np.testing.assert_array_equal(jnp.full((2,), u32max, jnp.uint32), np.full((2,), u32max, np.uint32))
    out = jnp.full_like(jnp.zeros(3, jnp.uint32), u32max)
    assert out.dtype == np.uint32 and np.all(np.asarray(out) == u32max)
    assert jnp.full(2, 3, jnp.int8).dtype == np.int8 and not jnp.full(2, 3, jnp.int8).weak_type


def test_full_of_a_python_scalar_without_dtype_is_weakly_typed():
    """As JAX's ``lax.full``: ``jnp.full((2,), 2.)`` is ``~float32[2]`` (it was strongly typed)."""
    assert str(portax.typeof(jnp.full((2,), 2.))) == "~float32[2]"
    assert str(portax.typeof(jnp.full((2,), 2))) == "~int32[2]"
    assert str(portax.typeof(jnp.full((2,), np.float32(2)))) == "float32[2]"
    assert str(portax.typeof(jnp.full_like(jnp.ones(2), 2.))) == "float32[2]"
    assert (jnp.full((2,), 2.) + np.float16(1)).dtype == np.float16


def test_python_scalar_conversions_check_shape_and_dtype():
    import operator
    from portax.errors import ConcretizationTypeError, TracerBoolConversionError, TracerIntegerConversionError
    ints, empty, f0 = jnp.arange(10), jnp.arange(0), jnp.float32(0)
    for fn in (operator.index, hex, oct):
        for bad in (ints, empty, f0):
            with pytest.raises(TypeError, match="Only integer scalar arrays can be converted to a scalar index."):
                fn(bad)
            with pytest.raises(TypeError, match="Only integer scalar arrays can be converted to a scalar index."):
                portax.jit(fn)(bad)
        with pytest.raises(TracerIntegerConversionError):
            portax.jit(fn)(jnp.int32(3))
        assert fn(jnp.int32(3)) == fn(3)
    for fn in (int, float, complex):
        for bad in (ints, jnp.arange(1.0)):
            with pytest.raises(TypeError, match="Only scalar arrays can be converted to Python scalars"):
                fn(bad)
        with pytest.raises(TypeError, match="Only scalar arrays can be converted to Python scalars"):
            portax.jit(fn)(ints)
        with pytest.raises(ConcretizationTypeError):
            portax.jit(fn)(jnp.int32(3))
    for f in (bool, portax.jit(bool)):
        with pytest.raises(ValueError, match="The truth value of an empty array is ambiguous."):
            f(empty)
        with pytest.raises(ValueError, match="with more than one element is ambiguous"):
            f(ints)
    with pytest.raises(TracerBoolConversionError):
        portax.jit(bool)(jnp.int32(1))
    assert bool(jnp.int32(1)) and int(jnp.float32(2.5)) == 2


def test_poly_of_a_nonsymmetric_matrix_is_its_characteristic_polynomial():
    # was computed from eigvalsh (symmetric matrices only): a silent wrong result; JAX uses eigvals (complex)
    a = np.array([[1.0, 2.0, 0.0], [-3.0, 0.5, 4.0], [2.0, 1.0, -1.0]], np.float32)
    out = np.asarray(jnp.poly(a))
    assert np.iscomplexobj(out)
    np.testing.assert_allclose(out, np.poly(a), rtol=1e-4, atol=1e-4)
    assert jnp.poly(np.zeros(0, np.float32)).shape == ()


def test_copy_and_deepcopy_of_arrays_and_tracers():
    import copy
    x = jnp.arange(3.0)
    for fn in (copy.copy, copy.deepcopy):
        y = fn(x)
        assert y is not x and isinstance(y, portax.Array)
        np.testing.assert_array_equal(y, x)
        np.testing.assert_array_equal(portax.jit(fn)(x), x)  # a tracer copies into another traced value
    assert int(portax.jit(copy.copy)(1)) == 1
    tree = copy.deepcopy({"a": x})
    np.testing.assert_array_equal(tree["a"], x)


def test_polydiv_keeps_the_divisor_and_the_remainders_length_as_jax():
    # JAX divides by v[0] as given (a leading zero gives non-finite results, as numpy) and returns the whole
    # remainder array; trim_leading_zeros drops its leading entries below sqrt(eps)
    q, r = jnp.polydiv(np.array([1.0, 0.0, -3.0, 2.0]), np.array([1.0, -1.0]))
    _eq(q, [1.0, 1.0, -2.0])
    _eq(r, [0.0, 0.0, 0.0, 0.0])
    assert jnp.polydiv(np.array([1.0, 0.0, -3.0, 3.0]), np.array([1.0, -1.0]), trim_leading_zeros=True)[1].shape == (1,)
    assert not np.isfinite(np.asarray(jnp.polydiv(np.array([1.0, 2.0, 3.0]), np.array([0.0, 1.0]))[0])).all()


def test_linspace_with_a_dtype_does_not_promote_its_bounds_together():
    # JAX converts each bound to the dtype: no int32/float32 promotion (an error under strict promotion)
    with portax.numpy_dtype_promotion("strict"):
        _eq(jnp.linspace(np.int32(1), np.float32(3.0), 3, dtype=np.float32), [1.0, 2.0, 3.0])
        _eq(jnp.pad(np.ones(3, np.float32), 2, mode="linear_ramp", end_values=0), [0, 0.5, 1, 1, 1, 0.5, 0])


def test_contains_array_equiv_and_broadcast_shapes_of_ints_as_jax():
    assert 1 in jnp.arange(4) and 100 not in jnp.arange(4)
    with pytest.raises(ValueError, match="search array must be one-dimensional"):
        _ = 1 in jnp.array(1)
    with pytest.raises(ValueError, match="query value must be a scalar"):
        _ = jnp.arange(2) in jnp.arange(2)
    with pytest.raises(TypeError, match="unsupported operand type"):
        _ = "abc" in jnp.arange(2)
    assert not bool(jnp.array_equiv(jnp.ones(2), jnp.ones((2, 4))))  # shapes that do not broadcast
    assert bool(jnp.array_equiv(jnp.ones((2, 3)), jnp.ones(3)))
    assert jnp.broadcast_shapes((1,), 3) == (3,)


def test_isscalar_counts_zero_dimensional_arrays_as_jax():
    for value in (False, 1, 1.0, np.int32(5), np.array(16), jnp.array(1)):
        assert jnp.isscalar(value)
    for value in (None, [1], slice(4), (), np.array([0]), jnp.array([1])):
        assert not jnp.isscalar(value)


def test_eye_accepts_a_python_int_offset_past_int32():
    for k in (2 ** 100, -2 ** 100):
        _eq(jnp.eye(3, k=k), np.eye(3, k=k))


def test_iscomplexobj_of_a_list_of_traced_values():
    assert portax.jit(lambda x: jnp.iscomplexobj(x))([1 + 1j])
    assert not jnp.iscomplexobj([1.0]) and not jnp.iscomplexobj(None) and jnp.iscomplexobj(1j)


def test_unpackbits_count_past_the_bits_pads_with_zeros():
    a = np.array([[7, 200], [1, 255]], np.uint8)
    for axis in (None, 1):
        _eq(jnp.unpackbits(a, axis=axis, count=20, bitorder="little"),
            np.unpackbits(a, axis=axis, count=20, bitorder="little"))
