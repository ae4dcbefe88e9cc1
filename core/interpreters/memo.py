"""Memoised jaxpr transformations: a transformation of the same ``ClosedJaxpr`` (with the same other arguments
and tracing options) returns the same transformed jaxpr objects, so the programs compiled for them are reused
(eager ``vjp``/``linearize`` of a jitted or checkpointed function compiles once, not on every call).

Entries are keyed weakly by the jaxpr: they go when it is collected. A result holding tracers is not kept.
``trace_once`` keeps, in the same way, the jaxprs control flow traces from a user's functions."""
from __future__ import annotations

import functools
import threading
import weakref
from typing import Callable, TypeVar

from ..config import config
from ..ir import ClosedJaxpr
from ..trace import is_tracer, is_tracing

F = TypeVar("F", bound=Callable)


def _frozen(x):
    return tuple(x) if isinstance(x, list) else x


def _holds_tracer(result) -> bool:
    items = result if isinstance(result, tuple) else (result,)
    values = [c for x in items if isinstance(x, (ClosedJaxpr, list)) for c in (x.consts if isinstance(x, ClosedJaxpr) else x)]
    return any(is_tracer(v) for v in values)


def _copied(result):
    """Lists in a (tuple) result are copied: a caller may change its own."""
    if isinstance(result, tuple):
        return tuple(list(x) if isinstance(x, list) else x for x in result)
    return result


def memoize_jaxpr_transform(transform: F) -> F:
    """``transform(closed, *args, **kwargs)`` cached per ``closed`` (weakly), the other arguments (lists as tuples;
    not cached if one is unhashable) and ``config.trace_context()``."""
    cache: "weakref.WeakKeyDictionary[ClosedJaxpr, dict]" = weakref.WeakKeyDictionary()
    lock = threading.Lock()

    @functools.wraps(transform)
    def memoized(closed: ClosedJaxpr, *args, **kwargs):
        key = (tuple(map(_frozen, args)), tuple(sorted((k, _frozen(v)) for k, v in kwargs.items())),
               config.trace_context())
        try:
            hash(key)
        except TypeError:
            return transform(closed, *args, **kwargs)
        with lock:
            hit = cache.get(closed, {}).get(key)
        if hit is not None:
            return _copied(hit)
        result = transform(closed, *args, **kwargs)
        if not _holds_tracer(result):
            with lock:
                result = cache.setdefault(closed, {}).setdefault(key, result)
        return _copied(result)

    memoized.cache_clear = lambda: cache.clear()  # type: ignore[attr-defined]
    return memoized  # type: ignore[return-value]


_traced: "weakref.WeakKeyDictionary[Callable, dict]" = weakref.WeakKeyDictionary()
_lock = threading.Lock()


def trace_once(funs: tuple, key: tuple, trace: Callable[[], tuple]) -> tuple:
    """``trace()`` (the jaxprs, consts, ... traced from the user's ``funs``), reused while the functions live for
    the same ``key`` (their input tree and avals) and tracing options: as JAX caches control flow's jaxprs, a second
    ``while_loop``/``cond`` of the same functions runs no Python and compiles nothing again. Not kept: a result
    holding tracers (closures over an outer trace's values), or functions that cannot be weakly referenced."""
    from ..parallel.axis_env import axis_env_key
    context = config.trace_context()  # and the named axes in scope (``lax.axis_size`` is read while tracing)
    try:
        full = (tuple(weakref.ref(f) for f in funs[1:]), key, context, axis_env_key() if is_tracing() else ())
        hash(full)
        with _lock:
            entries = _traced.setdefault(funs[0], {})
    except TypeError:
        return trace()
    with _lock:
        hit = entries.get(full)
    if hit is None:
        hit = trace()
        if not _holds_tracer(hit):
            with _lock:
                hit = entries.setdefault(full, hit)
    return _copied(hit)


def clear_traced() -> None:
    """Forget every function :func:`trace_once` traced (``jax.clear_caches``)."""
    with _lock:
        _traced.clear()
