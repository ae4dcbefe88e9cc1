"""A battery run in a subprocess under another adapter or limit setting (see test_wgpu_portability.py):
every check compares the wgpu backend with the reference backend; exits non-zero on the first failure."""
import sys

import numpy as np

import portax.numpy as jnp
from portax import grad, lax

from wgpu_helpers import check, compiled, wgpu_backend

R = np.random.RandomState(7)


def main() -> None:
    caps = wgpu_backend().runtime_device(wgpu_backend().devices()[0]).capabilities
    limit = caps.limits.max_storage_buffers_per_shader_stage
    x = R.randn(6, 9).astype(np.float32)
    check(lambda v: jnp.tanh(v) * 2 + jnp.exp(-v * v), x, tol=1e-5)
    check(lambda v: (jnp.sum(v, axis=1), jnp.max(v), jnp.argmax(v, axis=0), jnp.cumsum(v, axis=1)), x, tol=1e-5)
    check(lambda a, b: a @ b, x, x.T.copy(), tol=1e-4)
    check(lambda v: jnp.sort(v, axis=1), x)
    check(lambda v, i, u: v.at[i].add(u), x, np.array([0, 3, 0], np.int32), R.randn(3, 9).astype(np.float32))
    check(lambda v: lax.fori_loop(0, 5, lambda i, c: c * 0.5 + i, v), x)
    check(grad(lambda v: jnp.sum(jnp.sin(v) @ v.T)), x, tol=1e-4)
    # more operands than storage buffers per stage: fusion splits the kernel
    parts = [R.randn(50).astype(np.float32) for _ in range(limit + 4)]
    f = lambda *ps: sum(p * (i + 1) for i, p in enumerate(ps))
    check(f, *parts, tol=1e-5)
    c = compiled(f, *parts)
    assert c.kernel_count > 1, c.kernel_count
    assert all(k.wgsl.count("var<storage") <= limit for k in c.kernels)
    check(lambda *ps: jnp.concatenate(ps), *parts)
    print(f"portability checks passed on {caps.adapter_name} via {caps.backend_type} "
          f"(storage buffers per stage: {limit})")


if __name__ == "__main__":
    sys.exit(main())
