"""portax.random against the values JAX 0.10.2 produced (tests/data/jax_prng_reference.json).

Keys, bits, uniform (whose affine map is a fused multiply-add, as XLA:CPU emits it), randint and every
integer or boolean sampler must be bit-identical, and so must binomial and multinomial (cases with rtol 0);
the other float samplers agree to float rounding (XLA uses its own log/erf_inv approximations), derivatives
through samplers to the tolerance their case gives. tests/data/make_jax_random_cases.py made the later cases.
"""
import json
import pathlib

import numpy as np
import pytest

import portax
import portax.numpy as jnp

_DATA = pathlib.Path(__file__).parent.parent / "data" / "jax_prng_reference.json"
_REF = json.loads(_DATA.read_text())
_UNSUPPORTED = ("bfloat16", "complex")
_EXACT = {f"jax.random.{n}" for n in ("PRNGKey", "key_data", "split", "fold_in", "bits", "uniform")}
_CASES = [c for c in _REF["cases"] if c.get("partitionable", True)
          and not any(u in c["call"] or u in c["dtype"] for u in _UNSUPPORTED)]


def _evaluate(call: str):
    return eval(call, {"jax": portax, "jnp": jnp, "np": np})


@pytest.fixture
def set_x64():
    previous = portax.config.enable_x64
    yield lambda on: portax.config.update("jax_enable_x64", on)
    portax.config.update("jax_enable_x64", previous)


@pytest.mark.parametrize("case", _CASES, ids=[c["call"][11:70] for c in _CASES])
def test_matches_jax(case, set_x64):
    set_x64(case["x64"])
    out = np.asarray(_evaluate(case["call"]))
    expected = np.asarray(case["value"], dtype=case["dtype"]).reshape(case["shape"])
    assert out.dtype == expected.dtype, (out.dtype, expected.dtype)
    assert out.shape == expected.shape
    exact = out.dtype.kind in "biu" or case["call"].split("(")[0] in _EXACT or case.get("rtol") == 0
    if exact:
        np.testing.assert_array_equal(out, expected)
    else:
        eps = float(np.finfo(out.dtype).eps)
        np.testing.assert_allclose(out, expected, rtol=case.get("rtol", 64 * eps), atol=64 * eps)


def test_fused_multiply_add_matches_the_spec():
    """uniform's affine map is one FMA, as XLA:CPU emits it; compare with the numpy model's exact fma."""
    import sys
    sys.path.insert(0, str(_DATA.parent))
    from prng_numpy_model import fma
    from portax.core.random import _fma
    rng = np.random.RandomState(0)
    a = rng.rand(4000).astype(np.float32)
    b = (rng.randn(4000) * 10.0 ** rng.randint(-6, 6, 4000)).astype(np.float32)
    c = (rng.randn(4000) * 10.0 ** rng.randint(-6, 6, 4000)).astype(np.float32)
    np.testing.assert_array_equal(np.asarray(_fma(jnp.asarray(a), jnp.asarray(b), jnp.asarray(c))), fma(a, b, c))


def test_top_level_reference_entries():
    k0 = portax.random.PRNGKey(0)
    np.testing.assert_array_equal(portax.random.split(k0, 3), _REF["split(PRNGKey(0), 3)"])
    np.testing.assert_array_equal(portax.random.fold_in(k0, 7), _REF["fold_in(PRNGKey(0), 7)"])
    np.testing.assert_array_equal(portax.random.bits(k0, (8,), jnp.uint32), _REF["bits(PRNGKey(0), (8,), uint32)"])
    np.testing.assert_array_equal(portax.random.uniform(k0, (8,)), np.float32(_REF["uniform(PRNGKey(0), (8,))"]))
    np.testing.assert_allclose(portax.random.normal(k0, (10,)), _REF["normal(PRNGKey(0), (10,))"], rtol=1e-6)


def test_key_implementation_arguments():
    """An implementation is named by its name or key dtype; unknown names and types are errors as in JAX."""
    random = portax.random
    assert random.key_dtype() == random.key_dtype("threefry2x32") == random.key(0).dtype
    assert str(random.key_dtype()) == "key<fry>"
    assert random.key_impl(random.key(3)) == "threefry2x32"
    np.testing.assert_array_equal(random.key_data(random.key(3, dtype=random.key_dtype())),
                                  random.PRNGKey(3, impl="threefry2x32"))
    data = np.array([7, 9], np.uint32)
    np.testing.assert_array_equal(random.key_data(random.wrap_key_data(data, impl="threefry2x32")), data)
    assert [str(random.key_dtype(n)) for n in ("threefry4x32", "philox2x32", "philox4x32", "rbg", "unsafe_rbg")] == \
        ["key<fry4>", "key<phx2>", "key<phx4>", "key<rbg>", "key<urbg>"]
    with pytest.raises(ValueError, match='unrecognized PRNG implementation "fry"'):
        random.key_dtype("fry")
    with pytest.raises(TypeError, match="unrecognized type"):
        random.key_dtype(np.uint32)
    with pytest.raises(ValueError, match="Cannot specify both `impl` and `dtype`"):
        random.wrap_key_data(data, impl="threefry2x32", dtype="threefry2x32")


def test_rng_bit_generator_threefry_multidimensional_is_not_implemented():
    """XLA lays out RNG_THREE_FRY's words per dimension for shapes of rank > 1; portax refuses rather than guess."""
    key = jnp.array([1, 2, 3, 4], jnp.uint32)
    with pytest.raises(NotImplementedError, match="RNG_THREE_FRY"):
        portax.lax.rng_bit_generator(key, (2, 3), algorithm=portax.lax.RandomAlgorithm.RNG_THREE_FRY)
    with pytest.raises(TypeError, match="unsupported dtype"):
        portax.lax.rng_bit_generator(key, (2,), jnp.int32)


@pytest.mark.parametrize("impl", ["threefry4x32", "philox2x32", "philox4x32", "rbg", "unsafe_rbg"])
def test_other_impls_under_jit_and_vmap(impl):
    """Keys of every implementation flow through jit and vmap with the values of eager calls."""
    random = portax.random
    keys = random.split(random.key(11, impl=impl), 3)
    eager = np.stack([np.asarray(random.bits(k, (4,))) for k in keys])
    np.testing.assert_array_equal(portax.jit(portax.vmap(lambda k: random.bits(k, (4,))))(keys), eager)
    folded = portax.vmap(lambda k: random.key_data(random.fold_in(k, 5)))(keys)
    np.testing.assert_array_equal(folded, np.stack([np.asarray(random.key_data(random.fold_in(k, 5))) for k in keys]))
