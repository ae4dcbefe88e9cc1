"""Elementwise primitives. One generic generator per arity covers every primitive in the core's
``ELEMENTWISE_UNARY``/``ELEMENTWISE_BINARY`` groups: its dtypes are the ones the primitive's shape rule
accepts, so a new elementwise primitive is covered without editing the suite (give it a domain below if
random values in [-3, 3] are outside it). Conversions, select_n and clamp have their own generators."""
from __future__ import annotations

from typing import Any, Iterable, Sequence

import numpy as np

from portax.core import dtypes
from portax.core.dtypes import short_name
from portax.core.primitives import elementwise as ew

from ..inputs import cross, edge_values, magnitude_bands, values
from ..registry import Case, GenContext, describe, register_cases
from ..tolerances import Tolerance, tolerance_for
from .common import EVAL_JIT, LARGE_DTYPES, SHAPES, TRANSFORM_SHAPES, accepted_dtypes, transforms_for

# primitive name -> the value domain of each operand (see inputs.FLOAT_DOMAINS); "real" otherwise
DOMAINS = {
    "log": ("positive",), "log1p": ("positive",), "sqrt": ("positive",), "rsqrt": ("positive",),
    "acosh": ("ge1",), "atanh": ("unit",), "asin": ("unit",), "acos": ("unit",), "erf_inv": ("unit",),
    "lgamma": ("positive",), "digamma": ("positive",), "tan": ("tan",),
    "pow": ("positive", "real"), "div": ("real", "nonzero"), "rem": ("real", "nonzero"),
    "shift_left": ("real", "shift"), "shift_right_logical": ("real", "shift"),
    "shift_right_arithmetic": ("real", "shift"),
}
# Representatives that also get an operand past the backend's single-dispatch limit (which can be ~16M
# elements: splitting work into dispatches is per backend, not per op, so a few ops of each arity do).
LARGE_OPS = frozenset({"neg", "exp", "not", "add", "mul", "max", "eq", "and"})


def elementwise_cases(primitive: Any, arity: int, domains: Sequence[str] | None = None,
                      params_list: Sequence[dict] = ({},), kinds: str = "biuf"):
    """A generator for an elementwise primitive: every accepted dtype (of ``kinds``) x the representative
    shapes, special values (NaN/Inf/-0 or integer extremes, all pairs for binary ops) and, for the
    LARGE_OPS when the backend has a single-dispatch limit, one operand size past it."""
    def generate(ctx: GenContext) -> Iterable[Case]:
        doms = tuple(domains or DOMAINS.get(primitive.name, ("real",) * arity))
        for n, params in enumerate(params_list):
            for dt in accepted_dtypes(primitive, ctx, arity, params):
                if dtypes.kind(dt) not in kinds:
                    continue
                for shape in SHAPES if n == 0 else TRANSFORM_SHAPES:  # further params: the main shapes
                    args = [values(ctx.rng, shape, dt, d) for d in doms]
                    yield Case(primitive, dt, args, params, transforms=transforms_for(shape))
                if ctx.large_size and n == 0 and primitive.name in LARGE_OPS and dt in LARGE_DTYPES:
                    args = [values(ctx.rng, (ctx.large_size,), dt, d) for d in doms]
                    yield Case(primitive, dt, args, params, transforms=("eval",), layout_args=(),
                               label=f"{describe(args, params)} (past max_dispatch_elements)")
                if dtypes.kind(dt) != "f" or ctx.ieee_specials:
                    args = cross(*[edge_values(dt)] * arity)
                    yield Case(primitive, dt, args, params, transforms=EVAL_JIT,
                               label=f"special values {describe(args, params)}")
                if dtypes.kind(dt) == "f" and arity == 1 and n == 0:
                    yield from _range_sweep(primitive, dt, doms[0], params, ctx)
    return generate


def _range_sweep(primitive: Any, dt: np.dtype, domain: str, params: dict, ctx: GenContext) -> Iterable[Case]:
    """Tiny (subnormal), near +-1 and huge operands, compared in ulps only: the table's absolute floor,
    scaled by the largest result, would hide relative errors on small results (log1p(-3e-8) off by 240%).
    The reference is itself a few ulp off, so twice the table's ulps."""
    tol = tolerance_for(primitive.name, dt)
    sweep_tol = tol if tol.ulps == 0 or tol.bitwise else Tolerance(2 * tol.ulps + 2, 0)
    for band, x in magnitude_bands(dt, domain, subnormals=not ctx.flushes_subnormals).items():
        yield Case(primitive, dt, [x], params, transforms=EVAL_JIT, tolerance=sweep_tol,
                   label=f"{band} operands {describe([x], params)}")


_OWN_GENERATORS = (ew.round_p, ew.integer_pow_p, ew.convert_element_type_p)
for _p in ew.ELEMENTWISE_UNARY:
    if _p not in _OWN_GENERATORS:
        register_cases(_p, elementwise_cases(_p, 1))
for _p in ew.ELEMENTWISE_BINARY:
    register_cases(_p, elementwise_cases(_p, 2))
register_cases(ew.round_p, elementwise_cases(ew.round_p, 1, params_list=(
    {"rounding_method": ew.RoundingMethod.AWAY_FROM_ZERO}, {"rounding_method": ew.RoundingMethod.TO_NEAREST_EVEN})))
register_cases(ew.integer_pow_p, elementwise_cases(ew.integer_pow_p, 1, params_list=(
    {"y": 0}, {"y": 1}, {"y": 2}, {"y": 3})))
register_cases(ew.integer_pow_p, elementwise_cases(ew.integer_pow_p, 1, params_list=({"y": -1}, {"y": -2}), kinds="f"))


def _convert_cases(ctx: GenContext) -> Iterable[Case]:
    """Every claimed dtype to every claimed dtype; out-of-range values saturate, NaN converts to 0."""
    p = ew.convert_element_type_p
    for src in ctx.dtypes:
        for dst in ctx.dtypes:
            params = {"new_dtype": dst, "weak_type": False}
            arrow = f" -> {short_name(dst)}"
            for shape in TRANSFORM_SHAPES:
                x = values(ctx.rng, shape, src, "positive" if dtypes.kind(dst) == "u" else "real")
                yield Case(p, src, [x], params, transforms=transforms_for(shape), label=describe([x]) + arrow)
            if dtypes.kind(src) != "f" or ctx.ieee_specials:
                x = edge_values(src)
                yield Case(p, src, [x], params, transforms=EVAL_JIT, label="special values " + describe([x]) + arrow)


register_cases(ew.convert_element_type_p, _convert_cases)


def _bitcast_operand(rng: np.random.RandomState, src: np.dtype, dst: np.dtype, in_shape: tuple,
                     out_shape: tuple) -> np.ndarray:
    """Operand bits that are finite, normal floats on whichever side is a float type."""
    if dtypes.kind(dst) == "f":
        return values(rng, out_shape, dst).view(src).reshape(in_shape)
    if dtypes.kind(src) == "f":
        return values(rng, in_shape, src)
    info = np.iinfo(src)
    return rng.randint(info.min, int(info.max) + 1, size=in_shape, dtype=src)


def _bitcast_cases(ctx: GenContext) -> Iterable[Case]:
    """Same-width reinterpretation, and narrowing/widening through a trailing axis, compared bit for bit."""
    p = ew.bitcast_convert_type_p
    numeric = [d for d in ctx.dtypes if d.kind != "b"]
    for src in numeric:
        for dst in numeric:
            if dtypes.kind(src) == "f" and dtypes.kind(dst) == "f" and src != dst:
                continue
            if src.itemsize == dst.itemsize:
                shapes = [((7,), (7,)), ((3, 5), (3, 5))]
            elif src.itemsize > dst.itemsize:
                shapes = [((5,), (5, src.itemsize // dst.itemsize))]
            else:
                shapes = [((5, dst.itemsize // src.itemsize), (5,))]
            for in_shape, out_shape in shapes:
                x = _bitcast_operand(ctx.rng, src, dst, in_shape, out_shape)
                yield Case(p, src, [x], {"new_dtype": dst}, transforms=("eval", "jit", "vmap"),
                           label=describe([x]) + f" -> {short_name(dst)}")


register_cases(ew.bitcast_convert_type_p, _bitcast_cases)


def _select_n_cases(ctx: GenContext) -> Iterable[Case]:
    p = ew.select_n_p
    for dt in ctx.dtypes:
        for shape in TRANSFORM_SHAPES + ((0,), (2, 3, 4)):
            cases = [values(ctx.rng, shape, dt) for _ in range(3)]
            which = ctx.rng.rand(*shape) < 0.5
            yield Case(p, dt, [np.asarray(which)] + cases[:2], transforms=transforms_for(shape))
            which3 = ctx.rng.randint(0, 3, size=shape).astype(np.int32)
            yield Case(p, dt, [which3] + cases, transforms=transforms_for(shape))
        cases = [values(ctx.rng, (3, 5), dt) for _ in range(2)]
        yield Case(p, dt, [np.asarray(True)] + cases, label="scalar predicate " + describe(cases))


register_cases(ew.select_n_p, _select_n_cases)


def _clamp_cases(ctx: GenContext) -> Iterable[Case]:
    p = ew.clamp_p
    for dt in ctx.dtypes_of("fiu"):
        for shape, bound_shape in (((7,), ()), ((3, 5), (3, 5)), ((), ()), ((2, 3, 4), ()), ((0,), ())):
            x = values(ctx.rng, shape, dt)
            lo = values(ctx.rng, bound_shape, dt) - np.asarray(2, dt) if dtypes.kind(dt) != "u" else \
                np.full(bound_shape, 2, dt)
            hi = lo + np.asarray(3, dt)
            yield Case(p, dt, [lo.astype(dt), x, hi.astype(dt)], transforms=transforms_for(shape))


register_cases(ew.clamp_p, _clamp_cases)
