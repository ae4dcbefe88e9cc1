"""Eager (non-jit) operations: how many programs an operation dispatches, and what a dispatch-free step returns."""
import numpy as np
import pytest

import portax as jax
import portax.numpy as jnp
from portax.core import trace


@pytest.fixture
def dispatched(monkeypatch):
    """The primitives run eagerly since the fixture was set up."""
    names = []
    run = trace._dispatcher

    def counted(primitive, *args, **params):
        names.append(primitive.name)
        return run(primitive, *args, **params)

    monkeypatch.setattr(trace, "_dispatcher", counted)
    return names


def test_dropping_a_weak_type_runs_no_program(dispatched):
    weak = jnp.asarray(2.0)
    strong = jax.lax.convert_element_type(weak, jnp.float32)
    assert dispatched == []
    assert weak.weak_type and not strong.weak_type and strong.dtype == jnp.float32 and float(strong) == 2.0
    x = jnp.arange(4, dtype=jnp.float32)
    dispatched.clear()
    y = x * 2.0  # the scalar is broadcast, then multiplied: no conversion program for its weak type
    assert dispatched == ["broadcast_in_dim", "mul"]
    np.testing.assert_array_equal(y, [0.0, 2.0, 4.0, 6.0])
    assert y.dtype == jnp.float32 and not y.weak_type
    dispatched.clear()
    assert jax.lax.convert_element_type(weak, jnp.int32).dtype == jnp.int32  # a real conversion still runs
    assert dispatched == ["convert_element_type"]
