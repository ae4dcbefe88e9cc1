"""The lowerings on each backend of this machine: values against numpy in float64, IEEE special values
against the reference backend, empty operands, one kernel per softmax, and the refusals."""
import numpy as np
import pytest

import portax
import portax.nn as nn
from portax_activations import fused_softmax
from softmax_numpy import numpy_softmax

# relative accuracy of each dtype's result against float64 (computed in float32 for float16 and float32)
RTOL = {np.float16: 1e-3, np.float32: 4e-6, np.float64: 1e-13}
SHAPES = [(1,), (7,), (3, 5), (2, 3, 4), (2, 65), (3, 1000), (5000, 3), (4, 1)]


@pytest.fixture(autouse=True)
def x64():
    portax.config.update("enable_x64", True)
    yield
    portax.config.update("enable_x64", False)


def run(backend: str, f, *args):
    """``f`` jitted on ``backend``, its results as numpy arrays."""
    return portax.tree_util.tree_map(np.asarray, portax.jit(f, backend=backend)(*args))


def supported(backend: str, dtype) -> None:
    if backend == "wgpu" and np.dtype(dtype) == np.float64:
        pytest.skip("wgpu refuses float64 softmax (test_wgpu_refuses_float64)")


@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.float64])
@pytest.mark.parametrize("shape", SHAPES)
def test_values_match_float64_numpy(backend, rng, dtype, shape):
    supported(backend, dtype)
    x = rng.uniform(-6, 6, size=shape).astype(dtype)
    y = run(backend, fused_softmax, x)
    assert y.dtype == dtype and y.shape == shape
    want = numpy_softmax(x)
    np.testing.assert_allclose(y.astype(np.float64), want, rtol=RTOL[dtype], atol=RTOL[dtype] * want.max())


@pytest.mark.parametrize("dtype", [np.float16, np.float32])
def test_special_values_match_the_reference(backend, dtype):
    inf, nan = np.inf, np.nan
    x = np.array([[1.0, nan, 2.0, 0.5], [1.0, inf, 2.0, 0.5], [1.0, -inf, 2.0, 0.5], [-inf, -inf, -inf, -inf],
                  [inf, inf, 0.0, 1.0], [-inf, 0.0, -inf, 0.0]], dtype)
    got, want = run(backend, fused_softmax, x), run("reference", fused_softmax, x)
    np.testing.assert_array_equal(np.isnan(got), np.isnan(want))
    np.testing.assert_allclose(got, want, rtol=RTOL[dtype])


def test_more_rows_than_one_dispatch_dimension_holds(backend, rng):
    x = rng.uniform(-3, 3, size=(65535 * 64 + 3, 2)).astype(np.float32)
    y = run(backend, fused_softmax, x)
    np.testing.assert_allclose(y, numpy_softmax(x), rtol=RTOL[np.float32])


@pytest.mark.parametrize("shape", [(0, 5), (3, 0), (0,)])
def test_empty_operands(backend, shape):
    y = run(backend, fused_softmax, np.zeros(shape, np.float32))
    assert y.shape == shape and y.dtype == np.float32


def test_inside_a_larger_program_with_its_gradient(backend, rng):
    x = rng.uniform(-3, 3, size=(6, 33)).astype(np.float32)
    w = rng.uniform(-1, 1, size=(33, 33)).astype(np.float32)
    loss = lambda f, w: lambda a: (f(a @ w) ** 2).sum()
    value, grad = run(backend, portax.value_and_grad(loss(fused_softmax, w)), x)
    exact = portax.value_and_grad(loss(nn.softmax, w.astype(np.float64)))
    want_value, want_grad = run("reference", exact, x.astype(np.float64))
    assert value.dtype == grad.dtype == np.float32
    np.testing.assert_allclose(value, want_value, rtol=2e-6)
    np.testing.assert_allclose(grad, want_grad, rtol=1e-4, atol=1e-5 * np.abs(want_grad).max())


def test_a_fused_softmax_is_one_kernel(backend):
    if backend == "reference":
        pytest.skip("the reference backend interprets equations; it generates no kernels")
    x = np.ones((8, 100), np.float32)
    count = lambda f: portax.jit(f, backend=backend).lower(x).compile().kernel_count
    assert count(fused_softmax) == 1
    assert count(nn.softmax) > 1


def test_wgpu_refuses_float64():
    from portax.core.backend import registry
    if not registry.available("wgpu"):
        pytest.skip("wgpu is not available on this machine")
    with pytest.raises(NotImplementedError, match=r"wgpu backend: fused_softmax on float64 is unsupported "
                                                  r"\(fused_softmax f64\[2,3\] -> f64\[2,3\]\)"):
        run("wgpu", fused_softmax, np.ones((2, 3), np.float64))
