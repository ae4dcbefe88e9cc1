"""A pmap inside a loop or a branch (JAX's jit-of-pmap in control flow): the host steps the loop, each pmap
runs its per-device programs; eager, under jit and under grad, against the same loop without the pmap."""
import numpy as np
import pytest

import portax as jax
import portax.numpy as jnp
from portax import lax


def _summed(x):
    """psum of sin over the devices, by a pmap."""
    return jax.pmap(lambda z: lax.psum(jnp.sin(z), "i"), axis_name="i")(x)


def _plain(x):
    return jnp.broadcast_to(jnp.sin(x).sum(), x.shape)


def _x():
    return jnp.asarray(np.linspace(0.1, 1.0, jax.device_count(), dtype=np.float32))


@pytest.mark.parametrize("jit", [False, True], ids=["eager", "jit"])
def test_fori_loop_of_pmap(jit):
    run = lambda body: lambda x: lax.fori_loop(0, 3, lambda i, v: body(v) + v, x)
    f, g = (jax.jit(run(_summed)), jax.jit(run(_plain))) if jit else (run(_summed), run(_plain))
    np.testing.assert_allclose(f(_x()), g(_x()), rtol=1e-5)


def test_while_loop_of_pmap_with_a_data_dependent_predicate():
    run = lambda body: jax.jit(lambda x: lax.while_loop(lambda v: v[0] < 20.0, lambda v: jnp.abs(body(v)) + v, x))
    got, want = run(_summed)(_x()), run(_plain)(_x())
    np.testing.assert_allclose(got, want, rtol=1e-5)
    assert float(got[0]) >= 20.0


def test_scan_of_pmap_stacks_its_outputs_in_order():
    def run(body, reverse):
        step = lambda c, x: (c + body(x), body(x) * c[0])
        return jax.jit(lambda c, xs: lax.scan(step, c, xs, reverse=reverse))
    xs = jnp.asarray(np.random.RandomState(0).rand(5, jax.device_count()).astype(np.float32))
    for reverse in (False, True):
        got, want = run(_summed, reverse)(_x(), xs), run(_plain, reverse)(_x(), xs)
        for g, w in zip(got, want):
            np.testing.assert_allclose(g, w, rtol=1e-5)


def test_empty_scan_of_pmap():
    step = lambda c, x: (c + _summed(x), _summed(x))
    carry, ys = lax.scan(step, _x(), jnp.zeros((0, jax.device_count())))
    np.testing.assert_allclose(carry, _x())
    assert ys.shape == (0, jax.device_count()) and ys.dtype == jnp.float32


def test_cond_of_pmap():
    f = jax.jit(lambda p, x: lax.cond(p, _summed, lambda v: v * 2, x))
    np.testing.assert_allclose(f(True, _x()), _plain(_x()), rtol=1e-6)
    np.testing.assert_allclose(f(False, _x()), _x() * 2)


def test_grad_through_a_loop_of_pmap():
    loss = lambda body: lambda x: lax.fori_loop(0, 2, lambda i, v: body(v) * 0.5 + v, x).sum()
    np.testing.assert_allclose(jax.grad(loss(_summed))(_x()), jax.grad(loss(_plain))(_x()), rtol=1e-5)
