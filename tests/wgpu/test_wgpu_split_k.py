"""Split-K (``backends/wgpu/split_k``): reductions too long for one invocation's loops (lavapipe stops them after
65,535 iterations) are computed as partial results over chunks, then folded over the chunks by a reduce
kernel. Every case here was refused (NotImplementedError) on lavapipe before; most are also run with the limit
lowered to 100 iterations, so that every dtype and kernel variant is split on any adapter."""
import dataclasses

import numpy as np
import pytest

import portax
import portax.numpy as jnp
from portax import jit, lax

from wgpu_helpers import assert_same, caps, check, compiled, force_variant, needs_dtype, wgpu_backend

R = np.random.default_rng(7)


@pytest.fixture
def limit_100(monkeypatch):
    """The device's loop trip limit lowered to 100 iterations (compile caches emptied around the test)."""
    backend = wgpu_backend()
    device = backend.runtime_device(backend.devices()[0])
    monkeypatch.setattr(device, "capabilities", dataclasses.replace(device.capabilities, loop_trip_limit=100))
    portax.clear_caches()
    yield
    portax.clear_caches()


@pytest.fixture(params=["blocked", "blocked_square", "tiled"])
def matmul_variant(request, monkeypatch):
    return force_variant(request, monkeypatch, "matmul")


def _split(f, *args) -> bool:
    return any("split-k" in k.context for k in compiled(f, *args).kernels)


def _close_to_reference(f, *args, tol=2e-5):
    """``f`` on wgpu against the reference backend, floats within ``tol`` of the largest magnitude of the
    result (a long sum's rounding error scales with its terms, not with the sum)."""
    got = np.asarray(jit(f, backend="wgpu")(*args))
    want = np.asarray(jit(f, backend="reference")(*args))
    assert got.shape == want.shape and got.dtype == want.dtype
    scale = max(1.0, float(np.max(np.abs(want.astype(np.float64)))))
    np.testing.assert_allclose(got.astype(np.float64), want.astype(np.float64), rtol=0, atol=tol * scale)
    return got


# --- sizes past lavapipe's limit (refused before) -------------------------------------------------------------
@pytest.mark.parametrize("n", [70_000, 200_000])
def test_long_window_reductions(n):
    x = R.standard_normal(n).astype(np.float32)
    assert_same(jit(lambda x: lax.reduce_window(x, 0.0, lax.add, (n,), (1,), "VALID"), backend="wgpu")(
        np.ones(n, np.float32)), np.array([n], np.float32))
    _close_to_reference(lambda x: lax.reduce_window(x, 0.0, lax.add, (n - 3,), (1,), "VALID"), x, tol=1e-5)
    for op, init in ((lax.max, -np.inf), (lax.min, np.inf)):  # exact
        check(lambda x: lax.reduce_window(x, init, op, (n - 7,), (3,), "VALID"), x)


def test_dot_of_long_vectors_and_a_matmul_with_a_long_contraction(matmul_variant):
    x, y = R.standard_normal((2, 70_001)).astype(np.float32)
    _close_to_reference(lambda x, y: x @ y, x, y)
    a, b = R.standard_normal((3, 70_001)).astype(np.float32), R.standard_normal((70_001, 5)).astype(np.float32)
    _close_to_reference(lambda a, b: a @ b, a, b)
    _close_to_reference(lambda a, b: jnp.tanh(a @ b * 0.01) + 1.0, a, b)  # the fused epilogue runs after the sum
    if caps().loop_trip_limit is not None:
        assert _split(lambda a, b: a @ b, a, b)


def test_depthwise_filter_gradient_of_a_large_batch():
    # each filter tap sums 8 * 112 * 112 = 100,352 products
    x, g = R.standard_normal((2, 8, 32, 112, 112)).astype(np.float32)
    w = R.standard_normal((32, 1, 3, 3)).astype(np.float32)

    def filter_grad(x, w, g):
        conv = lambda w: lax.conv_general_dilated(x, w, (1, 1), "SAME", feature_group_count=32)
        return portax.vjp(conv, w)[1](g)[0]
    _close_to_reference(filter_grad, x, w, g)


@pytest.mark.parametrize("form", ["direct", "gemm"])
def test_a_convolution_with_a_large_window(form, monkeypatch):
    monkeypatch.setenv("PORTAX_WGPU_CONV", form)
    portax.clear_caches()
    x = R.standard_normal((1, 2, 300, 300)).astype(np.float32)
    w = R.standard_normal((1, 2, 200, 200)).astype(np.float32)  # 80,000 products per output
    _close_to_reference(lambda x, w: lax.conv_general_dilated(x, w, (50, 50), "VALID"), x, w)
    portax.clear_caches()


# --- every dtype and variant split, with the limit lowered to 100 iterations ------------------------------------
@pytest.mark.parametrize("dtype", [np.float32, np.float16, np.int32, np.int8, np.uint8])
def test_split_window_reductions_of_every_dtype(limit_100, dtype):
    needs_dtype(dtype)
    x = (R.standard_normal((3, 170)) * 20).astype(dtype)
    if np.dtype(dtype).kind == "f":
        x[1, 50] = np.nan  # max and min propagate NaN from any chunk
    f = lambda x: (lax.reduce_window(x, np.array(0, dtype), lax.add, (2, 150), (1, 7), "VALID"),
                   lax.reduce_window(x, np.array(-np.inf if x.dtype.kind == "f" else np.iinfo(dtype).min, dtype),
                                     lax.max, (1, 160), (1, 2), ((0, 0), (5, 0))),
                   lax.reduce_window(x, np.array(np.inf if x.dtype.kind == "f" else np.iinfo(dtype).max, dtype),
                                     lax.min, (2, 140), (1, 1), "VALID", window_dilation=(1, 1)))
    check(f, x, tol=1e-2 if dtype == np.float16 else 1e-5)
    assert _split(f, x)


def test_split_window_reduction_of_bool(limit_100):
    x = np.zeros(300, bool)
    x[250] = True
    f = lambda x: (lax.reduce_window(x, False, lax.max, (200,), (1,), "VALID"),
                   lax.reduce_window(x, True, lax.min, (200,), (50,), "VALID"))
    check(f, x)
    assert _split(f, x)


@pytest.mark.parametrize("dtype,out", [(np.float32, None), (np.float16, None), (np.int32, None),
                                       (np.int8, np.int32), (np.float16, np.float32)])
def test_split_matmuls(limit_100, matmul_variant, dtype, out):
    needs_dtype(dtype)
    a = (R.standard_normal((2, 5, 600)) * 3).astype(dtype)
    b = (R.standard_normal((2, 600, 6)) * 3).astype(dtype)
    f = lambda a, b: lax.dot_general(a, b, (((2,), (1,)), ((0,), (0,))), preferred_element_type=out)
    check(f, a, b, tol=2e-2 if np.float16 in (dtype, out) else 1e-4)
    assert _split(f, a, b)
    g = lambda a, b: jnp.maximum(a[0] @ b[0], 0) * 2 + 1  # with a fused epilogue
    check(g, a, b, tol=2e-2 if dtype == np.float16 else 1e-4)


def test_split_direct_convolutions(limit_100, monkeypatch):
    monkeypatch.setenv("PORTAX_WGPU_CONV", "direct")
    x = R.standard_normal((2, 16, 12, 12)).astype(np.float32)
    w = R.standard_normal((6, 8, 5, 5)).astype(np.float32)  # 200 products per output
    f = lambda x, w: lax.conv_general_dilated(x, w, (2, 1), "SAME", rhs_dilation=(1, 2), feature_group_count=2)
    check(f, x, w, tol=1e-4)
    check(f, x.astype(np.int32), w.astype(np.int32))
    assert _split(f, x, w)


def test_unsplit_kernels_over_the_limit_are_still_refused(limit_100):
    # bool products accumulate a count that the chunks' partials would not combine into: refused, not split
    a, b = R.random((4, 150)) > 0.5, R.random((150, 3)) > 0.5
    with pytest.raises(NotImplementedError, match=r"dot_general .*loop iterations .*after 100 iterations"):
        jit(lambda a, b: a @ b, backend="wgpu")(a, b)
    m = R.standard_normal((12, 12)).astype(np.float32)
    with pytest.raises(NotImplementedError, match=r"cholesky .*loop iterations .*after 100 iterations"):
        jit(jnp.linalg.cholesky, backend="wgpu")(m @ m.T + 12 * np.eye(12, dtype=np.float32))
