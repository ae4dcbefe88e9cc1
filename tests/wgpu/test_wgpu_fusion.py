"""Kernel boundaries on wgpu: a fused elementwise chain is one dispatch, one submit per jitted call."""
import numpy as np

import portax.numpy as jnp
from portax import jit, lax

from wgpu_helpers import caps, check, compiled

R = np.random.RandomState(5)


def selu(x, alpha=1.67, lmbda=1.05):
    return lmbda * jnp.where(x > 0, x, alpha * jnp.exp(x) - alpha)


def test_elementwise_chain_is_one_dispatch():
    x = R.randn(1000).astype(np.float32)
    c = compiled(selu, x)
    assert c.kernel_count == 1
    assert "exp" in c.kernels[0].wgsl
    c(x)
    assert (c.executable.last_dispatches, c.executable.last_submits) == (1, 1)
    check(selu, x, tol=1e-6)


def test_broadcasts_and_reduction_fuse_into_one_kernel():
    x, y, z = (R.randn(300).astype(np.float32) for _ in range(3))
    f = lambda x, y, z: jnp.sum(x + y * z)
    c = compiled(f, x, y, z)
    assert c.kernel_count == 1 and c.kernels[0].name.startswith("reduce")
    check(f, x, y, z, tol=1e-5)
    m = R.randn(64, 32).astype(np.float32)
    b = R.randn(32).astype(np.float32)
    g = lambda m, b: jnp.max(jnp.tanh(m + b[None, :]), axis=1)
    assert compiled(g, m, b).kernel_count == 1
    check(g, m, b, tol=1e-6)


def test_large_reduction_uses_partials():
    x = R.randn(1 << 20).astype(np.float32)
    c = compiled(lambda v: jnp.sum(v * v), x)
    assert c.kernel_count == 2  # per-workgroup partial sums, then one workgroup folds them
    check(lambda v: jnp.sum(v * v), x, tol=1e-3)


def test_no_intermediate_buffers_inside_a_fused_group():
    x = R.randn(100).astype(np.float32)
    c = compiled(lambda v: lax.exp(lax.sin(v) * 2) + v, x)
    src = c.kernels[0].wgsl
    assert src.count("var<storage, read_write>") == 1 and src.count("var<storage, read>") == 1


def test_kernels_are_listed_with_their_source():
    x = R.randn(8, 8).astype(np.float32)
    c = compiled(lambda a: jnp.sort(a @ a, axis=1), x)
    names = [k.name for k in c.kernels]
    assert any(n.startswith("dot:") for n in names) and any("bitonic" in n for n in names)
    assert all("@compute" in k.wgsl for k in c.kernels)
    assert "@compute" in c.as_text()


def test_an_op_of_literals_alone_runs_at_run_time():
    """``1.0 / 0.0`` of two literals is no WGSL constant expression (shader creation rejected the inf)."""
    x = np.zeros(3, np.float32)
    f = lambda v: v + jnp.full((3,), 1.0) / jnp.zeros((3,))
    got = np.asarray(jit(f, backend="wgpu")(x))
    if caps().ieee_specials:
        assert np.isposinf(got).all()
    g = lambda v: v + jnp.full((3,), 1.5) * jnp.full((3,), 2.0)
    check(g, x)
