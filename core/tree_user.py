"""The pytree functions as users see them (``portax.tree_util``, ``portax.tree``): a type registered with
``register_transform_node`` (typed key arrays) is a leaf, as in JAX, while portax's transformations, which use the
functions of pytree.py, flatten it into its children."""
from __future__ import annotations

import functools
import inspect
from typing import Any, Callable

from . import pytree, tree_extras
from .pytree import is_transform_node


def _user_is_leaf(is_leaf: Callable | None, takes_path: bool) -> Callable:
    if is_leaf is None:
        return (lambda path, x: is_transform_node(x)) if takes_path else is_transform_node
    if takes_path:
        return lambda path, x: is_transform_node(x) or is_leaf(path, x)
    return lambda x: is_transform_node(x) or is_leaf(x)


def user_view(fn: Callable) -> Callable:
    """``fn`` (a tree function with an ``is_leaf`` parameter) with transform nodes as leaves."""
    signature = inspect.signature(fn)

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        bound = signature.bind(*args, **kwargs)
        bound.arguments["is_leaf"] = _user_is_leaf(bound.arguments.get("is_leaf"),
                                                   bound.arguments.get("is_leaf_takes_path", False))
        return fn(*bound.args, **bound.kwargs)
    return wrapper


tree_all = user_view(pytree.tree_all)
tree_flatten = user_view(pytree.tree_flatten)
tree_flatten_with_path = user_view(pytree.tree_flatten_with_path)
tree_leaves = user_view(pytree.tree_leaves)
tree_map = user_view(pytree.tree_map)
tree_map_with_path = user_view(pytree.tree_map_with_path)
tree_reduce = user_view(pytree.tree_reduce)
tree_structure = user_view(pytree.tree_structure)
all_leaves = user_view(tree_extras.all_leaves)
tree_broadcast = user_view(tree_extras.tree_broadcast)
tree_leaves_with_path = user_view(tree_extras.tree_leaves_with_path)
tree_reduce_associative = user_view(tree_extras.tree_reduce_associative)
