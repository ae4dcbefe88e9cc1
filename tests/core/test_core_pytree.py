"""Pytrees (``portax.tree_util`` / ``portax.tree``), with JAX's orders, reprs and key paths."""
import collections
import dataclasses
import functools
import re
from typing import NamedTuple

import numpy as np
import pytest

import portax as jax
import portax.numpy as jnp
from portax import tree_util as tu


class Point(NamedTuple):
    x: object
    y: object


def test_flatten_order_none_and_repr():
    tree = [1, {"b": None, "a": (2, 3)}, None]
    leaves, treedef = tu.tree_flatten(tree)
    assert leaves == [1, 2, 3]
    assert repr(treedef) == "PyTreeDef([*, {'a': (*, *), 'b': None}, None])"
    assert treedef.num_leaves == 3 and treedef.num_nodes == 8
    assert tu.tree_unflatten(treedef, [4, 5, 6]) == [4, {"b": None, "a": (5, 6)}, None]
    assert repr(tu.tree_structure(None)) == "PyTreeDef(None)" and repr(tu.tree_structure(1)) == "PyTreeDef(*)"
    assert tu.tree_leaves([1, None, [None]]) == [1]
    assert tu.tree_map(lambda x: x * 2, [1, None]) == [2, None]


def test_dict_keys_sorted_and_ordered_dict_kept():
    assert tu.tree_leaves({"b": 1, "a": 2}) == [2, 1]
    od = collections.OrderedDict([("b", 1), ("a", 2)])
    assert tu.tree_leaves(od) == [1, 2]
    back = tu.tree_unflatten(tu.tree_structure(od), [3, 4])
    assert isinstance(back, collections.OrderedDict) and list(back.items()) == [("b", 3), ("a", 4)]
    dd = collections.defaultdict(list, {"z": 1, "y": 2})
    back = tu.tree_map(lambda v: v + 1, dd)
    assert isinstance(back, collections.defaultdict) and back.default_factory is list and dict(back) == {"z": 2, "y": 3}


def test_structures_are_hashable_and_compare():
    s1 = tu.tree_structure({"a": [1, 2], "b": 3})
    s2 = tu.tree_structure({"a": [4, 5], "b": 6})
    s3 = tu.tree_structure({"a": (4, 5), "b": 6})
    assert s1 == s2 and hash(s1) == hash(s2) and s1 != s3
    assert len({s1, s2, s3}) == 2
    assert tu.treedef_is_leaf(tu.tree_structure(1))
    assert [repr(c) for c in tu.treedef_children(s1)] == ["PyTreeDef([*, *])", "PyTreeDef(*)"]


def test_tree_map_multiple_trees_prefix_and_mismatch():
    assert tu.tree_map(lambda x, y: x + y, [1, (2, 3)], [10, (20, 30)]) == [11, (22, 33)]
    assert tu.tree_map(lambda x, y: (x, y), [1, 2], [(0, 0), {"a": 5}]) == [(1, (0, 0)), (2, {"a": 5})]
    with pytest.raises(ValueError):
        tu.tree_map(lambda x, y: x, [1, 2], (1, 2))
    with pytest.raises(ValueError):
        tu.tree_map(lambda x, y: x, {"a": 1}, {"b": 1})


def test_is_leaf():
    tree = [1, [2, 3], (4, [5])]
    assert tu.tree_leaves(tree, is_leaf=lambda x: isinstance(x, list) and len(x) == 2) == [1, [2, 3], 4, 5]
    out = tu.tree_map(lambda x: len(x) if isinstance(x, list) else x, tree, is_leaf=lambda x: isinstance(x, list) and x != tree)
    assert out == [1, 2, (4, 1)]


def test_namedtuple_is_a_node_with_field_keys():
    p = Point(1, (2, 3))
    leaves, treedef = tu.tree_flatten(p)
    assert leaves == [1, 2, 3]
    back = tu.tree_unflatten(treedef, [7, 8, 9])
    assert isinstance(back, Point) and back == Point(7, (8, 9))
    paths = [tu.keystr(path) for path, _ in tu.tree_flatten_with_path({"a": [1, Point(2, 3)]})[0]]
    assert paths == ["['a'][0]", "['a'][1].x", "['a'][1].y"]


def test_register_pytree_node_and_class():
    class Box:
        def __init__(self, value, label):
            self.value, self.label = value, label

    tu.register_pytree_node(Box, lambda b: ((b.value,), b.label), lambda label, ch: Box(ch[0], label))
    b = tu.tree_map(lambda v: v * 2, Box(np.float32(3), "lbl"))
    assert isinstance(b, Box) and float(b.value) == 6 and b.label == "lbl"
    with pytest.raises(ValueError, match="Duplicate"):
        tu.register_pytree_node(Box, lambda b: ((), None), lambda a, c: None)

    @tu.register_pytree_node_class
    class Pair:
        def __init__(self, a, b):
            self.a, self.b = a, b

        def tree_flatten(self):
            return (self.a, self.b), None

        @classmethod
        def tree_unflatten(cls, aux, children):
            return cls(*children)

    g = jax.grad(lambda p: p.a * p.b)(Pair(2.0, 5.0))
    assert isinstance(g, Pair) and float(g.a) == 5.0 and float(g.b) == 2.0
    out = jax.jit(lambda p: Pair(p.b, p.a))(Pair(1.0, 2.0))
    assert float(out.a) == 2.0


def test_register_dataclass():
    @dataclasses.dataclass
    class Params:
        w: object
        b: object
        name: str = dataclasses.field(default="p", metadata=dict(static=True))

    tu.register_dataclass(Params)
    leaves, treedef = tu.tree_flatten(Params(1.0, 2.0, "layer"))
    assert leaves == [1.0, 2.0]
    assert tu.tree_unflatten(treedef, [3.0, 4.0]) == Params(3.0, 4.0, "layer")
    assert [tu.keystr(p) for p, _ in tu.tree_flatten_with_path(Params(1.0, 2.0))[0]] == [".w", ".b"]

    @dataclasses.dataclass
    class Explicit:
        x: object
        n: int

    tu.register_dataclass(Explicit, data_fields=["x"], meta_fields=["n"])
    g = jax.grad(lambda e: e.x * e.n)(Explicit(1.5, 3))
    assert float(g.x) == 3.0 and g.n == 3


def test_tree_map_with_path_and_keystr():
    tree = {"layer": [np.float32(1), np.float32(2)], "bias": (np.float32(3),)}
    out = tu.tree_map_with_path(lambda path, x: tu.keystr(path), tree)
    assert out == {"layer": ["['layer'][0]", "['layer'][1]"], "bias": ("['bias'][0]",)}
    assert tu.keystr((tu.DictKey("a"), tu.SequenceKey(2), tu.GetAttrKey("w"))) == "['a'][2].w"


def test_partial_is_a_pytree_and_passes_through_jit():
    p = tu.Partial(jnp.add, np.float32(1.0))
    leaves, treedef = tu.tree_flatten(p)
    assert len(leaves) == 1
    out = jax.jit(lambda f, x: f(x))(p, 2.0)
    assert float(out) == 3.0
    nested = tu.Partial(tu.Partial(lambda a, b, c: a * b + c, 2.0), 3.0)
    assert nested(4.0) == 10.0


def test_reduce_all_transpose_and_short_names():
    assert tu.tree_reduce(lambda a, b: a + b, [1, (2, 3)]) == 6
    assert tu.tree_reduce(lambda a, b: a + b, [], 10) == 10
    assert tu.tree_all([True, (True,)]) and not tu.tree_all([True, (False,)])
    outer, inner = tu.tree_structure([0, 0]), tu.tree_structure((0, 0, 0))
    assert tu.tree_transpose(outer, inner, [(1, 2, 3), (4, 5, 6)]) == ([1, 4], [2, 5], [3, 6])
    assert jax.tree.map(lambda x: -x, {"a": 1}) == {"a": -1}
    assert jax.tree.leaves(jax.tree.unflatten(jax.tree.structure([0, 0]), [1, 2])) == [1, 2]


def test_transformations_accept_nested_pytrees():
    params = {"layers": [Point(np.ones(2, np.float32), np.float32(0.5))], "scale": np.float32(2.0)}

    def loss(p):
        layer = p["layers"][0]
        return jnp.sum(layer.x * layer.y) * p["scale"]
    g = jax.grad(loss)(params)
    assert isinstance(g["layers"][0], Point)
    np.testing.assert_allclose(g["layers"][0].x, [1.0, 1.0])
    assert float(g["scale"]) == 1.0
    batched = jax.vmap(loss, in_axes=({"layers": [Point(0, None)], "scale": None},))(
        {"layers": [Point(np.ones((3, 2), np.float32), np.float32(0.5))], "scale": np.float32(2.0)})
    np.testing.assert_allclose(batched, [2.0, 2.0, 2.0])


def test_flatten_up_to_errors_match_jax():
    cases = [([1, 2], [7], "List arity mismatch: 1 != 2; list: [7]."),
             ((1,), (7, 8), "Tuple arity mismatch: 2 != 1; tuple: (7, 8)."),
             ({"a": 1}, {"b": 7}, "Dict key mismatch; expected keys: ['a'];"),
             ([[1]], [(7,)], "Expected list, got (7,)."),
             ({"a": (1,)}, {"a": 7}, "Expected tuple, got 7."),
             ([{"a": 1}], [[7]], "Expected dict, got [7]."),
             ([Point(1, 2)], [(1, 2)], "Expected named tuple, got (1, 2)."),
             (None, [2], "Expected None, got [2].")]
    for tree, xs, msg in cases:
        with pytest.raises(ValueError, match=re.escape(msg)):
            tu.tree_structure(tree).flatten_up_to(xs)


def test_bad_custom_flatten_raises_like_jax():
    class Bad:
        pass
    tu.register_pytree_node(Bad, lambda x: (2, 3, 4), lambda aux, c: Bad())
    with pytest.raises(ValueError, match=r"should return a \(children, aux_data\) tuple, got \(2, 3, 4\)"):
        tu.tree_flatten(Bad())


def test_treedef_walk_repr_and_is_tree_node():
    leaves, treedef = tu.tree_flatten({"b": 2, "a": 1, "c": {"b": 2, "a": 1}})
    seen = []
    treedef.walk(lambda node, data: seen.append((node, data)), None, leaves)
    assert seen == [((1, 2), ["a", "b"]), ((1, 2, None), ["a", "b", "c"])]
    assert str(tu.tree_structure([Point(1, 2)])) == "PyTreeDef([CustomNode(namedtuple[Point], [*, *])])"
    assert tu.is_tree_node(Point) and tu.is_tree_node(dict) and not tu.is_tree_node(int)
    assert tu.FlattenedIndexKey(1) == tu.FlattenedIndexKey(1)
    assert hash(tu.FlattenedIndexKey(1)) != hash(tu.SequenceKey(1))


def test_partial_keeps_wrapped_partial_static_and_broadcast_prefix_error():
    g = functools.partial(lambda a, b, c: a + b + c, 2)
    h = tu.Partial(g, 3)
    assert h.args == (3,) and h(4) == 9 and h.func == g
    with pytest.raises(ValueError, match="pytree structure error: different lengths of tuple"):
        tu.tree_broadcast((1, 2, 3), (0, {"a": 0}))
    field = jax.tree.static(default="x")
    assert field.default == "x" and field.metadata == {"static": True}


def test_treedef_equality_with_array_metadata_raises():
    a = tu.tree_structure(Point(1, 2))
    ta, tb = (tu.PyTreeDef(dict, (np.arange(3),), ()), tu.PyTreeDef(dict, (np.arange(3),), ()))
    assert a == tu.tree_structure(Point(3, 4))
    with pytest.raises(ValueError, match="Exception raised while checking equality of metadata"):
        ta == tb


def test_dict_keys_that_do_not_compare_raise_as_in_jax():
    with pytest.raises(ValueError, match="Comparator raised exception while sorting pytree dictionary keys"):
        jax.tree_util.tree_flatten({"a": 1, 2: "b"})
