"""``jax_check_tracer_leaks``: when a transformation's trace ends, find its tracers that are still referenced
from outside portax (a global, a closure, an object's attribute) and raise, as JAX does, naming each leaked
tracer, where it was created and what keeps it alive. Only runs with the option on (it collects garbage)."""
from __future__ import annotations

import gc
import types
from typing import Any

from .trace import MainTrace, Trace, Tracer

_DEPTH = 6  # built-in holders (containers, cells, iterators) followed up from a tracer before giving up


def raise_if_leaked(main: MainTrace) -> None:
    """Raise JAX's "Leaked trace" Exception if tracers of the finished ``main`` are held outside portax."""
    gc.collect()  # tracers only kept alive by reference cycles can't be reached by user code
    traces = [r for r in gc.get_referrers(main) if isinstance(r, Trace)]
    tracers = [t for t in gc.get_referrers(*traces) if isinstance(t, Tracer)] if traces else []
    leaked = _leaks(tracers)
    if leaked:
        msgs = "\n\n".join(f"{t}{_origin(t)}\n" + "\n".join(chain) for t, chain in leaked)
        raise Exception(f"Leaked trace {main}. Leaked tracer(s):\n\n{msgs}\n")


def _leaks(tracers: list) -> list[tuple[Tracer, list[str]]]:
    """The tracers held, through at most ``_DEPTH`` built-in holders (containers, cells, iterators), by
    something outside portax (a module, a user function or object), each with its chain of holders. Running
    frames, other tracers and portax's own objects do not count. One heap scan per level."""
    frontier = {id(t): t for t in tracers}
    child_of: dict = {}  # id(holder) -> (held object, holder)
    seen = set(frontier)
    found = []
    for _ in range(_DEPTH):
        if not frontier:
            break
        objs = tuple(frontier.values())
        refs = gc.get_referrers(*objs)
        seen.update((id(objs), id(frontier), id(refs)))
        nxt = {}
        for r in refs:
            if id(r) in seen or isinstance(r, (types.FrameType, Tracer, Trace, MainTrace)):
                continue
            seen.add(id(r))
            held = next((c for c in gc.get_referents(r) if id(c) in frontier), None)
            if held is None:
                continue
            child_of[id(r)] = (held, r)
            owner = _owner(r)
            if owner == "builtins":
                nxt[id(r)] = r
            elif owner.split(".")[0] != "portax":
                found.append(r)
        frontier = nxt
    leaked = {}
    for root in found:
        chain, obj = [], root
        while id(obj) in child_of:
            held, holder = child_of[id(obj)]
            if getattr(holder, "__dict__", None) is held and id(held) in child_of:
                held = child_of[id(held)][0]  # an object's (or module's) attribute: one step, as JAX shows it
            chain.append(f"<{type(held).__name__} {id(held)}> is referred to by {_describe(holder, held)}")
            obj = held
        if isinstance(obj, Tracer) and id(obj) not in leaked:
            leaked[id(obj)] = (obj, chain[::-1])
    return list(leaked.values())


def _origin(t: Tracer) -> str:
    origin = t._origin_msg()
    return f"\nThe leaked intermediate value was created on line {origin}." if origin else ""


def _owner(r: Any) -> str:
    """The module of a module, function or class, or of an object's class."""
    if isinstance(r, types.ModuleType):
        module = r.__name__
    else:
        module = r.__module__ if isinstance(r, (types.FunctionType, type)) else type(r).__module__
    return module if isinstance(module, str) else "builtins"


def _describe(container: Any, obj: Any) -> str:
    name = f"<{type(container).__name__} {id(container)}>"
    if isinstance(container, types.FunctionType):
        return f"{name} ({container.__name__})"
    if isinstance(container, (list, tuple)):
        return f"{name}[{next(i for i, x in enumerate(container) if x is obj)}]"
    if isinstance(container, dict):
        keys = [k for k, v in container.items() if v is obj]
        return f"{name}[{keys[0]!r}]" if keys else name
    if isinstance(container, types.ModuleType):
        name = container.__name__
    keys = [k for k, v in getattr(container, "__dict__", {}).items() if v is obj]
    return f"{name}.{keys[0]}" if keys else name
