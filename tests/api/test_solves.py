"""lax.custom_linear_solve, lax.custom_root and scipy.sparse.linalg.cg / bicgstab: values against numpy (and
JAX 0.10.2 for partial iterations), derivatives against finite differences and the implicit-function formulas,
under jit, vmap and nested differentiation."""
import numpy as np
import pytest

import portax as jax
import portax.numpy as jnp
from portax import lax
from portax.scipy.sparse.linalg import bicgstab, cg, gmres
from portax.test_util import check_grads

RNG = np.random.RandomState(0)
_Q = RNG.randn(5, 5)
SPD = _Q @ _Q.T + 5 * np.eye(5)  # symmetric positive definite
GEN = SPD + RNG.randn(5, 5)  # general
B = RNG.randn(5)


def _solve(a, b, symmetric=False, transpose=True, has_aux=False):
    solve = lambda mv, r: (jnp.linalg.solve(a, r), jnp.sum(r)) if has_aux else jnp.linalg.solve(a, r)
    tsolve = (lambda vm, r: (jnp.linalg.solve(a.T, r), jnp.sum(r)) if has_aux else jnp.linalg.solve(a.T, r))
    return lax.custom_linear_solve(lambda x: a @ x, b, solve, None if symmetric or not transpose else tsolve,
                                   symmetric=symmetric, has_aux=has_aux)


def test_custom_linear_solve_value_and_jaxpr():
    np.testing.assert_allclose(_solve(jnp.asarray(GEN), B), np.linalg.solve(GEN, B), rtol=1e-5)
    assert "custom_linear_solve" in str(jax.make_jaxpr(_solve)(GEN, B))


def test_custom_linear_solve_derivatives(x64):
    check_grads(_solve, (GEN, B), order=2, modes=("fwd", "rev"))
    check_grads(lambda a, b: _solve(a, b, symmetric=True), (SPD, B), order=2)
    # implicit function theorem: d/db = A^-1, d/dA_ij = -A^-1 e_i x_j
    x = np.linalg.solve(GEN, B)
    g = np.ones(5)
    ga, gb = jax.grad(lambda a, b: jnp.sum(_solve(a, b)), argnums=(0, 1))(GEN, B)
    w = np.linalg.solve(GEN.T, g)
    np.testing.assert_allclose(gb, w, rtol=1e-10)
    np.testing.assert_allclose(ga, -np.outer(w, x), rtol=1e-10)


def test_custom_linear_solve_under_jit_vmap_and_second_order(x64):
    loss = lambda a, b: jnp.sum(_solve(a, b) ** 2)
    want = jax.grad(loss, argnums=(0, 1))(GEN, B)
    for got, w in zip(jax.jit(jax.grad(loss, argnums=(0, 1)))(GEN, B), want):
        np.testing.assert_allclose(got, w, rtol=1e-10)
    mats = np.stack([GEN, SPD])
    batched = jax.vmap(jax.grad(loss))(mats, np.stack([B, 2 * B]))
    for i, (m, b) in enumerate(((GEN, B), (SPD, 2 * B))):
        np.testing.assert_allclose(batched[i], jax.grad(loss)(m, b), rtol=1e-10)
    np.testing.assert_allclose(jax.vmap(_solve, in_axes=(None, 1), out_axes=1)(GEN, np.eye(5)),
                               np.linalg.inv(GEN), rtol=1e-10, atol=1e-14)
    ainv = np.linalg.inv(GEN)
    np.testing.assert_allclose(jax.hessian(loss, argnums=1)(GEN, B), 2 * ainv.T @ ainv, rtol=1e-9)
    np.testing.assert_allclose(jax.jacfwd(jax.jacrev(loss, argnums=1), argnums=1)(GEN, B), 2 * ainv.T @ ainv,
                               rtol=1e-9)


def test_custom_linear_solve_has_aux_and_pytrees(x64):
    x, aux = _solve(jnp.asarray(GEN), B, has_aux=True)
    np.testing.assert_allclose(x, np.linalg.solve(GEN, B), rtol=1e-10)
    np.testing.assert_allclose(aux, B.sum())
    check_grads(lambda b: _solve(GEN, b, has_aux=True)[0], (B,), order=1)
    tree = {"u": jnp.ones(2), "v": jnp.arange(1.0, 4.0)}
    out = lax.custom_linear_solve(lambda t: {"u": 2 * t["u"], "v": 4 * t["v"]}, tree,
                                  lambda mv, t: {"u": t["u"] / 2, "v": t["v"] / 4}, symmetric=True)
    np.testing.assert_allclose(out["v"], np.arange(1.0, 4.0) / 4)
    g = jax.grad(lambda t: jnp.sum(lax.custom_linear_solve(lambda s: {"u": 2 * s["u"], "v": 4 * s["v"]}, t,
                                                           lambda mv, s: {"u": s["u"] / 2, "v": s["v"] / 4},
                                                           symmetric=True)["v"]))(tree)
    np.testing.assert_allclose(g["u"], 0.0)
    np.testing.assert_allclose(g["v"], 0.25)


def test_custom_linear_solve_errors():
    with pytest.raises(TypeError, match="transpose_solve required"):
        jax.grad(lambda b: jnp.sum(_solve(jnp.asarray(GEN), b, transpose=False)))(B)
    jax.jvp(lambda b: _solve(jnp.asarray(GEN), b, transpose=False), (B,), (B,))  # forward mode needs no transpose
    with pytest.raises(ValueError, match="output shapes must match b"):
        lax.custom_linear_solve(lambda x: x[:2], jnp.ones(3), lambda mv, b: b)
    with pytest.raises(TypeError, match="pytree structure must match b"):
        lax.custom_linear_solve(lambda x: x, jnp.ones(3), lambda mv, b: (b, b))


def _sqrt_cubed(x, tangent_solve=lambda g, y: y / g(1.0)):
    f = lambda y: y ** 2 - x ** 3
    newton = lambda f, y0: lax.fori_loop(0, 40, lambda i, y: y - f(y) / (2 * y), y0)
    return lax.custom_root(f, 1.0, newton, tangent_solve)


def test_custom_root(x64):
    np.testing.assert_allclose(_sqrt_cubed(2.0), 2.0 ** 1.5, rtol=1e-12)
    np.testing.assert_allclose(jax.grad(_sqrt_cubed)(2.0), 1.5 * 2.0 ** 0.5, rtol=1e-12)
    np.testing.assert_allclose(jax.jit(jax.grad(jax.grad(_sqrt_cubed)))(2.0), 0.75 * 2.0 ** -0.5, rtol=1e-10)
    xs = np.array([2.0, 3.0, 5.0])
    np.testing.assert_allclose(jax.vmap(jax.grad(_sqrt_cubed))(xs), 1.5 * xs ** 0.5, rtol=1e-12)
    check_grads(_sqrt_cubed, (2.5,), order=2)


def test_custom_root_vector_with_aux(x64):
    """Root of A y - c (a linear system as a root problem), gradients with respect to A and c."""
    def root(a, c):
        f = lambda y: a @ y - c
        solve = lambda f, y0: (jnp.linalg.solve(a, c), jnp.int32(3))
        tangent_solve = lambda g, y: jnp.linalg.solve(jax.jacfwd(g)(y), y)
        return lax.custom_root(f, jnp.zeros(5), solve, tangent_solve, has_aux=True)
    y, aux = root(GEN, B)
    np.testing.assert_allclose(y, np.linalg.solve(GEN, B), rtol=1e-10)
    assert int(aux) == 3
    check_grads(lambda a, c: root(a, c)[0], (GEN, B), order=1)


# --- scipy.sparse.linalg ----------------------------------------------------------------------------------------
# x after a fixed number of iterations, from jax.scipy.sparse.linalg (JAX 0.10.2, float64) on the inputs above
JAX_CG_2 = [-0.03767802862164437, 0.06319132984586295, -0.038382045937945954, -0.15674069791543013,
            -0.032725447944401326]
JAX_BICGSTAB_1 = [-0.03477336762962778, 0.031129432464320136, -0.03281874282043066, -0.11139315916499148,
                  -0.02857464859932198]


def test_cg_and_bicgstab_values(x64):
    np.testing.assert_allclose(cg(SPD, B, tol=1e-12)[0], np.linalg.solve(SPD, B), rtol=1e-10)
    np.testing.assert_allclose(bicgstab(GEN, B, tol=1e-12)[0], np.linalg.solve(GEN, B), rtol=1e-9)
    np.testing.assert_allclose(cg(SPD, B, maxiter=2)[0], JAX_CG_2, rtol=1e-12)
    np.testing.assert_allclose(bicgstab(GEN, B, maxiter=1)[0], JAX_BICGSTAB_1, rtol=1e-12)
    pre = cg(lambda x: jnp.asarray(SPD) @ x, B, M=np.diag(1 / np.diag(SPD)), tol=1e-12)[0]
    np.testing.assert_allclose(pre, np.linalg.solve(SPD, B), rtol=1e-10)
    x, info = cg(lambda t: {"a": 2 * t["a"], "b": 3 * t["b"]}, {"a": jnp.ones(2), "b": jnp.ones(3)})
    assert info is None
    np.testing.assert_allclose(x["b"], 1 / 3)
    assert cg(SPD, B, x0=np.linalg.solve(SPD, B), maxiter=0)[0].shape == (5,)


def test_cg_and_bicgstab_gradients(x64):
    for method, a in ((cg, SPD), (bicgstab, GEN)):
        loss = lambda a, b: jnp.sum(method(a, b, tol=1e-13)[0] ** 2)
        ga, gb = jax.jit(jax.grad(loss, argnums=(0, 1)))(a, B)
        x = np.linalg.solve(a, B)
        w = np.linalg.solve(a.T, 2 * x)
        np.testing.assert_allclose(gb, w, rtol=1e-8)
        np.testing.assert_allclose(ga, -np.outer(w, x), rtol=1e-8)
    check_grads(lambda b: cg(SPD, b, tol=1e-13)[0], (B,), order=2)
    out = jax.vmap(lambda b: cg(SPD, b, tol=1e-12)[0])(np.stack([B, 2 * B]))
    np.testing.assert_allclose(out[1], 2 * np.linalg.solve(SPD, B), rtol=1e-9)


def test_isolve_errors():
    with pytest.raises(ValueError, match="square matrix"):
        cg(np.ones((2, 3)), np.ones(2))
    with pytest.raises(TypeError, match="either a function or ndarray"):
        cg("A", np.ones(2))
    with pytest.raises(ValueError, match="matching shapes"):
        cg(np.eye(2), np.ones(2), x0=np.ones(3))


def test_gmres_matches_solve_jax_and_differentiates():
    rng = np.random.RandomState(0)
    a = (rng.randn(6, 6) + 6 * np.eye(6)).astype(np.float32)
    b = rng.randn(6).astype(np.float32)
    np.testing.assert_allclose(gmres(a, b)[0], np.linalg.solve(a, b), rtol=1e-4, atol=1e-5)
    # one cycle of GMRES(2) and the implicit gradient, as JAX 0.10.2 computes them
    np.testing.assert_allclose(gmres(a, b, restart=2, maxiter=1)[0],
                               [0.16985023, 0.23364782, -0.0492945, -0.0577716, -0.09396191, -0.28119075], rtol=1e-4)
    np.testing.assert_allclose(jax.grad(lambda v: gmres(a, v)[0].sum())(b),
                               [0.05716741, 0.19002357, 0.22790514, 0.1507252, 0.05883564, 0.13834359], rtol=1e-4)
    tree = {"u": b[:2], "w": b[2:].reshape(2, 2)}
    matvec = lambda t: {"u": t["u"] * 3.0, "w": t["w"] * 2.0 + 1e-3 * t["w"].T}
    x, info = jax.jit(lambda t: gmres(matvec, t, tol=1e-6))(tree)
    assert info is None
    np.testing.assert_allclose(matvec(x)["w"], tree["w"], rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(x["u"], tree["u"] / 3.0, rtol=1e-5)
    with pytest.raises(ValueError, match="solve_method"):
        gmres(a, b, solve_method="qr")
