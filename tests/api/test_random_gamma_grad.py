"""Gradients of the gamma-family samplers with respect to their shape parameters (implicit
reparameterization through ``lax.random_gamma_grad``), against JAX 0.10.2's values and against finite
differences of the inverse CDF (scipy)."""
import numpy as np
import pytest
import scipy.special as sp

import portax as jax
import portax.numpy as jnp
from portax import lax
from portax.core.backend import registry

KEY = jax.random.PRNGKey(0)
A = np.array([0.3, 1.0, 2.5, 7.0, 40.0], np.float32)
X = np.array([0.05, 0.8, 3.1, 5.0, 45.0], np.float32)
B = np.array([1.5, 0.7, 3.0, 2.0, 0.5], np.float32)
ALPHA = np.array([[0.5, 1.5, 3.0], [2.0, 0.8, 1.1]], np.float32)
# computed with JAX 0.10.2 (jax.lax.random_gamma_grad and jax.grad through jax.random samplers, key PRNGKey(0))
JAX_RANDOM_GAMMA_GRAD = [0.49471098, 1.0453179, 1.1879638, 0.86134094, 1.064475]
JAX_GRAD_GAMMA = [2.2258236, 0.99277365, 0.83078825, 1.2524103, 1.0647069]
JAX_GRAD_LOGGAMMA = [3.5371535, 1.3669204, 0.53806055, 0.11789937, 0.02364964]
JAX_GRAD_BETA = [[0.17103665, 0.01329611, 0.11002786, 0.02568534, 0.00128174],
                 [-0.02494105, -0.05962771, -0.15662582, -0.13698106, -0.07942507]]
JAX_GRAD_DIRICHLET = [[-0.5477074, -0.06543793, 0.15243338], [-0.12541889, 0.11060435, 0.28651792]]


def test_random_gamma_grad_matches_jax():
    np.testing.assert_allclose(lax.random_gamma_grad(A, X), JAX_RANDOM_GAMMA_GRAD, rtol=2e-5)
    edge = lax.random_gamma_grad(np.array([1.0, -1.0, 2.0], np.float32), np.array([0.0, 1.0, np.nan], np.float32))
    assert edge[0] == 0 and np.isnan(edge[1]) and np.isnan(edge[2])


def test_random_gamma_grad_matches_the_inverse_cdf(x64):
    a = np.array([0.1, 0.5, 1.0, 3.0, 10.0, 100.0, 0.7, 5.0, 1000.0, 5000.0, 0.02])
    x = np.array([0.01, 2.0, 0.3, 2.9, 15.0, 95.0, 1e-4, 0.5, 1040.0, 4900.0, 1e-20])
    u, h = sp.gammainc(a, x), 1e-6 * a
    finite_difference = (sp.gammaincinv(a + h, u) - sp.gammaincinv(a - h, u)) / (2 * h)
    got = np.asarray(lax.random_gamma_grad(a, x))
    assert got.dtype == np.float64
    np.testing.assert_allclose(got, finite_difference, rtol=1e-5)


def test_sampler_gradients_match_jax():
    np.testing.assert_allclose(jax.grad(lambda a: jax.random.gamma(KEY, a).sum())(A), JAX_GRAD_GAMMA, rtol=1e-5)
    np.testing.assert_allclose(jax.grad(lambda a: jax.random.loggamma(KEY, a).sum())(A), JAX_GRAD_LOGGAMMA, rtol=1e-5)
    grads = jax.grad(lambda a, b: (jax.random.beta(KEY, a, b) ** 2).sum(), (0, 1))(A, B)
    np.testing.assert_allclose(np.stack(grads), JAX_GRAD_BETA, rtol=1e-4, atol=1e-7)
    g = jax.grad(lambda al: (jax.random.dirichlet(KEY, al) * jnp.arange(3.0)).sum())(ALPHA)
    np.testing.assert_allclose(g, JAX_GRAD_DIRICHLET, rtol=1e-4, atol=1e-7)


def test_sampler_gradients_under_jit_and_vmap():
    f = jax.jit(jax.grad(lambda a: jax.random.gamma(KEY, a).sum()))
    np.testing.assert_allclose(f(A), JAX_GRAD_GAMMA, rtol=1e-5)
    keys = jax.random.split(KEY, 3)
    per_key = jax.vmap(lambda k: jax.grad(lambda a: jax.random.gamma(k, a).sum())(A))(keys)
    for i in range(3):
        np.testing.assert_allclose(per_key[i], jax.grad(lambda a: jax.random.gamma(keys[i], a).sum())(A), rtol=1e-5)


@pytest.mark.parametrize("backend", ["reference", "wgpu"])
def test_random_gamma_grad_on_other_backends(backend):
    if not registry.available(backend):
        pytest.skip(f"backend {backend} is not available here")
    f = jax.jit(lax.random_gamma_grad, backend=backend)
    np.testing.assert_allclose(f(A, X), JAX_RANDOM_GAMMA_GRAD, rtol=1e-4)
