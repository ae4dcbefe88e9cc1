"""The seed examples and make demo's MLP training on the wgpu backend."""
import os
import subprocess
import sys

import numpy as np

import portax
import portax.numpy as jnp
from portax import grad, jacfwd, jacrev, random, vmap

from wgpu_helpers import check, wgpu_backend

R = np.random.RandomState(6)
W = R.randn(16, 8).astype(np.float32)
B = R.randn(16).astype(np.float32)


def hidden_layer(x):
    return portax.nn.relu(jnp.dot(W, x) + B)


def sum_logistic(x):
    return jnp.sum(1.0 / (1.0 + jnp.exp(-x)))


def test_seed_examples():
    x = R.randn(8).astype(np.float32)
    check(lambda v: 1.05 * jnp.where(v > 0, v, 1.67 * jnp.exp(v) - 1.67), x, tol=1e-6)
    check(lambda a, b, c: jnp.sum(a + b * c), x, x * 2, x + 1, tol=1e-5)
    check(lambda a, b: jnp.dot(a, b), R.randn(20, 30).astype(np.float32), R.randn(30, 10).astype(np.float32),
          tol=1e-4)
    check(vmap(hidden_layer), R.randn(5, 8).astype(np.float32), tol=1e-5)
    check(grad(sum_logistic), jnp.arange(3.0), tol=1e-6)
    check(grad(lambda v: jnp.sum(hidden_layer(v))), x, tol=1e-5)
    check(jacfwd(jacrev(lambda v: jnp.sum(jnp.tanh(v) ** 3))), x, tol=1e-5)


def test_eager_ops_on_a_wgpu_device():
    dev = wgpu_backend().devices()[0]
    x = portax.device_put(R.randn(5).astype(np.float32), dev)
    y = jnp.sin(x) * 2 + 1
    assert y.device is dev
    np.testing.assert_allclose(np.asarray(y), np.sin(np.asarray(x)) * 2 + 1, rtol=1e-6)
    key = random.PRNGKey(0)
    got = random.normal(portax.device_put(key, dev), (4,))
    np.testing.assert_allclose(np.asarray(got), np.asarray(random.normal(key, (4,))), rtol=1e-6)


def test_mlp_demo_trains():
    wgpu_backend()
    env = dict(os.environ, PORTAX_BACKEND="wgpu")
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    out = subprocess.run([sys.executable, os.path.join(root, "examples", "mlp_demo.py")], env=env,
                         capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr[-2000:]
    losses = [float(line.split()[-1]) for line in out.stdout.splitlines() if line.startswith("step")]
    assert "backend: wgpu" in out.stdout
    assert len(losses) >= 2 and losses[-1] < losses[0] / 10
