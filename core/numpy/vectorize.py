"""``jnp.vectorize``: numpy's generalized-ufunc broadcasting implemented with nested vmaps."""
from __future__ import annotations

import functools
import re
from typing import Any, Callable

from ..api import vmap
from ..trace import get_aval
from ._util import asarray_any, broadcast_shapes, broadcast_to

_DIM = r"\w+"
_CORE = rf"(?:{_DIM}(?:,{_DIM})*)?"
_ARGS = rf"\({_CORE}\)(?:,\({_CORE}\))*"
_SIGNATURE = re.compile(rf"^{_ARGS}->{_ARGS}$")


def _parse_signature(signature: str) -> tuple[list, list]:
    """``'(m,n),(n)->(m)'`` -> ([('m','n'), ('n',)], [('m',)])."""
    sig = signature.replace(" ", "")
    if not _SIGNATURE.match(sig):
        raise ValueError(f"not a valid gufunc signature: {signature}")
    ins, outs = sig.split("->")
    parse = lambda s: [tuple(d for d in arg.split(",") if d) for arg in re.findall(r"\((.*?)\)", s)]
    return parse(ins), parse(outs)


def vectorize(pyfunc: Callable, *, excluded: frozenset = frozenset(), signature: str | None = None) -> Callable:
    """Vectorize ``pyfunc`` over the leading (loop) dimensions of its array arguments; ``signature`` names the
    core dimensions each argument keeps, as in ``numpy.vectorize``."""
    excluded = frozenset(excluded)

    @functools.wraps(pyfunc)
    def wrapped(*args: Any, **kwargs: Any) -> Any:
        static_kw = {k: v for k, v in kwargs.items() if k in excluded}
        if len(static_kw) != len(kwargs):
            raise NotImplementedError("jnp.vectorize: keyword arguments that are not excluded are not supported; "
                                      "pass them positionally")
        static_pos = {i: a for i, a in enumerate(args) if i in excluded}
        dyn = [asarray_any(a) for i, a in enumerate(args) if i not in excluded]
        if signature is None:
            cores = [()] * len(dyn)
        else:
            cores, _ = _parse_signature(signature)
            if len(cores) != len(dyn):
                raise TypeError(f"wrong number of positional arguments: expected {len(cores)}, got {len(dyn)}")
        loop_shapes = []
        for x, core in zip(dyn, cores):
            shape = get_aval(x).shape
            if len(shape) < len(core):
                raise ValueError(f"input with shape {shape} does not have enough dimensions for its core "
                                 f"dimensions {core} in signature {signature!r}")
            loop_shapes.append(shape[:len(shape) - len(core)])
        loop = broadcast_shapes(*loop_shapes) if loop_shapes else ()
        dyn = [broadcast_to(x, loop + get_aval(x).shape[len(ls):]) for x, ls in zip(dyn, loop_shapes)]

        def call(*xs):
            it = iter(xs)
            full = [static_pos[i] if i in static_pos else next(it) for i in range(len(args))]
            return pyfunc(*full, **static_kw)

        fn = call
        for _ in loop:
            fn = vmap(fn)
        return fn(*dyn)

    return wrapped


__all__ = ["vectorize"]
