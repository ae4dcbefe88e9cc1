"""conv_general_dilated in two forms:

* ``direct`` (``lower_windowed.conv_direct``): one invocation per output element loops over its window (or a
  chunk of it, ``split_k``); every convolution (groups, any layout, integers and bool);
* ``gemm``: the window of every output position is first copied into a patch matrix (im2col, zeros where
  the window covers padding), then a matmul kernel of ``lower_dot`` (``blocked``, ``blocked_square`` or
  ``tiled``) multiplies it with the weights. Float convolutions without feature or batch groups whose output
  is NCHW-like (batch, feature, spatial) or NHWC-like (batch, spatial, feature), when the patch matrix fits one
  storage binding.
  The product is oriented so that the matmul writes the output in its own layout.

``gemm`` runs wherever it applies (2-9x faster than ``direct`` on lavapipe for CNN shapes; its matmul kernel is
chosen per device by ``autotune``); ``PORTAX_WGPU_CONV=direct`` forces the direct form.
"""
from __future__ import annotations

import math

from portax.core.ir import JaxprEqn
from portax.core.primitives import convolution as cv

from . import autotune, split_k
from .autotune import Step
from .kernel_writer import MAX_INDEX, KernelWriter, coord_exprs, u32, workgroups_for
from .lower_dot import MatmulSpec, matmul_variant, operand_view_steps, run_matmul
from .lower_windowed import _offset_coords, conv_direct, conv_window_index
from .lowering import lowering
from .program import LoweringContext, context_of
from .renderer import WORKGROUP, Scratch
from .wgsl_types import literal, load, store, wtype

FORMS = ("direct", "gemm")


@lowering(cv.conv_general_dilated_p)
def conv_general_dilated(ctx: LoweringContext, eqn: JaxprEqn) -> None:
    plan = _gemm_plan(ctx, eqn)
    form = "gemm" if plan is not None and autotune.forced("conv", FORMS) != "direct" else "direct"
    if form == "gemm":
        steps, spec = _gemm_steps(ctx, eqn, *plan)
        for w, groups in steps:
            ctx.launch(w, groups, context=f"{context_of(eqn)} [gemm]")
        run_matmul(ctx, spec, matmul_variant(ctx, spec), context_of(eqn), "gemm")
        return
    steps, split = conv_direct(ctx, eqn)
    for w, groups in steps:
        ctx.launch(w, groups, context=f"{context_of(eqn)}{split_k.label(split)} [direct]")
    if split is not None:
        split_k.combine(ctx, split, "sum", eqn.out_binders[0])


def _gemm_plan(ctx: LoweringContext, eqn: JaxprEqn) -> tuple[bool, int, int, int, int] | None:
    """(output NCHW-like?, N, P output positions, K = input features x window, O) when ``gemm`` applies."""
    lhs, rhs = eqn.inputs
    out = eqn.out_binders[0]
    p = eqn.params
    if p["feature_group_count"] != 1 or p["batch_group_count"] != 1 or wtype(lhs.aval.dtype).kind != "f":
        return None
    _, rhs_spec, out_spec = p["dimension_numbers"]
    n_sp = len(out_spec) - 2
    spatial = list(out_spec[2:])
    channels_first = tuple(out_spec[:2]) == (0, 1) and spatial == list(range(2, 2 + n_sp))
    channels_last = tuple(out_spec[:2]) == (0, n_sp + 1) and spatial == list(range(1, 1 + n_sp))
    if not (channels_first or channels_last):
        return None
    os_, rs = out.aval.shape, rhs.aval.shape
    n, o = os_[out_spec[0]], os_[out_spec[1]]
    positions = math.prod(os_[d] for d in spatial)
    k = rs[rhs_spec[1]] * math.prod(rs[d] for d in rhs_spec[2:])
    elements = n * positions * k
    if elements > MAX_INDEX or elements * lhs.aval.dtype.itemsize > ctx.limits.max_storage_buffer_binding_size:
        return None
    return channels_first, n, positions, k, o


def _gemm_steps(ctx: LoweringContext, eqn: JaxprEqn, channels_first: bool, n: int, positions: int, k: int,
                o: int) -> tuple[list[Step], MatmulSpec]:
    """The im2col kernel and a canonical copy of the weights if their layout needs one; the matmul after them."""
    lhs, rhs = eqn.inputs
    out = eqn.out_binders[0]
    _, rhs_spec, _ = eqn.params["dimension_numbers"]
    patches = Scratch((n, positions, k), lhs.aval.dtype, "conv patches")
    steps = [_im2col(eqn, patches)]
    weights, (_, s_o, s_k), copy = operand_view_steps(rhs, [[], [rhs_spec[0]], [rhs_spec[1], *rhs_spec[2:]]])
    steps += copy
    t, out_t = wtype(lhs.aval.dtype), wtype(out.aval.dtype)
    if channels_first:  # out[n, o, p] = sum_k w[o, k] patches[n, p, k]
        spec = MatmulSpec(weights, patches, out, n, o, k, positions, (0, s_o, s_k), (positions * k, 1, k), t,
                          out_t, None, ctx.caps)
    else:  # out[n, p, o] = sum_k patches[n, p, k] w[k, o]
        spec = MatmulSpec(patches, weights, out, n, positions, k, o, (positions * k, k, 1), (0, s_k, s_o), t,
                          out_t, None, ctx.caps)
    return steps, spec


def _im2col(eqn: JaxprEqn, patches: Scratch) -> Step:
    """patches[n, p, c * window + w] = the operand element under window position w of output position p
    (input feature c), zero where the window covers padding."""
    lhs, rhs = eqn.inputs
    out = eqn.out_binders[0]
    _, rhs_spec, out_spec = eqn.params["dimension_numbers"]
    n, positions, k = patches.shape
    window = [rhs.aval.shape[d] for d in rhs_spec[2:]]
    per_feature = max(math.prod(window), 1)
    t = wtype(lhs.aval.dtype)
    total = n * positions * k
    w = KernelWriter(f"conv-im2col:{lhs.aval.str_short()}", WORKGROUP)
    w.line(f"if (gid >= {u32(total)}) {{ return; }}")
    w.line(f"let kk = gid % {u32(k)};")
    w.line(f"let pos = (gid / {u32(k)}) % {u32(positions)};")
    w.line(f"let nb = gid / {u32(k * positions)};")
    w.line(f"let c = kk / {u32(per_feature)};")
    w.line(f"let kw = kk % {u32(per_feature)};")
    out_coords = []
    for j, e in enumerate(coord_exprs("pos", [out.aval.shape[d] for d in out_spec[2:]])):
        w.line(f"let q{j} = {e};")
        out_coords.append(f"q{j}")
    offsets = _offset_coords(w, "kw", window, "o") if window else []
    index, valid = conv_window_index(w, eqn, "nb", "c", out_coords, offsets)
    element = load(t, f"{w.buffer(lhs, t.dtype)}[{' + '.join(index)}]")
    w.line(f"var v = {literal(t, 0)};")
    w.line(f"if ({' && '.join(valid) or 'true'}) {{ v = {element}; }}")
    w.line(f"{w.buffer(patches, t.dtype, write=True)}[gid] = {store(t, 'v')};")
    return w, workgroups_for(total, WORKGROUP)
