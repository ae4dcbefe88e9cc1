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
    y = x * 2.0  # the scalar is placed at x's shape on the host: no conversion or broadcast program
    assert dispatched == ["mul"]
    np.testing.assert_array_equal(y, [0.0, 2.0, 4.0, 6.0])
    assert y.dtype == jnp.float32 and not y.weak_type
    dispatched.clear()
    assert jax.lax.convert_element_type(weak, jnp.int32).dtype == jnp.int32  # a real conversion still runs
    assert dispatched == ["convert_element_type"]


def test_python_scalar_operands_run_one_program(dispatched):
    """A Python scalar next to small Arrays of one shape is converted and placed at that shape on the host."""
    x = jnp.arange(4, dtype=jnp.float32)
    for op, expected in ((lambda: x + 1, [1.0, 2.0, 3.0, 4.0]), (lambda: 1 + x, [1.0, 2.0, 3.0, 4.0]),
                         (lambda: jnp.add(2, x), [2.0, 3.0, 4.0, 5.0]), (lambda: x - 0.5, [-0.5, 0.5, 1.5, 2.5]),
                         (lambda: jnp.true_divide(x, 2), [0.0, 0.5, 1.0, 1.5]), (lambda: x > 1, [False, False, True, True])):
        dispatched.clear()
        y = op()
        assert len(dispatched) == 1, dispatched
        np.testing.assert_array_equal(y, expected)
        assert y.shape == (4,) and not y.weak_type
    big = jnp.zeros(5000, jnp.float32)  # too large to fill on the host: broadcast on the device
    dispatched.clear()
    np.testing.assert_array_equal(big + 1, np.ones(5000, np.float32))
    assert dispatched == ["broadcast_in_dim", "add"]
    assert "broadcast_in_dim" in str(jax.make_jaxpr(lambda a: a + 1)(x))  # tracing keeps JAX's jaxpr


@pytest.mark.parametrize("size", [3, 5000])
def test_python_scalar_converts_as_the_primitive(size):
    """Host conversion of a Python scalar operand: the scalar's own dtype first (range check, rounding), then the
    array's, as ``convert_element_type`` on the device (and JAX) does; no NumPy warning."""
    import warnings

    def first(a):
        return np.asarray(a)[:2].tolist()

    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        v = 1 + 2 ** -8 + 2 ** -30  # rounds to 1 + 2**-8 in float32, then (a tie) to 1 in bfloat16
        assert first(jnp.zeros(size, jnp.bfloat16) + v) == [1.0, 1.0]
        assert first(jnp.zeros(size, jnp.float16) + 1e6) == [np.inf, np.inf]
        assert first(jnp.zeros(size, jnp.float16) + 70000) == [np.inf, np.inf]
        assert first(jnp.ones(size, jnp.uint8) + 300) == [45, 45] and first(3 - jnp.ones(size, jnp.uint8)) == [2, 2]
        assert first(jnp.ones(size, jnp.int8) * 200) == [-56, -56]
        y = jnp.ones(size, bool) * 2.5
        assert first(y) == [2.5, 2.5] and y.dtype == jnp.float32 and y.weak_type
        assert (jnp.ones(size, jnp.int32) + 2).dtype == jnp.int32
    for array in (jnp.ones(size, jnp.int32), jnp.ones(size, jnp.float32)):
        with pytest.raises(OverflowError, match="Python int 1099511627776 too large to convert to int32"):
            array + 2 ** 40


def test_binary_ops_follow_x64_and_promotion_per_call():
    """Promotion reads x64 and the promotion mode of the calling context on every call (nothing cached stale)."""
    x = jnp.ones(3, jnp.float32)
    assert (x + 1.5).dtype == jnp.float32 and (jnp.ones(3) + 1.5).dtype == jnp.float32
    with jax.enable_x64(True):
        assert (jnp.ones(3) + 1.5).dtype == jnp.float64 and (x + 1.5).dtype == jnp.float32
        assert (jnp.arange(3) + 1).dtype == jnp.int64
        wide = jnp.arange(3, dtype=jnp.int64)
    np.testing.assert_array_equal(jnp.add(wide, wide), [0, 2, 4])
    assert jnp.add(wide, wide).dtype == jnp.int32  # an int64 Array outside x64 computes as int32
    assert (jnp.ones(3) + 1.5).dtype == jnp.float32
    with jax.numpy_dtype_promotion("strict"):
        with pytest.raises(Exception, match="no available implicit dtype promotion path"):
            jnp.add(x, jnp.ones(3, jnp.int32))
    with jax.numpy_rank_promotion("raise"):
        np.testing.assert_array_equal(x + 1, [2.0] * 3)  # scalars are exempt
        with pytest.raises(ValueError, match="jax_numpy_rank_promotion='raise'"):
            x + jnp.ones((2, 3))
    with pytest.raises(ValueError, match="Incompatible shapes for broadcasting"):
        x + jnp.ones(4)


def test_eager_programs_are_keyed_by_every_parameter():
    """One primitive on the same avals with other parameters (or the same ones in another order) gives their own
    result, never a program cached for different ones."""
    from portax.core.primitives import contractions, structural
    s = jnp.asarray(2.0)
    assert structural.broadcast_in_dim_p.bind(s, shape=(2,), broadcast_dimensions=()).shape == (2,)
    assert structural.broadcast_in_dim_p.bind(s, shape=(3,), broadcast_dimensions=()).shape == (3,)
    m = jnp.arange(6.0).reshape(2, 3)
    np.testing.assert_array_equal(jnp.sum(m, axis=0), [3.0, 5.0, 7.0])
    np.testing.assert_array_equal(jnp.sum(m, axis=1), [3.0, 12.0])
    a, b = jnp.arange(6.0).reshape(2, 3), jnp.arange(6.0).reshape(3, 2)
    dn1, dn2 = (((1,), (0,)), ((), ())), (((0,), (1,)), ((), ()))
    p = contractions.dot_general_p
    np.testing.assert_array_equal(p.bind(a, b, dimension_numbers=dn1, precision=None, preferred_element_type=None),
                                  np.asarray(a) @ np.asarray(b))
    np.testing.assert_array_equal(p.bind(a, b, precision=None, preferred_element_type=None, dimension_numbers=dn2),
                                  (np.asarray(b) @ np.asarray(a)).T)
    np.testing.assert_array_equal(p.bind(a, b, preferred_element_type=None, dimension_numbers=dn1, precision=None),
                                  np.asarray(a) @ np.asarray(b))


def test_python_and_numpy_scalars_follow_the_array_s_device():
    """As in JAX, a scalar operand goes where the array it meets lives: ``2.0 * x`` runs on x's device (here another
    backend than the default one), not on the default device with x copied there."""
    other = "cpu_llvm" if jax.default_backend() == "reference" else "reference"
    x = jax.device_put(np.arange(3, dtype=np.float32), jax.devices(other)[0])
    for out, want in [(2.0 * x, [0, 2, 4]), (x * 2, [0, 2, 4]), (np.float32(1) + x, [1, 2, 3]),
                      (jnp.maximum(1.5, x), [1.5, 1.5, 2])]:
        assert {d.backend.name for d in out.devices()} == {other}
        np.testing.assert_array_equal(np.asarray(out), np.asarray(want, np.float32))
