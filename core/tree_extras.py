"""The rest of ``jax.tree_util`` over the pytree core: keyed registration, static nodes, broadcasting a tree
prefix, associative reduction, and small structure helpers."""
from __future__ import annotations

import dataclasses
import difflib
import textwrap
from typing import Any, Callable, Iterable, Sequence

from .pytree import (PyTreeDef, _is_namedtuple_type, _registry, keystr, register_pytree_node, tree_flatten,
                     tree_flatten_with_path, tree_map, tree_structure, tree_unflatten, treedef_is_leaf)

KeyEntry = Any
KeyPath = tuple


def all_leaves(iterable: Iterable, is_leaf: Callable | None = None) -> bool:
    """Whether every element of ``iterable`` is a leaf (for ``is_leaf`` too)."""
    return all(treedef_is_leaf(tree_structure(x, is_leaf)) for x in iterable)


def is_tree_node(typ: type) -> bool:
    """Whether ``typ`` is a registered pytree node type (built-in or custom) or a namedtuple type."""
    return typ in _registry or _is_namedtuple_type(typ)


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


def static(**kwargs: Any) -> Any:
    """``dataclasses.field(**kwargs)`` with ``metadata["static"] = True`` (unless ``metadata`` sets it), for
    :func:`register_dataclass`."""
    metadata = {"static": True, **(kwargs.pop("metadata", {}) or {})}
    return dataclasses.field(metadata=metadata, **kwargs)


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
    try:
        return tree_map(lambda p, sub: tree_map(lambda _: p, sub), prefix_tree, full_tree, is_leaf=is_leaf)
    except ValueError:
        err = next(_prefix_error((), prefix_tree, full_tree, is_leaf), None)
        if err is None:
            raise
        raise err("broadcast_prefix prefix_tree") from None


def prefix_errors(prefix_tree: Any, full_tree: Any, is_leaf: Callable | None = None) -> list:
    """Why ``prefix_tree`` is not a tree prefix of ``full_tree``: functions ``name -> ValueError``, one per
    mismatching subtree (JAX's ``pytree structure error`` messages)."""
    return list(_prefix_error((), prefix_tree, full_tree, is_leaf))


def _child_keys(tree: Any) -> tuple:
    return tuple(k for k, _ in flatten_one_level_with_keys(tree)[0])


def _prefix_error(key_path: tuple, prefix_tree: Any, full_tree: Any, is_leaf: Callable | None = None) -> Iterable:
    if treedef_is_leaf(tree_structure(prefix_tree, is_leaf=is_leaf)):
        return
    where = lambda name: f"pytree structure error: {{}} at key path\n    {name}{keystr(key_path)}\n"
    if type(prefix_tree) != type(full_tree):
        yield lambda name: ValueError(
            where(name).format("different types") +
            f"At that key path, the prefix pytree {name} has a subtree of type\n    {type(prefix_tree)}\n"
            f"but at the same key path the full pytree has a subtree of different type\n    {type(full_tree)}.")
        return
    prefix_children, prefix_meta = flatten_one_level(prefix_tree)
    full_children, full_meta = flatten_one_level(full_tree)
    prefix_keys, full_keys = _child_keys(prefix_tree), _child_keys(full_tree)
    if isinstance(prefix_tree, (list, tuple)):
        if len(prefix_tree) != len(full_tree):
            ty = type(prefix_tree).__name__
            yield lambda name: ValueError(
                where(name).format(f"different lengths of {ty}") +
                f"At that key path, the prefix pytree {name} has a subtree of type {ty} of length "
                f"{len(prefix_tree)}, but the full pytree has a subtree of the same type but of length "
                f"{len(full_tree)}.")
            return
    elif len(prefix_children) != len(full_children):
        try:
            diff = set(prefix_keys).symmetric_difference(set(full_keys))
        except TypeError:
            diff = None
        names = lambda keys: " ".join(str(getattr(k, "key", k)) for k in keys)
        yield lambda name: ValueError(
            where(name).format("different numbers of pytree children") +
            f"At that key path, the prefix pytree {name} has a subtree of type\n    {type(prefix_tree)}\n"
            f"with {len(prefix_children)} child keys\n    {names(prefix_keys)}\n"
            f"but at the same key path the full pytree has a subtree of the same type but with "
            f"{len(full_children)} child keys\n    {names(full_keys)}\n"
            + ("" if diff is None else f"so the symmetric difference on key sets is\n    {names(diff)}"))
        return
    if prefix_meta != full_meta:
        prefix_str, full_str = str(prefix_meta), str(full_meta)
        meta_diff = textwrap.indent("\n".join(difflib.ndiff(prefix_str.splitlines(), full_str.splitlines())), "    ")
        yield lambda name: ValueError(
            where(name).format("different pytree metadata") +
            f"At that key path, the prefix pytree {name} has a subtree of type\n    {type(prefix_tree)}\n"
            f"with metadata\n    {prefix_str}\n"
            f"but at the same key path the full pytree has a subtree of the same type but with metadata\n"
            f"    {full_str}\nso the diff in the metadata at these pytree nodes is\n{meta_diff}")
        return
    for k, t1, t2 in zip(prefix_keys, prefix_children, full_children):
        yield from _prefix_error((*key_path, k), t1, t2)


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
           "prefix_errors", "register_pytree_with_keys",
           "register_pytree_with_keys_class", "register_static", "static", "tree_broadcast", "tree_leaves_with_path",
           "tree_reduce_associative", "treedef_tuple"]
