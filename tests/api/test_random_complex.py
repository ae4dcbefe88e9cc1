"""Complex dtypes in jax.random and nn.initializers, as JAX 0.10.2: ``normal`` draws the real and imaginary parts
with the two keys of ``split(key)``, each of variance 1/2; ``uniform`` and ``truncated_normal`` reject complex
dtypes; variance_scaling samples a complex normal truncated in modulus or a uniform disk; orthogonal samples
unitary matrices."""
import numpy as np
import pytest

import portax
import portax.numpy as jnp
from portax import random
from portax.nn import initializers

KEY = random.PRNGKey(3)


@pytest.mark.parametrize("dtype", [jnp.complex64, jnp.complex128])
def test_normal_complex_is_jax_construction(dtype, x64):
    z = np.asarray(random.normal(KEY, (4000,), dtype))
    assert z.dtype == dtype
    k_re, k_im = random.split(KEY)
    part = np.dtype(dtype).type(0).real.dtype
    for got, k in ((z.real, k_re), (z.imag, k_im)):
        np.testing.assert_array_equal(got, np.asarray(random.normal(k, (4000,), part)) / part.type(np.sqrt(2)))
        assert abs(np.var(got) - 0.5) < 0.05 and abs(np.mean(got)) < 0.05
    assert abs(np.corrcoef(z.real, z.imag)[0, 1]) < 0.05


def test_dtype_errors_as_jax():
    with pytest.raises(ValueError, match="`uniform` must be a float dtype"):
        random.uniform(KEY, (3,), jnp.complex64)
    with pytest.raises(ValueError, match="`truncated_normal` must be a float dtype"):
        random.truncated_normal(KEY, -1.0, 1.0, (3,), jnp.complex64)
    with pytest.raises(ValueError, match="`normal` must be a float or complex dtype"):
        random.normal(KEY, (3,), jnp.int32)


@pytest.mark.parametrize("distribution,radius", [("uniform", np.sqrt(2)), ("truncated_normal", 2 / .95311164380491208),
                                                 ("normal", None)])
def test_variance_scaling_complex(distribution, radius):
    shape, scale = (300, 200), 2.0
    w = np.asarray(initializers.variance_scaling(scale, "fan_in", distribution)(KEY, shape, jnp.complex64))
    assert w.dtype == np.complex64 and w.shape == shape
    variance = scale / shape[0]
    assert abs(np.mean(np.abs(w) ** 2) / variance - 1) < 0.03
    assert abs(np.mean(w)) < 0.01
    if radius is not None:
        assert np.max(np.abs(w)) <= radius * np.sqrt(variance) * (1 + 1e-6)
    # the phase is uniform: real and imaginary parts carry half the variance each
    assert abs(np.mean(w.real ** 2) / np.mean(w.imag ** 2) - 1) < 0.05


def test_glorot_and_orthogonal_complex():
    w = np.asarray(initializers.glorot_normal()(KEY, (40, 60), jnp.complex64))
    assert w.dtype == np.complex64
    if portax.default_backend() == "wgpu":  # no complex QR there: reported, not computed wrongly
        with pytest.raises(NotImplementedError, match="complex matrices"):
            initializers.orthogonal()(KEY, (6, 4), jnp.complex64)
        return
    q = np.asarray(initializers.orthogonal()(KEY, (6, 4), jnp.complex64))
    assert q.dtype == np.complex64 and np.abs(q.imag).max() > 0.1
    np.testing.assert_allclose(q.conj().T @ q, np.eye(4), atol=1e-5)
    u = np.asarray(random.orthogonal(KEY, 3, (2,), jnp.complex64))
    np.testing.assert_allclose(u @ np.conj(np.swapaxes(u, -1, -2)), np.broadcast_to(np.eye(3), (2, 3, 3)), atol=1e-5)
