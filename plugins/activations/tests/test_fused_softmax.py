"""The primitive and its rules on the default backend: values, the wrapper's axes, promotion, errors, and
every transformation (jit, vmap, jvp, vjp, higher order) compared with numpy and with portax.nn.softmax."""
import numpy as np
import pytest

import portax
import portax.nn as nn
from portax.test_util import check_grads
from portax_activations import fused_softmax, fused_softmax_p
from softmax_numpy import numpy_softmax

TOL = {np.float16: 2e-3, np.float32: 2e-6, np.float64: 1e-14}


@pytest.fixture(autouse=True)
def x64():
    portax.config.update("enable_x64", True)
    yield
    portax.config.update("enable_x64", False)


@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.float64])
@pytest.mark.parametrize("shape", [(1,), (7,), (3, 5), (2, 3, 4), (4, 1), (0, 5), (3, 0)])
def test_values_match_numpy(rng, dtype, shape):
    x = rng.uniform(-5, 5, size=shape).astype(dtype)
    y = fused_softmax(x)
    assert y.dtype == dtype and y.shape == shape
    np.testing.assert_allclose(np.asarray(y, np.float64), numpy_softmax(x), rtol=TOL[dtype], atol=TOL[dtype])


@pytest.mark.parametrize("axis", [0, 1, -1, -3, (0, 2), (2, 0), (), None])
def test_axes_match_numpy(rng, axis):
    x = rng.uniform(-5, 5, size=(2, 3, 4)).astype(np.float32)
    ax = tuple(range(3)) if axis is None else axis
    np.testing.assert_allclose(fused_softmax(x, axis=axis), numpy_softmax(x, ax), rtol=2e-6, atol=1e-7)
    np.testing.assert_allclose(fused_softmax(x, axis=axis), nn.softmax(x, axis=axis), rtol=2e-6, atol=1e-7)


def test_last_axis_is_one_equation_other_axes_move_around_it():
    x = np.ones((2, 3, 4), np.float32)
    last = portax.make_jaxpr(fused_softmax)(x).jaxpr
    assert [e.primitive for e in last.eqns] == [fused_softmax_p]
    other = portax.make_jaxpr(lambda x: fused_softmax(x, axis=(0, 2)))(x).jaxpr
    assert [e.primitive.name for e in other.eqns] == ["transpose", "reshape", "fused_softmax", "reshape",
                                                      "transpose"]


def test_integer_and_bool_operands_are_promoted_like_jax():
    y = fused_softmax(np.arange(3, dtype=np.int32))
    assert y.dtype == np.float64  # the default float under x64
    np.testing.assert_allclose(y, [0.09003057317038046, 0.24472847105479767, 0.6652409557748219], rtol=1e-14)
    assert fused_softmax(np.array([True, False])).dtype == np.float64


def test_special_values_follow_jax_nn_softmax():
    nan = np.nan
    x = np.array([[1.0, np.inf, 2.0], [-np.inf, -np.inf, -np.inf], [1.0, nan, 2.0], [1.0, -np.inf, 1.0]],
                 np.float32)
    want = np.array([[nan, nan, nan], [nan, nan, nan], [nan, nan, nan], [0.5, 0.0, 0.5]], np.float32)
    np.testing.assert_array_equal(fused_softmax(x), want)


def test_scalar_over_all_axes_is_one():
    assert float(fused_softmax(np.float32(3.0), axis=None)) == 1.0


@pytest.mark.parametrize("x, message", [
    (np.arange(3, dtype=np.int32), "fused_softmax does not accept dtype int32. Accepted dtypes are subtypes of "
                                   "floating."),
    (np.float32(1.0), r"fused_softmax requires an operand of rank >= 1 \(it normalizes the last axis\), got "
                      r"f32\[\]"),
])
def test_the_primitive_rejects_bad_operands_with_a_type_error(x, message):
    with pytest.raises(TypeError, match=message):
        fused_softmax_p.bind(x)
    with pytest.raises(TypeError, match=message):
        portax.jit(lambda a: fused_softmax_p.bind(a))(x)


@pytest.mark.parametrize("shape, axis, message", [
    ((), -1, "axis -1 is out of bounds for array of dimension 0"),
    ((3,), 1, "axis 1 is out of bounds for array of dimension 1"),
    ((3, 3), (0, 0), r"duplicate value in 'axis': \(0, 0\)"),
])
def test_the_wrapper_rejects_bad_axes_like_jax(shape, axis, message):
    with pytest.raises(ValueError, match=message):
        fused_softmax(np.ones(shape, np.float32), axis=axis)


@pytest.mark.parametrize("axis", [-1, 0, (0, 1)])
def test_derivatives_up_to_second_order(rng, axis):
    x = rng.uniform(-2, 2, size=(3, 4))
    check_grads(lambda a: fused_softmax(a, axis=axis), (x,), order=2, modes=("fwd", "rev"))


def test_gradients_equal_those_of_nn_softmax(rng):
    x = rng.uniform(-3, 3, size=(4, 6))
    w = rng.uniform(-1, 1, size=(4, 6))
    loss = lambda f: lambda a: (f(a) * w).sum()
    np.testing.assert_allclose(portax.grad(loss(fused_softmax))(x), portax.grad(loss(nn.softmax))(x), rtol=1e-12,
                               atol=1e-15)
    hess = lambda f: portax.hessian(lambda a: loss(f)(a))(x[0])
    np.testing.assert_allclose(hess(fused_softmax), hess(nn.softmax), rtol=1e-10, atol=1e-13)


def test_jvp_with_a_symbolic_zero_tangent_elsewhere(rng):
    x = rng.uniform(-2, 2, size=(2, 3))
    y, t = portax.jvp(lambda a, b: fused_softmax(a) + b, (x, x), (np.zeros_like(x), np.ones_like(x)))
    np.testing.assert_allclose(y, numpy_softmax(x) + x, rtol=1e-14)
    np.testing.assert_array_equal(t, np.ones_like(x))


@pytest.mark.parametrize("in_axes", [0, 1, 2, -1])
def test_vmap_over_any_axis(rng, in_axes):
    x = rng.uniform(-3, 3, size=(3, 4, 5))
    got = portax.vmap(fused_softmax, in_axes=in_axes)(x)
    want = np.stack([numpy_softmax(s) for s in np.moveaxis(x, in_axes, 0)])
    np.testing.assert_allclose(got, want, rtol=1e-14)


def test_nested_vmap_of_grad_under_jit(rng):
    x = rng.uniform(-3, 3, size=(2, 3, 4))
    per_row = lambda r: fused_softmax(r)[0]
    got = portax.jit(portax.vmap(portax.vmap(portax.grad(per_row)), in_axes=2, out_axes=2))(x)
    want = portax.vmap(portax.vmap(portax.grad(lambda r: nn.softmax(r)[0])), in_axes=2, out_axes=2)(x)
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-15)


def test_batching_rule_keeps_a_leading_batch_axis_in_place():
    x = np.ones((5, 3, 4), np.float32)
    jaxpr = portax.make_jaxpr(portax.vmap(fused_softmax, in_axes=0))(x).jaxpr
    assert [e.primitive for e in jaxpr.eqns] == [fused_softmax_p]
    jaxpr = portax.make_jaxpr(portax.vmap(fused_softmax, in_axes=2))(x).jaxpr
    assert [e.primitive.name for e in jaxpr.eqns] == ["transpose", "fused_softmax"]
