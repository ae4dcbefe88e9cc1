"""Products, einsum, jnp.linalg and the lax.linalg primitives (cholesky, qr, svd, eigh, lu, triangular_solve):
values against numpy, batching under vmap, jit, and derivatives against finite differences."""
import numpy as np
import pytest

import portax
import portax.numpy as jnp
from portax import lax
from portax.test_util import check_grads

RNG = np.random.RandomState(0)


def _spd(n, batch=()):
    a = RNG.randn(*batch, n, n)
    return a @ np.swapaxes(a, -1, -2) + n * np.eye(n)


SQ = RNG.randn(4, 4).astype(np.float32) + 3 * np.eye(4, dtype=np.float32)
SPD = _spd(4).astype(np.float32)
TALL = RNG.randn(5, 3).astype(np.float32)
BATCH = RNG.randn(2, 3, 3).astype(np.float32) + 2 * np.eye(3, dtype=np.float32)


def _close(out, ref, rtol=2e-5, atol=2e-5):
    out = np.asarray(out)
    assert out.shape == np.shape(ref), (out.shape, np.shape(ref))
    np.testing.assert_allclose(out, ref, rtol=rtol, atol=atol)


PRODUCTS = [
    ("dot", (RNG.randn(3, 4), RNG.randn(4))), ("dot", (RNG.randn(2, 3, 4), RNG.randn(4, 5))), ("dot", (2.0, SQ)),
    ("matmul", (RNG.randn(2, 1, 3, 4), RNG.randn(5, 4, 2))), ("matmul", (RNG.randn(4), RNG.randn(2, 4, 3))),
    ("vdot", (RNG.randn(2, 3), RNG.randn(6))), ("inner", (RNG.randn(2, 3), RNG.randn(4, 3))),
    ("outer", (RNG.randn(3), RNG.randn(2, 2))), ("kron", (RNG.randn(2, 3), RNG.randn(3, 2))),
    ("tensordot", (RNG.randn(2, 3, 4), RNG.randn(3, 4, 5))), ("trace", (RNG.randn(3, 4, 5),)),
    ("vecdot", (RNG.randn(3, 4), RNG.randn(4))), ("matvec", (RNG.randn(2, 3, 4), RNG.randn(4))),
    ("vecmat", (RNG.randn(3), RNG.randn(2, 3, 4))),
]


@pytest.mark.parametrize("name,args", PRODUCTS, ids=[p[0] for p in PRODUCTS])
def test_products(name, args):
    _close(getattr(jnp, name)(*args), getattr(np, name)(*[np.asarray(a, np.float32) for a in args]), 1e-4, 1e-4)


def test_tensordot_axes_and_integer_matmul():
    a, b = RNG.randn(3, 4, 5), RNG.randn(5, 3, 2)
    _close(jnp.tensordot(a, b, axes=([0, 2], [1, 0])), np.tensordot(a, b, axes=([0, 2], [1, 0])), 1e-4, 1e-4)
    i = RNG.randint(-5, 5, (3, 3)).astype(np.int32)
    out = jnp.matmul(i, i)
    assert out.dtype == jnp.int32
    np.testing.assert_array_equal(out, i @ i)
    with pytest.raises(TypeError, match="dot_general requires contracting dimensions to have the same shape"):
        jnp.matmul(np.ones((2, 3)), np.ones((4, 2)))  # as JAX 0.10.2 (not numpy's ValueError)


EINSUMS = [
    ("ij,jk->ik", [(3, 4), (4, 5)]), ("ij,jk,kl->il", [(2, 30), (30, 3), (3, 40)]), ("ii->i", [(4, 4)]),
    ("ii", [(4, 4)]), ("ij->", [(3, 4)]), ("bij,bjk->bik", [(2, 3, 4), (2, 4, 5)]), ("i,i", [(5,), (5,)]),
    ("...ij,...jk", [(2, 3, 4), (4, 5)]), ("ij,kl->ijkl", [(2, 3), (2, 2)]), ("iij->j", [(3, 3, 2)]),
    ("abc,cd,bd->a", [(2, 3, 4), (4, 5), (3, 5)]), ("ji", [(3, 4)]),
]


@pytest.mark.parametrize("spec,shapes", EINSUMS, ids=[e[0] for e in EINSUMS])
def test_einsum(spec, shapes):
    ops = [RNG.randn(*s).astype(np.float32) for s in shapes]
    _close(jnp.einsum(spec, *ops), np.einsum(spec, *ops), 1e-4, 1e-4)


def test_einsum_uses_the_optimal_contraction_order():
    shapes = [(2, 30), (30, 3), (3, 40)]
    path, _ = jnp.einsum_path("ij,jk,kl->il", *[np.zeros(s) for s in shapes], optimize="optimal")
    assert path == np.einsum_path("ij,jk,kl->il", *[np.zeros(s) for s in shapes], optimize="optimal")[0]
    jaxpr = portax.make_jaxpr(lambda a, b, c: jnp.einsum("ij,jk,kl->il", a, b, c))(
        *[np.zeros(s, np.float32) for s in shapes])
    first = next(e for e in jaxpr.eqns if e.primitive.name == "dot_general")
    assert [v.aval.shape for v in first.inputs] == [(2, 30), (30, 3)]


def test_einsum_gradient(x64):
    check_grads(lambda a, b: jnp.einsum("ij,jk->ki", a, b), (RNG.randn(2, 3), RNG.randn(3, 4)), order=2)
    check_grads(lambda a: jnp.einsum("ii->", a), (RNG.randn(3, 3),), order=1)


LINALG = [
    ("inv", (SQ,)), ("inv", (BATCH,)), ("det", (SQ,)), ("det", (BATCH,)), ("solve", (SQ, RNG.randn(4, 2))),
    ("solve", (SQ, RNG.randn(4))), ("solve", (BATCH, RNG.randn(2, 3, 3))), ("pinv", (TALL,)), ("pinv", (TALL.T,)),
    ("matrix_rank", (TALL @ TALL.T,)), ("matrix_rank", (TALL,)), ("cond", (SQ,)), ("cond", (SQ, "fro")),
    ("cond", (SQ, 1)), ("cond", (SQ, -np.inf)), ("eigvalsh", (SPD,)), ("svdvals", (TALL,)), ("cholesky", (SPD,)),
    ("tensorinv", (RNG.randn(4, 6, 8, 3),)), ("multi_dot", ([RNG.randn(3), RNG.randn(3, 4), RNG.randn(4, 2)],)),
    ("cross", (RNG.randn(4, 3), RNG.randn(4, 3))), ("matrix_transpose", (BATCH,)), ("diagonal", (BATCH,)),
]


@pytest.mark.parametrize("name,args", LINALG, ids=[f"{n}{i}" for i, (n, _) in enumerate(LINALG)])
def test_linalg_against_numpy(name, args):
    if name == "tensorinv":
        _close(jnp.linalg.tensorinv(args[0], ind=2), np.linalg.tensorinv(args[0].astype(np.float32), ind=2), 1e-3, 1e-3)
        return
    _close(getattr(jnp.linalg, name)(*args), getattr(np.linalg, name)(*args), 1e-4, 1e-4)


@pytest.mark.parametrize("ord_,axis", [(None, None), (1, 1), (np.inf, 0), (-np.inf, None), (0, 1), (3, -1),
                                       ("fro", (0, 1)), ("nuc", (0, 1)), (2, (1, 0)), (-2, (0, 1)), (1, (0, 1)),
                                       (-1, (1, 0)), (np.inf, (0, 1)), (None, (0, 1))])
@pytest.mark.parametrize("keepdims", [False, True])
def test_norm(ord_, axis, keepdims):
    x = TALL if axis is not None or ord_ is None else TALL[:, 0]
    _close(jnp.linalg.norm(x, ord_, axis, keepdims), np.linalg.norm(x, ord_, axis, keepdims), 1e-5, 1e-5)


def test_vector_and_matrix_norms():
    _close(jnp.linalg.vector_norm(BATCH, axis=(1, 2), ord=3), np.linalg.vector_norm(BATCH, axis=(1, 2), ord=3),
           1e-5, 1e-5)
    _close(jnp.linalg.matrix_norm(BATCH, ord="nuc"), np.linalg.matrix_norm(BATCH, ord="nuc"), 1e-5, 1e-5)


def test_slogdet_and_singular_matrices():
    for a in (SQ, BATCH, -SQ[:3, :3]):
        sign, logdet = jnp.linalg.slogdet(a)
        rs, rl = np.linalg.slogdet(a)
        _close(sign, rs)
        _close(logdet, rl, 1e-5, 1e-5)
    sign, logdet = jnp.linalg.slogdet(np.zeros((2, 2)))
    assert float(sign) == 0 and float(logdet) == -np.inf
    assert np.isnan(np.tril(np.asarray(jnp.linalg.cholesky(-np.eye(2))))[np.tril_indices(2)]).all()


def test_decompositions_reconstruct():
    q, r = jnp.linalg.qr(TALL)
    _close(q @ r, TALL, 1e-5, 1e-5)
    _close(q, np.linalg.qr(TALL)[0], 1e-4, 1e-4)
    assert jnp.linalg.qr(TALL, mode="complete").Q.shape == (5, 5)
    _close(jnp.linalg.qr(TALL, mode="r"), np.linalg.qr(TALL, mode="r"), 1e-4, 1e-4)
    u, s, vh = jnp.linalg.svd(TALL, full_matrices=False)
    _close((u * s) @ vh, TALL, 1e-5, 1e-5)
    _close(s, np.linalg.svd(TALL, compute_uv=False))
    w, v = jnp.linalg.eigh(SPD)
    _close(w, np.linalg.eigvalsh(SPD), 1e-4, 1e-4)
    _close((v * w) @ v.T, SPD, 1e-4, 1e-4)
    _close(jnp.linalg.eigh(np.triu(SPD), UPLO="U", symmetrize_input=False).eigenvalues, np.linalg.eigvalsh(SPD, "U"),
           1e-4, 1e-4)
    hu, hs, hvh = jnp.linalg.svd(SPD - 10 * np.eye(4, dtype=np.float32), hermitian=True)
    _close((hu * hs) @ hvh, SPD - 10 * np.eye(4), 1e-4, 1e-4)
    w, v = jnp.linalg.eig(SQ)
    assert w.dtype == np.complex64 and v.dtype == np.complex64
    np.testing.assert_allclose(np.asarray(SQ) @ np.asarray(v), np.asarray(v) * np.asarray(w), atol=1e-4)
    np.testing.assert_allclose(np.sort_complex(np.asarray(jnp.linalg.eigvals(SQ))),
                               np.sort_complex(np.linalg.eigvals(np.asarray(SQ, np.float64))), rtol=1e-4, atol=1e-4)
    # the eigenvalues sum to the trace: the gradient of their real parts' sum is the identity
    _close(portax.grad(lambda a: jnp.real(jnp.linalg.eigvals(a)).sum())(SQ), np.eye(4), 1e-4, 1e-4)


def test_lstsq_matrix_power_tensorsolve():
    b = RNG.randn(5, 2).astype(np.float32)
    x, resid, rank, s = jnp.linalg.lstsq(TALL, b)
    rx, rresid, rrank, rs = np.linalg.lstsq(TALL, b)
    _close(x, rx, 1e-4, 1e-4)
    _close(resid, rresid, 1e-3, 1e-3)
    assert int(rank) == rrank
    _close(jnp.linalg.lstsq(TALL, b[:, 0])[0], np.linalg.lstsq(TALL, b[:, 0])[0], 1e-4, 1e-4)
    for n in (0, 1, 3, -2):
        _close(jnp.linalg.matrix_power(SQ, n), np.linalg.matrix_power(SQ.astype(np.float64), n), 1e-3, 1e-3)
    a = RNG.randn(2, 3, 6)
    bb = RNG.randn(2, 3)
    _close(jnp.linalg.tensorsolve(a, bb), np.linalg.tensorsolve(a, bb), 1e-3, 1e-3)


def test_solve_errors():
    with pytest.raises(ValueError, match="Invalid shapes for solve"):
        jnp.linalg.solve(np.eye(3), np.ones((2, 3)))
    with pytest.raises(ValueError, match="square"):
        jnp.linalg.inv(np.ones((2, 3)))


def test_linalg_gradients(x64):
    a = RNG.randn(3, 3) + 3 * np.eye(3)
    spd = _spd(3)
    tall = RNG.randn(4, 3)
    check_grads(jnp.linalg.det, (a,), order=2)
    check_grads(jnp.linalg.inv, (a,), order=2)
    check_grads(lambda m, v: jnp.linalg.solve(m, v), (a, RNG.randn(3, 2)), order=2)
    check_grads(lambda m: jnp.linalg.slogdet(m)[1], (a,), order=2)
    check_grads(jnp.linalg.cholesky, (spd,), order=2)
    check_grads(jnp.linalg.pinv, (tall,), order=1)
    check_grads(jnp.linalg.pinv, (tall.T,), order=1)
    check_grads(lambda m: jnp.linalg.norm(m, "nuc"), (tall,), order=1)
    check_grads(lambda m: jnp.linalg.norm(m, axis=0), (tall,), order=2)
    check_grads(lambda m: jnp.linalg.qr(m), (tall,), order=1)
    check_grads(lambda m: jnp.linalg.svd(m, full_matrices=False), (tall,), order=1)
    check_grads(lambda m: jnp.linalg.eigh(m), (spd,), order=1)
    check_grads(lambda m: jnp.linalg.matrix_power(m, 3), (a,), order=1)
    check_grads(lambda m: jnp.linalg.lstsq(m, np.arange(4.0))[0], (tall,), order=1)


# --- the lax.linalg primitives ----------------------------------------------------------------------------------
PRIMITIVES = [
    ("cholesky", lambda x: lax.linalg.cholesky(x), lambda x: np.linalg.cholesky(x), lambda b: _spd(3, b)),
    ("qr", lambda x: lax.linalg.qr(x, full_matrices=False), lambda x: np.linalg.qr(x),
     lambda b: RNG.randn(*b, 4, 3)),
    ("svd", lambda x: lax.linalg.svd(x, full_matrices=False)[1], lambda x: np.linalg.svd(x, compute_uv=False),
     lambda b: RNG.randn(*b, 3, 4)),
    ("eigh", lambda x: lax.linalg.eigh(x)[1], np.linalg.eigvalsh, lambda b: _spd(3, b)),
    ("lu", lambda x: lax.linalg.lu(x)[0], None, lambda b: RNG.randn(*b, 4, 4)),
    ("triangular_solve", lambda x: lax.linalg.triangular_solve(x, x[..., :2] + 1.0, left_side=True, lower=True),
     lambda x: np.linalg.solve(np.tril(x), x[..., :2] + 1.0), lambda b: RNG.randn(*b, 3, 3) + 4 * np.eye(3)),
]


@pytest.mark.parametrize("name,fn,ref,make", PRIMITIVES, ids=[p[0] for p in PRIMITIVES])
def test_primitive_batching_and_jit(name, fn, ref, make):
    x = make((2, 3)).astype(np.float32)
    batched = fn(x)
    per_item = [fn(x[i, j]) for i in range(2) for j in range(3)]
    leaves = lambda t: [np.asarray(v) for v in portax.tree_util.tree_leaves(t)]
    for got, items in zip(leaves(batched), zip(*[leaves(p) for p in per_item])):
        _close(got.reshape((6,) + got.shape[2:]), np.stack(items), 1e-5, 1e-5)
    for got, want in zip(leaves(portax.vmap(portax.vmap(fn))(x)), leaves(batched)):
        _close(got, want, 1e-5, 1e-5)
    for got, want in zip(leaves(portax.jit(fn)(x)), leaves(batched)):
        _close(got, want, 1e-5, 1e-5)
    if ref is not None:
        want = ref(x.astype(np.float64))
        want = want if isinstance(want, tuple) else (want,)
        for got, w in zip(leaves(batched), want):
            _close(np.abs(got) if name == "qr" else got, np.abs(w) if name == "qr" else w, 1e-4, 1e-4)


def test_lu_pivots_and_permutation():
    x = RNG.randn(2, 5, 4).astype(np.float32)
    lu, pivots, perm = lax.linalg.lu(x)
    assert pivots.dtype == jnp.int32 and pivots.shape == (2, 4) and perm.shape == (2, 5)
    np.testing.assert_array_equal(lax.linalg.lu_pivots_to_permutation(pivots, 5), perm)
    for b in range(2):
        lu_b = np.asarray(lu[b])
        L = np.tril(lu_b[:, :4], -1) + np.eye(5, 4)
        U = np.triu(lu_b[:4])
        _close(L @ U, x[b][np.asarray(perm[b])], 1e-5, 1e-5)


@pytest.mark.parametrize("left_side", [True, False])
@pytest.mark.parametrize("lower", [True, False])
@pytest.mark.parametrize("transpose_a", [True, False])
@pytest.mark.parametrize("unit_diagonal", [True, False])
def test_triangular_solve_variants(left_side, lower, transpose_a, unit_diagonal):
    a = RNG.randn(3, 3) + 3 * np.eye(3)
    b = RNG.randn(3, 2) if left_side else RNG.randn(2, 3)
    t = np.tril(a) if lower else np.triu(a)
    if unit_diagonal:
        t = t - np.diag(np.diag(t)) + np.eye(3)
    op = t.T if transpose_a else t
    ref = np.linalg.solve(op, b) if left_side else np.linalg.solve(op.T, b.T).T
    out = lax.linalg.triangular_solve(a.astype(np.float32), b.astype(np.float32), left_side=left_side, lower=lower,
                                      transpose_a=transpose_a, unit_diagonal=unit_diagonal)
    _close(out, ref, 1e-4, 1e-4)


def test_primitive_derivatives(x64):
    spd, sq, tall = _spd(3), RNG.randn(3, 3) + 3 * np.eye(3), RNG.randn(4, 3)
    check_grads(lambda m: lax.linalg.cholesky(m, symmetrize_input=False), (spd,), order=2)
    check_grads(lambda m: lax.linalg.eigh(m, symmetrize_input=False), (spd,), order=1)
    check_grads(lambda m: lax.linalg.lu(m)[0], (sq,), order=2)
    check_grads(lambda m: lax.linalg.lu(m)[0], (tall,), order=1)
    check_grads(lambda m: lax.linalg.lu(m)[0], (tall.T,), order=1)
    check_grads(lambda m: lax.linalg.qr(m, full_matrices=False), (tall,), order=2)
    check_grads(lambda m: lax.linalg.svd(m, full_matrices=False), (tall.T,), order=1)
    check_grads(lambda m: lax.linalg.svd(m, compute_uv=False), (tall,), order=2)
    for left, lower, trans in ((True, True, False), (False, False, True), (True, False, True)):
        check_grads(lambda m, v: lax.linalg.triangular_solve(m, v, left_side=left, lower=lower, transpose_a=trans),
                    (sq, RNG.randn(3, 2) if left else RNG.randn(2, 3)), order=2)
    with pytest.raises(NotImplementedError, match="full matrices"):
        portax.jvp(lambda m: lax.linalg.svd(m, full_matrices=True), (tall,), (tall,))


def test_primitive_errors():
    with pytest.raises(TypeError, match="float32, float64, complex64 or complex128"):
        lax.linalg.cholesky(np.eye(3, dtype=np.int32))
    with pytest.raises(ValueError, match="square"):
        lax.linalg.eigh(np.ones((2, 3), np.float32))
    with pytest.raises(ValueError, match="b.shape"):
        lax.linalg.triangular_solve(np.eye(3, dtype=np.float32), np.ones((2, 2), np.float32), left_side=True)


def test_tensordot_preferred_element_type():
    a, b = np.full((2, 3), 100, np.int8), np.full((3, 2), 100, np.int8)
    out = jnp.tensordot(a, b, 1, precision=lax.Precision.HIGHEST, preferred_element_type=np.int32)
    assert out.dtype == np.int32
    np.testing.assert_array_equal(out, np.full((2, 2), 30000, np.int32))  # accumulated in int32, not int8
    assert jnp.linalg.tensordot(a, b, axes=1, preferred_element_type=np.int32).dtype == np.int32


def test_norms_of_empty_arrays_are_zero():
    for shape in [(0, 2), (2, 0), (0, 0)]:
        for ord in [1, 2, np.inf, "fro", "nuc"]:
            assert float(jnp.linalg.matrix_norm(jnp.zeros(shape), ord=ord)) == 0
    for ord in [1, 2, np.inf]:
        assert float(jnp.linalg.vector_norm(jnp.zeros(0), ord=ord)) == 0


def test_complex_vector_norm_under_strict_promotion():
    x = (RNG.randn(4) + 1j * RNG.randn(4)).astype(np.complex64)
    with portax.numpy_dtype_promotion("strict"):
        out = jnp.linalg.norm(x, ord=3)
    np.testing.assert_allclose(out, np.linalg.norm(x, ord=3), rtol=1e-5)


def test_pinv_and_matrix_rank_tolerance_arguments():
    assert jnp.linalg.pinv(jnp.zeros((2, 0, 3))).shape == (2, 3, 0)
    x = jnp.ones((3, 3))
    with pytest.raises(ValueError, match="pinv: only one of rtol and rcond may be specified."):
        jnp.linalg.pinv(x, rcond=1e-2, rtol=1e-2)
    with pytest.raises(ValueError, match="matrix_rank: only one of tol or rtol may be specified."):
        jnp.linalg.matrix_rank(x, rtol=1e-2, tol=1e-2)
    d = np.diag([100.0, 1.0, 0.5]).astype(np.float32)
    # tol is JAX's alias of rtol (relative to the largest singular value), not an absolute threshold
    assert int(jnp.linalg.matrix_rank(d, tol=0.008)) == int(jnp.linalg.matrix_rank(d, rtol=0.008)) == 2


def test_lstsq_zero_and_empty_matrices():
    x, resid, rank, s = jnp.linalg.lstsq(np.zeros((2, 2), np.float32), np.ones((2, 1), np.float32))
    np.testing.assert_array_equal(x, np.zeros((2, 1)))  # zero singular values never count: no inf/nan
    assert int(rank) == 0
    x, _, rank, s = jnp.linalg.lstsq(np.zeros((0, 3), np.float32), np.ones((0, 2), np.float32))
    assert x.shape == (3, 2) and s.shape == (0,) and int(rank) == 0
    a, b = RNG.randn(4, 3).astype(np.float32), RNG.randn(4).astype(np.float32)
    assert int(jnp.linalg.lstsq(a, b, rcond=-1)[2]) == 3  # a negative rcond means machine epsilon
