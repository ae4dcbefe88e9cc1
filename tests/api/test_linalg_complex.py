"""Complex decompositions (jnp.linalg and lax.linalg on complex64/complex128): values against numpy/scipy with
gauge-invariant checks where factors are unique only up to phases, jit and vmap, derivatives against finite
differences (complex operands and results as real and imaginary parts), and eig's eigenvector derivatives. On
wgpu, which has no complex decompositions, the same calls must raise NotImplementedError."""
import numpy as np
import pytest
import scipy.linalg as sl

import portax
import portax.numpy as jnp
from portax import lax
from portax.test_util import check_grads

RNG = np.random.RandomState(7)
UNSUPPORTED = portax.default_backend() == "wgpu"


def _c(*shape):
    return RNG.randn(*shape) + 1j * RNG.randn(*shape)


def _hpd(n, batch=()):
    a = _c(*batch, n, n)
    return a @ np.conj(np.swapaxes(a, -1, -2)) + n * np.eye(n)


SQ, TALL, WIDE, HPD = _c(4, 4) + 3 * np.eye(4), _c(5, 3), _c(3, 5), _hpd(4)
TRI = np.tril(_c(4, 4)) + 3 * np.eye(4)


def _close(out, ref, tol):
    np.testing.assert_allclose(np.asarray(out), ref, rtol=tol, atol=tol)


def _herm(x):
    return np.conj(np.swapaxes(np.asarray(x), -1, -2))


@pytest.fixture(params=[np.complex64, np.complex128], ids=["c64", "c128"])
def cdtype(request, x64):
    return np.dtype(request.param)


def _tol(dt):
    return 2e-4 if dt == np.complex64 else 1e-10


def _run(fn, *args):
    """``fn(*args)``; on wgpu, which has no complex decompositions (nor eig), either that or the NotImplementedError
    naming what is missing (then the test stops there)."""
    if not UNSUPPORTED:
        return fn(*args)
    try:
        return portax.block_until_ready(fn(*args))
    except NotImplementedError as e:
        assert "complex matrices" in str(e) or "primitive eig " in str(e), e
        pytest.skip(f"wgpu reports it unsupported: {e}")


def test_factorizations_against_numpy(cdtype):
    tol = _tol(cdtype)
    sq, tall, hpd = (x.astype(cdtype) for x in (SQ, TALL, HPD))
    L = _run(jnp.linalg.cholesky, hpd)
    assert L.dtype == cdtype
    _close(L, np.linalg.cholesky(hpd), tol)
    _close(jnp.linalg.cholesky(hpd, upper=True), _herm(np.linalg.cholesky(hpd)), tol)  # U = L^H
    for a in (tall, tall.T):  # svd: s, and U diag(s) V^H (unique)
        u, s, vh = jnp.linalg.svd(a, full_matrices=False)
        assert s.dtype == np.real(a).dtype and u.dtype == cdtype
        _close(s, np.linalg.svd(a, compute_uv=False), tol)
        _close((np.asarray(u) * np.asarray(s)) @ np.asarray(vh), a, tol)
        _close(_herm(u) @ np.asarray(u), np.eye(3), tol)
    u, s, vh = jnp.linalg.svd(tall)  # full: unitary U
    _close(_herm(u) @ np.asarray(u), np.eye(5), tol)
    w, v = jnp.linalg.eigh(hpd)  # eigh: w and V diag(w) V^H
    assert w.dtype == np.real(hpd).dtype
    _close(w, np.linalg.eigvalsh(hpd), tol * 10)
    _close((np.asarray(v) * np.asarray(w)) @ _herm(v), hpd, tol * 10)
    q, r = jnp.linalg.qr(tall)  # qr: Q R = A, Q^H Q = I, R upper
    _close(np.asarray(q) @ np.asarray(r), tall, tol)
    _close(_herm(q) @ np.asarray(q), np.eye(3), tol)
    np.testing.assert_array_equal(np.tril(np.asarray(r), -1), 0)
    w, v = jnp.linalg.eig(sq)  # eig: A v = w v, LAPACK's normalisation (unit norm, largest component real)
    _close(np.sort_complex(np.asarray(w)), np.sort_complex(np.linalg.eigvals(sq)), tol * 10)
    _close(sq @ np.asarray(v), np.asarray(v) * np.asarray(w), tol * 10)
    _close(np.linalg.norm(np.asarray(v), axis=0), np.ones(4), tol)
    big = np.asarray(v)[np.argmax(np.abs(np.asarray(v)), axis=0), np.arange(4)]
    _close(big.imag, np.zeros(4), tol)


def test_derived_functions_against_numpy(cdtype):
    tol = _tol(cdtype)
    sq, tall = SQ.astype(cdtype), TALL.astype(cdtype)
    b = _c(4, 2).astype(cdtype)
    _close(_run(jnp.linalg.det, sq), np.linalg.det(sq), tol * 10)
    sign, logdet = jnp.linalg.slogdet(sq)
    _close(sign, np.linalg.slogdet(sq)[0], tol)
    _close(logdet, np.linalg.slogdet(sq)[1], tol)
    _close(jnp.linalg.inv(sq), np.linalg.inv(sq), tol)
    _close(jnp.linalg.solve(sq, b), np.linalg.solve(sq, b), tol)
    _close(jnp.linalg.pinv(tall), np.linalg.pinv(tall), tol)
    _close(jnp.linalg.pinv(tall.T), np.linalg.pinv(tall.T), tol)
    b5 = _c(5).astype(cdtype)
    _close(jnp.linalg.lstsq(tall, b5)[0], np.linalg.lstsq(tall, b5)[0], tol * 10)
    low_rank = (tall[:, :2] @ _c(2, 3)).astype(cdtype)
    assert int(jnp.linalg.matrix_rank(low_rank)) == 2 and int(jnp.linalg.matrix_rank(tall)) == 3
    for ord_ in ("nuc", 2, -2):
        _close(jnp.linalg.norm(tall, ord_), np.linalg.norm(tall, ord_), tol)
    _close(jnp.linalg.svd(HPD.astype(cdtype), hermitian=True, compute_uv=False),
           np.linalg.svd(HPD, compute_uv=False), tol * 10)


def test_lax_lu_pivots_like_getrf(cdtype):
    # getrf pivots on |re| + |im| (izamax): the second row wins here though its modulus is smaller
    a = np.array([[3 + 0j, 1], [2 + 2j, 1]], cdtype)
    lu, piv, perm = _run(lax.linalg.lu, a)
    lu_ref, piv_ref = sl.lu_factor(a)
    np.testing.assert_array_equal(piv, piv_ref)
    _close(lu, lu_ref, _tol(cdtype))
    x = _c(5, 4).astype(cdtype)
    lu, piv, perm = lax.linalg.lu(x)
    np.testing.assert_array_equal(piv, sl.lu_factor(x)[1])
    L = np.tril(np.asarray(lu)[:, :4], -1) + np.eye(5, 4)
    _close(L @ np.triu(np.asarray(lu)[:4]), x[np.asarray(perm)], _tol(cdtype))


@pytest.mark.parametrize("left_side", [True, False])
@pytest.mark.parametrize("lower", [True, False])
@pytest.mark.parametrize("transpose_a,conjugate_a", [(False, False), (True, False), (True, True), (False, True)])
def test_triangular_solve_variants(left_side, lower, transpose_a, conjugate_a):
    a = (TRI if lower else TRI.T).astype(np.complex64)
    b = _c(4, 2) if left_side else _c(2, 4)
    op = a.T if transpose_a else a
    op = np.conj(op) if conjugate_a else op
    ref = np.linalg.solve(op, b) if left_side else np.linalg.solve(op.T, b.T).T
    out = _run(lambda a, b: lax.linalg.triangular_solve(a, b, left_side=left_side, lower=lower,
                                                        transpose_a=transpose_a, conjugate_a=conjugate_a),
               a, b.astype(np.complex64))
    _close(out, ref, 2e-4)


def test_jit_and_vmap():
    xs = (_c(4, 3, 3) + 3 * np.eye(3)).astype(np.complex64)
    hs = _hpd(3, (3,)).astype(np.complex64)
    fns = [(jnp.linalg.cholesky, hs), (lambda x: jnp.linalg.svd(x, compute_uv=False), xs),
           (lambda x: jnp.linalg.eigh(x)[0], hs), (jnp.linalg.det, xs), (lambda x: lax.linalg.lu(x)[0], xs),
           (lambda x: jnp.abs(jnp.linalg.qr(x)[1]), xs), (lambda x: jnp.sort(jnp.linalg.eigvals(x)), xs),
           (lambda x: lax.linalg.triangular_solve(x, x, left_side=True, lower=True), xs)]
    _run(fns[0][0], hs)
    for fn, x in fns:
        want = np.stack([np.asarray(fn(m)) for m in x])
        _close(portax.vmap(fn)(x), want, 2e-4)
        _close(portax.jit(portax.vmap(fn))(x), want, 2e-4)
        _close(portax.jit(fn)(x), want, 2e-4)


def _parts(f):
    """``f`` of a complex matrix as a function of its real and imaginary parts, complex results split."""
    def g(re, im):
        out = f(lax.complex(re, im))
        return portax.tree_util.tree_map(lambda o: (jnp.real(o), jnp.imag(o)) if jnp.iscomplexobj(o) else o, out)
    return g


def _split(x):
    return np.real(x).copy(), np.imag(x).copy()


def _projectors(v):
    """v_j v_j^H / |v_j|^2 for each column: invariant to the phase of an eigenvector."""
    return jnp.einsum("ij,kj->jik", v, jnp.conj(v)) / jnp.sum(jnp.abs(v) ** 2, axis=0)[:, None, None]


DERIVATIVES = {
    "cholesky": (lambda m: lax.linalg.cholesky(m, symmetrize_input=False), HPD, 2),
    "jnp.cholesky": (jnp.linalg.cholesky, HPD, 1),
    "eigh": (lambda m: (lambda v, w: (w, _projectors(v)))(*lax.linalg.eigh(m)), HPD, 1),
    "qr": (lambda m: lax.linalg.qr(m, full_matrices=False), TALL, 1),
    "svd values": (lambda m: lax.linalg.svd(m, compute_uv=False), TALL, 2),
    "svd U V^H": (lambda m: (lambda u, s, vh: (s, u @ vh))(*lax.linalg.svd(m, full_matrices=False)), WIDE, 1),
    "lu": (lambda m: lax.linalg.lu(m)[0], SQ, 2),
    "triangular_solve": (lambda m: lax.linalg.triangular_solve(m, m[:, :2] + 1.0, left_side=True, lower=True,
                                                               transpose_a=True, conjugate_a=True), TRI, 2),
    "det": (jnp.linalg.det, SQ, 2),
    "slogdet": (jnp.linalg.slogdet, SQ, 1),
    "inv": (jnp.linalg.inv, SQ, 1),
    "pinv": (jnp.linalg.pinv, TALL, 1),
    "nuclear norm": (lambda m: jnp.linalg.norm(m, "nuc"), TALL, 1),
    "2-norm": (lambda m: jnp.linalg.norm(m, 2), TALL, 1),
    "eig": (lambda m: (lambda w, v: (w, v, _projectors(v)))(*jnp.linalg.eig(m)), SQ, 1),
    "lax eig, left eigenvectors": (lambda m: (lambda w, vl: (vl, _projectors(vl)))(
        *lax.linalg.eig(m, compute_right_eigenvectors=False)), SQ, 1),
}


@pytest.mark.parametrize("name", list(DERIVATIVES))
def test_derivatives(name, x64):
    f, a, order = DERIVATIVES[name]
    _run(f, a)
    check_grads(_parts(f), _split(a), order=order)


@pytest.mark.parametrize("dtype", [np.float32, np.complex64])
def test_lax_eig_left_and_right_eigenvectors(dtype):
    a = (SQ if dtype == np.complex64 else SQ.real).astype(dtype)
    w, vl, vr = map(np.asarray, _run(lax.linalg.eig, a))
    _close(a @ vr, vr * w, 1e-4)
    _close(_herm(a) @ vl, vl * np.conj(w), 1e-4)  # u_j^H A = w_j u_j^H
    _close(np.linalg.norm(vl, axis=0), np.ones(4), 1e-5)
    big = vl[np.argmax(np.abs(vl), axis=0), np.arange(4)]
    _close(big.imag, np.zeros(4), 1e-6)
    assert (big.real > 0).all()
    assert [len(lax.linalg.eig(a, compute_left_eigenvectors=left, compute_right_eigenvectors=right))
            for left, right in ((False, True), (True, False), (False, False))] == [2, 2, 1]


@pytest.mark.parametrize("dtype", [np.float32, np.complex64])
def test_nan_matrices_give_nan_decompositions(dtype):
    """numpy's LAPACK calls raise on NaN; as JAX, such a matrix decomposes to NaN (and the others of the batch
    are unaffected)."""
    a = np.stack([np.full((3, 3), np.nan), 2 * np.eye(3)]).astype(dtype)
    for outs in (_run(lax.linalg.eig, a), jnp.linalg.eigh(a), jnp.linalg.svd(a)):
        for o in outs:
            o = np.asarray(o)
            assert np.isnan(o[0]).all() and not np.isnan(o[1]).any()


def test_eig_eigenvector_derivatives_of_real_matrices(x64):
    """Beyond JAX's default: eigenvectors of jnp.linalg.eig are differentiable (distinct eigenvalues), for real
    input too; the phase-invariant projectors and the LAPACK-normalised vectors both match finite differences."""
    a = RNG.randn(4, 4)
    _run(jnp.linalg.eig, a)

    def f(m):
        w, v = jnp.linalg.eig(m)
        return jnp.real(w), jnp.imag(w), jnp.real(v), jnp.imag(v), jnp.real(_projectors(v))
    check_grads(f, (a,), order=1)
    _, dv = portax.jvp(lambda m: jnp.linalg.eig(m)[1], (a,), (RNG.randn(4, 4),))
    v = np.asarray(jnp.linalg.eig(a)[1])
    # the tangent keeps each column's unit norm: Re(v_j^H dv_j) = 0
    _close(np.real(np.sum(np.conj(v) * np.asarray(dv), axis=0)), np.zeros(4), 1e-10)


def test_errors():
    with pytest.raises(TypeError, match="float32, float64, complex64 or complex128"):
        lax.linalg.cholesky(np.eye(3, dtype=np.int32))


def test_complex_linalg_primitive_rules():
    """``complex_linalg`` (what backends without complex dtypes run) agrees with the complex op under eval, jvp
    and vmap; it is made at compile time, so these rules only matter to code that binds it directly."""
    from portax.core.primitives import linalg as la
    parts = _split(TALL.astype(np.complex64))
    bind = lambda re, im: la.complex_linalg_p.bind(re, im, op="svd",
                                                   params=(("compute_uv", False), ("full_matrices", False)))
    want = np.linalg.svd(TALL, compute_uv=False)
    (s,) = _run(bind, *parts)
    _close(s, want, 2e-4)
    t = _split(_c(5, 3).astype(np.complex64))
    _, (ds,) = portax.jvp(bind, parts, t)
    _, ds_want = portax.jvp(lambda re, im: lax.linalg.svd(lax.complex(re, im), compute_uv=False), parts, t)
    _close(ds, ds_want, 2e-4)
    (sb,) = portax.vmap(bind)(*(np.stack([p, 2 * p]) for p in parts))
    _close(sb, np.stack([want, 2 * want]), 2e-4)
    with pytest.raises(TypeError, match="part pairs"):
        la.complex_linalg_p.bind(parts[0], op="svd", params=(("compute_uv", False), ("full_matrices", False)))


def test_scipy_linalg_complex():
    """jax.scipy.linalg on complex matrices: conjugate transposes where scipy has them (trans=2, cho_solve, polar),
    and Cholesky reading one triangle only, as scipy and JAX."""
    import portax.scipy.linalg as jsl
    a, b, h = SQ.astype(np.complex64), _c(4, 2).astype(np.complex64), HPD.astype(np.complex64)
    tri = TRI.T.astype(np.complex64)
    _run(jsl.cholesky, h)
    for lower in (False, True):
        half = np.tril(h) if lower else np.triu(h)
        _close(jsl.cholesky(half, lower=lower), sl.cholesky(h, lower=lower), 1e-4)
        _close(jsl.solve(half, b, assume_a="pos", lower=lower), sl.solve(h, b, assume_a="pos"), 1e-4)
        _close(jsl.cho_solve(jsl.cho_factor(h, lower=lower), b), np.linalg.solve(h, b), 1e-4)
    for trans in (0, 1, 2, "C"):
        _close(jsl.solve_triangular(tri, b, trans=trans), sl.solve_triangular(tri, b, trans=trans), 1e-4)
    for trans in (0, 1, 2):
        _close(jsl.lu_solve(jsl.lu_factor(a), b, trans=trans), sl.lu_solve(sl.lu_factor(a), b, trans=trans), 1e-4)
    for side in ("right", "left"):
        u, p = map(np.asarray, jsl.polar(a, side=side))
        _close(u @ p if side == "right" else p @ u, a, 1e-4)
        _close(p, _herm(p), 1e-4)
        _close(u @ _herm(u), np.eye(4), 1e-4)
