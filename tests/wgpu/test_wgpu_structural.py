"""Structural primitives (fused index maps and opaque kernels) on wgpu vs the reference backend."""
import numpy as np
import pytest

import portax.numpy as jnp
from portax import lax

from wgpu_helpers import check

R = np.random.RandomState(1)
X = R.randn(3, 4, 5).astype(np.float32)


@pytest.mark.parametrize("f", [
    lambda x: lax.broadcast_in_dim(x[:, 0, :], (2, 3, 7, 5), (1, 3)) * 2,
    lambda x: jnp.reshape(x, (4, 15)) + 1,
    lambda x: lax.transpose(x, (2, 0, 1)) - 1,
    lambda x: lax.slice(x, (1, 0, 1), (3, 4, 5), (1, 2, 3)) * 3,
    lambda x: lax.rev(x, (0, 2)) + x,
    lambda x: lax.squeeze(x[:, :1, :], (1,)) * 2,
    lambda x: lax.broadcasted_iota(jnp.int32, (3, 4), 1) + lax.broadcasted_iota(jnp.int32, (3, 4), 0) * 10,
    lambda x: lax.iota(jnp.float32, 7) / 2,
    lambda x: x.T[1:, ::2] * x.T[1:, ::2],
], ids=["broadcast", "reshape", "transpose", "strided_slice", "rev", "squeeze", "iota", "iota_float",
        "chained_maps"])
def test_index_mapped(f):
    check(f, X)


@pytest.mark.parametrize("config", [[(1, 2, 0), (0, 0, 0), (2, 0, 1)], [(-1, 1, 0), (1, -2, 2), (0, 0, 0)]])
def test_pad(config):
    check(lambda x: lax.pad(x, np.float32(-7), config), X)


def test_pad_with_traced_value_and_empty_operand():
    check(lambda x, v: lax.pad(x, v, [(1, 1, 0), (2, 0, 0)]), np.zeros((0, 3), np.float32), np.float32(4))


def test_concatenate_many_operands():
    """More operands than storage buffers per kernel: split into several dispatches."""
    parts = [R.randn(2, k + 1).astype(np.float32) for k in range(11)]
    check(lambda *xs: jnp.concatenate(xs, axis=1), *parts)
    check(lambda a, b: jnp.concatenate([a, b, a], axis=0), X, X * 2)


@pytest.mark.parametrize("start", [0, 2, 7, -3])
def test_dynamic_slice_clamps(start):
    check(lambda x, i: lax.dynamic_slice(x, (i, np.int32(1), i), (2, 2, 3)), X, np.int32(start))


@pytest.mark.parametrize("start", [0, 1, 5, -2])
def test_dynamic_update_slice_clamps(start):
    u = R.randn(2, 3, 2).astype(np.float32)
    check(lambda x, u, i: lax.dynamic_update_slice(x, u, (i, np.int32(0), i)), X, u, np.int32(start))


def test_dynamic_slice_many_index_operands():
    """Rank 8: 8 index buffers + operand + output exceed 8 storage buffers; indices are packed first."""
    x = R.randn(*(2,) * 8).astype(np.float32)
    idx = [np.int32(i % 2) for i in range(8)]
    check(lambda x, *i: lax.dynamic_slice(x, i, (1,) * 8), x, *idx)


def test_bitcast_changing_width():
    from wgpu_helpers import needs_dtype, x64_enabled
    needs_dtype(np.float64)
    with x64_enabled():
        x = R.randn(4)
        check(lambda v: lax.bitcast_convert_type(v, jnp.uint32), x)
        check(lambda v: lax.bitcast_convert_type(v, jnp.float64), R.randint(0, 2**31, (3, 2)).astype(np.uint32))
