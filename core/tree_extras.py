"""The rest of ``jax.tree_util`` over the pytree core: keyed registration, static nodes, broadcasting a tree
prefix, associative reduction, and small structure helpers."""
from __future__ import annotations

from typing import Any, Callable, Iterable, Sequence

from .pytree import (PyTreeDef, register_pytree_node, tree_flatten, tree_flatten_with_path, tree_map,
                     tree_structure, tree_unflatten, treedef_is_leaf)

KeyEntry = Any
KeyPath = tuple


def all_leaves(iterable: Iterable, is_leaf: Callable | None = None) -> bool:
    """Whether every element of ``iterable`` is a leaf (for ``is_leaf`` too)."""
    return all(treedef_is_leaf(tree_structure(x, is_leaf)) for x in iterable)


def is_tree_node(tree: Any, is_leaf: Callable | None = None) -> bool:
    """Whether ``tree`` is an internal node (a container), rather than a leaf."""
    return not treedef_is_leaf(tree_structure(tree, is_leaf))


def tree_leaves_with_path(tree: Any, is_leaf: Callable | None = None, is_leaf_takes_path: bool = False) -> list:
    """``[(key_path, leaf), ...]``."""
    return tree_flatten_with_path(tree, is_leaf, is_leaf_takes_path)[0]


def register_pytree_with_keys(nodetype: type, flatten_with_keys: Callable, unflatten_func: Callable,
                              flatten_func: Callable | None = None) -> None:
    """Register a container whose ``flatten_with_keys(x) -> ([(key, child), ...], aux)`` names its children."""
    if flatten_func is None:
        def flatten_func(x):
            keyed, aux = flatten_with_keys(x)
            return [child for _, child in keyed], aux
    register_pytree_node(nodetype, flatten_func, unflatten_func, flatten_with_keys)


def register_pytree_with_keys_class(cls: type) -> type:
    """Class decorator: the class provides ``tree_flatten_with_keys`` and classmethod ``tree_unflatten``."""
    flatten = getattr(cls, "tree_flatten", None)
    register_pytree_with_keys(cls, lambda x: x.tree_flatten_with_keys(), cls.tree_unflatten,
                              None if flatten is None else (lambda x: x.tree_flatten()))
    return cls


def register_static(cls: type) -> type:
    """Register ``cls`` as a node without children: its instances are part of the structure, not leaves."""
    register_pytree_node(cls, lambda x: ((), x), lambda aux, _: aux)
    return cls


class _Placeholder:
    """A leaf standing in for the leaves of a structure being rebuilt."""


def treedef_tuple(treedefs: Sequence[PyTreeDef]) -> PyTreeDef:
    """The structure of a tuple whose elements have the given structures."""
    trees = tuple(tree_unflatten(t, [_Placeholder() for _ in range(t.num_leaves)]) for t in treedefs)
    return tree_structure(trees, is_leaf=lambda x: isinstance(x, _Placeholder))


def tree_broadcast(prefix_tree: Any, full_tree: Any, is_leaf: Callable | None = None) -> Any:
    """Replicate each leaf of ``prefix_tree`` over the matching subtree of ``full_tree``."""
    return tree_map(lambda p, sub: tree_map(lambda _: p, sub, is_leaf=is_leaf), prefix_tree, full_tree,
                    is_leaf=is_leaf)


_NO_IDENTITY = object()


def tree_reduce_associative(operation: Callable, tree: Any, *, identity: Any = _NO_IDENTITY,
                            is_leaf: Callable | None = None) -> Any:
    """Reduce the leaves with an associative ``operation`` in a balanced binary tree of calls."""
    leaves, _ = tree_flatten(tree, is_leaf)
    if not leaves:
        if identity is _NO_IDENTITY:
            raise TypeError("Must specify identity for parallel reduction of empty sequence.")
        return identity
    while len(leaves) > 1:
        pairs = [operation(a, b) for a, b in zip(leaves[0::2], leaves[1::2])]
        leaves = pairs + ([leaves[-1]] if len(leaves) % 2 else [])
    return leaves[0]


def flatten_one_level(tree: Any) -> tuple:
    """``(children, aux)`` of the root node of ``tree`` (a ValueError for a leaf)."""
    treedef = tree_structure(tree, is_leaf=lambda x: x is not tree)
    if treedef_is_leaf(treedef):
        raise ValueError(f"can't tree-flatten type: {type(tree)}")
    leaves, treedef = tree_flatten(tree, is_leaf=lambda x: x is not tree)
    return leaves, treedef.aux


def flatten_one_level_with_keys(tree: Any) -> tuple:
    """``([(key, child), ...], aux)`` of the root node of ``tree`` (a ValueError for a leaf)."""
    _, aux = flatten_one_level(tree)
    keyed = tree_flatten_with_path(tree, is_leaf=lambda x: x is not tree)[0]
    return [(path[0], child) for path, child in keyed], aux


__all__ = ["KeyEntry", "KeyPath", "all_leaves", "flatten_one_level", "flatten_one_level_with_keys", "is_tree_node",
           "register_pytree_with_keys",
           "register_pytree_with_keys_class", "register_static", "tree_broadcast", "tree_leaves_with_path",
           "tree_reduce_associative", "treedef_tuple"]
