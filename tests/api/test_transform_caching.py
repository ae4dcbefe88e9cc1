"""Eager transformations of jitted and checkpointed functions reuse their compiled programs (JAX's
test_vjp_caching, test_linearize_caching, test_fwd_caching, test_grad_of_jit_compilation_caching2)."""
import numpy as np
import pytest

import portax
import portax.numpy as jnp
from portax.core import dispatch


@pytest.fixture
def compiles(monkeypatch):
    """A counter of backend compilations (``count[0]``; set it to 0 to restart)."""
    count = [0]
    monkeypatch.setattr(dispatch, "on_compile", lambda: count.__setitem__(0, count[0] + 1))
    return count


def _identity():
    return portax.checkpoint(portax.jit(lambda x: 2 * x))


def test_vjp_fn_of_checkpointed_jit_compiles_once(compiles):
    _, f_vjp = portax.vjp(_identity(), 1.)
    f_vjp(1.)
    compiles[0] = 0
    for _ in range(5):
        (ct,) = f_vjp(1.)
    assert compiles[0] == 0
    assert float(ct) == 2.0


def test_linearized_checkpointed_jit_compiles_once(compiles):
    _, f_lin = portax.linearize(_identity(), 1.)
    f_lin(1.)
    compiles[0] = 0
    for _ in range(5):
        out = f_lin(3.)
    assert compiles[0] == 0 and float(out) == 6.0


@pytest.mark.parametrize("backward", [False, True])
def test_vjp_in_a_loop_compiles_once(compiles, backward):
    identity = _identity()
    portax.vjp(identity, 1.)[1](1.)
    compiles[0] = 0
    for i in range(5):
        y, f_vjp = portax.vjp(identity, float(i))
        if backward:
            (ct,) = f_vjp(1.)
            assert float(ct) == 2.0
        assert float(y) == 2.0 * i
    assert compiles[0] == 0


def test_grad_of_jit_compiles_forward_and_backward_once(compiles):
    f = portax.jit(jnp.sin)
    portax.grad(portax.jit(lambda x: x))(1.0)
    compiles[0] = 0
    portax.grad(f)(3.)
    assert compiles[0] == 2
    compiles[0] = 0
    g = portax.grad(f)(4.)
    assert compiles[0] == 0
    np.testing.assert_allclose(float(g), np.cos(4.), rtol=1e-6)


def test_vmap_of_jit_compiles_once(compiles):
    f = portax.jit(lambda x: x * 2)
    xs = jnp.ones((3, 2))
    portax.vmap(f)(xs)
    compiles[0] = 0
    for _ in range(3):
        out = portax.vmap(f)(xs)
    assert compiles[0] == 0
    np.testing.assert_array_equal(np.asarray(out), 2 * np.ones((3, 2)))



def test_jit_of_the_same_function_traces_once():
    """As JAX's global cache: a new ``jit(f)`` of a function seen before reuses its trace and program."""
    traced = []

    def f(x):
        traced.append(1)
        return x * 2

    for i in range(3):
        assert float(portax.jit(f)(float(i))) == 2.0 * i
    assert len(traced) == 1
    portax.jit(f, static_argnums=0)(1.0)  # other static arguments: a trace of its own
    assert len(traced) == 2


def test_clear_caches_retraces_and_recompiles(compiles):
    traced = []

    def f(x):
        traced.append(1)
        return x * 3

    g = portax.jit(f)
    g(1.0)
    portax.clear_caches()
    compiles[0] = 0
    assert float(g(2.0)) == 6.0 and float(portax.jit(f)(2.0)) == 6.0
    assert len(traced) == 3 and compiles[0] >= 1


def test_jit_drops_closed_over_constants_with_the_function():
    """No reference cycle keeps a traced constant: it goes with the jitted function (JAX's test_jit_reference_dropping),
    without waiting for the garbage collector."""
    import gc
    import weakref
    gc.disable()
    try:
        x = jnp.ones(10)
        g = portax.jit((lambda x: lambda: x)(x))
        x = weakref.ref(x)
        g()
        g()
        assert x() is not None
        del g
        assert x() is None
    finally:
        gc.enable()


def test_control_flow_of_the_same_functions_traces_and_compiles_once(compiles):
    # JAX's testCaching and test_cond_excessive_compilation: jaxprs are cached per function and input types
    tracing = [True]

    def cond_fun(x):
        assert tracing[0]
        return x < 5

    def body_fun(x):
        assert tracing[0]
        return x + 2

    assert int(portax.lax.while_loop(cond_fun, body_fun, 0)) == 6
    tracing[0] = False
    assert [int(portax.lax.while_loop(cond_fun, body_fun, i)) for i in range(3)] == [6, 5, 6]
    portax.clear_caches()
    with pytest.raises(AssertionError):  # traced anew
        portax.lax.while_loop(cond_fun, body_fun, 0)
    f, g = (lambda x: x + 1), (lambda x: x + 2)
    compiles[0] = 0
    assert [int(portax.lax.cond(x, f, g, x)) for x in range(6)] == [2, 2, 3, 4, 5, 6]
    assert compiles[0] <= 4
    compiles[0] = 0
    assert [int(portax.lax.switch(x, [f, g], x)) for x in range(4)] == [1, 3, 4, 5]
    assert compiles[0] <= 3
    held = portax.jit(lambda y: portax.lax.while_loop(lambda c: c < y, lambda c: c + 1, 0))
    assert int(held(3)) == 3 and int(held(4)) == 4  # closures over a trace's values are traced anew


def test_scan_of_the_same_function_compiles_once(compiles):
    body = lambda c, x: (c * 2 + x, c)
    portax.lax.scan(body, 1.0, jnp.arange(3.0))
    compiles[0] = 0
    for _ in range(3):
        carry, ys = portax.lax.scan(body, 1.0, jnp.arange(3.0))
    assert compiles[0] == 0 and float(carry) == 12.0 and np.asarray(ys).tolist() == [1.0, 2.0, 5.0]


def test_control_flow_traced_under_named_axes_of_other_sizes_traces_again():
    body = lambda c, x: (c + portax.lax.axis_size("i"), x)
    f = lambda x: portax.lax.scan(body, 0, x)[0]
    assert np.asarray(portax.vmap(f, axis_name="i")(np.ones((3, 2)))).tolist() == [6] * 3
    assert np.asarray(portax.vmap(f, axis_name="i")(np.ones((4, 2)))).tolist() == [8] * 4


def _cond(box):
    return portax.jit(lambda x: portax.lax.cond(x[0] > 0, lambda v: v * box[0], lambda v: v - box[0], x))


def _cond_same_branches(box):
    yes, no = (lambda v: v * box[0]), (lambda v: v - box[0])
    return portax.jit(lambda x: portax.lax.cond(x[0] > 0, yes, no, x))


def _scan(box):
    return portax.jit(lambda x: portax.lax.scan(lambda c, _: (c * box[0], None), x, None, length=1)[0])


def _scan_same_body(box):
    body = lambda c, _: (c * box[0], None)
    return portax.jit(lambda x: portax.lax.scan(body, x, None, length=1)[0])


def _while_same_body(box):
    body = lambda c: (c[0] + 1, c[1] * box[0])
    return portax.jit(lambda x: portax.lax.while_loop(lambda c: c[0] < 1, body, (0, x))[1])


def _fori_same_body(box):
    body = lambda i, c: c * box[0]
    return portax.jit(lambda x: portax.lax.fori_loop(0, 1, body, x))


def _inner_jit(box):
    inner = portax.jit(lambda v: v * box[0])
    return portax.jit(lambda x: inner(x) + 0)


def _new_inner_jit(box):
    return portax.jit(lambda x: portax.jit(lambda v: v * box[0])(x))


def _checkpoint(box):
    h = portax.checkpoint(lambda v: v * box[0])
    return portax.jit(lambda x: h(x))


def _custom_jvp(box):
    h = portax.custom_jvp(lambda v: v * box[0])
    h.defjvp(lambda p, t: (h(p[0]), t[0]))
    return portax.jit(lambda x: h(x))


# JAX 0.10.2's values after the closure changes from 1 to 5: jit's clear_cache() traces its body again, but functions
# traced before (control flow's, an inner jit's, a checkpoint's) keep their trace; jax.clear_caches() forgets them all.
@pytest.mark.parametrize("make,after_clear_cache", [
    (_cond, 5.0), (_cond_same_branches, 1.0), (_scan, 5.0), (_scan_same_body, 1.0), (_while_same_body, 1.0),
    (_fori_same_body, 1.0), (_inner_jit, 1.0),
    (_new_inner_jit, 5.0), (_checkpoint, 1.0), (_custom_jvp, 5.0)], ids=lambda v: getattr(v, "__name__", str(v)))
def test_closures_seen_after_clear_cache_and_clear_caches_as_in_jax(make, after_clear_cache):
    for clear, want in [(lambda g: g.clear_cache(), after_clear_cache), (lambda g: portax.clear_caches(), 5.0)]:
        box = [1.0]
        g = make(box)
        assert float(g(jnp.ones(2))[0]) == 1.0
        box[0] = 5.0
        assert float(g(jnp.ones(2))[0]) == 1.0
        clear(g)
        assert float(g(jnp.ones(2))[0]) == want


@pytest.mark.parametrize("upper", [3, np.int32(3)], ids=["scan", "while"])
def test_fori_loop_of_the_same_body_compiles_once(compiles, upper):
    body = lambda i, c: c * 1.5 + i
    upper = upper if isinstance(upper, int) else jnp.asarray(upper)
    portax.lax.fori_loop(0, upper, body, 1.0)
    compiles[0] = 0
    assert [float(portax.lax.fori_loop(0, upper, body, 1.0)) for _ in range(3)] == [6.875] * 3
    assert compiles[0] == 0
