"""conv_general_dilated for float dtypes as an implicit GEMM on the packed GEMM's micro-kernel (``gemm``).

Per group, the convolution is ``out[f, j] = sum_q W[f, q] * P[q, j]``: ``f`` an output feature of the group,
``j`` an output position (batch, spatial...), ``q`` a contracted (input feature, kernel tap...) pair and ``P``
the patches of the input. Nothing is materialised: the packing of a KC block gathers the patches straight from
the input (zero where a tap falls in the padding) and the weights straight from the kernel with masked vector
gathers through per-index offset tables, so any layout works (weights contiguous along the contraction, e.g. OIHW
or an NCHW output gradient, are loaded a row at a time and transposed in registers instead). The output side whose
elements are contiguous in memory becomes the micro-kernel's vector (column) side: output positions for NCHW,
features for NHWC; tiles are added to the output a contiguous run of columns at a time (across images too), and the
last rows of a block use a micro-kernel of 2/3 the rows when that pads fewer. Where the input is contiguous along its
features (NHWC), the contraction runs over the features innermost and the patches, on the micro-kernel's rows, are
packed a row at a time with vector loads (the micro-kernel reads A by rows, in K blocks of up to ``ROW_KC`` KC, so
the output is added to less often); where it is contiguous along its batch (the filter gradient of an NHWC
convolution), output positions run over the batch innermost, so a row panel's patches are vector loads too.

Lhs dilation (transposed convolutions, the lhs gradient) is split into sub-convolutions per residue class of
the output positions (``phases``): in each, the taps that hit a real input element form a regular, undilated
convolution, so no multiply-by-zero work is done. Feature and batch groups (grouped, depthwise, the rhs
gradient of grouped convolutions) are the outermost work dimension. A lone sub-convolution with fewer work items
than cores and a long contraction (the filter gradient of a first layer), or with an output of one small block
beside a long contraction (a filter gradient), splits its KC blocks into equal ranges, each summed into its own
copy of the output, added up afterwards. Groups with fewer than ``DIRECT_BELOW``
output features (depthwise convolutions and their gradients, a first layer's input gradient) run a direct task
instead, vectorised along output rows or along the groups. Each task is one library function per dtype, compiled
once per process; a program passes its geometry in a constant array.
"""
from __future__ import annotations

import dataclasses
import functools
import itertools
import math

import llvmlite.binding as llvm
import numpy as np
from llvmlite import ir

from . import engine, gemm, lltypes as T, threads
from .irutil import (entry_alloca, for_range, i64, imin, masked_load, masked_store, row_major_strides, splat,
                     while_loop)

SPATIAL = 3  # spatial dimensions of the task (fewer are padded with unit dimensions)
ROW_KC = 3  # a GEMM task packing the patches by rows takes K blocks of up to ROW_KC * KC (fewer output passes)
DIRECT_BELOW = 4  # fewer output features per group than this: the direct task (GEMM tiles would be mostly padding)
_HEADER = ("n_sub", "max_a", "max_b", "kc_max")
_FIELDS = ("items_end", "n_mb", "n_nb", "mcb", "ncb", "swap", "mode", "groups", "g_in", "g_w", "g_out", "m", "w_o", "o_o",
           "n_pos", "nb", "s_n", "o_n", "o_base", "cg", "s_c", "w_i", "w_base", "k", "ks", "o_size", "nminor", "cminor",
           "arow", "kcap") + tuple(
    f"{name}{d}" for name in ("t", "i0", "st", "s_h", "h", "o_s", "u", "rd", "w_st") for d in range(SPATIAL))
_TABLES = 7  # per side entry: source offset, three spatial coordinates, output offset, their contiguous runs


@dataclasses.dataclass(frozen=True)
class Axis:
    """One spatial axis of a regular sub-convolution: output positions ``o_first + o_step * t`` (t < t_count)
    read input ``i0 + t * st + u * rd`` with kernel tap ``k_first + k_step * u`` (u < u_count); ``n`` inputs."""

    t_count: int
    o_first: int
    o_step: int
    st: int
    i0: int
    u_count: int
    k_first: int
    k_step: int
    rd: int
    n: int


def phases(n: int, k: int, o: int, stride: int, pad_lo: int, lhs_dil: int, rhs_dil: int) -> list[Axis]:
    """The regular sub-convolutions of one axis: one per residue class of output positions modulo the period
    of the lhs dilation (a single one without lhs dilation)."""
    p_o, p_k = lhs_dil // math.gcd(stride, lhs_dil), lhs_dil // math.gcd(rhs_dil, lhs_dil)
    out = []
    for r in range(min(p_o, o)):
        t = -(-(o - r) // p_o)
        k0 = next((kk for kk in range(min(p_k, k)) if (r * stride + kk * rhs_dil - pad_lo) % lhs_dil == 0), None)
        u, i0 = (0, 0) if k0 is None else (-(-(k - k0) // p_k), (r * stride + k0 * rhs_dil - pad_lo) // lhs_dil)
        out.append(Axis(t, r, p_o, p_o * stride // lhs_dil, i0, u, k0 or 0, p_k, p_k * rhs_dil // lhs_dil, n))
    return out


def _records(lhs_shape, rhs_shape, out_shape, p: dict, dtype: np.dtype, direct: bool) -> tuple[list[dict], int]:
    """The parameter record of every (non-empty) sub-convolution and the total number of work items (of the
    GEMM task, or of the direct task when ``direct``)."""
    lhs_spec, rhs_spec, out_spec = p["dimension_numbers"]
    ls, rs, os_ = (row_major_strides(shape) for shape in (lhs_shape, rhs_shape, out_shape))
    g, bg = p["feature_group_count"], p["batch_group_count"]
    nsp = len(lhs_spec) - 2
    pad = SPATIAL - nsp
    per_axis = [[Axis(1, 0, 1, 1, 0, 1, 0, 1, 1, 1)]] * pad + [
        phases(lhs_shape[lhs_spec[2 + d]], rhs_shape[rhs_spec[2 + d]], out_shape[out_spec[2 + d]],
               p["window_strides"][d], p["padding"][d][0], p["lhs_dilation"][d], p["rhs_dilation"][d])
        for d in range(nsp)]
    if any(max(abs(a.i0), abs(a.i0 + (a.t_count - 1) * a.st) + (a.u_count - 1) * a.rd, a.n) >= 2 ** 30
           for axes in per_axis for a in axes):  # the packing checks coordinates in int32
        raise NotImplementedError("conv_general_dilated on cpu_llvm: spatial extents of 2**30 or more")
    s_h = [0] * pad + [ls[d] for d in lhs_spec[2:]]
    w_k = [0] * pad + [rs[d] for d in rhs_spec[2:]]
    o_s = [0] * pad + [os_[d] for d in out_spec[2:]]
    n_out, cg = rhs_shape[rhs_spec[0]], rhs_shape[rhs_spec[1]]
    groups = max(g, bg)
    m = n_out // groups
    nb = lhs_shape[lhs_spec[0]] // bg
    s_n, s_c = ls[lhs_spec[0]], ls[lhs_spec[1]]
    bk = gemm.blocking(dtype)
    records, items = [], 0
    for axes in itertools.product(*per_axis):
        n_pos = nb * int(np.prod([a.t_count for a in axes]))
        if n_pos == 0 or m == 0:
            continue
        k = cg * int(np.prod([a.u_count for a in axes]))
        swap = _swap(bk, m, n_pos, os_[out_spec[1]] == 1)
        rows, cols = (n_pos, m) if swap else (m, n_pos)
        mcb = gemm.row_block(gemm.Problem(rows, cols, k, 0, 0, 0, 0, ()), bk, groups)
        if swap:  # row panels are packed one at a time: big row blocks pack the weights less often
            mcb = max(mcb, -(-rows // (4 * threads.num_cores() * bk.mr)) * bk.mr)
        n_mb = -(-rows // mcb)
        ncb = _even_columns(gemm.column_block(gemm.Problem(rows, cols, k, 0, 0, 0, 0, ()), bk, groups * n_mb),
                            cols, bk, groups * n_mb)
        if groups * n_mb % threads.num_cores() == 0 and cols <= bk.nc:
            ncb = cols  # the row items already share the cores evenly: each packs its rows once
        n_nb = -(-cols // ncb)
        mode = int(groups > 1 and m * os_[out_spec[1]] == 1)  # direct: vectors along groups, else along rows
        spatial = [a.t_count for a in axes]
        items += (m * nb * int(np.prod(spatial)) if mode else groups * m * nb * int(np.prod(spatial[:-1]))) \
            if direct else groups * n_mb * n_nb
        rec = dict(items_end=items, n_mb=n_mb, n_nb=n_nb, mcb=mcb, ncb=ncb, swap=swap, mode=mode, groups=groups,
                   g_in=nb * s_n if bg > 1 else cg * s_c, g_w=m * rs[rhs_spec[0]], g_out=m * os_[out_spec[1]], m=m,
                   w_o=rs[rhs_spec[0]], o_o=os_[out_spec[1]], n_pos=n_pos, nb=nb, s_n=s_n, o_n=os_[out_spec[0]],
                   o_base=sum(a.o_first * s for a, s in zip(axes, o_s)), cg=cg, s_c=s_c, w_i=rs[rhs_spec[1]],
                   w_base=sum(a.k_first * s for a, s in zip(axes, w_k)), k=k, ks=1, o_size=int(np.prod(out_shape)),
                   nminor=int(s_n == 1 and nb > 1), cminor=int(s_c == 1 and cg > 1))
        rec["arow"] = int(swap and rec["cminor"])  # the patches' rows are contiguous runs of the input
        rec["kcap"] = bk.kc * (ROW_KC if rec["arow"] else 1)
        for d, a in enumerate(axes):
            rec.update({f"t{d}": a.t_count, f"i0{d}": a.i0, f"st{d}": a.st, f"s_h{d}": s_h[d], f"h{d}": a.n,
                        f"o_s{d}": a.o_step * o_s[d], f"u{d}": a.u_count, f"rd{d}": a.rd, f"w_st{d}": a.k_step * w_k[d]})
        records.append(rec)
    return records, items


def _even_columns(ncb: int, cols: int, bk: gemm.Blocking, row_items: int) -> int:
    """Columns per work item: ``ncb``, or bigger items (up to NC) when those split over the cores in clearly
    fewer rounds of panels (3 items on 2 cores take 2 rounds; 2 items of 1.5 times the size take one)."""
    cores, panels = threads.num_cores(), -(-cols // bk.nr)

    def makespan(per: int) -> int:  # column panels a core computes, for ``per`` panels per item
        return -(-row_items * -(-panels // per) // cores) * per

    first = ncb // bk.nr
    best = min(range(first, max(first, min(panels, bk.nc // bk.nr)) + 1), key=lambda per: (makespan(per), per))
    return best * bk.nr if makespan(best) <= 0.9 * makespan(first) else ncb


def _swap(bk: gemm.Blocking, m: int, n_pos: int, features_contiguous: bool) -> int:
    """1 to put output positions on the micro-kernel's rows and features on its vector columns: where the
    output is contiguous along features, unless that pads the tiles much more than the other way round."""
    swapped, straight = gemm.padded(bk, n_pos, m), gemm.padded(bk, m, n_pos)
    if features_contiguous:
        return int(swapped <= 1.25 * straight)
    return int(straight > 1.25 * swapped)


def emit(mb, lw, lhs, rhs, out, p: dict) -> None:
    """``out = conv_general_dilated(lhs, rhs)`` (float inputs; ``out`` in the compute dtype): the GEMM task, or
    the direct task when a group has fewer than ``DIRECT_BELOW`` output features (depthwise)."""
    cdt = out.dtype
    bk = gemm.blocking(cdt)
    lhs_spec, rhs_spec, _ = p["dimension_numbers"]
    direct = rhs.shape[rhs_spec[0]] // max(p["feature_group_count"], p["batch_group_count"]) < DIRECT_BELOW
    records, items = _records(lhs.shape, rhs.shape, out.shape, p, cdt, direct)
    if not records:
        return
    ks, items = (1, items) if direct else _k_splits(records, items, bk)
    if ks > 1:  # one sub-convolution: every split writes all of the output (split 0 into out, the others a copy)
        records[0].update(ks=ks, items_end=items * ks)
        items *= ks
    max_a = max(min(r["mcb"], r["n_pos"] if r["swap"] else r["m"]) for r in records)
    max_b = max(min(r["ncb"], r["m"] if r["swap"] else r["n_pos"]) for r in records)
    kc_max = max(min(r["kcap"], r["k"]) for r in records)
    values = [len(records), max_a, max_b, kc_max] + [r[f] for r in records for f in _FIELDS]
    params = mb.constant(np.asarray(values, np.int64))
    b = lw.b
    argv = entry_alloca(b, T.PTR, 5)
    ety, size = T.memory_type(cdt), int(np.prod(out.shape))
    scratch = gemm.heap_alloc(b, i64((ks - 1) * size * cdt.itemsize)) if ks > 1 else ir.Constant(T.PTR, None)
    for j, ptr in enumerate((lhs.ptr, rhs.ptr, out.ptr, b.bitcast(params, T.PTR), scratch)):
        b.store(ptr, b.gep(argv, [i64(j)], source_etype=T.PTR))
    name = task_symbol(lhs.dtype, cdt, direct)
    task = T.intrinsic(b.module, name, T.VOID, [T.I64, T.I64, T.PTR])
    flops = 2.0 * sum(r["groups"] * r["m"] * r["n_pos"] * r["k"] for r in records)
    how = "direct" if direct else "implicit gemm" + (f", K in {ks} splits" if ks > 1 else "") + "".join(
        f", {what}" for key, what in (("arow", "patches by rows"), ("nminor", "batch innermost"))
        if any(r[key] for r in records))
    label = f"opaque[{','.join(map(str, out.shape))}](conv_general_dilated: {how})"
    mb.run_task(b, task, items, argv, work_per_item=flops / items / 8, label=label)
    if ks > 1:
        with for_range(b, 0, size, "ksum") as i:
            at = b.gep(out.ptr, [i], source_etype=ety)
            total = b.load(at, typ=ety)
            for split in range(ks - 1):
                total = b.fadd(total, b.load(b.gep(scratch, [b.add(i, i64(split * size))], source_etype=ety), typ=ety))
            b.store(total, at)
        gemm.heap_free(b, scratch)


def _k_splits(records: list[dict], items: int, bk: gemm.Blocking) -> tuple[int, int]:
    """Into how many ranges of KC blocks to split the contraction of a lone sub-convolution, and its work items
    per range: a long K with fewer work items than cores (the rhs gradient of a first layer: a tiny output), or
    an output of one block per group small beside K (a filter gradient), then one item per group, so that every
    core works on an equal share and packs each operand element once (the partial outputs are summed after)."""
    cores = threads.num_cores()
    r = records[0]
    n_kb = -(-r["k"] // r["kcap"])
    if len(records) > 1 or n_kb < 2 or cores < 2:
        return 1, items
    if items < cores:
        return min(n_kb, -(-2 * cores // items)), items
    rows, cols = (r["n_pos"], r["m"]) if r["swap"] else (r["m"], r["n_pos"])
    if rows > bk.mc or cols > bk.nc or rows * cols > 16 * r["k"] or r["groups"] % cores == 0:
        return 1, items
    r.update(n_mb=1, n_nb=1, mcb=rows, ncb=cols, items_end=r["groups"])
    return min(n_kb, cores), r["groups"]


def compute_dtype(in_dtype: np.dtype, out_dtype: np.dtype) -> np.dtype:
    """float64 when the operands or the result (preferred_element_type) are float64, else float32."""
    return np.dtype(np.float64 if np.float64 in (np.dtype(in_dtype), np.dtype(out_dtype)) else np.float32)


@functools.cache
def task_symbol(dtype: np.dtype, cdt: np.dtype, direct: bool = False) -> str:
    """Compile (once per process) the GEMM or direct convolution task reading ``dtype`` operands and computing
    in ``cdt``, and bind it to a symbol."""
    dtype, cdt = np.dtype(dtype), np.dtype(cdt)
    name = f"portax_conv{'_direct' if direct else ''}_{T.mangle(T.memory_type(dtype))}_{T.mangle(T.memory_type(cdt))}"
    module = ir.Module(name=name)
    (_direct_task if direct else _library_task)(module, dtype, cdt)
    address = engine.compile(str(module), ["conv_task"])["conv_task"]
    llvm.add_symbol(name, address)
    return name


class _Tables:
    """Per-index int64 tables of one GEMM side (``_TABLES`` arrays of ``cap`` entries in one heap block)."""

    def __init__(self, b: ir.IRBuilder, cap: ir.Value, count: int):
        self.b, self.cap = b, cap
        self.ptr = gemm.heap_alloc(b, b.mul(b.mul(cap, i64(count)), i64(8)))

    def at(self, which: int, idx: ir.Value) -> ir.Value:
        return self.b.gep(self.ptr, [self.b.add(self.b.mul(self.cap, i64(which)), idx)], source_etype=T.I64)

    def get(self, which: int, idx: ir.Value) -> ir.Value:
        return self.b.load(self.at(which, idx), typ=T.I64)

    def set(self, which: int, idx: ir.Value, v: ir.Value) -> None:
        self.b.store(v, self.at(which, idx))


def _library_task(module: ir.Module, dtype: np.dtype, cdt: np.dtype) -> None:
    """``void conv_task(i64 start, i64 end, ptr argv)``, argv = (lhs, rhs, out, params): items [start, end)."""
    bk = gemm.blocking(cdt)
    ety = T.memory_type(cdt)
    vty = ir.VectorType(ety, bk.lanes)
    fn = ir.Function(module, ir.FunctionType(T.VOID, [T.I64, T.I64, T.PTR]), "conv_task")
    start, end, argv = fn.args
    b = ir.IRBuilder(fn.append_basic_block("entry"))
    lp, rp, op, pp = (b.load(b.gep(argv, [i64(j)], source_etype=T.PTR), typ=T.PTR) for j in range(4))

    def param(idx):
        return b.load(b.gep(pp, [idx], source_etype=T.I64), typ=T.I64)

    hdr = {n: param(i64(j)) for j, n in enumerate(_HEADER)}
    kc_max = hdr["kc_max"]
    bpack = gemm.heap_alloc(b, b.mul(b.mul(b.add(hdr["max_b"], i64(bk.nr)), kc_max), i64(cdt.itemsize)))
    a_row = ROW_KC * bk.kc + bk.lanes  # A panel row stride when packed by rows: its KC + a vector's tail
    apack = gemm.heap_alloc(b, i64(bk.mr * a_row * cdt.itemsize))
    ta = _Tables(b, b.add(hdr["max_a"], i64(bk.mr)), _TABLES)
    tb = _Tables(b, b.add(hdr["max_b"], i64(bk.nr)), _TABLES)
    tq = _Tables(b, kc_max, 7)
    tile = b.alloca(ir.ArrayType(vty, bk.mr * (bk.nr // bk.lanes)))
    small = dataclasses.replace(bk, mr=2 * bk.mr // 3)  # the micro-kernel for the last rows (fewer padded rows)
    sub = b.alloca(T.I64)
    runs_at = (b.alloca(T.I64), b.alloca(T.I64))  # the run loops' column and count
    scratch = b.load(b.gep(argv, [i64(4)], source_etype=T.PTR), typ=T.PTR)  # outputs of K splits past the first

    with for_range(b, start, end, "item") as item:
        f, local = _record(b, pp, item, sub)
        split, local = b.srem(local, f["ks"]), b.sdiv(local, f["ks"])
        nblk, rest = b.srem(local, f["n_nb"]), b.sdiv(local, f["n_nb"])
        mblk, grp = b.srem(rest, f["n_mb"]), b.sdiv(rest, f["n_mb"])
        swap = b.icmp_signed("!=", f["swap"], i64(0))
        rows = b.select(swap, f["n_pos"], f["m"])
        cols = b.select(swap, f["m"], f["n_pos"])
        row0, col0 = b.mul(mblk, f["mcb"]), b.mul(nblk, f["ncb"])
        mc, nc = imin(b, f["mcb"], b.sub(rows, row0)), imin(b, f["ncb"], b.sub(cols, col0))
        _fill_side(b, ta, f, row0, mc, swap)
        _fill_side(b, tb, f, col0, nc, b.not_(swap))
        _fill_runs(b, tb, nc, 4, 5)
        for tab, count in ((ta, mc), (tb, nc)):
            _fill_runs(b, tab, count, 0, 6)
        in_g = b.gep(lp, [b.mul(grp, f["g_in"])], source_etype=T.memory_type(dtype))
        w_g = b.gep(rp, [b.mul(grp, f["g_w"])], source_etype=T.memory_type(dtype))
        split_out = b.select(b.icmp_signed("==", split, i64(0)), op,
                             b.gep(scratch, [b.mul(b.sub(split, i64(1)), f["o_size"])], source_etype=ety))
        out_g = b.gep(split_out, [b.mul(grp, f["g_out"])], source_etype=ety)
        k = f["k"]
        n_kb = b.sdiv(b.add(k, b.sub(f["kcap"], i64(1))), f["kcap"])
        n_kb = b.select(b.icmp_signed("<", n_kb, i64(1)), i64(1), n_kb)  # K == 0 still writes the zeros
        n_kb = b.mul(b.sdiv(b.add(n_kb, b.sub(f["ks"], i64(1))), f["ks"]), f["ks"])  # as many blocks per K split
        limits = [f[f"h{d}"] for d in range(SPATIAL)]
        kcb = b.sdiv(b.add(k, b.sub(n_kb, i64(1))), n_kb)  # K split evenly into blocks of at most KC

        def pack(tab, dst, x0, extent, width, patches):
            with b.if_else(patches) as (input_side, weights_side):
                with input_side:
                    _pack(b, tab, tq, 0, in_g, dst, dtype, cdt, kc, x0, extent, width, limits)
                with weights_side:
                    _pack(b, tab, tq, 4, w_g, dst, dtype, cdt, kc, x0, extent, width, None)

        by_rows = b.icmp_signed("!=", f["arow"], i64(0))
        kb_lo = b.sdiv(b.mul(split, n_kb), f["ks"])  # this split's range of K blocks
        kb_hi = b.sdiv(b.mul(b.add(split, i64(1)), n_kb), f["ks"])
        with for_range(b, kb_lo, kb_hi, "pc") as pcb:
            pc = b.mul(pcb, kcb)
            kc = b.select(b.icmp_signed("<", pc, k), imin(b, kcb, b.sub(k, pc)), i64(0))
            first = b.icmp_signed("==", pcb, kb_lo)
            _fill_q(b, tq, f, pc, kc)
            _fill_runs(b, tq, kc, 4, 5)
            _fill_runs(b, tq, kc, 0, 6)
            pack(tb, bpack, i64(0), nc, bk.nr, b.not_(swap))

            def row_panels(bkx: gemm.Blocking, count: ir.Value, row_base: ir.Value, rows_too: bool) -> None:
                """``count`` row panels of ``bkx.mr`` rows, packed by columns or (``rows_too``) as ``by_rows``."""
                with for_range(b, 0, count, "ip") as ip:
                    i0 = b.add(row_base, b.mul(ip, i64(bkx.mr)))
                    mr = imin(b, i64(bkx.mr), b.sub(mc, i0))
                    if rows_too:  # one row panel at a time, hot in L1 for every column panel
                        with b.if_else(by_rows) as (rowwise, panelwise):
                            with rowwise:
                                _pack_rows(b, ta, tq, in_g, apack, dtype, cdt, kc, i0, mr, bkx.mr, a_row, limits)
                            with panelwise:
                                pack(ta, apack, i0, mr, bkx.mr, swap)
                    else:
                        pack(ta, apack, i0, mr, bkx.mr, swap)
                    with for_range(b, 0, b.sdiv(b.add(nc, i64(bk.nr - 1)), i64(bk.nr)), "jp") as jp:
                        j0 = b.mul(jp, i64(bk.nr))
                        nr = imin(b, i64(bk.nr), b.sub(nc, j0))
                        bpanel = b.gep(bpack, [b.mul(j0, kc)], source_etype=ety)
                        acc = (_micro_kernel(b, bkx, vty, apack, bpanel, kc, by_rows, a_row) if rows_too
                               else gemm.micro_kernel(b, bkx, vty, apack, bpanel, kc))
                        full = b.and_(b.icmp_signed("==", mr, i64(bkx.mr)), b.icmp_signed("==", nr, i64(bk.nr)))
                        full = b.and_(full, b.icmp_signed(">=", tb.get(5, j0), nr))  # columns contiguous in the output
                        with b.if_else(full) as (then, otherwise):
                            with then:
                                _store_full(b, bk, vty, acc, out_g, ta, i0, tb.get(4, j0), first)
                            with otherwise:
                                few = b.icmp_signed("<=", _count_runs(b, tb, j0, nr, runs_at), i64(bk.nr // 4))
                                with b.if_else(few) as (by_runs, scattered):
                                    with by_runs:
                                        _store_runs(b, bk, vty, acc, out_g, ta, tb, i0, j0, mr, nr, first, runs_at)
                                    with scattered:
                                        _store_partial(b, bk, vty, acc, tile, out_g, ta, tb, i0, j0, mr, nr, first)

            wide, narrow = _row_panels(b, mc, bk.mr, small.mr)  # packed by rows: wide panels only (less code)
            wide = b.select(by_rows, b.sdiv(b.add(mc, i64(bk.mr - 1)), i64(bk.mr)), wide)
            row_panels(bk, wide, i64(0), True)
            row_panels(small, b.select(by_rows, i64(0), narrow), b.mul(wide, i64(bk.mr)), False)
    for ptr in (bpack, apack, ta.ptr, tb.ptr, tq.ptr):
        gemm.heap_free(b, ptr)
    b.ret_void()


def _micro_kernel(b, bk: gemm.Blocking, vty, apack, bpanel, kc, by_rows: ir.Value, a_row: int) -> list:
    """The GEMM micro-kernel's accumulators, its A panel packed by rows (stride ``a_row``) or by columns."""
    with b.if_else(by_rows) as (rowwise, panelwise):
        with rowwise:
            acc_rows, from_rows = gemm.micro_kernel(b, bk, vty, apack, bpanel, kc, a_row), b.block
        with panelwise:
            acc_cols, from_cols = gemm.micro_kernel(b, bk, vty, apack, bpanel, kc), b.block
    out = []
    for row_r, row_c in zip(acc_rows, acc_cols):
        out.append([])
        for x, y in zip(row_r, row_c):
            phi = b.phi(vty)
            phi.add_incoming(x, from_rows)
            phi.add_incoming(y, from_cols)
            out[-1].append(phi)
    return out


def _row_panels(b, rows: ir.Value, mr: int, small: int) -> tuple[ir.Value, ir.Value]:
    """How many row panels of ``mr`` then of ``small`` rows cover ``rows`` with the fewest padded rows: a rest
    of up to ``small`` rows takes a small panel, a rest of up to ``mr - small`` rows two with the last wide one."""
    q, r = b.sdiv(rows, i64(mr)), b.srem(rows, i64(mr))
    two = b.and_(b.icmp_signed(">", r, i64(0)), b.and_(b.icmp_signed("<=", r, i64(mr - small)),
                                                      b.icmp_signed(">=", q, i64(1))))
    one = b.and_(b.icmp_signed(">", r, i64(0)), b.icmp_signed("<=", r, i64(small)))
    wide = b.select(two, b.sub(q, i64(1)), b.select(b.or_(one, b.icmp_signed("==", r, i64(0))), q, b.add(q, i64(1))))
    return wide, b.select(two, i64(2), b.select(one, i64(1), i64(0)))


def _counters(b, first: ir.Value, sizes: list) -> list:
    """Stack slots holding the mixed-radix digits of ``first`` (most significant first; the leading digit is
    unbounded), advanced by ``_advance``: the tables are filled without a division per entry."""
    rest, digits = first, []
    for size in reversed(sizes):
        size = b.select(b.icmp_signed("<", size, i64(1)), i64(1), size)  # no taps: nothing is read
        digits.append(b.srem(rest, size))
        rest = b.sdiv(rest, size)
    slots = []
    for v in [rest] + digits[::-1]:
        slot = entry_alloca(b, T.I64)
        b.store(v, slot)
        slots.append(slot)
    return slots


def _advance(b, slots: list, sizes: list) -> None:
    carry = ir.Constant(T.I1, 1)
    for slot, size in zip(reversed(slots[1:]), reversed(sizes)):
        nxt = b.add(b.load(slot), b.zext(carry, T.I64))
        carry = b.icmp_signed("==", nxt, size)
        b.store(b.select(carry, i64(0), nxt), slot)
    b.store(b.add(b.load(slots[0]), b.zext(carry, T.I64)), slots[0])


def _record(b, pp: ir.Value, item: ir.Value, sub: ir.Value) -> tuple[dict, ir.Value]:
    """The fields of the sub-convolution work item ``item`` belongs to, and its index among that one's items."""
    def param(idx):
        return b.load(b.gep(pp, [idx], source_etype=T.I64), typ=T.I64)

    def rec_at(s):
        return b.add(i64(len(_HEADER)), b.mul(s, i64(len(_FIELDS))))

    b.store(i64(0), sub)
    while_loop(b, lambda: b.icmp_signed(">=", item, param(rec_at(b.load(sub)))),
               lambda: b.store(b.add(b.load(sub), i64(1)), sub), "sub")
    s = b.load(sub)
    base = rec_at(s)
    f = {n: param(b.add(base, i64(j))) for j, n in enumerate(_FIELDS)}
    prev_end = b.select(b.icmp_signed("==", s, i64(0)), i64(0), param(b.sub(base, i64(len(_FIELDS)))))
    return f, b.sub(item, prev_end)


def _minor_last(b, flag: ir.Value, sizes: list, lead: ir.Value) -> list:
    """The bounded digit sizes of an index (lead, *sizes) enumerated in order, or, when ``flag`` is set, with
    the leading part innermost (sizes[1:] + [lead]; the first of ``sizes`` then leads, unbounded)."""
    on = b.icmp_signed("!=", flag, i64(0))
    return [b.select(on, x, y) for x, y in zip(sizes[1:] + [lead], sizes)]


def _minor_digits(b, flag: ir.Value, digits: list) -> list:
    """(lead, *rest) from the digits of an index enumerated as ``_minor_last`` says."""
    on = b.icmp_signed("!=", flag, i64(0))
    return [b.select(on, x, y) for x, y in zip(digits[-1:] + digits[:-1], digits)]


def _fill_side(b, tab: _Tables, f: dict, first: ir.Value, count: ir.Value, positions: ir.Value) -> None:
    """Tables of ``count`` side indices from ``first``: output positions (source offset in the input, input
    coordinates, output offset; batch innermost when ``nminor``) or, when not ``positions``, output features
    (weights offset, output offset)."""
    sizes = _minor_last(b, f["nminor"], [f[f"t{d}"] for d in range(SPATIAL)], f["nb"])
    slots = _counters(b, first, sizes)
    with for_range(b, 0, count, "fs") as x:
        j = b.add(first, x)
        n, *coords = _minor_digits(b, f["nminor"], [b.load(slot) for slot in slots])
        src, dst = b.mul(n, f["s_n"]), b.add(b.mul(n, f["o_n"]), f["o_base"])
        vs = []
        for d, t in enumerate(coords):
            v = b.add(f[f"i0{d}"], b.mul(t, f[f"st{d}"]))
            vs.append(v)
            src = b.add(src, b.mul(v, f[f"s_h{d}"]))
            dst = b.add(dst, b.mul(t, f[f"o_s{d}"]))
        zero = i64(0)
        tab.set(0, x, b.select(positions, src, b.mul(j, f["w_o"])))
        for d, v in enumerate(vs):
            tab.set(1 + d, x, b.select(positions, v, zero))
        tab.set(4, x, b.select(positions, dst, b.mul(j, f["o_o"])))
        _advance(b, slots, sizes)


def _fill_runs(b, tab: _Tables, count: ir.Value, of: int, into: int) -> None:
    """tab[into][x] = how many entries from x on have consecutive values in tab[of] (output offsets: a vector
    store needs NR; source offsets: a vector load instead of a gather)."""
    with for_range(b, 0, count, "fr") as x:
        back = b.sub(b.sub(count, i64(1)), x)
        nxt = b.add(back, i64(1))
        last = b.icmp_signed("==", nxt, count)
        safe = b.select(last, back, nxt)
        step = b.icmp_signed("==", b.sub(tab.get(of, safe), tab.get(of, back)), i64(1))
        run = b.select(b.and_(b.not_(last), step), b.add(tab.get(into, safe), i64(1)), i64(1))
        tab.set(into, back, run)


def _fill_q(b, tab: _Tables, f: dict, pc: ir.Value, kc: ir.Value) -> None:
    """Tables of contracted indices pc..pc+kc, (input feature, taps...) or, when ``cminor``, (taps..., input
    feature): input offset, tap coordinates (0..2), weights offset (4); tables 5 and 6 take the runs of the
    weights and input offsets (``_fill_runs``)."""
    sizes = _minor_last(b, f["cminor"], [f[f"u{d}"] for d in range(SPATIAL)], f["cg"])
    slots = _counters(b, pc, sizes)
    with for_range(b, 0, kc, "fq") as p:
        c, *us = _minor_digits(b, f["cminor"], [b.load(slot) for slot in slots])
        src, w = b.mul(c, f["s_c"]), b.add(b.mul(c, f["w_i"]), f["w_base"])
        for d, u in enumerate(us):
            kd = b.mul(u, f[f"rd{d}"])
            tab.set(1 + d, p, kd)
            src = b.add(src, b.mul(kd, f[f"s_h{d}"]))
            w = b.add(w, b.mul(u, f[f"w_st{d}"]))
        tab.set(0, p, src)
        tab.set(4, p, w)
        _advance(b, slots, sizes)


def _pack(b, tab: _Tables, tq: _Tables, qoff: int, src, dst, dtype, cdt, kc, x0, extent, width: int, lim) -> None:
    """dst[panel][p][w] = src[tab.src[x] + tq[qoff][p]] for x = x0 + panel * width + w, zero past ``extent``
    entries and (input side, ``lim`` given) where a coordinate falls outside its limit (padding). Each panel row
    is whole vectors of masked gathers (a row of MR is shorter than LLVM's vectorised loops), or of masked loads
    where the vector's source offsets are consecutive (e.g. positions along rows as wide as the input's)."""
    mty, ety = T.memory_type(dtype), T.memory_type(cdt)
    lanes = engine.host_target_info().vector_width // (8 * cdt.itemsize)
    ivty = ir.VectorType(T.I64, lanes)
    iota = ir.Constant(ivty, list(range(lanes)))
    gather = T.intrinsic(b.module, f"llvm.masked.gather.v{lanes}{T.mangle(mty)}.v{lanes}p0",
                         ir.VectorType(mty, lanes), [ir.VectorType(T.PTR, lanes), T.I32,
                                                     ir.VectorType(T.I1, lanes), ir.VectorType(mty, lanes)])
    base = splat(b, b.ptrtoint(src, T.I64), lanes)
    esize = splat(b, i64(dtype.itemsize), lanes)
    i32vty = ir.VectorType(T.I32, lanes)
    lims = [splat(b, b.trunc(limit, T.I32), lanes) for limit in lim] if lim else []
    n_panels = b.sdiv(b.add(extent, i64(width - 1)), i64(width))
    with for_range(b, 0, n_panels, "pp") as panel:
        first = b.mul(panel, i64(width))
        pbase = b.mul(first, kc)

        def vectors(consecutive: bool, lo=i64(0), hi=kc) -> None:
            """The panel's rows lo..hi: masked loads (every vector's sources consecutive) or masked gathers. Each
            vector's valid lanes, coordinates (int32) and source addresses are loaded once for all its rows."""
            chunks = []
            for c0 in range(0, width, lanes):
                used = min(lanes, width - c0)
                rel0 = b.add(first, i64(c0))
                ok = b.icmp_signed("<", b.add(splat(b, rel0, lanes), iota), splat(b, extent, lanes))
                if used < lanes:
                    ok = b.and_(ok, ir.Constant(ir.VectorType(T.I1, lanes), [int(j < used) for j in range(lanes)]))
                x = b.add(x0, rel0)
                coords = [b.trunc(masked_load(b, tab.at(1 + d, x), ivty, ok), i32vty) for d in range(len(lims))]
                at0 = (tab.get(0, _clamped(b, x0, rel0, extent)) if consecutive
                       else b.add(base, b.mul(masked_load(b, tab.at(0, x), ivty, ok), esize)))
                chunks.append((c0, used, ok, coords, at0))
            with for_range(b, lo, hi, "pk") as p:
                q_src = tq.get(qoff, p)
                q_k = [splat(b, b.trunc(tq.get(1 + d, p), T.I32), lanes) for d in range(len(lims))]
                for c0, used, ok, coords, at0 in chunks:
                    for coord, k, limit in zip(coords, q_k, lims):
                        ok = b.and_(ok, b.icmp_unsigned("<", b.add(coord, k), limit))
                    if consecutive:
                        at = b.gep(src, [b.add(at0, q_src)], source_etype=mty)
                        v = masked_load(b, at, ir.VectorType(mty, lanes), ok)
                    else:
                        ptrs = b.inttoptr(b.add(at0, splat(b, b.mul(q_src, i64(dtype.itemsize)), lanes)),
                                          ir.VectorType(T.PTR, lanes))
                        zero = ir.Constant(ir.VectorType(mty, lanes), [ir.Constant(mty, 0.0)] * lanes)
                        v = b.call(gather, [ptrs, ir.Constant(T.I32, dtype.itemsize), ok, zero])
                    v = v if mty == ety else b.fpext(v, ir.VectorType(ety, lanes))
                    at = b.gep(dst, [b.add(pbase, b.add(b.mul(p, i64(width)), i64(c0)))], source_etype=ety)
                    if used == lanes:
                        b.store(v, at, align=dtype.itemsize)
                    else:
                        masked_store(b, v, at, ir.Constant(ir.VectorType(T.I1, lanes), [int(j < used) for j in range(lanes)]))

        runs = ir.Constant(T.I1, 1)
        for c0 in range(0, width, lanes):  # a vector's sources are consecutive over its lanes inside the extent
            rel0 = b.add(first, i64(c0))
            need = imin(b, i64(min(lanes, width - c0)), b.sub(extent, rel0))
            runs = b.and_(runs, b.icmp_signed(">=", tab.get(6, _clamped(b, x0, rel0, extent)), need))
        with b.if_else(runs) as (loads, gathers):
            with loads:
                vectors(True)
            with gathers:
                if lim:
                    vectors(False)
                else:
                    _pack_transposing(b, tab, tq, src, dst, dtype, cdt, kc, x0, first, pbase, extent, width, vectors)


def _pack_rows(b, tab: _Tables, tq: _Tables, src, dst, dtype, cdt, kc, x0, extent, width: int, a_row: int,
               lim: list) -> None:
    """dst[w * a_row + p] = src[tab.src[x0 + w] + tq.src[p]] (input side, zero in the padding and past ``extent``
    rows and ``kc`` steps): a row panel of patches packed by rows, a vector of contraction steps at a time, each
    a masked load where those steps' sources are consecutive (a run of channels), else a masked gather."""
    mty, ety = T.memory_type(dtype), T.memory_type(cdt)
    lanes = engine.host_target_info().vector_width // (8 * cdt.itemsize)
    ivty, i32vty, mvty = ir.VectorType(T.I64, lanes), ir.VectorType(T.I32, lanes), ir.VectorType(mty, lanes)
    iota = ir.Constant(ivty, list(range(lanes)))
    gather = T.intrinsic(b.module, f"llvm.masked.gather.v{lanes}{T.mangle(mty)}.v{lanes}p0", mvty,
                         [ir.VectorType(T.PTR, lanes), T.I32, ir.VectorType(T.I1, lanes), mvty])
    zero = ir.Constant(mvty, [ir.Constant(mty, 0.0)] * lanes)
    esize = splat(b, i64(dtype.itemsize), lanes)
    lims = [splat(b, b.trunc(limit, T.I32), lanes) for limit in lim]
    rows = []  # per panel row: inside the extent, source offset, coordinates (int32 vectors)
    for w in range(width):
        inside = b.icmp_signed("<", i64(w), extent)
        x = b.select(inside, b.add(x0, i64(w)), x0)
        rows.append((splat(b, inside, lanes), tab.get(0, x),
                     [splat(b, b.trunc(tab.get(1 + d, x), T.I32), lanes) for d in range(len(lims))]))
    base = b.ptrtoint(src, T.I64)
    with for_range(b, 0, b.sdiv(b.add(kc, i64(lanes - 1)), i64(lanes)), "pr") as blk:
        p0 = b.mul(blk, i64(lanes))
        steps = b.icmp_signed("<", b.add(splat(b, p0, lanes), iota), splat(b, kc, lanes))
        taps = [b.trunc(masked_load(b, tq.at(1 + d, p0), ivty, steps), i32vty) for d in range(len(lims))]
        consecutive = b.icmp_signed(">=", tq.get(6, p0), imin(b, i64(lanes), b.sub(kc, p0)))
        q0 = tq.get(0, p0)

        def each_row(load) -> None:
            for w, (inside, at, coords) in enumerate(rows):
                ok = b.and_(steps, inside)
                for coord, tap, limit in zip(coords, taps, lims):
                    ok = b.and_(ok, b.icmp_unsigned("<", b.add(coord, tap), limit))
                v = load(at, ok)
                v = v if mty == ety else b.fpext(v, ir.VectorType(ety, lanes))
                b.store(v, b.gep(dst, [b.add(p0, i64(w * a_row))], source_etype=ety), align=cdt.itemsize)

        with b.if_else(consecutive) as (loads, gathers):
            with loads:
                each_row(lambda at, ok: masked_load(b, b.gep(src, [b.add(at, q0)], source_etype=mty), mvty, ok))
            with gathers:
                q = b.mul(masked_load(b, tq.at(0, p0), ivty, steps), esize)
                each_row(lambda at, ok: b.call(gather, [
                    b.inttoptr(b.add(splat(b, b.add(base, b.mul(at, i64(dtype.itemsize))), lanes), q),
                               ir.VectorType(T.PTR, lanes)), ir.Constant(T.I32, dtype.itemsize), ok, zero]))


def _pack_transposing(b, tab: _Tables, tq: _Tables, src, dst, dtype, cdt, kc, x0, first, pbase, extent,
                      width: int, vectors) -> None:
    """A weights-side panel whose sources are contiguous along the contraction (``tq`` runs, table 5): per
    ``lanes`` steps of it, each row one vector load, transposed in registers into one vector per step (gathers
    elsewhere: blocks across a run's end and the last steps)."""
    mty, ety = T.memory_type(dtype), T.memory_type(cdt)
    lanes = engine.host_target_info().vector_width // (8 * cdt.itemsize)
    mvty, vty = ir.VectorType(mty, lanes), ir.VectorType(ety, lanes)
    with for_range(b, 0, b.sdiv(kc, i64(lanes)), "pt") as blk:
        p0 = b.mul(blk, i64(lanes))
        with b.if_else(b.icmp_signed(">=", tq.get(5, p0), i64(lanes))) as (contiguous, other):
            with contiguous:
                q_w = tq.get(4, p0)
                for c0 in range(0, width, lanes):
                    used = min(lanes, width - c0)
                    rows = []
                    for r in range(used):
                        inside = b.icmp_signed("<", b.add(first, i64(c0 + r)), extent)
                        at = b.select(inside, b.add(tab.get(0, b.add(x0, b.add(first, i64(c0 + r)))), q_w), i64(0))
                        v = masked_load(b, b.gep(src, [at], source_etype=mty), mvty, splat(b, inside, lanes))
                        rows.append(v if mty == ety else b.fpext(v, vty))
                    rows += [ir.Constant(vty, ir.Undefined)] * (lanes - used)
                    for j, col in enumerate(gemm.transpose(b, rows)):
                        if used < lanes:
                            col = b.shuffle_vector(col, ir.Constant(vty, ir.Undefined),
                                                   ir.Constant(ir.VectorType(T.I32, used), list(range(used))))
                        at = b.add(pbase, b.add(b.mul(b.add(p0, i64(j)), i64(width)), i64(c0)))
                        b.store(col, b.gep(dst, [at], source_etype=ety), align=cdt.itemsize)
            with other:
                vectors(False, p0, b.add(p0, i64(lanes)))
    vectors(False, b.mul(b.sdiv(kc, i64(lanes)), i64(lanes)), kc)


def _clamped(b, x0, rel0, extent) -> ir.Value:
    """Side entry x0 + rel0, or the extent's last one past it (a vector wholly past the extent loads nothing)."""
    return b.add(x0, imin(b, rel0, b.sub(extent, i64(1))))


def _store_full(b, bk, vty, acc, out, ta: _Tables, i0, col_off, first) -> None:
    ety = vty.element
    zero = ir.Constant(vty, [ir.Constant(ety, 0.0)] * bk.lanes)
    align = ety.get_abi_alignment(engine.target_machine().target_data)
    for i, row in enumerate(acc):
        row_ptr = b.gep(out, [b.add(ta.get(4, b.add(i0, i64(i))), col_off)], source_etype=ety)
        for v, val in enumerate(row):
            ptr = b.gep(row_ptr, [i64(v * bk.lanes)], source_etype=ety)
            old = b.select(first, zero, b.load(ptr, typ=vty, align=align))
            b.store(b.fadd(old, val), ptr, align=align)


def _count_runs(b, tb: _Tables, j0, nr, slots) -> ir.Value:
    """Into how many runs of contiguous output offsets the tile's nr columns from j0 fall."""
    col, count = slots
    b.store(i64(0), col)
    b.store(i64(0), count)

    def step():
        b.store(b.add(b.load(col), tb.get(5, b.add(j0, b.load(col)))), col)
        b.store(b.add(b.load(count), i64(1)), count)
    while_loop(b, lambda: b.icmp_signed("<", b.load(col), nr), step, "runs")
    return b.load(count)


def _store_runs(b, bk, vty, acc, out, ta: _Tables, tb: _Tables, i0, j0, mr, nr, first, slots) -> None:
    """Edge tile, or one whose columns fall into a few contiguous runs in the output: per run, add the valid
    rows' columns of the run with masked vector loads and stores (lane c at the run's offset + c - its start)."""
    iota = ir.Constant(ir.VectorType(T.I64, bk.lanes), list(range(bk.lanes)))
    read = splat(b, b.not_(first), bk.lanes)
    col = slots[0]
    b.store(i64(0), col)

    def run():
        lo = b.load(col)
        hi = b.add(lo, imin(b, tb.get(5, b.add(j0, lo)), b.sub(nr, lo)))
        col_off = b.sub(tb.get(4, b.add(j0, lo)), lo)
        for i, row in enumerate(acc):
            inside = b.icmp_signed("<", i64(i), mr)
            row_ptr = b.gep(out, [b.add(b.select(inside, ta.get(4, b.add(i0, i64(i))), i64(0)), col_off)],
                            source_etype=vty.element)
            for v, val in enumerate(row):
                lane = b.add(iota, splat(b, i64(v * bk.lanes), bk.lanes))
                cols = b.and_(b.icmp_signed(">=", lane, splat(b, lo, bk.lanes)),
                              b.icmp_signed("<", lane, splat(b, hi, bk.lanes)))
                mask = b.and_(cols, splat(b, inside, bk.lanes))
                ptr = b.gep(row_ptr, [i64(v * bk.lanes)], source_etype=vty.element)
                masked_store(b, b.fadd(masked_load(b, ptr, vty, b.and_(mask, read)), val), ptr, mask)
        b.store(hi, col)
    while_loop(b, lambda: b.icmp_signed("<", b.load(col), nr), run, "store_runs")


def _store_partial(b, bk, vty, acc, tile, out, ta: _Tables, tb: _Tables, i0, j0, mr, nr, first) -> None:
    """Scattered tile (its columns in many runs): spill the accumulators, then add each valid row's part a vector
    at a time through the columns' output offsets (masked gathers and scatters: no element loop)."""
    ety, lanes = vty.element, bk.lanes
    nv = bk.nr // lanes
    for i, row in enumerate(acc):
        for v, val in enumerate(row):
            b.store(val, b.gep(tile, [ir.Constant(T.I32, 0), ir.Constant(T.I32, i * nv + v)]))
    mty, pty = ir.VectorType(T.I1, lanes), ir.VectorType(T.PTR, lanes)
    gather = T.intrinsic(b.module, f"llvm.masked.gather.v{lanes}{T.mangle(ety)}.v{lanes}p0", vty,
                         [pty, T.I32, mty, vty])
    scatter = T.intrinsic(b.module, f"llvm.masked.scatter.v{lanes}{T.mangle(ety)}.v{lanes}p0", T.VOID,
                          [vty, pty, T.I32, mty])
    size = ety.get_abi_size(engine.target_machine().target_data)
    align = ir.Constant(T.I32, size)
    zero = ir.Constant(vty, [ir.Constant(ety, 0.0)] * lanes)
    iota = ir.Constant(ir.VectorType(T.I64, lanes), list(range(lanes)))
    load_old = splat(b, b.not_(first), lanes)
    cols = []  # per vector of the tile row: valid lanes and byte offsets of their columns
    for v in range(nv):
        mask = b.icmp_signed("<", b.add(splat(b, i64(v * lanes), lanes), iota), splat(b, nr, lanes))
        offs = masked_load(b, tb.at(4, b.add(j0, i64(v * lanes))), ir.VectorType(T.I64, lanes), mask)
        cols.append((mask, b.mul(offs, splat(b, i64(size), lanes))))
    base = b.ptrtoint(out, T.I64)
    with for_range(b, 0, mr, "ti") as i:
        row_at = splat(b, b.add(base, b.mul(ta.get(4, b.add(i0, i)), i64(size))), lanes)
        for v, (mask, offs) in enumerate(cols):
            ptrs = b.inttoptr(b.add(row_at, offs), pty)
            val = b.load(b.gep(tile, [i64(0), b.add(b.mul(i, i64(nv)), i64(v))]))
            old = b.call(gather, [ptrs, align, b.and_(mask, load_old), zero])
            b.call(scatter, [b.fadd(old, val), ptrs, align, mask])


def _digits(b, value: ir.Value, sizes: list) -> list:
    """Mixed-radix digits of ``value``, most significant first (the leading one unbounded)."""
    out = []
    for size in reversed(sizes):
        out.append(b.srem(value, size))
        value = b.sdiv(value, size)
    return [value] + out[::-1]


def _ceil_div_pos(b, num: ir.Value, den: ir.Value) -> ir.Value:
    """ceil(num / den) for den > 0, 0 when num <= 0 (no division for den == 1)."""
    pos = b.select(b.icmp_signed(">", num, i64(0)), num, i64(0))
    with b.if_else(b.icmp_signed("==", den, i64(1))) as (unit, other):
        with unit:
            unit_block = b.block
        with other:
            q = b.sdiv(b.add(pos, b.sub(den, i64(1))), den)
            other_block = b.block
    out = b.phi(T.I64)
    out.add_incoming(pos, unit_block)
    out.add_incoming(q, other_block)
    return out


def _direct_task(module: ir.Module, dtype: np.dtype, cdt: np.dtype) -> None:
    """``void conv_task(i64 start, i64 end, ptr argv)`` computing sub-convolutions directly: per work item a
    row of outputs along the last spatial axis (mode 0) or along the groups (mode 1, depthwise NHWC), summed
    over the taps in vector registers (each tap's valid part of the row computed once); rows of other strides
    accumulate in memory element by element."""
    mty, ety = T.memory_type(dtype), T.memory_type(cdt)
    fn = ir.Function(module, ir.FunctionType(T.VOID, [T.I64, T.I64, T.PTR]), "conv_task")
    start, end, argv = fn.args
    b = ir.IRBuilder(fn.append_basic_block("entry"))
    lp, rp, op, pp = (b.load(b.gep(argv, [i64(j)], source_etype=T.PTR), typ=T.PTR) for j in range(4))
    sub = b.alloca(T.I64)
    with for_range(b, start, end, "item") as item:
        f, local = _record(b, pp, item, sub)
        groups = b.icmp_signed("!=", f["mode"], i64(0))
        t = [f[f"t{d}"] for d in range(SPATIAL)]
        by_row = _digits(b, local, [f["m"], f["nb"], t[0], t[1]])  # g, fo, n, t0, t1
        by_group = _digits(b, local, [f["nb"], t[0], t[1], t[2]])  # fo, n, t0, t1, t2
        g = b.select(groups, i64(0), by_row[0])
        fo, n, t0, t1 = (b.select(groups, y, x) for x, y in zip(by_row[1:], by_group))
        t2 = b.select(groups, by_group[4], i64(0))
        count = b.select(groups, f["groups"], t[2])
        o_step = b.select(groups, f["g_out"], f["o_s2"])
        out_at = [g, fo, n, t0, t1, t2]
        out0 = _dot(b, out_at, [f["g_out"], f["o_o"], f["o_n"], f["o_s0"], f["o_s1"], f["o_s2"]], f["o_base"])
        iv = [b.add(f[f"i0{d}"], b.mul(td, f[f"st{d}"])) for d, td in enumerate((t0, t1, t2))]
        in_n = b.add(b.mul(g, f["g_in"]), b.mul(n, f["s_n"]))
        w_f = b.add(b.add(b.mul(g, f["g_w"]), b.mul(fo, f["w_o"])), f["w_base"])
        i_step = b.select(groups, f["g_in"], b.mul(f["st2"], f["s_h2"]))
        w_step = b.select(groups, f["g_w"], i64(0))

        def taps(body):
            """body(lo, hi, src, w) per valid (tap, input feature): the row entries [lo, hi) it reaches, the
            input offset and the weight offset of entry 0."""
            with for_range(b, 0, f["u2"], "u2") as u2:  # the row's valid range depends on this tap only
                x2 = b.add(iv[2], b.mul(u2, f["rd2"]))
                # rows: t2 in [lo, hi) keeps x2 + t2 * st2 inside; groups: all or nothing
                lo = b.select(groups, i64(0), _ceil_div_pos(b, b.neg(x2), f["st2"]))
                hi_row = imin(b, t[2], _ceil_div_pos(b, b.sub(f["h2"], x2), f["st2"]))
                hi = b.select(groups, b.select(b.icmp_unsigned("<", x2, f["h2"]), count, i64(0)), hi_row)
                with for_range(b, 0, f["u0"], "u0") as u0:
                    x0 = b.add(iv[0], b.mul(u0, f["rd0"]))
                    with b.if_then(b.icmp_unsigned("<", x0, f["h0"])):
                        with for_range(b, 0, f["u1"], "u1") as u1:
                            x1 = b.add(iv[1], b.mul(u1, f["rd1"]))
                            with b.if_then(b.icmp_unsigned("<", x1, f["h1"])):
                                src0 = _dot(b, [x0, x1, x2], [f["s_h0"], f["s_h1"], f["s_h2"]], in_n)
                                w0 = _dot(b, [u0, u1, u2], [f["w_st0"], f["w_st1"], f["w_st2"]], w_f)
                                with for_range(b, 0, f["cg"], "c") as c:
                                    body(lo, hi, b.add(src0, b.mul(c, f["s_c"])), b.add(w0, b.mul(c, f["w_i"])))

        def scalar():
            with for_range(b, 0, count, "z") as v:
                b.store(ir.Constant(ety, 0.0), b.gep(op, [b.add(out0, b.mul(v, o_step))], source_etype=ety))
            taps(lambda lo, hi, src, w: _axpy(b, op, lp, rp, out0, src, w, o_step, i_step, w_step, lo, hi, mty, ety))

        cases = [(b.and_(b.icmp_signed("==", i_step, i64(s)), b.icmp_signed("==", w_step, i64(ws))), (s, ws))
                 for s, ws in ((1, 0), (2, 0), (1, 1))]

        def chain(k):
            if k == len(cases):
                scalar()
                return
            with b.if_else(cases[k][0]) as (then, otherwise):
                with then:
                    _vector_rows(b, op, lp, rp, out0, o_step, count, taps, mty, ety, *cases[k][1])
                with otherwise:
                    chain(k + 1)
        chain(0)
    b.ret_void()


def _dot(b, idx: list, coefs: list, base: ir.Value) -> ir.Value:
    for i, c in zip(idx, coefs):
        base = b.add(base, b.mul(i, c))
    return base


def _axpy(b, op, lp, rp, out0, src, w, o_step, i_step, w_step, lo, hi, mty, ety) -> None:
    """out[out0 + v*o_step] += rhs[w + v*w_step] * lhs[src + v*i_step] for v in [lo, hi) (any strides)."""
    with for_range(b, lo, hi, "v") as v:
        o_at = b.gep(op, [b.add(out0, b.mul(v, o_step))], source_etype=ety)
        x = b.load(b.gep(lp, [b.add(src, b.mul(v, i_step))], source_etype=mty), typ=mty)
        y = b.load(b.gep(rp, [b.add(w, b.mul(v, w_step))], source_etype=mty), typ=mty)
        if mty != ety:
            x, y = b.fpext(x, ety), b.fpext(y, ety)
        b.store(b.fadd(b.load(o_at, typ=ety), b.fmul(x, y, flags=("contract",)), flags=("contract",)), o_at)


def _vector_rows(b, op, lp, rp, out0, o_step, count, taps, mty, ety, i_step: int, w_step: int) -> None:
    """The row of ``count`` outputs, one vector at a time accumulated in registers over every tap (no
    read-modify-write of the output): inputs at stride 1 or 2 (the even lanes of a double-width load), weights
    broadcast (w_step 0) or contiguous along the row (depthwise NHWC); outputs stored as a vector at unit
    stride, else lane by lane (the phases of a transposed convolution)."""
    lanes = engine.host_target_info().vector_width // (8 * (4 if ety == T.F32 else 8))
    vty, mvty = ir.VectorType(ety, lanes), ir.VectorType(mty, lanes)
    iota = ir.Constant(ir.VectorType(T.I64, lanes), list(range(lanes)))
    fma = T.intrinsic(b.module, f"llvm.fma.v{lanes}{T.mangle(ety)}", vty, [vty, vty, vty])
    store = T.intrinsic(b.module, f"llvm.masked.store.v{lanes}{T.mangle(ety)}.p0", T.VOID,
                        [vty, T.PTR, T.I32, ir.VectorType(T.I1, lanes)])
    acc = entry_alloca(b, vty)

    def widen(v):
        return v if mty == ety else b.fpext(v, vty)

    with for_range(b, 0, b.sdiv(b.add(count, i64(lanes - 1)), i64(lanes)), "vv") as k:
        v0 = b.mul(k, i64(lanes))
        lane = b.add(splat(b, v0, lanes), iota)
        in_row = b.icmp_signed("<", lane, splat(b, count, lanes))
        b.store(ir.Constant(vty, [ir.Constant(ety, 0.0)] * lanes), acc)

        def body(lo, hi, src, w):
            mask = b.and_(in_row, b.and_(b.icmp_signed(">=", lane, splat(b, lo, lanes)),
                                         b.icmp_signed("<", lane, splat(b, hi, lanes))))
            x_at = b.gep(lp, [b.add(src, b.mul(v0, i64(i_step)))], source_etype=mty)
            if i_step == 1:
                x = masked_load(b, x_at, mvty, mask)
            else:
                spread = [j // 2 if j % 2 == 0 else lanes for j in range(2 * lanes)]  # odd lanes: never loaded
                wide_mask = b.shuffle_vector(mask, ir.Constant(ir.VectorType(T.I1, lanes), [0] * lanes),
                                             ir.Constant(ir.VectorType(T.I32, 2 * lanes), spread))
                wide = masked_load(b, x_at, ir.VectorType(mty, 2 * lanes), wide_mask)
                x = b.shuffle_vector(wide, wide, ir.Constant(ir.VectorType(T.I32, lanes), list(range(0, 2 * lanes, 2))))
            if w_step == 0:
                y0 = b.load(b.gep(rp, [w], source_etype=mty), typ=mty)
                y = splat(b, y0 if mty == ety else b.fpext(y0, ety), lanes)
            else:
                y = widen(masked_load(b, b.gep(rp, [b.add(w, v0)], source_etype=mty), mvty, mask))
            b.store(b.call(fma, [widen(x), y, b.load(acc)]), acc)

        taps(body)
        with b.if_else(b.icmp_signed("==", o_step, i64(1))) as (unit, strided):
            with unit:
                b.call(store, [b.load(acc), b.gep(op, [b.add(out0, v0)], source_etype=ety), ir.Constant(T.I32, 1),
                               in_row])
            with strided:
                vec = b.load(acc)
                for j in range(lanes):
                    with b.if_then(b.extract_element(in_row, ir.Constant(T.I32, j))):
                        at = b.add(out0, b.mul(b.add(v0, i64(j)), o_step))
                        b.store(b.extract_element(vec, ir.Constant(T.I32, j)), b.gep(op, [at], source_etype=ety))
