"""fft (split complex: FFT, IFFT, RFFT, IRFFT over the trailing ``len(fft_lengths)`` axes).

One dispatch per transformed axis; each output element sums its row directly (a DFT, O(n) per element)
with twiddles taken at ``(t * k) mod n`` so the angle stays exact (float64 uses the backend's own sin and
cos). RFFT transforms the last axis first (real to half spectrum), IRFFT last (half spectrum to real,
using the Hermitian symmetry).
"""
from __future__ import annotations

import math
from typing import Sequence

from portax.core.ir import JaxprEqn
from portax.core.primitives import fft as ff

from .kernel_writer import KernelWriter, coord_exprs, strides, u32, workgroups_for
from .lowering import lowering
from .program import LoweringContext, context_of
from .renderer import WORKGROUP
from .wgsl_ops import math_function
from .wgsl_types import load, round_reg, store, wtype

MAX_LENGTH = 1 << 16  # (t * k) stays below 2**32


def _pass(ctx: LoweringContext, srcs: Sequence, dsts: Sequence, in_shape, out_shape, axis: int, n: int, mode: str,
          inverse: bool, dtype, context: str) -> None:
    """One DFT along ``axis``: mode "c2c", "r2c" (srcs = (re,)) or "c2r" (dsts = (re,))."""
    t = wtype(dtype)
    total = math.prod(out_shape)
    if total == 0:
        return
    w = KernelWriter(f"fft:{mode}:{n}", WORKGROUP)
    w.line(f"if (gid >= {u32(total)}) {{ return; }}")
    coords = coord_exprs("gid", out_shape)
    ist = strides(in_shape)
    w.line(f"let k = {coords[axis]};")
    base = " + ".join(f"({c}) * {u32(s)}" for d, (c, s) in enumerate(zip(coords, ist))
                      if d != axis and in_shape[d] != 1)
    w.line(f"let base = {base or '0u'};")
    src = [w.buffer(s, dtype) for s in srcs]
    length = in_shape[axis]
    sign = 1.0 if inverse else -1.0
    r = "f64" if t.is_64 else "f32"
    cos, sin = math_function("cos")(t), math_function("sin")(t)
    w.line(f"var re = {r}(0.0);\n  var im = {r}(0.0);")
    w.loops(length)
    w.line(f"for (var j = 0u; j < {u32(length)}; j = j + 1u) {{")
    w.line(f"  let at = base + j * {u32(ist[axis])};")
    w.line(f"  let theta = {r}({sign * 2 * math.pi / n!r}) * {r}((j * k) % {u32(n)});")
    w.line(f"  let c = {cos}(theta);\n    let s = {sin}(theta);")
    xr = load(t, f"{src[0]}[at]")
    if mode == "c2r":  # k is the time index here; j runs over the half spectrum, weighted for its mirror
        xi = load(t, f"{src[1]}[at]")
        weight = f"select({r}(2.0), {r}(1.0), j == 0u || 2u * j == {u32(n)})"
        w.line(f"  re = re + {weight} * ({xr} * c - {xi} * s);")
    else:
        xi = load(t, f"{src[1]}[at]") if mode == "c2c" else f"{r}(0.0)"
        w.line(f"  let xr = {xr};\n    let xi = {xi};")
        w.line("  re = re + xr * c - xi * s;\n    im = im + xr * s + xi * c;")
    w.line("}")
    scale = f" * {r}({1.0 / n!r})" if inverse else ""
    outs = [("re", dsts[0])] + ([("im", dsts[1])] if len(dsts) > 1 else [])
    for name, dst in outs:
        w.line(f"{w.buffer(dst, dtype, write=True)}[gid] = {store(t, round_reg(t, f'{name}{scale}'))};")
    ctx.launch(w, workgroups_for(total, WORKGROUP), context=context)


@lowering(ff.fft_p)
def _fft(ctx: LoweringContext, eqn: JaxprEqn) -> None:
    fft_type, lengths = eqn.params["fft_type"], tuple(eqn.params["fft_lengths"])
    context = context_of(eqn)
    dtype = eqn.inputs[0].aval.dtype
    if max(lengths) > MAX_LENGTH:
        raise NotImplementedError(f"wgpu backend: {context}: fft lengths past {MAX_LENGTH} are unsupported")
    ndim = eqn.inputs[0].aval.ndim
    axes = list(range(ndim - len(lengths), ndim))
    shape = list(eqn.inputs[0].aval.shape)
    cur = list(eqn.inputs)
    inverse = fft_type in (ff.FftType.IFFT, ff.FftType.IRFFT)
    plan = []  # (axis, mode, in_shape, out_shape)
    if fft_type == ff.FftType.RFFT:
        half = shape[:-1] + [lengths[-1] // 2 + 1]
        plan.append((axes[-1], "r2c", list(shape), half))
        shape = half
        plan += [(a, "c2c", list(shape), list(shape)) for a in axes[:-1]]
    elif fft_type == ff.FftType.IRFFT:
        plan += [(a, "c2c", list(shape), list(shape)) for a in axes[:-1]]
        plan.append((axes[-1], "c2r", list(shape), shape[:-1] + [lengths[-1]]))
    else:
        plan += [(a, "c2c", list(shape), list(shape)) for a in axes]
    for i, (axis, mode, in_shape, out_shape) in enumerate(plan):
        last = i == len(plan) - 1
        if last:
            dsts = list(eqn.out_binders)
        else:
            dsts = [ctx.scratch(out_shape, dtype, "fft re"), ctx.scratch(out_shape, dtype, "fft im")]
        n = lengths[axes.index(axis)]
        _pass(ctx, cur, dsts, in_shape, out_shape, axis, n, mode, inverse, dtype, f"{context} (axis {axis})")
        cur = dsts
