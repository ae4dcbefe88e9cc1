"""``custom_jvp`` and ``custom_vjp``: user-defined derivatives as primitives that carry the function's
jaxpr plus the rule. ``custom_lin`` is the linear stand-in whose transpose runs the user's ``bwd``."""
from __future__ import annotations

import functools
from typing import Any, Callable, Sequence

import numpy as np

from .. import dtypes
from ..ad_util import Zero, instantiate
from ..prng_keys import is_key_array
from ..interpreters import batching
from ..pytree import tree_flatten, tree_map, tree_unflatten
from ..trace import (Primitive, abstract_eval_rules, batching_rules, get_aval, higher_order_primitives, impl_rules,
                     jvp_rules, transpose_rules)
from . import call
from . import elementwise as ew


def _resolve_static(fun_args: tuple, nondiff_argnums: Sequence[int]):
    dyn = [a for i, a in enumerate(fun_args) if i not in nondiff_argnums]
    static = {i: fun_args[i] for i in nondiff_argnums}
    return static, dyn


def _merge(static: dict, dyn: Sequence, n: int) -> list:
    it = iter(dyn)
    return [static[i] if i in static else next(it) for i in range(n)]


def _user_tangents(tree: Any, ts: Sequence) -> Any:
    """Tangents (cotangents) as a user's rule sees them: a key array's are float0 zeros of its shape, as in JAX
    (keys have no tangent space), not keys over their data's float0 tangents."""
    return tree_map(lambda t: np.zeros(t.shape, dtypes.float0) if is_key_array(t) else t, tree_unflatten(tree, ts),
                    is_leaf=is_key_array)


# ======================================= custom_jvp ==============================================================
custom_jvp_call_p = Primitive("custom_jvp_call", multiple_results=True)
higher_order_primitives.add(custom_jvp_call_p)
abstract_eval_rules[custom_jvp_call_p] = lambda *avals, call_jaxpr, jvp, num_consts: list(call_jaxpr.out_avals)
impl_rules[custom_jvp_call_p] = lambda *args, call_jaxpr, jvp, num_consts: call._pjit_impl(
    *args, jaxpr=call_jaxpr, name="custom_jvp_call")


def _custom_jvp_jvp(primals, tangents, *, call_jaxpr, jvp, num_consts):
    if any(type(t) is not Zero for t in tangents[:num_consts]):
        raise TypeError("A custom_jvp function closes over a value that is being differentiated; pass it as an "
                        "explicit argument (or use nondiff_argnums for non-array values).")
    ps = primals[num_consts:]
    ts = [instantiate(t) for t in tangents[num_consts:]]
    outs, t_outs = jvp(ps, ts)
    return outs, t_outs


def _custom_jvp_batch(axis, vals, dims, *, call_jaxpr, jvp, num_consts):
    vals = [batching.moveaxis(v, d, 0) if d is not None else v for v, d in zip(vals, dims)]
    in_b = [d is not None for d in dims]
    new_call, _ = batching.batch_jaxpr(call_jaxpr, axis, in_b, instantiate=True)
    args_b = in_b[num_consts:]

    def batched_jvp(ps, ts):
        n = len(ps)
        outs = batching.vmap_flat(lambda *a: [x for pair in jvp(list(a[:n]), list(a[n:])) for x in pair],
                                  axis.size, axis.name, [0 if b else None for b in args_b * 2], list(ps) + list(ts),
                                  lambda k: [0] * k,
                                  explicit_mesh_axis=axis.explicit_mesh_axis)
        k = len(outs) // 2
        return outs[:k], outs[k:]

    outs = custom_jvp_call_p.bind(*vals, call_jaxpr=new_call, jvp=batched_jvp, num_consts=num_consts)
    return outs, [0] * len(outs)


jvp_rules[custom_jvp_call_p] = _custom_jvp_jvp
batching_rules[custom_jvp_call_p] = _custom_jvp_batch


class custom_jvp:
    """Define a function with a custom JVP rule, as ``jax.custom_jvp``::

        @custom_jvp
        def f(x): ...
        @f.defjvp
        def f_jvp(primals, tangents): return f(*primals), ...
    """

    def __init__(self, fun: Callable, nondiff_argnums: Sequence[int] = ()):
        functools.update_wrapper(self, fun)
        self.fun = fun
        self.nondiff_argnums = tuple(nondiff_argnums)
        self.jvp: Callable | None = None

    def defjvp(self, jvp: Callable, symbolic_zeros: bool = False) -> Callable:
        self.jvp = jvp
        return jvp

    def defjvps(self, *jvps: Callable | None) -> None:
        """One function per positional argument: ``jvp_i(g_i, ans, *primals)``."""
        def jvp(primals, tangents):
            ans = self(*primals)
            t_out = None
            for fn, g in zip(jvps, tangents):
                if fn is None:
                    continue
                contrib = fn(g, ans, *primals)
                t_out = contrib if t_out is None else tree_map(ew.add, t_out, contrib)
            return ans, t_out if t_out is not None else tree_map(lambda a: a * 0, ans)
        self.jvp = jvp

    def __get__(self, obj, objtype=None):
        return self if obj is None else functools.partial(self, obj)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        if kwargs:
            import inspect
            args = inspect.signature(self.fun).bind(*args, **kwargs).args
        if self.jvp is None:
            raise AttributeError(f"No JVP defined for custom_jvp function {self.__name__} using defjvp.")
        static, dyn = _resolve_static(args, self.nondiff_argnums)
        n = len(args)
        leaves, in_tree = tree_flatten(dyn)
        leaves = [ew.asarray(x) for x in leaves]
        out_tree_box: list = []

        def flat_fun(*xs):
            out = self.fun(*_merge(static, tree_unflatten(in_tree, xs), n))
            ol, ot = tree_flatten(out)
            out_tree_box[:] = [ot]
            return ol

        closed, consts = call._trace_closed(flat_fun, [get_aval(x) for x in leaves])
        user_jvp = self.jvp
        nondiff = [static[i] for i in self.nondiff_argnums]

        def flat_jvp(ps, ts):
            primals = tree_unflatten(in_tree, ps)
            tangents = _user_tangents(in_tree, ts)
            if nondiff:
                out, t_out = user_jvp(*nondiff, primals, tangents)
            else:
                out, t_out = user_jvp(tuple(primals), tuple(tangents))
            ol, ot = tree_flatten(out)
            tl, tt = tree_flatten(t_out)
            if ot != out_tree_box[0] or tt != out_tree_box[0]:
                raise TypeError(f"Custom JVP rule of {self.__name__} must produce primal and tangent outputs with "
                                f"the structure of the function's output {out_tree_box[0]}, got {ot} and {tt}.")
            tl = [instantiate(Zero(get_aval(o).at_least_vspace())) if getattr(t, "dtype", None) == dtypes.float0
                  else ew.convert_element_type(t, get_aval(o).dtype) if get_aval(t).dtype != get_aval(o).dtype else t
                  for t, o in zip(tl, ol)]  # float0: an integer output's (zero) tangent, as JAX's rules return
            return ol, tl

        outs = custom_jvp_call_p.bind(*consts, *leaves, call_jaxpr=closed, jvp=flat_jvp, num_consts=len(consts))
        return tree_unflatten(out_tree_box[0], outs)


# ======================================= custom_vjp ==============================================================
custom_vjp_call_p = Primitive("custom_vjp_call", multiple_results=True)
custom_lin_p = Primitive("custom_lin", multiple_results=True)
higher_order_primitives.add(custom_vjp_call_p)
abstract_eval_rules[custom_vjp_call_p] = lambda *avals, call_jaxpr, fwd, bwd, num_consts: list(call_jaxpr.out_avals)
impl_rules[custom_vjp_call_p] = lambda *args, call_jaxpr, fwd, bwd, num_consts: call._pjit_impl(
    *args, jaxpr=call_jaxpr, name="custom_vjp_call")


def _custom_vjp_jvp(primals, tangents, *, call_jaxpr, fwd, bwd, num_consts):
    if any(type(t) is not Zero for t in tangents[:num_consts]):
        raise TypeError("A custom_vjp function closes over a value that is being differentiated; pass it as an "
                        "explicit argument.")
    outs, res = fwd(primals[num_consts:])
    ts = [instantiate(t) for t in tangents[num_consts:]]
    out_avals = [get_aval(o).at_least_vspace() for o in outs]
    t_outs = custom_lin_p.bind(*res, *ts, num_res=len(res), bwd=bwd, out_avals=tuple(out_avals))
    return outs, t_outs


def _custom_vjp_batch(axis, vals, dims, *, call_jaxpr, fwd, bwd, num_consts):
    vals = [batching.bdim_at_front(v, d, axis.size) for v, d in zip(vals, dims)]
    new_call, _ = batching.batch_jaxpr(call_jaxpr, axis, [True] * len(vals), instantiate=True)

    def fwd_b(ps):
        box: list = []

        def f(*a):
            outs, res = fwd(list(a))
            box[:] = [len(outs)]
            return list(outs) + list(res)
        allv = batching.vmap_flat(f, axis.size, axis.name, [0] * len(ps), list(ps), lambda k: [0] * k,
                                  explicit_mesh_axis=axis.explicit_mesh_axis)
        return allv[:box[0]], allv[box[0]:]

    def bwd_b(res, cts):
        n = len(res)
        return batching.vmap_flat(lambda *a: list(bwd(list(a[:n]), list(a[n:]))), axis.size, axis.name,
                                  [0] * (n + len(cts)), list(res) + list(cts), lambda k: [0] * k,
                                  explicit_mesh_axis=axis.explicit_mesh_axis)

    outs = custom_vjp_call_p.bind(*vals, call_jaxpr=new_call, fwd=fwd_b, bwd=bwd_b, num_consts=num_consts)
    return outs, [0] * len(outs)


jvp_rules[custom_vjp_call_p] = _custom_vjp_jvp
batching_rules[custom_vjp_call_p] = _custom_vjp_batch

abstract_eval_rules[custom_lin_p] = lambda *avals, num_res, bwd, out_avals: list(out_avals)


def _custom_lin_impl(*args, num_res, bwd, out_avals):
    raise TypeError("can't apply forward-mode autodiff (jvp) to a custom_vjp function.")


def _custom_lin_transpose(cts, *args, num_res, bwd, out_avals):
    res = args[:num_res]
    cts = [instantiate(c) for c in cts]
    cts_in = bwd(list(res), cts)
    return [None] * num_res + list(cts_in)


def _custom_lin_batch(axis, vals, dims, *, num_res, bwd, out_avals):
    vals = [batching.bdim_at_front(v, d, axis.size) for v, d in zip(vals, dims)]

    def bwd_b(res, cts):
        n = len(res)
        return batching.vmap_flat(lambda *a: list(bwd(list(a[:n]), list(a[n:]))), axis.size, axis.name,
                                  [0] * (n + len(cts)), list(res) + list(cts), lambda k: [0] * k,
                                  explicit_mesh_axis=axis.explicit_mesh_axis)

    out_avals_b = tuple(a.update(shape=(axis.size,) + a.shape) for a in out_avals)
    outs = custom_lin_p.bind(*vals, num_res=num_res, bwd=bwd_b, out_avals=out_avals_b)
    return outs, [0] * len(outs)


impl_rules[custom_lin_p] = _custom_lin_impl
jvp_rules[custom_lin_p] = lambda primals, tangents, **params: _custom_lin_impl()
transpose_rules[custom_lin_p] = _custom_lin_transpose
batching_rules[custom_lin_p] = _custom_lin_batch


class custom_vjp:
    """Define a function with a custom VJP, as ``jax.custom_vjp``::

        @custom_vjp
        def f(x): ...
        def f_fwd(x): return f(x), residuals
        def f_bwd(residuals, g): return (cotangent_of_x,)
        f.defvjp(f_fwd, f_bwd)
    """

    def __init__(self, fun: Callable, nondiff_argnums: Sequence[int] = ()):
        functools.update_wrapper(self, fun)
        self.fun = fun
        self.nondiff_argnums = tuple(nondiff_argnums)
        self.fwd: Callable | None = None
        self.bwd: Callable | None = None

    def defvjp(self, fwd: Callable, bwd: Callable, symbolic_zeros: bool = False) -> None:
        self.fwd, self.bwd = fwd, bwd

    def __get__(self, obj, objtype=None):
        return self if obj is None else functools.partial(self, obj)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        if kwargs:
            import inspect
            args = inspect.signature(self.fun).bind(*args, **kwargs).args
        if self.fwd is None:
            raise AttributeError(f"No VJP defined for custom_vjp function {self.__name__} using defvjp.")
        static, dyn = _resolve_static(args, self.nondiff_argnums)
        n = len(args)
        leaves, in_tree = tree_flatten(dyn)
        leaves = [ew.asarray(x) for x in leaves]
        in_avals = [get_aval(x) for x in leaves]
        out_tree_box: list = []
        res_tree_box: list = []
        nondiff = [static[i] for i in self.nondiff_argnums]
        user_fwd, user_bwd = self.fwd, self.bwd

        def flat_fun(*xs):
            out = self.fun(*_merge(static, tree_unflatten(in_tree, xs), n))
            ol, ot = tree_flatten(out)
            out_tree_box[:] = [ot]
            return ol

        def flat_fwd(ps):
            out, res = user_fwd(*_merge(static, tree_unflatten(in_tree, ps), n))
            ol, ot = tree_flatten(out)
            if ot != out_tree_box[0]:
                raise TypeError(f"Custom VJP fwd rule of {self.__name__} must produce a pair (output, residuals) "
                                f"whose output has the structure {out_tree_box[0]}, got {ot}.")
            rl, rt = tree_flatten(res)
            res_tree_box[:] = [rt]
            return ol, [ew.asarray(r) for r in rl]

        def flat_bwd(res, cts):
            r = tree_unflatten(res_tree_box[0], res)
            ct = _user_tangents(out_tree_box[0], cts)
            cts_in = user_bwd(*nondiff, r, ct)
            if not isinstance(cts_in, tuple):
                raise TypeError(f"Custom VJP bwd rule of {self.__name__} must return a tuple with one entry per "
                                f"differentiable argument, got {type(cts_in).__name__}.")
            cl, ct_tree = tree_flatten(cts_in, is_leaf=lambda x: x is None)
            if len(cl) != len(in_avals):
                raise TypeError(f"Custom VJP bwd rule of {self.__name__} returned {len(cl)} cotangent leaves, "
                                f"expected {len(in_avals)} (the structure of the primal inputs {in_tree}).")
            return [instantiate(Zero(a.at_least_vspace())) if c is None or getattr(c, "dtype", None) == dtypes.float0
                    else ew.asarray(c) for c, a in zip(cl, in_avals)]

        closed, consts = call._trace_closed(flat_fun, in_avals)
        outs = custom_vjp_call_p.bind(*consts, *leaves, call_jaxpr=closed, fwd=flat_fwd, bwd=flat_bwd,
                                      num_consts=len(consts))
        return tree_unflatten(out_tree_box[0], outs)


CUSTOM = (custom_jvp_call_p, custom_vjp_call_p, custom_lin_p)
