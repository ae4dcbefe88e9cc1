"""Computation follows data outside jit, as in JAX: an array committed to a device other than the default one keeps
every eager computation on it, transformations included (the seeds, zeros and constants grad/jvp/vjp/linearize/vmap
make are placed there, as are the constants the differentiated function makes); uncommitted values move to it; two
different committed devices are JAX's error."""
import numpy as np
import pytest

import portax as jax
import portax.numpy as jnp
from portax import lax

X = np.linspace(0.1, 1.2, 4).astype(np.float32)
df = lambda v: np.cos(v) * v + np.sin(v)  # d/dv of sin(v) * v


def _other_backend_device():
    """A device of a backend other than the default one (the reference backend's, or cpu_llvm's)."""
    other = "cpu_llvm" if jax.default_backend() == "reference" else "reference"
    try:
        return jax.devices(other)[0]
    except RuntimeError:
        pytest.skip(f"no {other} backend")


@pytest.fixture(params=["device 1", "other backend"])
def device(request):
    return jax.devices()[1] if request.param == "device 1" else _other_backend_device()


@jax.custom_jvp
def _sin(v):
    return jnp.sin(v)


_sin.defjvp(lambda p, t: (jnp.sin(p[0]), jnp.cos(p[0]) * t[0]))

CASES = {  # name: (function of the committed array, expected value)
    "grad": (lambda x: jax.grad(lambda v: (jnp.sin(v) * v).sum())(x), df(X)),
    "grad of a linear function": (lambda x: jax.grad(lambda v: (2.0 * v + jnp.zeros(4)).sum())(x), np.full(4, 2.0)),
    "grad of an index": (lambda x: jax.grad(lambda v: v[1])(x), np.eye(4)[1]),
    "grad closing over jnp.asarray": (lambda x: jax.grad(lambda v: (v * jnp.asarray([1.0, 2, 3, 4])).sum())(x),
                                      np.arange(1.0, 5)),
    "value_and_grad": (lambda x: jax.value_and_grad(lambda v: (v * v).sum())(x)[1], 2 * X),
    "jvp": (lambda x: jax.jvp(lambda v: jnp.sin(v) * v, (x,), (x,))[1], df(X) * X),
    "vjp": (lambda x: jax.vjp(lambda v: jnp.sin(v) * v, x)[1](x)[0], df(X) * X),
    "linearize": (lambda x: jax.linearize(lambda v: jnp.sin(v) * v, x)[1](x), df(X) * X),
    "vmap": (lambda x: jax.vmap(lambda v: v + jnp.zeros(()) + 1.0)(x), X + 1),
    "vmap of grad": (lambda x: jax.vmap(jax.grad(lambda v: jnp.sin(v) * v))(x), df(X)),
    "jacfwd": (lambda x: jax.jacfwd(jnp.sin)(x), np.diag(np.cos(X))),
    "jacrev": (lambda x: jax.jacrev(jnp.sin)(x), np.diag(np.cos(X))),
    "hessian": (lambda x: jax.hessian(lambda v: (v ** 3).sum())(x), np.diag(6 * X)),
    "grad of scan": (lambda x: jax.grad(lambda v: lax.scan(lambda c, a: (c * a, c), 1.0, v)[0])(x),
                     [np.prod(np.delete(X, i)) for i in range(4)]),
    "grad of cond": (lambda x: jax.grad(lambda v: lax.cond(True, lambda u: (u * u).sum(), jnp.sum, v))(x), 2 * X),
    "grad of custom_jvp": (lambda x: jax.grad(lambda v: _sin(v).sum() * 2.0)(x), 2 * np.cos(X)),
    "grad of checkpoint": (lambda x: jax.grad(jax.checkpoint(lambda v: jnp.sin(v).sum()))(x), np.cos(X)),
    "fori_loop": (lambda x: lax.fori_loop(0, 3, lambda i, c: c * 2.0, x), 8 * X),
    "zeros_like": (jnp.zeros_like, np.zeros(4)),
    "full_like": (lambda x: jnp.full_like(x, 3), np.full(4, 3.0)),
    "uncommitted operand first": (lambda x: jnp.ones(4) + x, X + 1),
    "jit of an uncommitted operand first": (lambda x: jax.jit(lambda a, b: a * b)(jnp.full(4, 2.0), x), 2 * X),
}


@pytest.mark.parametrize("name", list(CASES))
def test_eager_results_stay_on_the_committed_device(device, name):
    fun, want = CASES[name]
    got = fun(jax.device_put(X, device))
    assert got.devices() == {device}, got.devices()
    np.testing.assert_allclose(np.asarray(got), want, rtol=1e-5, atol=1e-6)


def test_random_follows_the_key(device):
    key = jax.device_put(jax.random.key(0), device)
    got = jax.random.normal(key, (3,))
    assert got.devices() == {device}
    np.testing.assert_allclose(np.asarray(got), np.asarray(jax.random.normal(jax.random.key(0), (3,))), rtol=1e-6)


def test_two_committed_devices_are_an_error():
    a, b = jax.device_put(X, jax.devices()[2]), jax.device_put(X, jax.devices()[3])
    for fun in (lambda: a + b, lambda: jax.jit(lambda u, v: u * v)(a, b),
                lambda: jax.grad(lambda u, v: (u * v).sum())(a, b)):
        with pytest.raises(ValueError, match=r"Received incompatible devices for jitted computation. Got argument .* "
                                             r"device ids \[2\] .* and argument .* device ids \[3\]"):
            fun()
