"""The user-facing host callbacks: ``pure_callback``, ``io_callback``, ``debug.callback``, ``debug.print`` and
``effects_barrier`` (JAX's ``jax/_src/callback.py`` and ``jax/_src/debugging.py``).

Callbacks receive numpy arrays (read-only views of the program's buffers where the backend has them on the
host) and return array-likes matching ``result_shape_dtypes``.
"""
from __future__ import annotations

import string
import sys
from typing import Any, Callable

import numpy as np

from . import dtypes
from .ir import ShapedArray
from .primitives.callbacks import VMAP_METHODS, FlatCallback, debug_callback_p, io_callback_p, pure_callback_p
from .pytree import tree_flatten, tree_map, tree_unflatten
from .trace import get_aval


def _result_avals(result_shape_dtypes: Any) -> tuple[tuple, Any]:
    def aval(x):
        dt = np.dtype(x.dtype)
        if dtypes.canonicalize(dt) != dt:
            raise ValueError("result_shape_dtypes cannot specify 64-bit types when `jax_enable_x64` is disabled")
        return ShapedArray(tuple(x.shape), dt)
    leaves, out_tree = tree_flatten(tree_map(aval, result_shape_dtypes))
    return tuple(leaves), out_tree


def pure_callback(callback: Callable[..., Any], result_shape_dtypes: Any, *args: Any, sharding: Any = None,
                  vmap_method: str | None = None, **kwargs: Any) -> Any:
    """Call a pure Python function from a (possibly jitted/vmapped) computation (``jax.pure_callback``).

    ``vmap_method`` ('sequential', 'sequential_unrolled', 'expand_dims', 'broadcast_all', 'legacy_vectorized')
    says how it batches; without one, vmap of the callback raises NotImplementedError, as in JAX 0.10.2."""
    if vmap_method not in VMAP_METHODS + (None,):
        raise ValueError(f"vmap_method must be on of the allowed methods {list(VMAP_METHODS) + [None]}, "
                         f"but got: {vmap_method}")
    _check_sharding(sharding)
    flat_args, in_tree = tree_flatten((args, kwargs))
    result_avals, out_tree = _result_avals(result_shape_dtypes)
    outs = pure_callback_p.bind(*flat_args, callback=FlatCallback(callback, in_tree), result_avals=result_avals,
                                vmap_method=vmap_method)
    return tree_unflatten(out_tree, outs)


def io_callback(callback: Callable[..., Any], result_shape_dtypes: Any, *args: Any, sharding: Any = None,
                ordered: bool = False, **kwargs: Any) -> Any:
    """Call an impure Python function (``jax.experimental.io_callback``); never dropped, and with
    ``ordered=True`` run in program order relative to the other ordered callbacks."""
    _check_sharding(sharding)
    flat_args, in_tree = tree_flatten((args, kwargs))
    result_avals, out_tree = _result_avals(result_shape_dtypes)
    outs = io_callback_p.bind(*flat_args, callback=FlatCallback(callback, in_tree), result_avals=result_avals,
                              ordered=bool(ordered))
    return tree_unflatten(out_tree, outs)


def _check_sharding(sharding: Any) -> None:
    if sharding is not None:
        raise NotImplementedError("portax callbacks run on the device of the computation; sharding= is not supported")


def _split_callback_args(args: tuple, kwargs: dict) -> tuple:
    """Array-like leaves become operands; the others (strings, None, ...) stay static, as in JAX."""
    flat, in_tree = tree_flatten((args, kwargs))
    static, dynamic = {}, []
    for i, a in enumerate(flat):
        try:
            get_aval(a)
            dynamic.append(a)
        except TypeError:
            static[i] = a
    return in_tree, dynamic, static


class _MergeStatic:
    """``callback(*args, **kwargs)`` with the static leaves put back among the operands."""

    def __init__(self, callback: Callable, in_tree: Any, static: dict):
        self.callback, self.in_tree, self.static = callback, in_tree, static
        self.__name__ = getattr(callback, "__name__", type(callback).__name__)

    def __call__(self, *dynamic: Any) -> None:
        it = iter(dynamic)
        flat = [self.static[i] if i in self.static else next(it) for i in range(len(self.static) + len(dynamic))]
        args, kwargs = tree_unflatten(self.in_tree, flat)
        self.callback(*args, **kwargs)


def _bind_debug(callback: Callable, args: tuple, kwargs: dict, ordered: bool, partitioned: bool) -> None:
    in_tree, dynamic, static = _split_callback_args(args, kwargs)
    _, flat_tree = tree_flatten(((*dynamic,), {}))
    debug_callback_p.bind(*dynamic, callback=FlatCallback(_MergeStatic(callback, in_tree, static), flat_tree),
                          ordered=bool(ordered), partitioned=bool(partitioned))


def debug_callback(callback: Callable[..., None] | None = None, *args: Any, ordered: bool = False,
                   partitioned: bool = False, **kwargs: Any):
    """``jax.debug.callback``: call ``callback(*args, **kwargs)`` with the runtime values (primal values under
    differentiation); ``debug.callback(ordered=True)(callback, ...)`` is the two-call form."""
    def _debug_callback(callback: Callable[..., None], *c_args: Any, **c_kwargs: Any) -> None:
        if not callable(callback):
            raise TypeError("first argument to jax.debug.callback must be callable, "
                            f"but got an object of type {type(callback)}")
        _bind_debug(callback, c_args, c_kwargs, ordered, partitioned)

    return _single_or_two_call("debug_callback", _debug_callback, callback, args, kwargs)


def _single_or_two_call(name: str, call: Callable, first: Any, args: tuple, kwargs: dict):
    """``call(first, *args, **kwargs)`` (the single-call form), or ``call`` itself when the options came alone
    (the two-call form ``name(**options)(first, ...)``)."""
    if first is not None:
        call(first, *args, **kwargs)
        return None
    if args or kwargs:
        raise TypeError(f"{name} received unexpected arguments in the two-call form: {args=} {kwargs=}")
    return call


class _FormatChecker(string.Formatter):
    """Checks a format string against its arguments without formatting (JAX's messages)."""

    def format_field(self, value, format_spec):
        return ""

    def check_unused_args(self, used_args, args, kwargs):
        unused_args = [arg for i, arg in enumerate(args) if i not in used_args]
        unused_kwargs = [k for k in kwargs if k not in used_args]
        if unused_args:
            raise ValueError(f"Unused positional arguments to `jax.debug.print`: {unused_args}")
        if unused_kwargs:
            raise ValueError(f"Unused keyword arguments to `jax.debug.print`: {unused_kwargs}. You may be passing an "
                             "f-string (i.e, `f\"{x}\"`) into `jax.debug.print` and instead should pass in a regular "
                             "string.")


_checker = _FormatChecker()


class _Printer:
    """Formats and writes one ``debug.print`` (numpy print options as when it was traced)."""

    def __init__(self, fmt: str, has_placeholders: bool, np_printoptions: dict):
        self.fmt, self.has_placeholders, self.np_printoptions = fmt, has_placeholders, np_printoptions
        self.__name__ = "debug_print"

    def __call__(self, *args: Any, **kwargs: Any) -> None:
        if self.has_placeholders:
            with np.printoptions(**self.np_printoptions):
                msg = self.fmt.format(*args, **kwargs)
        else:
            msg = " ".join((self.fmt, *(str(a) for a in args)))
        sys.stdout.write(msg + "\n")


def debug_print(fmt: str | None = None, *args: Any, ordered: bool = False, partitioned: bool = False,
                skip_format_check: bool = False, **kwargs: Any):
    """``jax.debug.print``: ``fmt.format(*args, **kwargs)`` with the runtime values, written to stdout;
    ``debug.print(ordered=True)(fmt, ...)`` is the two-call form."""
    def _debug_print(fmt: str, *c_args: Any, **c_kwargs: Any) -> None:
        if not skip_format_check:
            _checker.format(fmt, *c_args, **c_kwargs)
        has_placeholders = False
        if fmt:
            _, field_name, *_ = next(iter(string.Formatter().parse(fmt)))
            has_placeholders = field_name is not None
        printer = _Printer(fmt, has_placeholders, dict(np.get_printoptions()))
        _bind_debug(printer, c_args, c_kwargs, ordered, partitioned)

    return _single_or_two_call("debug_print", _debug_print, fmt, args, kwargs)


def effects_barrier() -> None:
    """Wait until every computation dispatched so far has run its side effects (``jax.effects_barrier``):
    every initialised backend's devices are synchronised."""
    from .backend import registry
    for backend in registry.created():
        sync = getattr(backend, "synchronize", None)
        if sync is not None:
            for device in backend.devices():
                sync(device)
