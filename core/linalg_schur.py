"""Hessenberg and Schur decompositions (``lax.linalg.hessenberg``, ``lax.linalg.schur``) as compositions over lax,
so they run in every backend's generated code (JAX calls LAPACK gehrd and gees on CPU only).

* Hessenberg: Householder reflectors with LAPACK's conventions (``xLARFG``: ``H^H [alpha; x] = [beta; 0]``,
  ``beta`` of the sign opposite to ``re(alpha)``), so the result is gehrd's (and scipy's) up to rounding.
* Schur: shifted QR iterations on the Hessenberg form with deflation of negligible subdiagonal entries
  (Golub & Van Loan, "Matrix Computations", 4th ed., 7.5): complex matrices by single-shift (Wilkinson) sweeps of
  Givens rotations, giving an upper triangular ``T``; real matrices by Francis double-shift sweeps of 3x3
  reflectors, giving the real Schur form (2x2 diagonal blocks for complex conjugate eigenvalue pairs, other
  2x2 blocks split). Exceptional shifts every 10 sweeps without deflation as LAPACK's xLAHQR; a matrix not
  converged after ``30 * max(10, n)`` sweeps gives NaN, as JAX reports gees' failure.
"""
from __future__ import annotations

from typing import Any

from . import dtypes, numpy as jnp
from .primitives import structural as st
from .primitives.control_flow import fori_loop, switch, while_loop
from .trace import get_aval


def _H(x: Any) -> Any:
    return jnp.conj(jnp.swapaxes(x, -1, -2))


def _check_square(name: str, x: Any) -> Any:
    x = jnp.asarray(x)
    aval = get_aval(x)
    if aval.dtype not in (dtypes.float32, dtypes.float64, dtypes.complex64, dtypes.complex128):
        raise TypeError(f"{name} requires a float32, float64, complex64 or complex128 operand, got {aval.dtype.name}")
    if aval.ndim < 2 or aval.shape[-1] != aval.shape[-2]:
        raise ValueError(f"The input to {name} must be a square matrix. Got shape {aval.shape}.")
    return x


# --- Householder reductions (LAPACK's conventions) ---------------------------------------------------------
def householder_reflector(col: Any, k: Any, tail: Any) -> tuple:
    """LAPACK xLARFG on ``alpha = col[k]`` and ``x = col[tail]``: ``(beta, tau, v)`` with ``v[k] = 1``, ``v`` zero
    outside ``k`` and ``tail``, and ``(I - tau v v^H)^H [alpha; x] = [beta; 0]``; ``tau = 0`` (``beta = alpha``)
    when ``x = 0`` and ``alpha`` is real."""
    rows = jnp.arange(col.shape[0])
    alpha = col[k]
    x = jnp.where(tail, col, 0)
    xnorm = jnp.sqrt(jnp.sum(jnp.abs(x) ** 2))
    identity = (xnorm == 0) & (jnp.imag(alpha) == 0)
    norm = jnp.sqrt(jnp.abs(alpha) ** 2 + xnorm ** 2)
    beta = jnp.where(jnp.real(alpha) >= 0, -norm, norm).astype(col.dtype)
    safe_beta = jnp.where(identity, 1, beta)
    tau = jnp.where(identity, 0, (safe_beta - alpha) / safe_beta)
    v = jnp.where(rows == k, 1, x / jnp.where(identity, 1, alpha - beta))
    return jnp.where(identity, alpha, beta), tau, v


# --- Hessenberg reduction ------------------------------------------------------------------------------------
def hessenberg_2d(a: Any) -> tuple:
    """``(h, q, packed, taus)``: ``a = q h q^H``; ``packed`` and ``taus`` are gehrd's output (the reflectors'
    vectors below the first subdiagonal)."""
    n = a.shape[-1]
    rows = jnp.arange(n)
    dt = a.dtype

    def step(j, state):
        h, q, vs, taus = state
        col = h[:, j]
        beta, tau, v = householder_reflector(col, j + 1, rows > j + 1)
        # h := H^H h H with H = I - tau v v^H;  q := q H
        h = h - (jnp.conj(tau) * v)[:, None] * (jnp.conj(v) @ h)[None, :]
        h = h - (tau * (h @ v))[:, None] * jnp.conj(v)[None, :]
        q = q - (tau * (q @ v))[:, None] * jnp.conj(v)[None, :]
        new_col = jnp.where(rows == j + 1, beta, jnp.where(rows > j + 1, 0, col))
        h = h.at[:, j].set(new_col)
        vs = vs.at[:, j].set(v)
        return h, q, vs, taus.at[j].set(tau)

    eye = jnp.eye(n, dtype=dt)
    if n < 2:
        return a, eye, a, jnp.zeros((max(n - 1, 0),), dt)
    h, q, vs, taus = fori_loop(0, n - 1, step, (a, eye, jnp.zeros_like(a), jnp.zeros((n - 1,), dt)))
    return h, q, jnp.where(rows[:, None] > rows[None, :] + 1, vs, h), taus


def hessenberg(a: Any) -> tuple:
    """``lax.linalg.hessenberg``: ``(a_out, taus)`` as LAPACK gehrd: the Hessenberg form in the upper triangle
    and first subdiagonal of ``a_out``, the Householder vectors below it, their scalars in ``taus``."""
    a = _check_square("hessenberg", a)
    return jnp.vectorize(lambda m: hessenberg_2d(m)[2:], signature="(n,n)->(n,n),(k)")(a)


def hessenberg_q(a: Any) -> tuple:
    """``(h, q)`` with ``a = q h q^H``, ``h`` upper Hessenberg (``scipy.linalg.hessenberg(calc_q=True)``)."""
    return jnp.vectorize(lambda m: hessenberg_2d(m)[:2], signature="(n,n)->(n,n),(n,n)")(a)


# --- shifted QR iterations ----------------------------------------------------------------------------------
def _apply(h: Any, z: Any, g: Any, k: Any) -> tuple:
    """``h := G h G^H`` and ``z := z G^H`` for the unitary ``g`` acting on rows/columns ``k .. k + p - 1``."""
    n, p = h.shape[-1], g.shape[-1]
    rows = st.dynamic_slice(h, (k, 0), (p, n))
    h = st.dynamic_update_slice(h, g @ rows, (k, 0))
    gh = _H(g)
    h = st.dynamic_update_slice(h, st.dynamic_slice(h, (0, k), (n, p)) @ gh, (0, k))
    z = st.dynamic_update_slice(z, st.dynamic_slice(z, (0, k), (n, p)) @ gh, (0, k))
    return h, z


def _givens(x: Any, y: Any) -> Any:
    """The unitary 2x2 ``G`` with ``G [x; y] = [r; 0]`` (the identity if both are 0)."""
    r = jnp.sqrt(jnp.abs(x) ** 2 + jnp.abs(y) ** 2)
    zero = r == 0
    r = jnp.where(zero, 1, r).astype(x.dtype)
    c = jnp.where(zero, 1, x / r)
    s = jnp.where(zero, 0, y / r)
    return jnp.stack([jnp.stack([jnp.conj(c), jnp.conj(s)]), jnp.stack([-s, c])])


def _reflector3(v: Any) -> Any:
    """The real 3x3 Householder reflector mapping ``v`` to a multiple of ``e1`` (the identity if ``v = 0``)."""
    norm = jnp.sqrt(jnp.sum(v * v))
    u = v.at[0].add(jnp.where(v[0] >= 0, norm, -norm))
    uu = jnp.sum(u * u)
    scale = jnp.where(uu == 0, 0, 2 / jnp.where(uu == 0, 1, uu))
    return jnp.eye(3, dtype=v.dtype) - scale * u[:, None] * u[None, :]


def _eig2(a: Any, b: Any, c: Any, d: Any) -> tuple:
    """``(p, disc)``: the eigenvalues of ``[[a, b], [c, d]]`` are ``(a + d) / 2 + p -/+ ...``: here ``p = (a - d) / 2``
    and ``disc = sqrt(p^2 + b c)`` with the sign making ``|p + disc|`` largest."""
    p = (a - d) / 2
    disc = jnp.sqrt(p * p + b * c)
    disc = jnp.where(jnp.real(jnp.conj(p) * disc) >= 0, disc, -disc)
    return p, disc


def _split_2x2(h: Any, z: Any, k: Any) -> tuple:
    """Triangularize the 2x2 diagonal block at ``k`` by a rotation whose first column is an eigenvector."""
    blk = st.dynamic_slice(h, (k, k), (2, 2))
    a, b, c, d = blk[0, 0], blk[0, 1], blk[1, 0], blk[1, 1]
    p, disc = _eig2(a, b, c, d)
    # v = [b, lam - a] for the eigenvalue lam = (a + d)/2 - disc: lam - a = -(p + disc), free of cancellation
    v1, v2 = b, -(p + disc)
    nrm = jnp.sqrt(jnp.abs(v1) ** 2 + jnp.abs(v2) ** 2)
    ok = nrm > 0
    v1 = jnp.where(ok, v1 / jnp.where(ok, nrm, 1).astype(v1.dtype), 0)
    v2 = jnp.where(ok, v2 / jnp.where(ok, nrm, 1).astype(v2.dtype), 1)
    g = jnp.stack([jnp.stack([v1, -jnp.conj(v2)]), jnp.stack([v2, jnp.conj(v1)])])
    h, z = _apply(h, z, _H(g), k)
    return h.at[k + 1, k].set(0), z


def _complex_sweep(h: Any, z: Any, lo: Any, hi: Any, exceptional: Any) -> tuple:
    """One implicit single-shift QR sweep (Givens rotations) on the window ``lo .. hi``."""
    a, b = h[hi - 1, hi - 1], h[hi - 1, hi]
    c, d = h[hi, hi - 1], h[hi, hi]
    p, disc = _eig2(a, b, c, d)
    den = p + disc
    shift = d - jnp.where(den == 0, 0, b * c / jnp.where(den == 0, 1, den))
    shift = jnp.where(exceptional, d + (0.75 * jnp.abs(c)).astype(d.dtype), shift)
    n = h.shape[-1]

    def body(k, state):
        h, z, x, y = state
        h, z = _apply(h, z, _givens(x, y), k)
        nx = h[k + 1, k]
        ny = jnp.where(k + 2 <= hi, st.dynamic_slice(h, (jnp.minimum(k + 2, n - 1), k), (1, 1))[0, 0], 0)
        return h, z, nx, ny

    h, z, _, _ = fori_loop(lo, hi, body, (h, z, h[lo, lo] - shift, h[lo + 1, lo]))
    return h, z


def _real_sweep(h: Any, z: Any, lo: Any, hi: Any, exceptional: Any) -> tuple:
    """One implicit Francis double-shift QR sweep (3x3 reflectors, a final rotation) on the window ``lo .. hi``
    (at least 3 rows)."""
    n = h.shape[-1]
    a, b = h[hi - 1, hi - 1], h[hi - 1, hi]
    c, d = h[hi, hi - 1], h[hi, hi]
    s = a + d
    t = a * d - b * c
    ex = jnp.abs(c) + jnp.abs(h[hi - 1, hi - 2])
    h11 = 0.75 * ex + d
    s = jnp.where(exceptional, 2 * h11, s)
    t = jnp.where(exceptional, h11 * h11 + 0.4375 * ex * ex, t)
    h00, h01, h10, h11_, h21 = h[lo, lo], h[lo, lo + 1], h[lo + 1, lo], h[lo + 1, lo + 1], h[lo + 2, lo + 1]
    x = h00 * h00 + h01 * h10 - s * h00 + t
    y = h10 * (h00 + h11_ - s)
    zz = h10 * h21

    def body(k, state):
        h, z, v = state
        h, z = _apply(h, z, _reflector3(v), k + 1)
        col = st.dynamic_slice(h, (k + 2, k + 1), (3, 1))[:, 0]  # rows k+2 .. k+4, clamped at the bottom
        nz = jnp.where((k + 4 <= hi) & (k + 4 < n), col[2], 0)
        nx = st.dynamic_slice(h, (k + 2, k + 1), (1, 1))[0, 0]
        ny = st.dynamic_slice(h, (k + 3, k + 1), (1, 1))[0, 0]
        return h, z, jnp.stack([nx, ny, nz])

    h, z, v = fori_loop(lo - 1, hi - 2, body, (h, z, jnp.stack([x, y, zz])))
    return _apply(h, z, _givens(v[0], v[1]), hi - 1)


def _schur_2d(a: Any) -> tuple:
    n = a.shape[-1]
    if n <= 1:
        return a, jnp.eye(n, dtype=a.dtype)
    real = not jnp.iscomplexobj(a)
    h, z, _, _ = hessenberg_2d(a)
    eps = float(dtypes.finfo(dtypes.real_dtype(a.dtype)).eps)
    rows = jnp.arange(n)
    sub = rows[:, None] == rows[None, :] + 1
    max_iter = 30 * max(10, n)

    def cond(state):
        _, _, hi, _, it = state
        return (hi > 0) & (it < max_iter)

    def body(state):
        h, z, hi, its, it = state
        diag = jnp.abs(jnp.diagonal(h))
        scale = jnp.concatenate([jnp.zeros((1,), diag.dtype), diag[:-1] + diag[1:]])
        sub_abs = jnp.concatenate([jnp.zeros((1,), diag.dtype), jnp.abs(jnp.diagonal(h, -1))])
        negligible = sub_abs <= eps * jnp.where(scale == 0, jnp.max(jnp.abs(h)), scale)  # sub_abs[k] = |h[k, k-1]|
        h = jnp.where(sub & negligible[:, None], 0, h)
        lo = jnp.max(jnp.where((rows >= 1) & (rows <= hi) & negligible, rows, 0))
        size = hi - lo + 1
        if real:
            blk_a, blk_b, blk_c, blk_d = h[hi - 1, hi - 1], h[hi - 1, hi], h[hi, hi - 1], h[hi, hi]
            p = (blk_a - blk_d) / 2
            split = p * p + blk_b * blk_c >= 0
        else:
            split = True
        exceptional = (its > 0) & (its % 10 == 0)
        branch = jnp.where(size == 1, 0, jnp.where(size == 2, 1, 2))

        def one(h, z):
            return h, z, hi - 1, jnp.int32(0)

        def two(h, z):
            hs, zs = _split_2x2(h, z, hi - 1)
            return jnp.where(split, hs, h), jnp.where(split, zs, z), hi - 2, jnp.int32(0)

        def sweep(h, z):
            h, z = (_real_sweep if real else _complex_sweep)(h, z, lo, hi, exceptional)
            return jnp.triu(h, -1), z, hi, its + 1

        h, z, hi, its = switch(branch, [one, two, sweep] if n > 2 else [one, two], h, z)  # windows <= n rows
        return h, z, hi, its, it + 1

    h, z, hi, _, _ = while_loop(cond, body, (h, z, jnp.int32(n - 1), jnp.int32(0), jnp.int32(0)))
    t = jnp.triu(h, -1) if real else jnp.triu(h)
    failed = hi > 0
    return jnp.where(failed, jnp.nan, t), jnp.where(failed, jnp.nan, z)


def schur(x: Any, *, compute_schur_vectors: bool = True, sort_eig_vals: bool = False,
          select_callable: Any = None) -> tuple:
    """``lax.linalg.schur``: ``(T, Q)`` with ``x = Q T Q^H``, ``Q`` unitary and ``T`` upper triangular (complex
    ``x``) or quasi upper triangular (real ``x``: the real Schur form); ``(T,)`` without Schur vectors."""
    if sort_eig_vals:
        raise NotImplementedError("The sort feature of LAPACK's gees routine is not implemented.")
    x = _check_square("schur", x)
    t, q = jnp.vectorize(_schur_2d, signature="(n,n)->(n,n),(n,n)")(x)
    return (t, q) if compute_schur_vectors else (t,)


__all__ = ["hessenberg", "schur", "tridiagonal"]
