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
