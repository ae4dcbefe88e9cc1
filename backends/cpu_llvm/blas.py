"""sgemm/dgemm of the OpenBLAS that numpy bundles, called from generated code through a function pointer.

The symbols ``portax_sgemm``/``portax_dgemm`` are bound (``llvm.add_symbol``) to ``scipy_cblas_[sd]gemm64_``
(ILP64 CBLAS) found in ``numpy.libs``; the object code only names them, so the disk cache stays valid
across processes. A dot_general qualifies when it is float32/float64, big enough, and each of its operand
groups (batch, free, contracting) is one strided dimension with a unit stride where BLAS needs one;
otherwise ``lower_dot`` emits its own loops.
"""
from __future__ import annotations

import ctypes
import functools
import glob
import os

import llvmlite.binding as llvm
import numpy as np
from llvmlite import ir

from . import lltypes as T
from .irutil import affine, i64, loop_nest
from .lower_fused import collapse

MIN_FLOPS = 2 * 48 ** 3  # below this the generated loops win (no call and packing overhead)
ROW_MAJOR, NO_TRANS, TRANS = 101, 111, 112
_SYMBOLS = {np.dtype(np.float32): ("portax_sgemm", "scipy_cblas_sgemm64_", T.F32),
            np.dtype(np.float64): ("portax_dgemm", "scipy_cblas_dgemm64_", T.F64)}


@functools.cache
def _library() -> ctypes.CDLL | None:
    libs = os.path.join(os.path.dirname(os.path.dirname(np.__file__)), "numpy.libs")
    for path in sorted(glob.glob(os.path.join(libs, "libscipy_openblas*.so*"))):
        try:
            return ctypes.CDLL(path)
        except OSError:
            continue
    return None


@functools.cache
def available(dtype: np.dtype) -> bool:
    """Whether gemm for ``dtype`` was found (and its symbol bound for generated code)."""
    entry = _SYMBOLS.get(np.dtype(dtype))
    lib = _library()
    if entry is None or lib is None:
        return False
    name, symbol, _ = entry
    try:
        fn = getattr(lib, symbol)
    except AttributeError:
        return False
    llvm.add_symbol(name, ctypes.cast(fn, ctypes.c_void_p).value)
    return True


def _single(dims: list, which: list[int]) -> list[tuple] | None:
    """Collapse a group's (size, stride per operand...) into one dimension, or None if it does not collapse."""
    if not dims:
        return [(1,) + (0,) * len(which)]
    coefs = [[d[1 + w] for d in dims] for w in which]
    out = collapse(tuple(d[0] for d in dims), coefs)
    if len(out) > 1:
        return None
    size = out[0].size if out else 1
    return [(size,) + tuple(c[0] if c else 0 for c in coefs)]


def _layout(rows: int, cols: int, s_row: int, s_col: int) -> tuple[int, int] | None:
    """(trans flag, leading dimension) of a rows x cols operand with the given element strides."""
    if s_col == 1 or cols == 1:
        ld = s_row if rows > 1 else max(cols, 1)
        if ld >= max(cols, 1):
            return NO_TRANS, ld
    if s_row == 1 or rows == 1:
        ld = s_col if cols > 1 else max(rows, 1)
        if ld >= max(rows, 1):
            return TRANS, ld
    return None


def try_gemm(lw, lhs, rhs, acc, groups) -> bool:
    """Emit a batched gemm call for ``acc = lhs . rhs`` if BLAS applies; False leaves it to the loops.

    ``groups`` are the ("outer", "k", "n") dimension lists of (size, lhs stride, rhs stride); "outer" holds
    the batch dimensions (nonzero rhs stride) then the lhs free ones."""
    dtype = lhs.dtype
    if dtype != acc.dtype or not available(dtype):
        return False
    outer, kdims, ndims = (g[1] for g in groups)
    batch = [d for d in outer if d[2] != 0]
    mdims = [d for d in outer if d[2] == 0]
    m = _single(mdims, [0])
    k = _single(kdims, [0, 1])
    n = _single(ndims, [1])
    if m is None or k is None or n is None:
        return False
    (M, sm), (K, lk, rk), (N, rn) = m[0], k[0], n[0]
    if 2 * M * N * K < MIN_FLOPS:
        return False
    a = _layout(M, K, sm, lk)
    bl = _layout(K, N, rk, rn)
    if a is None or bl is None:
        return False
    name, _, fty = _SYMBOLS[dtype]
    fn = T.intrinsic(lw.mb.module, name, T.VOID, [T.I32, T.I32, T.I32, T.I64, T.I64, T.I64, fty, T.PTR, T.I64,
                                                 T.PTR, T.I64, fty, T.PTR, T.I64])
    kern = lw.mb.kernel("opaque", f"opaque[{','.join(map(str, acc.shape))}](dot_general: {name[7:]} BLAS call)", 3)
    b = kern.b
    lp, rp, op = kern.ptrs
    out_strides = []
    acc_n = M * N
    for size, *_ in reversed(batch):
        out_strides.insert(0, acc_n)
        acc_n *= size
    mty = T.memory_type(dtype)
    i32 = lambda v: ir.Constant(T.I32, v)

    def one(idx):
        lo = affine(b, 0, idx, [d[1] for d in batch])
        ro = affine(b, 0, idx, [d[2] for d in batch])
        oo = affine(b, 0, idx, out_strides)
        b.call(fn, [i32(ROW_MAJOR), i32(a[0]), i32(bl[0]), i64(M), i64(N), i64(K), ir.Constant(fty, 1.0),
                    b.gep(lp, [lo], source_etype=mty), i64(a[1]), b.gep(rp, [ro], source_etype=mty), i64(bl[1]),
                    ir.Constant(fty, 0.0), b.gep(op, [oo], source_etype=mty), i64(max(N, 1))])

    loop_nest(b, [(0, d[0]) for d in batch], one, name="batch")
    kern.finish()
    lw.mb.call(lw.b, kern, 1, [lhs.ptr, rhs.ptr, acc.ptr], parallel=False)
    return True
