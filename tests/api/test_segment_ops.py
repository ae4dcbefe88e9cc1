"""portax.ops (jax.ops) segment reductions against a numpy loop, as JAX 0.10.2's tests/lax_numpy_indexing_test.py."""
import numpy as np
import pytest

import portax
import portax.numpy as jnp
from portax import ops

REDUCERS = [(ops.segment_sum, np.add, 0), (ops.segment_prod, np.multiply, 1),
            (ops.segment_min, np.minimum, np.inf), (ops.segment_max, np.maximum, -np.inf)]


def _np_segment(op, identity, data, ids, size):
    if np.issubdtype(data.dtype, np.integer):
        identity = {np.inf: np.iinfo(data.dtype).max, -np.inf: np.iinfo(data.dtype).min}.get(identity, identity)
    out = np.full((size,) + data.shape[1:], identity, data.dtype)
    for i, v in zip(ids, data):
        if 0 <= i < size:  # ids out of [0, size) are dropped, negative ones included (no wrapping)
            out[i] = op(out[i], v).astype(data.dtype)
    return out


@pytest.mark.parametrize("reducer,op,identity", REDUCERS)
@pytest.mark.parametrize("shape", [(8,), (7, 4), (6, 4, 2)])
@pytest.mark.parametrize("dtype", [np.float32, np.int32])
@pytest.mark.parametrize("num_segments", [None, 1, 3])
@pytest.mark.parametrize("bucket_size", [None, 2])
def test_segment_reduce_matches_numpy(reducer, op, identity, shape, dtype, num_segments, bucket_size):
    rng = np.random.RandomState(0)
    data = (rng.randn(*shape) * 3).astype(dtype)
    ids = rng.randint(-2, 3, size=shape[:1]).astype(np.int32)
    size = num_segments if num_segments is not None else int(ids.max()) + 1
    out = reducer(data, ids, num_segments=num_segments, bucket_size=bucket_size)
    assert out.dtype == data.dtype
    np.testing.assert_allclose(np.asarray(out), _np_segment(op, identity, data, ids, size), rtol=1e-5)


@pytest.mark.parametrize("reducer,op,identity", [(ops.segment_min, np.minimum, True),
                                                 (ops.segment_max, np.maximum, False)])
def test_segment_min_max_of_booleans(reducer, op, identity):
    data = np.array([True, False, True, False, False, True])
    ids = np.array([0, 0, 1, 1, 2, -1], np.int32)
    np.testing.assert_array_equal(np.asarray(reducer(data, ids, 4)), _np_segment(op, identity, data, ids, 4))


def test_segment_sum_drops_negative_and_large_ids_and_jits_with_static_num_segments():
    data = jnp.array([5, 1, 7, 2, 3, 4, 1, 3])
    np.testing.assert_array_equal(ops.segment_sum(data, jnp.array([0, 4, 8, 1, 2, -6, -1, 3]), num_segments=4),
                                  [5, 2, 3, 3])
    np.testing.assert_array_equal(ops.segment_sum(data, jnp.array([3, 3, 3, 4, 5, 5, -7, -6])), [0, 0, 0, 13, 2, 7])
    f = portax.jit(ops.segment_sum, static_argnums=2)
    np.testing.assert_array_equal(f(jnp.arange(5), jnp.array([0, 0, 1, 1, 2]), 3), [1, 5, 4])
    with pytest.raises(ValueError, match="num_segments must be non-negative"):
        ops.segment_sum(data, jnp.zeros(8, jnp.int32), num_segments=-1)


def test_segment_sum_gradient_of_out_of_bounds_ids_is_zero():
    fn = lambda d, ids: ops.segment_sum(d, ids, 2).sum()
    val, grad = portax.value_and_grad(fn)(np.zeros(2, np.float32), np.array([2, 3]))
    assert float(val) == 0.0
    np.testing.assert_array_equal(grad, [0.0, 0.0])
