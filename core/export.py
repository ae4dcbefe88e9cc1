"""``portax.export``: a jitted function saved as its IR (jaxpr, avals, pytree structures, effects) in a small
versioned format that runs on any backend, including ones that did not exist when it was exported.

``export(jit(f))(*specs)`` traces ``f`` for shapes and dtypes; ``Exported.serialize()`` gives bytes;
``deserialize(b).call(*args)`` runs the program (eagerly or inside ``jit``, on whichever backend the
arguments or the enclosing ``jit`` use) and is differentiable to any order from its IR.
"""
from __future__ import annotations

import dataclasses
import json
from typing import Any, Callable, Sequence

import numpy as np

from . import trace as core
from .api import JitFunction, ShapeDtypeStruct, vjp as _vjp
from .ir import ClosedJaxpr, ShapedArray
from .primitives import call as call_prims
from .primitives.elementwise import asarray, convert_element_type
from .pytree import PyTreeDef, keystr, tree_flatten, tree_flatten_with_path, tree_unflatten
from .serialization import (ExportError, decode_array, decode_aval, decode_closed, decode_tree, encode_array, encode_aval,
                            encode_closed, encode_tree, register_namedtuple_serialization,
                            register_pytree_node_serialization)

MAGIC = b"portax.export\n"
VERSION = 1  # the format version this portax writes and the newest it reads
MIN_VERSION = 1


@dataclasses.dataclass(frozen=True, repr=False)
class Exported:
    """A function exported for given argument shapes and dtypes (``jax.export.Exported``)."""

    fun_name: str
    in_tree: PyTreeDef
    in_avals: tuple[ShapedArray, ...]
    out_tree: PyTreeDef
    out_avals: tuple[ShapedArray, ...]
    nr_devices: int
    platforms: tuple[str, ...]
    ordered_effects: tuple
    unordered_effects: tuple
    disabled_safety_checks: tuple
    calling_convention_version: int
    _closed: ClosedJaxpr  # inputs: the consts, then the flat arguments
    _consts: tuple

    in_shardings_hlo = property(lambda self: (None,) * len(self.in_avals))
    out_shardings_hlo = property(lambda self: (None,) * len(self.out_avals))
    module_kept_var_idx = property(lambda self: tuple(range(len(self.in_avals))))
    uses_global_constants = False

    @property
    def jaxpr(self) -> ClosedJaxpr:
        """The exported program (its first inputs are its constants)."""
        return self._closed

    def __repr__(self) -> str:
        ins = ", ".join(a.str_short() for a in self.in_avals)
        outs = ", ".join(a.str_short() for a in self.out_avals)
        return f"Exported({self.fun_name}: ({ins}) -> ({outs}), platforms={self.platforms})"

    def has_vjp(self) -> bool:
        """Always: the VJP of any order is derived from the IR."""
        return True

    def vjp(self) -> "Exported":
        """The exported VJP: flat primal arguments, then a cotangent per primal output, to the cotangents of
        the flat primal inputs."""
        n = len(self.in_avals)
        if any(a.dtype.kind not in "fc" for a in self.in_avals + self.out_avals):
            raise NotImplementedError("Exported.vjp(): the function has integer or boolean inputs or outputs, whose "
                                      "float0 cotangents a jitted function cannot return in portax; differentiate "
                                      "Exported.call with jax.grad or jax.vjp instead")

        def f_vjp(*args):
            primals, cts = args[:n], args[n:]
            _, pullback = _vjp(lambda *xs: self._call_flat(list(xs)), *primals)
            return list(pullback(list(cts)))
        specs = [ShapeDtypeStruct(a.shape, a.dtype) for a in self.in_avals + tuple(
            a.at_least_vspace() for a in self.out_avals)]
        return export(JitFunction(f_vjp))(*specs)

    def serialize(self, vjp_order: int = 0) -> bytearray:
        """The bytes of this export. Derivatives of any order come from the IR; ``vjp_order`` bounds the orders
        for which the custom derivative rules (``custom_jvp``/``custom_vjp``) of the program are kept."""
        data = {"version": VERSION, "fun_name": self.fun_name, "in_tree": encode_tree(self.in_tree),
                "out_tree": encode_tree(self.out_tree), "in_avals": [encode_aval(a) for a in self.in_avals],
                "out_avals": [encode_aval(a) for a in self.out_avals], "nr_devices": self.nr_devices,
                "platforms": list(self.platforms), "effects": sorted(map(str, self.ordered_effects +
                                                                         self.unordered_effects)),
                "jaxpr": encode_closed(self._closed, vjp_order), "consts": [encode_array(np.asarray(c)) for c in self._consts]}
        return bytearray(MAGIC + json.dumps(data, separators=(",", ":")).encode())

    def call(self, *args: Any, **kwargs: Any) -> Any:
        """Run the exported function on arguments of its exported structure, shapes and dtypes."""
        leaves, in_tree = tree_flatten((args, kwargs))
        if in_tree != self.in_tree:
            raise ValueError(f"The invocation args and kwargs must have the same pytree structure as when the function "
                             f"'{self.fun_name}' was exported, but they have the structure {in_tree} instead of "
                             f"{self.in_tree}.")
        flat = [self._check_arg(i, x) for i, x in enumerate(leaves)]
        return tree_unflatten(self.out_tree, self._call_flat(flat))

    def _call_flat(self, flat: list) -> list:
        return call_prims.pjit_p.bind(*self._consts, *flat, jaxpr=self._closed, name=self.fun_name)

    def _check_arg(self, i: int, x: Any) -> Any:
        expected, aval = self.in_avals[i], core.get_aval(x)
        where = self._arg_name(i)
        if len(expected.shape) != len(aval.shape):
            raise ValueError(f"Rank mismatch for {where}: expected {expected.shape} and called with {aval.shape}")
        if expected.dtype != aval.dtype and not aval.weak_type:
            raise ValueError(f"Dtype mismatch for {where}: expected {expected.dtype} and called with {aval.dtype}")
        if expected.shape != aval.shape:
            raise ValueError(f"Shape mismatch for {where} (expected same constant): expected {expected.shape} and "
                             f"called with {aval.shape}")
        x = asarray(x)
        return x if aval.dtype == expected.dtype else convert_element_type(x, expected.dtype)

    def _arg_name(self, i: int) -> str:
        paths = tree_flatten_with_path(tree_unflatten(self.in_tree, [0] * self.in_tree.num_leaves))[0]
        path = paths[i][0]
        return ("args" if path[0].idx == 0 else "kwargs") + keystr(path[1:])


def export(fun_jit: Callable, *, platforms: Sequence[str] | None = None,
           disabled_checks: Sequence = ()) -> Callable[..., Exported]:
    """``export(jit(f))(*args_specs, **kwargs_specs)``: ``f`` traced for these shapes and dtypes
    (``ShapeDtypeStruct`` or arrays), as an ``Exported`` that runs on any backend."""
    if not isinstance(fun_jit, JitFunction):
        raise ValueError(f"Function to be exported must be the result of `jit` but is: {fun_jit}")

    def do_export(*args_specs: Any, **kwargs_specs: Any) -> Exported:
        for leaf in tree_flatten((args_specs, kwargs_specs))[0]:
            shape = getattr(leaf, "shape", ())
            if not all(isinstance(d, (int, np.integer)) for d in shape):
                raise NotImplementedError(f"portax.export: symbolic shapes are not supported (got shape {shape}); "
                                          "export once per concrete shape.")
            if core.is_tracer(leaf):
                raise ValueError("portax.export takes shapes and dtypes (ShapeDtypeStruct) or concrete arrays, not "
                                 "values being traced")
        lowered = fun_jit.lower(*args_specs, **kwargs_specs)
        entry = lowered.entry
        consts = tuple(entry.consts)
        if any(core.is_tracer(c) for c in consts):
            raise ValueError("portax.export: the function closes over a value being traced")
        closed = entry.closed
        in_avals = tuple(closed.in_avals[len(consts):])
        effects = tuple(sorted(closed.jaxpr.effects, key=str)) if hasattr(closed.jaxpr, "effects") else ()
        _, in_tree = tree_flatten(fun_jit._split(args_specs, kwargs_specs)[1:])
        return Exported(fun_name=getattr(fun_jit, "__name__", "fun"), in_tree=in_tree, in_avals=in_avals,
                        out_tree=entry.out_tree, out_avals=tuple(closed.out_avals), nr_devices=1,
                        platforms=tuple(platforms) if platforms is not None else ("any",),
                        ordered_effects=tuple(e for e in effects if getattr(e, "ordered", False)),
                        unordered_effects=tuple(e for e in effects if not getattr(e, "ordered", False)),
                        disabled_safety_checks=tuple(disabled_checks), calling_convention_version=VERSION,
                        _closed=closed, _consts=consts)

    return do_export


def deserialize(blob: bytes | bytearray) -> Exported:
    """The ``Exported`` whose ``serialize()`` gave ``blob``."""
    blob = bytes(blob)
    if not blob.startswith(MAGIC):
        raise ValueError("portax.export.deserialize: these bytes are not a serialized portax export")
    try:
        data = json.loads(blob[len(MAGIC):])
    except ValueError as e:
        raise ValueError(f"portax.export.deserialize: corrupted serialization ({e})") from None
    version = data.get("version")
    if not isinstance(version, int) or version > VERSION or version < MIN_VERSION:
        raise ValueError(f"portax.export.deserialize: the serialization has format version {version}, but this portax "
                         f"reads versions {MIN_VERSION} to {VERSION}; it was written by a newer portax (upgrade "
                         "portax to load it)")
    closed = decode_closed(data["jaxpr"])
    consts = tuple(decode_array(c) for c in data["consts"])
    effects = tuple(sorted(closed.jaxpr.effects, key=str)) if hasattr(closed.jaxpr, "effects") else ()
    return Exported(fun_name=data["fun_name"], in_tree=decode_tree(data["in_tree"]),
                    in_avals=tuple(decode_aval(a) for a in data["in_avals"]), out_tree=decode_tree(data["out_tree"]),
                    out_avals=tuple(decode_aval(a) for a in data["out_avals"]), nr_devices=data["nr_devices"],
                    platforms=tuple(data["platforms"]),
                    ordered_effects=tuple(e for e in effects if getattr(e, "ordered", False)),
                    unordered_effects=tuple(e for e in effects if not getattr(e, "ordered", False)),
                    disabled_safety_checks=(), calling_convention_version=version, _closed=closed, _consts=consts)


def symbolic_shape(*args: Any, **kwargs: Any):
    raise NotImplementedError("portax.export: symbolic shapes are not supported; export once per concrete shape.")


__all__ = ["Exported", "ExportError", "deserialize", "export", "register_namedtuple_serialization",
           "register_pytree_node_serialization", "symbolic_shape"]
