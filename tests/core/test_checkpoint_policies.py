"""Rematerialisation control: checkpoint_policies decide which residuals the forward pass saves and which the
backward pass recomputes (counted in the jaxpr of the gradient), with the gradients of the unchecked function."""
import numpy as np
import pytest

import portax as jax
import portax.numpy as jnp
from portax import lax
from portax.ad_checkpoint import checkpoint_name, print_saved_residuals

cp = jax.checkpoint_policies


def mlp(w, x):
    for _ in range(3):
        x = jnp.sin(w @ x)
    return jnp.sum(x)


def _args():
    rng = np.random.RandomState(0)
    return rng.randn(4, 4).astype(np.float32) * 0.5, rng.randn(4).astype(np.float32)


def _backward_body(f, *args):
    """The checkpoint equation of the gradient's jaxpr (the backward pass) and the equations outside it."""
    jaxpr = jax.make_jaxpr(jax.grad(f))(*args).jaxpr
    (bwd,) = [e for e in jaxpr.eqns if e.primitive.name == "checkpoint"]
    return [e.primitive.name for e in bwd.params["jaxpr"].eqns], [e.primitive.name for e in jaxpr.eqns]


POLICIES = [None, cp.everything_saveable, cp.nothing_saveable, cp.dots_saveable, cp.checkpoint_dots,
            cp.dots_with_no_batch_dims_saveable, cp.checkpoint_dots_with_no_batch_dims]


@pytest.mark.parametrize("policy", POLICIES, ids=lambda p: getattr(p, "__name__", repr(p)))
def test_policies_give_the_unchecked_gradients(policy):
    w, x = _args()
    f = jax.checkpoint(mlp, policy=policy)
    expected = jax.grad(mlp, argnums=(0, 1))(w, x)
    for got in (jax.grad(f, argnums=(0, 1))(w, x), jax.jit(jax.grad(f, argnums=(0, 1)))(w, x)):
        for g, e in zip(got, expected):
            np.testing.assert_allclose(g, e, rtol=2e-5, atol=1e-6)
    batched = jax.vmap(jax.grad(f), in_axes=(None, 0))(w, np.stack([x, 2 * x]))
    np.testing.assert_allclose(batched[1], jax.grad(mlp)(w, 2 * x), rtol=2e-5, atol=1e-6)


def test_nothing_saveable_recomputes_everything():
    w, x = _args()
    bwd, _ = _backward_body(jax.checkpoint(mlp, policy=cp.nothing_saveable), w, x)
    # 3 primal dots recomputed + 2 per layer in the transpose (w and x cotangents), 3 sin recomputed
    assert bwd.count("dot_general") == 3 + 6 - 1 and bwd.count("sin") == 2 and bwd.count("cos") == 3
    assert _backward_body(jax.checkpoint(mlp), w, x)[0] == bwd  # the default policy


def test_dots_saveable_recomputes_only_non_dot_ops():
    w, x = _args()
    bwd, fwd = _backward_body(jax.checkpoint(mlp, policy=cp.dots_saveable), w, x)
    assert bwd.count("dot_general") == 6 - 1  # only the transposed dots: none recomputed
    assert bwd.count("cos") == 3  # the non-dot residuals are recomputed from the saved dots
    assert fwd.count("dot_general") == 3 and "cos" not in fwd


def test_everything_saveable_recomputes_nothing():
    w, x = _args()
    bwd, fwd = _backward_body(jax.checkpoint(mlp, policy=cp.everything_saveable), w, x)
    assert "sin" not in bwd and "cos" not in bwd and bwd.count("dot_general") == 5
    assert fwd.count("cos") == 3


def test_dots_with_no_batch_dims_saveable():
    def f(w, x):  # a batched matmul (batch dims) then an unbatched one
        y = jnp.sin(jnp.einsum("bij,bj->bi", w, x))
        return jnp.sum(jnp.sin(y @ w[0]))
    rng = np.random.RandomState(1)
    w, x = rng.randn(2, 3, 3).astype(np.float32), rng.randn(2, 3).astype(np.float32)
    saved = jax.ad_checkpoint.checkpoint_policies.dots_with_no_batch_dims_saveable
    res = _residual_sources(jax.checkpoint(f, policy=saved), w, x)
    assert sum("dot_general" in s for s in res) == 1
    assert sum("dot_general" in s for s in _residual_sources(jax.checkpoint(f, policy=cp.dots_saveable), w, x)) == 2
    np.testing.assert_allclose(jax.grad(jax.checkpoint(f, policy=saved))(w, x), jax.grad(f)(w, x), rtol=2e-5,
                               atol=1e-6)


def _residual_sources(f, *args):
    from portax.core.ad_checkpoint import saved_residuals
    return [src for _, src in saved_residuals(f, *args)]


def named(x):
    a = checkpoint_name(jnp.sin(x), "a")
    b = checkpoint_name(jnp.cos(a) * 3.0, "b")
    return jnp.sum(jnp.sin(b) * a)


@pytest.mark.parametrize("policy,names", [(cp.save_only_these_names("a"), {"a"}),
                                          (cp.save_only_these_names("a", "b"), {"a", "b"}),
                                          (cp.save_any_names_but_these("a"), {"b"}),
                                          (cp.save_from_both_policies(cp.save_only_these_names("b"),
                                                                      cp.nothing_saveable), {"b"})])
def test_name_policies_save_the_named_values(policy, names):
    x = np.linspace(-1, 1, 5).astype(np.float32)
    f = jax.checkpoint(named, policy=policy)
    sources = _residual_sources(f, x)
    assert {s.split("'")[1] for s in sources if s.startswith("named")} == names
    assert all(s.startswith(("named", "from the argument")) for s in sources)
    np.testing.assert_allclose(jax.grad(f)(x), jax.grad(named)(x), rtol=2e-5, atol=1e-6)
    np.testing.assert_allclose(jax.jit(jax.grad(f))(x), jax.grad(named)(x), rtol=2e-5, atol=1e-6)


def test_checkpoint_name_is_the_identity():
    x = np.arange(3.0, dtype=np.float32)
    tree = checkpoint_name({"u": x, "v": (x * 2,)}, "n")
    np.testing.assert_array_equal(tree["v"][0], x * 2)
    np.testing.assert_array_equal(jax.jit(lambda v: checkpoint_name(v, "n") + 1)(x), x + 1)
    np.testing.assert_array_equal(jax.vmap(lambda v: checkpoint_name(v, "n"))(x), x)
    assert float(jax.grad(lambda v: checkpoint_name(v, "n") ** 2)(3.0)) == 6.0
    assert "name[name=n]" in str(jax.make_jaxpr(lambda v: checkpoint_name(v, "n"))(x))


def test_print_saved_residuals(capsys):
    w, x = _args()
    print_saved_residuals(jax.checkpoint(mlp, policy=cp.dots_saveable), w, x)
    lines = capsys.readouterr().out.splitlines()
    assert lines[:2] == ["f32[4,4] from the argument w", "f32[4] from the argument x"]
    assert len(lines) == 5 and all(l.startswith("f32[4] output of dot_general from ") for l in lines[2:])
    assert lines[2].endswith("test_checkpoint_policies.py:16 (mlp)")
    print_saved_residuals(jax.checkpoint(mlp), w, x)
    assert capsys.readouterr().out.splitlines() == lines[:2]


def test_policy_inside_scan():
    def loss(w, xs):
        step = jax.checkpoint(lambda c, x: (jnp.sin(w @ c + x), jnp.sum(c)), policy=cp.dots_saveable)
        return jnp.sum(lax.scan(step, xs[0], xs)[1])

    def ref(w, xs):
        return jnp.sum(lax.scan(lambda c, x: (jnp.sin(w @ c + x), jnp.sum(c)), xs[0], xs)[1])
    w, _ = _args()
    xs = np.random.RandomState(2).randn(3, 4).astype(np.float32)
    np.testing.assert_allclose(jax.grad(loss)(w, xs), jax.grad(ref)(w, xs), rtol=2e-5, atol=1e-6)


def test_offload_policies_are_not_supported():
    with pytest.raises(NotImplementedError, match="offload"):
        cp.offload_dot_with_no_batch_dims("device", "pinned_host")
    with pytest.raises(NotImplementedError, match="offload"):
        cp.save_and_offload_only_these_names(names_which_can_be_saved=["a"], names_which_can_be_offloaded=["b"],
                                             offload_src="device", offload_dst="pinned_host")
    with pytest.raises(ValueError, match="should not intersect"):
        cp.save_and_offload_only_these_names(names_which_can_be_saved=["a"], names_which_can_be_offloaded=["a"],
                                             offload_src="device", offload_dst="pinned_host")


def test_removed_ad_checkpoint_aliases():
    with pytest.raises(AttributeError, match="use jax.checkpoint instead"):
        jax.ad_checkpoint.checkpoint


def test_inputs_the_recomputation_does_not_read_are_not_saved():
    from portax.core.ad_checkpoint import saved_residuals

    def f(x):  # linear in x: its tangent reads the saved names only, never x
        y = checkpoint_name(jnp.multiply(2.0, 2.0), "y")
        z = checkpoint_name(jnp.multiply(2.0, 3.0), "z")
        return x * y * z * jnp.multiply(2.0, 2.0)

    res = saved_residuals(jax.checkpoint(f, policy=cp.save_only_these_names("y", "z")), 1.0)
    assert [src.split(" from ")[0] for _, src in res] == ["named 'y'", "named 'z'"]
    assert saved_residuals(jax.checkpoint(f, policy=cp.nothing_saveable), 1.0) == []
    assert float(jax.grad(jax.checkpoint(f, policy=cp.nothing_saveable))(1.0)) == 96.0


def test_residuals_are_logged(caplog):
    def f(x):
        return jnp.cos(jnp.sin(x).sum())

    x = jnp.arange(3.0)
    with caplog.at_level("DEBUG", logger="portax.core.ad_checkpoint"):
        jax.grad(jax.checkpoint(f, policy=lambda p, *_, **__: str(p) == "cos"))(x)
    text = caplog.text
    assert "remat-decorated function saving inputs with shapes:\n  f32[3]\nand saving these intermediates:\n" \
           "  f32[3] from output of cos from " in text
    assert " sin " not in text


def test_recomputed_cond_runs_only_what_the_backward_pass_reads():
    branch = lambda c: (jnp.sin(c), jnp.sin(c))  # noqa: E731  (the tangent needs cos only)
    f = jax.checkpoint(lambda x: lax.cond(x > 0.0, branch, branch, x))
    text = str(jax.make_jaxpr(jax.linearize(f, 4.0)[1])(1.0))
    assert " sin " not in text and " cos " in text
    np.testing.assert_allclose(jax.grad(lambda x: sum(f(x)))(4.0), 2 * np.cos(4.0), rtol=1e-6)
