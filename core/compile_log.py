"""JAX's compilation logs: tracing and compilation times (at WARNING under ``jax_log_compiles``, else DEBUG), and
under ``jax_explain_cache_misses`` why a jitted function is traced again (JAX's "TRACING CACHE MISS" warnings)."""
from __future__ import annotations

import contextlib
import logging
import time
from typing import Any, Callable, Iterator, Sequence

from .config import TRACE_CONTEXT, config
from .pytree import PyTreeDef, keystr, tree_flatten_with_path, tree_unflatten
from .source_info import _is_internal, current
from .tree_extras import equality_errors_pytreedef

logger = logging.getLogger(__name__)
_callsites_with_miss: set[str] = set()  # where a never-seen function was traced (re-defined functions)


def _level() -> int:
    return logging.WARNING if config.log_compiles else logging.DEBUG


@contextlib.contextmanager
def log_elapsed(fmt: str, fun_name: str) -> Iterator[None]:
    """Log ``fmt`` (with ``{fun_name}`` and ``{elapsed_time}``) once the block has run."""
    start = time.time()
    yield
    level = _level()
    if logger.isEnabledFor(level):
        logger.log(level, fmt.format(fun_name=fun_name, elapsed_time=time.time() - start))


def log_compile(name: str, avals: Sequence, device: Any) -> None:
    level = _level()
    if logger.isEnabledFor(level):
        logger.log(level, "Compiling %s with global shapes and types %s. Argument mapping: %s.", name, list(avals),
                   device)


def arg_names(in_tree: PyTreeDef, positional: Sequence[str]) -> list[str]:
    """A name per leaf of ``(args, kwargs)``: the parameter's (``positional``, else ``args[i]``) or the keyword's,
    with the path inside it (``y['hi']``)."""
    names = []
    for path, _ in tree_flatten_with_path(tree_unflatten(in_tree, [0] * in_tree.num_leaves))[0]:
        head = path[1]
        i = getattr(head, "idx", None)
        base = (positional[i] if i < len(positional) else f"args[{i}]") if path[0].idx == 0 else head.key
        names.append(f"{base}{keystr(path[2:])}")
    return names


def explain_cache_miss(fun: Callable, seen: Sequence[tuple], key: tuple, names: Callable[[], list[str]]) -> None:
    """Warn why ``fun`` is traced for ``key`` = (static args, input tree, avals, trace context), given the keys it was
    traced for before (``seen``); ``names()`` names the input leaves. Functions of portax itself are not explained."""
    code = getattr(fun, "__code__", None)
    filename = code.co_filename if code is not None else None
    if filename and _is_internal(filename):
        return
    callsite = current().location()
    msg = [f"TRACING CACHE MISS at {callsite}:"]
    src = f" defined at {filename}:{code.co_firstlineno}" if filename else ""
    name = getattr(fun, "__name__", repr(fun))
    if not seen:
        msg.append(f"  never seen function:\n    {name} id={id(fun)}{src}")
        if callsite in _callsites_with_miss:
            msg.append("  but seen another function defined on the same line; maybe the function is\n"
                       "  being re-defined repeatedly, preventing caching?")
        else:
            _callsites_with_miss.add(callsite)
    else:
        msg.append(f"  for {name}{src}")
        msg.append("  all previously seen cache keys differ. For the closest previous key:")
        msg.append("  " + min(_diff(key, old, names) for old in seen)[-1])
    logger.warning("\n".join(msg))


def _diff(new: tuple, old: tuple, names: Callable[[], list[str]]) -> tuple[int, int, str]:
    """(severity, number of differences, explanation) of two keys; lower severity first, as JAX."""
    (new_static, new_tree, new_avals, new_ctx), (old_static, old_tree, old_avals, old_ctx) = new, old
    if new_ctx != old_ctx:
        diffs = [f"  * jax_{n} differs: now {a} and before {b}" for n, a, b in zip(TRACE_CONTEXT, new_ctx, old_ctx)
                 if a != b]
        return 0, len(diffs), "Tracing context doesn't match, e.g. due to config or context manager.\n" + \
            "\n".join(diffs)
    if new_tree != old_tree:
        diffs = [f"  * at input path {keystr(tuple(path))}, now {a} and before {b}, so {why}"
                 for path, a, b, why in equality_errors_pytreedef(new_tree, old_tree)]
        return 1, len(diffs), "different input pytree:\n" + "\n".join(diffs)
    if new_static != old_static:
        return 2, 1, "different static arguments"
    if new_avals != old_avals:
        diffs, weak = [], False
        for name, a, b in zip(names(), new_avals, old_avals):
            if a != b:
                sa, sb = a.str_short(), b.str_short()
                if a.weak_type != b.weak_type:
                    weak = True
                    sa, sb = f"{sa}{{weak_type={a.weak_type}}}", f"{sb}{{weak_type={b.weak_type}}}"
                diffs.append(f"  * at {name}, now {sa} and before {sb}")
        hint = "https://docs.jax.dev/en/latest/type_promotion.html#weak-types" if weak else ""
        return 3, len(diffs), "different input types:\n" + "\n".join(diffs) + hint
    return 4, 0, "cache miss explanation unavailable"
