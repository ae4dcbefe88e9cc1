"""Reductions (fused with their producers), argmax/argmin and cumulative ops vs the reference backend."""
import numpy as np
import pytest

import portax.numpy as jnp
from portax import lax

from wgpu_helpers import check

R = np.random.RandomState(2)

SHAPES_AXES = [((37,), (0,)), ((6, 50), (1,)), ((6, 50), (0,)), ((3, 4, 5), (0, 2)), ((2, 3000), (1,)),
               ((2000, 3), (1,)), ((200000,), (0,)), ((4, 0), (1,))]


@pytest.mark.parametrize("shape,axes", SHAPES_AXES, ids=str)
@pytest.mark.parametrize("op", [lax.reduce_sum, lax.reduce_max, lax.reduce_min, lax.reduce_prod],
                         ids=lambda o: o.__name__)
def test_float_reductions(op, shape, axes):
    x = R.uniform(0.9, 1.1, shape).astype(np.float32) if op is lax.reduce_prod else R.randn(*shape).astype(np.float32)
    tol = 1e-4 if max(shape) > 1000 else 1e-5
    check(lambda v: op(v * 2 + 1 if op is not lax.reduce_prod else v, axes), x, tol=tol)


@pytest.mark.parametrize("dtype", [np.int32, np.uint32])
@pytest.mark.parametrize("op", [lax.reduce_sum, lax.reduce_max, lax.reduce_min, lax.reduce_prod, lax.reduce_and,
                                lax.reduce_or, lax.reduce_xor], ids=lambda o: o.__name__)
def test_integer_reductions(op, dtype):
    x = R.randint(0, 50, (5, 70)).astype(dtype)
    check(lambda v: op(v, (1,)), x)


@pytest.mark.parametrize("op", [lax.reduce_max, lax.reduce_min, lax.reduce_and, lax.reduce_or, lax.reduce_xor],
                         ids=lambda o: o.__name__)
def test_bool_reductions(op):
    x = R.rand(4, 300) < 0.5
    check(lambda v: op(v, (1,)), x)


def test_max_propagates_nan():
    x = R.randn(3, 40).astype(np.float32)
    x[1, 7] = np.nan
    check(lambda v: (jnp.max(v, axis=1), jnp.min(v, axis=1), jnp.max(v)), x)


@pytest.mark.parametrize("shape,axis", [((7,), 0), ((5, 9), 1), ((5, 9), 0), ((3, 700), 1)], ids=str)
@pytest.mark.parametrize("op", [jnp.argmax, jnp.argmin], ids=["argmax", "argmin"])
def test_argmax_argmin(op, shape, axis):
    x = R.randint(0, 5, shape).astype(np.float32)  # ties: the first occurrence wins
    x.flat[3] = np.nan
    check(lambda v: op(v, axis=axis), x)
    check(lambda v: op(v, axis=axis), (np.nan_to_num(x) * 7).astype(np.int32))


def test_fused_reduction_with_side_output():
    x = R.randn(8, 33).astype(np.float32)
    check(lambda v: (jnp.exp(v) * 2, jnp.sum(jnp.exp(v) * 2, axis=1)), x)


@pytest.mark.parametrize("shape,axis", [((9,), 0), ((4, 30), 1), ((30, 4), 0), ((2, 3, 800), 2), ((5000, 3), 1)],
                         ids=str)
@pytest.mark.parametrize("op", [lax.cumsum, lax.cumprod, lax.cummax, lax.cummin], ids=lambda o: o.__name__)
@pytest.mark.parametrize("reverse", [False, True])
def test_cumulative(op, shape, axis, reverse):
    x = R.uniform(0.99, 1.01, shape).astype(np.float32) if op is lax.cumprod else R.randn(*shape).astype(np.float32)
    check(lambda v: op(v, axis=axis, reverse=reverse), x, tol=1e-4)


def test_cumulative_integers():
    x = R.randint(-5, 5, (3, 300)).astype(np.int32)
    check(lambda v: (lax.cumsum(v, axis=1), lax.cummax(v, axis=1), lax.cumprod(v % 2 + 1, axis=0)), x)


@pytest.mark.parametrize("shape,axes", [((1,), (0,)), ((3, 1), (1,)), ((4, 5000), (1,)), ((200000,), (0,))], ids=str)
def test_sum_of_negative_zeros_is_positive_zero(shape, axes):
    """A float sum starts from +0.0 (drivers fold ``0.0 + x`` to ``x``): else ``atan2(0, sum)`` is pi."""
    got = check(lambda v: lax.reduce_sum(v, axes), np.full(shape, -0.0, np.float32))
    assert not np.signbit(np.asarray(got)).any()
    angle = check(lambda v: jnp.arctan2(0.0, jnp.sum(v)), np.full((1,), -0.0, np.float32))
    assert np.asarray(angle) == 0.0
