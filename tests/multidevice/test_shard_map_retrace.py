"""shard_map traces its body again whenever an enclosing jit traces again, as JAX 0.10.2 does: after the jit's
``clear_cache()``, after ``jax.clear_caches()``, and in another jit; a Python value the body reads from its closure is
then read anew."""
import numpy as np
import pytest

import portax as jax
import portax.numpy as jnp
from portax.sharding import PartitionSpec as P


def _smap(mesh, box):
    return jax.shard_map(lambda x: x * box[0], mesh=mesh, in_specs=P("i"), out_specs=P("i"))


def _first(x) -> float:
    return float(np.asarray(x)[0])


@pytest.mark.parametrize("clear", ["clear_cache", "clear_caches"])
@pytest.mark.parametrize("built", ["outside", "inside"])
def test_jit_of_shard_map_sees_the_closure_after_clearing(clear, built):
    mesh = jax.make_mesh((2,), ("i",))
    box = [1.0]
    if built == "outside":
        g = jax.jit(_smap(mesh, box))
    else:
        g = jax.jit(lambda x: _smap(mesh, box)(x))
    x = jnp.ones(4)
    assert _first(g(x)) == 1.0
    box[0] = 5.0
    assert _first(g(x)) == 1.0  # the jit's cached program
    g.clear_cache() if clear == "clear_cache" else jax.clear_caches()
    assert _first(g(x)) == 5.0


def test_another_jit_traces_the_shard_map_body_again():
    mesh = jax.make_mesh((2,), ("i",))
    box = [1.0]
    s = _smap(mesh, box)
    assert _first(jax.jit(lambda x: s(x) + 0)(jnp.ones(4))) == 1.0
    box[0] = 5.0
    assert _first(jax.jit(lambda x: s(x) + 1)(jnp.ones(4))) == 6.0


def test_eager_shard_map_traces_again_after_clear_caches():
    mesh = jax.make_mesh((2,), ("i",))
    box = [1.0]
    s = _smap(mesh, box)
    assert _first(s(jnp.ones(4))) == 1.0
    box[0] = 5.0
    jax.clear_caches()
    assert _first(s(jnp.ones(4))) == 5.0
