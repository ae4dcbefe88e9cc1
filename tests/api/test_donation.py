"""Buffer donation as JAX on CPU: a donated Array an output can take is deleted after the call (``is_deleted``,
``delete``, JAX's RuntimeError on a deleted Array), an unusable donation warns and keeps the Array, and donating a
buffer passed twice is an error."""
import warnings

import numpy as np
import pytest

import portax
import portax.numpy as jnp


def test_donated_argument_is_deleted():
    move = portax.jit(lambda x: x + x - x, donate_argnums=0)
    x = jnp.ones([])
    y = move(x)
    assert x.is_deleted() and not y.is_deleted() and float(y) == 1.0
    with pytest.raises(RuntimeError, match=r"Array has been deleted with shape=float32\[\]."):
        repr(x)
    with pytest.raises(RuntimeError, match="Array has been deleted"):
        move(x)
    with pytest.raises(RuntimeError, match="Array has been deleted"):
        portax.device_put(x, portax.devices()[0])
    with pytest.raises(RuntimeError, match="Array has been deleted"):
        x + 1


def test_donation_by_name_and_keyword_with_static_arguments():
    f = portax.jit(lambda a, b, c, d, e: (a + b + c, a + b + d, a + b + e), static_argnums=(0, 1),
                   donate_argnames=("d", "e"))
    c, d, e = jnp.array([2., 2.]), jnp.array([1., 1., 1., 1.]), jnp.array([3., 3., 3., 3.])
    outs = f(1, 2, c, d=d, e=e)
    np.testing.assert_allclose(np.asarray(outs[2]), [6.] * 4)
    assert not c.is_deleted() and d.is_deleted() and e.is_deleted()
    g = portax.jit(lambda inp1: inp1 * 2, donate_argnums=0)
    x = jnp.ones((2, 5))
    g(inp1=x)
    assert x.is_deleted()


def test_weak_typed_donation_is_usable():
    move = portax.jit(lambda x: x.astype(int), donate_argnums=0)
    x = jnp.broadcast_to(2, (3,))
    move(x)
    assert x.is_deleted()


def test_unusable_donation_warns_and_keeps_the_array():
    f = portax.jit(lambda x, y: x.sum() + jnp.float32(y.sum()), donate_argnums=(0, 1))
    x, y = jnp.array([1.0, 2.0], jnp.float32), jnp.array([1, 2], jnp.int32)
    with pytest.warns(UserWarning, match=r"Some donated buffers were not usable: ShapedArray\(float32\[2\]\), "
                      r"ShapedArray\(int32\[2\]\)"):
        f(x, y)
    assert not x.is_deleted() and not y.is_deleted()
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # warned when compiled, not on every call
        f(x, y)


def test_donating_a_buffer_passed_twice_fails():
    f = portax.jit(lambda x, y: x + y, donate_argnums=(0,))
    x = jnp.zeros((10,), jnp.float32)
    with pytest.raises(RuntimeError, match="Attempt to donate the same buffer twice"):
        f(x, x)
    assert not x.is_deleted()


def test_compiled_call_donates_and_delete_releases():
    compiled = portax.jit(lambda x: x * 2, donate_argnums=0).lower(jnp.ones(3)).compile()
    x = jnp.ones(3)
    np.testing.assert_allclose(np.asarray(compiled(x)), [2.] * 3)
    assert x.is_deleted()
    z = portax.device_put(1.)
    z.delete()
    assert z.is_deleted()


def test_copies_survive_donation_of_the_original():
    f = portax.jit(lambda a: a.at[0].set(77), donate_argnums=0)
    x = jnp.asarray([0, 1])
    copies = [jnp.array(x, copy=True), jnp.copy(x), x.copy()]
    assert all(c is not x for c in copies)
    np.testing.assert_array_equal(np.asarray(f(x)), [77, 1])
    assert x.is_deleted()
    for c in copies:
        assert not c.is_deleted()
        np.testing.assert_array_equal(np.asarray(c), [0, 1])
