"""Host callbacks: ``pure_callback``, ``io_callback`` and ``debug_callback`` (``debug.print``), with their rules.

Each is a primitive whose ``callback`` param is a ``FlatCallback`` (flat arrays in, flat results out). Backends
run it where the program reaches it, through ``call_host`` (numpy arrays in, results checked against
``result_avals``). ``io_callback`` and ``debug_callback`` have side effects (``Jaxpr.effects``): dead-code
elimination keeps them, fusion does not move kernels across them, and they run in program order.
"""
from __future__ import annotations

import dataclasses
from typing import Any, Callable, Sequence

import numpy as np

from .. import dtypes
from ..ad_util import Zero
from ..errors import JaxRuntimeError
from ..interpreters import batching
from ..ir import ShapedArray, effect_rules
from ..pytree import PyTreeDef, tree_leaves, tree_unflatten
from ..trace import Primitive, abstract_eval_rules, batching_rules, impl_rules, jvp_rules, transpose_rules


@dataclasses.dataclass(frozen=True)
class Effect:
    """A side effect of an equation; ``ordered`` ones run in program order across the program."""

    name: str
    ordered: bool = False

    def __str__(self) -> str:
        return self.name


io_effect, ordered_io_effect = Effect("IO"), Effect("OrderedIO", ordered=True)
debug_effect, ordered_debug_effect = Effect("Debug"), Effect("OrderedDebug", ordered=True)


@dataclasses.dataclass(frozen=True)
class FlatCallback:
    """A Python function called with flat arguments, returning its results' leaves (equal for the same
    function and argument structure, as JAX's ``_FlatCallback``)."""

    callback_func: Callable[..., Any]
    in_tree: PyTreeDef

    @property
    def __name__(self) -> str:
        return getattr(self.callback_func, "__name__", type(self.callback_func).__name__)

    def __call__(self, *flat_args: Any) -> list:
        args, kwargs = tree_unflatten(self.in_tree, flat_args)
        return tree_leaves(self.callback_func(*args, **kwargs))


pure_callback_p = Primitive("pure_callback", multiple_results=True)
io_callback_p = Primitive("io_callback", multiple_results=True)
debug_callback_p = Primitive("debug_callback", multiple_results=True)
CALLBACKS = (pure_callback_p, io_callback_p, debug_callback_p)


# --- running a callback on the host (every backend) ---------------------------------------------------------
def host_inputs(args: Sequence) -> list[np.ndarray]:
    """Read-only numpy views of a callback's arguments (the program's buffers are not copied)."""
    views = []
    for a in args:
        v = np.asarray(a).view()
        v.flags.writeable = False
        views.append(v)
    return views


def call_host(primitive: Primitive, params: dict, args: Sequence) -> list[np.ndarray]:
    """Run the callback of an equation of ``primitive`` on host arrays ``args``; its results, checked against
    the equation's ``result_avals``. A failure is a ``JaxRuntimeError`` with the original as its cause."""
    callback = params["callback"]
    what = f"{primitive.name} callback {callback.__name__!r}"
    try:
        outs = callback(*host_inputs(args))
    except CallbackResultError:  # raised by a RepackedCallback's check
        raise
    except Exception as e:
        raise JaxRuntimeError(f"{what} raised {type(e).__name__}: {e}") from e
    if primitive is debug_callback_p:
        return []
    return _check_results(what, outs, params["result_avals"])


class CallbackResultError(JaxRuntimeError):
    """A callback returned results that do not match its declared ``result_shape_dtypes``."""


def _check_results(what: str, outs: list, avals: Sequence[ShapedArray]) -> list[np.ndarray]:
    if len(outs) != len(avals):
        raise CallbackResultError(f"{what}: mismatched number of outputs from callback. Expected: {len(avals)}, "
                                  f"Actual: {len(outs)}")
    results = []
    for i, (out, aval) in enumerate(zip(outs, avals)):
        out = np.asarray(out)
        try:  # 64-bit values narrow unless x64 is on, as JAX canonicalises them
            out = out.astype(dtypes.canonicalize(out.dtype), copy=False)
        except TypeError:  # not a portax dtype: the mismatch below says so
            pass
        if out.shape != aval.shape:
            raise CallbackResultError(f"{what}: incorrect output shape for return value #{i}: Expected: "
                                      f"{aval.shape}, Actual: {out.shape}")
        if out.dtype != aval.dtype:
            raise CallbackResultError(f"{what}: incorrect output dtype for return value #{i}: Expected: "
                                      f"{aval.dtype}, Actual: {out.dtype}")
        results.append(out)
    return results


@dataclasses.dataclass(frozen=True, eq=False)
class RepackedCallback:
    """A callback whose values cross the program in another form (narrow floats stored as unsigned integers,
    complex numbers as (real, imaginary) pairs): ``decode`` makes the function's arguments of the operands,
    and its results, checked against the declared ``result_avals``, are ``encode``d back."""

    callback: Callable
    primitive: Primitive
    result_avals: tuple
    decode: Callable[[list], list]
    encode: Callable[[list], list]

    @property
    def __name__(self) -> str:
        return self.callback.__name__

    def __call__(self, *args: np.ndarray) -> list:
        outs = self.callback(*self.decode(list(args)))
        if self.primitive is debug_callback_p:
            return outs
        return self.encode(_check_results(f"{self.primitive.name} callback {self.__name__!r}", outs,
                                          self.result_avals))


def repacked_params(eqn, decode: Callable[[list], list], encode: Callable[[list], list],
                    result_avals: Sequence[ShapedArray]) -> dict:
    """The params of callback equation ``eqn`` rewritten for operands and results in another form: the
    callback wrapped (``RepackedCallback``) and ``result_avals`` (if it has results) those of that form."""
    params = dict(eqn.params)
    params["callback"] = RepackedCallback(params["callback"], eqn.primitive, tuple(params.get("result_avals", ())),
                                          decode, encode)
    if "result_avals" in params:
        params["result_avals"] = tuple(result_avals)
    return params


def _impl(primitive: Primitive) -> Callable:
    """Outside a transformation a callback runs at once on the host; results go to the arguments' device."""
    def impl(*args, **params):
        from ..array import make_array
        from ..dispatch import pick_device
        device = pick_device(args)
        return [make_array(o, device=device) for o in call_host(primitive, params, args)]
    return impl


# --- rules ------------------------------------------------------------------------------------------------
def _abstract(*avals, result_avals, **_):
    return list(result_avals)


abstract_eval_rules[pure_callback_p] = abstract_eval_rules[io_callback_p] = _abstract
abstract_eval_rules[debug_callback_p] = lambda *avals, **_: []
effect_rules[io_callback_p] = lambda p: frozenset({ordered_io_effect if p["ordered"] else io_effect})
effect_rules[debug_callback_p] = lambda p: frozenset({ordered_debug_effect if p["ordered"] else debug_effect})
for _p in CALLBACKS:
    impl_rules[_p] = _impl(_p)


def _not_differentiable(primitive: Primitive, message: str) -> None:
    """JVP as JAX: with zero tangents the callback just runs; otherwise ``message`` as a ValueError."""
    def jvp(primals, tangents, **params):
        if any(type(t) is not Zero for t in tangents):
            raise ValueError(message)
        outs = primitive.bind(*primals, **params)
        return outs, [Zero(ShapedArray(a.shape, a.dtype).at_least_vspace()) for a in params["result_avals"]]

    def transpose(cts, *args, **params):
        raise ValueError(message.replace("JVP", "transpose").replace("custom_jvp", "custom_vjp"))
    jvp_rules[primitive] = jvp
    transpose_rules[primitive] = transpose


_not_differentiable(pure_callback_p, "Pure callbacks do not support JVP. Please use `jax.custom_jvp` to use "
                                     "callbacks while taking gradients.")
_not_differentiable(io_callback_p, "IO callbacks do not support JVP.")


def _debug_jvp(primals, tangents, **params):
    """A debug callback sees the primal values only (as JAX's)."""
    return debug_callback_p.bind(*primals, **params), []


jvp_rules[debug_callback_p] = _debug_jvp
transpose_rules[debug_callback_p] = lambda cts, *args, **params: [None] * len(args)

VMAP_METHODS = ("sequential", "sequential_unrolled", "expand_dims", "broadcast_all", "legacy_vectorized")


def _batched_avals(size: int, avals: Sequence[ShapedArray]) -> tuple:
    return tuple(ShapedArray((size,) + a.shape, a.dtype) for a in avals)


def _sequential(bind: Callable, size: int, vals: list, dims: list, unroll: bool = False) -> list:
    """Bind once per element of the batch in a scan over the batched arguments."""
    from .control_flow import scan
    batched = [batching.moveaxis(v, d, 0) for v, d in zip(vals, dims) if d is not None]

    def body(carry, xs):
        it = iter(xs)
        return carry, bind([next(it) if d is not None else v for v, d in zip(vals, dims)])
    return scan(body, None, batched, unroll=size if unroll else 1)[1]


def _pure_callback_batch(axis, vals, dims, *, callback, result_avals, vmap_method):
    if all(d is None for d in dims):
        return pure_callback_p.bind(*vals, callback=callback, result_avals=result_avals,
                                    vmap_method=vmap_method), [None] * len(result_avals)
    size = axis.size
    bind = lambda args, avals=result_avals: pure_callback_p.bind(*args, callback=callback, result_avals=avals,
                                                                 vmap_method=vmap_method)
    if vmap_method in ("sequential", "sequential_unrolled"):
        outs = _sequential(bind, size, vals, dims, unroll=vmap_method == "sequential_unrolled")
    elif vmap_method in ("expand_dims", "broadcast_all", "legacy_vectorized"):
        n = size if vmap_method == "broadcast_all" else 1
        args = [batching.moveaxis(v, d, 0) if d is not None else
                v if vmap_method == "legacy_vectorized" else batching.broadcast_batched(v, n, 0)
                for v, d in zip(vals, dims)]
        outs = bind(args, _batched_avals(size, result_avals))
    else:
        raise NotImplementedError(
            "vmap is only supported for the pure_callback primitive when vmap_method is one of 'sequential', "
            f"'sequential_unrolled', 'expand_dims', 'broadcast_all', or 'legacy_vectorized'. Got {vmap_method=}.")
    return list(outs), [0] * len(result_avals)


def _io_callback_batch(axis, vals, dims, *, callback, result_avals, ordered):
    if all(d is None for d in dims):
        return io_callback_p.bind(*vals, callback=callback, result_avals=result_avals,
                                  ordered=ordered), [None] * len(result_avals)
    if ordered:
        raise ValueError("Cannot `vmap` ordered IO callback.")
    bind = lambda args: io_callback_p.bind(*args, callback=callback, result_avals=result_avals, ordered=False)
    return list(_sequential(bind, axis.size, vals, dims)), [0] * len(result_avals)


def _debug_callback_batch(axis, vals, dims, **params):
    """Unrolled over the mapped axis: one call per element, in order (as JAX's)."""
    from .structural import index_in_dim
    for i in range(axis.size if any(d is not None for d in dims) else 1):
        debug_callback_p.bind(*[v if d is None else index_in_dim(v, i, d, keepdims=False)
                                for v, d in zip(vals, dims)], **params)
    return [], []


batching_rules[pure_callback_p] = _pure_callback_batch
batching_rules[io_callback_p] = _io_callback_batch
batching_rules[debug_callback_p] = _debug_callback_batch
