"""random.binomial and random.multinomial: the values jax.random draws (computed with JAX 0.10.2) for both
of binomial's algorithms (inversion for n q <= 10, BTRS above), p above and below 1/2, invalid and infinite
counts, broadcasting; multinomial conserves the count; both work under jit and vmap."""
import numpy as np
import pytest

import portax as jax
import portax.numpy as jnp

# (key seed, n, p, shape) -> the values of jax.random.binomial in JAX 0.10.2
BINOMIAL_CASES = [
    (42, [5.0, 20.0, 100.0, 1000.0, 3.0, 0.0, 7.5], [0.3, 0.6, 0.5, 0.02, 0.9, 0.5, 0.4], None,
     [1.0, 11.0, 55.0, 17.0, 3.0, 0.0, 2.0]),
    (1, 50.0, 0.25, (8,), [12.0, 13.0, 10.0, 9.0, 17.0, 13.0, 8.0, 7.0]),
    (7, [[1000.0], [40.0]], [0.7, 0.05, 0.5], None, [[692.0, 57.0, 538.0], [23.0, 5.0, 20.0]]),
    (42, [-1.0, np.nan, np.inf], 0.3, None, [np.nan, np.nan, np.inf]),
]


@pytest.mark.parametrize("seed,n,p,shape,expected", BINOMIAL_CASES)
def test_binomial_matches_jax(seed, n, p, shape, expected):
    out = jax.random.binomial(jax.random.PRNGKey(seed), jnp.asarray(n), jnp.asarray(p), shape=shape)
    assert out.dtype == jnp.float32
    np.testing.assert_array_equal(np.asarray(out), np.asarray(expected, np.float32))


def test_multinomial_matches_jax_and_conserves_counts():
    out = jax.random.multinomial(jax.random.PRNGKey(3), jnp.array([10.0, 100.0]),
                                 jnp.array([[0.2, 0.3, 0.5], [0.6, 0.1, 0.3]]))
    np.testing.assert_array_equal(np.asarray(out), [[1, 3, 6], [60, 10, 30]])
    out = jax.random.multinomial(jax.random.PRNGKey(9), 30.0, jnp.array([0.1, 0.0, 0.4, 0.5]), shape=(2, 4))
    np.testing.assert_array_equal(np.asarray(out), [[2, 0, 16, 12], [2, 0, 11, 17]])
    big = jax.random.multinomial(jax.random.PRNGKey(0), 500.0, jnp.full((64, 5), 0.2))
    np.testing.assert_array_equal(np.asarray(big).sum(-1), np.full(64, 500.0))


def test_binomial_distribution_jit_and_vmap():
    key = jax.random.PRNGKey(5)
    draws = np.asarray(jax.jit(lambda k: jax.random.binomial(k, 200.0, 0.35, shape=(20000,)))(key))
    assert abs(draws.mean() - 70.0) < 0.1 and abs(draws.var() - 45.5) < 1.5
    assert draws.min() >= 0 and draws.max() <= 200 and np.all(draws == np.floor(draws))
    keys = jax.random.split(key, 3)
    batched = jax.vmap(lambda k: jax.random.binomial(k, 12.0, 0.5, shape=(4,)))(keys)
    for i in range(3):
        np.testing.assert_array_equal(batched[i], jax.random.binomial(keys[i], 12.0, 0.5, shape=(4,)))


def test_binomial_rejects_integer_dtypes():
    with pytest.raises(ValueError, match="dtype argument to `binomial` must be a float dtype"):
        jax.random.binomial(jax.random.PRNGKey(0), 3.0, 0.5, dtype=jnp.int32)
