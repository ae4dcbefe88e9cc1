"""Pytrees: nested containers flattened to leaves plus a hashable structure, as in ``jax.tree_util``."""
from __future__ import annotations

import collections
import dataclasses
import functools
from typing import Any, Callable, Iterable, NamedTuple, Sequence


class _NodeType(NamedTuple):
    to_iterable: Callable[[Any], tuple[Iterable, Any]]
    from_iterable: Callable[[Any, Iterable], Any]
    keys: Callable[[Any, Any], list] | None = None


_registry: dict[type, _NodeType] = {}


def register_pytree_node(nodetype: type, flatten_func: Callable, unflatten_func: Callable,
                         flatten_with_keys_func: Callable | None = None) -> None:
    """Register a container type: ``flatten(x) -> (children, aux)``, ``unflatten(aux, children) -> x``."""
    if nodetype in _registry:
        raise ValueError(f"Duplicate custom PyTreeDef type registration for {nodetype}.")
    keys = None
    if flatten_with_keys_func is not None:
        keys = lambda x, aux: [k for k, _ in flatten_with_keys_func(x)[0]]
    _registry[nodetype] = _NodeType(flatten_func, unflatten_func, keys)


_transform_nodes: set[type] = set()


def register_transform_node(nodetype: type, flatten_func: Callable, unflatten_func: Callable) -> None:
    """Register a type that users' tree functions (``portax.tree_util``, ``portax.tree``) treat as a leaf, as JAX
    treats its key arrays, while portax's transformations flatten it into its children (a key array's data)."""
    register_pytree_node(nodetype, flatten_func, unflatten_func)
    _transform_nodes.add(nodetype)


def is_transform_node(x: Any) -> bool:
    """Whether ``x`` is a node only to portax's transformations (see ``register_transform_node``)."""
    return type(x) in _transform_nodes


def register_pytree_node_class(cls: type) -> type:
    """Class decorator: the class provides ``tree_flatten`` and classmethod ``tree_unflatten``."""
    register_pytree_node(cls, lambda x: x.tree_flatten(), cls.tree_unflatten)
    return cls


def _dataclass_fields(nodetype: type, data_fields: Any, meta_fields: Any, drop_fields: Any) -> tuple:
    """``(data_fields, meta_fields)`` checked as JAX checks them (defaults from a dataclass's ``static`` marks)."""
    if data_fields is None or meta_fields is None:
        if (data_fields is None) != (meta_fields is None):
            raise TypeError("register_dataclass: data_fields and meta_fields must both be specified when either "
                            f"is specified. Got data_fields={data_fields!r} meta_fields={meta_fields!r}.")
        if not dataclasses.is_dataclass(nodetype):
            raise TypeError("register_dataclass: data_fields and meta_fields are required when nodetype is not "
                            f"a dataclass. Got nodetype={nodetype!r}.")
        fields = dataclasses.fields(nodetype)
        data_fields = [f.name for f in fields if not f.metadata.get("static", False)]
        meta_fields = [f.name for f in fields if f.metadata.get("static", False)]
    data_fields, meta_fields = tuple(data_fields), tuple(meta_fields)
    if dataclasses.is_dataclass(nodetype):
        init_fields = {f.name for f in dataclasses.fields(nodetype) if f.init} - set(drop_fields)
        if {*meta_fields, *data_fields} != init_fields:
            msg = "data_fields and meta_fields must include all dataclass fields with ``init=True`` and only them."
            if missing := init_fields - {*meta_fields, *data_fields}:
                msg += f" Missing fields: {missing}. Add them to drop_fields to suppress this error."
            if unexpected := {*meta_fields, *data_fields} - init_fields:
                msg += f" Unexpected fields: {unexpected}."
            raise ValueError(msg)
    if overlap := set(data_fields) & set(meta_fields):
        raise ValueError(f"data_fields and meta_fields must not overlap. Overlapping fields: {overlap}.")
    return data_fields, meta_fields


def register_dataclass(nodetype: type, data_fields: Sequence[str] | None = None,
                       meta_fields: Sequence[str] | None = None, drop_fields: Sequence[str] = ()) -> type:
    """Register a dataclass; ``data_fields`` are children, ``meta_fields`` are static aux data."""
    data_fields, meta_fields = _dataclass_fields(nodetype, data_fields, meta_fields, drop_fields)
    if nodetype in _registry:
        raise ValueError(f"Duplicate custom dataclass PyTreeDef type registration for {nodetype}.")

    def flatten(x):
        return [getattr(x, n) for n in data_fields], tuple(getattr(x, n) for n in meta_fields)

    def unflatten(meta, children):
        kw = dict(zip(data_fields, children))
        kw.update(zip(meta_fields, meta))
        return nodetype(**kw)

    _registry[nodetype] = _NodeType(flatten, unflatten,
                                    lambda x, aux: [GetAttrKey(n) for n in data_fields])
    return nodetype


def _sorted_dict_keys(d: dict) -> list:
    """A dict's keys in sorted order (JAX's ValueError for keys that do not compare, e.g. ``{"a": 1, 2: "b"}``)."""
    try:
        return sorted(d)
    except TypeError as e:
        raise ValueError("Comparator raised exception while sorting pytree dictionary keys.") from e


register_pytree_node(tuple, lambda x: (x, None), lambda _, c: tuple(c))
register_pytree_node(list, lambda x: (x, None), lambda _, c: list(c))
register_pytree_node(dict, lambda x: (lambda ks: ([x[k] for k in ks], tuple(ks)))(_sorted_dict_keys(x)),
                     lambda ks, c: dict(zip(ks, c)))
register_pytree_node(collections.OrderedDict, lambda x: (list(x.values()), tuple(x.keys())),
                     lambda ks, c: collections.OrderedDict(zip(ks, c)))
register_pytree_node(collections.defaultdict,
                     lambda x: (lambda ks: ([x[k] for k in ks], (x.default_factory, tuple(ks))))(_sorted_dict_keys(x)),
                     lambda aux, c: collections.defaultdict(aux[0], zip(aux[1], c)))
register_pytree_node(type(None), lambda x: ((), None), lambda _, c: None)


def _is_namedtuple(x: Any) -> bool:
    return isinstance(x, tuple) and hasattr(type(x), "_fields")


def _is_namedtuple_type(typ: Any) -> bool:
    return isinstance(typ, type) and issubclass(typ, tuple) and hasattr(typ, "_fields")


class PyTreeDef:
    """The structure of a pytree: node type, aux data and children structures. Hashable."""

    __slots__ = ("node_type", "aux", "subtrees", "num_leaves", "_hash")

    def __init__(self, node_type, aux, subtrees: tuple):
        self.node_type = node_type
        self.aux = aux
        self.subtrees = subtrees
        self.num_leaves = 1 if node_type is None else sum(c.num_leaves for c in subtrees)
        self._hash = None

    @property
    def num_nodes(self) -> int:
        return 1 + sum(c.num_nodes for c in self.subtrees)

    def __eq__(self, other) -> bool:
        if not isinstance(other, PyTreeDef) or self.node_type is not other.node_type:
            return False
        try:
            same_aux = bool(self.aux == other.aux)
        except Exception as e:
            raise ValueError("Exception raised while checking equality of metadata fields of pytree. Make sure that "
                             "metadata fields are hashable and have simple equality semantics. (Note: arrays cannot "
                             "be passed as metadata fields!)") from e
        return same_aux and self.subtrees == other.subtrees

    def __hash__(self) -> int:
        if self._hash is None:
            try:
                aux_h = hash(self.aux)
            except TypeError:
                aux_h = hash(repr(self.aux))
            self._hash = hash((self.node_type, aux_h, self.subtrees))
        return self._hash

    def unflatten(self, leaves: Iterable) -> Any:
        return tree_unflatten(self, leaves)

    def flatten_up_to(self, tree: Any) -> list:
        return _flatten_up_to(self, tree)

    def children(self) -> list[PyTreeDef]:
        """The structures of the root's children."""
        return list(self.subtrees)

    def node_data(self) -> tuple | None:
        """``(node type, aux data)`` of the root, None for a leaf."""
        return None if self.node_type is None else (self.node_type, self.aux)

    def walk(self, f_node: Callable, f_leaf: Callable | None, leaves: Iterable) -> Any:
        """Rebuild bottom-up: ``f_leaf(leaf)`` at leaves, ``f_node(children_results, node_data)`` at nodes
        (node data: a dict's sorted keys as a list, a namedtuple's type, None for tuple/list/None)."""
        it = iter(leaves)
        out = _walk(self, f_node, f_leaf, it)
        if next(it, _sentinel) is not _sentinel:
            raise ValueError("Too many leaves for PyTreeDef")
        return out

    def serialize_using_proto(self) -> bytes:
        raise NotImplementedError("PyTreeDef.serialize_using_proto: portax has no protobuf serialization of "
                                  "PyTreeDefs; pickle the PyTreeDef instead.")

    @staticmethod
    def deserialize_using_proto(registry: Any, data: bytes) -> PyTreeDef:
        raise NotImplementedError("PyTreeDef.deserialize_using_proto: portax has no protobuf serialization of "
                                  "PyTreeDefs; pickle the PyTreeDef instead.")

    def compose(self, inner: PyTreeDef) -> PyTreeDef:
        """The structure of this tree with every leaf replaced by a tree of structure ``inner``."""
        if self.node_type is None:
            return inner
        return PyTreeDef(self.node_type, self.aux, tuple(c.compose(inner) for c in self.subtrees))

    def __repr__(self) -> str:
        return f"PyTreeDef({_repr_def(self)})"


def _repr_def(t: PyTreeDef) -> str:
    if t.node_type is None:
        return "*"
    inner = ", ".join(_repr_def(c) for c in t.subtrees)
    if t.node_type is tuple:
        return f"({inner}{',' if len(t.subtrees) == 1 else ''})"
    if t.node_type is list:
        return f"[{inner}]"
    if t.node_type is dict:
        return "{" + ", ".join(f"{k!r}: {_repr_def(c)}" for k, c in zip(t.aux, t.subtrees)) + "}"
    if t.node_type is type(None):
        return "None"
    if t.node_type not in _registry:
        return f"CustomNode(namedtuple[{t.node_type.__name__}], [{inner}])"
    return f"CustomNode({t.node_type.__name__}[{t.aux}], [{inner}])"


def _walk(t: PyTreeDef, f_node: Callable, f_leaf: Callable | None, it) -> Any:
    if t.node_type is None:
        leaf = next(it, _sentinel)
        if leaf is _sentinel:
            raise ValueError("Too few leaves for PyTreeDef")
        return leaf if f_leaf is None else f_leaf(leaf)
    children = tuple(_walk(c, f_node, f_leaf, it) for c in t.subtrees)
    if t.node_type is dict:
        data = list(t.aux)
    elif t.node_type not in _registry:  # namedtuple
        data = t.node_type
    else:
        data = t.aux
    return f_node(children, data)


_LEAF = PyTreeDef(None, None, ())


def _node_of(x: Any):
    t = type(x)
    nt = _registry.get(t)
    if nt is not None:
        return t, nt
    if _is_namedtuple(x):
        return t, None
    return None, None


def _flatten(x: Any, leaves: list, is_leaf) -> PyTreeDef:
    if is_leaf is not None and is_leaf(x):
        leaves.append(x)
        return _LEAF
    t, nt = _node_of(x)
    if t is None:
        leaves.append(x)
        return _LEAF
    children, aux = _children(x, nt)
    return PyTreeDef(t, aux, tuple(_flatten(c, leaves, is_leaf) for c in children))


def _children(x: Any, nt: _NodeType | None) -> tuple[Iterable, Any]:
    """``(children, aux)`` of a node (``nt`` None: a namedtuple), the output of a custom ``to_iterable`` checked as
    JAX checks it."""
    if nt is None:
        return tuple(x), None
    out = nt.to_iterable(x)
    if not isinstance(out, tuple) or len(out) != 2:
        raise ValueError("The to_iterable function for a custom PyTree node should return a (children, aux_data) "
                         f"tuple, got {out!r}")
    try:
        iter(out[0])
    except TypeError:
        raise ValueError("The to_iterable function for a custom PyTree node should return a (children, aux_data) "
                         f"tuple where 'children' is iterable, got {out!r}") from None
    return out


def tree_flatten(tree: Any, is_leaf: Callable[[Any], bool] | None = None) -> tuple[list, PyTreeDef]:
    leaves: list = []
    return leaves, _flatten(tree, leaves, is_leaf)


def tree_unflatten(treedef: PyTreeDef, leaves: Iterable) -> Any:
    it = iter(leaves)
    out = _unflatten(treedef, it)
    if next(it, _sentinel) is not _sentinel:
        raise ValueError(f"Too many leaves for PyTreeDef; expected {treedef.num_leaves}.")
    return out


_sentinel = object()


def _unflatten(t: PyTreeDef, it) -> Any:
    if t.node_type is None:
        x = next(it, _sentinel)
        if x is _sentinel:
            raise ValueError("Too few leaves for PyTreeDef.")
        return x
    children = [_unflatten(c, it) for c in t.subtrees]
    nt = _registry.get(t.node_type)
    if nt is None:  # namedtuple
        return t.node_type(*children)
    return nt.from_iterable(t.aux, children)


def _flatten_up_to(t: PyTreeDef, tree: Any) -> list:
    if t.node_type is None:
        return [tree]
    return [x for c, sub in zip(_up_to_children(t, tree), t.subtrees) for x in _flatten_up_to(sub, c)]


def _up_to_children(t: PyTreeDef, tree: Any) -> list:
    """The children of ``tree`` matched against the root node of ``t`` (JAX's flatten_up_to errors)."""
    kind, arity = t.node_type, len(t.subtrees)
    if kind is type(None):
        if tree is not None:
            raise ValueError(f"Expected None, got {tree!r}.\n\nIn previous releases of JAX, flatten-up-to used to "
                             "consider None to be a tree-prefix of non-None values. To obtain the previous behavior, "
                             "you can usually write:\n  jax.tree.map(lambda x, y: None if x is None else f(x, y), a, "
                             "b, is_leaf=lambda x: x is None)")
        return []
    if kind in (tuple, list):
        name = kind.__name__
        if type(tree) is not kind:
            raise ValueError(f"Expected {name}, got {tree!r}.")
        if len(tree) != arity:
            raise ValueError(f"{name.capitalize()} arity mismatch: {len(tree)} != {arity}; {name}: {tree!r}.")
        return list(tree)
    if kind is dict:
        if type(tree) is not dict:
            raise ValueError(f"Expected dict, got {tree!r}.")
        keys = _sorted_dict_keys(tree)
        if tuple(keys) != t.aux:
            raise ValueError(f"Dict key mismatch; expected keys: {list(t.aux)!r}; present keys: {keys!r}.")
        return [tree[k] for k in keys]
    nt = _registry.get(kind)
    if nt is None:
        if not isinstance(tree, tuple) or not hasattr(tree, "_fields"):
            raise ValueError(f"Expected named tuple, got {tree!r}.")
        if len(tree) != arity:
            raise ValueError(f"Named tuple arity mismatch: {len(tree)} != {arity}; tuple: {tree!r}.")
        if type(tree) is not kind:
            raise ValueError(f"Named tuple type mismatch: expected type: {kind!r}, tuple: {tree!r}.")
        return list(tree)
    if type(tree) is not kind:
        raise ValueError(f"Custom node type mismatch: expected type: {kind!r}, value: {tree!r}.")
    children, aux = _children(tree, nt)
    if aux != t.aux:
        raise ValueError(f"Mismatch custom node data: {t.aux!r} != {aux!r}; value: {tree!r}.")
    children = list(children)
    if len(children) != arity:
        raise ValueError(f"Custom type arity mismatch: {len(children)} != {arity}; value: {tree!r}.")
    return children


def tree_leaves(tree: Any, is_leaf: Callable | None = None) -> list:
    return tree_flatten(tree, is_leaf)[0]


def tree_structure(tree: Any, is_leaf: Callable | None = None) -> PyTreeDef:
    return tree_flatten(tree, is_leaf)[1]


def tree_map(f: Callable, tree: Any, *rest: Any, is_leaf: Callable | None = None) -> Any:
    leaves, treedef = tree_flatten(tree, is_leaf)
    all_leaves = [leaves] + _flatten_rest(treedef, tree, rest, is_leaf)
    return treedef.unflatten(f(*xs) for xs in zip(*all_leaves))


def _flatten_rest(treedef: PyTreeDef, tree: Any, rest: tuple, is_leaf: Callable | None) -> list:
    """The leaves of each of ``rest`` up to ``treedef``; a tree not having ``tree``'s structure raises JAX's
    ``pytree structure error`` naming where they differ."""
    try:
        return [treedef.flatten_up_to(r) for r in rest]
    except (ValueError, TypeError):
        from .tree_extras import prefix_errors
        for r in rest:
            errors = prefix_errors(tree, r, is_leaf)
            if errors:
                raise errors[0]("tree_map tree") from None
        raise


def tree_reduce(function: Callable, tree: Any, initializer: Any = _sentinel, is_leaf: Callable | None = None) -> Any:
    leaves = tree_leaves(tree, is_leaf)
    if initializer is _sentinel:
        return functools.reduce(function, leaves)
    return functools.reduce(function, leaves, initializer)


def tree_all(tree: Any, *, is_leaf: Callable | None = None) -> bool:
    return all(tree_leaves(tree, is_leaf))


def treedef_is_leaf(treedef: PyTreeDef) -> bool:
    return treedef.node_type is None


def treedef_children(treedef: PyTreeDef) -> list[PyTreeDef]:
    return list(treedef.subtrees)


def tree_transpose(outer: PyTreeDef, inner: PyTreeDef | None, tree: Any) -> Any:
    """A tree of structure ``outer.compose(inner)`` turned into one of ``inner.compose(outer)`` (``inner`` None:
    the structure of the first subtree under ``outer``)."""
    flat, treedef = tree_flatten(tree)
    if inner is None:
        inner = tree_structure(outer.flatten_up_to(tree)[0])
    n_in, n_out = inner.num_leaves, outer.num_leaves
    if treedef.num_leaves != n_in * n_out:
        raise TypeError(f"Mismatch\n{treedef}\n != \n{outer.compose(inner)}")
    rows = [flat[i * n_in:(i + 1) * n_in] for i in range(n_out)]
    return inner.unflatten(outer.unflatten(col) for col in zip(*rows))


# --- key paths --------------------------------------------------------------------------------------
@dataclasses.dataclass(frozen=True)
class SequenceKey:
    idx: int

    def __str__(self) -> str:
        return f"[{self.idx}]"


@dataclasses.dataclass(frozen=True)
class DictKey:
    key: Any

    def __str__(self) -> str:
        return f"[{self.key!r}]"


@dataclasses.dataclass(frozen=True)
class GetAttrKey:
    name: str

    def __str__(self) -> str:
        return f".{self.name}"


@dataclasses.dataclass(frozen=True)
class FlattenedIndexKey:
    key: int

    def __str__(self) -> str:
        return f"[<flat index {self.key}>]"

    def __hash__(self) -> int:  # distinct from SequenceKey(key)'s, as in JAX
        return hash((FlattenedIndexKey, self.key))


def _child_keys(x: Any, t: type, nt: _NodeType | None, aux: Any, n: int) -> list:
    if nt is None:
        return [GetAttrKey(f) for f in type(x)._fields]
    if t in (dict, collections.OrderedDict):
        return [DictKey(k) for k in aux]
    if t is collections.defaultdict:
        return [DictKey(k) for k in aux[1]]
    if nt.keys is not None:
        return nt.keys(x, aux)
    if t in (tuple, list):
        return [SequenceKey(i) for i in range(n)]
    return [FlattenedIndexKey(i) for i in range(n)]


def tree_flatten_with_path(tree: Any, is_leaf: Callable | None = None,
                           is_leaf_takes_path: bool = False) -> tuple[list, PyTreeDef]:
    """``([(key_path, leaf), ...], treedef)``; ``is_leaf(path, x)`` when ``is_leaf_takes_path``."""
    out: list = []

    def go(x, path) -> PyTreeDef:
        if is_leaf is not None and (is_leaf(path, x) if is_leaf_takes_path else is_leaf(x)):
            out.append((path, x))
            return _LEAF
        t, nt = _node_of(x)
        if t is None:
            out.append((path, x))
            return _LEAF
        children, aux = _children(x, nt)
        children = list(children)
        keys = _child_keys(x, t, nt, aux, len(children))
        return PyTreeDef(t, aux, tuple(go(c, path + (k,)) for k, c in zip(keys, children)))

    treedef = go(tree, ())
    return out, treedef


def tree_map_with_path(f: Callable, tree: Any, *rest: Any, is_leaf: Callable | None = None,
                       is_leaf_takes_path: bool = False) -> Any:
    with_path, treedef = tree_flatten_with_path(tree, is_leaf, is_leaf_takes_path)
    rest_leaves = _flatten_rest(treedef, tree, rest, None if is_leaf_takes_path else is_leaf)
    return treedef.unflatten(f(p, x, *xs) for (p, x), *xs in zip(with_path, *rest_leaves))


def _simple_keystr(key: Any) -> str:
    """A key entry's bare key (``0``, ``foo``), for ``keystr(simple=True)``."""
    for cls, field in ((SequenceKey, "idx"), (DictKey, "key"), (GetAttrKey, "name"), (FlattenedIndexKey, "key")):
        if isinstance(key, cls):
            return str(getattr(key, field))
    return str(key)


def keystr(path: tuple, *, simple: bool = False, separator: str = "") -> str:
    """The key path as a string (``simple``: bare keys, e.g. ``foo/0`` with ``separator='/'``)."""
    return separator.join(map(_simple_keystr if simple else str, path))


class _HashableCallableShim:
    """Delegates ``__call__``, ``__hash__`` and ``__eq__`` to ``fun`` (keeps a wrapped partial from merging)."""

    def __init__(self, fun: Callable):
        self.fun = fun

    def __call__(self, *args, **kw):
        return self.fun(*args, **kw)

    def __hash__(self) -> int:
        return hash(self.fun)

    def __eq__(self, other) -> bool:
        return self.fun == (other.fun if isinstance(other, _HashableCallableShim) else other)

    def __repr__(self) -> str:
        return f"_HashableCallableShim({self.fun!r})"


class Partial(functools.partial):
    """A ``functools.partial`` that is a pytree: its own bound arguments are leaves (a wrapped
    ``functools.partial`` stays the static ``func``, its arguments are not merged in)."""

    def __new__(klass, func, *args, **kw):
        if isinstance(func, functools.partial):
            original = func
            func = _HashableCallableShim(original)
            out = super().__new__(klass, func, *args, **kw)
            func.func, func.args, func.keywords = original.func, original.args, original.keywords
            return out
        return super().__new__(klass, func, *args, **kw)


register_pytree_node(Partial, lambda p: ((p.args, p.keywords), p.func),
                     lambda func, xs: Partial(func, *xs[0], **xs[1]))
