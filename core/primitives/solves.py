"""Solves with implicitly defined derivatives (``jax.lax.custom_linear_solve`` and ``custom_root``).

``linear_solve`` is a primitive whose four jaxprs (matvec, vecmat, solve, transpose_solve) all take the
same inputs, ``(consts..., x...)``: the forward pass runs ``solve``; the JVP solves again for the tangent
(``x' = A^-1 (b' - A' x)``), so the result is linear in ``b``; the transpose swaps the roles of the jaxprs.
``custom_root`` is a ``custom_jvp`` whose tangent rule applies the user's ``tangent_solve``."""
from __future__ import annotations

from typing import Any, Callable, Sequence

from ..ad_util import Zero, add_tangents, instantiate, zeros_like_aval
from ..interpreters import batching
from ..interpreters.evaluation import eval_jaxpr
from ..interpreters.jvp import jvp_flat
from ..interpreters.transpose import is_undefined, transpose_jaxpr
from ..ir import ClosedJaxpr, Jaxpr, ShapedArray, Var
from ..pytree import tree_flatten, tree_unflatten
from ..trace import (Primitive, abstract_eval_rules, batching_rules, get_aval, higher_order_primitives, impl_rules,
                     jvp_rules, transpose_rules)
from . import call
from . import elementwise as ew
from .custom_derivatives import custom_jvp

_JAXPRS = ("matvec", "vecmat", "solve", "transpose_solve")

linear_solve_p = Primitive("custom_linear_solve", multiple_results=True)
higher_order_primitives.add(linear_solve_p)


def _linear_solve_abstract(*avals: ShapedArray, matvec, vecmat, solve, transpose_solve, num_consts):
    b = avals[num_consts:]
    return list(b) + list(solve.out_avals[len(b):])


def _linear_solve_impl(*args, solve, **_):
    return call._pjit_impl(*args, jaxpr=solve, name="custom_linear_solve")


def _linear_solve_jvp(primals, tangents, **params):
    nc = params["num_consts"]
    x = linear_solve_p.bind(*primals, **params)
    consts, const_dots, b_dots = primals[:nc], tangents[:nc], tangents[nc:]
    xs = x[:len(b_dots)]
    rhs = list(b_dots)
    if any(type(t) is not Zero for t in const_dots):  # b' - A' x: the matvec's tangent in its constants only
        matvec = params["matvec"]
        _, mv_dots = jvp_flat(lambda *c: eval_jaxpr(matvec.jaxpr, matvec.consts, *c, *xs), consts, const_dots)
        rhs = [add_tangents(r, ew.neg(m)) for r, m in zip(rhs, mv_dots)]
    out_avals = [get_aval(o).at_least_vspace() for o in x]
    if all(type(r) is Zero for r in rhs):
        return x, [Zero(a) for a in out_avals]
    x_dot = linear_solve_p.bind(*consts, *[instantiate(r) for r in rhs], **params)
    return x, x_dot[:len(rhs)] + [Zero(a) for a in out_avals[len(rhs):]]


def _linear_solve_transpose(cts, *args, matvec, vecmat, solve, transpose_solve, num_consts):
    if transpose_solve is None:
        raise TypeError("transpose_solve required for backwards mode automatic differentiation of "
                        "custom_linear_solve")
    consts, b = args[:num_consts], args[num_consts:]
    if any(is_undefined(c) for c in consts):
        raise NotImplementedError("custom_linear_solve: transposition with respect to the linear map's "
                                  "constants is not supported (only the right-hand side is linear)")
    x_cts = [instantiate(c) for c in cts[:len(b)]]
    b_cts = linear_solve_p.bind(*consts, *x_cts, matvec=vecmat, vecmat=matvec, solve=transpose_solve,
                                transpose_solve=solve, num_consts=num_consts)
    return [None] * num_consts + list(b_cts[:len(b)])


def _linear_solve_batch(axis, vals, dims, **params):
    nc = params["num_consts"]
    consts = [batching.moveaxis(v, d, 0) if d is not None else v for v, d in zip(vals[:nc], dims[:nc])]
    b = [batching.bdim_at_front(v, d, axis.size) for v, d in zip(vals[nc:], dims[nc:])]
    in_batched = [d is not None for d in dims[:nc]] + [True] * len(b)
    new = {k: None if params[k] is None else batching.batch_jaxpr(params[k], axis, in_batched, instantiate=True)[0]
           for k in _JAXPRS}
    outs = linear_solve_p.bind(*consts, *b, **new, num_consts=nc)
    return outs, [0] * len(outs)


abstract_eval_rules[linear_solve_p] = _linear_solve_abstract
impl_rules[linear_solve_p] = _linear_solve_impl
jvp_rules[linear_solve_p] = _linear_solve_jvp
transpose_rules[linear_solve_p] = _linear_solve_transpose
batching_rules[linear_solve_p] = _linear_solve_batch


# --- tracing the user's functions -------------------------------------------------------------------------------
def _widen(closed: ClosedJaxpr, before: Sequence[ShapedArray], after: Sequence[ShapedArray], nb: int) -> ClosedJaxpr:
    """Unused inputs around a jaxpr's own constants: ``(own, x)`` becomes ``(before, own, after, x)``."""
    j = closed.jaxpr
    own, xs = j.in_binders[:len(j.in_binders) - nb], j.in_binders[len(j.in_binders) - nb:]
    binders = [Var(a) for a in before] + own + [Var(a) for a in after] + xs
    return ClosedJaxpr(Jaxpr(j.constvars, binders, j.eqns, j.outs), closed.consts)


def _check_shapes(name: str, outs: Sequence, avals: Sequence[ShapedArray], like: str) -> None:
    got = [tuple(get_aval(o).shape) for o in outs]
    want = [tuple(a.shape) for a in avals]
    if got != want:
        raise ValueError(f"{name}() output shapes must match {like}, got {got} and {want}")


def _trace_flat(fun: Callable, avals: Sequence[ShapedArray], tree, name: str, has_aux: bool, like: str = "b"):
    """Trace ``fun`` (a pytree shaped like ``like`` in, the same out, plus aux) to a closed jaxpr and its consts."""
    aux_box: list = []

    def flat(*xs):
        out = fun(tree_unflatten(tree, list(xs)))
        out, aux = out if has_aux else (out, None)
        leaves, out_tree = tree_flatten(out)
        if out_tree != tree:
            raise TypeError(f"{name}() output pytree structure must match {like}, got {out_tree} and {tree}.")
        _check_shapes(name, leaves, avals, like)
        aux_leaves, aux_tree = tree_flatten(aux)
        aux_box[:] = [aux_tree]
        return [ew.asarray(x) for x in leaves] + [ew.asarray(a) for a in aux_leaves]

    closed, consts = call._trace_closed(flat, list(avals))
    return closed, consts, (aux_box[0] if has_aux else None)


def _as_fun(closed: ClosedJaxpr, consts: Sequence, tree) -> Callable:
    """The pytree function ``x -> closed(consts, x)`` (its first ``tree.num_leaves`` outputs)."""
    def fun(x):
        leaves = tree_flatten(x)[0]
        return tree_unflatten(tree, eval_jaxpr(closed.jaxpr, closed.consts, *consts, *leaves)[:len(leaves)])
    return fun


def custom_linear_solve(matvec: Callable, b: Any, solve: Callable[[Callable, Any], Any],
                        transpose_solve: Callable[[Callable, Any], Any] | None = None, symmetric: bool = False,
                        has_aux: bool = False) -> Any:
    """``solve(matvec, b)`` differentiated implicitly, assuming ``matvec(x) == b`` (``jax.lax.custom_linear_solve``).

    The result is linear in ``b``; reverse mode needs ``transpose_solve(vecmat, b)`` (or ``symmetric=True``)."""
    if transpose_solve is None and symmetric:
        transpose_solve = solve
    b_leaves, tree = tree_flatten(b)
    b_leaves = [ew.asarray(x) for x in b_leaves]
    avals = [get_aval(x) for x in b_leaves]
    nb = len(avals)
    mv, mv_c, _ = _trace_flat(matvec, avals, tree, "matvec", False)
    matvec_fn = _as_fun(mv, mv_c, tree)
    sv, sv_c, aux_tree = _trace_flat(lambda x: solve(matvec_fn, x), avals, tree, "solve", has_aux)
    vm = ts = None
    vm_c: list = []
    ts_c: list = []
    if transpose_solve is not None:
        if symmetric:
            vm, vm_c = mv, mv_c
        else:
            vm = transpose_jaxpr(mv, [False] * len(mv_c) + [True] * nb)
            vm_c = mv_c
        vecmat_fn = _as_fun(vm, vm_c, tree)
        ts, ts_c, _ = _trace_flat(lambda x: transpose_solve(vecmat_fn, x), avals, tree, "transpose_solve", has_aux)
    groups = [mv_c, vm_c, sv_c, ts_c]
    c_avals = [[get_aval(c) for c in g] for g in groups]

    def widen(closed, i):
        if closed is None:
            return None
        flat = lambda gs: [a for g in gs for a in g]
        return _widen(closed, flat(c_avals[:i]), flat(c_avals[i + 1:]), nb)

    consts = [c for g in groups for c in g]
    outs = linear_solve_p.bind(*consts, *b_leaves, matvec=widen(mv, 0), vecmat=widen(vm, 1), solve=widen(sv, 2),
                               transpose_solve=widen(ts, 3), num_consts=len(consts))
    x = tree_unflatten(tree, outs[:nb])
    return (x, tree_unflatten(aux_tree, outs[nb:])) if has_aux else x


# --- custom_root -------------------------------------------------------------------------------------------------
def custom_root(f: Callable, initial_guess: Any, solve: Callable[[Callable, Any], Any],
                tangent_solve: Callable[[Callable, Any], Any], has_aux: bool = False) -> Any:
    """``solve(f, initial_guess)``, a root of ``f``, differentiated with respect to the values ``f`` closes over
    by the implicit function theorem (``jax.lax.custom_root``). ``tangent_solve(g, y)`` solves ``g(x) = y`` for
    ``g`` the linearization of ``f`` at the root."""
    from ..api import linearize
    g_leaves, tree = tree_flatten(initial_guess)
    g_leaves = [ew.asarray(x) for x in g_leaves]
    avals = [get_aval(x) for x in g_leaves]
    n = len(avals)
    fj, f_c, _ = _trace_flat(f, avals, tree, "f", False, "initial_guess")
    f_fn = _as_fun(fj, f_c, tree)
    sj, s_c, aux_tree = _trace_flat(lambda x: solve(f_fn, x), avals, tree, "solve", has_aux, "initial_guess")

    def lin_and_solve(*xb):
        x, rhs = tree_unflatten(tree, list(xb[:n])), tree_unflatten(tree, list(xb[n:]))
        out = tangent_solve(linearize(f_fn, x)[1], rhs)
        leaves, out_tree = tree_flatten(out)
        if out_tree != tree:
            raise TypeError(f"tangent_solve() output pytree structure must match x, got {out_tree} and {tree}.")
        _check_shapes("tangent_solve", leaves, avals, "x")
        return [ew.asarray(y) for y in leaves]

    ls, ls_c = call._trace_closed(lin_and_solve, avals + avals)
    nf, ns = len(f_c), len(s_c)

    @custom_jvp
    def root(*args):
        return eval_jaxpr(sj.jaxpr, sj.consts, *args[nf:nf + ns], *args[-n:])

    @root.defjvp
    def root_jvp(primals, tangents):
        sol = root(*primals)
        x = sol[:n]
        f_at = lambda *c: eval_jaxpr(fj.jaxpr, fj.consts, *c, *x)
        _, rhs = jvp_flat(f_at, list(primals[:nf]), list(tangents[:nf]))
        x_dot = eval_jaxpr(ls.jaxpr, ls.consts, *primals[nf + ns:-n], *x, *rhs)
        aux_dot = [zeros_like_aval(get_aval(a)) for a in sol[n:]]
        return sol, [ew.neg(t) for t in x_dot] + aux_dot

    outs = root(*f_c, *s_c, *ls_c, *g_leaves)
    x = tree_unflatten(tree, outs[:n])
    return (x, tree_unflatten(aux_tree, outs[n:])) if has_aux else x


SOLVES = (linear_solve_p,)
