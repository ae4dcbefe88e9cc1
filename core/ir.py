"""The IR: abstract values, variables, equations and jaxprs, with a printer JAX users recognise."""
from __future__ import annotations

import itertools
from typing import Any, NamedTuple

import numpy as np

from . import dtypes


class ShapedArray:
    """The abstract value of an array: shape, dtype and whether its type is weak (a Python scalar's)."""

    __slots__ = ("shape", "dtype", "weak_type", "sharding", "_hash")
    array_abstraction_level = 1

    def __init__(self, shape: tuple, dtype, weak_type: bool = False, sharding: Any = None):
        """(``sharding``: the NamedSharding over an AbstractMesh of an array on a mesh with Explicit axes, its
        spec naming only those axes (``explicit_sharding``); None for every other array.)"""
        self.shape = tuple(shape)
        self.dtype = np.dtype(dtype)
        self.weak_type = bool(weak_type)
        self.sharding = sharding
        self._hash = hash((self.shape, self.dtype, self.weak_type) if sharding is None else
                          (self.shape, self.dtype, self.weak_type, sharding))

    ndim = property(lambda self: len(self.shape))
    size = property(lambda self: int(np.prod(self.shape, dtype=np.int64)))

    def update(self, shape=None, dtype=None, weak_type=None, sharding=None) -> "ShapedArray":
        """(The sharding is kept unless the rank changes.)"""
        shape = self.shape if shape is None else shape
        if sharding is None and len(shape) == len(self.shape):
            sharding = self.sharding
        return ShapedArray(shape, self.dtype if dtype is None else dtype,
                           self.weak_type if weak_type is None else weak_type, sharding)

    def strip_weak_type(self) -> "ShapedArray":
        return self.update(weak_type=False) if self.weak_type else self

    def __eq__(self, other) -> bool:
        return (type(other) is ShapedArray and self.shape == other.shape and self.dtype == other.dtype
                and self.weak_type == other.weak_type and self.sharding == other.sharding)

    def __hash__(self) -> int:
        return self._hash

    def str_short(self, short_dtypes: bool = True) -> str:
        """``f32[8@x,4]``: each dimension with the mesh axes splitting it in the type (``short_dtypes=False``:
        the dtype's full name, as ``jax.typeof`` prints it)."""
        name = dtypes.short_name(self.dtype) if short_dtypes else self.dtype.name
        return f"{name}[{','.join(_dim_str(n, e) for n, e in zip(self.shape, self._spec()))}]"

    def _spec(self) -> tuple:
        spec = () if self.sharding is None else tuple(self.sharding.spec)
        return spec + (None,) * (len(self.shape) - len(spec))

    def __repr__(self) -> str:
        weak = ", weak_type=True" if self.weak_type else ""
        return f"ShapedArray({self.str_short(short_dtypes=False)}{weak})"  # (as JAX prints it)

    def __str__(self) -> str:
        """As JAX prints a type (``jax.typeof``): ``~float32[8@x,4]`` (``~``: a weak type)."""
        return ("~" if self.weak_type else "") + self.str_short(short_dtypes=False)

    def at_least_vspace(self) -> "ShapedArray":
        """The aval of this value's tangents (float0 for integers, as in JAX)."""
        if dtypes.kind(self.dtype) in "biu":
            return ShapedArray(self.shape, dtypes.float0)
        return self


def _dim_str(size: int, entry: Any) -> str:
    if entry is None:
        return str(size)
    return f"{size}@({','.join(entry)})" if isinstance(entry, tuple) else f"{size}@{entry}"


class Var:
    """A variable of the IR, bound once by a jaxpr input or an equation output."""

    __slots__ = ("aval", "count")
    _counter = itertools.count()

    def __init__(self, aval: ShapedArray):
        self.aval = aval
        self.count = next(Var._counter)

    def __repr__(self) -> str:
        return f"Var({self.count}:{self.aval.str_short()})"


class Literal:
    """A scalar constant inlined in an equation."""

    __slots__ = ("val", "aval")

    def __init__(self, val: Any, aval: ShapedArray):
        self.val = val
        self.aval = aval

    def __repr__(self) -> str:
        return f"Literal({self.val})"


Atom = Var | Literal


class DropVar(Var):
    """An output nobody reads (printed as ``_``)."""


class JaxprEqn(NamedTuple):
    primitive: Any
    inputs: list
    params: dict
    out_binders: list
    source_info: Any = None  # a source_info.SourceInfo when staged from user code (passes keep it)

    @property
    def invars(self) -> list:
        return self.inputs

    @property
    def outvars(self) -> list:
        return self.out_binders


class Jaxpr:
    """A typed, first-order program: ``{ lambda consts ; inputs . let eqns in (outs) }``."""

    __slots__ = ("constvars", "in_binders", "eqns", "outs", "effects")

    def __init__(self, constvars: list, in_binders: list, eqns: list, outs: list):
        self.constvars = list(constvars)
        self.in_binders = list(in_binders)
        self.eqns = list(eqns)
        self.outs = list(outs)
        self.effects = frozenset().union(*map(eqn_effects, self.eqns))

    invars = property(lambda self: self.in_binders)
    outvars = property(lambda self: self.outs)
    in_avals = property(lambda self: [v.aval for v in self.in_binders])
    out_avals = property(lambda self: [v.aval for v in self.outs])

    def __repr__(self) -> str:
        return pp_jaxpr(self)

    def __hash__(self) -> int:
        return id(self)

    def __eq__(self, other) -> bool:
        return self is other


class ClosedJaxpr:
    """A jaxpr together with the values of its constvars."""

    __slots__ = ("jaxpr", "consts", "__weakref__")

    def __init__(self, jaxpr: Jaxpr, consts: list):
        assert len(jaxpr.constvars) == len(consts)
        self.jaxpr = jaxpr
        self.consts = list(consts)

    in_avals = property(lambda self: self.jaxpr.in_avals)
    out_avals = property(lambda self: self.jaxpr.out_avals)
    eqns = property(lambda self: self.jaxpr.eqns)
    effects = property(lambda self: self.jaxpr.effects)

    def __repr__(self) -> str:
        return pp_jaxpr(self.jaxpr)

    def __hash__(self) -> int:
        return id(self)

    def __eq__(self, other) -> bool:
        return self is other

    _repr_pretty_ = lambda self, p, cycle: p.text(repr(self))


def subjaxprs(params: dict):
    """The jaxprs held in an equation's params (bodies of jit, cond branches, loop bodies, ...)."""
    for v in params.values():
        for x in (v if isinstance(v, tuple) else (v,)):
            if isinstance(x, ClosedJaxpr):
                yield x.jaxpr
            elif isinstance(x, Jaxpr):
                yield x


effect_rules: dict = {}  # primitive -> rule(params) -> frozenset of its side effects (core.effects)


def eqn_effects(eqn: JaxprEqn) -> frozenset:
    """The side effects of an equation: its primitive's and those of the jaxprs in its params."""
    rule = effect_rules.get(eqn.primitive)
    own = rule(eqn.params) if rule is not None else frozenset()
    return own.union(*(sub.effects for sub in subjaxprs(eqn.params)))


def iter_eqns(jaxpr: Jaxpr):
    """Every equation of ``jaxpr`` and of the jaxprs nested in it."""
    for eqn in jaxpr.eqns:
        yield eqn
        for sub in subjaxprs(eqn.params):
            yield from iter_eqns(sub)


# --- printing -----------------------------------------------------------------------------------------
def _names():
    for n in itertools.count():
        s, n2 = "", n
        while True:
            s = chr(ord("a") + n2 % 26) + s
            n2 = n2 // 26 - 1
            if n2 < 0:
                break
        yield s


class _Namer:
    def __init__(self):
        self.names: dict[int, str] = {}
        self.gen = _names()

    def __call__(self, v) -> str:
        if isinstance(v, Literal):
            return _pp_literal(v)
        if isinstance(v, DropVar):
            return "_"
        if id(v) not in self.names:
            self.names[id(v)] = next(self.gen)
        return self.names[id(v)]


def _pp_literal(lit: Literal) -> str:
    val = np.asarray(lit.val)
    if val.dtype == np.bool_:
        s = str(bool(val))
    elif dtypes.kind(val.dtype) == "f":
        s = str(val[()])  # shortest repr that round-trips in the literal's own dtype
    else:
        s = str(int(val))
    return f"{s}:{lit.aval.str_short()}"


def _pp_param(v: Any, namer_indent: int) -> str:
    if isinstance(v, ClosedJaxpr):
        v = v.jaxpr
    if isinstance(v, Jaxpr):
        body = pp_jaxpr(v, indent=namer_indent + 4)
        return "\n" + body
    if isinstance(v, tuple) and v and all(isinstance(x, (Jaxpr, ClosedJaxpr)) for x in v):
        return "(" + ", ".join(_pp_param(x, namer_indent) for x in v) + ")"
    if callable(v) and not isinstance(v, (np.dtype, type)):
        return getattr(v, "__name__", type(v).__name__)
    if isinstance(v, np.dtype):
        return dtypes.short_name(v) if v != dtypes.bool_ else "bool"
    return str(v)


def pp_jaxpr(jaxpr: Jaxpr, indent: int = 0) -> str:
    namer = _Namer()
    pad = " " * indent

    def binder(v):
        return f"{namer(v)}:{v.aval.str_short()}"

    consts = " ".join(binder(v) for v in jaxpr.constvars)
    ins = " ".join(binder(v) for v in jaxpr.in_binders)
    lines = [f"{pad}{{ lambda {consts}; {ins}. let"]
    for eqn in jaxpr.eqns:
        outs = " ".join(binder(v) if not isinstance(v, DropVar) else "_" for v in eqn.out_binders)
        params = " ".join(f"{k}={_pp_param(val, indent + 4)}" for k, val in sorted(eqn.params.items())
                          if not k.startswith("_"))
        args = " ".join(namer(x) for x in eqn.inputs)
        pstr = f"[{params}]" if params else ""
        lines.append(f"{pad}    {outs} = {eqn.primitive.name}{pstr} {args}".rstrip())
    outs = ", ".join(namer(v) for v in jaxpr.outs)
    lines.append(f"{pad}  in ({outs}{',' if len(jaxpr.outs) == 1 else ''}) }}")
    return "\n".join(lines)
