"""``jax.linear_transpose``: the transpose of a linear function, from its jaxpr (the function is traced, never run)."""
from __future__ import annotations

from typing import Any, Callable

from . import dtypes
from .ad_util import Zero, instantiate
from .interpreters.staging import trace_to_jaxpr
from .interpreters.transpose import UndefinedPrimal, backward_pass
from .placement import following
from .primitives import elementwise as ew
from .pytree import Partial, tree_flatten, tree_unflatten
from .trace import get_aval, shaped_abstractify


def _kinds_ok(dts: list) -> bool:
    return all(dtypes.kind(d) in "fc" for d in dts) or all(dtypes.kind(d) in "iu" for d in dts)


def linear_transpose(fun: Callable, *primals: Any, reduce_axes: tuple = ()) -> Callable:
    """The transpose of the linear ``fun`` at inputs shaped like ``primals`` (arrays or ``ShapeDtypeStruct``): a
    pytree ``f_t`` with ``f_t(cotangent) -> tuple of input cotangents``."""
    if reduce_axes:
        raise NotImplementedError("linear_transpose: reduce_axes is not supported (it was removed from JAX)")
    leaves, in_tree = tree_flatten(primals)
    in_avals = [shaped_abstractify(x) for x in leaves]  # (a Python scalar's weak type kept, as JAX)
    out_tree_box: list = []

    def flat_fun(*xs: Any) -> list:
        out_leaves, out_tree = tree_flatten(fun(*tree_unflatten(in_tree, xs)))
        out_tree_box.append(out_tree)
        return out_leaves

    jaxpr, consts = trace_to_jaxpr(flat_fun, in_avals)
    out_tree = out_tree_box[0]
    out_avals = [o.aval for o in jaxpr.outs]
    in_dtypes, out_dtypes = [a.dtype for a in in_avals], [a.dtype for a in out_avals]
    if not _kinds_ok(in_dtypes + out_dtypes):
        raise TypeError("linear_transpose only supports [float or complex] -> [float or complex], and integer -> "
                        f"integer functions, but got {in_dtypes} -> {out_dtypes}.")

    def transposed_fun(consts: list, out_cotangent: Any) -> tuple:
        cts, ct_tree = tree_flatten(out_cotangent)
        cts = [ew.asarray(c) for c in cts]
        if ct_tree != out_tree:
            raise TypeError(f"cotangent tree does not match function output, expected {out_tree} but got {ct_tree}")
        ct_avals = [get_aval(c) for c in cts]
        if any((c.shape, c.dtype) != (a.shape, a.dtype) for c, a in zip(ct_avals, out_avals)):
            raise TypeError(f"cotangent type does not match function output, expected {out_avals} but got {cts}")
        with following(cts):  # (its constants go where the cotangents are committed)
            in_cts = backward_pass(jaxpr, consts, [UndefinedPrimal(a) for a in in_avals], cts)
            return tree_unflatten(in_tree, [instantiate(c) if type(c) is Zero else c for c in in_cts])

    return Partial(transposed_fun, consts)
