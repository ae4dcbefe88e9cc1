"""A loop's predicate that every device holds alike by construction (a counter and its bound) is read from
one device, without an agreement round between devices and processes; any other predicate is agreed on."""
import numpy as np
import pytest

import portax as jax
from portax import lax
from portax.core.parallel import spmd


@pytest.fixture
def agreements(monkeypatch):
    seen = []
    real = spmd._agreed

    def spy(buffers, prog, what, uniform=False):
        seen.append(uniform)
        return real(buffers, prog, what, uniform)
    monkeypatch.setattr(spmd, "_agreed", spy)
    return seen


def _ones():
    return np.ones((jax.device_count(), 3), np.float32)


def test_fori_loop_counter_is_uniform(agreements):
    f = jax.pmap(lambda v: lax.fori_loop(0, 5, lambda i, a: lax.psum(a, "i") * 0.5, v), axis_name="i")
    np.testing.assert_allclose(f(_ones()), (jax.device_count() / 2) ** 5)
    assert agreements and all(agreements)


@pytest.mark.parametrize("case", ["data", "axis_index", "float_counter"])
def test_other_predicates_are_agreed(agreements, case):
    if case == "data":
        body = lambda v: lax.while_loop(lambda a: a[0] < 100, lambda a: lax.psum(a, "i"), v)
    elif case == "axis_index":
        body = lambda v: lax.while_loop(lambda c: c[0] < 3 + lax.axis_index("i") * 0,
                                        lambda c: (c[0] + 1, lax.psum(c[1], "i")), (0, v))[1]
    else:  # a float carry may differ in its last bit between devices: not counted as uniform
        body = lambda v: lax.while_loop(lambda c: c[0] < 2.5, lambda c: (c[0] + 1.0, lax.psum(c[1], "i")), (0.0, v))[1]
    out = jax.pmap(body, axis_name="i")(_ones())
    assert np.isfinite(np.asarray(out)).all()
    assert agreements and not any(agreements)

