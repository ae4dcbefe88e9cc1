"""Complex numbers on backends without complex dtypes: ``lower`` rewrites a jaxpr whose values may be complex
into an equivalent jaxpr over real dtypes, each complex value becoming a (real, imaginary) pair.

Its inputs and outputs are flattened the same way (a complex input is two real inputs, in that order).
``COMPLEX_RULES`` holds one rule per primitive, ``rule(eqn, ins) -> outs``, where complex values are
``(re, im)`` tuples of traced real values; most primitives move data without arithmetic and act on each part
alike (``_componentwise``). Calls are inlined; cond, while and scan get lowered bodies. A primitive without a
rule raises NotImplementedError when the jaxpr is compiled.
"""
from __future__ import annotations

from typing import Any, Callable, Sequence

import numpy as np

from . import dtypes
from .ir import ClosedJaxpr, Jaxpr, Literal, ShapedArray, iter_eqns, subjaxprs
from .primitives import (call, contractions as co, control_flow as cf, custom_derivatives as cd, elementwise as ew,
                         indexing as ix, reductions as rd, sorting as so, structural as st)
from .numpy._util import power_by_squaring
from .trace import Primitive

Pair = tuple  # (re, im) of one complex value

COMPLEX_RULES: dict[Primitive, Callable[[Any, list], list]] = {}


def is_complex_aval(a: Any) -> bool:
    return isinstance(a, ShapedArray) and a.dtype.kind == "c"


def has_complex(jaxpr: Jaxpr) -> bool:
    """Whether any value of ``jaxpr`` (at any depth) is complex."""
    if any(is_complex_aval(v.aval) for v in jaxpr.in_binders + jaxpr.constvars + jaxpr.outs):
        return True
    return any(is_complex_aval(v.aval) for e in iter_eqns(jaxpr) for v in list(e.inputs) + list(e.out_binders))


def real_avals(avals: Sequence[ShapedArray]) -> list[ShapedArray]:
    """The avals of the flattened values: a complex aval becomes two of its part dtype."""
    out = []
    for a in avals:
        out += [a.update(dtype=dtypes.real_dtype(a.dtype))] * 2 if is_complex_aval(a) else [a]
    return out


def lower(closed: ClosedJaxpr) -> ClosedJaxpr:
    """``closed`` over real dtypes only, inputs and outputs flattened (see module doc)."""
    from .interpreters.staging import trace_to_jaxpr
    jaxpr = closed.jaxpr

    def run(*flat):
        args = _unflatten(list(flat), [v.aval for v in jaxpr.in_binders])
        return _flatten(evaluate(jaxpr, [_split_const(c) for c in closed.consts], args))
    out, consts = trace_to_jaxpr(run, real_avals([v.aval for v in jaxpr.in_binders]))
    return ClosedJaxpr(out, consts)


def evaluate(jaxpr: Jaxpr, consts: list, args: list) -> list:
    """Interpret ``jaxpr`` on real values and (re, im) pairs, binding real primitives (to the current trace)."""
    env: dict = {}

    def read(x):
        if type(x) is Literal:
            return _split_const(np.asarray(x.val, x.aval.dtype)) if is_complex_aval(x.aval) else x.val
        return env[x]
    env.update(zip(jaxpr.constvars, consts))
    env.update(zip(jaxpr.in_binders, args))
    for eqn in jaxpr.eqns:
        ins = [read(x) for x in eqn.inputs]
        if _touches_complex(eqn):
            rule = COMPLEX_RULES.get(eqn.primitive)
            if rule is None:
                dt = next((v.aval.dtype.name for v in list(eqn.inputs) + list(eqn.out_binders)
                           if is_complex_aval(v.aval)), "complex")
                raise NotImplementedError(f"{eqn.primitive.name} on {dt} values is not supported yet (portax "
                                          "splits complex numbers into real parts, and has no rule for this op)")
            outs = rule(eqn, ins)
        else:
            outs = eqn.primitive.bind(*ins, **eqn.params)
            outs = outs if eqn.primitive.multiple_results else [outs]
        env.update(zip(eqn.out_binders, outs))
    return [read(x) for x in jaxpr.outs]


def _touches_complex(eqn) -> bool:
    return any(is_complex_aval(v.aval) for v in list(eqn.inputs) + list(eqn.out_binders)) or \
        any(has_complex(j.jaxpr if isinstance(j, ClosedJaxpr) else j) for j in subjaxprs(eqn.params))


def _split_const(c: Any) -> Any:
    """A constant as a pair if it is complex (device arrays are split without a copy)."""
    from .array import Array
    if type(c) is Array and c.aval.dtype.kind == "c":
        part = c.aval.update(dtype=dtypes.real_dtype(c.aval.dtype))
        return Array(c._buf[0], part, c._device), Array(c._buf[1], part, c._device)
    v = np.asarray(c)
    if v.dtype.kind == "c":
        return np.array(v.real), np.array(v.imag)
    return c


def _flatten(values: list) -> list:
    out = []
    for v in values:
        out += list(v) if type(v) is tuple else [v]
    return out


def _unflatten(flat: list, avals: Sequence[ShapedArray]) -> list:
    it = iter(flat)
    return [(next(it), next(it)) if is_complex_aval(a) else next(it) for a in avals]


def _pair(x: Any) -> Pair:
    """A value as a pair (a real value gets a zero imaginary part)."""
    return x if type(x) is tuple else (x, st.zeros_like_array(x))


# --- rules ----------------------------------------------------------------------------------------------------
def _part(params: dict, k: int) -> dict:
    return {n: (v.real if k == 0 else v.imag) if isinstance(v, complex) else v for n, v in params.items()}


def _componentwise(eqn, ins: list) -> list:
    """Ops that move or add values act on the real and the imaginary parts alike (real operands such as
    indices and predicates are shared)."""
    p = eqn.primitive
    parts = [p.bind(*[x[k] if type(x) is tuple else x for x in ins], **_part(eqn.params, k)) for k in (0, 1)]
    if not p.multiple_results:
        return [tuple(parts)] if is_complex_aval(eqn.out_binders[0].aval) else [parts[0]]
    return [(r, i) if is_complex_aval(v.aval) else r for v, r, i in zip(eqn.out_binders, *parts)]


for _p in (*st.STRUCTURAL, ew.neg_p, ew.add_p, ew.sub_p, ew.select_n_p, ew.stop_gradient_p, rd.reduce_sum_p,
           rd.cumsum_p, ix.gather_p, ix.scatter_p, ix.scatter_add_p):
    COMPLEX_RULES[_p] = _componentwise


def _rule(*prims: Primitive):
    """Register ``fn(eqn, *ins) -> out`` (one output) as the rule of ``prims``."""
    def register(fn):
        for p in prims:
            COMPLEX_RULES[p] = lambda eqn, ins, fn=fn: [fn(eqn, *ins)]
        return fn
    return register


def _mul_parts(a: Pair, b: Pair) -> Pair:
    (ar, ai), (br, bi) = a, b
    return ew.sub(ew.mul(ar, br), ew.mul(ai, bi)), ew.add(ew.mul(ar, bi), ew.mul(ai, br))


@_rule(ew.mul_p)
def _mul(eqn, x, y):
    return _mul_parts(_pair(x), _pair(y))


@_rule(ew.div_p)
def _div(eqn, x, y):
    (xr, xi), (yr, yi) = _pair(x), _pair(y)
    den = ew.add(ew.mul(yr, yr), ew.mul(yi, yi))
    return (ew.div(ew.add(ew.mul(xr, yr), ew.mul(xi, yi)), den),
            ew.div(ew.sub(ew.mul(xi, yr), ew.mul(xr, yi)), den))


@_rule(ew.square_p)
def _square(eqn, x):
    return _mul_parts(x, x)


@_rule(ew.integer_pow_p)
def _integer_pow(eqn, x):
    y = eqn.params["y"]
    if y == 0:
        return st.full_like(x[0], 1), st.zeros_like_array(x[1])
    acc = power_by_squaring(x, abs(y), _mul_parts)
    return _div(eqn, (st.full_like(acc[0], 1), st.zeros_like_array(acc[1])), acc) if y < 0 else acc


@_rule(rd.reduce_prod_p)
def _prod(eqn, x):
    """Pairwise products over the reduced axes (moved last and merged), halving them log2(n) times."""
    axes = eqn.params["axes"]
    shape = eqn.inputs[0].aval.shape
    kept = [i for i in range(len(shape)) if i not in axes]
    n = int(np.prod([shape[i] for i in axes]))
    out_shape = tuple(shape[i] for i in kept)
    re, im = (st.reshape(st.transpose(p, kept + list(axes)), out_shape + (n,)) for p in x)
    if n == 0:
        dt = dtypes.real_dtype(eqn.inputs[0].aval.dtype)
        return st.full(out_shape, 1, dt), st.full(out_shape, 0, dt)
    while n > 1:
        if n % 2:
            cfg = [(0, 0, 0)] * len(out_shape) + [(0, 1, 0)]
            re, im = st.pad(re, ew._const(re, 1), cfg), st.pad(im, ew._const(im, 0), cfg)
            n += 1
        halves = [tuple(st.slice_in_dim(p, k, n, 2, len(out_shape)) for p in (re, im)) for k in (0, 1)]
        re, im = _mul_parts(*halves)
        n //= 2
    return st.reshape(re, out_shape), st.reshape(im, out_shape)


@_rule(co.dot_general_p)
def _dot(eqn, x, y):
    params = dict(eqn.params)
    if params.get("preferred_element_type") is not None:
        params["preferred_element_type"] = dtypes.real_dtype(params["preferred_element_type"])
    dot = lambda a, b: co.dot_general_p.bind(a, b, **params)
    (xr, xi), (yr, yi) = _pair(x), _pair(y)
    return ew.sub(dot(xr, yr), dot(xi, yi)), ew.add(dot(xr, yi), dot(xi, yr))


@_rule(ew.real_p)
def _real(eqn, x):
    return x[0]


@_rule(ew.imag_p)
def _imag(eqn, x):
    return x[1]


@_rule(ew.conj_p)
def _conj(eqn, x):
    return x[0], ew.neg(x[1])


@_rule(ew.complex_p)
def _complex(eqn, x, y):
    return x, y


@_rule(ew.convert_element_type_p)
def _convert(eqn, x):
    new = eqn.params["new_dtype"]
    part = dtypes.real_dtype(new)
    conv = lambda v: ew.convert_element_type_p.bind(v, new_dtype=part, weak_type=eqn.params["weak_type"])
    if new.kind != "c":  # complex -> real keeps the real part, as in JAX
        return conv(x[0])
    re, im = _pair(x)
    return conv(re), conv(im)


@_rule(ew.eq_p, ew.ne_p)
def _compare(eqn, x, y):
    (xr, xi), (yr, yi) = _pair(x), _pair(y)
    if eqn.primitive is ew.eq_p:
        return ew.bitwise_and(ew.eq(xr, yr), ew.eq(xi, yi))
    return ew.bitwise_or(ew.ne(xr, yr), ew.ne(xi, yi))


def _modulus(re, im):
    """|re + i im| without overflow or underflow in the squares."""
    a, b = ew.abs(re), ew.abs(im)
    big, small = ew.max(a, b), ew.min(a, b)
    safe = ew.select(ew.eq(big, st.zeros_like_array(big)), st.full_like(big, 1), big)
    ratio = ew.div(small, safe)
    return ew.mul(big, ew.sqrt(ew.add(st.full_like(big, 1), ew.mul(ratio, ratio))))


@_rule(ew.abs_p)
def _abs(eqn, x):
    return _modulus(*x)


@_rule(ew.sign_p)
def _sign(eqn, x):
    r = _modulus(*x)
    zero = ew.eq(r, st.zeros_like_array(r))
    safe = ew.select(zero, st.full_like(r, 1), r)
    return ew.div(x[0], safe), ew.div(x[1], safe)


@_rule(ew.exp_p)
def _exp(eqn, x):
    m = ew.exp(x[0])
    return ew.mul(m, ew.cos(x[1])), ew.mul(m, ew.sin(x[1]))


@_rule(ew.log_p)
def _log(eqn, x):
    return ew.log(_modulus(*x)), ew.atan2(x[1], x[0])


@_rule(ew.sqrt_p)
def _sqrt(eqn, x):
    re, im = x
    r = _modulus(re, im)
    half = st.full_like(r, 0.5)
    out_re = ew.sqrt(ew.mul(half, ew.add(r, re)))
    out_im = ew.sqrt(ew.mul(half, ew.sub(r, re)))
    negative = ew.lt(im, st.zeros_like_array(im))  # the principal root: sign of the imaginary part
    return out_re, ew.select(negative, ew.neg(out_im), out_im)


@_rule(ew.sin_p)
def _sin(eqn, x):
    re, im = x
    return ew.mul(ew.sin(re), ew.cosh(im)), ew.mul(ew.cos(re), ew.sinh(im))


@_rule(ew.cos_p)
def _cos(eqn, x):
    re, im = x
    return ew.mul(ew.cos(re), ew.cosh(im)), ew.neg(ew.mul(ew.sin(re), ew.sinh(im)))


@_rule(ew.sinh_p)
def _sinh(eqn, x):
    re, im = x
    return ew.mul(ew.sinh(re), ew.cos(im)), ew.mul(ew.cosh(re), ew.sin(im))


@_rule(ew.cosh_p)
def _cosh(eqn, x):
    re, im = x
    return ew.mul(ew.cosh(re), ew.cos(im)), ew.mul(ew.sinh(re), ew.sin(im))


@_rule(ew.tan_p)
def _tan(eqn, x):
    re, im = x
    two = st.full_like(re, 2)
    den = ew.add(ew.cos(ew.mul(two, re)), ew.cosh(ew.mul(two, im)))
    return ew.div(ew.sin(ew.mul(two, re)), den), ew.div(ew.sinh(ew.mul(two, im)), den)


@_rule(ew.expm1_p)
def _expm1(eqn, x):
    """e^z - 1 = (e^a cos b - 1) + i e^a sin b, with e^a cos b - 1 = expm1(a) cos b - 2 sin^2(b/2) (no cancellation)."""
    re, im = x
    half_sin = ew.sin(ew.mul(im, st.full_like(im, 0.5)))
    out_re = ew.sub(ew.mul(ew.expm1(re), ew.cos(im)), ew.mul(st.full_like(im, 2), ew.mul(half_sin, half_sin)))
    return out_re, ew.mul(ew.exp(re), ew.sin(im))


@_rule(ew.log1p_p)
def _log1p(eqn, x):
    """log(1 + z): the modulus of 1 + z from log1p(2a + a^2 + b^2) / 2, exact for small z."""
    re, im = x
    return (ew.mul(st.full_like(re, 0.5), ew.log1p(ew.add(ew.mul(re, ew.add(re, st.full_like(re, 2))), ew.mul(im, im)))),
            ew.atan2(im, ew.add(re, st.full_like(re, 1))))


@_rule(ew.rsqrt_p)
def _rsqrt(eqn, x):
    one = (st.full_like(x[0], 1), st.zeros_like_array(x[1]))
    return _div(eqn, one, _sqrt(eqn, x))


@_rule(ew.tanh_p)
def _tanh(eqn, x):
    re, im = x
    two = st.full_like(re, 2)
    den = ew.add(ew.cosh(ew.mul(two, re)), ew.cos(ew.mul(two, im)))
    return ew.div(ew.sinh(ew.mul(two, re)), den), ew.div(ew.sin(ew.mul(two, im)), den)


def _sort(eqn, ins: list) -> list:
    """Complex keys sort lexicographically, by real then imaginary part (as in JAX): each is two keys."""
    num_keys = eqn.params["num_keys"]
    outs = so.sort_p.bind(*_flatten(ins), **{**eqn.params, "num_keys": _count(ins[:num_keys])})
    return _unflatten(list(outs), [v.aval for v in eqn.out_binders])


COMPLEX_RULES[so.sort_p] = _sort


# --- calls and control flow --------------------------------------------------------------------------------
_CALL_BODIES = {call.pjit_p: "jaxpr", call.checkpoint_p: "jaxpr", cd.custom_jvp_call_p: "call_jaxpr",
                cd.custom_vjp_call_p: "call_jaxpr"}


def _inline(eqn, ins: list) -> list:
    body = eqn.params[_CALL_BODIES[eqn.primitive]]
    if isinstance(body, ClosedJaxpr):
        return evaluate(body.jaxpr, [_split_const(c) for c in body.consts], ins)
    return evaluate(body, [], ins)


for _p in _CALL_BODIES:
    COMPLEX_RULES[_p] = _inline


def _count(values: Sequence) -> int:
    return sum(2 if type(v) is tuple else 1 for v in values)


def _cond(eqn, ins: list) -> list:
    index, *ops = ins
    branches = tuple(lower(b) for b in eqn.params["branches"])
    outs = cf.cond_p.bind(index, *_flatten(ops), branches=branches)
    return _unflatten(outs, [v.aval for v in eqn.out_binders])


def _while(eqn, ins: list) -> list:
    p = eqn.params
    nc, nb = p["cond_nconsts"], p["body_nconsts"]
    cconsts, bconsts, carry = ins[:nc], ins[nc:nc + nb], ins[nc + nb:]
    outs = cf.while_p.bind(*_flatten(cconsts), *_flatten(bconsts), *_flatten(carry), cond_jaxpr=lower(p["cond_jaxpr"]),
                           body_jaxpr=lower(p["body_jaxpr"]), cond_nconsts=_count(cconsts),
                           body_nconsts=_count(bconsts))
    return _unflatten(outs, [v.aval for v in eqn.out_binders])


def _scan(eqn, ins: list) -> list:
    p = dict(eqn.params)
    nc, nk = p["num_consts"], p["num_carry"]
    p.update(jaxpr=lower(p["jaxpr"]), num_consts=_count(ins[:nc]), num_carry=_count(ins[nc:nc + nk]))
    outs = cf.scan_p.bind(*_flatten(ins), **p)
    return _unflatten(outs, [v.aval for v in eqn.out_binders])


COMPLEX_RULES.update({cf.cond_p: _cond, cf.while_p: _while, cf.scan_p: _scan})



def native_complex(backend: Any) -> bool:
    """Whether ``backend`` computes in complex dtypes itself (it lists them among its dtypes)."""
    return dtypes.complex64 in backend.capabilities.dtypes


def split_executable(exe: Callable, out_avals: Sequence[ShapedArray]) -> Callable:
    """An executable of a lowered jaxpr taking and returning complex values as (real, imaginary) buffer pairs."""
    widths = [2 if is_complex_aval(a) else 1 for a in out_avals]

    def run(*buffers):
        flat = []
        for b in buffers:
            flat += b if type(b) is tuple else [b]
        outs, k = exe(*flat), 0
        grouped = []
        for w in widths:
            grouped.append(tuple(outs[k:k + w]) if w == 2 else outs[k])
            k += w
        return grouped
    return run
