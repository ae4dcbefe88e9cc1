"""Call primitives: ``pjit`` (a nested jit call) and ``checkpoint`` (a call whose residuals are
recomputed in the backward pass). Both carry a closed jaxpr and have the full rule set."""
from __future__ import annotations

from typing import Any, Callable

from .. import dtypes
from ..ad_util import Zero, instantiate
from ..decompositions import register_decomposition
from ..interpreters import batching
from ..interpreters.jvp import jvp_jaxpr
from ..interpreters.memo import memoize_jaxpr_transform
from ..interpreters.partial_eval import dce_closed, partial_eval_jaxpr, split_call
from ..interpreters.staging import trace_to_jaxpr
from ..interpreters.transpose import is_undefined, transpose_jaxpr
from ..interpreters.evaluation import dce_jaxpr, eval_jaxpr
from ..ir import ClosedJaxpr, Jaxpr, JaxprEqn, Var
from ..trace import (Primitive, abstract_eval_rules, batching_rules, get_aval, higher_order_primitives, impl_rules,
                     jvp_rules, partial_eval_jaxpr_rules, transpose_rules)


def _call_rules(p: Primitive) -> None:
    """jvp, batching and transpose of a call primitive: transform the body, bind the primitive again."""
    abstract_eval_rules[p] = lambda *avals, jaxpr, **_: list(jaxpr.out_avals)

    def jvp(primals, tangents, *, jaxpr, **params):
        nonzeros = [type(t) is not Zero for t in tangents]
        new, out_nz = jvp_jaxpr(jaxpr, nonzeros, instantiate_out=False)
        outs = p.bind(*primals, *[t for t in tangents if type(t) is not Zero], jaxpr=new, **params)
        n = len(jaxpr.out_avals)
        primal_out, nz_t = outs[:n], iter(outs[n:])
        return primal_out, [next(nz_t) if nz else Zero(a.at_least_vspace()) for nz, a in zip(out_nz, jaxpr.out_avals)]

    def batch(axis, vals, dims, *, jaxpr, **params):
        vals = [batching.moveaxis(v, d, 0) if d is not None else v for v, d in zip(vals, dims)]
        new, out_batched = batching.batch_jaxpr(jaxpr, axis, [d is not None for d in dims], instantiate=False)
        return p.bind(*vals, jaxpr=new, **params), [0 if b else None for b in out_batched]

    def transpose(cts, *args, jaxpr, **params):
        linear = [is_undefined(a) for a in args]
        t = transpose_jaxpr(jaxpr, linear)
        res = [a for a in args if not is_undefined(a)]
        cts = [instantiate(c) for c, a in zip(cts, jaxpr.out_avals) if dtypes.kind(a.dtype) in "fc"]  # (as t takes)
        outs = iter(p.bind(*res, *cts, jaxpr=t, **params))
        return [next(outs) if l else None for l in linear]

    jvp_rules[p] = jvp
    batching_rules[p] = batch
    transpose_rules[p] = transpose
    higher_order_primitives.add(p)


# --- pjit --------------------------------------------------------------------------------------------------
pjit_p = Primitive("pjit", multiple_results=True)
_call_rules(pjit_p)


def _pjit_impl(*args, jaxpr: ClosedJaxpr, name: str, backend: Any = None):
    from ..dispatch import as_arrays, compile_jaxpr, pick_device
    from ..backend import get_backend
    device = get_backend(backend).devices()[0] if backend is not None else pick_device(args)
    arrays = as_arrays(args, device)
    if arrays is None:  # arrays laid out over a mesh: partitioned over it
        from ..sharded import apply_on_mesh
        return apply_on_mesh(pjit_p, args, dict(jaxpr=jaxpr, name=name, backend=backend))
    return compile_jaxpr(jaxpr, device, f"jit({name})")(arrays)


impl_rules[pjit_p] = _pjit_impl
# a backend without a lowering of nested calls runs their bodies inline
register_decomposition(pjit_p, lambda *args, jaxpr, **_: eval_jaxpr(jaxpr.jaxpr, jaxpr.consts, *args))
partial_eval_jaxpr_rules[pjit_p] = lambda trace, tracers, *, jaxpr, **params: split_call(
    trace, pjit_p, tracers, jaxpr, lambda j: dict(params, jaxpr=j))


def closed_call(fun: Callable, args: list, name: str = "call") -> list:
    """Stage ``fun`` (flat in, flat out) and bind it as one pjit: how ``jit`` nests inside a trace."""
    closed, consts = _trace_closed(fun, [get_aval(a) for a in args])
    return pjit_p.bind(*consts, *args, jaxpr=closed, name=name)


def _trace_closed(fun: Callable, avals: list) -> tuple[ClosedJaxpr, list]:
    from ..interpreters.staging import convert_constvars
    jaxpr, consts = trace_to_jaxpr(fun, avals)
    return ClosedJaxpr(convert_constvars(jaxpr), []), consts


# --- checkpoint (remat) ------------------------------------------------------------------------------------------
checkpoint_p = Primitive("checkpoint", multiple_results=True)
_call_rules(checkpoint_p)
impl_rules[checkpoint_p] = lambda *args, jaxpr, **_: _pjit_impl(*args, jaxpr=jaxpr, name="checkpoint")


def _checkpoint_partial_eval(trace, tracers, *, jaxpr, policy=None, **params):
    """The forward pass saves the checkpoint's known inputs and the residuals its ``policy`` lets it save; the
    staged backward half recomputes the other residuals from them."""
    unknowns = [not t.pval.is_known for t in tracers]
    forward, n_known_out, out_unknowns, body, consts, used = _remat_partial_eval(jaxpr, unknowns, policy)
    from ..ad_checkpoint import log_saved_residuals
    log_saved_residuals(forward.jaxpr, n_known_out, [get_aval(c) for c in consts], used)
    params = dict(params, policy=policy)
    fwd_outs = eval_jaxpr(forward.jaxpr, forward.consts, *[t.pval.const for t in tracers if t.pval.is_known])
    known_outs, saved = fwd_outs[:n_known_out], fwd_outs[n_known_out:]  # inline, as JAX: the forward is not remat
    residuals = [trace.pure(c) for c in consts] + [t for t in tracers if t.pval.is_known] + \
        [trace.pure(s) for s in saved]
    ins = [trace.instantiate_const(r) for r, u in zip(residuals, used) if u]  # only those the backward half reads
    ins += [t for t in tracers if not t.pval.is_known]
    staged = trace.stage(checkpoint_p, ins, dict(params, jaxpr=body))
    known_it, staged_it = iter(known_outs), iter(staged)
    return [next(staged_it) if u else trace.pure(next(known_it)) for u in out_unknowns]


@memoize_jaxpr_transform
def _remat_partial_eval(jaxpr: ClosedJaxpr, unknowns: list[bool], policy: Callable | None) -> tuple:
    """The checkpoint's split for these unknown inputs (once per jaxpr, so that its programs compile once):
    ``(forward, n_known_out, out_unknowns, body, consts, used)``: ``forward`` maps the known inputs to the known
    outputs and the saved values, the staged ``body`` maps those of its ``consts``, the known inputs and the saved
    values that it reads (``used``, a mask over them) and the unknown inputs to the unknown outputs."""
    known, unknown, out_unknowns, num_res = partial_eval_jaxpr(jaxpr, unknowns, False)
    n_known_out = len(known.out_avals) - num_res
    forward, recompute_res = _remat_split(known.jaxpr, n_known_out, policy)
    known_avals = [a for a, u in zip(jaxpr.in_avals, unknowns) if not u]
    saved_avals = [v.aval for v in forward.outs[n_known_out:]]
    n_kv = len(known_avals) + len(saved_avals)

    def recompute(*args):
        res = eval_jaxpr(recompute_res, known.consts, *args[:n_kv])
        return eval_jaxpr(unknown.jaxpr, unknown.consts, *res, *args[n_kv:])

    body, consts = _trace_closed(recompute, known_avals + saved_avals + [a for a, u in zip(jaxpr.in_avals, unknowns) if u])
    # the constants, known inputs and saved values the recomputation does not read are not kept for it
    pruned, used = dce_jaxpr(body.jaxpr)
    n_res = len(consts) + n_kv
    used = used[:n_res]
    ins = [v for v, u in zip(pruned.in_binders, used + [True] * (len(pruned.in_binders) - n_res)) if u]
    body = ClosedJaxpr(Jaxpr(pruned.constvars, ins, pruned.eqns, pruned.outs), body.consts)
    return ClosedJaxpr(forward, known.consts), n_known_out, out_unknowns, body, consts, used


def _remat_split(known: Jaxpr, n_known_out: int, policy: Callable | None) -> tuple[Jaxpr, Jaxpr]:
    """Split the residuals (outputs after ``n_known_out``) of ``known`` by ``policy``: returns the forward jaxpr
    (known ins -> known outs + saved values) and the recompute jaxpr (known ins + saved values -> residuals).
    Walking back from the residuals, an equation the policy saves stops the walk (its outputs are saved),
    any other one is recomputed from its inputs."""
    available = set(known.constvars) | set(known.in_binders)
    needed = {v for v in known.outs[n_known_out:] if type(v) is Var} - available
    saved: dict = {}
    recomputed = []
    for eqn in reversed(known.eqns):
        outs = [v for v in eqn.out_binders if v in needed]
        if not outs:
            continue
        if policy is not None and policy(eqn.primitive, *[x.aval for x in eqn.inputs], **eqn.params):
            saved.update(dict.fromkeys(outs))
            continue
        eqn = _pruned(eqn, needed)
        recomputed.append(eqn)
        needed.update(x for x in eqn.inputs if type(x) is Var and x not in available)
    forward = dce_jaxpr(Jaxpr(known.constvars, known.in_binders, known.eqns, known.outs[:n_known_out] + list(saved)))[0]
    recompute = Jaxpr(known.constvars, known.in_binders + list(saved), recomputed[::-1], known.outs[n_known_out:])
    return forward, recompute


def _pruned(eqn: JaxprEqn, needed: set) -> JaxprEqn:
    """``eqn`` computing only its outputs in ``needed``, where its primitive allows: a recomputed ``cond`` runs only
    what its branches need for those (not the primal outputs the backward pass does not read)."""
    keep = [v in needed for v in eqn.out_binders]
    if all(keep) or eqn.primitive.name != "cond":
        return eqn
    branches = tuple(dce_closed(b, keep)[0] for b in eqn.params["branches"])
    return eqn._replace(params=dict(eqn.params, branches=branches),
                        out_binders=[v for v, k in zip(eqn.out_binders, keep) if k])


partial_eval_jaxpr_rules[checkpoint_p] = _checkpoint_partial_eval
CALLS = (pjit_p, checkpoint_p)
