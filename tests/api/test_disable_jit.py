"""``jax.disable_jit``: jitted functions and control flow run as Python inside the context; ``copy_to_host_async``."""
from unittest import mock

import numpy as np
import pytest

import portax as jax
import portax.numpy as jnp
from portax import lax


def test_jitted_function_runs_as_python_each_call():
    calls = []

    @jax.jit
    def f(x):
        calls.append(type(x))
        return x * 2

    with jax.disable_jit():
        assert f(2) == 4 and f(2) == 4
    assert calls == [int, int]  # the Python value itself, once per call: no tracing, no cache
    f(2)
    f(2)
    assert len(calls) == 3  # traced once again outside the context, then cached
    assert not jax.config.jax_disable_jit


def test_disable_jit_false_inside_restores_jit():
    calls = []
    f = jax.jit(lambda x: calls.append(1) or x + 1)
    with jax.disable_jit():
        with jax.disable_jit(False):
            f(1.0)
            f(1.0)
    assert len(calls) == 1


def test_control_flow_runs_in_python():
    seen = []

    def branch(x):
        seen.append(type(x))
        return x + 1

    with jax.disable_jit():
        assert lax.cond(True, branch, lambda x: x, 1.0) == 2.0
        assert lax.switch(7, [lambda x: x, branch], 1) == 2  # index clamped to the last branch
        assert seen == [float, int]  # the operands as given, not tracers
        body = mock.Mock(side_effect=lambda v: v + 3)
        assert int(lax.while_loop(lambda v: v < 10, body, 0)) == 12
        assert body.call_count == 4
        c, ys = lax.scan(lambda c, x: (c + x, c * x), 0.0, jnp.arange(4.0), reverse=True)
        assert float(c) == 6.0
        np.testing.assert_array_equal(ys, [0.0, 5.0, 6.0, 0.0])
        assert lax.fori_loop(3, 3, lambda i, v: v + i, 7) == 7
        assert int(lax.fori_loop(0, 5, lambda i, v: v + i, 0)) == 10
        with pytest.raises(ValueError, match="zero-length scan"):
            lax.scan(lambda c, x: (c, x), 0.0, jnp.zeros((0,)))


def test_traced_predicates_still_staged():
    with jax.disable_jit():
        out = jax.vmap(lambda x: lax.while_loop(lambda v: v < x, lambda v: v + 1.0, 0.0))(jnp.arange(3.0))
        np.testing.assert_array_equal(out, [0.0, 1.0, 2.0])
        g = jax.grad(lambda x: lax.cond(x > 0, jnp.sin, jnp.cos, x))(1.0)
    np.testing.assert_allclose(g, np.cos(1.0), rtol=1e-6)


def test_copy_to_host_async_returns_its_argument():
    x = jax.device_put(1.0)
    other = mock.Mock()
    tree = [x, 2, other]
    assert jax.copy_to_host_async(tree) is tree
    other.copy_to_host_async.assert_called_once()
    bad = mock.Mock()
    bad.copy_to_host_async.side_effect = AttributeError("foo")
    with pytest.raises(AttributeError, match="foo"):
        jax.copy_to_host_async(bad)
