"""Control flow primitives with full rule sets: ``cond`` (n-way), ``while``, ``scan``; and the lax
wrappers ``cond``, ``switch``, ``while_loop``, ``fori_loop``, ``scan``, ``map``."""
from __future__ import annotations

from typing import Any, Callable, Sequence

import numpy as np

from .. import dtypes
from ..ad_util import Zero, add_tangents, instantiate, zeros_like_aval
from ..interpreters import batching
from ..interpreters.evaluation import eval_jaxpr
from ..interpreters.jvp import jvp_jaxpr
from ..interpreters.partial_eval import dce_closed, partial_eval_jaxpr
from ..interpreters.staging import convert_constvars, trace_to_jaxpr
from ..interpreters.transpose import UndefinedPrimal, backward_pass, is_undefined, transpose_jaxpr
from ..ir import ClosedJaxpr, Jaxpr, ShapedArray, Var
from ..pytree import tree_flatten, tree_unflatten
from ..trace import (Primitive, abstract_eval_rules, batching_rules, get_aval, higher_order_primitives, jvp_rules,
                     partial_eval_jaxpr_rules, transpose_rules)
from . import elementwise as ew
from . import reductions as red
from . import structural as st


# --- jaxpr plumbing --------------------------------------------------------------------------------------
def _trace(fun: Callable, avals: Sequence[ShapedArray]) -> tuple[ClosedJaxpr, list]:
    """Trace a flat function; its captured constants become leading inputs (returned separately)."""
    jaxpr, consts = trace_to_jaxpr(fun, list(avals))
    return ClosedJaxpr(convert_constvars(jaxpr), []), consts


def _permute_inputs(closed: ClosedJaxpr, perm: Sequence[int]) -> ClosedJaxpr:
    """New input i is old input perm[i]."""
    j = closed.jaxpr
    return ClosedJaxpr(Jaxpr(j.constvars, [j.in_binders[i] for i in perm], j.eqns, j.outs), closed.consts)


def _permute_outputs(closed: ClosedJaxpr, perm: Sequence[int]) -> ClosedJaxpr:
    j = closed.jaxpr
    return ClosedJaxpr(Jaxpr(j.constvars, j.in_binders, j.eqns, [j.outs[i] for i in perm]), closed.consts)


def _add_unused_inputs(closed: ClosedJaxpr, avals: Sequence[ShapedArray], at: int) -> ClosedJaxpr:
    j = closed.jaxpr
    extra = [Var(a) for a in avals]
    return ClosedJaxpr(Jaxpr(j.constvars, j.in_binders[:at] + extra + j.in_binders[at:], j.eqns, j.outs), closed.consts)


def _interleave_perm(groups: Sequence[int], n_groups_tangent: Sequence[int]) -> list[int]:
    """Order ``[p0, p1, .., t0, t1, ..]`` (primal groups then tangent groups) as ``[p0, t0, p1, t1, ..]``."""
    starts_p, starts_t = [], []
    pos = 0
    for g in groups:
        starts_p.append(pos)
        pos += g
    for g in n_groups_tangent:
        starts_t.append(pos)
        pos += g
    perm: list[int] = []
    for sp, g, st_, gt in zip(starts_p, groups, starts_t, n_groups_tangent):
        perm += list(range(sp, sp + g)) + list(range(st_, st_ + gt))
    return perm


def _check_same_avals(what: str, a: Sequence[ShapedArray], b: Sequence[ShapedArray]) -> None:
    if len(a) != len(b) or any(x.shape != y.shape or x.dtype != y.dtype for x, y in zip(a, b)):
        fmt = lambda avs: "[" + ", ".join(x.str_short() for x in avs) + "]"
        raise TypeError(f"{what} must have identical types, got\n{fmt(a)}\nand\n{fmt(b)}.")


def _promote_weak_carry(init: list, out_avals: Sequence[ShapedArray]) -> list | None:
    """A weakly typed initial carry that the body turns strong or retypes is promoted to the join of both
    types, as in JAX (the body is then traced again and must match); None when nothing changes."""
    avals = [get_aval(x) for x in init]
    change = [a.weak_type and (not b.weak_type or a.dtype != b.dtype) for a, b in zip(avals, out_avals)]
    if not any(change):
        return None
    return [ew.convert_element_type(x, dtypes.result_type(x, b)) if c else x
            for x, b, c in zip(init, out_avals, change)]


def _select_tree(pred, on_true: list, on_false: list) -> list:
    out = []
    for t, f in zip(on_true, on_false):
        shape = get_aval(t).shape
        p = pred if get_aval(pred).shape == shape else st.broadcast_in_dim(pred, shape, tuple(range(get_aval(pred).ndim)))
        out.append(ew.select_n(p, f, t))
    return out


# ======================================= cond ==============================================================
cond_p = Primitive("cond", multiple_results=True)
higher_order_primitives.add(cond_p)


def _cond_abstract(index: ShapedArray, *ops: ShapedArray, branches):
    if index.shape != () or dtypes.kind(index.dtype) not in "iu":
        raise TypeError(f"cond index must be a scalar integer, got {index.str_short()}")
    outs = branches[0].out_avals
    return [a.update(weak_type=all(b.out_avals[i].weak_type for b in branches)) for i, a in enumerate(outs)]


def _cond_jvp(primals, tangents, *, branches):
    index, *ops = primals
    nonzeros = [type(t) is not Zero for t in tangents[1:]]
    out_nz = [False] * len(branches[0].out_avals)
    for b in branches:
        _, nz = jvp_jaxpr(b, nonzeros, instantiate_out=False)
        out_nz = [x or y for x, y in zip(out_nz, nz)]
    new = tuple(jvp_jaxpr(b, nonzeros, instantiate_out=out_nz)[0] for b in branches)
    outs = cond_p.bind(index, *ops, *[t for t in tangents[1:] if type(t) is not Zero], branches=new)
    n = len(out_nz)
    nz_it = iter(outs[n:])
    return outs[:n], [next(nz_it) if nz else Zero(a.at_least_vspace()) for nz, a in zip(out_nz, branches[0].out_avals)]


def _cond_batch(axis, vals, dims, *, branches):
    index, *ops = vals
    di, *dops = dims
    if di is not None:  # predicate varies over the batch: run every branch, select elementwise
        ops = [batching.bdim_at_front(v, d, axis.size) for v, d in zip(ops, dops)]
        index = batching.moveaxis(index, di, 0)
        results = []
        for b in branches:
            bb, _ = batching.batch_jaxpr(b, axis, [True] * len(ops), instantiate=True)
            results.append(eval_jaxpr(bb.jaxpr, bb.consts, *ops))
        index = ew.clamp(0, index, len(branches) - 1) if len(branches) > 2 else index
        if len(branches) == 2:
            index = ew.convert_element_type(index, dtypes.bool_)
        outs = []
        for cases in zip(*results):
            shape = get_aval(cases[0]).shape
            which = st.broadcast_in_dim(index, shape, (0,))
            outs.append(ew.select_n(which, *cases))
        return outs, [0] * len(outs)
    in_b = [d is not None for d in dops]
    ops = [batching.moveaxis(v, d, 0) if d is not None else v for v, d in zip(ops, dops)]
    out_b = [False] * len(branches[0].out_avals)
    for b in branches:
        out_b = [x or y for x, y in zip(out_b, batching.batch_jaxpr(b, axis, in_b, instantiate=False)[1])]
    new = tuple(batching.batch_jaxpr(b, axis, in_b, instantiate=out_b)[0] for b in branches)
    return cond_p.bind(index, *ops, branches=new), [0 if b else None for b in out_b]


def _cond_partial_eval(trace, tracers, *, branches):
    index, *ops = tracers
    if not index.pval.is_known:
        return trace.stage(cond_p, tracers, dict(branches=branches))
    unknowns = [not t.pval.is_known for t in ops]
    out_uk = [False] * len(branches[0].out_avals)
    for b in branches:
        out_uk = [x or y for x, y in zip(out_uk, partial_eval_jaxpr(b, unknowns, False)[2])]
    splits = [partial_eval_jaxpr(b, unknowns, out_uk) for b in branches]
    n_known_out = sum(not u for u in out_uk)
    res_avals = [k.out_avals[n_known_out:] for k, _, _, _ in splits]
    all_res = [a for r in res_avals for a in r]
    offsets = np.cumsum([0] + [len(r) for r in res_avals])

    known_branches, unknown_branches = [], []
    for i, (known, unknown, _, num_res) in enumerate(splits):
        def known_fun(*args, known=known, i=i):
            outs = eval_jaxpr(known.jaxpr, known.consts, *args)
            res = [zeros_like_aval(a) for a in all_res]
            res[offsets[i]:offsets[i + 1]] = outs[n_known_out:]
            return outs[:n_known_out] + res
        known_branches.append(ClosedJaxpr(*trace_to_jaxpr(known_fun, [t.aval for t in ops if t.pval.is_known])))
        unknown_branches.append(_drop_other_residuals(unknown, all_res, offsets[i], offsets[i + 1]))
    known_vals = [t.pval.const for t in ops if t.pval.is_known]
    outs_res = cond_p.bind(index.pval.const, *known_vals, branches=tuple(known_branches))
    known_outs, residuals = outs_res[:n_known_out], outs_res[n_known_out:]
    res_tracers = [trace.instantiate_const(trace.pure(r)) for r in residuals]
    staged = trace.stage(cond_p, [trace.instantiate_const(index)] + res_tracers + [t for t in ops if not t.pval.is_known],
                         dict(branches=tuple(unknown_branches)))
    known_it, staged_it = iter(known_outs), iter(staged)
    return [next(staged_it) if u else trace.pure(next(known_it)) for u in out_uk]


def _drop_other_residuals(unknown: ClosedJaxpr, all_res: list, lo: int, hi: int) -> ClosedJaxpr:
    """The unknown branch receives every branch's residuals and reads only its own slice."""
    j = unknown.jaxpr
    own, rest = j.in_binders[:hi - lo], j.in_binders[hi - lo:]
    binders = [Var(a) for a in all_res[:lo]] + own + [Var(a) for a in all_res[hi:]] + rest
    return ClosedJaxpr(Jaxpr(j.constvars, binders, j.eqns, j.outs), unknown.consts)


def _cond_transpose(cts, index, *ops, branches):
    if is_undefined(index):
        raise ValueError("cond: the branch index cannot be linear")
    linear = [is_undefined(o) for o in ops]
    res = [o for o in ops if not is_undefined(o)]
    cts = [instantiate(c) for c, a in zip(cts, branches[0].out_avals) if dtypes.kind(a.dtype) in "fc"]
    new = tuple(transpose_jaxpr(b, linear) for b in branches)
    outs = iter(cond_p.bind(index, *res, *cts, branches=new))
    return [None] + [next(outs) if l else None for l in linear]


abstract_eval_rules[cond_p] = _cond_abstract
jvp_rules[cond_p] = _cond_jvp
batching_rules[cond_p] = _cond_batch
partial_eval_jaxpr_rules[cond_p] = _cond_partial_eval
transpose_rules[cond_p] = _cond_transpose


def _trace_branches(funs: Sequence[Callable], operands: tuple, what: str):
    ops, in_tree = tree_flatten(operands)
    ops = [ew.asarray(o) for o in ops]
    avals = [get_aval(o) for o in ops]
    traced, out_trees = [], []
    for f in funs:
        def flat(*xs, f=f):
            out = f(*tree_unflatten(in_tree, xs))
            leaves, tree = tree_flatten(out)
            out_trees.append(tree)
            return leaves
        traced.append(_trace(flat, avals))
    if any(t != out_trees[0] for t in out_trees[1:]):
        raise TypeError(f"{what} must have identical output structure, got {', '.join(str(t) for t in out_trees)}.")
    for (j, _) in traced[1:]:
        _check_same_avals(f"{what} output", traced[0][0].out_avals, j.out_avals)
    # Each branch takes every branch's constants, then the operands.
    const_avals = [[get_aval(c) for c in consts] for _, consts in traced]
    all_consts = [c for _, consts in traced for c in consts]
    branches = []
    for i, (j, consts) in enumerate(traced):
        before = [a for avs in const_avals[:i] for a in avs]
        after = [a for avs in const_avals[i + 1:] for a in avs]
        j = _add_unused_inputs(j, before, 0)
        j = _add_unused_inputs(j, after, len(before) + len(consts))
        branches.append(j)
    return tuple(branches), all_consts, ops, out_trees[0]


def switch(index: Any, branches: Sequence[Callable], *operands: Any) -> Any:
    """``lax.switch``: apply ``branches[clamp(index)]`` to ``operands``."""
    if not branches:
        raise ValueError("switch: empty branch sequence")
    idx = ew.asarray(index)
    if get_aval(idx).shape != () or dtypes.kind(get_aval(idx).dtype) not in "iub":
        raise TypeError(f"switch index must be a scalar integer, got {get_aval(idx).str_short()}")
    idx = ew.convert_element_type(idx, dtypes.int32)
    if len(branches) > 1:
        idx = ew.clamp(np.int32(0), idx, np.int32(len(branches) - 1))
    jaxprs, consts, ops, out_tree = _trace_branches(branches, operands, "branch outputs")
    outs = cond_p.bind(idx, *consts, *ops, branches=jaxprs)
    return tree_unflatten(out_tree, outs)


def cond(pred: Any, true_fun: Callable, false_fun: Callable, *operands: Any) -> Any:
    """``lax.cond``: ``true_fun(*operands)`` if ``pred`` else ``false_fun(*operands)``, staged as one primitive."""
    p = ew.asarray(pred)
    aval = get_aval(p)
    if aval.shape != ():
        raise TypeError(f"Pred must be a scalar, got {pred!r:.60} of shape {aval.shape}.")
    if dtypes.kind(aval.dtype) not in "biuf":
        raise TypeError(f"Pred type must be either boolean or number, got {aval.dtype.name}.")
    idx = ew.convert_element_type(ew.ne(p, ew._const(p, 0)) if aval.dtype != dtypes.bool_ else p, dtypes.int32)
    jaxprs, consts, ops, out_tree = _trace_branches((false_fun, true_fun), operands, "true_fun and false_fun")
    outs = cond_p.bind(idx, *consts, *ops, branches=jaxprs)
    return tree_unflatten(out_tree, outs)


# ======================================= while ==============================================================
while_p = Primitive("while", multiple_results=True)
higher_order_primitives.add(while_p)


def _while_abstract(*args, cond_jaxpr, body_jaxpr, cond_nconsts, body_nconsts):
    carry = args[cond_nconsts + body_nconsts:]
    _check_same_avals("body_fun output and input", list(carry), body_jaxpr.out_avals)
    return [a.update(weak_type=a.weak_type and b.weak_type) for a, b in zip(carry, body_jaxpr.out_avals)]


def _while_jvp(primals, tangents, *, cond_jaxpr, body_jaxpr, cond_nconsts, body_nconsts):
    nc, nb = cond_nconsts, body_nconsts
    cconsts, bconsts, init = primals[:nc], primals[nc:nc + nb], primals[nc + nb:]
    bconst_nz = [type(t) is not Zero for t in tangents[nc:nc + nb]]
    carry_nz = [type(t) is not Zero and dtypes.kind(get_aval(p).dtype) in "fc" for t, p in zip(tangents[nc + nb:], init)]
    while True:
        body_jvp, out_nz = jvp_jaxpr(body_jaxpr, bconst_nz + carry_nz, instantiate_out=carry_nz)
        new_nz = [a or b for a, b in zip(carry_nz, out_nz)]
        if new_nz == carry_nz:
            break
        carry_nz = new_nz
    n_bt, n_ct = sum(bconst_nz), sum(carry_nz)
    body_jvp = _permute_inputs(body_jvp, _interleave_perm([nb, len(init)], [n_bt, n_ct]))
    carry_t_avals = [get_aval(p).at_least_vspace() for p, nz in zip(init, carry_nz) if nz]
    cond_new = _add_unused_inputs(cond_jaxpr, carry_t_avals, len(cond_jaxpr.in_avals))
    bt = [t for t, nz in zip(tangents[nc:nc + nb], bconst_nz) if nz]
    ct = [instantiate(t) for t, nz in zip(tangents[nc + nb:], carry_nz) if nz]
    outs = while_p.bind(*cconsts, *bconsts, *bt, *init, *ct, cond_jaxpr=cond_new, body_jaxpr=body_jvp,
                        cond_nconsts=nc, body_nconsts=nb + n_bt)
    n = len(init)
    t_it = iter(outs[n:])
    return outs[:n], [next(t_it) if nz else Zero(get_aval(p).at_least_vspace()) for p, nz in zip(init, carry_nz)]


def _while_batch(axis, vals, dims, *, cond_jaxpr, body_jaxpr, cond_nconsts, body_nconsts):
    nc, nb = cond_nconsts, body_nconsts
    vals = [batching.moveaxis(v, d, 0) if d is not None else v for v, d in zip(vals, dims)]
    batched = [d is not None for d in dims]
    cc_b, bc_b, carry_b = batched[:nc], batched[nc:nc + nb], batched[nc + nb:]
    while True:
        _, out_b = batching.batch_jaxpr(body_jaxpr, axis, bc_b + carry_b, instantiate=carry_b)
        new = [a or b for a, b in zip(carry_b, out_b)]
        if new == carry_b:
            break
        carry_b = new
    _, (pred_b,) = batching.batch_jaxpr(cond_jaxpr, axis, cc_b + carry_b, instantiate=False)
    if pred_b:  # the trip count differs per element: iterate while any runs, freeze finished ones
        carry_b = [True] * len(carry_b)
    body_b, _ = batching.batch_jaxpr(body_jaxpr, axis, bc_b + carry_b, instantiate=carry_b)
    cond_b, _ = batching.batch_jaxpr(cond_jaxpr, axis, cc_b + carry_b, instantiate=False)
    cconsts, bconsts, init = vals[:nc], vals[nc:nc + nb], vals[nc + nb:]
    init = [batching.bdim_at_front(v, 0 if b else None, axis.size) if cb and not b else v
            for v, b, cb in zip(init, batched[nc + nb:], carry_b)]
    if not pred_b:
        outs = while_p.bind(*cconsts, *bconsts, *init, cond_jaxpr=cond_b, body_jaxpr=body_b, cond_nconsts=nc,
                            body_nconsts=nb)
        return outs, [0 if b else None for b in carry_b]
    carry_avals = [get_aval(v) for v in init]

    def new_cond(*args):
        (pred,) = eval_jaxpr(cond_b.jaxpr, cond_b.consts, *args)
        return [red.reduce_or(pred, (0,))]

    def new_body(*args):
        cc, bc, carry = args[:nc], args[nc:nc + nb], args[nc + nb:]
        (pred,) = eval_jaxpr(cond_b.jaxpr, cond_b.consts, *cc, *carry)
        new = eval_jaxpr(body_b.jaxpr, body_b.consts, *bc, *carry)
        return _select_tree(pred, new, list(carry))

    cc_avals = [get_aval(v) for v in cconsts]
    bc_avals = [get_aval(v) for v in bconsts]
    cj, cj_consts = _trace(new_cond, cc_avals + carry_avals)
    bj, bj_consts = _trace(lambda *a: new_body(*a), cc_avals + bc_avals + carry_avals)
    outs = while_p.bind(*cj_consts, *cconsts, *bj_consts, *cconsts, *bconsts, *init, cond_jaxpr=cj, body_jaxpr=bj,
                        cond_nconsts=len(cj_consts) + nc, body_nconsts=len(bj_consts) + nc + nb)
    return outs, [0] * len(outs)


def _while_partial_eval(trace, tracers, *, cond_jaxpr, body_jaxpr, cond_nconsts, body_nconsts):
    """Carries that depend only on known values are computed now by a loop over the known parts; the whole
    loop is staged for the others (reverse mode then reaches while's transpose rule and its error)."""
    nc, nb = cond_nconsts, body_nconsts
    params = dict(cond_jaxpr=cond_jaxpr, body_jaxpr=body_jaxpr, cond_nconsts=nc, body_nconsts=nb)
    uk = [not t.pval.is_known for t in tracers]
    cc_uk, bc_uk, carry_uk = uk[:nc], uk[nc:nc + nb], uk[nc + nb:]
    while True:
        body_known, _, out_uk, _ = partial_eval_jaxpr(body_jaxpr, bc_uk + carry_uk, instantiate=carry_uk)
        new = [a or b for a, b in zip(carry_uk, out_uk)]
        if new == carry_uk:
            break
        carry_uk = new
    cond_known, _, (pred_uk,), _ = partial_eval_jaxpr(cond_jaxpr, cc_uk + carry_uk, instantiate=False)
    if pred_uk or all(carry_uk):
        return trace.stage(while_p, tracers, params)
    n_known = sum(not u for u in carry_uk)
    known_vals = [t.pval.const for t, u in zip(tracers, cc_uk + bc_uk + carry_uk) if not u]
    known_outs = iter(while_p.bind(
        *known_vals, cond_jaxpr=dce_closed(_permute_outputs(cond_known, [0]))[0],
        body_jaxpr=dce_closed(_permute_outputs(body_known, list(range(n_known))))[0],
        cond_nconsts=sum(not u for u in cc_uk), body_nconsts=sum(not u for u in bc_uk)))
    staged = trace.stage(while_p, tracers, params) if any(carry_uk) else [None] * len(carry_uk)
    return [s if u else trace.pure(next(known_outs)) for s, u in zip(staged, carry_uk)]


def _while_transpose(*args, **params):
    raise ValueError("Reverse-mode differentiation does not work for lax.while_loop or lax.fori_loop with dynamic "
                     "start/stop values. Try using lax.scan, or using fori_loop with static start/stop.")


abstract_eval_rules[while_p] = _while_abstract
jvp_rules[while_p] = _while_jvp
batching_rules[while_p] = _while_batch
partial_eval_jaxpr_rules[while_p] = _while_partial_eval
transpose_rules[while_p] = _while_transpose


def while_loop(cond_fun: Callable, body_fun: Callable, init_val: Any) -> Any:
    """``lax.while_loop``: ``while cond_fun(val): val = body_fun(val)``, staged as one primitive."""
    leaves, tree = tree_flatten(init_val)
    leaves = [ew.asarray(x) for x in leaves]
    avals = [get_aval(x) for x in leaves]

    def body_flat(*xs):
        out = body_fun(tree_unflatten(tree, xs))
        out_leaves, out_tree = tree_flatten(out)
        if out_tree != tree:
            raise TypeError(f"body_fun output and input must have identical types, got\n{out_tree}\nand\n{tree}.")
        return out_leaves

    body, bconsts = _trace(body_flat, avals)
    promoted = _promote_weak_carry(leaves, body.out_avals)
    if promoted is not None:
        leaves = promoted
        avals = [get_aval(x) for x in leaves]
        body, bconsts = _trace(body_flat, avals)
    _check_same_avals("body_fun output and input", avals, body.out_avals)

    def cond_flat(*xs):
        pred = cond_fun(tree_unflatten(tree, xs))
        pl, _ = tree_flatten(pred)
        if len(pl) != 1 or get_aval(pl[0]).shape != () or get_aval(pl[0]).dtype != dtypes.bool_:
            raise TypeError(f"cond_fun must return a boolean scalar, but got output type(s) "
                            f"{[get_aval(p).str_short() for p in pl]}.")
        return pl

    cj, cconsts = _trace(cond_flat, avals)
    outs = while_p.bind(*cconsts, *bconsts, *leaves, cond_jaxpr=cj, body_jaxpr=body, cond_nconsts=len(cconsts),
                        body_nconsts=len(bconsts))
    return tree_unflatten(tree, outs)


# ======================================= scan ==============================================================
scan_p = Primitive("scan", multiple_results=True)
higher_order_primitives.add(scan_p)


def _scan_abstract(*args, jaxpr, length, reverse, num_consts, num_carry, unroll):
    carry = args[num_consts:num_consts + num_carry]
    xs = args[num_consts + num_carry:]
    for x in xs:
        if not x.shape or x.shape[0] != length:
            raise ValueError(f"scan got values with different leading axis sizes: {x.shape} vs length {length}")
    carry_out = jaxpr.out_avals[:num_carry]
    _check_same_avals("scan body function carry input and carry output", list(carry), carry_out)
    ys = [a.update(shape=(length,) + a.shape) for a in jaxpr.out_avals[num_carry:]]
    return [a.update(weak_type=a.weak_type and b.weak_type) for a, b in zip(carry, carry_out)] + ys


def _scan_jvp(primals, tangents, *, jaxpr, length, reverse, num_consts, num_carry, unroll):
    nc, nk = num_consts, num_carry
    nx = len(primals) - nc - nk
    ny = len(jaxpr.out_avals) - nk
    nz = [type(t) is not Zero for t in tangents]
    const_nz, carry_nz, xs_nz = nz[:nc], nz[nc:nc + nk], nz[nc + nk:]
    carry_nz = [n and dtypes.kind(get_aval(p).dtype) in "fc" for n, p in zip(carry_nz, primals[nc:nc + nk])]
    while True:
        jvp_j, out_nz = jvp_jaxpr(jaxpr, const_nz + carry_nz + xs_nz, instantiate_out=carry_nz + [False] * ny)
        new = [a or b for a, b in zip(carry_nz, out_nz[:nk])]
        if new == carry_nz:
            break
        carry_nz = new
    ys_nz = out_nz[nk:]
    counts = [sum(const_nz), sum(carry_nz), sum(xs_nz)]
    jvp_j = _permute_inputs(jvp_j, _interleave_perm([nc, nk, nx], counts))
    jvp_j = _permute_outputs(jvp_j, _interleave_perm([nk, ny], [sum(carry_nz), sum(ys_nz)]))
    ts = [instantiate(t) if i >= nc and i < nc + nk else t for i, t in enumerate(tangents)]
    ct = [t for t, n in zip(ts[:nc], const_nz) if n]
    kt = [t for t, n in zip(ts[nc:nc + nk], carry_nz) if n]
    xt = [t for t, n in zip(ts[nc + nk:], xs_nz) if n]
    outs = scan_p.bind(*primals[:nc], *ct, *primals[nc:nc + nk], *kt, *primals[nc + nk:], *xt, jaxpr=jvp_j,
                       length=length, reverse=reverse, num_consts=nc + len(ct), num_carry=nk + len(kt), unroll=unroll)
    n_kt = len(kt)
    carry_out, carry_t = outs[:nk], iter(outs[nk:nk + n_kt])
    ys, ys_t = outs[nk + n_kt:nk + n_kt + ny], iter(outs[nk + n_kt + ny:])
    out_avals = _scan_abstract(*[get_aval(p) for p in primals], jaxpr=jaxpr, length=length, reverse=reverse,
                               num_consts=nc, num_carry=nk, unroll=unroll)
    tangents_out = [next(carry_t) if n else Zero(a.at_least_vspace()) for n, a in zip(carry_nz, out_avals[:nk])]
    tangents_out += [next(ys_t) if n else Zero(a.at_least_vspace()) for n, a in zip(ys_nz, out_avals[nk:])]
    return list(carry_out) + list(ys), tangents_out


def _scan_batch(axis, vals, dims, *, jaxpr, length, reverse, num_consts, num_carry, unroll):
    nc, nk = num_consts, num_carry
    const_b = [d is not None for d in dims[:nc]]
    carry_b = [d is not None for d in dims[nc:nc + nk]]
    xs_b = [d is not None for d in dims[nc + nk:]]
    while True:
        _, out_b = batching.batch_jaxpr(jaxpr, axis, const_b + carry_b + xs_b, instantiate=carry_b + [False] * (len(jaxpr.out_avals) - nk))
        new = [a or b for a, b in zip(carry_b, out_b[:nk])]
        if new == carry_b:
            break
        carry_b = new
    body, out_b = batching.batch_jaxpr(jaxpr, axis, const_b + carry_b + xs_b,
                                       instantiate=carry_b + [False] * (len(jaxpr.out_avals) - nk))
    consts = [batching.moveaxis(v, d, 0) if d is not None else v for v, d in zip(vals[:nc], dims[:nc])]
    carry = [batching.matchaxis(axis.size, d, 0 if b else None, v) for v, d, b in zip(vals[nc:nc + nk], dims[nc:nc + nk], carry_b)]
    xs = [batching.moveaxis(v, d, 1) if d is not None else v for v, d in zip(vals[nc + nk:], dims[nc + nk:])]
    outs = scan_p.bind(*consts, *carry, *xs, jaxpr=body, length=length, reverse=reverse, num_consts=nc, num_carry=nk,
                       unroll=unroll)
    out_dims = [0 if b else None for b in carry_b] + [1 if b else None for b in out_b[nk:]]
    return outs, out_dims


def _scan_partial_eval(trace, tracers, *, jaxpr, length, reverse, num_consts, num_carry, unroll):
    nc, nk = num_consts, num_carry
    ny = len(jaxpr.out_avals) - nk
    uk = [not t.pval.is_known for t in tracers]
    const_uk, carry_uk, xs_uk = uk[:nc], uk[nc:nc + nk], uk[nc + nk:]
    while True:
        known, unknown, out_uk, num_res = partial_eval_jaxpr(jaxpr, const_uk + carry_uk + xs_uk,
                                                              instantiate=carry_uk + [False] * ny)
        new = [a or b for a, b in zip(carry_uk, out_uk[:nk])]
        if new == carry_uk:
            break
        carry_uk = new
    if all(carry_uk) and all(const_uk) and all(xs_uk):
        return trace.stage(scan_p, tracers, dict(jaxpr=jaxpr, length=length, reverse=reverse, num_consts=nc,
                                                 num_carry=nk, unroll=unroll))
    ys_uk = out_uk[nk:]
    # Known scan: known consts/carry/xs -> known carry, known ys, residuals stacked as extra ys.
    known_tr = [t for t, u in zip(tracers, const_uk + carry_uk + xs_uk) if not u]
    n_kc, n_kk = sum(not u for u in const_uk), sum(not u for u in carry_uk)
    known_vals = [t.pval.const for t in known_tr]
    outs = scan_p.bind(*known_vals, jaxpr=known, length=length, reverse=reverse, num_consts=n_kc, num_carry=n_kk,
                       unroll=unroll)
    n_ky = sum(not u for u in ys_uk)
    k_carry, k_ys, residuals = outs[:n_kk], outs[n_kk:n_kk + n_ky], outs[n_kk + n_ky:]
    # Unknown scan: inputs [residuals, unknown consts, unknown carry, unknown xs] -> reorder to
    # consts = unknown consts, carry = unknown carry, xs = residuals + unknown xs.
    n_uc, n_uk, n_ux = sum(const_uk), sum(carry_uk), sum(xs_uk)
    perm = list(range(num_res, num_res + n_uc + n_uk)) + list(range(num_res)) + \
        list(range(num_res + n_uc + n_uk, num_res + n_uc + n_uk + n_ux))
    unknown = _permute_inputs(unknown, perm)
    res_tracers = [trace.instantiate_const(trace.pure(r)) for r in residuals]
    const_tr = [trace.instantiate_const(t) for t, u in zip(tracers[:nc], const_uk) if u]
    carry_tr = [trace.instantiate_const(t) for t, u in zip(tracers[nc:nc + nk], carry_uk) if u]
    xs_tr = [trace.instantiate_const(t) for t, u in zip(tracers[nc + nk:], xs_uk) if u]
    staged = trace.stage(scan_p, const_tr + carry_tr + res_tracers + xs_tr,
                         dict(jaxpr=unknown, length=length, reverse=reverse, num_consts=n_uc, num_carry=n_uk,
                              unroll=unroll))
    kc_it, kys_it = iter(k_carry), iter(k_ys)
    uc_it, uys_it = iter(staged[:n_uk]), iter(staged[n_uk:])
    out = [next(uc_it) if u else trace.pure(next(kc_it)) for u in carry_uk]
    out += [next(uys_it) if u else trace.pure(next(kys_it)) for u in ys_uk]
    return out


def _scan_transpose(cts, *args, jaxpr, length, reverse, num_consts, num_carry, unroll):
    nc, nk = num_consts, num_carry
    consts, init, xs = args[:nc], args[nc:nc + nk], args[nc + nk:]
    # A carry whose initial value is a known constant (an instantiated zero tangent) is still linear
    # in the body; its cotangent is simply not returned.
    c_lin = [is_undefined(c) for c in consts]
    x_lin = [is_undefined(x) for x in xs]
    res_consts = [c for c in consts if not is_undefined(c)]
    res_xs = [x for x in xs if not is_undefined(x)]
    ct_carry = [instantiate(c) for c in cts[:nk]]
    y_avals = jaxpr.out_avals[nk:]
    ct_ys = [instantiate(c) if dtypes.kind(a.dtype) in "fc" else None for c, a in zip(cts[nk:], y_avals)]
    ct_ys_f = [c for c in ct_ys if c is not None]
    lin_const_avals = [c.aval for c in consts if is_undefined(c)]
    acc0 = [zeros_like_aval(a) for a in lin_const_avals]
    n_rc, n_acc, n_rx = len(res_consts), len(acc0), len(res_xs)

    def body(*args):
        rc = args[:n_rc]
        acc = args[n_rc:n_rc + n_acc]
        ctc = args[n_rc + n_acc:n_rc + n_acc + nk]
        rx = args[n_rc + n_acc + nk:n_rc + n_acc + nk + n_rx]
        cty = iter(args[n_rc + n_acc + nk + n_rx:])
        rc_it, rx_it = iter(rc), iter(rx)
        primals = [UndefinedPrimal(a) if l else next(rc_it) for a, l in zip(jaxpr.in_avals[:nc], c_lin)]
        primals += [UndefinedPrimal(a) for a in jaxpr.in_avals[nc:nc + nk]]
        primals += [UndefinedPrimal(a) if l else next(rx_it) for a, l in zip(jaxpr.in_avals[nc + nk:], x_lin)]
        cts_out = list(ctc) + [next(cty) if dtypes.kind(a.dtype) in "fc" else Zero(a.at_least_vspace()) for a in y_avals]
        cts_in = backward_pass(jaxpr.jaxpr, jaxpr.consts, primals, cts_out)
        ct_consts = [instantiate(c) for c, l in zip(cts_in[:nc], c_lin) if l]
        ct_init = [instantiate(c) for c in cts_in[nc:nc + nk]]
        ct_xs = [instantiate(c) for c, l in zip(cts_in[nc + nk:], x_lin) if l]
        return [add_tangents(a, c) for a, c in zip(acc, ct_consts)] + ct_init + ct_xs

    avals = [get_aval(c) for c in res_consts] + [get_aval(a) for a in acc0] + [get_aval(c) for c in ct_carry] + \
        [get_aval(x).update(shape=get_aval(x).shape[1:]) for x in res_xs] + \
        [get_aval(c).update(shape=get_aval(c).shape[1:]) for c in ct_ys_f]
    body_j, body_consts = _trace(body, avals)
    outs = scan_p.bind(*body_consts, *res_consts, *acc0, *ct_carry, *res_xs, *ct_ys_f, jaxpr=body_j, length=length,
                       reverse=not reverse, num_consts=len(body_consts) + n_rc, num_carry=n_acc + nk, unroll=unroll)
    ct_consts, ct_init, ct_xs = outs[:n_acc], outs[n_acc:n_acc + nk], outs[n_acc + nk:]
    cc_it, cx_it = iter(ct_consts), iter(ct_xs)
    ct_init = [c if is_undefined(x) else None for c, x in zip(ct_init, init)]
    return [next(cc_it) if l else None for l in c_lin] + ct_init + [next(cx_it) if l else None for l in x_lin]


abstract_eval_rules[scan_p] = _scan_abstract
jvp_rules[scan_p] = _scan_jvp
batching_rules[scan_p] = _scan_batch
partial_eval_jaxpr_rules[scan_p] = _scan_partial_eval
transpose_rules[scan_p] = _scan_transpose


def scan(f: Callable, init: Any, xs: Any = None, length: int | None = None, reverse: bool = False,
         unroll: int | bool = 1) -> tuple[Any, Any]:
    """``lax.scan``: ``carry, y = f(carry, x)`` over the leading axis of ``xs``; returns (carry, stacked ys)."""
    x_leaves, x_tree = tree_flatten(xs)
    x_leaves = [ew.asarray(x) for x in x_leaves]
    lengths = {get_aval(x).shape[0] if get_aval(x).shape else None for x in x_leaves}
    if None in lengths:
        raise ValueError("scan got value with no leading axis to scan over: " +
                         ", ".join(get_aval(x).str_short() for x in x_leaves if not get_aval(x).shape))
    if length is not None:
        lengths.add(int(length))
    if len(lengths) != 1:
        if not lengths:
            raise ValueError("scan got no values to scan over and `length` not provided.")
        raise ValueError(f"scan got values with different leading axis sizes: {sorted(lengths)}.")
    n = lengths.pop()
    c_leaves, c_tree = tree_flatten(init)
    c_leaves = [ew.asarray(c) for c in c_leaves]
    out_tree_box: list = []

    def body_flat(*args):
        carry = tree_unflatten(c_tree, args[:len(c_leaves)])
        x = tree_unflatten(x_tree, args[len(c_leaves):])
        out = f(carry, x)
        if not isinstance(out, tuple) or len(out) != 2:
            raise TypeError("scan body function must return a pair (carry, y)")
        new_c, y = out
        cl, ct = tree_flatten(new_c)
        if ct != c_tree:
            raise TypeError(f"scan body function carry input and carry output must have the same pytree structure, "
                            f"but they differ:\n{c_tree}\nvs\n{ct}")
        yl, yt = tree_flatten(y)
        out_tree_box[:] = [yt]
        return cl + yl

    def trace_body(c_leaves):
        avals = [get_aval(c) for c in c_leaves] + [get_aval(x).update(shape=get_aval(x).shape[1:]) for x in x_leaves]
        return _trace(body_flat, avals)

    body, consts = trace_body(c_leaves)
    promoted = _promote_weak_carry(c_leaves, body.out_avals[:len(c_leaves)])
    if promoted is not None:
        c_leaves = promoted
        body, consts = trace_body(c_leaves)
    outs = scan_p.bind(*consts, *c_leaves, *x_leaves, jaxpr=body, length=n, reverse=bool(reverse),
                       num_consts=len(consts), num_carry=len(c_leaves), unroll=int(unroll))
    carry = tree_unflatten(c_tree, outs[:len(c_leaves)])
    return carry, tree_unflatten(out_tree_box[0], outs[len(c_leaves):])


def fori_loop(lower: Any, upper: Any, body_fun: Callable, init_val: Any, *, unroll: int | None = None) -> Any:
    """``lax.fori_loop``: a scan when the bounds are concrete (so it is reverse-differentiable), else a
    while_loop."""
    from ..trace import concrete_or_none
    lo, hi = concrete_or_none(lower), concrete_or_none(upper)
    if lo is not None and hi is not None:
        lo_i, hi_i = int(lo), int(hi)
        dt = dtypes.result_type_weak(lower, upper)[0]
        if hi_i <= lo_i:
            return init_val

        def step(carry, _):
            i, val = carry
            return (ew.add(i, ew._const(i, 1)), body_fun(i, val)), None
        i0 = ew.convert_element_type(lo_i, dt)
        (_, out), _ = scan(step, (i0, init_val), None, length=hi_i - lo_i, unroll=unroll or 1)
        return out
    dt = dtypes.result_type_weak(lower, upper)[0]
    lower = ew.convert_element_type(lower, dt) if not hasattr(lower, "aval") else lower
    upper = ew.convert_element_type(upper, dt) if not hasattr(upper, "aval") else upper

    def cond_fn(c):
        return ew.lt(c[0], c[1])

    def body(c):
        i, u, v = c
        return ew.add(i, ew._const(i, 1)), u, body_fun(i, v)
    return while_loop(cond_fn, body, (lower, upper, init_val))[2]


def map(f: Callable, xs: Any, *, batch_size: int | None = None) -> Any:
    """``lax.map``: apply ``f`` to each leading-axis slice of ``xs`` sequentially (a scan)."""
    if batch_size is not None:
        from ..api import vmap
        leaves, tree = tree_flatten(xs)
        n = get_aval(leaves[0]).shape[0]
        if n % batch_size:
            raise ValueError(f"lax.map batch_size={batch_size} must divide the leading axis size {n}")
        chunked = tree_unflatten(tree, [st.reshape(x, (n // batch_size, batch_size) + get_aval(x).shape[1:]) for x in leaves])
        _, ys = scan(lambda c, x: (c, vmap(f)(x)), None, chunked)
        yl, yt = tree_flatten(ys)
        return tree_unflatten(yt, [st.reshape(y, (n,) + get_aval(y).shape[2:]) for y in yl])
    _, ys = scan(lambda c, x: (c, f(x)), None, xs)
    return ys


CONTROL_FLOW = (cond_p, while_p, scan_p)
