"""sort: sorts several operands along one dimension by the first ``num_keys`` of them (lexicographic)."""
from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from .. import dtypes
from ..ad_util import Zero
from ..interpreters import batching
from ..ir import ShapedArray
from ..trace import Primitive, abstract_eval_rules, batching_rules, get_aval, jvp_rules
from . import elementwise as ew
from . import structural as st


def _sort_abstract(*operands: ShapedArray, dimension, is_stable, num_keys):
    if not operands:
        raise TypeError("sort requires at least one operand")
    s0 = operands[0].shape
    if any(o.shape != s0 for o in operands):
        raise TypeError(f"sort operands must all have the same shape, got {[o.shape for o in operands]}")
    if not 0 <= dimension < max(len(s0), 1) or not s0:
        raise ValueError(f"sort dimension {dimension} is out of bounds for operand shape {s0}")
    if not 1 <= num_keys <= len(operands):
        raise ValueError(f"sort num_keys={num_keys} must be between 1 and the number of operands {len(operands)}")
    return list(operands)


def _sort_jvp(primals, tangents, *, dimension, is_stable, num_keys):
    """Sort an iota alongside to learn the permutation, then apply it to the tangents."""
    shape = get_aval(primals[0]).shape
    if 0 in shape:  # nothing to permute
        return sort_p.bind(*primals, dimension=dimension, is_stable=is_stable, num_keys=num_keys), list(tangents)
    iota = st.broadcasted_iota(dtypes.int32, shape, dimension)
    *outs, perm = sort_p.bind(*primals, iota, dimension=dimension, is_stable=is_stable, num_keys=num_keys)
    t_outs = [t if type(t) is Zero else take_along_axis(t, perm, dimension) for t in tangents]
    return outs, t_outs


def take_along_axis(x: Any, idx: Any, axis: int) -> Any:
    """``out[..., i, ...] = x[..., idx[..., i, ...], ...]`` along ``axis`` for same-shape ``idx`` (a gather)."""
    from .indexing import GatherDimensionNumbers, gather_p
    shape = get_aval(x).shape
    nd = len(shape)
    others = [d for d in range(nd) if d != axis]
    idx = st.reshape(idx, shape + (1,))
    dn = GatherDimensionNumbers(offset_dims=(), collapsed_slice_dims=(axis,), start_index_map=(axis,),
                                operand_batching_dims=tuple(others), start_indices_batching_dims=tuple(others))
    return gather_p.bind(x, idx, dimension_numbers=dn, slice_sizes=(1,) * nd, mode="clip", fill_value=None)


def _sort_batch(axis, vals, dims, *, dimension, **params):
    first = next(d for d in dims if d is not None)
    vals = [batching.matchaxis(axis.size, d, first, v) for v, d in zip(vals, dims)]
    return sort_p.bind(*vals, dimension=dimension + (dimension >= first), **params), [first] * len(vals)


sort_p = Primitive("sort", multiple_results=True)
abstract_eval_rules[sort_p] = _sort_abstract
jvp_rules[sort_p] = _sort_jvp
batching_rules[sort_p] = _sort_batch


def _canonical_key(k: Any) -> Any:
    """JAX's sort key: -0.0 ties with +0.0 and every NaN is one NaN (``sort_p`` orders by sign and NaN sign)."""
    kind = dtypes.kind(get_aval(k).dtype)
    if kind == "c":
        return ew.complex(_canonical_key(ew.real(k)), _canonical_key(ew.imag(k)))
    if kind != "f":
        return k
    k = ew.select(ew.eq(k, ew._const(k, 0)), st.full_like(k, 0), k)
    return ew.select(ew.ne(k, k), st.full_like(k, np.nan), k)


def sort(operand: Any | Sequence[Any], dimension: int = -1, is_stable: bool = True, num_keys: int = 1) -> Any:
    """``lax.sort``: one array, or a sequence sorted together by the first ``num_keys``. NaNs sort last;
    -0.0 and +0.0 are equal keys (a stable sort keeps their order), as in JAX."""
    single = not isinstance(operand, (list, tuple))
    ops = [ew.asarray(operand)] if single else [ew.asarray(o) for o in operand]
    nd = get_aval(ops[0]).ndim
    num_keys = int(num_keys)
    if not 1 <= num_keys <= len(ops):
        raise ValueError(f"sort num_keys={num_keys} must be between 1 and the number of operands {len(ops)}")
    inexact = [i for i in range(min(num_keys, len(ops))) if dtypes.kind(get_aval(ops[i]).dtype) in "fc"]
    keys = [_canonical_key(o) if i in inexact else o for i, o in enumerate(ops)]
    out = sort_p.bind(*keys, *[ops[i] for i in inexact], dimension=st.canonicalize_axis(dimension, nd),
                      is_stable=bool(is_stable), num_keys=num_keys)
    out, originals = list(out[:len(ops)]), out[len(ops):]
    for i, original in zip(inexact, originals):  # the sorted operand keeps its own zeros and NaNs
        out[i] = original
    return out[0] if single else tuple(out)


def sort_key_val(keys: Any, values: Any, dimension: int = -1, is_stable: bool = True) -> tuple:
    return sort((keys, values), dimension, is_stable, 1)


SORTING = (sort_p,)
