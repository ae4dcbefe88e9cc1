"""``Lowered.cost_analysis()``/``Compiled.cost_analysis()``: an estimate of a jaxpr's cost before fusion, counted as
XLA's HLO cost analysis counts it: ``flops`` (one per element of an elementwise result or a reduced input, two per
multiply-add of a contraction), ``transcendentals`` (elements of exp, log, trigonometric, ... results) and
``bytes accessed`` (every equation reading its operands and writing its results). Loops count their bodies once per
trip where the trip count is static (``scan``), once otherwise (``while``); a ``cond`` counts its costliest
branch."""
from __future__ import annotations

from .ir import Jaxpr, JaxprEqn, Literal, subjaxprs
from .primitives import elementwise, reductions
from .profiler import eqn_flops

_ELEMENTWISE = frozenset(elementwise.ELEMENTWISE)
_REDUCTIONS = frozenset(reductions.REDUCTIONS)
_TRANSCENDENTAL = frozenset(("exp", "exp2", "expm1", "log", "log1p", "sin", "cos", "tan", "asin", "acos", "atan",
                             "atan2", "sinh", "cosh", "tanh", "asinh", "acosh", "atanh", "logistic", "pow", "sqrt",
                             "rsqrt", "cbrt", "erf", "erfc", "erf_inv", "lgamma", "digamma", "igamma", "igammac",
                             "bessel_i0e", "bessel_i1e"))
KEYS = ("flops", "transcendentals", "bytes accessed")


def _nbytes(vs) -> int:
    return sum(v.aval.size * v.aval.dtype.itemsize for v in vs if type(v) is not Literal)


def _eqn_cost(eqn: JaxprEqn) -> list[float]:
    subs = list(subjaxprs(eqn.params))
    if subs:
        costs = [jaxpr_cost(j) for j in subs]
        if eqn.primitive.name == "cond":
            return max(costs, key=lambda c: c[0])
        total = [sum(c[i] for c in costs) for i in range(3)]
        trips = eqn.params.get("length", 1) if eqn.primitive.name == "scan" else 1
        return [t * trips for t in total]
    out = eqn.out_binders[0].aval.size if eqn.out_binders else 0
    p = eqn.primitive
    if p in _ELEMENTWISE:
        flops = out * len(eqn.out_binders)
    elif p in _REDUCTIONS:
        flops = sum(x.aval.size for x in eqn.inputs)
    else:
        flops = eqn_flops(eqn)
    transcendentals = out if p.name in _TRANSCENDENTAL else 0
    return [flops, transcendentals, _nbytes(eqn.inputs) + _nbytes(eqn.out_binders)]


def jaxpr_cost(jaxpr: Jaxpr) -> list[float]:
    """``[flops, transcendentals, bytes accessed]`` of ``jaxpr`` (nested jaxprs included)."""
    total = [0.0, 0.0, 0.0]
    for eqn in jaxpr.eqns:
        for i, c in enumerate(_eqn_cost(eqn)):
            total[i] += c
    return total


def cost_analysis(jaxpr: Jaxpr) -> dict[str, float]:
    return dict(zip(KEYS, map(float, jaxpr_cost(jaxpr))))
