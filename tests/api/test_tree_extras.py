"""flatten_util.ravel_pytree, linear_transpose, jax.tree's names and the tree_util additions of JAX 0.10.2
(expected values from JAX's tests/tree_util_test.py and tests/api_test.py)."""
import dataclasses
import types

import numpy as np
import pytest

import portax
import portax.numpy as jnp
from portax import flatten_util, tree_util
from portax.tree_util import DictKey, SequenceKey


# --- ravel_pytree (JAX's RavelUtilTest) ---------------------------------------------------------------------------
@pytest.mark.parametrize("tree,dtype", [
    ([np.array([3.0], np.float32), np.array([[1.0, 2.0], [3.0, 4.0]], np.float32)], np.float32),
    ([np.array([3], np.int32), np.array([[1, 2], [3, 4]], np.int32)], np.int32),
    ([np.array([3], np.int32), np.array([[1., 2.], [3., 4.]], np.float32)], np.float32),
    ([np.array([0], np.bool_), np.array([[1, 2], [3, 4]], np.int32)], np.int32),
    ([np.array([1.], np.float32), np.array([[1, 2 + 3j], [3, 4]], np.complex64)], np.complex64),
])
def test_ravel_pytree_round_trip(tree, dtype):
    raveled, unravel = flatten_util.ravel_pytree(tree)
    assert raveled.dtype == dtype and raveled.shape == (sum(x.size for x in tree),)
    back = unravel(raveled)
    for a, b in zip(back, tree):
        assert a.dtype == b.dtype and a.shape == b.shape
        np.testing.assert_array_equal(np.asarray(a), b)


def test_ravel_pytree_empty_and_dtype_polymorphism():
    raveled, unravel = flatten_util.ravel_pytree([])
    assert raveled.dtype == np.float32 and raveled.shape == (0,) and unravel(raveled) == []
    x_flat, unravel = flatten_util.ravel_pytree(jnp.arange(10, dtype=jnp.float32))
    assert unravel(x_flat < 5.3).dtype == np.bool_  # one dtype: unravel keeps the given dtype
    x_flat, unravel = flatten_util.ravel_pytree((jnp.arange(10, dtype=jnp.float32), jnp.arange(10, dtype=jnp.int32)))
    with pytest.raises(TypeError, match="but expected dtype"):
        unravel(x_flat < 5.3)


def test_ravel_pytree_unravel_is_a_jit_cache_hit():
    # JAX's test_no_recompile
    x1, x2 = jnp.array([1, 2]), jnp.array([3, 4])
    flat1, unravel1 = flatten_util.ravel_pytree((x1, x2))
    flat2, unravel2 = flatten_util.ravel_pytree((x1, x2))
    traces = []

    def run(flat, unravel):
        traces.append(1)
        return unravel(flat + 1)

    run = portax.jit(run, static_argnums=1)
    run(flat1, unravel1)
    out = run(flat2, unravel2)
    assert len(traces) == 1
    np.testing.assert_array_equal(np.asarray(out[1]), [4, 5])


def test_ravel_pytree_is_differentiable():
    g = portax.grad(lambda p: jnp.sum(flatten_util.ravel_pytree(p)[0] ** 2))({"w": jnp.ones(3), "b": 2.0})
    np.testing.assert_array_equal(np.asarray(g["w"]), [2., 2., 2.])
    assert float(g["b"]) == 4.0


# --- linear_transpose (JAX's api_test) --------------------------------------------------------------------------
def test_linear_transpose_values():
    x = types.SimpleNamespace(shape=(3,), dtype=np.dtype(np.float32))
    y = jnp.arange(3, dtype=np.float32)
    (z,) = portax.linear_transpose(lambda x: 2 * x, x)(y)
    np.testing.assert_array_equal(np.asarray(z), 2 * np.arange(3))
    assert z.dtype == np.float32
    (i,) = portax.linear_transpose(lambda x: 2 * x, 1)(3)
    assert int(i) == 6
    (c,) = portax.linear_transpose(lambda x: (1 + 2j) * x, 1j)(3 + 4j)
    assert complex(c) == -5 + 10j
    (zs,) = portax.linear_transpose(lambda x: x[0], [1., 2.])(3.)
    assert [float(v) for v in zs] == [3., 0.]
    f = portax.jit(lambda x: (2 * x, x > 0))
    assert float(portax.linear_transpose(lambda x: f(x)[0], 1.)(1.)[0]) == 2.0
    ft = portax.linear_transpose(lambda x: 3. * x, 1.)
    assert float(portax.jit(ft)(2.)[0]) == 6.0 and tree_util.tree_leaves(ft) == []
    bf16 = jnp.ones(3, jnp.bfloat16)  # the ml_dtypes floats are floats (numpy's kind says "V")
    (b,) = portax.linear_transpose(lambda x: 2 * x, bf16)(bf16)
    assert b.dtype == jnp.bfloat16 and np.asarray(b, np.float32).tolist() == [2.0] * 3


def test_linear_transpose_errors():
    with pytest.raises(TypeError, match="linear_transpose only supports"):
        portax.linear_transpose(lambda x: 2. * x, 1)
    with pytest.raises(TypeError, match="cotangent tree does not match"):
        portax.linear_transpose(lambda x: [x, x], 1.0)(1.0)
    for fun, ct in ((lambda x: jnp.stack([x, x]), 1.0), (lambda x: 1j * x, 1.0), (lambda x: x, 1j)):
        with pytest.raises(TypeError, match="cotangent type does not match"):
            portax.linear_transpose(fun, 1.0)(ct)


# --- jax.tree and tree_util ------------------------------------------------------------------------------------
def test_jax_tree_has_every_name_of_jax_0_10_2():
    for name in ("all", "broadcast", "flatten_with_path", "flatten", "leaves_with_path", "leaves", "map_with_path",
                 "map", "reduce", "reduce_associative", "static", "structure", "transpose", "unflatten"):
        assert callable(getattr(portax.tree, name)), name
    assert portax.tree.all([1, [0]], is_leaf=lambda x: x == [0])
    assert not portax.tree.all([1, [0]])


def test_treedef_compose():
    # JAX's testCompose
    for tree in ((1, 2), {"a": 1, "b": (2, [3, None])}, [], 5):
        treedef = tree_util.tree_structure(tree)
        inner = tree_util.tree_structure(["*", "*", "*"])
        composed = treedef.compose(inner)
        assert composed.num_leaves == treedef.num_leaves * inner.num_leaves
        assert composed.num_nodes == (treedef.num_nodes - treedef.num_leaves) + inner.num_nodes * treedef.num_leaves
        leaves = [1] * composed.num_leaves
        assert tree_util.tree_leaves(tree_util.tree_unflatten(composed, leaves)) == leaves


def test_tree_transpose_infers_the_inner_structure_and_checks_counts():
    tree = {"a": 1, "b": (2, 3)}
    outer = tree_util.tree_structure(tree)
    make_inner = lambda x: [x, {"a": x}, (x,)]
    assert tree_util.tree_transpose(outer, None, tree_util.tree_map(make_inner, tree)) == make_inner(tree)
    assert portax.tree.transpose(outer, tree_util.tree_structure([0, 0]), {"a": [1, 2], "b": ([3, 4], [5, 6])}) == \
        [{"a": 1, "b": (3, 5)}, {"a": 2, "b": (4, 6)}]
    tree = {"a": [1, 2], "b": [3, 4]}
    for o, i in (({"a": 1, "b": 2, "c": 3}, [1, 2]), ({"a": 1, "b": 2}, [1, 2, 3])):
        with pytest.raises(TypeError, match="Mismatch"):
            tree_util.tree_transpose(tree_util.tree_structure(o), tree_util.tree_structure(i), tree)


def test_is_leaf_takes_path():
    x = ((1, 2), [3, {4: 4, 5: 5}])
    flat, treedef = tree_util.tree_flatten_with_path(x, is_leaf=lambda kp, _: len(kp) >= 2, is_leaf_takes_path=True)
    assert flat == [((SequenceKey(0), SequenceKey(0)), 1), ((SequenceKey(0), SequenceKey(1)), 2),
                    ((SequenceKey(1), SequenceKey(0)), 3), ((SequenceKey(1), SequenceKey(1)), {4: 4, 5: 5})]
    assert treedef.num_leaves == 4
    assert portax.tree.leaves_with_path(x, lambda kp, _: len(kp) >= 1, is_leaf_takes_path=True) == \
        [((SequenceKey(0),), (1, 2)), ((SequenceKey(1),), [3, {4: 4, 5: 5}])]
    y = (([3], 0), ([0], 7, [5, 6]))
    out = tree_util.tree_map_with_path(lambda kp, *xs: (kp[0].idx, *xs), ((1, 2), [3, 4, 5]), y,
                                       is_leaf=lambda kp, n: isinstance(n, list), is_leaf_takes_path=True)
    assert out == (((0, 1, [3]), (0, 2, 0)), (1, [3, 4, 5], ([0], 7, [5, 6])))


def test_keystr_simple_and_flatten_one_level_with_keys():
    params = {"foo": {"bar": {"baz": 1, "bat": [2, 3]}}}
    paths = [p for p, _ in tree_util.tree_leaves_with_path(params)]
    assert [tree_util.keystr(p) for p in paths] == ["['foo']['bar']['bat'][0]", "['foo']['bar']['bat'][1]",
                                                    "['foo']['bar']['baz']"]
    assert [tree_util.keystr(p, simple=True, separator="/") for p in paths] == ["foo/bar/bat/0", "foo/bar/bat/1",
                                                                                "foo/bar/baz"]
    keyed, aux = tree_util.flatten_one_level_with_keys({"a": [1, 2], "b": {"c": 3}})
    assert keyed == [(DictKey("a"), [1, 2]), (DictKey("b"), {"c": 3})] and aux == ("a", "b")
    with pytest.raises(ValueError, match="can't tree-flatten type"):
        tree_util.flatten_one_level(1.0)


def test_register_dataclass_checks():
    # JAX's RegistrationTest
    class NotADataclass:
        x: int

    with pytest.raises(TypeError, match="data_fields and meta_fields are required when nodetype is not a dataclass"):
        tree_util.register_dataclass(NotADataclass)
    with pytest.raises(TypeError, match=r"must both be specified when either is specified. Got data_fields=\['x'\] "
                                        "meta_fields=None."):
        tree_util.register_dataclass(NotADataclass, data_fields=["x"])

    @dataclasses.dataclass
    class Foo:
        x: int
        y: int
        z: float = dataclasses.field(init=False)

    with pytest.raises(ValueError, match="must include all dataclass fields.*Missing fields: {'y'}"):
        tree_util.register_dataclass(Foo, data_fields=["x"], meta_fields=[])
    tree_util.register_dataclass(Foo, data_fields=["x"], meta_fields=["y"])  # z is not an __init__ field
    assert portax.tree.leaves(Foo(1, 2)) == [1]
    with pytest.raises(ValueError, match="Duplicate"):
        tree_util.register_dataclass(Foo, data_fields=["x"], meta_fields=["y"])

    @dataclasses.dataclass
    class Bar:
        x: int
        y: float

    with pytest.raises(ValueError, match="must include all dataclass fields.*Unexpected fields: {'z'}"):
        tree_util.register_dataclass(Bar, data_fields=["x"], meta_fields=["y", "z"])
    with pytest.raises(ValueError, match="must not overlap.*Overlapping fields: {'x'}"):
        tree_util.register_dataclass(Bar, data_fields=["x", "y"], meta_fields=["x"])

    @dataclasses.dataclass
    class Baz:
        x: int
        y: int = 42
        z: int = 42

    tree_util.register_dataclass(Baz, data_fields=["x"], meta_fields=[], drop_fields=["y", "z"])
    assert portax.tree.leaves(Baz(1)) == [1]

    @tree_util.register_dataclass
    @dataclasses.dataclass
    class Static:
        x: int
        op: str = dataclasses.field(metadata=dict(static=True))

    assert portax.tree.leaves(Static(2, "add")) == [2]
    assert tree_util.tree_structure(Static(2, "add")).aux == ("add",)


def test_treedef_children_and_node_data_are_methods():
    # JAX's testChildren and testTreedefTupleFromChildren
    _, tree = tree_util.tree_flatten(((1, 2, 3), (4,)))
    assert tree.children() == [tree_util.tree_structure((0, 0, 0)), tree_util.tree_structure((7,))]
    leaves, treedef1 = tree_util.tree_flatten(((1, 2, (3, 4)), (5,)))
    treedef2 = tree_util.treedef_tuple(treedef1.children())
    assert treedef1.num_leaves == len(leaves) == treedef2.num_leaves and treedef1.num_nodes == treedef2.num_nodes
    assert tree_util.tree_structure({"a": 1}).node_data() == (dict, ("a",))
    assert tree_util.tree_structure(1).node_data() is None


def test_linear_transpose_keeps_python_scalars_weakly_typed():
    with portax.numpy_dtype_promotion("strict"):  # a weak int times a weak float: allowed even in strict mode
        with pytest.raises(TypeError, match="linear_transpose only supports"):
            portax.linear_transpose(lambda x: 2.0 * x, 1)
        (ct,) = portax.linear_transpose(lambda x: 2.0 * x, 1.0)(1.0)
    assert float(ct) == 2.0


def test_tree_map_names_where_the_rest_trees_differ():
    x = {"a": 1, "c": [1, 2], "d": 4}
    y = {"a": 1, "c": None, "d": {"d1": 4.1}}
    for mapper in (lambda: portax.tree.map(lambda a, b: (a, b), x, y, is_leaf=lambda v: v is None),
                   lambda: tree_util.tree_map_with_path(lambda p, a, b: (a, b), x, y, is_leaf=lambda v: v is None)):
        with pytest.raises(ValueError, match=r"(?s)pytree structure error: different types at key path\n"
                                             r"    tree_map tree\['c'\]"):
            mapper()
    with pytest.raises(ValueError, match="different lengths of list"):
        portax.tree.map(lambda a, b: a + b, [1, 2], [1, 2, 3])
