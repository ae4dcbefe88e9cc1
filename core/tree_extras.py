"""The rest of ``jax.tree_util`` over the pytree core: keyed registration, static nodes, broadcasting a tree
prefix, associative reduction, and small structure helpers."""
from __future__ import annotations

import dataclasses
import difflib
import textwrap
from typing import Any, Callable, Iterable, Sequence

from .pytree import (PyTreeDef, _is_namedtuple_type, _registry, _transform_nodes, is_transform_node, keystr,
                     register_pytree_node, tree_flatten, tree_flatten_with_path, tree_map, tree_structure,
                     tree_unflatten, treedef_is_leaf)

KeyEntry = Any
KeyPath = tuple


def all_leaves(iterable: Iterable, is_leaf: Callable | None = None) -> bool:
    """Whether every element of ``iterable`` is a leaf (for ``is_leaf`` too)."""
    return all(treedef_is_leaf(tree_structure(x, is_leaf)) for x in iterable)


def is_tree_node(typ: type) -> bool:
    """Whether ``typ`` is a registered pytree node type (built-in or custom; not a transform node, a leaf to users)
    or a namedtuple type."""
    return (typ in _registry and typ not in _transform_nodes) or _is_namedtuple_type(typ)


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
        return tree_map(lambda p, sub: tree_map(lambda _: p, sub, is_leaf=is_leaf), prefix_tree, full_tree,
                        is_leaf=is_leaf)
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
        yield from _prefix_error((*key_path, k), t1, t2, is_leaf)


def equality_errors(tree1: Any, tree2: Any, is_leaf: Callable | None = None) -> Iterable[tuple]:
    """Why two pytrees differ in structure: ``(key_path, thing1, thing2, explanation)`` per difference
    (JAX's ``tree_util.equality_errors``)."""
    yield from _equality_errors((), tree1, tree2, is_leaf)


class _LeafMeta(type):
    def __repr__(cls) -> str:
        return "pytree leaf"


class _Leaf(metaclass=_LeafMeta):
    """A leaf whose type prints as ``pytree leaf``, for :func:`equality_errors_pytreedef`."""


def equality_errors_pytreedef(tree1: PyTreeDef, tree2: PyTreeDef) -> Iterable[tuple]:
    """:func:`equality_errors` of two structures."""
    leaf = _Leaf()
    return equality_errors(tree_unflatten(tree1, [leaf] * tree1.num_leaves),
                           tree_unflatten(tree2, [leaf] * tree2.num_leaves))


def _equality_errors(path: tuple, t1: Any, t2: Any, is_leaf: Callable | None) -> Iterable[tuple]:
    if (treedef_is_leaf(tree_structure(t1, is_leaf=is_leaf))
            and treedef_is_leaf(tree_structure(t2, is_leaf=is_leaf))):
        return
    if type(t1) != type(t2):
        yield path, str(type(t1)), str(type(t2)), "their Python types differ"
        return
    if isinstance(t1, (list, tuple)) and len(t1) != len(t2):
        ty = type(t1).__name__
        yield path, f"{ty} of length {len(t1)}", f"{ty} of length {len(t2)}", "the lengths do not match"
        return
    c1, meta1 = flatten_one_level(t1)
    c2, meta2 = flatten_one_level(t2)
    keys1, keys2 = _child_keys(t1), _child_keys(t2)
    if len(c1) != len(c2):
        try:
            diff = " ".join(repr(k.key) for k in set(keys1).symmetric_difference(set(keys2)))
        except (TypeError, AttributeError):
            diff = ""
        kids = lambda n: f"{n} child{'ren' if n > 1 else ''}"
        yield (path, f"{type(t1)} with {kids(len(c1))}", f"{type(t2)} with {kids(len(c2))}",
               "the numbers of children do not match"
               + (diff and f", with the symmetric difference of key sets: {{{diff}}}"))
        return
    if meta1 != meta2:
        yield (path, f"{type(t1)} with pytree metadata {meta1}", f"{type(t2)} with pytree metadata {meta2}",
               "the pytree node metadata does not match")
        return
    for k, x1, x2 in zip(keys1, c1, c2):
        yield from _equality_errors((*path, k), x1, x2, is_leaf)


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
    if treedef_is_leaf(treedef) or is_transform_node(tree):
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
