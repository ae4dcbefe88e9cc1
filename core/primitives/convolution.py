"""conv_general_dilated: XLA's general convolution (strides, padding, lhs/rhs dilation, feature and batch
groups, any layout), bilinear in its operands, with JAX's transpose and batching rules and ``lax`` wrappers.

Also the window-geometry helpers (``padtype_to_pads``, dilated shapes, the padding of a convolution's
transpose) that the windowed reductions share.
"""
from __future__ import annotations

import operator
from typing import Any, NamedTuple, Sequence

import numpy as np

from .. import dtypes
from ..ad_util import Zero
from ..interpreters import jvp as ad
from ..interpreters.transpose import is_undefined
from ..ir import ShapedArray
from ..trace import Primitive, abstract_eval_rules, batching_rules, get_aval, transpose_rules
from . import elementwise as ew
from . import structural as st


class ConvDimensionNumbers(NamedTuple):
    """Layout of a convolution: ``lhs_spec = (batch dim, feature dim, spatial dims...)``,
    ``rhs_spec = (out feature dim, in feature dim, spatial dims...)``, ``out_spec`` like ``lhs_spec``."""
    lhs_spec: Sequence[int]
    rhs_spec: Sequence[int]
    out_spec: Sequence[int]


# --- window geometry -------------------------------------------------------------------------------------------
def dilate_dim(d: int, dilation: int) -> int:
    """Size of a dimension of size ``d`` with ``dilation - 1`` holes between elements."""
    return max(0, 1 + dilation * (d - 1))


def stride_dim(d: int, window: int, stride: int) -> int:
    """Number of windows of size ``window`` at stride ``stride`` that fit in ``d``."""
    return max(0, (d - window) // stride + 1)


def dilate_shape(shape: Sequence[int], dilation: Sequence[int]) -> tuple:
    return tuple(dilate_dim(d, r) for d, r in zip(shape, dilation))


def padtype_to_pads(in_shape: Sequence[int], window_shape: Sequence[int], window_strides: Sequence[int],
                    padding: str) -> list[tuple[int, int]]:
    """``lax.padtype_to_pads``: explicit (low, high) pads for 'SAME', 'SAME_LOWER' or 'VALID'."""
    kind = padding.upper() if isinstance(padding, str) else None
    if kind not in ("SAME", "SAME_LOWER", "VALID"):
        raise RuntimeError(f"Unrecognized padding type: expected 'VALID', 'SAME', or 'SAME_LOWER', got {padding}.")
    if kind == "VALID":
        return [(0, 0)] * len(in_shape)
    pads = []
    for n, w, s in zip(in_shape, window_shape, window_strides):
        total = int(max(0, (-(-n // s) - 1) * s + w - n))  # Python ints, also for numpy shapes (as JAX)
        small, big = total // 2, total - total // 2
        pads.append((small, big) if kind == "SAME" else (big, small))
    return pads


def conv_general_vjp_lhs_padding(in_shape, window_dimensions, window_strides, out_shape, padding, lhs_dilation,
                                 rhs_dilation) -> list[tuple[int, int]]:
    """Padding of the convolution that computes the cotangent of a convolution's lhs (or a window sum's operand)."""
    lhs_d = dilate_shape(in_shape, lhs_dilation)
    rhs_d = dilate_shape(window_dimensions, rhs_dilation)
    out_d = dilate_shape(out_shape, window_strides)
    before = [r - lo - 1 for r, (lo, _) in zip(rhs_d, padding)]
    after = [l + r - 1 - o - b for l, r, o, b in zip(lhs_d, rhs_d, out_d, before)]
    return [(int(b), int(a)) for b, a in zip(before, after)]


def _conv_general_vjp_rhs_padding(in_shape, window_dimensions, window_strides, out_shape, padding, lhs_dilation,
                                  rhs_dilation) -> list[tuple[int, int]]:
    lhs_d = dilate_shape(in_shape, lhs_dilation)
    rhs_d = dilate_shape(window_dimensions, rhs_dilation)
    out_d = dilate_shape(out_shape, window_strides)
    return [(int(lo), int(o - l + r - lo - 1)) for (lo, _), l, r, o in zip(padding, lhs_d, rhs_d, out_d)]


# --- dimension numbers -----------------------------------------------------------------------------------------
def conv_general_permutations(dimension_numbers: Sequence[str]) -> tuple[tuple, tuple, tuple]:
    """The (lhs, rhs, out) permutations of string specs such as ``('NHWC', 'HWIO', 'NHWC')``."""
    lhs_spec, rhs_spec, out_spec = dimension_numbers
    charpairs = (("N", "C"), ("O", "I"), ("N", "C"))
    for i, (a, b) in enumerate(charpairs):
        if not dimension_numbers[i].count(a) == dimension_numbers[i].count(b) == 1:
            raise TypeError(f"convolution dimension_numbers[{i}] must contain the characters '{a}' and '{b}' "
                            f"exactly once, got {dimension_numbers[i]}.")
        if len(dimension_numbers[i]) != len(set(dimension_numbers[i])):
            raise TypeError(f"convolution dimension_numbers[{i}] cannot have duplicate characters, got "
                            f"{dimension_numbers[i]}.")
    if not set(lhs_spec) - {"N", "C"} == set(rhs_spec) - {"O", "I"} == set(out_spec) - {"N", "C"}:
        raise TypeError(f"convolution dimension_numbers elements must each have the same set of spatial "
                        f"characters, got {dimension_numbers}.")

    def perm(spec: str, pair: tuple) -> tuple:
        spatial = sorted((i for i, c in enumerate(spec) if c not in pair), key=lambda i: rhs_spec.index(spec[i]))
        return (spec.index(pair[0]), spec.index(pair[1])) + tuple(spatial)

    return perm(lhs_spec, charpairs[0]), perm(rhs_spec, charpairs[1]), perm(out_spec, charpairs[2])


def conv_dimension_numbers(lhs_shape: Sequence[int], rhs_shape: Sequence[int],
                           dimension_numbers: Any) -> ConvDimensionNumbers:
    """``lax.conv_dimension_numbers``: None, string specs or a ConvDimensionNumbers, as ConvDimensionNumbers."""
    if isinstance(dimension_numbers, ConvDimensionNumbers):
        return ConvDimensionNumbers(*(tuple(int(d) for d in spec) for spec in dimension_numbers))
    if len(lhs_shape) != len(rhs_shape):
        raise TypeError(f"convolution requires lhs and rhs ndim to be equal, got {len(lhs_shape)} and "
                        f"{len(rhs_shape)}.")
    if dimension_numbers is None:
        iota = tuple(range(len(lhs_shape)))
        return ConvDimensionNumbers(iota, iota, iota)
    if not isinstance(dimension_numbers, (list, tuple)):
        raise TypeError(f"convolution dimension_numbers must be tuple/list or None, got {type(dimension_numbers)}.")
    if len(dimension_numbers) != 3:
        raise TypeError(f"convolution dimension_numbers list/tuple must be length 3, got {len(dimension_numbers)}.")
    if not all(isinstance(s, str) for s in dimension_numbers):
        raise TypeError(f"convolution dimension_numbers elements must be strings, got "
                        f"{tuple(type(s) for s in dimension_numbers)}.")
    for i, s in enumerate(dimension_numbers):
        if len(s) != len(lhs_shape):
            raise TypeError(f"convolution dimension_numbers[{i}] must have len equal to the ndim of lhs and rhs, "
                            f"got {len(s)} for lhs and rhs shapes {tuple(lhs_shape)} and {tuple(rhs_shape)}.")
    return ConvDimensionNumbers(*conv_general_permutations(dimension_numbers))


# --- abstract evaluation ---------------------------------------------------------------------------------------
def _check_preferred_element_type(name: str, in_dtype: np.dtype, preferred: np.dtype) -> None:
    """JAX's compatibility rule for ``preferred_element_type`` (same kind, no narrowing; int -> float allowed)."""
    if not (dtypes.kind(in_dtype) in "iu" and dtypes.kind(preferred) == "f"):
        for kinds in ("iu", "f"):
            if dtypes.kind(in_dtype) in kinds and dtypes.kind(preferred) not in kinds:
                raise TypeError(f"{name}: input type {in_dtype.name} is incompatible with preferred_element_type "
                                f"{preferred.name}. The compatible combinations of (input_type, "
                                "preferred_element_type) are (integral, integral), (integral, floating), "
                                "(floating, floating).")
        if dtypes.kind(in_dtype) == "i" and dtypes.kind(preferred) != "i":
            raise TypeError(f"{name}: preferred_element_type must have the same signedness as the original type, "
                            f"got {in_dtype.name} and {preferred.name}.")
    if preferred.itemsize < in_dtype.itemsize:
        raise TypeError(f"{name}: preferred_element_type must not be narrower than the original type, got "
                        f"{preferred.name} for inputs of type {in_dtype.name}.")


def _check_spatial_params(nsp: int, window_strides, padding, lhs_dilation, rhs_dilation) -> None:
    if len(window_strides) != nsp:
        raise ValueError(f"conv_general_dilated window and window_strides must have the same number of dimensions, "
                         f"but got {nsp} and {len(window_strides)}")
    for pname, val in (("padding", padding), ("lhs_dilation", lhs_dilation),
                       ("rhs_dilation", rhs_dilation)):
        if len(val) != nsp:
            raise TypeError(f"conv_general_dilated {pname} must have one entry per spatial dimension ({nsp}), "
                            f"got {val}.")
    for pname, val in (("window_strides", window_strides), ("lhs_dilation", lhs_dilation),
                       ("rhs_dilation", rhs_dilation)):
        if any(v < 1 for v in val):
            raise TypeError(f"conv_general_dilated {pname} must be positive, got {val}.")


def conv_shape_tuple(lhs_shape, rhs_shape, strides, pads, batch_group_count: int = 1) -> tuple:
    """``lax.conv_shape_tuple``: output shape of a convolution of canonical (N, C, spatial...) and
    (O, I, spatial...) shapes; ``pads`` are (low, high) pairs or a padding string."""
    if isinstance(pads, str):
        pads = padtype_to_pads(lhs_shape[2:], rhs_shape[2:], strides, pads)
    if len(pads) != len(lhs_shape) - 2:
        raise TypeError(f"Wrong number of explicit pads for convolution: expected {len(lhs_shape) - 2}, got "
                        f"{len(pads)}.")
    padded = [n + lo + hi for n, (lo, hi) in zip(lhs_shape[2:], pads)]
    if any(p < 0 for p in padded):
        raise ValueError(f"Negative padding is larger than the size of the corresponding dimension: got "
                         f"padding={tuple(pads)} for lhs_shape[2:]={tuple(lhs_shape[2:])}")
    space = tuple(stride_dim(p, k, s) for p, k, s in zip(padded, rhs_shape[2:], strides))
    return (lhs_shape[0] // batch_group_count, rhs_shape[0]) + space


def _conv_abstract(lhs: ShapedArray, rhs: ShapedArray, *, window_strides, padding, lhs_dilation, rhs_dilation,
                   dimension_numbers, feature_group_count, batch_group_count, precision, preferred_element_type):
    if type(dimension_numbers) is not ConvDimensionNumbers:
        raise TypeError(f"conv_general_dilated dimension_numbers must be a ConvDimensionNumbers, got "
                        f"{dimension_numbers!r}")
    if lhs.ndim != rhs.ndim:
        raise ValueError(f"conv_general_dilated lhs and rhs must have the same number of dimensions, but got "
                         f"{lhs.shape} and {rhs.shape}.")
    if lhs.ndim < 2:
        raise TypeError(f"conv_general_dilated operands need a batch and a feature dimension, got shapes "
                        f"{lhs.shape} and {rhs.shape}.")
    if any(sorted(spec) != list(range(lhs.ndim)) for spec in dimension_numbers):
        raise TypeError(f"conv_general_dilated dimension_numbers {tuple(dimension_numbers)} must each be a "
                        f"permutation of the {lhs.ndim} operand dimensions.")
    if lhs.dtype != rhs.dtype:
        raise TypeError(f"lax.conv_general_dilated requires arguments to have the same dtypes, got "
                        f"{lhs.dtype.name}, {rhs.dtype.name}.")
    if dtypes.kind(lhs.dtype) not in "fiubc":
        raise TypeError(f"conv_general_dilated does not accept dtype {lhs.dtype.name}.")
    lhs_spec, rhs_spec, out_spec = dimension_numbers
    fgc, bgc = feature_group_count, batch_group_count
    if fgc < 1:
        raise ValueError(f"conv_general_dilated feature_group_count must be a positive integer, got {fgc}.")
    lhs_features, rhs_in, rhs_out = lhs.shape[lhs_spec[1]], rhs.shape[rhs_spec[1]], rhs.shape[rhs_spec[0]]
    if lhs_features % fgc:
        raise ValueError(f"conv_general_dilated feature_group_count must divide lhs feature dimension size, but "
                         f"{fgc} does not divide {lhs_features}.")
    if lhs_features // fgc != rhs_in:
        raise ValueError(f"conv_general_dilated lhs feature dimension size divided by feature_group_count must "
                         f"equal the rhs input feature dimension size, but {lhs_features} // {fgc} != {rhs_in}.")
    if rhs_out % fgc:
        raise ValueError(f"conv_general_dilated rhs output feature dimension size must be a multiple of "
                         f"feature_group_count, but {rhs_out} is not a multiple of {fgc}.")
    if bgc < 1:
        raise ValueError(f"conv_general_dilated batch_group_count must be a positive integer, got {bgc}.")
    if lhs.shape[lhs_spec[0]] % bgc:
        raise ValueError(f"conv_general_dilated batch_group_count must divide lhs batch dimension size, but "
                         f"{bgc} does not divide {lhs.shape[lhs_spec[0]]}.")
    if rhs_out % bgc:
        raise ValueError(f"conv_general_dilated rhs output feature dimension size must be a multiple of "
                         f"batch_group_count, but {rhs_out} is not a multiple of {bgc}.")
    if bgc > 1 and fgc > 1:
        raise ValueError(f"At most one of batch_group_count and feature_group_count may be > 1, got "
                         f"batch_group_count={bgc} and feature_group_count={fgc}")
    _check_spatial_params(lhs.ndim - 2, window_strides, padding, lhs_dilation, rhs_dilation)
    lhs_trans = dilate_shape(np.take(lhs.shape, lhs_spec), (1, 1) + tuple(lhs_dilation))
    rhs_trans = dilate_shape(np.take(rhs.shape, rhs_spec), (1, 1) + tuple(rhs_dilation))
    out_trans = conv_shape_tuple(lhs_trans, rhs_trans, window_strides, padding, bgc)
    shape = tuple(int(d) for d in np.take(out_trans, np.argsort(out_spec)))
    out_dtype = lhs.dtype
    if preferred_element_type is not None:
        _check_preferred_element_type("conv_general_dilated", lhs.dtype, preferred_element_type)
        out_dtype = preferred_element_type
    return ShapedArray(shape, out_dtype, lhs.weak_type and rhs.weak_type)


# --- reshaping helpers (JAX's _reshape_axis_into / _reshape_axis_out_of) -----------------------------------------
def _reshape_axis_into(src: int, dst: int, x: Any) -> Any:
    """Merge axis ``src`` into axis ``dst`` (numbered after removing ``src``) as its major part."""
    shape = get_aval(x).shape
    perm = [i for i in range(len(shape)) if i != src]
    perm.insert(dst, src)
    new_shape = [shape[i] for i in range(len(shape)) if i != src]
    new_shape[dst] *= shape[src]
    return st.reshape(x, new_shape, perm)


def _reshape_axis_out_of(src: int, size1: int, x: Any) -> Any:
    """Split axis ``src`` into ``(size1, rest)``."""
    shape = list(get_aval(x).shape)
    shape[src:src + 1] = [size1, shape[src] // size1]
    return st.reshape(x, shape)


# --- transpose rules ---------------------------------------------------------------------------------------------
def _bind(lhs: Any, rhs: Any, params: dict, **overrides: Any) -> Any:
    return conv_general_dilated_p.bind(lhs, rhs, **{**params, **overrides})


def _spec_transpose(spec: Sequence[int]) -> tuple:
    return (spec[1], spec[0]) + tuple(spec[2:])


def _conv_transpose_lhs(g, lhs, rhs, params: dict) -> Any:
    """Cotangent of the lhs: a convolution of g with the spatially reversed kernel (features swapped)."""
    dn = params["dimension_numbers"]
    fgc, bgc = params["feature_group_count"], params["batch_group_count"]
    lhs_spec, rhs_spec, out_spec = dn
    lhs_shape, rhs_shape = lhs.aval.shape, get_aval(rhs).shape
    if fgc > 1 or bgc > 1:
        rhs = _reshape_axis_out_of(rhs_spec[0], max(fgc, bgc), rhs)
        rhs = _reshape_axis_into(rhs_spec[0], rhs_spec[1], rhs)
    padding = conv_general_vjp_lhs_padding(
        np.take(lhs_shape, lhs_spec[2:]), np.take(rhs_shape, rhs_spec[2:]), params["window_strides"],
        np.take(get_aval(g).shape, out_spec[2:]), params["padding"], params["lhs_dilation"], params["rhs_dilation"])
    revd = st.rev(rhs, rhs_spec[2:])
    if get_aval(revd).dtype != get_aval(g).dtype:
        revd = ew.convert_element_type(revd, get_aval(g).dtype)
    out = _bind(g, revd, params, window_strides=params["lhs_dilation"], padding=tuple(padding),
                lhs_dilation=params["window_strides"],
                dimension_numbers=ConvDimensionNumbers(out_spec, _spec_transpose(rhs_spec), lhs_spec),
                feature_group_count=max(fgc, bgc), batch_group_count=1)
    if get_aval(out).dtype != lhs.aval.dtype:
        out = ew.convert_element_type(out, lhs.aval.dtype)
    if bgc > 1:
        out = _reshape_axis_out_of(lhs_spec[1], bgc, out)
        out = _reshape_axis_into(lhs_spec[1], lhs_spec[0], out)
    return out


def _conv_transpose_rhs(g, lhs, rhs, params: dict) -> Any:
    """Cotangent of the rhs: a convolution of lhs with g, batch and feature roles exchanged."""
    if get_aval(g).size == 0:
        return Zero(rhs.aval)
    dn = params["dimension_numbers"]
    fgc, bgc = params["feature_group_count"], params["batch_group_count"]
    lhs_spec, rhs_spec, out_spec = dn
    padding = _conv_general_vjp_rhs_padding(
        np.take(get_aval(lhs).shape, lhs_spec[2:]), np.take(rhs.aval.shape, rhs_spec[2:]), params["window_strides"],
        np.take(get_aval(g).shape, out_spec[2:]), params["padding"], params["lhs_dilation"], params["rhs_dilation"])
    if get_aval(lhs).dtype != get_aval(g).dtype:
        lhs = ew.convert_element_type(lhs, get_aval(g).dtype)
    trans_dn = ConvDimensionNumbers(_spec_transpose(lhs_spec), _spec_transpose(out_spec), _spec_transpose(rhs_spec))
    out = _bind(lhs, g, params, window_strides=params["rhs_dilation"], padding=tuple(padding),
                rhs_dilation=params["window_strides"], dimension_numbers=trans_dn,
                feature_group_count=bgc, batch_group_count=fgc)
    if get_aval(out).dtype != rhs.aval.dtype:
        out = ew.convert_element_type(out, rhs.aval.dtype)
    return out


def _conv_transpose(ct, lhs, rhs, **params):
    ct_lhs = _conv_transpose_lhs(ct, lhs, rhs, params) if is_undefined(lhs) else None
    ct_rhs = _conv_transpose_rhs(ct, lhs, rhs, params) if is_undefined(rhs) else None
    return [ct_lhs, ct_rhs]


# --- batching: fold the vmapped axis into the batch or feature dimensions ----------------------------------------
def _conv_batch(axis, vals, dims, **params):
    (lhs, rhs), (ld, rd) = vals, dims
    if ld is None and rd is None:
        return _bind(lhs, rhs, params), None
    lhs_spec, rhs_spec, out_spec = params["dimension_numbers"]
    fgc, bgc = params["feature_group_count"], params["batch_group_count"]
    if axis.size == 0:
        unbatched = [ShapedArray(tuple(s for i, s in enumerate(get_aval(v).shape) if i != d), get_aval(v).dtype)
                     for v, d in ((lhs, ld), (rhs, rd))]
        out = _conv_abstract(*unbatched, **params)
        return st.full((0,) + out.shape, 0, out.dtype), 0
    if ld is not None and rd is not None:
        if bgc > 1:
            new_lhs = _reshape_axis_into(ld, lhs_spec[0], lhs)
            params = {**params, "batch_group_count": bgc * axis.size}
        else:
            new_lhs = _reshape_axis_into(ld, lhs_spec[1], lhs)
            params = {**params, "feature_group_count": fgc * axis.size}
        out = _bind(new_lhs, _reshape_axis_into(rd, rhs_spec[0], rhs), params)
        return _reshape_axis_out_of(out_spec[1], axis.size, out), out_spec[1]
    if ld is not None:
        if bgc == 1:
            out = _bind(_reshape_axis_into(ld, lhs_spec[0], lhs), rhs, params)
        else:
            new_lhs = _reshape_axis_out_of(lhs_spec[0] + int(ld <= lhs_spec[0]), bgc, lhs)
            new_lhs = _reshape_axis_into(ld + int(lhs_spec[0] < ld), lhs_spec[0] + 1, new_lhs)
            out = _bind(_reshape_axis_into(lhs_spec[0], lhs_spec[0], new_lhs), rhs, params)
        return _reshape_axis_out_of(out_spec[0], axis.size, out), out_spec[0]
    if fgc == 1 and bgc == 1:
        out = _bind(lhs, _reshape_axis_into(rd, rhs_spec[0], rhs), params)
        return _reshape_axis_out_of(out_spec[1], axis.size, out), out_spec[1]
    # groups must stay outermost in the rhs output features: factor them out, fold the batch in, put them back
    groups = max(fgc, bgc)
    new_rhs = _reshape_axis_out_of(rhs_spec[0] + int(rd <= rhs_spec[0]), groups, rhs)
    new_rhs = _reshape_axis_into(rd + int(rhs_spec[0] < rd), rhs_spec[0] + 1, new_rhs)
    out = _bind(lhs, _reshape_axis_into(rhs_spec[0], rhs_spec[0], new_rhs), params)
    out = _reshape_axis_out_of(out_spec[1], groups, out)
    out = _reshape_axis_out_of(out_spec[1] + 1, axis.size, out)
    return _reshape_axis_into(out_spec[1], out_spec[1] + 1, out), out_spec[1]


conv_general_dilated_p = Primitive("conv_general_dilated")
abstract_eval_rules[conv_general_dilated_p] = _conv_abstract
ad.defjvp(conv_general_dilated_p, lambda g, lhs, rhs, **p: conv_general_dilated_p.bind(g, rhs, **p),
          lambda g, lhs, rhs, **p: conv_general_dilated_p.bind(lhs, g, **p))
transpose_rules[conv_general_dilated_p] = _conv_transpose
batching_rules[conv_general_dilated_p] = _conv_batch


# --- lax wrappers ----------------------------------------------------------------------------------------------
def _int_tuple(name: str, val: Sequence[int]) -> tuple:
    try:
        return tuple(operator.index(v) for v in val)
    except TypeError as e:
        raise TypeError(f"conv_general_dilated {name} must be a sequence of integers, got {val!r}") from e


def _explicit_padding(padding: Any) -> tuple:
    try:
        return tuple((operator.index(lo), operator.index(hi)) for lo, hi in padding)
    except (ValueError, TypeError) as e:
        raise ValueError(f"padding argument to conv_general_dilated should be a string or a sequence of "
                         f"(low, high) pairs, got {padding}") from e


def conv_general_dilated(lhs: Any, rhs: Any, window_strides: Sequence[int], padding: str | Sequence[tuple[int, int]],
                         lhs_dilation: Sequence[int] | None = None, rhs_dilation: Sequence[int] | None = None,
                         dimension_numbers: Any = None, feature_group_count: int = 1, batch_group_count: int = 1,
                         precision: Any = None, preferred_element_type: Any = None) -> Any:
    """``lax.conv_general_dilated``: general n-d convolution (cross-correlation, as in XLA) with optional
    lhs dilation (transposed convolution), rhs dilation (atrous), groups and any layout."""
    lhs, rhs = ew.asarray(lhs), ew.asarray(rhs)
    lhs_shape, rhs_shape = get_aval(lhs).shape, get_aval(rhs).shape
    dnums = conv_dimension_numbers(lhs_shape, rhs_shape, dimension_numbers)
    nsp = len(lhs_shape) - 2
    lhs_dilation = (1,) * nsp if lhs_dilation is None else _int_tuple("lhs_dilation", lhs_dilation)
    rhs_dilation = (1,) * nsp if rhs_dilation is None else _int_tuple("rhs_dilation", rhs_dilation)
    window_strides = _int_tuple("window_strides", window_strides)
    if isinstance(padding, str):
        if any(d != 1 for d in lhs_dilation):
            raise ValueError("String padding is not implemented for transposed convolution using this op. Please "
                             "either exactly specify the required padding or use conv_transpose.")
        kernel = dilate_shape(np.take(rhs_shape, dnums.rhs_spec)[2:], rhs_dilation)
        padding = padtype_to_pads(np.take(lhs_shape, dnums.lhs_spec)[2:], kernel, window_strides, padding)
    pet = None if preferred_element_type is None else dtypes.canonicalize(preferred_element_type)
    return conv_general_dilated_p.bind(
        lhs, rhs, window_strides=window_strides, padding=_explicit_padding(padding), lhs_dilation=lhs_dilation,
        rhs_dilation=rhs_dilation, dimension_numbers=dnums, feature_group_count=operator.index(feature_group_count),
        batch_group_count=operator.index(batch_group_count),
        precision=tuple(precision) if isinstance(precision, list) else precision, preferred_element_type=pet)


def conv(lhs: Any, rhs: Any, window_strides: Sequence[int], padding: str, precision: Any = None,
         preferred_element_type: Any = None) -> Any:
    """``lax.conv``: NCHW/OIHW convolution with 'SAME' or 'VALID' padding."""
    return conv_general_dilated(lhs, rhs, window_strides, padding, precision=precision,
                                preferred_element_type=preferred_element_type)


def conv_with_general_padding(lhs: Any, rhs: Any, window_strides: Sequence[int],
                              padding: str | Sequence[tuple[int, int]], lhs_dilation: Sequence[int] | None,
                              rhs_dilation: Sequence[int] | None, precision: Any = None,
                              preferred_element_type: Any = None) -> Any:
    """``lax.conv_with_general_padding``: ``conv`` with explicit padding and dilations."""
    return conv_general_dilated(lhs, rhs, window_strides, padding, lhs_dilation=lhs_dilation,
                                rhs_dilation=rhs_dilation, precision=precision,
                                preferred_element_type=preferred_element_type)


def _conv_transpose_padding(k: int, s: int, padding: Any) -> tuple[int, int]:
    """(before, after) padding of one spatial dimension of a transposed convolution."""
    if padding == "SAME":
        pad_len = k + s - 2
        pad_a = k - 1 if s > k - 1 else int(np.ceil(pad_len / 2))
    elif padding == "VALID":
        pad_len = k + s - 2 + max(k - s, 0)
        pad_a = k - 1
    elif isinstance(padding, tuple):
        pads = tuple(k - p - 1 for p in padding)
        pad_a, pad_len = pads[0], sum(pads)
    else:
        raise ValueError(f"Invalid padding mode: {padding}")
    return pad_a, pad_len - pad_a


_TRANSPOSE_DEFAULT_SPECS = {2: ("NC", "IO", "NC"), 3: ("NHC", "HIO", "NHC"), 4: ("NHWC", "HWIO", "NHWC"),
                            5: ("NHWDC", "HWDIO", "NHWDC")}


def conv_transpose(lhs: Any, rhs: Any, strides: Sequence[int], padding: str | Sequence[tuple[int, int]],
                   rhs_dilation: Sequence[int] | None = None, dimension_numbers: Any = None,
                   transpose_kernel: bool = False, precision: Any = None, preferred_element_type: Any = None,
                   use_consistent_padding: bool = False) -> Any:
    """``lax.conv_transpose``: a fractionally strided convolution (Keras' Conv2DTranspose conventions when
    ``transpose_kernel``); layouts default to TensorFlow's (NHWC, HWIO)."""
    lhs, rhs = ew.asarray(lhs), ew.asarray(rhs)
    ndim = get_aval(lhs).ndim
    if ndim != get_aval(rhs).ndim or ndim < 2:
        raise TypeError(f"conv_transpose requires lhs and rhs of equal rank >= 2, got shapes {get_aval(lhs).shape} "
                        f"and {get_aval(rhs).shape}.")
    if dimension_numbers is None:
        if ndim not in _TRANSPOSE_DEFAULT_SPECS:
            raise ValueError("No 4+ dimensional dimension_number defaults.")
        dimension_numbers = _TRANSPOSE_DEFAULT_SPECS[ndim]
    dn = conv_dimension_numbers(get_aval(lhs).shape, get_aval(rhs).shape, dimension_numbers)
    k_sdims = np.take(get_aval(rhs).shape, dn.rhs_spec)[2:]
    rhs_dilation = (1,) * (ndim - 2) if rhs_dilation is None else _int_tuple("rhs_dilation", rhs_dilation)
    if use_consistent_padding or (isinstance(padding, str) and padding in ("SAME", "VALID")):
        per_dim = [padding] * len(strides) if isinstance(padding, str) else [tuple(p) for p in padding]
        pads = tuple(_conv_transpose_padding(dilate_dim(int(k), r), int(s), p)
                     for k, r, s, p in zip(k_sdims, rhs_dilation, strides, per_dim))
    else:
        pads = padding
    if transpose_kernel:
        rhs = st.rev(rhs, dn.rhs_spec[2:])
        perm = list(range(ndim))
        perm[dn.rhs_spec[0]], perm[dn.rhs_spec[1]] = dn.rhs_spec[1], dn.rhs_spec[0]
        rhs = st.transpose(rhs, perm)
    return conv_general_dilated(lhs, rhs, (1,) * (ndim - 2), pads, strides, rhs_dilation, dn, precision=precision,
                                preferred_element_type=preferred_element_type)


CONVOLUTION = (conv_general_dilated_p,)
