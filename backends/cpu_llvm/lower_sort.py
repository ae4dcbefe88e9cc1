"""sort (several operands, ``num_keys`` lexicographic keys, stable) and top_k, as a stable merge sort of a
permutation per row (insertion-sorted runs, then branch-free merge passes), then a gather of each operand.

Float keys compare by a total order on their bits: for sort, NaN (any payload) last and -0 before +0, as the
reference backend; for top_k, descending by the raw bits (-NaN < -inf < -0 < 0 < inf < NaN), stable.
"""
from __future__ import annotations

import numpy as np
from llvmlite import ir

from portax.core.ir import ShapedArray
from portax.core.primitives import sorting as so, windowed as wd

from . import lltypes as T
from .codegen import Buf
from .irutil import entry_alloca, for_range, i64, imin, while_loop
from .program import Lowering, opaque

RUN = 16  # insertion-sorted run length before merging


def _key(b: ir.IRBuilder, x: ir.Value, dtype: np.dtype, canonical_nan: bool) -> tuple[ir.Value, bool]:
    """(comparable value, signed comparison?) of a compute value."""
    if dtype.kind != "f":
        return x, dtype.kind == "i"
    ity = ir.IntType(64 if x.type == T.F64 else 32)
    bits = b.bitcast(x, ity)
    if canonical_nan:
        nan_bits = 0x7FC00000 if ity.width == 32 else 0x7FF8000000000000
        bits = b.select(b.fcmp_unordered("uno", x, x), ir.Constant(ity, nan_bits), bits)
    flip = b.lshr(b.ashr(bits, ir.Constant(ity, ity.width - 1)), ir.Constant(ity, 1))
    return b.xor(bits, flip), True


def _perm_load(b: ir.IRBuilder, ptr: ir.Value, i: ir.Value) -> ir.Value:
    """Entry ``i`` of an i32 permutation."""
    return b.load(b.gep(ptr, [i], source_etype=T.I32), typ=T.I32)


class _RowSort:
    """Emits the permutation sort of one row into ``perm`` (i32, 2n entries of scratch)."""

    def __init__(self, b: ir.IRBuilder, n: int, keys: list[tuple[ir.Value, np.dtype]], base: ir.Value,
                 stride: int, descending: bool, canonical_nan: bool):
        self.b, self.n, self.keys, self.base, self.stride = b, n, keys, base, stride
        self.descending, self.canonical_nan = descending, canonical_nan

    def _load_key(self, k: int, p: ir.Value):
        b = self.b
        ptr, dtype = self.keys[k]
        at = b.add(self.base, b.mul(b.sext(p, T.I64), i64(self.stride)))
        return _key(b, T.load(b, ptr, dtype, at), dtype, self.canonical_nan)

    def less(self, p: ir.Value, q: ir.Value) -> ir.Value:
        """Whether element p must come before element q (strictly)."""
        b = self.b
        result = ir.Constant(T.I1, 0)
        for k in reversed(range(len(self.keys))):
            (x, signed), (y, _) = self._load_key(k, p), self._load_key(k, q)
            cmp = b.icmp_signed if signed else b.icmp_unsigned
            lt = cmp(">" if self.descending else "<", x, y)
            result = b.or_(lt, b.and_(b.icmp_unsigned("==", x, y), result))
        return result

    def sort(self, perm: ir.Value) -> ir.Value:
        """Sort; returns the pointer (perm or perm + n) holding the sorted permutation."""
        b, n = self.b, self.n
        ld = lambda ptr, i: _perm_load(b, ptr, i)
        st = lambda v, ptr, i: b.store(v, b.gep(ptr, [i], source_etype=T.I32))
        with for_range(b, 0, n, "init") as j:
            st(b.trunc(j, T.I32), perm, j)
        with for_range(b, 0, -(-n // RUN), "run") as c:
            lo = b.mul(c, i64(RUN))
            hi = imin(b, b.add(lo, i64(RUN)), i64(n))
            with for_range(b, b.add(lo, i64(1)), hi, "ins") as i:
                v = ld(perm, i)
                j = entry_alloca(b, T.I64)
                b.store(i, j)

                def cond():
                    jv = b.load(j)
                    above = b.icmp_signed(">", jv, lo)
                    prev = ld(perm, b.select(above, b.sub(jv, i64(1)), jv))
                    return b.and_(above, self.less(v, prev))

                def body():
                    jv = b.load(j)
                    st(ld(perm, b.sub(jv, i64(1))), perm, jv)
                    b.store(b.sub(jv, i64(1)), j)

                while_loop(b, cond, body, "shift")
                st(v, perm, b.load(j))
        src, dst = perm, b.gep(perm, [i64(n)], source_etype=T.I32)
        width = RUN
        while width < n:
            self._merge_pass(src, dst, width)
            src, dst = dst, src
            width *= 2
        return src

    def _merge_pass(self, src: ir.Value, dst: ir.Value, width: int) -> None:
        b, n = self.b, self.n
        ld = lambda ptr, i: _perm_load(b, ptr, i)
        with for_range(b, 0, -(-n // (2 * width)), "pair") as c:
            lo = b.mul(c, i64(2 * width))
            mid = imin(b, b.add(lo, i64(width)), i64(n))
            hi = imin(b, b.add(lo, i64(2 * width)), i64(n))
            i_slot, j_slot = entry_alloca(b, T.I64), entry_alloca(b, T.I64)
            b.store(lo, i_slot)
            b.store(mid, j_slot)
            with for_range(b, lo, hi, "merge") as k:
                i, j = b.load(i_slot), b.load(j_slot)
                last = i64(n - 1)
                left, right = ld(src, imin(b, i, last)), ld(src, imin(b, j, last))
                left_ok = b.icmp_signed("<", i, mid)
                right_done = b.icmp_signed(">=", j, hi)
                take_left = b.and_(left_ok, b.or_(right_done, b.xor(self.less(right, left), ir.Constant(T.I1, 1))))
                b.store(b.select(take_left, left, right), b.gep(dst, [k], source_etype=T.I32))
                b.store(b.add(i, b.zext(take_left, T.I64)), i_slot)
                b.store(b.add(j, b.zext(b.xor(take_left, ir.Constant(T.I1, 1)), T.I64)), j_slot)


def _sort_rows(lw: Lowering, label: str, shape: tuple, dim: int, keys: list[Buf], descending: bool,
               canonical_nan: bool, emit_outputs, bufs: list[Buf]) -> None:
    """A kernel over the rows along ``dim``: sort a permutation by ``keys`` then ``emit_outputs(b, ptrs, perm,
    base, row)`` writes the results. ``bufs`` are every buffer the kernel touches (keys first)."""
    n = shape[dim]
    outer = int(np.prod(shape[:dim], dtype=np.int64))
    inner = int(np.prod(shape[dim + 1:], dtype=np.int64))
    rows = outer * inner
    if rows == 0 or n == 0:
        return
    scratch, off = lw.scratch(ShapedArray((rows, 2 * n), np.int32))
    k = lw.mb.kernel("opaque", f"opaque[{','.join(map(str, shape))}]({label})", len(bufs) + 1)
    b = k.b
    ptrs = k.ptrs
    with for_range(b, k.start, k.end, "row") as r:
        o, i = b.sdiv(r, i64(inner)), b.srem(r, i64(inner))
        base = b.add(b.mul(o, i64(n * inner)), i)
        perm = b.gep(ptrs[-1], [b.mul(r, i64(2 * n))], source_etype=T.I32)
        sorter = _RowSort(b, n, [(ptrs[j], keys[j].dtype) for j in range(len(keys))], base, inner, descending,
                          canonical_nan)
        emit_outputs(b, ptrs, sorter.sort(perm), (o, i), inner)
    k.finish()
    lw.mb.call(lw.b, k, rows, [x.ptr for x in bufs] + [scratch.ptr], work_per_item=4.0 * n * max(np.log2(n), 1))
    lw.release(off, scratch.aval)


@opaque(so.sort_p)
def _sort(lw: Lowering, eqn, ins, outs):
    dim, num_keys = eqn.params["dimension"], eqn.params["num_keys"]
    shape = ins[0].shape
    n = shape[dim]
    m = len(ins)

    def write(b, ptrs, perm, oi, inner):
        o, i = oi
        base = b.add(b.mul(o, i64(n * inner)), i)
        with for_range(b, 0, n, "out") as j:
            p = b.sext(_perm_load(b, perm, j), T.I64)
            for x, y, src, dst in zip(ins, outs, ptrs[:m], ptrs[m:2 * m]):
                v = T.load(b, src, x.dtype, b.add(base, b.mul(p, i64(inner))))
                T.store(b, v, dst, y.dtype, b.add(base, b.mul(j, i64(inner))))

    _sort_rows(lw, "sort", shape, dim, ins[:num_keys], False, True, write, list(ins) + list(outs))


@opaque(wd.top_k_p)
def _top_k(lw: Lowering, eqn, ins, outs):
    x = ins[0]
    values, indices = outs
    kk, axis = eqn.params["k"], eqn.params["axis"]
    shape = x.shape
    n = shape[axis]

    def write(b, ptrs, perm, oi, inner):
        o, i = oi
        base = b.add(b.mul(o, i64(n * inner)), i)
        out_base = b.add(b.mul(o, i64(kk * inner)), i)
        with for_range(b, 0, kk, "out") as j:
            p32 = _perm_load(b, perm, j)
            p = b.sext(p32, T.I64)
            v = T.load(b, ptrs[0], x.dtype, b.add(base, b.mul(p, i64(inner))))
            at = b.add(out_base, b.mul(j, i64(inner)))
            T.store(b, v, ptrs[1], values.dtype, at)
            T.store(b, p32, ptrs[2], indices.dtype, at)

    if kk:
        _sort_rows(lw, "top_k", shape, axis, [x], True, False, write, [x, values, indices])
