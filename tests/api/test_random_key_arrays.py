"""Typed PRNG key arrays (``random.key``): shape-() keys of dtype ``key<fry>`` over uint32 data, as JAX's."""
import numpy as np
import pytest

import portax as jax
import portax.numpy as jnp
from portax import random


def _data(k):
    return np.asarray(random.key_data(k))


def test_key_is_typed_scalar_and_prngkey_is_raw():
    k = random.key(42)
    assert k.shape == () and k.ndim == 0 and str(k.dtype) == "key<fry>" and k.dtype.name == "key<fry>"
    assert jnp.issubdtype(k.dtype, jax.dtypes.prng_key) and jnp.issubdtype(k.dtype, jax.dtypes.extended)
    assert not jnp.issubdtype(jnp.uint32, jax.dtypes.prng_key)
    assert k.dtype == random.key_dtype("threefry2x32") and k.itemsize == 8
    raw = random.PRNGKey(42)
    assert raw.shape == (2,) and raw.dtype == np.uint32
    np.testing.assert_array_equal(_data(k), raw)
    assert random.key_impl(k) == "threefry2x32"


def test_split_and_fold_in_shapes_and_bits_match_raw_keys():
    k, raw = random.key(7), random.PRNGKey(7)
    ks = random.split(k, 3)
    assert ks.shape == (3,) and ks.dtype == k.dtype
    np.testing.assert_array_equal(_data(ks), random.split(raw, 3))
    assert random.split(k, (2, 3)).shape == (2, 3)
    np.testing.assert_array_equal(_data(random.fold_in(k, 5)), random.fold_in(raw, 5))
    k1, k2 = random.split(k)
    assert k1.shape == () and k2.shape == ()
    np.testing.assert_array_equal(_data(ks[1]), random.split(raw, 3)[1])
    for name, f in [("uniform", lambda q: random.uniform(q, (4,))), ("normal", lambda q: random.normal(q, (4,))),
                    ("randint", lambda q: random.randint(q, (4,), 0, 9)),
                    ("gamma", lambda q: random.gamma(q, 2., (3,))),
                    ("poisson", lambda q: random.poisson(q, 3., (3,))),
                    ("binomial", lambda q: random.binomial(q, 5, 0.3, (3,))),
                    ("permutation", lambda q: random.permutation(q, 6))]:
        np.testing.assert_array_equal(f(k), f(raw), err_msg=name)


def test_wrap_key_data_round_trip_and_invalid_data():
    data = np.array([[1, 2], [3, 4], [5, 6]], np.uint32)
    ks = random.wrap_key_data(data)
    assert ks.shape == (3,)
    np.testing.assert_array_equal(_data(ks), data)
    assert bool(ks[0] == random.wrap_key_data(data[0]))
    np.testing.assert_array_equal(np.asarray(ks == ks), [True, True, True])
    with pytest.raises(TypeError, match="invalid PRNG key data"):
        random.wrap_key_data(np.zeros(3, np.uint32))
    with pytest.raises(TypeError, match="invalid PRNG key data"):
        random.wrap_key_data(np.zeros(2, np.float32))
    with pytest.raises(TypeError, match="invalid PRNG key data"):
        random.uniform(np.zeros(1, np.float32))
    with pytest.raises(TypeError, match="cannot be converted to a NumPy array"):
        np.asarray(random.key(0))


def test_batched_keys_need_vmap():
    ks = random.split(random.key(0), 3)
    with pytest.raises(ValueError, match=r"uniform accepts a single key, but was given a key array of shape \(3,\)"):
        random.uniform(ks)
    with pytest.raises(ValueError, match="split accepts a single key"):
        random.split(random.split(random.PRNGKey(0), 3))
    with pytest.raises(TypeError, match="key accepts a scalar seed"):
        random.key(np.arange(2))
    with pytest.raises(TypeError, match="accepts a scalar seed, but was given a PRNG key"):
        random.key(random.key(0))


def test_keys_through_transforms():
    k = random.key(3)
    ks = random.split(k, 4)
    expected = np.stack([np.asarray(random.uniform(ks[i], (2,))) for i in range(4)])
    np.testing.assert_array_equal(jax.vmap(lambda q: random.uniform(q, (2,)))(ks), expected)
    out = jax.jit(lambda q: random.split(q, 2))(k)
    assert out.shape == (2,) and out.dtype == k.dtype
    np.testing.assert_array_equal(_data(out), _data(random.split(k, 2)))
    made = jax.vmap(random.key)(jnp.arange(3, dtype=jnp.uint32))
    assert made.shape == (3,)
    np.testing.assert_array_equal(_data(made[2]), random.PRNGKey(2))

    def step(carry, q):
        return carry + random.uniform(q), random.fold_in(q, 1)

    total, folded = jax.lax.scan(step, 0.0, ks)
    np.testing.assert_allclose(total, sum(float(random.uniform(ks[i])) for i in range(4)), rtol=1e-6)
    assert folded.shape == (4,)
    with pytest.raises(TypeError, match="invalid PRNG key data"):  # mapping the hidden key axis is caught
        jax.vmap(lambda q: random.uniform(q), in_axes=-1)(random.split(k, 3))
    picked = jax.lax.cond(True, lambda a, b: a, lambda a, b: b, ks[0], ks[1])
    np.testing.assert_array_equal(_data(picked), _data(ks[0]))


def test_key_array_indexing_and_reshape():
    ks = random.split(random.key(1), 6)
    data = _data(ks)
    np.testing.assert_array_equal(_data(ks[jnp.array([4, 0])]), data[[4, 0]])
    np.testing.assert_array_equal(_data(ks[np.arange(6) % 2 == 0]), data[::2])
    assert ks.reshape(2, 3)[:, None].shape == (2, 1, 3)
    np.testing.assert_array_equal(_data(ks.reshape(2, 3)[1, 2]), data[5])
    np.testing.assert_array_equal(_data(ks[1:4]), data[1:4])
    np.testing.assert_array_equal(_data(ks[..., 2]), data[2])
    assert ks.reshape(3, -1).T.shape == (2, 3)
    assert len(ks) == 6 and len(list(ks)) == 6
    with pytest.raises(IndexError, match="Too many indices"):
        ks[0, 0]


def test_legacy_prng_key_modes():
    raw = random.PRNGKey(0)
    with jax.legacy_prng_key("error"):
        random.uniform(random.key(0))  # typed keys are fine; samplers' internal splits too
        random.gamma(random.key(0), 2.0)
        with pytest.raises(ValueError, match="Legacy uint32 key array passed as key"):
            random.uniform(raw)
        with pytest.raises(TypeError, match="invalid PRNG key data"):
            random.uniform(jnp.zeros(1, jnp.float32))
    with jax.legacy_prng_key("warn"), pytest.warns(UserWarning, match="Legacy uint32 key array"):
        random.uniform(raw)


def test_default_prng_impl_option():
    assert jax.config.jax_default_prng_impl == "threefry2x32"
    with jax.default_prng_impl("rbg"):
        assert random.key(0).dtype == random.key_dtype("rbg") and str(random.key(0).dtype) == "key<rbg>"
        assert random.PRNGKey(0).shape == (4,)
        assert random.key_impl(random.split(random.PRNGKey(0))[0]) == "rbg"  # raw keys take the default impl
    with pytest.raises(ValueError):
        jax.default_prng_impl("nope")


def test_int_sample_shape_copies_and_clone():
    k = random.key(0)
    assert random.normal(k, 5).shape == (5,) and random.uniform(random.PRNGKey(0), 3).shape == (3,)
    import copy
    ks = random.split(k, 3)
    for c in (ks.copy(), copy.copy(ks), copy.deepcopy(ks), random.clone(ks)):
        assert c.dtype == ks.dtype
        np.testing.assert_array_equal(_data(c), _data(ks))
    with pytest.raises(TypeError, match="PRNG key seed must be an integer"):
        random.key(np.pi)


@pytest.mark.parametrize("impl", ["threefry2x32", "rbg"])
def test_jnp_and_lax_shape_functions_act_on_keys_as_on_their_data(impl):
    """jnp/lax shape and indexing functions take key arrays as arrays of the key dtype: the result is the key
    array over the same function of the key data (trailing key axis kept whole), eagerly and under jit."""
    keys = random.split(random.key(3, impl=impl), 6)
    data = _data(keys)
    k23 = keys.reshape(2, 3)
    cases = [
        (lambda k: jnp.reshape(k, (3, 2)), lambda d: d.reshape(3, 2, -1)),
        (lambda k: jnp.concatenate([k, k[::-1]]), lambda d: np.concatenate([d, d[::-1]])),
        (lambda k: jnp.stack([k, k], axis=1), lambda d: np.stack([d, d], axis=1)),
        (lambda k: jnp.tile(k[0], 3), lambda d: np.tile(d[0], (3, 1))),
        (lambda k: jnp.broadcast_to(k[1], (2, 4)), lambda d: np.broadcast_to(d[1], (2, 4, d.shape[-1]))),
        (lambda k: jnp.append(k, k[0]), lambda d: np.concatenate([d, d[:1]])),
        (lambda k: jnp.expand_dims(k, 0), lambda d: d[None]),
        (lambda k: jnp.where(np.arange(6) % 2 == 0, k, k[::-1]),
         lambda d: np.where((np.arange(6) % 2 == 0)[:, None], d, d[::-1])),
        (lambda k: jax.lax.select(np.arange(6) > 2, k, k[::-1]), lambda d: np.where((np.arange(6) > 2)[:, None], d, d[::-1])),
        (lambda k: jax.lax.dynamic_slice_in_dim(k, np.int16(2), 3), lambda d: d[2:5]),
        (lambda k: jax.lax.dynamic_update_slice_in_dim(k, k[:2], np.int16(3), axis=0),
         lambda d: np.concatenate([d[:3], d[:2], d[5:]])),
        (lambda k: jax.lax.slice_in_dim(k, 1, 4), lambda d: d[1:4]),
        (lambda k: jnp.ravel(k.reshape(2, 3).T), lambda d: d.reshape(2, 3, -1).transpose(1, 0, 2).reshape(6, -1)),
        (lambda k: k.at[np.array([0, 5])].get(), lambda d: d[[0, 5]]),
        (lambda k: k.at[1:3].set(k[5]), lambda d: np.concatenate([d[:1], d[5:6], d[5:6], d[3:]])),
        (lambda k: jnp.full_like(k, 100), lambda d: np.full_like(d, 100)),
        (lambda k: jnp.zeros(k.shape, k.dtype), lambda d: np.zeros_like(d)),
    ]
    for key_fn, data_fn in cases:
        for fn in (key_fn, jax.jit(key_fn)):
            out = fn(keys)
            assert out.dtype == keys.dtype
            np.testing.assert_array_equal(_data(out), data_fn(data))
    assert jnp.broadcast_arrays(keys[0], k23)[0].shape == (2, 3)
    assert jnp.array(keys[0]).dtype == keys.dtype and jnp.asarray(keys, dtype=keys.dtype) is keys
    np.testing.assert_array_equal(_data(keys.at[100].get(mode="fill")), np.full(data.shape[-1], 2 ** 32 - 1))


def test_keys_do_not_mix_with_other_arrays():
    keys = random.split(random.key(0), 3)
    with pytest.raises(TypeError, match="concatenate does not accept key arrays together with arrays"):
        jnp.concatenate([keys, jnp.zeros(3, jnp.uint32)])
    with pytest.raises(TypeError, match="where does not accept key arrays together with arrays"):
        jnp.where(True, keys, 0)
    with pytest.raises(TypeError, match="values must be keys"):
        keys.at[0].set(jnp.zeros(2, jnp.uint32))
    with pytest.raises(TypeError, match="different PRNG implementations"):
        jnp.concatenate([keys, random.split(random.key(0, impl="unsafe_rbg"), 3)])


def test_arithmetic_and_conversion_of_keys_raise_jax_errors():
    key = random.key(123)
    for fn, msg in [(lambda: jnp.add(key, 1), "add does not accept dtypes key<fry>, int32"),
                    (lambda: key + 1, "add does not accept dtypes key<fry>, int32"),
                    (lambda: key + key, r"add does not accept dtype key<fry>\."),
                    (lambda: jnp.negative(key), "neg does not accept dtype key<fry>"),
                    (lambda: -key, "neg does not accept dtype key<fry>"),
                    (lambda: jnp.ones(()) * key, "mul does not accept dtypes float32, key<fry>"),
                    (lambda: 1 - key, "sub does not accept dtypes int32, key<fry>"),
                    (lambda: key / 2, "div does not accept dtypes key<fry>, int32")]:
        with pytest.raises(TypeError, match=msg):
            fn()
    with pytest.raises(ValueError, match="Cannot convert_element_type from key<fry> to int32"):
        jax.lax.convert_element_type(key, int)
    with pytest.raises(ValueError, match="Cannot convert_element_type from int32 to key<fry>"):
        jax.lax.convert_element_type(np.int32(0), key.dtype)


def test_key_array_buffer_methods_act_on_the_key_data():
    keys = random.split(random.key(0), 4)
    assert keys.copy_to_host_async() is None and not keys.is_deleted()
    keys.delete()
    assert keys.is_deleted() and keys._base_array.is_deleted()


def test_result_type_of_keys_is_their_key_dtype():
    k = random.key(1)
    assert jnp.result_type(k) == k.dtype and jnp.result_type(k, k.dtype) == k.dtype
    with pytest.raises(TypeError, match="Cannot promote key dtypes"):
        jnp.result_type(k, jnp.uint32)


def test_enable_custom_prng_returns_typed_keys_from_raw_key_apis():
    assert not jax.config.jax_enable_custom_prng and random.PRNGKey(0).dtype == np.uint32
    with jax.enable_custom_prng(True):
        k = random.PRNGKey(0)
        assert k.dtype == random.key_dtype() and random.split(_data(k)).dtype == random.key_dtype()
        np.testing.assert_array_equal(_data(k), [0, 0])


def test_key_arrays_are_jax_arrays_and_leaves_of_users_trees():
    ks = random.split(random.key(0), 4)
    assert isinstance(ks, jax.Array) and isinstance(random.key(1), jax.Array)
    assert jax.tree.leaves({"k": ks})[0] is ks and jax.tree_util.tree_leaves(ks) == [ks]
    assert jax.tree_util.treedef_is_leaf(jax.tree.structure(ks))
    like = jax.tree.map(lambda x: jnp.ones(x.shape), (ks,))  # JAX's check_shape helper
    assert type(like[0]) is jax.Array and like[0].shape == (4,) and like[0].dtype == jnp.float32
    assert jax.tree_util.tree_flatten_with_path([ks])[0] == [((jax.tree_util.SequenceKey(0),), ks)]
    assert jax.tree.broadcast(7, {"a": ks}) == {"a": 7}
    assert not jax.tree_util.is_tree_node(type(ks))
    with pytest.raises(ValueError):
        jax.tree_util.flatten_one_level(ks)
    out = jax.jit(lambda t: jax.tree.map(lambda k: k[1:], t))({"k": ks})  # transforms still see the key data
    np.testing.assert_array_equal(_data(out["k"]), _data(ks)[1:])


def test_jit_traces_again_for_another_default_impl_or_seed_offset():
    from portax.core import config as cfg
    f = jax.jit(lambda: random.key_data(random.key(17)))
    assert f().shape == (2,)
    with jax.default_prng_impl("rbg"):
        assert f().shape == (4,)
    seed_20 = _data(random.key(20))
    with cfg.random_seed_offset(3):
        np.testing.assert_array_equal(f(), seed_20)
        np.testing.assert_array_equal(_data(random.key(17)), seed_20)
        np.testing.assert_array_equal(random.PRNGKey(np.uint32(17)), seed_20)
    np.testing.assert_array_equal(f(), random.PRNGKey(17))


def test_explicit_x64_dtypes_option_of_random_samplers():
    from portax.core import config as cfg
    k = random.key(0)
    with cfg.explicit_x64_dtypes("error"):
        with pytest.raises(ValueError, match="Explicitly requested dtype uint64"):
            random.bits(k, (3,), jnp.uint64)
        assert random.bits(k, (3,), jnp.uint16).dtype == jnp.uint16
        assert random.bits(k, (3,)).dtype == jnp.uint32  # the default dtype is not an explicit request
    with pytest.warns(UserWarning, match="Explicitly requested dtype float64 .*truncated to dtype float32"):
        assert random.uniform(k, (2,), jnp.float64).dtype == jnp.float32
    with cfg.explicit_x64_dtypes(cfg.ExplicitX64Mode.ALLOW), pytest.raises(NotImplementedError):
        random.randint(k, (2,), 0, 5, jnp.int64)


def test_prng_options_portax_does_not_implement_refuse_their_other_values():
    with jax.debug_key_reuse(False), jax.threefry_partitionable(True):
        assert random.key(0).shape == ()
    with pytest.raises(NotImplementedError, match="key reuse"):
        jax.debug_key_reuse(True)
    with pytest.raises(NotImplementedError, match="partitionable"):
        jax.config.update("jax_threefry_partitionable", False)
    assert jax.config.jax_threefry_partitionable is True


def test_device_get_of_arrays_and_keys():
    ks = random.split(random.key(0), 3)
    out = jax.device_get({"x": jnp.arange(3), "k": ks, "s": 1})
    assert type(out["x"]) is np.ndarray and out["s"] == 1
    np.testing.assert_array_equal(out["x"], [0, 1, 2])
    assert out["k"].dtype == ks.dtype and type(random.key_data(out["k"])) is np.ndarray
    np.testing.assert_array_equal(_data(out["k"]), _data(ks))


def test_custom_rules_see_float0_tangents_of_keys():
    seen = {}

    @jax.custom_jvp
    def f(x, key):
        return x * random.normal(key, ())

    @f.defjvp
    def f_jvp(primals, tangents):
        (x, key), (x_dot, key_dot) = primals, tangents
        seen["jvp"] = key_dot
        return f(x, key), x_dot * random.normal(key, ())

    k = random.key(5)
    np.testing.assert_allclose(jax.grad(f)(1.0, k), random.normal(k, ()))
    assert seen["jvp"].dtype == jax.dtypes.float0 and seen["jvp"].shape == ()

    @jax.custom_vjp
    def g(_, state):
        return state

    def g_bwd(_, state_bar):
        seen["vjp"] = state_bar[1]
        return state_bar[0], state_bar

    g.defvjp(lambda _, state: (state, None), g_bwd)
    assert jax.grad(lambda t: g(t, (8.0, random.split(k, 2)))[0])(3.0) == 1.0
    assert seen["vjp"].dtype == jax.dtypes.float0 and seen["vjp"].shape == (2,)


def test_internal_key_primitives_wrap_unwrap_and_bits():
    from portax.core import prng_keys
    from portax.core.random import default_prng_impl
    impl = default_prng_impl()
    assert impl is prng_keys.prngs["threefry2x32"]
    keys = jax.vmap(lambda d: prng_keys.random_wrap(d, impl=impl))(jnp.arange(6, dtype=jnp.uint32).reshape(3, 2))
    assert keys.shape == (3,) and keys.dtype == random.key_dtype()
    assert prng_keys.random_unwrap(keys).shape == (3, 2)
    with pytest.raises(TypeError, match="random_unwrap takes key array operand, got uint32"):
        jax.jit(prng_keys.random_unwrap)(jnp.zeros((3, 2), jnp.uint32))
    bits = prng_keys.random_bits(keys, 16, (5,))
    assert bits.shape == (3, 5) and bits.dtype == jnp.uint16
    np.testing.assert_array_equal(bits[1], random.bits(keys[1], (5,), jnp.uint16))


def test_key_arrays_forward_single_device_array_attributes():
    keys = random.split(random.key(0), 10)
    data = random.key_data(keys)
    assert data.is_fully_addressable and keys.is_fully_addressable and keys.is_fully_replicated
    assert data.on_device_size_in_bytes() == keys.on_device_size_in_bytes() == 80
    assert data.addressable_data(0) is data and data.global_shards[0].data is data
    assert keys.addressable_data(0).dtype == keys.dtype and keys.addressable_data(0).shape == (10,)
    (shard,) = keys.addressable_shards
    assert shard.data.dtype == keys.dtype and shard.index == (slice(None),) and len(keys.global_shards) == 1


def test_shape_dtype_structs_of_keys_through_eval_shape():
    k = random.key(1701)
    struct = jax.ShapeDtypeStruct.like(k)
    assert struct.shape == () and struct.dtype == k.dtype
    assert jax.eval_shape(lambda x: x, struct) == struct
    assert jax.eval_shape(lambda x: random.split(x, 3), struct) == jax.ShapeDtypeStruct((3,), k.dtype)
    assert jax.eval_shape(lambda x: random.uniform(x, (2,)), struct) == jax.ShapeDtypeStruct((2,), jnp.float32)
    assert jax.eval_shape(random.key, 28) == jax.ShapeDtypeStruct((), random.key_dtype())
    assert jax.ShapeDtypeStruct.like(np.ones(3)) == jax.ShapeDtypeStruct((3,), jnp.float32)


def test_issubdtype_of_key_dtypes():
    k, r = random.key(0), random.key(0, impl="rbg")
    assert jnp.issubdtype(k.dtype, k.dtype) and not jnp.issubdtype(k.dtype, r.dtype)
    assert not jnp.issubdtype(jnp.float32, k.dtype) and not jnp.issubdtype(jax.dtypes.prng_key, k.dtype)
    assert jnp.issubdtype(k.dtype, np.generic) and not jnp.issubdtype(k.dtype, np.integer)
