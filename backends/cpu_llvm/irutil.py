"""Small IR-building helpers: counted loops in the shape LLVM's vectoriser likes, index arithmetic, copies."""
from __future__ import annotations

import contextlib
from typing import Callable, Iterator, Sequence

from llvmlite import ir

from .lltypes import I1, I8, I32, I64, PTR, VOID, intrinsic, mangle


def i64(v: int | ir.Value) -> ir.Value:
    return v if isinstance(v, ir.Value) else ir.Constant(I64, int(v))


def i32(v: int) -> ir.Constant:
    return ir.Constant(I32, int(v))


@contextlib.contextmanager
def for_range(b: ir.IRBuilder, start: int | ir.Value, end: int | ir.Value, name: str = "i") -> Iterator[ir.Value]:
    """``for i in range(start, end)`` (step 1, i64): a guarded, rotated loop; the body is the with-block."""
    start, end = i64(start), i64(end)
    pre = b.block
    body = b.append_basic_block(f"{name}.body")
    done = b.append_basic_block(f"{name}.done")
    b.cbranch(b.icmp_signed("<", start, end), body, done)
    b.position_at_end(body)
    i = b.phi(I64, name=name)
    i.add_incoming(start, pre)
    yield i
    nxt = b.add(i, i64(1), name=f"{name}.next", flags=["nsw"])
    i.add_incoming(nxt, b.block)
    b.cbranch(b.icmp_signed("<", nxt, end), body, done)
    b.position_at_end(done)


def loop_nest(b: ir.IRBuilder, ranges: Sequence[tuple], body: Callable[[list[ir.Value]], None],
              name: str = "d") -> None:
    """Nested loops over ``ranges`` ((start, end) pairs, outermost first); ``body(indices)`` emits the
    innermost statements. No ranges: ``body([])`` runs once."""
    def rec(k: int, idx: list[ir.Value]) -> None:
        if k == len(ranges):
            body(idx)
            return
        lo, hi = ranges[k]
        with for_range(b, lo, hi, f"{name}{k}") as i:
            rec(k + 1, idx + [i])
    rec(0, [])


def affine(b: ir.IRBuilder, base: int | ir.Value, idx: Sequence[ir.Value], coefs: Sequence[int]) -> ir.Value:
    """base + sum(idx[k] * coefs[k]) in i64, skipping zero coefficients."""
    acc = None if (isinstance(base, int) and base == 0) else i64(base)
    for i, c in zip(idx, coefs):
        if c == 0:
            continue
        term = i if c == 1 else b.mul(i, i64(c), flags=["nsw"])
        acc = term if acc is None else b.add(acc, term, flags=["nsw"])
    return i64(0) if acc is None else acc


def row_major_strides(shape: Sequence[int]) -> list[int]:
    """Element strides of a C-contiguous array of ``shape``."""
    out, acc = [], 1
    for n in reversed(shape):
        out.append(acc)
        acc *= n
    return out[::-1]


def gep(b: ir.IRBuilder, ptr: ir.Value, offset: ir.Value | int, ty: ir.Type = I8) -> ir.Value:
    """``ptr + offset`` elements of ``ty``."""
    return b.gep(ptr, [i64(offset)], inbounds=True, source_etype=ty)


def entry_alloca(b: ir.IRBuilder, ty: ir.Type, count: int = 1) -> ir.Value:
    """Stack space in the function's entry block (so that loops do not grow the stack)."""
    cur = b.block
    b.position_at_start(b.function.entry_basic_block)
    slot = b.alloca(ty, count) if count != 1 else b.alloca(ty)
    b.position_at_end(cur)
    return slot


def memcpy(b: ir.IRBuilder, dst: ir.Value, src: ir.Value, nbytes: int | ir.Value) -> None:
    fn = intrinsic(b.module, "llvm.memcpy.p0.p0.i64", VOID, [PTR, PTR, I64, I1])
    b.call(fn, [dst, src, i64(nbytes), ir.Constant(I1, 0)])


def memset(b: ir.IRBuilder, dst: ir.Value, byte: int, nbytes: int | ir.Value) -> None:
    fn = intrinsic(b.module, "llvm.memset.p0.i64", VOID, [PTR, I8, I64, I1])
    b.call(fn, [dst, ir.Constant(I8, byte), i64(nbytes), ir.Constant(I1, 0)])


def clamp_index(b: ir.IRBuilder, v: ir.Value, lo: int, hi: int) -> ir.Value:
    """An i64 ``v`` limited to [lo, hi] (hi >= lo)."""
    v = b.select(b.icmp_signed("<", v, i64(lo)), i64(lo), v)
    return b.select(b.icmp_signed(">", v, i64(hi)), i64(hi), v)


def to_i64(b: ir.IRBuilder, v: ir.Value, signed: bool) -> ir.Value:
    """An integer compute value widened (or kept) to i64."""
    w = v.type.width
    if w == 64:
        return v
    return b.sext(v, I64) if signed else b.zext(v, I64)


def while_loop(b: ir.IRBuilder, cond: Callable[[], ir.Value], body: Callable[[], None], name: str = "w") -> None:
    """``while cond(): body()`` (both emit code at ``b``)."""
    head = b.append_basic_block(f"{name}.head")
    loop = b.append_basic_block(f"{name}.body")
    done = b.append_basic_block(f"{name}.done")
    b.branch(head)
    b.position_at_end(head)
    b.cbranch(cond(), loop, done)
    b.position_at_end(loop)
    body()
    b.branch(head)
    b.position_at_end(done)


def splat(b: ir.IRBuilder, v: ir.Value, n: int) -> ir.Value:
    """A vector of ``n`` copies of ``v``."""
    undef = ir.Constant(ir.VectorType(v.type, n), ir.Undefined)
    return b.shuffle_vector(b.insert_element(undef, v, ir.Constant(I32, 0)), undef,
                            ir.Constant(ir.VectorType(I32, n), [0] * n))


def masked_load(b: ir.IRBuilder, ptr: ir.Value, vty: ir.VectorType, mask: ir.Value) -> ir.Value:
    """``vty`` loaded from ``ptr`` where ``mask`` is set (lanes past it are not read), zero elsewhere."""
    name = f"llvm.masked.load.v{vty.count}{mangle(vty.element)}.p0"
    fn = intrinsic(b.module, name, vty, [PTR, I32, ir.VectorType(I1, vty.count), vty])
    zero = ir.Constant(vty, [ir.Constant(vty.element, 0 if isinstance(vty.element, ir.IntType) else 0.0)] * vty.count)
    return b.call(fn, [ptr, ir.Constant(I32, 1), mask, zero])


def masked_store(b: ir.IRBuilder, value: ir.Value, ptr: ir.Value, mask: ir.Value) -> None:
    """Store the lanes of vector ``value`` where ``mask`` is set (the others are not written)."""
    vty = value.type
    fn = intrinsic(b.module, f"llvm.masked.store.v{vty.count}{mangle(vty.element)}.p0", VOID,
                   [vty, PTR, I32, ir.VectorType(I1, vty.count)])
    b.call(fn, [value, ptr, ir.Constant(I32, 1), mask])


def imin(b: ir.IRBuilder, x: ir.Value, y: ir.Value) -> ir.Value:
    return b.select(b.icmp_signed("<", x, y), x, y)
