"""The code examples of the articles portax was specified from (../shared/seeds), with portax in place
of jax, on the default backend."""
import numpy as onp
import pytest

import portax as jax
import portax.numpy as jnp
from portax import grad, jacfwd, jacrev, jit, random, vmap
from portax.scipy.linalg import svd

key = random.PRNGKey(0)


def test_arrays_and_square():
    x = jnp.array([[1, 2, 3, 4], [5, 6, 7, 8]])
    assert x.shape == (2, 4) and x.dtype == jnp.int32
    onp.testing.assert_array_equal(jnp.square(jnp.array([1, 2, 3, 4, 5, 6, 7, 8, 9, 10])), onp.arange(1, 11) ** 2)
    onp.testing.assert_array_equal(jnp.arange(10), onp.arange(10))


def test_random_normal_and_matmul():
    x = random.normal(key, (10,))
    assert x.shape == (10,) and abs(float(jnp.mean(x))) < 1.5
    size = 300
    m = random.normal(key, (size, size), dtype=jnp.float32)
    onp.testing.assert_allclose(jnp.dot(m, m.T).block_until_ready(), onp.asarray(m) @ onp.asarray(m).T,
                                rtol=1e-4, atol=1e-3)


def test_selu_jit():
    def selu(x, alpha=1.67, lmbda=1.05):
        return lmbda * jnp.where(x > 0, x, alpha * jnp.exp(x) - alpha)
    x = random.normal(key, (100000,))
    xn = onp.asarray(x)
    want = 1.05 * onp.where(xn > 0, xn, 1.67 * onp.exp(xn) - 1.67)
    onp.testing.assert_allclose(selu(x).block_until_ready(), want, rtol=1e-5, atol=1e-6)
    onp.testing.assert_allclose(jit(selu)(x).block_until_ready(), want, rtol=1e-5, atol=1e-6)


def test_grad_against_finite_differences():
    def sum_logistic(x):
        return jnp.sum(1.0 / (1.0 + jnp.exp(-x)))

    def first_finite_differences(f, x):
        eps = 1e-3
        return jnp.array([(f(x + eps * v) - f(x - eps * v)) / (2 * eps) for v in jnp.eye(len(x))])

    x_small = jnp.arange(3.)
    onp.testing.assert_allclose(grad(sum_logistic)(x_small), first_finite_differences(sum_logistic, x_small),
                                rtol=1e-2)
    onp.testing.assert_allclose(grad(sum_logistic)(x_small), [0.25, 0.19661193, 0.10499357], rtol=1e-5)


def test_hessian_and_vmap_matrix():
    def hessian(fun):
        return jit(jacfwd(jacrev(fun)))
    h = hessian(lambda x: jnp.sum(x ** 3))(jnp.array([1.0, 2.0]))
    onp.testing.assert_allclose(h, [[6.0, 0.0], [0.0, 12.0]])
    mat = random.normal(key, (150, 100))
    batched_x = random.normal(key, (10, 100))

    def apply_matrix(v):
        return jnp.dot(mat, v)
    onp.testing.assert_allclose(vmap(apply_matrix)(batched_x), onp.asarray(batched_x) @ onp.asarray(mat).T,
                                rtol=1e-4, atol=1e-4)


def test_hidden_layer_grad_and_vmap():
    W = random.normal(key, (128, 128)) * 0.1
    b = random.normal(random.PRNGKey(1), (128,))

    def hidden_layer(x):
        return jax.nn.relu(jnp.dot(W, x) + b)
    assert hidden_layer(onp.random.randn(128)).shape == (128,)
    assert vmap(hidden_layer)(onp.random.randn(32, 128)).shape == (32, 128)
    assert vmap(hidden_layer, in_axes=(0,))(onp.random.randn(32, 128)).shape == (32, 128)
    g = grad(lambda x: jnp.sum(hidden_layer(x)))(jnp.ones(128))
    assert g.shape == (128,)


def test_python_control_flow_and_higher_order():
    def absolute_value(x):
        if x >= 0:
            return x
        return -x
    assert float(grad(absolute_value)(-3.0)) == -1.0 and float(grad(absolute_value)(2.0)) == 1.0
    onp.testing.assert_allclose(grad(grad(grad(jax.nn.tanh)))(1.0), 0.62162673, rtol=1e-5)
    hessian_fn = jacfwd(jacrev(lambda x: jnp.sin(x) * x))
    onp.testing.assert_allclose(hessian_fn(1.0), 2 * onp.cos(1.0) - onp.sin(1.0), rtol=1e-5)


def test_xla_fusion_example():
    def unoptimized_fn(x, y, z):
        return jnp.sum(x + y * z)
    xla_optimized_fn = jit(unoptimized_fn)
    x, y, z = (random.normal(random.PRNGKey(i), (1000,)) for i in range(3))
    want = onp.sum(onp.asarray(x) + onp.asarray(y) * onp.asarray(z))
    onp.testing.assert_allclose(unoptimized_fn(x, y, z), want, rtol=1e-4)
    onp.testing.assert_allclose(xla_optimized_fn(x, y, z), want, rtol=1e-4)
    onp.testing.assert_allclose(jit(grad(xla_optimized_fn))(x, y, z), onp.ones(1000))


@pytest.mark.parametrize("shape", [(6, 4), (4, 6)])
def test_scipy_svd(shape):
    x = random.normal(key, shape)
    u, s, vt = svd(x)
    onp.testing.assert_allclose(s, onp.linalg.svd(onp.asarray(x), compute_uv=False), rtol=1e-4)
