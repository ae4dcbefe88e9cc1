"""``jnp.ufunc`` and ``jnp.frompyfunc``: numpy's ufunc methods (``reduce``, ``accumulate``, ``outer``, ``at``,
``reduceat``) for any elementwise function, by scans over the reduced axis unless a faster rule is given; and the
ufunc objects of the namespace (``jnp.add``, ``jnp.maximum``, ...), which use the reduction primitives."""
from __future__ import annotations

from typing import Any, Callable

from ..primitives.control_flow import fori_loop, scan
from ..trace import concrete_or_error
from . import reductions as rd, ufuncs as uf
from ._util import asarray_any, broadcast_to, canonicalize_axis
from .creation import arange, full_like
from .misc import where as _where
from .shape import concatenate, moveaxis, stack
from .vectorize import vectorize


class ufunc:
    """An elementwise function of ``nin`` arrays with numpy's ufunc methods (``jax.numpy.ufunc``)."""

    def __init__(self, func: Callable, /, nin: int, nout: int, *, name: str | None = None, nargs: int | None = None,
                 identity: Any = None, call: Callable | None = None, reduce: Callable | None = None,
                 accumulate: Callable | None = None, at: Callable | None = None, reduceat: Callable | None = None):
        self.__name__ = name or getattr(func, "__name__", "ufunc")
        self._func = func
        self.nin, self.nout = int(nin), int(nout)
        self.nargs = int(nargs or nin)
        self.identity = identity
        self._call = call or vectorize(func)
        self._reduce, self._accumulate, self._at, self._reduceat = reduce, accumulate, at, reduceat

    def __repr__(self) -> str:
        return f"<jnp.ufunc '{self.__name__}'>"

    def __call__(self, *args: Any, out: None = None, where: None = None) -> Any:
        if out is not None:
            raise NotImplementedError(f"out argument of {self}")
        if where is not None:
            raise NotImplementedError(f"where argument of {self}")
        return self._call(*args)

    def _binary(self, method: str) -> None:
        if self.nin != 2:
            raise ValueError(f"{method} only supported for binary ufuncs; got nin={self.nin}")
        if self.nout != 1:
            raise ValueError(f"{method} only supported for functions returning a single value; got nout={self.nout}")

    def outer(self, A: Any, B: Any, /) -> Any:
        self._binary("outer")
        A, B = asarray_any(A), asarray_any(B)
        return self(A.reshape(A.shape + (1,) * B.ndim), B)

    def reduce(self, a: Any, axis: int | tuple | None = 0, dtype=None, out: None = None, keepdims: bool = False,
               initial: Any = None, where: Any = None) -> Any:
        self._binary("reduce")
        if out is not None:
            raise NotImplementedError(f"out argument of {self}.reduce()")
        if self._reduce is not None:
            return self._reduce(a, axis=axis, dtype=dtype, keepdims=keepdims, initial=initial, where=where)
        a = asarray_any(a) if dtype is None else asarray_any(a).astype(dtype)
        nd = a.ndim
        axes = tuple(range(nd)) if axis is None else tuple(canonicalize_axis(i, nd) for i in
                                                            (axis if isinstance(axis, tuple) else (axis,)))
        start = self.identity if initial is None else initial
        if where is not None:
            if start is None:
                raise ValueError(f"reduction operation {self.__name__!r} does not have an identity, so to use a "
                                 "where mask one has to specify 'initial'.")
            a = _where(where, a, asarray_any(start).astype(a.dtype))
        rest = [i for i in range(nd) if i not in axes]
        kept = tuple(a.shape[i] for i in rest)
        x = a.transpose(axes + tuple(rest)).reshape((-1,) + kept)
        if initial is None and where is None:
            if x.shape[0] == 0:
                raise ValueError(f"zero-size array to reduction operation {self.__name__} which has no identity")
            carry, x = x[0], x[1:]
        else:
            carry = full_like(x[0] if x.shape[0] else x.reshape(kept), start)
        result = scan(lambda c, v: (self._call(c, v), None), carry, x)[0]
        if keepdims:
            result = result.reshape(tuple(1 if i in axes else s for i, s in enumerate(a.shape)))
        return result

    def accumulate(self, a: Any, axis: int = 0, dtype=None, out: None = None) -> Any:
        self._binary("accumulate")
        if out is not None:
            raise NotImplementedError(f"out argument of {self}.accumulate()")
        if self._accumulate is not None:
            return self._accumulate(a, axis=axis, dtype=dtype)
        a = asarray_any(a) if dtype is None else asarray_any(a).astype(dtype)
        axis = canonicalize_axis(axis, a.ndim)
        x = moveaxis(a, axis, 0)
        if x.shape[0] == 0:
            return a

        def step(c, v):
            c = self._call(c, v)
            return c, c
        rest = scan(step, x[0], x[1:])[1]
        return moveaxis(concatenate([x[:1], rest]), 0, axis)

    def at(self, a: Any, indices: Any, b: Any = None, /, *, inplace: bool = True) -> Any:
        if inplace:
            raise NotImplementedError("jnp.ufunc.at cannot update arrays in place (portax arrays are immutable); "
                                      "pass inplace=False and use the returned array.")
        if (b is None) != (self.nin == 1):
            raise ValueError(f"{self}.at needs {'no' if self.nin == 1 else 'a'} second operand b")
        if self._at is not None:
            return self._at(a, indices, b)
        a = asarray_any(a)
        flat = a.reshape(-1)
        positions = arange(a.size).reshape(a.shape)[indices].reshape(-1)
        vals = None if b is None else broadcast_to(asarray_any(b), a[indices].shape).reshape(-1)

        def body(k, f):
            p = positions[k]
            new = self._call(f[p]) if vals is None else self._call(f[p], vals[k])
            return f.at[p].set(asarray_any(new).astype(a.dtype))
        return fori_loop(0, positions.shape[0], body, flat).reshape(a.shape)

    def reduceat(self, a: Any, indices: Any, axis: int = 0, dtype=None, out: None = None) -> Any:
        """numpy's ``reduceat`` with concrete ``indices`` (they set the output shape)."""
        self._binary("reduceat")
        if out is not None:
            raise NotImplementedError(f"out argument of {self}.reduceat()")
        a = asarray_any(a) if dtype is None else asarray_any(a).astype(dtype)
        axis = canonicalize_axis(axis, a.ndim)
        idx = [int(i) for i in concrete_or_error(indices, "jnp.ufunc.reduceat needs concrete indices.").reshape(-1)]
        n = a.shape[axis]
        if any(not 0 <= i < n for i in idx):
            raise IndexError(f"index out of bounds in {self}.reduceat for axis of size {n}")
        x = moveaxis(a, axis, 0)
        parts = [self.reduce(x[i:j], axis=0) if i < j else x[i] for i, j in zip(idx, idx[1:] + [n])]
        return moveaxis(stack(parts), 0, axis)


def frompyfunc(func: Callable, /, nin: int, nout: int, *, identity: Any = None) -> ufunc:
    """A ``jnp.ufunc`` from an elementwise Python function of portax arrays."""
    return ufunc(func, nin, nout, identity=identity)


add = ufunc(uf.add, 2, 1, name="add", identity=0, call=uf.add, reduce=rd.sum, accumulate=rd.cumsum,
            at=lambda a, i, b: asarray_any(a).at[i].add(b))
multiply = ufunc(uf.multiply, 2, 1, name="multiply", identity=1, call=uf.multiply, reduce=rd.prod,
                 accumulate=rd.cumprod, at=lambda a, i, b: asarray_any(a).at[i].multiply(b))
subtract = ufunc(uf.subtract, 2, 1, name="subtract", call=uf.subtract,
                 at=lambda a, i, b: asarray_any(a).at[i].subtract(b))
maximum = ufunc(uf.maximum, 2, 1, name="maximum", call=uf.maximum, reduce=rd._max,
                at=lambda a, i, b: asarray_any(a).at[i].max(b))
minimum = ufunc(uf.minimum, 2, 1, name="minimum", call=uf.minimum, reduce=rd._min,
                at=lambda a, i, b: asarray_any(a).at[i].min(b))
negative = ufunc(uf.negative, 1, 1, name="negative", call=uf.negative)
logaddexp = ufunc(uf.logaddexp, 2, 1, name="logaddexp", identity=-float("inf"), call=uf.logaddexp)
logaddexp2 = ufunc(uf.logaddexp2, 2, 1, name="logaddexp2", identity=-float("inf"), call=uf.logaddexp2)
logical_and = ufunc(uf.logical_and, 2, 1, name="logical_and", identity=True, call=uf.logical_and)
logical_or = ufunc(uf.logical_or, 2, 1, name="logical_or", identity=False, call=uf.logical_or)
logical_xor = ufunc(uf.logical_xor, 2, 1, name="logical_xor", identity=False, call=uf.logical_xor)
bitwise_and = ufunc(uf.bitwise_and, 2, 1, name="bitwise_and", identity=-1, call=uf.bitwise_and)
bitwise_or = ufunc(uf.bitwise_or, 2, 1, name="bitwise_or", identity=0, call=uf.bitwise_or)
bitwise_xor = ufunc(uf.bitwise_xor, 2, 1, name="bitwise_xor", identity=0, call=uf.bitwise_xor)

UFUNCS = (add, multiply, subtract, maximum, minimum, negative, logaddexp, logaddexp2, logical_and, logical_or,
          logical_xor, bitwise_and, bitwise_or, bitwise_xor)
