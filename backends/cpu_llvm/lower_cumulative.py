"""cumsum, cumprod, cummax, cummin: a scan along one axis, vectorised across the dimensions inside it
(``out[o, t, :] = out[o, t -/+ 1, :] (op) x[o, t, :]``), split across threads over the dimensions outside."""
from __future__ import annotations

import numpy as np

from portax.core.primitives import reductions as rd

from . import lltypes as T
from .irutil import for_range, i64
from .lower_elementwise import minmax
from .program import Lowering, opaque

_OPS = {rd.cumsum_p: "sum", rd.cumprod_p: "prod", rd.cummax_p: "max", rd.cummin_p: "min"}


def _combine(b, op: str, dtype: np.dtype, acc, x):
    fl = dtype.kind == "f"
    if op == "sum":
        return b.fadd(acc, x) if fl else b.add(acc, x)
    if op == "prod":
        return b.fmul(acc, x) if fl else b.mul(acc, x)
    return minmax(b, dtype, acc, x, op == "max")


@opaque(*_OPS)
def _cumulative(lw: Lowering, eqn, ins, outs):
    x, out = ins[0], outs[0]
    axis, reverse = eqn.params["axis"], eqn.params["reverse"]
    shape = x.shape
    n = shape[axis]
    n_outer = int(np.prod(shape[:axis], dtype=np.int64))
    inner = int(np.prod(shape[axis + 1:], dtype=np.int64))
    if x.aval.size == 0:
        return
    op, dt = _OPS[eqn.primitive], x.dtype
    k = lw.mb.kernel("opaque", f"opaque[{','.join(map(str, shape))}]({eqn.primitive.name})", 2)
    b = k.b
    xp, op_ = k.ptrs

    def at(o, t, i):
        return b.add(b.mul(b.add(b.mul(o, i64(n)), t), i64(inner)), i)

    first = i64(n - 1 if reverse else 0)
    with for_range(b, k.start, k.end, "o") as o:
        with for_range(b, 0, inner, "i") as i:
            T.store(b, T.load(b, xp, dt, at(o, first, i)), op_, dt, at(o, first, i))
        with for_range(b, 1, n, "a") as a:
            t = b.sub(i64(n - 1), a) if reverse else a
            prev = b.add(t, i64(1)) if reverse else b.sub(t, i64(1))
            with for_range(b, 0, inner, "i") as i:
                v = _combine(b, op, dt, T.load(b, op_, dt, at(o, prev, i)), T.load(b, xp, dt, at(o, t, i)))
                T.store(b, T.round_f16(b, v, dt), op_, dt, at(o, t, i))
    k.finish()
    lw.mb.call(lw.b, k, n_outer, [x.ptr, out.ptr], work_per_item=n * inner)
