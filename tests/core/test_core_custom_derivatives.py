"""custom_jvp (the custom_jvp_call primitive) and custom_vjp (custom_vjp_call, with custom_lin standing for
the user's backward pass in linearized programs) under jit, vmap, grad and their compositions;
checkpoint (the checkpoint primitive) gives the same gradients; stop_gradient."""
import numpy as np
import pytest

import portax as jax
import portax.numpy as jnp
from portax import lax
from portax.core import dtypes


def _x(*shape, seed=0):
    return np.random.RandomState(seed).uniform(-1, 1, shape).astype(np.float32)


def _allclose(a, b, tol=1e-5):
    np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=tol, atol=tol)


# ============================================= custom_jvp ===========================================================
@jax.custom_jvp
def softplus(x):
    return jnp.log1p(jnp.exp(x))


@softplus.defjvp
def softplus_jvp(primals, tangents):
    (x,), (t,) = primals, tangents
    # Deliberately 3x the true derivative, so tests see that the rule (not autodiff of the body) is used.
    return softplus(x), 3.0 * lax.logistic(x) * t


def sig(x):
    return 1 / (1 + np.exp(-x))


def test_custom_jvp_value_and_rule():
    x = _x(4)
    _allclose(softplus(x), np.log1p(np.exp(x)))
    y, t = jax.jvp(softplus, (x,), (np.ones(4, np.float32),))
    _allclose(t, 3 * sig(x))
    _allclose(jax.grad(lambda x: jnp.sum(softplus(x)))(x), 3 * sig(x))


def test_custom_jvp_under_jit_vmap_and_compositions():
    x = _x(5)
    g = jax.grad(lambda x: softplus(x))
    _allclose(jax.jit(g)(x[0]), 3 * sig(x[0]))
    _allclose(jax.vmap(g)(x), 3 * sig(x))
    _allclose(jax.grad(lambda x: jnp.sum(jax.vmap(softplus)(x)))(x), 3 * sig(x))
    _allclose(jax.jit(jax.vmap(softplus))(x), np.log1p(np.exp(x)))
    _allclose(jax.jacfwd(softplus)(x), np.diag(3 * sig(x)))
    _, t = jax.vmap(lambda x, t: jax.jvp(softplus, (x,), (t,)))(x, np.ones(5, np.float32))
    _allclose(t, 3 * sig(x))
    _, t = jax.jvp(jax.vmap(softplus), (x,), (np.ones(5, np.float32),))
    _allclose(t, 3 * sig(x))
    assert "custom_jvp_call" in str(jax.make_jaxpr(softplus)(x))


def test_custom_jvp_second_derivative_differentiates_the_rule():
    d2 = jax.grad(jax.grad(softplus))(0.5)
    s = sig(0.5)
    assert float(d2) == pytest.approx(3 * s * (1 - s), rel=1e-5)


def test_custom_jvp_defjvps_and_pytrees():
    @jax.custom_jvp
    def f(x, y):
        return x * y

    f.defjvps(lambda g, ans, x, y: g * y * 10.0, lambda g, ans, x, y: g * x)
    x, y = _x(3), _x(3, seed=1)
    gx, gy = jax.grad(lambda x, y: jnp.sum(f(x, y)), argnums=(0, 1))(x, y)
    _allclose(gx, 10 * y)
    _allclose(gy, x)

    @jax.custom_jvp
    def h(d):
        return {"s": d["a"] + d["b"]}

    @h.defjvp
    def h_jvp(primals, tangents):
        (d,), (t,) = primals, tangents
        return h(d), {"s": t["a"] - t["b"]}
    g = jax.grad(lambda d: jnp.sum(h(d)["s"]))({"a": x, "b": y})
    _allclose(g["a"], np.ones(3))
    _allclose(g["b"], -np.ones(3))


def test_custom_jvp_nondiff_argnums():
    from functools import partial

    @partial(jax.custom_jvp, nondiff_argnums=(0,))
    def apply(fn, x):
        return fn(x)

    @apply.defjvp
    def apply_jvp(fn, primals, tangents):
        (x,), (t,) = primals, tangents
        return apply(fn, x), 2.0 * t
    assert float(jax.grad(lambda x: apply(jnp.sin, x))(1.0)) == 2.0
    assert float(jax.jit(jax.grad(lambda x: apply(jnp.sin, x)))(1.0)) == 2.0
    _allclose(jax.vmap(jax.grad(lambda x: apply(jnp.cos, x)))(_x(3)), 2 * np.ones(3))


def test_custom_jvp_rule_with_wrong_structure_is_an_error():
    @jax.custom_jvp
    def f(x):
        return x

    f.defjvp(lambda p, t: (p[0], (t[0], t[0])))
    with pytest.raises(TypeError, match="Custom JVP rule"):
        jax.jvp(f, (1.0,), (1.0,))


def test_custom_jvp_without_rule_is_an_error():
    f = jax.custom_jvp(lambda x: x)
    with pytest.raises(AttributeError, match="No JVP defined"):
        f(1.0)


# ============================================= custom_vjp ===========================================================
@jax.custom_vjp
def clip_gradient(x, lo, hi):
    return x


def clip_fwd(x, lo, hi):
    return x, (lo, hi)


def clip_bwd(res, g):
    lo, hi = res
    return (jnp.clip(g, lo, hi), None, None)


clip_gradient.defvjp(clip_fwd, clip_bwd)


def test_custom_vjp_uses_backward_rule():
    g = jax.grad(lambda x: jnp.sum(clip_gradient(x, -0.5, 0.5) * 3.0))(_x(4))
    _allclose(g, 0.5 * np.ones(4))
    assert float(jax.grad(lambda x: clip_gradient(x, -1.0, 1.0) * 0.25)(2.0)) == 0.25


def test_custom_vjp_under_jit_vmap_and_compositions():
    loss = lambda x: jnp.sum(clip_gradient(x, -0.5, 0.5) * 3.0)
    x = _x(4)
    _allclose(jax.jit(jax.grad(loss))(x), 0.5 * np.ones(4))
    _allclose(jax.vmap(jax.grad(loss))(_x(2, 4)), 0.5 * np.ones((2, 4)))
    _allclose(jax.grad(lambda x: jnp.sum(jax.vmap(lambda r: clip_gradient(r, -0.1, 0.1) * 3.0)(x)))(_x(3, 2)),
              0.1 * np.ones((3, 2)))
    _allclose(jax.jacrev(lambda x: clip_gradient(x, -0.5, 0.5) * 3.0)(x), 0.5 * np.eye(4))
    assert "custom_vjp_call" in str(jax.make_jaxpr(lambda x: clip_gradient(x, 0.0, 1.0))(1.0))


def test_custom_rules_inside_jit_cond_scan_and_checkpoint():
    x, xs = np.float32(0.5), _x(3)
    expected = 3 * sig(x)
    for wrap in (jax.jit, jax.checkpoint, lambda f: lambda v: lax.cond(v > 0, f, jnp.cos, v),
                 lambda f: lambda v: lax.scan(lambda c, _: (f(c), None), v, None, length=1)[0]):
        assert float(jax.grad(wrap(softplus))(x)) == pytest.approx(expected, rel=1e-5)
        assert float(jax.grad(wrap(lambda v: clip_gradient(v, -0.25, 0.25) * 3.0))(x)) == 0.25
    _allclose(jax.vmap(jax.grad(jax.jit(softplus)))(xs), 3 * sig(xs))
    _allclose(jax.hessian(jax.jit(softplus))(x), 3 * sig(x) * (1 - sig(x)))


def test_custom_vjp_with_pytree_residuals_and_integer_argument():
    @jax.custom_vjp
    def f(x, n):
        return x ** n

    def fwd(x, n):
        return f(x, n), {"x": x, "n": n}

    def bwd(res, g):
        return (g * res["n"] * res["x"] ** (res["n"] - 1) * 100.0, None)
    f.defvjp(fwd, bwd)
    x = _x(3)
    _allclose(jax.grad(lambda x: jnp.sum(f(x, 3)))(x), 300 * x ** 2, 1e-4)
    gx, gn = jax.grad(lambda x, n: jnp.sum(f(x, n)), argnums=(0, 1), allow_int=True)(x, 2)
    _allclose(gx, 200 * x)
    assert np.asarray(gn).dtype == dtypes.float0


def test_custom_vjp_forward_mode_is_an_error():
    with pytest.raises(TypeError, match="can't apply forward-mode autodiff"):
        jax.jvp(lambda x: clip_gradient(x, 0.0, 1.0), (1.0,), (1.0,))


def test_custom_vjp_bwd_with_wrong_arity_is_an_error():
    @jax.custom_vjp
    def f(x, y):
        return x * y
    f.defvjp(lambda x, y: (x * y, (x, y)), lambda res, g: (g,))
    with pytest.raises(TypeError, match="cotangent"):
        jax.grad(f)(1.0, 2.0)


def test_custom_vjp_nondiff_argnums():
    from functools import partial

    @partial(jax.custom_vjp, nondiff_argnums=(0,))
    def scale_grad(factor, x):
        return x

    scale_grad.defvjp(lambda factor, x: (x, None), lambda factor, res, g: (g * factor,))
    assert float(jax.grad(lambda x: scale_grad(5.0, x))(1.0)) == 5.0
    _allclose(jax.vmap(jax.grad(lambda x: scale_grad(-2.0, x)))(_x(3)), -2 * np.ones(3))


# ============================================= checkpoint ===========================================================
def mlp(w, x):
    for _ in range(3):
        x = jnp.tanh(x @ w)
    return jnp.sum(x ** 2)


def test_checkpoint_gives_same_gradients():
    w, x = _x(4, 4), _x(2, 4, seed=1)
    remat_mlp = jax.checkpoint(mlp)
    _allclose(jax.grad(remat_mlp)(w, x), jax.grad(mlp)(w, x))
    _allclose(jax.jit(jax.grad(remat_mlp))(w, x), jax.grad(mlp)(w, x))
    _allclose(jax.grad(jax.remat(mlp), argnums=1)(w, x), jax.grad(mlp, argnums=1)(w, x))
    _allclose(jax.vmap(jax.grad(remat_mlp), in_axes=(None, 0))(w, _x(3, 2, 4)),
              jax.vmap(jax.grad(mlp), in_axes=(None, 0))(w, _x(3, 2, 4)))
    t = _x(4, 4, seed=2)
    _allclose(jax.jvp(lambda w: remat_mlp(w, x), (w,), (t,))[1], jax.jvp(lambda w: mlp(w, x), (w,), (t,))[1])
    _allclose(jax.hessian(lambda x: remat_mlp(w, x))(x[0]), jax.hessian(lambda x: mlp(w, x))(x[0]), 1e-4)


def test_checkpoint_recomputes_in_the_backward_pass():
    f = jax.checkpoint(lambda x: jnp.sin(jnp.sin(x)))
    text = str(jax.make_jaxpr(jax.grad(f))(1.0))
    assert "checkpoint" in text
    assert float(jax.grad(f)(1.0)) == pytest.approx(np.cos(np.sin(1.0)) * np.cos(1.0), rel=1e-6)


def test_checkpoint_static_argnums():
    f = jax.checkpoint(lambda x, n: x ** n if n > 1 else x, static_argnums=(1,))
    assert float(jax.grad(f)(2.0, 3)) == 12.0


def test_checkpoint_of_scan_body():
    def loss(w, xs):
        step = jax.checkpoint(lambda c, x: (jnp.tanh(c * w + x), c))
        return jnp.sum(lax.scan(step, 0.5, xs)[1])
    xs = _x(5)
    ref = lambda w, xs: jnp.sum(lax.scan(lambda c, x: (jnp.tanh(c * w + x), c), 0.5, xs)[1])
    assert float(jax.grad(loss)(0.3, xs)) == pytest.approx(float(jax.grad(ref)(0.3, xs)), rel=1e-5)


# ============================================= stop_gradient ========================================================
def test_stop_gradient():
    assert float(jax.grad(lambda x: lax.stop_gradient(x) * x)(3.0)) == 3.0
    d = lax.stop_gradient({"a": np.float32(1.0), "b": (np.float32(2.0),)})
    assert float(d["b"][0]) == 2.0
    _, t = jax.jvp(lax.stop_gradient, (1.0,), (1.0,))
    assert float(t) == 0.0
    _allclose(jax.vmap(jax.grad(lambda x: jnp.sum(lax.stop_gradient(x ** 2) * x)))(_x(2, 3)), _x(2, 3) ** 2)
    assert float(jax.jit(jax.grad(lambda x: x + lax.stop_gradient(x)))(1.0)) == 1.0
    assert int(lax.stop_gradient(np.int32(3))) == 3
