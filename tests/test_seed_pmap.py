"""The seed articles' pmap compositions, `pmap(vmap(hidden_layer))` and `pmap(vmap(jit(grad(f))))`, on
cpu_llvm with 4 virtual devices and on wgpu with 2 logical devices carved from one adapter."""
import numpy as onp
import pytest

import portax as jax
import portax.numpy as jnp
from portax import grad, jit, pmap, random, vmap
from portax.core.backend import registry

SETUPS = [("cpu_llvm", "PORTAX_CPU_DEVICES", 4), ("wgpu", "PORTAX_WGPU_DEVICES", 2)]


@pytest.fixture(params=SETUPS, ids=lambda s: f"{s[0]}-{s[2]}dev")
def devices(request):
    """A fresh instance of the backend created with the device count from its environment variable."""
    name, var, n = request.param
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv(var, str(n))
        if name in registry._backends:
            mp.delitem(registry._backends, name)
        if not registry.available(name):
            pytest.skip(f"backend '{name}' is not available here")
        devs = jax.devices(name)
        assert len(devs) == n, f"{name} offers {len(devs)} devices with {var}={n}"
        yield devs


def test_pmap_vmap_hidden_layer(devices):
    n = len(devices)
    W = random.normal(random.PRNGKey(0), (128, 128)) * 0.1
    b = random.normal(random.PRNGKey(1), (128,))

    def hidden_layer(x):
        return jax.nn.relu(jnp.dot(W, x + b))
    x = onp.random.RandomState(0).randn(n, 32, 128).astype(onp.float32)
    outputs = pmap(vmap(hidden_layer), devices=devices)(x)
    assert outputs.shape == (n, 32, 128)
    assert [s.device for s in outputs.shards] == list(devices)
    expected = onp.maximum((x + onp.asarray(b)) @ onp.asarray(W).T, 0)
    onp.testing.assert_allclose(onp.asarray(outputs), expected, rtol=1e-4, atol=1e-4)


def test_pmap_vmap_jit_grad(devices):
    n = len(devices)

    def f(x):
        return jnp.sum(jnp.tanh(x) ** 2) + jnp.sin(x[0]) * x[-1]
    x = onp.random.RandomState(1).randn(n, 8, 5).astype(onp.float32)
    out = pmap(vmap(jit(grad(f))), devices=devices)(x)
    assert out.shape == (n, 8, 5)
    expected = vmap(vmap(grad(f)))(x)
    onp.testing.assert_allclose(onp.asarray(out), onp.asarray(expected), rtol=1e-5, atol=1e-5)
    t = onp.tanh(x)
    manual = 2 * t * (1 - t ** 2)
    manual[..., 0] += onp.cos(x[..., 0]) * x[..., -1]
    manual[..., -1] += onp.sin(x[..., 0])
    onp.testing.assert_allclose(onp.asarray(out), manual, rtol=1e-4, atol=1e-4)
