"""jit's fast path (``core.call_key``): a call whose signature was seen before neither traces nor builds a
PyTreeDef, for Arrays, NumPy arrays and Python scalars in tuples, lists and dicts, static arguments and
keywords; what the general path checks and converts still happens, and different structures never share a
cached program."""
import collections

import numpy as np
import pytest

import portax as jax
import portax.numpy as jnp
from portax.core import api
from portax.core.call_key import arrays_key
from portax.core.pytree import tree_flatten


@pytest.fixture
def general_path_calls(monkeypatch):
    """How often jit's general path ran since the fixture was set up (its ``tree_flatten`` and ``_entry``)."""
    counts = collections.Counter()
    flatten, entry = api.tree_flatten, api.JitFunction._entry

    def counted_flatten(*a, **k):
        counts["tree_flatten"] += 1
        return flatten(*a, **k)

    def counted_entry(self, *a, **k):
        counts["entry"] += 1
        return entry(self, *a, **k)

    monkeypatch.setattr(api, "tree_flatten", counted_flatten)
    monkeypatch.setattr(api.JitFunction, "_entry", counted_entry)
    return counts


def test_cached_call_does_not_retrace_or_rebuild_its_key(general_path_calls):
    traces = []

    def step(params, batch, lr, n):
        traces.append(1)
        w, b = params["w"], params["b"]
        return {"w": w - lr * n * batch[0].sum(0), "b": b - lr}, [batch[1] * 2.0]

    f = jax.jit(step, static_argnums=3)
    params = {"w": jnp.ones(3), "b": jnp.zeros(())}
    batch = (jnp.ones((4, 3)), np.arange(2, dtype=np.float32))
    f(params, batch, 0.5, 2)
    first = dict(general_path_calls)
    for lr in (0.5, 0.25):
        out, (y,) = f(params, batch, lr, 2)
        np.testing.assert_allclose(out["w"], 1 - lr * 2 * 4.0)
        np.testing.assert_allclose(out["b"], -lr)
        np.testing.assert_allclose(y, [0.0, 2.0])
    assert len(traces) == 1 and dict(general_path_calls) == first
    f(params, batch, 0.5, 3)  # another static value: traced again
    assert len(traces) == 2


def test_structures_never_share_a_cached_program():
    def weighted(*args):
        leaves, tree = tree_flatten(args)
        return sum(leaf * (i + 1) for i, leaf in enumerate(leaves)) + len(str(tree))

    f = jax.jit(weighted)
    x, y, z = (jnp.full(2, v, jnp.float32) for v in (1.0, 10.0, 100.0))
    structures = [(x, y, z), ((x, y), z), (x, (y, z)), ([x, y], z), ((x,), y, z), ([x], [y], [z]),
                  ({"a": x, "b": y}, z), ({"b": x, "a": y}, z), ({"a": x}, {"b": y}, z), (x, None, y, z),
                  (x, y, None, z), ((x, None), y, z)]
    for _ in range(2):  # the second round runs on the fast path
        for args in structures:
            np.testing.assert_allclose(f(*args), weighted(*jax.tree_util.tree_map(np.asarray, args)),
                                       err_msg=str(args))
    assert len(f._fast) == len(structures) - 1  # the two dicts {a, b} differ in their values only


def test_key_leaves_come_in_tree_flatten_order():
    x, y = jnp.ones(2), jnp.zeros(3)
    args = ({"z": x, "a": [y, None, (x, 2.0)]}, np.ones(1), [{"b": 3, "a": y}], True)
    key, leaves, convert = arrays_key(args, ())
    expected = tree_flatten(args)[0]
    assert convert and len(leaves) == len(expected) and all(a is b for a, b in zip(leaves, expected))
    assert arrays_key((x, (y,)), ())[2] is False
    Point = collections.namedtuple("Point", "a b")
    for unsupported in (collections.OrderedDict(a=x), Point(x, y), np.float32(1), "text", {1: x, "a": y}, object()):
        assert arrays_key((x, unsupported), ()) is None


def test_key_array_arguments_take_the_fast_path(general_path_calls):
    f = jax.jit(lambda k, x: (jax.random.split(k), x + 1))
    x = jnp.ones(2)
    keys = {impl: jax.random.key(7, impl=impl) for impl in ("threefry2x32", "philox4x32", "rbg")}
    for impl, k in keys.items():
        f(k, x)
    raw = jax.random.key_data(keys["threefry2x32"])  # same data shape and dtype as a threefry key's
    f(raw, x)
    first = dict(general_path_calls)
    for impl, k in keys.items():  # on the fast path, each implementation its own program
        ks, _ = f(k, x)
        assert ks.dtype == k.dtype and ks.shape == (2,)
        np.testing.assert_array_equal(jax.random.key_data(ks), jax.random.key_data(jax.random.split(k)))
    assert f(raw, x)[0].dtype == jnp.uint32 and dict(general_path_calls) == first
    key, leaves, convert = arrays_key(({"k": keys["rbg"]}, x), ())
    assert [id(v) for v in leaves] == [id(v) for v in tree_flatten(({"k": keys["rbg"]}, x))[0]] and not convert


def test_general_path_hook_counts_calls_missing_the_fast_path(monkeypatch):
    calls = []
    monkeypatch.setattr(api, "on_jit_general_path", lambda: calls.append(1))
    f = jax.jit(lambda k: jax.random.normal(k))
    k = jax.random.key(0)
    f(k), f(k)
    assert len(calls) == 1  # the second call hit the fast path
    f(jax.random.key(0, impl="rbg"))  # another signature
    assert len(calls) == 2


def test_scalar_values_and_static_arguments_are_not_baked_in():
    f = jax.jit(lambda a, s: a / s)
    x = jnp.ones(2)
    for s, expected in ((2.0, 0.5), (4.0, 0.25), (0.0, np.inf), (-0.0, -np.inf)):
        np.testing.assert_array_equal(f(x, s), [expected] * 2)
    assert f(x, 2).dtype == jnp.float32 and f(jnp.ones(2, jnp.int32), 2).dtype == jnp.float32
    g = jax.jit(lambda a, s: a * s)
    i = jnp.ones(2, jnp.int32)
    assert g(i, 3).dtype == jnp.int32 and g(i, 3.0).dtype == jnp.float32 and g(i, True).dtype == jnp.int32
    with pytest.raises(OverflowError, match="out of bounds for int32"):
        g(i, 2 ** 40)  # the cached signature (a Python int) converts the value as the general path does
    h = jax.jit(lambda a, n: a * n, static_argnums=-1)
    assert [h(i, v).dtype for v in (1, True, 1.0)] == [jnp.int32, jnp.int32, jnp.float32]
    np.testing.assert_array_equal(h(i, 5), [5, 5])
    assert h._cache_size() == 4


def test_keyword_arguments_on_the_fast_path():
    f = jax.jit(lambda a, b, c=None: a - b if c is None else a - b * c)
    x, y = jnp.full(2, 5.0), jnp.ones(2)
    for _ in range(2):
        np.testing.assert_array_equal(f(a=x, b=y), [4.0, 4.0])
        np.testing.assert_array_equal(f(b=x, a=y), [-4.0, -4.0])
        np.testing.assert_array_equal(f(x, b=y), [4.0, 4.0])
        np.testing.assert_array_equal(f(x, y, c=3.0), [2.0, 2.0])
        np.testing.assert_array_equal(f(x, y), [4.0, 4.0])


def test_cached_calls_return_the_structure_of_the_first(general_path_calls):
    point = collections.namedtuple("point", "x y")
    outputs = {
        "leaf": lambda x: x + 1,
        "empty tuple": lambda x: (),
        "tuple": lambda x: (x, x * 2),
        "nested": lambda x: (x, (x * 2,)),
        "namedtuple": lambda x: point(x, x * 2),
        "none": lambda x: (x, None),
        "list": lambda x: [x, x * 2],
        "dict": lambda x: {"b": x * 2, "a": x},
    }
    x = jnp.arange(3.0)
    for name, fn in outputs.items():
        f = jax.jit(fn)
        first = f(x)
        before = dict(general_path_calls)
        again = f(x)
        assert dict(general_path_calls) == before, name  # (a cached call)
        assert type(again) is type(first) and tree_flatten(again)[1] == tree_flatten(first)[1], name
        for a, b in zip(tree_flatten(again)[0], tree_flatten(first)[0]):
            np.testing.assert_array_equal(a, b)


def test_transfer_guard_holds_on_cached_calls():
    """A cached call moves and converts its arguments under the transfer guard as the first call does."""
    x = jax.device_put(np.ones(4, np.float32), jax.devices("cpu_llvm")[0])
    f = jax.jit(lambda a: a + 1, backend="reference")
    np.testing.assert_array_equal(f(x), [2.0] * 4)
    g = jax.jit(lambda a: a + 1)
    g(np.ones(4, np.float32))
    with jax.transfer_guard("disallow"):
        with pytest.raises(Exception, match="Disallowed device-to-device transfer"):
            f(x)
        with pytest.raises(Exception, match="Disallowed host-to-device transfer"):
            g(np.ones(4, np.float32))
    assert f(x).device == jax.devices("reference")[0]


def test_static_values_are_keyed_by_type_and_value():
    """Static arguments on the fast path (positional or named): 1, 1.0 and True are three signatures, as in JAX, and
    another value, another keyword order or a dynamic keyword next to them never takes a stale program."""
    f = jax.jit(lambda a, n: a * n, static_argnums=1)
    g = jax.jit(lambda a, n, b=None: a * n if b is None else a * n + b, static_argnames="n")
    i = jnp.arange(3, dtype=jnp.int32)
    for _ in range(2):  # the second round runs on the fast path
        for h in (f, lambda a, n: g(a, n=n)):
            assert [h(i, v).dtype for v in (1, True, 1.0)] == [jnp.int32, jnp.int32, jnp.float32]
            np.testing.assert_array_equal(h(i, 2), [0, 2, 4])
            np.testing.assert_array_equal(h(i, 3), [0, 3, 6])
        np.testing.assert_array_equal(g(i, n=2, b=i), [0, 3, 6])
        np.testing.assert_array_equal(g(i, b=i, n=2), [0, 3, 6])
        np.testing.assert_array_equal(g(i, b=i, n=3), [0, 4, 8])
        np.testing.assert_array_equal(g(b=i, n=2, a=i), [0, 3, 6])


def test_keyword_and_positional_structures_never_share_a_key():
    """``f(k=x)`` and ``f([], {"k": x})`` (with or without a static keyword) flatten to the same leaves: their keys
    differ by how keywords are keyed."""
    def count(*args, s=0, **kwargs):
        return len(args) * 10.0 + len(kwargs) + s * 100 + sum(jax.tree_util.tree_leaves((args, kwargs)))

    f = jax.jit(count, static_argnames="s")
    x = jnp.ones(())
    for _ in range(2):
        for s in (0, 1):
            assert float(f(k=x, s=s)) == 2.0 + s * 100
            assert float(f([], {"k": x}, s=s)) == 21.0 + s * 100
            assert float(f({"k": x}, s=s)) == 11.0 + s * 100
        assert float(f(k=x)) == 2.0 and float(f([], {"k": x})) == 21.0


def test_unhashable_static_argument_raises_on_every_call():
    f = jax.jit(lambda a, n: a * len(n), static_argnums=1)
    x = jnp.ones(2)
    np.testing.assert_array_equal(f(x, (1, 2)), [2.0, 2.0])
    for _ in range(2):
        with pytest.raises(ValueError, match="Non-hashable static arguments are not supported"):
            f(x, [1, 2])
    np.testing.assert_array_equal(f(x, (1, 2, 3)), [3.0, 3.0])
