"""Control flow primitives with full rule sets: ``cond`` (n-way), ``while``, ``scan``; and the lax
wrappers ``cond``, ``switch``, ``while_loop``, ``fori_loop``, ``scan``, ``map``."""
from __future__ import annotations

import collections.abc
import weakref
from typing import Any, Callable, Sequence

import numpy as np

from .. import dtypes
from ..config import config
from ..errors import ConcretizationTypeError
from ..explicit_sharding import leading_slice
from ..ad_util import Zero, add_tangents, instantiate, zeros_like_aval
from ..interpreters import batching
from ..interpreters.evaluation import dce_jaxpr, eval_jaxpr
from ..interpreters.jvp import jvp_jaxpr
from ..interpreters.memo import memoize_jaxpr_transform, trace_once
from ..interpreters.partial_eval import dce_closed, partial_eval_jaxpr
from ..interpreters.staging import convert_constvars, trace_to_jaxpr
from ..interpreters.transpose import UndefinedPrimal, backward_pass, is_undefined, transpose_jaxpr
from ..ir import ClosedJaxpr, Jaxpr, ShapedArray, Var
from ..pytree import tree_flatten, tree_map, tree_unflatten, treedef_is_leaf
from ..trace import (Primitive, abstract_eval_rules, batching_rules, concrete_or_error, concrete_or_none, get_aval,
                     higher_order_primitives, jvp_rules, partial_eval_jaxpr_rules, transpose_rules)
from . import elementwise as ew
from . import reductions as red
from . import structural as st
from .control_flow_checks import aval_repr, aval_str, check_branch_outputs, check_carry_type


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
        index = ew.clamp(0, index, len(branches) - 1) if len(branches) > 2 else index
        per_row = lambda which, *cases: ew.select_n(st.broadcast_in_dim(which, get_aval(cases[0]).shape, (0,)),
                                                    *cases)
        results = []
        for i, b in enumerate(branches):
            bb, _ = batching.batch_jaxpr(b, axis, [True] * len(ops), instantiate=True)
            # as JAX (#1052): rows not taking branch i see its operands through stop_gradient, so the branch's
            # derivative where it was not taken (e.g. sqrt at 0) never reaches the cotangents
            taken = ew.eq(index, ew._const(index, i))
            results.append(eval_jaxpr(bb.jaxpr, bb.consts, *[per_row(taken, ew.stop_gradient(x), x) for x in ops]))
        if len(branches) == 2:
            index = ew.convert_element_type(index, dtypes.bool_)
        outs = [per_row(index, *cases) for cases in zip(*results)]
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
    slots, placements = _merge_residuals([k.out_avals[n_known_out:] for k, _, _, _ in splits])

    known_branches, unknown_branches = [], []
    for (known, unknown, _, num_res), mine in zip(splits, placements):
        def known_fun(*args, known=known, mine=mine):
            outs = eval_jaxpr(known.jaxpr, known.consts, *args)
            res = [zeros_like_aval(a) for a in slots]
            for slot, r in zip(mine, outs[n_known_out:]):
                res[slot] = r
            return outs[:n_known_out] + res
        known_branches.append(ClosedJaxpr(*trace_to_jaxpr(known_fun, [t.aval for t in ops if t.pval.is_known])))
        unknown_branches.append(_place_residuals(unknown, slots, mine))
    known_vals = [t.pval.const for t in ops if t.pval.is_known]
    outs_res = cond_p.bind(index.pval.const, *known_vals, branches=tuple(known_branches))
    known_outs, residuals = outs_res[:n_known_out], outs_res[n_known_out:]
    res_tracers = [trace.instantiate_const(trace.pure(r)) for r in residuals]
    staged = trace.stage(cond_p, [trace.instantiate_const(index)] + res_tracers + [t for t in ops if not t.pval.is_known],
                         dict(branches=tuple(unknown_branches)))
    known_it, staged_it = iter(known_outs), iter(staged)
    return [next(staged_it) if u else trace.pure(next(known_it)) for u in out_uk]


def _merge_residuals(res_avals: list) -> tuple[list, list]:
    """Residual slots the branches share, as JAX merges them: each type gets as many slots as the branch needing
    most of that type. Returns the slots' avals and, per branch, the slot of each of its residuals."""
    slots: list = []
    placements = []
    for avals in res_avals:
        taken: list[int] = []
        for a in avals:
            slot = next((k for k, s in enumerate(slots) if s == a and k not in taken), None)
            if slot is None:
                slots.append(a)
                slot = len(slots) - 1
            taken.append(slot)
        placements.append(taken)
    return slots, placements


def _place_residuals(unknown: ClosedJaxpr, slots: list, mine: list) -> ClosedJaxpr:
    """The unknown branch receives every residual slot and reads only those of its own residuals (``mine``)."""
    j = unknown.jaxpr
    binders = [Var(a) for a in slots]
    for slot, b in zip(mine, j.in_binders):
        binders[slot] = b
    return ClosedJaxpr(Jaxpr(j.constvars, binders + j.in_binders[len(mine):], j.eqns, j.outs), unknown.consts)


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


def _trace_branches(api_name: str, names: Sequence[str], funs: Sequence[Callable], operands: tuple):
    ops, in_tree = tree_flatten(operands)
    ops = [ew.asarray(o) for o in ops]
    avals = [get_aval(o) for o in ops]
    branches, consts, out_tree = trace_once(tuple(funs), (api_name, in_tree, tuple(avals)),
                                            lambda: _trace_branch_funs(api_name, names, funs, in_tree, avals))
    return branches, consts, ops, out_tree


def _trace_branch_funs(api_name: str, names: Sequence[str], funs: Sequence[Callable], in_tree: Any,
                       avals: list) -> tuple:
    traced, out_trees = [], []
    for f in funs:
        def flat(*xs, f=f):
            out = f(*tree_unflatten(in_tree, xs))
            leaves, tree = tree_flatten(out)
            out_trees.append(tree)
            return leaves
        traced.append(_trace(flat, avals))
    for i in range(1, len(funs)):
        check_branch_outputs(api_name, names[0], names[i], funs[0], funs[i], out_trees[0], traced[0][0].out_avals,
                             out_trees[i], traced[i][0].out_avals)
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
    return tuple(branches), all_consts, out_trees[0]


_NO_OPERAND = object()


def _operand_keyword(operand: Any, operands: tuple) -> tuple:
    """The operands, given positionally or as JAX's legacy ``operand=`` keyword (not both)."""
    if operand is _NO_OPERAND:
        return operands
    if operands:
        raise TypeError("if 'operand' keyword is passed then no positional operands can be passed, got "
                        f"operand={operand!r} and positional operands {operands}")
    return (operand,)


def switch(index: Any, branches: Sequence[Callable], *operands: Any, operand: Any = _NO_OPERAND) -> Any:
    """``lax.switch``: apply ``branches[clamp(index)]`` to ``operands``."""
    if not all(callable(b) for b in branches):
        raise TypeError("lax.switch: branches argument should be a sequence of callables.")
    operands = _operand_keyword(operand, operands)
    if np.ndim(index) != 0:
        raise TypeError(f"Branch index must be scalar, got {index} of shape {np.shape(index)}.")
    try:
        index_dtype = dtypes.result_type(index)
    except TypeError as err:
        raise TypeError(f"Index type must be an integer, got {index}.") from err
    if dtypes.kind(index_dtype) not in "iu":
        raise TypeError(f"Index type must be an integer, got {index} as {index_dtype}")
    branches = tuple(branches)
    if not branches:
        raise ValueError("Empty branch sequence")
    if len(branches) == 1:
        return branches[0](*operands)
    idx = ew.clamp(np.int32(0), ew.convert_element_type(index, dtypes.int32), np.int32(len(branches) - 1))
    if config.disable_jit and concrete_or_none(idx) is not None:  # as Python control flow
        return branches[int(concrete_or_none(idx))](*operands)
    names = ["branch 0"] + [f"branch{i}" for i in range(1, len(branches))]
    jaxprs, consts, ops, out_tree = _trace_branches("switch", names, branches, operands)
    return tree_unflatten(out_tree, _bind_cond_forwarding(idx, jaxprs, consts + ops))


def _bind_cond_forwarding(index: Any, branches: Sequence[ClosedJaxpr], inputs: list) -> list:
    """``cond_p`` of ``branches``, except that an output every branch takes unchanged from the same input is
    that input (as JAX forwards it: under vmap it stays unbatched when the input is)."""
    fwd, pruned = _forwarded_outputs(branches[0], tuple(branches[1:]))
    if all(k is None for k in fwd):
        return cond_p.bind(index, *inputs, branches=tuple(branches))
    outs = iter(cond_p.bind(index, *inputs, branches=pruned) if pruned[0].out_avals or any(b.effects for b in pruned)
                else [])
    return [next(outs) if k is None else inputs[k] for k in fwd]


@memoize_jaxpr_transform
def _forwarded_outputs(first: ClosedJaxpr, rest: tuple) -> tuple:
    """``(fwd, pruned)``: for each output, the input every branch returns there unchanged (else None), and the
    branches without those outputs (memoised: the same branches compile once)."""
    def source(j: Jaxpr, out) -> int | None:
        return next((k for k, v in enumerate(j.in_binders) if v is out), None)
    fwd = [source(first.jaxpr, o) for o in first.jaxpr.outs]
    fwd = [k if k is not None and all(source(b.jaxpr, b.jaxpr.outs[i]) == k for b in rest) else None
           for i, k in enumerate(fwd)]
    keep = [i for i, k in enumerate(fwd) if k is None]
    pruned = tuple(ClosedJaxpr(Jaxpr(b.jaxpr.constvars, b.jaxpr.in_binders, b.jaxpr.eqns,
                                     [b.jaxpr.outs[i] for i in keep]), b.consts) for b in (first, *rest))
    return fwd, pruned


def cond(pred: Any, true_fun: Callable, false_fun: Callable, *operands: Any, operand: Any = _NO_OPERAND) -> Any:
    """``lax.cond``: ``true_fun(*operands)`` if ``pred`` else ``false_fun(*operands)``, staged as one primitive."""
    if not (callable(true_fun) and callable(false_fun)):
        if callable(false_fun) and len(operands) == 2 and callable(operands[1]):  # cond(p, x_t, f_t, x_f, f_f)
            x_true, f_true, x_false, f_false = true_fun, false_fun, *operands
            return cond(pred, lambda x, _: f_true(x), lambda _, x: f_false(x), x_true, x_false)
        raise TypeError("lax.cond: true_fun and false_fun arguments should be callable.")
    operands = _operand_keyword(operand, operands)
    if pred is None:
        raise TypeError("cond predicate is None")
    if isinstance(pred, collections.abc.Sequence) or np.ndim(pred) != 0:
        raise TypeError(f"Pred must be a scalar, got {pred} of " +
                        (f"type {type(pred)}" if isinstance(pred, collections.abc.Sequence)
                         else f"shape {np.shape(pred)}."))
    try:
        pred_dtype = dtypes.result_type(pred)
    except TypeError as err:
        raise TypeError(f"Pred type must be either boolean or number, got {pred}.") from err
    if dtypes.kind(pred_dtype) not in "biuf":
        raise TypeError(f"Pred type must be either boolean or number, got {pred_dtype}.")
    p = ew.asarray(pred)
    if config.disable_jit and concrete_or_none(p) is not None:  # as Python control flow
        return true_fun(*operands) if concrete_or_none(p) else false_fun(*operands)
    idx = ew.convert_element_type(ew.ne(p, ew._const(p, 0)) if pred_dtype != dtypes.bool_ else p, dtypes.int32)
    jaxprs, consts, ops, out_tree = _trace_branches("cond", ("true_fun", "false_fun"), (true_fun, false_fun),
                                                    operands)
    return tree_unflatten(out_tree, _bind_cond_forwarding(idx, jaxprs[::-1], consts + ops))  # 0 is false_fun


def platform_dependent(*args: Any, default: Callable | None = None, **per_platform: Callable) -> Any:
    """``lax.platform_dependent``: ``per_platform[platform](*args)``, else ``default(*args)``. JAX picks the
    branch when lowering; portax lowers for one backend, so it picks it when tracing, by the platform of the
    default backend (``cpu`` for cpu_llvm and reference; wgpu's ``gpu`` is not a key JAX allows, so it takes
    ``default``)."""
    for name, branch in per_platform.items():
        if not callable(branch):
            raise TypeError(f"lax.platform_dependent: the '{name}' branch must be a callable.")
        if name == "gpu":
            raise ValueError("Use 'cuda' or 'rocm' for lax.platform_dependent.")
    if default is not None and not callable(default):
        raise TypeError("lax.platform_dependent: the 'default' branch must be a callable.")
    from ..backend import get_backend
    platform = get_backend().platform
    branch = per_platform.get(platform, default)
    if branch is None:
        raise NotImplementedError(f"MLIR translation rule for primitive 'platform_index' not found for platform "
                                  f"{platform}")
    return branch(*args)


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
    if not (callable(body_fun) and callable(cond_fun)):
        raise TypeError("lax.while_loop: body_fun and cond_fun arguments should be callable.")
    if config.disable_jit:
        try:
            return _python_while(cond_fun, body_fun, init_val)
        except ConcretizationTypeError:  # a traced predicate (e.g. under vmap): staged as the primitive
            pass
    leaves, tree = tree_flatten(init_val)
    leaves = [ew.asarray(x) for x in leaves]
    out_tree_box: list = []

    def body_flat(*xs):
        out_leaves, out_tree = tree_flatten(body_fun(tree_unflatten(tree, xs)))
        out_tree_box[:] = [out_tree]
        return out_leaves

    def cond_flat(*xs):
        pl, pred_tree = tree_flatten(cond_fun(tree_unflatten(tree, xs)))
        if not treedef_is_leaf(pred_tree) or len(pl) != 1:
            raise TypeError(f"cond_fun must return a boolean scalar, but got pytree {pred_tree}.")
        pred = get_aval(pl[0])
        if pred.shape != () or pred.dtype != dtypes.bool_:
            raise TypeError(f"cond_fun must return a boolean scalar, but got output type(s) [{aval_repr(pred)}].")
        return pl

    def trace(avals):  # each function's trace is reused on its own, as JAX's
        key = (tree, tuple(avals))
        return (*trace_once((cond_fun,), ("while_cond", *key), lambda: _trace(cond_flat, avals)),
                *trace_once((body_fun,), ("while_body", *key), lambda: (*_trace(body_flat, avals), out_tree_box[0])))

    avals = [get_aval(x) for x in leaves]
    cj, cconsts, body, bconsts, out_tree = trace(avals)
    if len(body.out_avals) != len(avals):
        check_carry_type("while_loop body", body_fun, tree, avals, out_tree, body.out_avals)
    promoted = _promote_weak_carry(leaves, body.out_avals)
    if promoted is not None:
        leaves = promoted
        avals = [get_aval(x) for x in leaves]
        cj, cconsts, body, bconsts, out_tree = trace(avals)
    check_carry_type("while_loop body", body_fun, tree, avals, out_tree, body.out_avals)
    return tree_unflatten(tree, _bind_while_readonly(cj, cconsts, body, bconsts, leaves))


def _bind_while_readonly(cj: ClosedJaxpr, cconsts: list, body: ClosedJaxpr, bconsts: list, carry: list) -> list:
    """``while_p``, except that a carry the body passes on unchanged and the predicate does not read is a body
    constant (as JAX: under vmap with a batched predicate it then stays unbatched)."""
    nc, nb = len(cconsts), len(bconsts)
    move, cj_kept, body_kept = _readonly_carry(cj, body, nc, nb)
    if not any(move) or all(move):
        return while_p.bind(*cconsts, *bconsts, *carry, cond_jaxpr=cj, body_jaxpr=body, cond_nconsts=nc,
                            body_nconsts=nb)
    moved, kept = [c for c, m in zip(carry, move) if m], [c for c, m in zip(carry, move) if not m]
    outs = iter(while_p.bind(*cconsts, *moved, *bconsts, *kept, cond_jaxpr=cj_kept, body_jaxpr=body_kept,
                             cond_nconsts=nc, body_nconsts=nb + len(moved)))
    return [c if m else next(outs) for c, m in zip(carry, move)]


@memoize_jaxpr_transform
def _readonly_carry(cj: ClosedJaxpr, body: ClosedJaxpr, nc: int, nb: int) -> tuple:
    """``(move, cond, body)``: which carries are read-only (passed on unchanged, unread by the predicate), and the
    loop's jaxprs with those carries as the body's leading constants (memoised: the same jaxprs compile once)."""
    bj = body.jaxpr
    move = [bj.outs[i] is bj.in_binders[nb + i] and not r for i, r in enumerate(dce_jaxpr(cj.jaxpr)[1][nc:])]
    keep, moved = [i for i, m in enumerate(move) if not m], [i for i, m in enumerate(move) if m]
    cj = ClosedJaxpr(Jaxpr(cj.jaxpr.constvars, cj.jaxpr.in_binders[:nc] + [cj.jaxpr.in_binders[nc + i] for i in keep],
                           cj.jaxpr.eqns, cj.jaxpr.outs), cj.consts)
    binders = [bj.in_binders[nb + i] for i in moved] + bj.in_binders[:nb] + [bj.in_binders[nb + i] for i in keep]
    return move, cj, ClosedJaxpr(Jaxpr(bj.constvars, binders, bj.eqns, [bj.outs[i] for i in keep]), body.consts)


def _python_while(cond_fun: Callable, body_fun: Callable, init_val: Any) -> Any:
    """``while_loop`` under ``jax_disable_jit``: a Python loop."""
    val = tree_map(ew.asarray, init_val)
    while cond_fun(val):
        val = tree_map(ew.asarray, body_fun(val))
    return val


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
        [leading_slice(get_aval(x)) for x in res_xs] + [leading_slice(get_aval(c)) for c in ct_ys_f]
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


def _scan_length(x_leaves: list, length: Any) -> int:
    """The number of iterations: ``length`` and the leading axis sizes of ``xs`` must agree (JAX's errors)."""
    shapes = [get_aval(x).shape for x in x_leaves]
    if any(not sh for sh in shapes):
        raise ValueError("scan got value with no leading axis to scan over: " +
                         ", ".join(str(x) for x, sh in zip(x_leaves, shapes) if not sh) + ".")
    lengths = [sh[0] for sh in shapes]
    if length is not None:
        length = int(concrete_or_error(length, "The `length` argument to `scan` expects a concrete `int` value. "
                                       "For scan-like iteration with a dynamic length, use `while_loop` or "
                                       "`fori_loop`."))
        if any(n != length for n in lengths):
            raise ValueError(f"scan got `length` argument of {length} which disagrees with leading axis sizes "
                             f"{lengths}.")
        return length
    if len(set(lengths)) > 1:
        raise ValueError(f"scan got values with different leading axis sizes: {', '.join(str(n) for n in lengths)}.")
    if not lengths:
        raise ValueError("scan got no values to scan over and `length` not provided.")
    return lengths[0]


def _scan_unroll(unroll: Any, length: int) -> int:
    unroll = concrete_or_error(unroll, "The `unroll` argument to `scan` expects a concrete `int` or `bool` value.")
    if unroll.dtype == np.bool_:
        return max(length, 1) if unroll else 1
    if int(unroll) < 0:
        raise ValueError("`unroll` must be a `bool` or a non-negative `int`.")
    return int(unroll)


def scan(f: Callable, init: Any, xs: Any = None, length: int | None = None, reverse: bool = False,
         unroll: int | bool = 1, _split_transpose: bool = False) -> tuple[Any, Any]:
    """``lax.scan``: ``carry, y = f(carry, x)`` over the leading axis of ``xs``; returns (carry, stacked ys).
    ``_split_transpose`` (JAX's memory-layout hint for the transposed loop) does not change results and is
    not used."""
    if not callable(f):
        raise TypeError("lax.scan: f argument should be a callable.")
    x_leaves, x_tree = tree_flatten(xs)
    x_leaves = [ew.asarray(x) for x in x_leaves]
    n = _scan_length(x_leaves, length)
    c_leaves, c_tree = tree_flatten(init)
    c_leaves = [ew.asarray(c) for c in c_leaves]
    if config.disable_jit:
        return _python_scan(f, tree_unflatten(c_tree, c_leaves), x_leaves, x_tree, n, reverse)
    out_tree_box: list = []

    def body_flat(*args):
        carry = tree_unflatten(c_tree, args[:len(c_leaves)])
        x = tree_unflatten(x_tree, args[len(c_leaves):])
        out = f(carry, x)
        if not isinstance(out, tuple) or len(out) != 2:
            leaves, tree = tree_flatten(out)
            shown = tree_unflatten(tree, [_AvalStr(get_aval(ew.asarray(v))) for v in leaves])
            raise TypeError(f"scan body output must be a pair, got {shown}.")
        cl, ct = tree_flatten(out[0])
        yl, yt = tree_flatten(out[1])
        out_tree_box[:] = [ct, yt]
        return cl + yl

    def trace_body(c_leaves):
        avals = [get_aval(c) for c in c_leaves] + [leading_slice(get_aval(x)) for x in x_leaves]
        body, consts, carry_tree, y_tree = trace_once((f,), ("scan", c_tree, x_tree, tuple(avals)), lambda: (
            *_trace(body_flat, avals), *out_tree_box))
        return body, consts, carry_tree, y_tree, body.out_avals[:carry_tree.num_leaves]

    c_avals = [get_aval(c) for c in c_leaves]
    body, consts, carry_tree, y_tree, carry_out = trace_body(c_leaves)
    if len(carry_out) != len(c_leaves):
        check_carry_type("scan body", f, c_tree, c_avals, carry_tree, carry_out)
    promoted = _promote_weak_carry(c_leaves, carry_out)
    if promoted is not None:
        c_leaves = promoted
        c_avals = [get_aval(c) for c in c_leaves]
        body, consts, carry_tree, y_tree, carry_out = trace_body(c_leaves)
    check_carry_type("scan body", f, c_tree, c_avals, carry_tree, carry_out)
    unroll = _scan_unroll(unroll, n)
    moved, y_from_x, body = _scan_forwarding(body, len(consts), len(c_leaves))
    ro = [c for c, m in zip(c_leaves, moved) if m]
    kept = [c for c, m in zip(c_leaves, moved) if not m]
    outs = scan_p.bind(*consts, *ro, *kept, *x_leaves, jaxpr=body, length=n, reverse=bool(reverse),
                       num_consts=len(consts) + len(ro), num_carry=len(kept), unroll=unroll)
    carry_out, ys = iter(outs[:len(kept)]), iter(outs[len(kept):])
    carry = [c if m else next(carry_out) for c, m in zip(c_leaves, moved)]
    return tree_unflatten(c_tree, carry), tree_unflatten(y_tree, [next(ys) if k is None else x_leaves[k]
                                                                  for k in y_from_x])


@memoize_jaxpr_transform
def _scan_forwarding(body: ClosedJaxpr, nc: int, n_carry: int) -> tuple:
    """``(moved, y_from_x, body)``, as JAX forwards them: a carry the body returns unchanged is read-only (a
    constant of the loop, so its value is the initial one and under vmap it stays unbatched if that is), and an
    output the body takes unchanged from an ``xs`` input is that input (``y_from_x[k]``, else None) outside the loop.
    Memoised: the same body compiles once."""
    j = body.jaxpr
    moved = [j.outs[i] is j.in_binders[nc + i] for i in range(n_carry)]
    xs_binders = j.in_binders[nc + n_carry:]
    y_from_x = [next((k for k, b in enumerate(xs_binders) if b is o), None) for o in j.outs[n_carry:]]
    order = list(range(nc)) + [nc + i for i, m in enumerate(moved) if m] + \
        [nc + i for i, m in enumerate(moved) if not m] + list(range(nc + n_carry, len(j.in_binders)))
    outs = [o for o, m in zip(j.outs, moved) if not m] + [o for o, k in zip(j.outs[n_carry:], y_from_x) if k is None]
    return moved, y_from_x, ClosedJaxpr(Jaxpr(j.constvars, [j.in_binders[k] for k in order], j.eqns, outs),
                                        body.consts)


def _python_scan(f: Callable, carry: Any, x_leaves: list, x_tree, length: int, reverse: bool) -> tuple[Any, Any]:
    """``scan`` under ``jax_disable_jit``: a Python loop over the slices of ``xs``, its ``ys`` stacked."""
    if length == 0:
        raise ValueError("zero-length scan is not supported in disable_jit() mode because the output type is "
                         "unknown.")
    ys = []
    for i in (reversed(range(length)) if reverse else range(length)):
        carry, y = f(carry, tree_unflatten(x_tree, [st.index_in_dim(x, i, keepdims=False) for x in x_leaves]))
        ys.append(y)
    ys = ys[::-1] if reverse else ys
    return carry, tree_map(lambda *y: st.concatenate([st.expand_dims(ew.asarray(v), (0,)) for v in y], 0), *ys)


class _AvalStr:
    """An aval shown as JAX shows one in a pytree: ``float32[]`` by ``str``, ``ShapedArray(...)`` by ``repr``."""

    def __init__(self, aval: ShapedArray):
        self.aval = aval

    def __str__(self) -> str:
        return ("~" if self.aval.weak_type else "") + aval_str(self.aval)

    def __repr__(self) -> str:
        return aval_repr(self.aval)


def _fori_index_dtype(lower: Any, upper: Any) -> np.dtype:
    """The loop index dtype: the bounds' common dtype, or a weak bound takes the other's signed integer dtype."""
    lo, hi = get_aval(ew.asarray(lower)), get_aval(ew.asarray(upper))
    if lo.dtype == hi.dtype:
        return lo.dtype
    if dtypes.kind(lo.dtype) == "i" and dtypes.kind(hi.dtype) == "i" and lo.weak_type != hi.weak_type:
        return hi.dtype if lo.weak_type else lo.dtype
    raise TypeError(f"lower and upper arguments to fori_loop must have equal types, got {lo.dtype.name} and "
                    f"{hi.dtype.name}")


def fori_loop(lower: Any, upper: Any, body_fun: Callable, init_val: Any, *, unroll: int | bool | None = None) -> Any:
    """``lax.fori_loop``: a scan when the bounds are concrete (so it is reverse-differentiable), else a
    while_loop."""
    if not callable(body_fun):
        raise TypeError("lax.fori_loop: body_fun argument should be callable.")
    dt = _fori_index_dtype(lower, upper)
    lo, hi = concrete_or_none(lower), concrete_or_none(upper)
    step, body = _fori_bodies(body_fun)
    if lo is not None and hi is not None:
        if config.disable_jit and int(hi) <= int(lo):  # (a Python scan of no steps has no output type)
            return init_val
        # the index starts as the Python int lower bound (weakly typed), as in JAX
        (_, out), _ = scan(step, (int(lo), init_val), None, length=max(int(hi) - int(lo), 0),
                           unroll=False if unroll is None else unroll)
        return out
    if unroll is not None and unroll is not False and unroll != 1:
        raise ValueError("Can only use `unroll` in `fori_loop` if the loop bounds are statically known.")
    lower, upper = (x if get_aval(ew.asarray(x)).dtype == dt else ew.convert_element_type(x, dt)
                    for x in (lower, upper))
    return while_loop(_fori_cond, body, (lower, upper, init_val))[2]


def _fori_cond(c):
    return ew.lt(c[0], c[1])


_fori_wrappers: "weakref.WeakKeyDictionary[Callable, tuple]" = weakref.WeakKeyDictionary()


def _fori_bodies(body_fun: Callable) -> tuple[Callable, Callable]:
    """fori_loop's scan step and while body around ``body_fun``: the same two functions for the same ``body_fun``,
    as JAX's, so that the traces of them are reused. They hold ``body_fun`` weakly (the key of their cache)."""
    try:
        hit = _fori_wrappers.get(body_fun)
        if hit is None:
            hit = _fori_wrappers.setdefault(body_fun, _fori_wrap(weakref.ref(body_fun)))
        return hit
    except TypeError:  # not weakly referenceable: wrappers of its own
        return _fori_wrap(lambda: body_fun)


def _fori_wrap(body_ref: Callable) -> tuple[Callable, Callable]:
    def step(carry, _):
        i, val = carry
        return (ew.add(i, ew._const(i, 1)), body_ref()(i, val)), None

    def body(c):
        i, u, v = c
        return ew.add(i, ew._const(i, 1)), u, body_ref()(i, v)
    return step, body


def map(f: Callable, xs: Any, *, batch_size: int | None = None) -> Any:
    """``lax.map``: apply ``f`` to each leading-axis slice of ``xs`` sequentially (a scan); with
    ``batch_size``, ``vmap(f)`` over chunks of that size, the remainder in one more ``vmap`` (0: one ``vmap``)."""
    if batch_size is None:
        return scan(lambda c, x: (c, f(x)), (), xs)[1]
    from ..api import vmap
    leaves, tree = tree_flatten(xs)
    if not leaves:
        return scan(lambda c, x: (c, vmap(f)(x)), (), xs)[1]
    n = get_aval(leaves[0]).shape[0]
    num_batches, rest = (0, n) if batch_size == 0 else divmod(n, batch_size)
    if not num_batches:
        return vmap(f)(xs)
    done = num_batches * batch_size
    chunked = tree_unflatten(tree, [st.reshape(st.slice_in_dim(x, 0, done), (num_batches, batch_size)
                                               + get_aval(x).shape[1:]) for x in leaves])
    ys = scan(lambda c, x: (c, vmap(f)(x)), (), chunked)[1]
    ys = tree_map(lambda y: st.reshape(y, (done,) + get_aval(y).shape[2:]), ys)
    if rest:
        rest_ys = vmap(f)(tree_unflatten(tree, [st.slice_in_dim(x, done, n) for x in leaves]))
        ys = tree_map(lambda a, b: st.concatenate([a, b], 0), ys, rest_ys)
    return ys


CONTROL_FLOW = (cond_p, while_p, scan_p)
