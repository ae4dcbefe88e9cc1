"""Drivers that stop loops: Mesa's llvmpipe (lavapipe) ends every loop of an invocation once all of them together
ran 65535 iterations, without an error. The device probes that limit, kernels count their loop iterations, long
reductions are split across invocations (``split_k``, tests in test_wgpu_split_k.py), and a kernel that would
still pass the limit is refused (NotImplementedError) instead of returning a wrong result."""
import dataclasses

import numpy as np
import pytest

import portax
import portax.numpy as jnp
from portax import jit, lax

from wgpu_helpers import caps, wgpu_backend


def _exact_or_refused(f, *args, expected):
    """``f`` on wgpu gives ``expected`` or, where the driver would cut its loops, a clear NotImplementedError."""
    try:
        got = np.asarray(jit(f, backend="wgpu")(*args))
    except NotImplementedError as e:
        assert caps().loop_trip_limit is not None, e
        assert "loop iterations" in str(e) and "llvmpipe" in str(e), e
        return None
    np.testing.assert_allclose(got, expected, rtol=2e-5, atol=1e-4)
    return got


def test_the_probe_finds_the_limit_of_the_adapter():
    limit = caps().loop_trip_limit
    if "llvmpipe" in caps().adapter_name:
        assert limit == 65535
    else:
        assert limit is None or limit >= 65535
    shown = " ".join(wgpu_backend().environment_info()["device 0"])  # (`python -m portax`, for bug reports)
    assert (f"loops after {limit:,} iterations" in shown) == (limit is not None)


@pytest.mark.parametrize("n", [1000, 65535, 70000, 200_000])
def test_a_long_window_sums_every_element(n):
    # llvmpipe summed at most 65535 of them: reduce_window over 70000 ones gave 65535 (then it was refused)
    x = np.ones(n, np.float32)
    got = _exact_or_refused(lambda x: lax.reduce_window(x, 0.0, lax.add, (n,), (1,), "VALID"), x,
                            expected=np.array([n], np.float32))
    assert got is not None


def test_depthwise_filter_gradient_of_a_large_image():
    # the filter gradient of a depthwise conv over 2x1x200x200 (80,000 products per filter tap) was off by 43%
    rng = np.random.default_rng(0)
    x, g = rng.standard_normal((2, 2, 1, 200, 200)).astype(np.float32)
    w = rng.standard_normal((1, 1, 3, 3)).astype(np.float32)

    def filter_grad(x, w, g):
        conv = lambda w: lax.conv_general_dilated(x, w, (1, 1), "SAME")
        return portax.vjp(conv, w)[1](g)[0]
    expected = np.asarray(jit(filter_grad, backend="reference")(x, w, g))
    assert _exact_or_refused(filter_grad, x, w, g, expected=expected) is not None


@pytest.mark.parametrize("name", ["cholesky", "qr", "inv", "eigh"])
@pytest.mark.parametrize("n", [8, 96])
def test_decompositions_of_larger_matrices_are_right_or_refused(name, n):
    # on llvmpipe, qr of a 48x48 matrix and cholesky of an 80x80 one came back wrong (or NaN)
    rng = np.random.default_rng(1)
    m = rng.standard_normal((n, n)).astype(np.float32)
    spd = m @ m.T + n * np.eye(n, dtype=np.float32)
    f = {"cholesky": jnp.linalg.cholesky, "qr": lambda a: jnp.abs(jnp.linalg.qr(a)[1]), "inv": jnp.linalg.inv,
         "eigh": lambda a: jnp.linalg.eigh(a)[0]}[name]
    expected = np.asarray(jit(f, backend="reference")(spd))
    got = _exact_or_refused(f, spd, expected=expected)
    if n == 8:
        assert got is not None


def test_a_kernel_over_the_limit_is_refused_naming_the_op(monkeypatch):
    backend = wgpu_backend()
    device = backend.runtime_device(backend.devices()[0])
    monkeypatch.setattr(device, "capabilities", dataclasses.replace(device.capabilities, loop_trip_limit=100))
    x = np.ones((4096, 200), np.float32)  # (many rows: one sequential loop per row)
    with pytest.raises(NotImplementedError, match=r"cumsum .*200 loop iterations .*after 100 iterations"):
        jit(lambda x: lax.cumsum(x, axis=1), backend="wgpu")(x)
    np.testing.assert_array_equal(  # under the limit: computed
        jit(lambda x: lax.cumsum(x, axis=1), backend="wgpu")(x[:, :50]), np.tile(np.arange(1, 51), (4096, 1)))
