"""Jaxprs, pytree structures and values to JSON-ready data and back: the IR half of ``portax.export``.

Variables are numbered per jaxpr; arrays (consts, literals, array params) travel as raw little-endian bytes
with their dtype and shape; params keep their Python types (tuples, dtypes, enums, portax's named tuples and
dataclasses, nested jaxprs). Params holding Python functions are staged to jaxprs where the primitive allows
it (custom_jvp/custom_vjp rules), mapped to names (checkpoint policies) or refused (host callbacks).
"""
from __future__ import annotations

import base64
import dataclasses
import enum
import math
import sys
from typing import Any, Callable

import ml_dtypes
import numpy as np

from . import dtypes
from .interpreters.evaluation import eval_jaxpr
from .interpreters.staging import trace_to_jaxpr
from .ir import ClosedJaxpr, DropVar, Jaxpr, JaxprEqn, Literal, ShapedArray, Var
from .pytree import PyTreeDef, _registry as _pytree_registry
from .trace import Primitive, abstract_eval_rules


class ExportError(ValueError):
    """A program or value that the export format cannot represent, or bytes it cannot read."""


# --- arrays, dtypes, avals ------------------------------------------------------------------------------------
def encode_dtype(dt: np.dtype) -> str:
    return "float0" if dt == dtypes.float0 else np.dtype(dt).name


def decode_dtype(name: str) -> np.dtype:
    if name == "float0":
        return dtypes.float0
    if hasattr(ml_dtypes, name):
        return np.dtype(getattr(ml_dtypes, name))
    try:
        return np.dtype(name)
    except TypeError:
        raise ExportError(f"unknown dtype {name!r} in a serialized portax program") from None


def encode_array(x: Any) -> dict:
    a = np.asarray(x)
    if a.dtype == dtypes.float0:
        return {"dtype": "float0", "shape": list(a.shape), "data": ""}
    data = np.ascontiguousarray(a).astype(a.dtype.newbyteorder("<"), copy=False).tobytes()
    return {"dtype": encode_dtype(a.dtype), "shape": list(a.shape), "data": base64.b64encode(data).decode()}


def decode_array(d: dict) -> np.ndarray:
    dt = decode_dtype(d["dtype"])
    if dt == dtypes.float0:
        return np.zeros(d["shape"], dt)
    return np.frombuffer(base64.b64decode(d["data"]), dt.newbyteorder("<")).astype(dt).reshape(d["shape"])


def encode_aval(a: ShapedArray) -> list:
    return [list(a.shape), encode_dtype(a.dtype), a.weak_type]


def decode_aval(d: list) -> ShapedArray:
    return ShapedArray(tuple(d[0]), decode_dtype(d[1]), d[2])


# --- pytree structures ----------------------------------------------------------------------------------------
_BUILTIN_NODES = {tuple: "tuple", list: "list", dict: "dict", type(None): "None"}


def _qualname(t: type) -> str:
    return f"{t.__module__}:{t.__qualname__}"


# node types registered for serialization under a name: type -> (name, serialize_auxdata), name -> (type, deserialize)
_SERIALIZED_NODES: dict[type, tuple[str, Callable[[Any], bytes]]] = {}
_DESERIALIZED_NODES: dict[str, tuple[type, Callable[[bytes], Any]]] = {}


def register_pytree_node_serialization(nodetype: type, *, serialized_name: str,
                                       serialize_auxdata: Callable[[Any], bytes],
                                       deserialize_auxdata: Callable[[bytes], Any], from_children=None) -> type:
    """Serialize nodes of ``nodetype`` (a registered pytree node) under ``serialized_name``, their aux data
    through the given functions (``jax.export.register_pytree_node_serialization``)."""
    if from_children is not None:
        raise NotImplementedError("register_pytree_node_serialization: from_children is not supported by portax; the "
                                  "node type's registered unflatten function builds deserialized nodes")
    if nodetype in _SERIALIZED_NODES:
        raise ValueError(f"Duplicate serialization registration for type `{nodetype}`. Previous registration was "
                         f"with serialized_name `{_SERIALIZED_NODES[nodetype][0]}`.")
    if serialized_name in _DESERIALIZED_NODES:
        raise ValueError(f"Duplicate serialization registration for serialized_name `{serialized_name}`. Previous "
                         f"registration was for type `{_DESERIALIZED_NODES[serialized_name][0]}`.")
    _SERIALIZED_NODES[nodetype] = (serialized_name, serialize_auxdata)
    _DESERIALIZED_NODES[serialized_name] = (nodetype, deserialize_auxdata)
    return nodetype


def register_namedtuple_serialization(nodetype: type, *, serialized_name: str) -> type:
    """Serialize namedtuples of ``nodetype`` under ``serialized_name``."""
    return register_pytree_node_serialization(nodetype, serialized_name=serialized_name,
                                              serialize_auxdata=lambda _: b"", deserialize_auxdata=lambda _: None)


def encode_tree(t: PyTreeDef) -> Any:
    if t.node_type is None:
        return "*"
    children = [encode_tree(c) for c in t.subtrees]
    if t.node_type in _SERIALIZED_NODES:
        name, serialize_aux = _SERIALIZED_NODES[t.node_type]
        return {"serialized_node": name, "aux_bytes": base64.b64encode(serialize_aux(t.aux)).decode(),
                "children": children}
    node = {"node": _BUILTIN_NODES.get(t.node_type) or _qualname(t.node_type), "children": children}
    if t.aux is not None:
        node["aux"] = encode_value(t.aux, f"the aux data of pytree node {_qualname(t.node_type)}")
    return node


def decode_tree(d: Any) -> PyTreeDef:
    if d == "*":
        return PyTreeDef(None, None, ())
    children = tuple(decode_tree(c) for c in d["children"])
    if "serialized_node" in d:
        if d["serialized_node"] not in _DESERIALIZED_NODES:
            raise ExportError(f"the serialized pytree uses the node type serialized as {d['serialized_node']!r}, "
                              "which is not registered with register_pytree_node_serialization in this process")
        node_type, deserialize_aux = _DESERIALIZED_NODES[d["serialized_node"]]
        return PyTreeDef(node_type, deserialize_aux(base64.b64decode(d["aux_bytes"])), children)
    name = d["node"]
    node_type = next((t for t, k in _BUILTIN_NODES.items() if k == name), None) or _find_node_type(name)
    return PyTreeDef(node_type, decode_value(d["aux"]) if "aux" in d else None, children)


def _find_node_type(name: str) -> type:
    """A registered pytree node type (or a namedtuple class of a loaded module) by its qualified name."""
    found = [t for t in _pytree_registry if _qualname(t) == name]
    if not found:
        t = _loaded_class(name)
        if t is not None and issubclass(t, tuple) and hasattr(t, "_fields"):
            found = [t]
    if not found:
        raise ExportError(f"the serialized pytree uses the node type {name}, which is not registered in this process: "
                          "import the module that defines and registers it before deserializing")
    return found[0]


def _loaded_class(name: str) -> Any:
    """The class ``module:qualname`` if its module is already imported (nothing is imported here)."""
    module, _, qual = name.partition(":")
    obj = sys.modules.get(module)
    for part in qual.split("."):
        obj = getattr(obj, part, None)
    return obj if isinstance(obj, type) else None


# --- param values -----------------------------------------------------------------------------------------------
def encode_value(v: Any, where: str, order: int = 0) -> Any:
    """JSON-ready data for a param value (or pytree aux data); ``where`` names it in errors, ``order`` is the
    derivative order whose custom rules nested jaxprs keep."""
    if v is None or isinstance(v, (bool, str)):
        return v
    if isinstance(v, enum.Enum):
        return {"enum": _portax_class(v, where), "name": v.name}
    if isinstance(v, int) and type(v) is int:
        return v
    if type(v) is float:
        return v if math.isfinite(v) else {"float": repr(v)}
    if isinstance(v, np.dtype):
        return {"np_dtype": encode_dtype(v)}
    if isinstance(v, type) and v in (int, float, bool, complex):
        return {"py_type": v.__name__}
    if isinstance(v, type) and issubclass(v, np.generic):
        return {"np_dtype": encode_dtype(np.dtype(v))}
    if isinstance(v, (np.ndarray, np.generic)):
        return {"array": encode_array(v)}
    if isinstance(v, ShapedArray):
        return {"aval": encode_aval(v)}
    if isinstance(v, ClosedJaxpr):
        return {"closed_jaxpr": encode_closed(v, order)}
    if isinstance(v, Jaxpr):
        return {"jaxpr": encode_closed(ClosedJaxpr(v, [None] * len(v.constvars)), order, open_jaxpr=True)}
    if isinstance(v, _Rule):
        return {"rule": encode_closed(v.closed, order - 1)}
    if isinstance(v, tuple) and hasattr(type(v), "_fields"):
        return {"namedtuple": _portax_class(v, where), "fields": [encode_value(x, where, order) for x in v]}
    if dataclasses.is_dataclass(v) and not isinstance(v, type):
        return {"dataclass": _portax_class(v, where),
                "fields": {f.name: encode_value(getattr(v, f.name), where, order) for f in dataclasses.fields(v)}}
    if isinstance(v, tuple):
        return {"tuple": [encode_value(x, where, order) for x in v]}
    if isinstance(v, list):
        return {"list": [encode_value(x, where, order) for x in v]}
    if isinstance(v, (frozenset, set)):
        return {"frozenset": [encode_value(x, where, order) for x in sorted(v, key=repr)]}
    if isinstance(v, dict):
        return {"dict": [[encode_value(k, where, order), encode_value(x, where, order)] for k, x in v.items()]}
    if isinstance(v, slice):
        return {"slice": [encode_value(x, where, order) for x in (v.start, v.stop, v.step)]}
    raise ExportError(f"cannot serialize {where}: a value of type {type(v).__name__} ({v!r:.80})")


def _portax_class(v: Any, where: str) -> str:
    name = _qualname(type(v))
    if not name.startswith("portax"):
        raise ExportError(f"cannot serialize {where}: {name} is not one of portax's own types")
    return name


def decode_value(d: Any) -> Any:
    if not isinstance(d, dict):
        return d
    (tag, val), *rest = d.items()
    if tag == "enum":
        return getattr(_portax_type(val), d["name"])
    if tag == "float":
        return float(val)
    if tag == "np_dtype":
        return decode_dtype(val)
    if tag == "py_type":
        return {"int": int, "float": float, "bool": bool, "complex": complex}[val]
    if tag == "array":
        a = decode_array(val)
        return a[()] if a.ndim == 0 else a
    if tag == "aval":
        return decode_aval(val)
    if tag in ("closed_jaxpr", "rule"):
        return decode_closed(val)
    if tag == "jaxpr":
        return decode_closed(val).jaxpr
    if tag == "namedtuple":
        return _portax_type(val)(*[decode_value(x) for x in d["fields"]])
    if tag == "dataclass":
        return _portax_type(val)(**{k: decode_value(x) for k, x in d["fields"].items()})
    if tag in ("tuple", "list", "frozenset"):
        return {"tuple": tuple, "list": list, "frozenset": frozenset}[tag](decode_value(x) for x in val)
    if tag == "dict":
        return {_hashable(decode_value(k)): decode_value(x) for k, x in val}
    if tag == "slice":
        return slice(*[decode_value(x) for x in val])
    raise ExportError(f"unknown value tag {tag!r} in a serialized portax program")


def _hashable(k: Any) -> Any:
    return tuple(k) if isinstance(k, list) else k


def _portax_type(name: str) -> type:
    t = _loaded_class(name) if name.startswith("portax") else None
    if t is None:
        raise ExportError(f"unknown type {name} in a serialized portax program")
    return t


# --- params holding functions ------------------------------------------------------------------------------------
# primitive name -> (encode(params, order) -> params without functions, decode(params) -> params with functions)
PARAM_CODECS: dict[str, tuple[Callable[[dict, int], dict], Callable[[dict], dict]]] = {}


@dataclasses.dataclass(frozen=True)
class _Rule:
    """A custom derivative rule staged to a jaxpr: serialized with one derivative order less (a rule may call
    the function it differentiates, whose rule is then only needed for the next order)."""
    closed: ClosedJaxpr


def _staged(fun: Callable, avals: list) -> _Rule:
    jaxpr, consts = trace_to_jaxpr(fun, avals)
    return _Rule(ClosedJaxpr(jaxpr, consts))


def _beyond_order(kind: str) -> Callable:
    def rule(*_):
        raise ExportError(f"this deserialized function was serialized without the {kind} rule needed for a derivative "
                          "of this order: serialize it with a larger vjp_order (Exported.serialize(vjp_order=...))")
    return rule


def _encode_custom_jvp(params: dict, order: int) -> dict:
    if order <= 0:
        return dict(params, jvp=None)
    closed, n = params["call_jaxpr"], params["num_consts"]
    avals = closed.in_avals[n:]
    jvp = params["jvp"]

    def flat(*args):
        outs, t_outs = jvp(list(args[:len(avals)]), list(args[len(avals):]))
        return list(outs) + list(t_outs)
    staged = _staged(flat, avals + [a.at_least_vspace() for a in avals])
    return dict(params, jvp=staged)


def _decode_custom_jvp(params: dict) -> dict:
    staged = params["jvp"]
    if staged is None:
        return dict(params, jvp=_beyond_order("custom_jvp"))

    def jvp(ps, ts):
        outs = eval_jaxpr(staged.jaxpr, staged.consts, *ps, *ts)
        return outs[:len(outs) // 2], outs[len(outs) // 2:]
    return dict(params, jvp=jvp)


def _encode_custom_vjp(params: dict, order: int) -> dict:
    if order <= 0:
        return dict(params, fwd=None, bwd=None)
    closed, n = params["call_jaxpr"], params["num_consts"]
    avals, n_out = closed.in_avals[n:], len(closed.out_avals)
    fwd, bwd = params["fwd"], params["bwd"]

    def fwd_flat(*ps):
        outs, res = fwd(list(ps))
        return list(outs) + list(res)
    fwd_staged = _staged(fwd_flat, avals)
    res_avals = fwd_staged.closed.out_avals[n_out:]
    ct_avals = [a.at_least_vspace() for a in closed.out_avals]
    bwd_staged = _staged(lambda *a: list(bwd(list(a[:len(res_avals)]), list(a[len(res_avals):]))),
                         res_avals + ct_avals)
    return dict(params, fwd=fwd_staged, bwd=bwd_staged)


def _decode_custom_vjp(params: dict) -> dict:
    fwd_staged, bwd_staged = params["fwd"], params["bwd"]
    if fwd_staged is None:
        return dict(params, fwd=_beyond_order("custom_vjp"), bwd=_beyond_order("custom_vjp"))
    n_out = len(params["call_jaxpr"].out_avals)

    def fwd(ps):
        outs = eval_jaxpr(fwd_staged.jaxpr, fwd_staged.consts, *ps)
        return outs[:n_out], outs[n_out:]

    def bwd(res, cts):
        return eval_jaxpr(bwd_staged.jaxpr, bwd_staged.consts, *res, *cts)
    return dict(params, fwd=fwd, bwd=bwd)


def _encode_checkpoint(params: dict, order: int) -> dict:
    from . import ad_checkpoint as adc
    policy = params.get("policy")
    names = {id(p): n for n, p in vars(adc.checkpoint_policies).items()}
    if policy is None or id(policy) in names:
        return dict(params, policy=names.get(id(policy)))
    if isinstance(policy, (adc.SaveOnlyTheseNames, adc.SaveAnyNamesButThese)):
        return dict(params, policy=policy)  # a portax dataclass: serialized by value
    return dict(params, policy=None)  # a user's policy: only memory use differs (everything is recomputed)


def _decode_checkpoint(params: dict) -> dict:
    from . import ad_checkpoint as adc
    policy = params.get("policy")
    return dict(params, policy=getattr(adc.checkpoint_policies, policy) if isinstance(policy, str) else policy)


PARAM_CODECS.update(custom_jvp_call=(_encode_custom_jvp, _decode_custom_jvp),
                    custom_vjp_call=(_encode_custom_vjp, _decode_custom_vjp),
                    checkpoint=(_encode_checkpoint, _decode_checkpoint))


# --- jaxprs -------------------------------------------------------------------------------------------------------
def encode_closed(closed: ClosedJaxpr, order: int, open_jaxpr: bool = False) -> dict:
    jaxpr = closed.jaxpr
    index: dict = {}

    def bind(v: Var) -> list:
        index[v] = len(index)
        return encode_aval(v.aval)

    def atom(x: Any) -> Any:
        if type(x) is Literal:
            return {"literal": encode_array(np.asarray(x.val, x.aval.dtype)), "weak_type": x.aval.weak_type}
        return index[x]

    out = {"constvars": [bind(v) for v in jaxpr.constvars], "invars": [bind(v) for v in jaxpr.in_binders]}
    if not open_jaxpr:
        out["consts"] = [encode_array(c) for c in closed.consts]
    eqns = []
    for e in jaxpr.eqns:
        name = e.primitive.name
        codec = PARAM_CODECS.get(name)
        params = codec[0](e.params, order) if codec else e.params
        eqns.append({"primitive": name, "inputs": [atom(x) for x in e.inputs],
                     "params": {k: encode_value(v, f"the parameter {k!r} of {name}", order) for k, v in params.items()},
                     "outputs": [None if isinstance(v, DropVar) else bind(v) for v in e.out_binders],
                     "drop": [encode_aval(v.aval) for v in e.out_binders if isinstance(v, DropVar)]})
    out["eqns"] = eqns
    out["outvars"] = [atom(x) for x in jaxpr.outs]
    return out


def primitives_by_name() -> dict[str, Primitive]:
    return {p.name: p for p in abstract_eval_rules}


def decode_closed(d: dict, prims: dict[str, Primitive] | None = None) -> ClosedJaxpr:
    prims = primitives_by_name() if prims is None else prims
    vars_: list[Var] = []

    def bind(a: list) -> Var:
        v = Var(decode_aval(a))
        vars_.append(v)
        return v

    def atom(x: Any) -> Any:
        if isinstance(x, dict):
            val = decode_array(x["literal"])
            return Literal(val[()], ShapedArray(val.shape, val.dtype, x["weak_type"]))
        return vars_[x]

    constvars = [bind(a) for a in d["constvars"]]
    invars = [bind(a) for a in d["invars"]]
    eqns = []
    for e in d["eqns"]:
        p = prims.get(e["primitive"])
        if p is None:
            raise ExportError(f"the serialized program uses the primitive {e['primitive']!r}, which this process does "
                              "not know: it was exported by a newer portax or with a plugin that is not installed here")
        params = {k: decode_value(v) for k, v in e["params"].items()}
        codec = PARAM_CODECS.get(p.name)
        inputs = [atom(x) for x in e["inputs"]]
        drops = iter(e["drop"])
        outs = [bind(a) if a is not None else DropVar(decode_aval(next(drops))) for a in e["outputs"]]
        eqns.append(JaxprEqn(p, inputs, codec[1](params) if codec else params, outs))
    jaxpr = Jaxpr(constvars, invars, eqns, [atom(x) for x in d["outvars"]])
    consts = [decode_array(c) for c in d["consts"]] if "consts" in d else [None] * len(constvars)
    return ClosedJaxpr(jaxpr, consts)
