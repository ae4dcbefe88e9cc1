"""Structural, reduction, cumulative, indexing and sorting primitives on cpu_llvm against the reference
backend (fused and unfused, odd and empty shapes); every executable is generated code only."""
from __future__ import annotations

import numpy as np
import pytest

import portax.numpy as jnp
from portax import lax

from cpu_llvm_helpers import assert_matches, x64_enabled

RNG = np.random.RandomState(1)


@pytest.fixture(autouse=True)
def x64():
    with x64_enabled(True):
        yield


def f32(*shape):
    return RNG.standard_normal(shape).astype(np.float32)


@pytest.mark.parametrize("case", [
    lambda x: lax.broadcast_in_dim(x, (2, 3, 4, 5), (1, 3)),
    lambda x: lax.transpose(x, (1, 0)) * 2,
    lambda x: lax.reshape(x, (5, 3)) + 1,
    lambda x: lax.rev(x, (0, 1)) - x,
    lambda x: lax.slice(x, (1, 0), (3, 5), (1, 2)),
    lambda x: lax.squeeze(lax.broadcast_in_dim(x, (1, 3, 5), (1, 2)), (0,)),
    lambda x: lax.iota(np.int32, 7) * 2,
    lambda x: lax.broadcasted_iota(np.float32, (3, 5), 1) + x,
    lambda x: lax.pad(x, np.float32(-1), ((1, 2, 1), (-1, 3, 0))),
    lambda x: lax.pad(x, np.float32(0), ((0, 0, 0), (-2, -2, 2))),
    lambda x: lax.concatenate([x, x * 2, x[:1]], 0),
    lambda x: lax.concatenate([x, x[:, :2]], 1),
    lambda x: lax.dynamic_slice(x, (np.int32(2), np.int32(-3)), (2, 3)),
    lambda x: lax.dynamic_update_slice(x, jnp.ones((2, 2), np.float32), (np.int32(5), np.int32(1))),
    lambda x: jnp.tile(x[:, :1], (1, 4)),
])
def test_structural(case):
    assert_matches(case, f32(3, 5))


@pytest.mark.parametrize("dtype", ["float16", "float32", "float64", "int8", "int32", "uint16", "uint64", "bool"])
@pytest.mark.parametrize("axes", [(0,), (1,), (0, 1), (), (2,), (0, 2)])
def test_reductions(dtype, axes):
    shape = (4, 5, 3)
    x = (RNG.standard_normal(shape) * 4).astype(dtype) if dtype != "bool" else RNG.rand(*shape) < 0.5
    ops = [lax.reduce_max, lax.reduce_min]
    if dtype != "bool":
        ops += [lax.reduce_sum]
    if dtype[0] in "iub":
        ops += [lax.reduce_and, lax.reduce_or, lax.reduce_xor]
    fn = lambda v: [op(v, axes) for op in ops]
    assert_matches(fn, x, rtol=1e-2 if dtype == "float16" else None)
    if len(axes) == 1:
        assert_matches(lambda v: (lax.argmax(v, axes[0], np.int32), lax.argmin(v, axes[0], np.int64)), x)


def test_reduction_fused_with_producers_and_empty():
    x = f32(6, 7)
    assert_matches(lambda a: jnp.sum(jnp.exp(a) * 2 + 1, axis=0), x)
    assert_matches(lambda a: jnp.max(a.T + 1, axis=1), x)
    assert_matches(lambda a: (jnp.sum(a, axis=0), jnp.prod(a[:0], axis=0), lax.reduce_max(a[:, :0], (1,))), x)


def test_argmax_nan_and_ties():
    x = np.array([[1, 3, 3, np.nan, 3], [np.nan, np.nan, 1, 2, 2], [-np.inf] * 5], np.float32)
    assert_matches(lambda v: (jnp.argmax(v, axis=1), jnp.argmin(v, axis=1), jnp.argmax(v, axis=0)), x)


@pytest.mark.parametrize("dtype", ["float32", "int32", "float16"])
@pytest.mark.parametrize("reverse", [False, True])
def test_cumulative(dtype, reverse):
    x = (RNG.standard_normal((4, 6, 3)) * 2).astype(dtype)
    fn = lambda v: [op(v, axis=ax, reverse=reverse) for op in (lax.cumsum, lax.cumprod, lax.cummax, lax.cummin)
                    for ax in (0, 1, 2)]
    assert_matches(fn, x, rtol=1e-2 if dtype == "float16" else 1e-5)


@pytest.mark.parametrize("mode", ["clip", "fill"])
def test_gather_and_scatter(mode):
    x = f32(6, 4)
    idx = np.array([[0], [5], [7], [-2], [2]], np.int32)
    updates = f32(5, 4)
    assert_matches(lambda v, i: v.at[i[:, 0]].get(mode=mode), x, idx)
    for op in ("set", "add", "mul", "min", "max"):
        assert_matches(lambda v, i, u: getattr(v.at[i[:, 0]], op)(u, mode=mode), x, idx, updates)


def test_gather_patterns():
    x = f32(5, 6, 3)
    i = np.array([[1, 2], [4, 0], [0, 5]], np.int32)
    assert_matches(lambda v, k: v[k[:, 0], k[:, 1]], x, i)
    assert_matches(lambda v, k: v[:, k[:, 1], 1:], x, i)
    assert_matches(lambda v: jnp.take_along_axis(v, jnp.argsort(v, axis=1), axis=1), x)
    assert_matches(lambda v, k: v.at[k[:, 0], :, k[:, 1] % 3].add(1.0), x, i)


@pytest.mark.parametrize("n", [1, 5, 16, 17, 100])
def test_sort(n):
    x = np.round(RNG.standard_normal((3, n)) * 2).astype(np.float32)
    x[0, ::3] = np.nan
    x[1, ::4] = -0.0
    y = RNG.randint(0, 3, (3, n)).astype(np.int32)
    assert_matches(lambda a: lax.sort(a, dimension=1), x)
    assert_matches(lambda a: lax.sort(a, dimension=0), x)
    assert_matches(lambda a, b: lax.sort((b, a), dimension=1, num_keys=2), x, y)
    assert_matches(lambda a, b: lax.sort((a, b), dimension=1, num_keys=1), x, y)
    k = min(n, 4)
    assert_matches(lambda a: lax.top_k(a, k), x)
    assert_matches(lambda a: lax.top_k(a, k), y)


def test_sort_unsigned_and_bool():
    assert_matches(lambda a: lax.sort(a), RNG.randint(0, 2 ** 32, 40, dtype=np.uint64).astype(np.uint32))
    assert_matches(lambda a: lax.sort(a), RNG.rand(30) < 0.5)


@pytest.mark.parametrize("shape, perm", [((70, 45), (1, 0)), ((3, 40, 33), (0, 2, 1)), ((33, 5, 40), (2, 1, 0))])
def test_tiled_transposes(shape, perm):
    """Transposing loops walk square tiles (with partial edge tiles)."""
    x = RNG.standard_normal(shape).astype(np.float32)
    assert_matches(lambda v: lax.transpose(v, perm) * 2 + 1, x)
    assert_matches(lambda v: lax.transpose(lax.rev(v, (0,)), perm), x)


def test_big_full_reductions_in_partials():
    """Reductions of everything past the threading threshold combine fixed partial results."""
    x = RNG.standard_normal((2_100_000,)).astype(np.float32)
    i = RNG.randint(-5, 6, (1_100_000, 2)).astype(np.int32)
    assert_matches(lambda v: (jnp.sum(v * 2 + 1), jnp.max(v), jnp.min(v)), x, rtol=1e-4)
    x[12345] = np.nan
    assert_matches(lambda v: (jnp.max(v), lax.reduce_min(v, (0,))), x)
    assert_matches(lambda v: (jnp.sum(v), lax.reduce_or(v, (0, 1)), lax.reduce_max(v, (0, 1))), i)
