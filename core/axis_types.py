"""``jax.sharding.auto_axes`` and ``explicit_axes``: run a function with some axes of the current mesh made Auto
(outside sharding in types: its rules do not apply to them, types do not show them) or Explicit.

Values keep their layout across the switch (as XLA keeps it in JAX); only their types change: a spec entry
naming an Auto axis is left out of the type (``type_sharding``).
"""
from __future__ import annotations

import functools
from typing import Any, Callable

from .array import Array
from .explicit_sharding import check_divisible, relaid, reshard
from .placement import committed_device
from .pytree import tree_flatten, tree_map, tree_unflatten
from .sharding import AxisType, Mesh, NamedSharding, PartitionSpec, current_mesh, use_mesh
from .trace import get_aval, is_tracer, is_tracing


def _new_mesh(axes: Any, axis_type: AxisType, name: str, shardings: Any = None) -> tuple[Mesh, Mesh, tuple] | None:
    """JAX's ``_get_new_mesh``: the mesh to use (the current one, else that of ``shardings``), it with ``axes``
    (all by default) of ``axis_type``, and ``axes``; None without a mesh."""
    cur = current_mesh()
    sharding_mesh = None
    for s in tree_flatten(shardings)[0]:
        if isinstance(s, NamedSharding):
            if sharding_mesh is not None and sharding_mesh.abstract_mesh != s.mesh.abstract_mesh:
                raise ValueError(f"Shardings passed to {name} should have the same mesh. Got one mesh "
                                 f"{sharding_mesh.abstract_mesh} and another {s.mesh}")
            sharding_mesh = s.mesh
    if sharding_mesh is None and cur.empty:
        return None
    if sharding_mesh is not None and not cur.empty and sharding_mesh.abstract_mesh != cur.abstract_mesh:
        raise ValueError(f"Context mesh {cur.abstract_mesh} must match the mesh passed to shardings "
                         f"{sharding_mesh.abstract_mesh}. Recommended approach is to use `jax.set_mesh` context "
                         "manager.")
    mesh = cur if not cur.empty else sharding_mesh
    if not isinstance(mesh, Mesh):
        raise NotImplementedError(f"{name} with shardings over an AbstractMesh and no mesh set by `jax.set_mesh` is "
                                  "not implemented in portax: set the mesh with `jax.set_mesh`")
    axes = mesh.axis_names if axes is None else axes if isinstance(axes, tuple) else (axes,)
    types = dict(zip(mesh.axis_names, mesh.axis_types))
    for a in axes:
        if types[a] == AxisType.Manual and axis_type in (AxisType.Auto, AxisType.Explicit):
            raise NotImplementedError("Going from `Manual` AxisType to `Auto` or `Explicit` AxisType is not allowed. "
                                      "Please file a bug at https://github.com/jax-ml/jax/issues with your use case")
    new = mesh.update(axis_types=tuple(axis_type if n in axes else t for n, t in types.items()))
    return mesh, new, axes


def _keyword(kwargs: dict, name: str, given: Any) -> Any:
    """The decorator's ``name`` argument, else the call's keyword argument ``name`` (taken out of ``kwargs``)."""
    if given is not None:
        return given
    if name not in kwargs:
        raise TypeError(f"Missing required keyword argument: '{name}'")
    return kwargs.pop(name)


def _relaid(xs: Any, mesh: Mesh) -> Any:
    """``xs`` resharded over ``mesh``, each leaf to the spec of its type (unsharded when untyped)."""
    leaves, tree = tree_flatten(xs)
    return tree_unflatten(tree, [relaid(x, NamedSharding(mesh, PartitionSpec(*get_aval(x)._spec()))) for x in leaves])


def _over(mesh: Mesh, shardings: Any) -> Any:
    """``shardings`` (a pytree prefix of PartitionSpecs and NamedShardings) with each PartitionSpec over ``mesh``."""
    return tree_map(lambda s: NamedSharding(mesh, s) if isinstance(s, PartitionSpec) else s, shardings,
                    is_leaf=lambda s: isinstance(s, (PartitionSpec, NamedSharding)))


def auto_axes(f: Callable | None = None, /, *, axes: str | tuple[str, ...] | None = None,
              out_sharding: Any = None) -> Callable:
    """``jax.sharding.auto_axes``: ``f`` run with the mesh axes ``axes`` (all by default) of the current mesh made
    Auto, its results resharded to ``out_sharding`` (else the call's keyword argument ``out_sharding``)."""
    if f is None:
        return lambda g: auto_axes(g, axes=axes, out_sharding=out_sharding)

    @functools.wraps(f)
    def wrapped(*args: Any, **kwargs: Any) -> Any:
        sharding = _keyword(kwargs, "out_sharding", out_sharding)
        info = _new_mesh(axes, AxisType.Auto, "auto_axes", sharding)
        if info is None:
            return f(*args, **kwargs)
        mesh, new, names = info
        if {n for n, t in zip(mesh.axis_names, mesh.axis_types) if t == AxisType.Auto} == set(names):
            return f(*args, **kwargs)
        args = _relaid(args, new)  # (each reshard is bound under the mesh of its operands: see reshard's transpose)
        with use_mesh(new):
            return reshard(f(*args, **kwargs), _over(mesh, sharding))
    return wrapped


def on_mesh(x: Any) -> Any:
    """``x`` (made by a creation function or a sampler) replicated over the mesh set by ``set_mesh`` (without Manual
    axes), as JAX makes it under such a mesh: typed so if the mesh has Explicit axes; laid out so (outside jit) if
    its axes are all Auto; as it is if typed already or committed to a device."""
    mesh = current_mesh()
    if mesh.empty or AxisType.Manual in mesh.axis_types:
        return x
    if get_aval(x).sharding is not None or not (is_tracer(x) or (type(x) is Array and committed_device([x]) is None)):
        return x
    if mesh.abstract_mesh.explicit_axes:
        return reshard(x, NamedSharding(mesh, PartitionSpec()))
    if is_tracer(x) or is_tracing() or not isinstance(mesh, Mesh):  # (Auto axes: not in types)
        return x
    from .api import device_put
    return device_put(x, NamedSharding(mesh, PartitionSpec()))


def maybe_auto_axes(f: Callable, out_sharding: NamedSharding | None, *args: Any) -> Any:
    """JAX's ``maybe_auto_axes`` (of the ``out_sharding=`` of samplers and indexing): ``f(*args)``, run, given
    ``out_sharding`` (canonical: ``canonicalize_sharding``), with the Explicit axes of its mesh made Auto, the result
    laid out and typed by it (which must divide its shape, as JAX's type check says)."""
    if out_sharding is None:
        return f(*args)
    mesh = out_sharding.mesh.abstract_mesh

    def run(*xs: Any) -> Any:
        out = f(*xs)
        for leaf in tree_flatten(out)[0]:
            check_divisible(get_aval(leaf), tuple(out_sharding.spec), mesh)
        return out
    return auto_axes(run, out_sharding=out_sharding, axes=mesh.explicit_axes)(*args)


def explicit_axes(f: Callable | None = None, /, *, axes: str | tuple[str, ...] | None = None,
                  in_sharding: Any = None) -> Callable:
    """``jax.sharding.explicit_axes``: ``f`` run with the mesh axes ``axes`` (all by default) of the current mesh
    made Explicit, its arguments resharded to ``in_sharding`` (else the call's keyword argument ``in_sharding``);
    its results keep their layout, typed over the current mesh again."""
    if f is None:
        return lambda g: explicit_axes(g, axes=axes, in_sharding=in_sharding)

    @functools.wraps(f)
    def wrapped(*args: Any, **kwargs: Any) -> Any:
        sharding = _keyword(kwargs, "in_sharding", in_sharding)
        info = _new_mesh(axes, AxisType.Explicit, "explicit_axes")
        if info is None:
            raise ValueError("Context mesh cannot be empty. Please use `jax.set_mesh` API to enter into a mesh "
                             "context when using `explicit_axes` API.")
        mesh, new, _ = info
        args = reshard(args, _over(new, sharding))  # (each reshard is bound under the mesh of its operands)
        with use_mesh(new):
            return _relaid(f(*args, **kwargs), mesh)
    return wrapped
