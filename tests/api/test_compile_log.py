"""JAX's compilation logs: ``jax_log_compiles``, ``jax_explain_cache_misses``; ``jax_no_tracing`` and
``jax_no_execution``."""
import logging

import numpy as np
import pytest

import portax as jax
import portax.numpy as jnp


def _warnings(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]


def test_cache_miss_explanations(caplog):
    @jax.jit
    def f(x, y):
        return jnp.sin(x) + y

    with jax.explain_cache_misses(True), caplog.at_level(logging.WARNING):
        f(np.float32(0), np.arange(1, dtype=np.float32))
        f(np.float32(0), np.arange(1, dtype=np.float32))  # a hit: nothing logged
        f(np.float32(0), np.arange(2, dtype=np.float32))
        f(0.0, np.arange(2, dtype=np.float32))
        f(0.0, y=np.arange(2, dtype=np.float32))
        with jax.numpy_rank_promotion("warn"):
            f(0.0, np.arange(2, dtype=np.float32))
    first, shape, weak, tree, context = _warnings(caplog)
    assert first.startswith("TRACING CACHE MISS at ") and "never seen function:\n    f id=" in first
    assert "different input types:\n  * at y, now f32[2] and before f32[1]" in shape
    assert "at x, now f32[]{weak_type=True} and before f32[]{weak_type=False}" in weak
    assert "type_promotion.html#weak-types" in weak
    assert "Tracing context doesn't match" in context and "now warn and before allow" in context
    assert "different input pytree:" in tree


def test_redefined_function_is_pointed_out(caplog):
    with jax.explain_cache_misses(True), caplog.at_level(logging.WARNING):
        for _ in range(2):
            jax.jit(lambda x: 2 * x)(3)
    first, second = _warnings(caplog)
    assert "another function defined on the same line" not in first
    assert "another function defined on the same line" in second


def test_log_compiles(caplog):
    @jax.jit
    def add(x):
        return x * 2

    with jax.log_compiles(True), caplog.at_level(logging.WARNING):
        add(jnp.arange(8))
        add(jnp.arange(8))
        jax.clear_caches()
        add(jnp.arange(8))
    logs = _warnings(caplog)
    assert sum(m.startswith("Finished tracing add for jit in ") for m in logs) == 2
    assert sum(m.startswith("Compiling jit(add) with global shapes and types") for m in logs) == 2
    assert sum(m.startswith("Finished XLA compilation of jit(add) in ") for m in logs) == 2


def test_compiles_are_logged_at_debug_level_otherwise(caplog):
    f = jax.jit(lambda x: x * 3)
    with caplog.at_level(logging.DEBUG):
        f(2.0)
    assert not _warnings(caplog)
    assert any(r.getMessage().startswith("Finished tracing <lambda> for jit") for r in caplog.records)


def test_no_tracing_and_no_execution():
    f = jax.jit(lambda x: x + 1)
    f(jnp.arange(3))
    with jax.no_tracing():
        f(jnp.arange(3))  # cached: no tracing
        with pytest.raises(RuntimeError, match="no_tracing"):
            f(jnp.arange(4))
    with jax.no_execution():
        with pytest.raises(RuntimeError, match="no_execution"):
            f(jnp.arange(3))
        with pytest.raises(RuntimeError, match="no_execution"):
            jnp.sin(jnp.ones(3))
        assert str(jax.make_jaxpr(f)(1.0)).count("add") == 1  # tracing executes nothing
    np.testing.assert_array_equal(f(jnp.arange(3)), [1, 2, 3])
