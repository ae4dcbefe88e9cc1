"""cond, while_loop, scan, fori_loop and calls on wgpu: results vs the reference, and submits per call."""
import numpy as np
import pytest

import portax
import portax.numpy as jnp
from portax import jit, lax

from wgpu_helpers import check, compiled

R = np.random.RandomState(4)
X = R.randn(4, 6).astype(np.float32)


@pytest.mark.parametrize("p", [1.0, -1.0])
def test_cheap_cond_becomes_a_select(p):
    f = lambda q, x: lax.cond(q > 0, lambda v: v * 2, lambda v: jnp.sin(v) - 1, x)
    check(f, np.float32(p), X)
    c = compiled(f, np.float32(p), X)
    # the scalar predicate is one kernel (fusion groups by shape); both branches and the select are another
    assert c.kernel_count == 2
    c(np.float32(p), X)
    assert c.executable.last_submits == 1


@pytest.mark.parametrize("i", [0, 1, 2, 7, -1])
def test_switch_reads_index_back_for_expensive_branches(i):
    branches = [lambda v: jnp.sort(v, axis=1), lambda v: v @ v.T @ v, lambda v: jnp.cumsum(v, axis=0)]
    check(lambda k, x: lax.switch(k, branches, x), np.int32(i), X, tol=1e-4)


def test_while_loop_reads_predicate_each_iteration():
    f = lambda x: lax.while_loop(lambda c: c[0] < 5, lambda c: (c[0] + 1, c[1] * 1.5 + 1), (0, x))
    check(f, X)
    c = compiled(f, X)
    c(X)
    assert c.executable.last_submits == 6  # 5 body rounds + the final predicate


def test_fori_loop_is_one_submit():
    f = lambda x: lax.fori_loop(0, 20, lambda i, v: v * 0.9 + i, x)
    check(f, X, tol=1e-4)
    c = compiled(f, X)
    c(X)
    assert c.executable.last_submits == 1
    assert c.executable.last_dispatches >= 20


@pytest.mark.parametrize("reverse", [False, True])
def test_scan_carry_and_outputs(reverse):
    def step(c, x):
        return c * 0.5 + x, (c.sum(), x * c)
    f = lambda xs: lax.scan(step, jnp.ones(6, jnp.float32), xs, reverse=reverse)
    check(f, X)
    c = compiled(f, X)
    c(X)
    assert c.executable.last_submits == 1


def test_scan_with_passthrough_carry_and_constant_outputs():
    f = lambda xs: lax.scan(lambda c, x: ((c[0], c[1] + x), (c[0], 3.0)), (jnp.float32(2), jnp.zeros(6)), xs)
    check(f, X)


def test_while_with_data_dependent_trip_count():
    f = lambda x: lax.while_loop(lambda v: jnp.sum(v) < 100.0, lambda v: v * 2 + 1, x)
    check(f, np.abs(X))


def test_nested_control_flow():
    def f(xs):
        def body(c, x):
            c = lax.fori_loop(0, 3, lambda i, v: v + x * i, c)
            return lax.cond(jnp.sum(c) > 0, lambda v: v - 1, lambda v: v + 1, c), jnp.max(c)
        return lax.scan(body, jnp.zeros(6), xs)
    check(f, X, tol=1e-5)


def test_call_with_constants_and_custom_derivatives():
    @portax.custom_jvp
    def softplus(x):
        return jnp.log1p(jnp.exp(x))
    softplus.defjvp(lambda p, t: (softplus(p[0]), t[0] * jax_sigmoid(p[0])))
    table = np.arange(6, dtype=np.float32)
    f = lambda x: jit(lambda v: softplus(v) + table)(x) + portax.checkpoint(jnp.sin)(x)
    check(f, X, tol=1e-5)
    check(portax.grad(lambda x: jnp.sum(f(x))), X, tol=1e-5)


def jax_sigmoid(x):
    return 1 / (1 + jnp.exp(-x))


def test_long_loops_reuse_their_intermediates():
    """Nothing returns to the pool before the single submit, so every iteration must reuse the buffers of
    the previous one: memory does not grow with the trip count."""
    from wgpu_helpers import wgpu_backend
    backend = wgpu_backend()
    pool = backend.runtime_device(backend.devices()[0]).pool
    x = R.randn(64, 64).astype(np.float32)
    f = lambda v, n: lax.fori_loop(0, n, lambda i, c: jnp.tanh(c @ v * 0.05) + jnp.sin(c) * 0.5, v)  # contracting
    sizes = []
    for n in (20, 200):
        g = jit(lambda v: f(v, n), backend="wgpu")
        g(x).block_until_ready()
        sizes.append(pool.allocated_bytes)
    assert sizes[1] <= sizes[0] + 64 * 64 * 4 * 8
    check(lambda v: f(v, 30), x, tol=1e-4)
