"""A packed, register-blocked GEMM in generated code (the BLIS scheme) for float32/float64 dot_general.

``C[b] = A[b] . B[b]`` for strided ``A`` (M x K) and ``B`` (K x N) and a row-major ``C``: per block of MC
rows, per NC columns and KC contracting steps, panels of A (MR rows) and B (NR columns) are packed
contiguously (zero-padded), then a micro-kernel keeps an MR x NR tile of C in vector registers
(MR * NR / lanes accumulators, one fma per B vector and broadcast A element). Work items (batch x row
block x column block) are split across threads; packing buffers are allocated per call from the C heap.

The GEMM is one library function per dtype, compiled once per process (and cached on disk like any module)
and bound to the symbol ``portax_gemm_<type>``; a program passes its sizes and strides in a constant array,
so dot_generals cost nothing to compile.
"""
from __future__ import annotations

import dataclasses
import functools

import llvmlite.binding as llvm
import numpy as np
from llvmlite import ir

from . import engine, lltypes as T, threads
from .irutil import entry_alloca, for_range, i64, imin, masked_load, masked_store, splat

MIN_FLOPS = 2 * 32 ** 3  # below this the plain loops are as fast (no packing)


@dataclasses.dataclass(frozen=True)
class Blocking:
    lanes: int  # elements per vector register
    mr: int
    nr: int
    kc: int
    mc: int
    nc: int


def blocking(dtype: np.dtype) -> Blocking:
    """Register and cache blocking for the host's vector width."""
    lanes = engine.host_target_info().vector_width // (8 * np.dtype(dtype).itemsize)
    regs_for_c = 24 if lanes * np.dtype(dtype).itemsize >= 64 else 12
    nr = 2 * lanes
    mr = regs_for_c // 2
    kc = 256 if np.dtype(dtype).itemsize == 4 else 128
    return Blocking(lanes, mr, nr, kc, mr * 32, 2048)  # MC: 32 micro-panels (measured best for 1024-2048 squares)


@dataclasses.dataclass(frozen=True)
class Problem:
    """Sizes and element strides: A[i, p] at i*sam + p*sak, B[p, j] at p*sbk + j*sbn, C row-major (ldc = N);
    batch strides of A, B and C."""

    m: int
    n: int
    k: int
    sam: int
    sak: int
    sbk: int
    sbn: int
    batch: tuple  # ((size, stride_a, stride_b, stride_c), ...)


_PARAMS = ("m", "n", "k", "sam", "sak", "sbk", "sbn", "mcb", "ncb", "n_mb", "n_nb", "n_batch_dims")


def heap_alloc(b: ir.IRBuilder, nbytes: ir.Value) -> ir.Value:
    """A 64-byte aligned heap block of at least ``nbytes`` (generated call to aligned_alloc)."""
    fn = T.intrinsic(b.module, "aligned_alloc", T.PTR, [T.I64, T.I64])
    return b.call(fn, [i64(64), b.mul(b.sdiv(b.add(nbytes, i64(63)), i64(64)), i64(64))])


def heap_free(b: ir.IRBuilder, ptr: ir.Value) -> None:
    """Free a block from ``heap_alloc``."""
    b.call(T.intrinsic(b.module, "free", T.VOID, [T.PTR]), [ptr])


def row_block(pr: Problem, bk: Blocking, n_batch: int) -> int:
    """Rows per work item: at most MC, fewer items when the rows split evenly over the threads in blocks of
    up to twice MC (every item packs all of B, so fewer items pack it less often)."""
    want = threads.num_cores()
    if n_batch >= want or pr.m <= bk.mc:
        return bk.mc
    per = -(-pr.m // (want * max(1, -(-pr.m // (2 * bk.mc * want)))))
    return -(-per // bk.mr) * bk.mr


def padded(bk: Blocking, rows: int, cols: int) -> int:
    """Elements of the micro-kernel's tiles covering a ``rows`` x ``cols`` product (zero padding included)."""
    return -(-rows // bk.mr) * bk.mr * -(-cols // bk.nr) * bk.nr


def column_block(pr: Problem, bk: Blocking, n_rows_items: int) -> int:
    """Columns per work item: all of NC, or fewer so that small-M products still give every thread work."""
    want = 2 * threads.num_cores()
    if n_rows_items >= want:
        return bk.nc
    per = -(-pr.n // -(-want // n_rows_items))
    return max(bk.nr, min(bk.nc, -(-per // bk.nr) * bk.nr))


@functools.cache
def task_symbol(dtype: np.dtype) -> str:
    """Compile (once per process; the engine caches the object on disk) the GEMM task for ``dtype`` and
    bind it to a symbol generated programs call."""
    dtype = np.dtype(dtype)
    name = f"portax_gemm_{T.mangle(T.memory_type(dtype))}"
    module = ir.Module(name=name)
    _library_task(module, dtype)
    address = engine.compile(str(module), ["gemm_task"])["gemm_task"]
    llvm.add_symbol(name, address)
    return name


# void epilogue(i64 batch, i64 row0, i64 rows, i64 col0, i64 cols, ptr argv): a program's elementwise work on a
# block of C (``batch``: the row-major index over the problem's batch dimensions)
EPILOGUE_TYPE = ir.FunctionType(T.VOID, [T.I64, T.I64, T.I64, T.I64, T.I64, T.PTR])


def emit(mb, lw, a_ptr: ir.Value, b_ptr: ir.Value, c_ptr: ir.Value, dtype: np.dtype, pr: Problem,
         label: str, epilogue: tuple[ir.Function, ir.Value] | None = None) -> None:
    """Call the GEMM task from the program, split over work items (batch x row block x column block).
    ``epilogue`` (a function of type EPILOGUE_TYPE and its argv) runs on each work item's block of C once the
    block is final."""
    bk = blocking(dtype)
    name = task_symbol(dtype)
    n_batch = int(np.prod([s for s, *_ in pr.batch], dtype=np.int64))
    mcb = row_block(pr, bk, n_batch)
    n_mb = -(-pr.m // mcb)
    ncb = column_block(pr, bk, n_batch * n_mb)
    n_nb = -(-pr.n // ncb)
    values = [pr.m, pr.n, pr.k, pr.sam, pr.sak, pr.sbk, pr.sbn, mcb, ncb, n_mb, n_nb, len(pr.batch)]
    values += [v for dim in pr.batch for v in dim]
    params = mb.constant(np.asarray(values, np.int64))
    b = lw.b
    argv = entry_alloca(b, T.PTR, 6)
    epi_fn, epi_argv = epilogue or (ir.Constant(T.PTR, None), ir.Constant(T.PTR, None))
    for j, ptr in enumerate((a_ptr, b_ptr, c_ptr, b.bitcast(params, T.PTR), epi_fn, epi_argv)):
        b.store(ptr, b.gep(argv, [i64(j)], source_etype=T.PTR))
    task = T.intrinsic(b.module, name, T.VOID, [T.I64, T.I64, T.PTR])
    per_item = 2.0 * min(mcb, pr.m) * min(ncb, pr.n) * pr.k
    mb.run_task(b, task, n_batch * n_mb * n_nb, argv, work_per_item=per_item / 8, label=label)


def _library_task(module: ir.Module, dtype: np.dtype) -> None:
    """``void gemm_task(i64 start, i64 end, ptr argv)``, argv = (A, B, C, params, epilogue or null, its argv):
    work items [start, end)."""
    bk = blocking(dtype)
    ety = T.memory_type(dtype)
    vty = ir.VectorType(ety, bk.lanes)
    esize = dtype.itemsize
    fn = ir.Function(module, ir.FunctionType(T.VOID, [T.I64, T.I64, T.PTR]), "gemm_task")
    start, end, argv = fn.args
    b = ir.IRBuilder(fn.append_basic_block("entry"))
    ap, bp, cp, pp, epi_argv = (b.load(b.gep(argv, [i64(j)], source_etype=T.PTR), typ=T.PTR) for j in (0, 1, 2, 3, 5))
    epilogue = _FunctionPointer(b.block, b.gep(argv, [i64(4)], source_etype=T.PTR), EPILOGUE_TYPE)
    b._insert(epilogue)
    prm = {n: b.load(b.gep(pp, [i64(j)], source_etype=T.I64), typ=T.I64) for j, n in enumerate(_PARAMS)}
    m, n, k, mcb, ncb = prm["m"], prm["n"], prm["k"], prm["mcb"], prm["ncb"]
    kc_max = imin(b, i64(bk.kc), k)
    bpack = heap_alloc(b, b.mul(b.mul(b.add(ncb, i64(bk.nr)), kc_max), i64(esize)))
    apack = heap_alloc(b, b.mul(b.mul(b.add(mcb, i64(bk.mr)), kc_max), i64(esize)))
    offs = [b.alloca(T.I64) for _ in range(3)]
    rest = b.alloca(T.I64)

    def at(ptr, off):
        return b.gep(ptr, [off], source_etype=ety)

    with for_range(b, start, end, "item") as r:
        nblk, items = b.srem(r, prm["n_nb"]), b.sdiv(r, prm["n_nb"])
        mblk = b.srem(items, prm["n_mb"])
        batch = b.sdiv(items, prm["n_mb"])
        b.store(batch, rest)
        for o in offs:
            b.store(i64(0), o)
        with for_range(b, 0, prm["n_batch_dims"], "bd") as d:
            dim = b.sub(b.sub(prm["n_batch_dims"], i64(1)), d)  # innermost batch dimension first
            rec = b.add(i64(len(_PARAMS)), b.mul(dim, i64(4)))
            size = b.load(b.gep(pp, [rec], source_etype=T.I64), typ=T.I64)
            idx = b.srem(b.load(rest), size)
            b.store(b.sdiv(b.load(rest), size), rest)
            for j, o in enumerate(offs):
                stride = b.load(b.gep(pp, [b.add(rec, i64(j + 1))], source_etype=T.I64), typ=T.I64)
                b.store(b.add(b.load(o), b.mul(idx, stride)), o)
        a_b, b_b, c_b = (b.load(o) for o in offs)
        row0 = b.mul(mblk, mcb)
        mc = imin(b, mcb, b.sub(m, row0))
        jc = b.mul(nblk, ncb)
        nc = imin(b, ncb, b.sub(n, jc))
        with for_range(b, 0, b.sdiv(b.add(k, i64(bk.kc - 1)), i64(bk.kc)), "pc") as pcb:
            pc = b.mul(pcb, i64(bk.kc))
            kc = imin(b, i64(bk.kc), b.sub(k, pc))
            first = b.icmp_signed("==", pcb, i64(0))
            _pack(b, bp, b_b, bpack, vty, kc, nc, bk.nr, pc, jc, prm["sbk"], prm["sbn"])
            _pack(b, ap, a_b, apack, vty, kc, mc, bk.mr, pc, row0, prm["sak"], prm["sam"])
            with for_range(b, 0, b.sdiv(b.add(nc, i64(bk.nr - 1)), i64(bk.nr)), "jp") as jp:
                nr = imin(b, i64(bk.nr), b.sub(nc, b.mul(jp, i64(bk.nr))))
                bpanel = at(bpack, b.mul(b.mul(jp, i64(bk.nr)), kc))
                with for_range(b, 0, b.sdiv(b.add(mc, i64(bk.mr - 1)), i64(bk.mr)), "ip") as ip:
                    mr = imin(b, i64(bk.mr), b.sub(mc, b.mul(ip, i64(bk.mr))))
                    apanel = at(apack, b.mul(b.mul(ip, i64(bk.mr)), kc))
                    crow = b.add(row0, b.mul(ip, i64(bk.mr)))
                    ccol = b.add(jc, b.mul(jp, i64(bk.nr)))
                    cbase = at(cp, b.add(c_b, b.add(b.mul(crow, n), ccol)))
                    _prefetch_tile(b, bk, ety, cbase, n)
                    acc = micro_kernel(b, bk, vty, apanel, bpanel, kc)
                    full = b.and_(b.icmp_signed("==", mr, i64(bk.mr)), b.icmp_signed("==", nr, i64(bk.nr)))
                    with b.if_else(full) as (then, otherwise):
                        with then:
                            _store_full(b, bk, vty, acc, cbase, n, first)
                        with otherwise:
                            _store_partial(b, bk, vty, acc, cbase, n, mr, nr, first)
        with b.if_then(b.icmp_unsigned("!=", epilogue, ir.Constant(T.PTR, None))):
            b.call(epilogue, [batch, row0, mc, jc, nc, epi_argv])
    heap_free(b, bpack)
    heap_free(b, apack)
    b.ret_void()


class _FunctionPointer(ir.instructions.LoadInstr):
    """A function pointer loaded from memory, callable with ``IRBuilder.call`` (llvmlite takes the callee's
    type from ``function_type``, which an opaque pointer lacks)."""

    def __init__(self, parent: ir.Block, ptr: ir.Value, fnty: ir.FunctionType):
        super().__init__(parent, ptr, typ=T.PTR)
        self._fnty = fnty

    @property
    def function_type(self) -> ir.FunctionType:
        return self._fnty


def _pack(b, src, base, dst, vty, kc, extent, width, k0, x0, s_k, s_x) -> None:
    """dst[panel][p][w] = src[base + (k0 + p) * s_k + (x0 + panel * width + w) * s_x], zero past ``extent``;
    whole panels copy without bounds checks, reading ``src`` contiguously (``vty``: a vector of its elements)."""
    ety = vty.element
    zero = ir.Constant(ety, 0.0)
    n_panels = b.sdiv(b.add(extent, i64(width - 1)), i64(width))

    def src_at(p, x, sk=s_k, sx=s_x):
        return b.gep(src, [b.add(base, b.add(b.mul(b.add(k0, p), sk), b.mul(b.add(x0, x), sx)))],
                     source_etype=ety)

    def dst_at(pbase, p, w):
        return b.gep(dst, [b.add(pbase, b.add(b.mul(p, i64(width)), w))], source_etype=ety)

    def copy(pbase, x_first):
        with for_range(b, 0, kc, "po") as p:
            with for_range(b, 0, width, "pi") as w:
                b.store(b.load(src_at(p, b.add(x_first, w)), typ=ety), dst_at(pbase, p, w))

    def rows(pbase, x_first):
        """The copy for s_x == 1: each step of k one vector load and store of ``width`` elements (element
        copies would stay scalar: ``src`` and ``dst`` may alias as far as LLVM knows)."""
        wty = ir.VectorType(ety, width)
        align = ety.get_abi_alignment(_data_layout())
        with for_range(b, 0, kc, "po") as p:
            v = b.load(src_at(p, x_first, s_k, i64(1)), typ=wty, align=align)
            b.store(v, dst_at(pbase, p, i64(0)), align=align)

    def partial_rows(pbase, x_first):
        """``rows`` for the last panel, narrower than ``width``: masked vector loads (the logits of a dense
        layer as ``C^T``: 10 of 12 rows)."""
        wty = ir.VectorType(ety, width)
        inside = b.icmp_signed("<", ir.Constant(ir.VectorType(T.I64, width), list(range(width))),
                               splat(b, b.sub(extent, x_first), width))
        with for_range(b, 0, kc, "pm") as p:
            v = masked_load(b, src_at(p, x_first, s_k, i64(1)), wty, inside)
            b.store(v, dst_at(pbase, p, i64(0)), align=ety.get_abi_alignment(_data_layout()))

    def transposing(pbase, x_first):
        """The copy for s_k == 1: ``lanes`` steps of k of up to ``lanes`` rows as vector loads, transposed in
        registers, each step's row stored as one vector (element copies would be scatters, slow on x86)."""
        lanes = vty.count
        align = ety.get_abi_alignment(_data_layout())
        full = b.mul(b.sdiv(kc, i64(lanes)), i64(lanes))
        with for_range(b, 0, b.sdiv(kc, i64(lanes)), "pt") as blk:
            p0 = b.mul(blk, i64(lanes))
            for w0 in range(0, width, lanes):
                valid = min(lanes, width - w0)
                vecs = [b.load(src_at(p0, b.add(x_first, i64(w0 + r)), i64(1), s_x), typ=vty, align=align)
                        if r < valid else ir.Constant(vty, ir.Undefined) for r in range(lanes)]
                for j, col in enumerate(transpose(b, vecs)):
                    if valid < lanes:
                        col = b.shuffle_vector(col, ir.Constant(vty, ir.Undefined),
                                               ir.Constant(ir.VectorType(T.I32, valid), list(range(valid))))
                    b.store(col, dst_at(pbase, b.add(p0, i64(j)), i64(w0)), align=align)
        with for_range(b, full, kc, "pr") as p:
            for w in range(width):
                b.store(b.load(src_at(p, b.add(x_first, i64(w)), i64(1), s_x), typ=ety), dst_at(pbase, p, i64(w)))

    with for_range(b, 0, n_panels, "pp") as panel:
        pbase = b.mul(b.mul(panel, i64(width)), kc)
        x_first = b.mul(panel, i64(width))
        full = b.icmp_signed("<=", b.add(x_first, i64(width)), extent)
        with b.if_else(full) as (then, otherwise):
            with then:
                contiguous_x = b.or_(b.icmp_signed("==", s_x, i64(1)), b.icmp_signed("!=", s_k, i64(1)))
                with b.if_else(contiguous_x) as (along_x, along_k):
                    with along_x:
                        with b.if_else(b.icmp_signed("==", s_x, i64(1))) as (unit, strided):
                            with unit:
                                rows(pbase, x_first)
                            with strided:
                                copy(pbase, x_first)
                    with along_k:  # s_k == 1
                        transposing(pbase, x_first)
            with otherwise:
                with b.if_else(b.icmp_signed("==", s_x, i64(1))) as (unit, strided):
                    with unit:
                        partial_rows(pbase, x_first)
                    with strided:
                        with for_range(b, 0, kc, "pk") as p:
                            with for_range(b, 0, width, "pw") as w:
                                x = b.add(x_first, w)
                                inside = b.icmp_signed("<", x, extent)
                                v = b.load(src_at(p, b.select(inside, x, i64(0))), typ=ety)
                                b.store(b.select(inside, v, zero), dst_at(pbase, p, w))


def transpose(b, rows: list) -> list:
    """The columns of the square matrix whose rows are the vectors ``rows`` (a power of two of them): for each
    bit of the index, one two-source shuffle per vector swaps that bit between row and column."""
    n = len(rows)
    d = n // 2
    while d:
        out = list(rows)
        for i in (i for i in range(n) if not i & d):
            lo = [l if not l & d else n + l - d for l in range(n)]
            hi = [l + d if not l & d else n + l for l in range(n)]
            for k, mask in ((i, lo), (i + d, hi)):
                out[k] = b.shuffle_vector(rows[i], rows[i + d], ir.Constant(ir.VectorType(T.I32, n), mask))
        rows, d = out, d // 2
    return rows


def _prefetch_tile(b, bk: Blocking, ety, cbase, ldc: ir.Value) -> None:
    """Prefetch (for writing) the cache lines of an MR x NR tile of C, which the micro-kernel's kc steps then
    have time to bring in (C rows are far apart: each would otherwise be a miss at the end)."""
    fn = T.intrinsic(b.module, "llvm.prefetch.p0", T.VOID, [T.PTR, T.I32, T.I32, T.I32])
    per_line = 64 // (ety.get_abi_size(_data_layout()))
    for i in range(bk.mr):
        for j in range(0, bk.nr, per_line):
            ptr = b.gep(cbase, [b.add(b.mul(i64(i), ldc), i64(j))], source_etype=ety)
            b.call(fn, [ptr, ir.Constant(T.I32, 1), ir.Constant(T.I32, 3), ir.Constant(T.I32, 1)])


def micro_kernel(b, bk: Blocking, vty, apanel, bpanel, kc, a_row: int = 0) -> list:
    """The MR x (NR / lanes) vector accumulators of one tile after kc rank-1 updates (A's element (i, p) at
    ``p * MR + i``, or at ``i * a_row + p`` when ``a_row`` is given)."""
    ety = vty.element
    nv = bk.nr // bk.lanes
    pre = b.block
    body = b.append_basic_block("micro.body")
    done = b.append_basic_block("micro.done")
    zero = ir.Constant(vty, [ir.Constant(ety, 0.0)] * bk.lanes)
    b.cbranch(b.icmp_signed(">", kc, i64(0)), body, done)
    b.position_at_end(body)
    p = b.phi(T.I64)
    p.add_incoming(i64(0), pre)
    accs = [[b.phi(vty) for _ in range(nv)] for _ in range(bk.mr)]
    for row in accs:
        for a in row:
            a.add_incoming(zero, pre)
    bvec = [b.load(b.gep(bpanel, [b.add(b.mul(p, i64(bk.nr)), i64(v * bk.lanes))], source_etype=ety), typ=vty,
                   align=64) for v in range(nv)]
    fma = T.intrinsic(b.module, f"llvm.fma.v{bk.lanes}{T.mangle(ety)}", vty, [vty, vty, vty])
    new = []
    for i in range(bk.mr):
        a_at = b.add(p, i64(i * a_row)) if a_row else b.add(b.mul(p, i64(bk.mr)), i64(i))
        a = b.load(b.gep(apanel, [a_at], source_etype=ety), typ=ety)
        undef = ir.Constant(vty, ir.Undefined)
        lane0 = ir.Constant(ir.VectorType(T.I32, bk.lanes), [0] * bk.lanes)
        splat = b.shuffle_vector(b.insert_element(undef, a, ir.Constant(T.I32, 0)), undef, lane0)
        new.append([b.call(fma, [splat, bvec[v], accs[i][v]]) for v in range(nv)])
    nxt = b.add(p, i64(1))
    p.add_incoming(nxt, b.block)
    for row, nrow in zip(accs, new):
        for a, na in zip(row, nrow):
            a.add_incoming(na, b.block)
    b.cbranch(b.icmp_signed("<", nxt, kc), body, done)
    b.position_at_end(done)
    out = []
    for row, nrow in zip(accs, new):
        res = []
        for na in nrow:
            phi = b.phi(vty)
            phi.add_incoming(zero, pre)
            phi.add_incoming(na, body)
            res.append(phi)
        out.append(res)
    return out


def _store_full(b, bk: Blocking, vty, acc, cbase, ldc: ir.Value, first) -> None:
    ety = vty.element
    zero = ir.Constant(vty, [ir.Constant(ety, 0.0)] * bk.lanes)
    for i, row in enumerate(acc):
        for v, val in enumerate(row):
            ptr = b.gep(cbase, [b.add(b.mul(i64(i), ldc), i64(v * bk.lanes))], source_etype=ety)
            old = b.select(first, zero, b.load(ptr, typ=vty, align=ety.get_abi_alignment(_data_layout())))
            b.store(b.fadd(old, val), ptr, align=ety.get_abi_alignment(_data_layout()))


def _store_partial(b, bk: Blocking, vty, acc, cbase, ldc: ir.Value, mr, nr, first) -> None:
    """Edge tile: add the valid mr x nr part into C with masked vector loads and stores."""
    iota = ir.Constant(ir.VectorType(T.I64, bk.lanes), list(range(bk.lanes)))
    read = splat(b, b.not_(first), bk.lanes)
    for v in range(bk.nr // bk.lanes):
        cols = b.icmp_signed("<", b.add(iota, splat(b, i64(v * bk.lanes), bk.lanes)), splat(b, nr, bk.lanes))
        for i, row in enumerate(acc):
            mask = b.and_(cols, splat(b, b.icmp_signed("<", i64(i), mr), bk.lanes))
            ptr = b.gep(cbase, [b.add(b.mul(i64(i), ldc), i64(v * bk.lanes))], source_etype=vty.element)
            masked_store(b, b.fadd(masked_load(b, ptr, vty, b.and_(mask, read)), row[v]), ptr, mask)


def _data_layout():
    return engine.target_machine().target_data
