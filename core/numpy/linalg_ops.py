"""Products: dot, matmul (@), vdot, inner, outer, tensordot, einsum, kron, trace."""
from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from .. import dtypes
from ..explicit_sharding import computed_as
from ..primitives import contractions as ct, elementwise as ew, structural as st
from ..trace import get_aval
from ._util import asarray_any, broadcast_shapes, broadcast_to, canonicalize_axis, promote_dtypes


def _dg(a, b, contract, batch=((), ()), precision: Any = None, preferred_element_type: Any = None):
    out = ct.dot_general(a, b, (contract, batch), precision=precision, preferred_element_type=preferred_element_type)
    return _to(out, preferred_element_type)


def _to(x: Any, preferred_element_type: Any) -> Any:
    """``x`` in ``preferred_element_type`` (when given): the result dtype of JAX's products."""
    if preferred_element_type is None:
        return x
    dt = dtypes.canonicalize(preferred_element_type)
    return x if get_aval(x).dtype == dt and not get_aval(x).weak_type else ew.convert_element_type(x, dt)


def dot(a: Any, b: Any, *, precision: Any = None, preferred_element_type: Any = None, out_sharding: Any = None) -> Any:
    if out_sharding is not None:
        return computed_as(lambda u, v: dot(u, v, precision=precision, preferred_element_type=preferred_element_type),
                           out_sharding, a, b, api_name="dot_general")
    a, b = promote_dtypes(a, b)
    na, nb = get_aval(a).ndim, get_aval(b).ndim
    if na == 0 or nb == 0:
        return ew.mul(*_bcast(_to(a, preferred_element_type), _to(b, preferred_element_type)))
    contract = ((na - 1,), (0,)) if nb == 1 else ((na - 1,), (nb - 2,))
    return _dg(a, b, contract, precision=precision, preferred_element_type=preferred_element_type)


def _bcast(a, b):
    shp = broadcast_shapes(get_aval(a).shape, get_aval(b).shape)
    return broadcast_to(a, shp), broadcast_to(b, shp)


def matmul(a: Any, b: Any, *, precision: Any = None, preferred_element_type: Any = None,
           out_sharding: Any = None) -> Any:
    """``a @ b`` with numpy's broadcasting of batch dimensions, as one dot_general (JAX's algorithm: size-1 batch
    dimensions are squeezed rather than broadcast, so no operand is materialised at the broadcast shape)."""
    if out_sharding is not None:
        return computed_as(lambda u, v: matmul(u, v, precision=precision,
                                               preferred_element_type=preferred_element_type), out_sharding, a, b,
                           api_name="dot_general")
    a, b = promote_dtypes(a, b)
    for i, x in enumerate((a, b)):
        if get_aval(x).ndim < 1:
            raise ValueError(f"matmul input operand {i} must have ndim at least 1, but it has ndim {get_aval(x).ndim}")
    sa, sb = get_aval(a).shape, get_aval(b).shape
    a_is_mat, b_is_mat = len(sa) > 1, len(sb) > 1
    a_bdims, b_bdims = (sa[:-2] if a_is_mat else ()), (sb[:-2] if b_is_mat else ())
    nbatch = max(len(a_bdims), len(b_bdims))
    a_bdims = (None,) * (nbatch - len(a_bdims)) + a_bdims
    b_bdims = (None,) * (nbatch - len(b_bdims)) + b_bdims
    a_squeeze, b_squeeze, both_squeeze, a_batch, b_batch = [], [], [], [], []
    idx_batch, idx_a_other, idx_b_other = [], [], []  # output positions, in dot_general's order
    for i, (ba, bb) in enumerate(zip(a_bdims, b_bdims)):
        if ba is None:
            idx_b_other.append(i)
        elif bb is None:
            idx_a_other.append(i)
        elif ba == 1 and bb == 1:
            a_squeeze.append(len(idx_batch) + len(idx_a_other) + len(a_squeeze))
            b_squeeze.append(len(idx_batch) + len(idx_b_other) + len(b_squeeze))
            both_squeeze.append(i)
        elif ba == 1:
            idx_b_other.append(i)
            a_squeeze.append(len(idx_batch) + len(idx_a_other) + len(a_squeeze))
        elif bb == 1:
            idx_a_other.append(i)
            b_squeeze.append(len(idx_batch) + len(idx_b_other) + len(b_squeeze))
        elif ba == bb:
            a_batch.append(len(idx_batch) + len(idx_a_other))
            b_batch.append(len(idx_batch) + len(idx_b_other))
            idx_batch.append(i)
        else:
            raise ValueError(f"Incompatible types for matmul arguments: {get_aval(a).str_short()} and "
                             f"{get_aval(b).str_short()}")
    if a_is_mat:
        idx_a_other.append(nbatch)
    if b_is_mat:
        idx_b_other.append(nbatch + a_is_mat)
    perm = tuple(int(i) for i in np.argsort(np.array(idx_batch + idx_a_other + idx_b_other, dtype=np.int64)))
    a, b = st.squeeze(a, tuple(a_squeeze)), st.squeeze(b, tuple(b_squeeze))
    na, nb = get_aval(a).ndim, get_aval(b).ndim
    out = _dg(a, b, ((na - 1,), (nb - 1 - b_is_mat,)), (tuple(a_batch), tuple(b_batch)), precision,
              preferred_element_type)
    if perm != tuple(range(len(perm))):
        out = st.transpose(out, perm)
    return st.expand_dims(out, tuple(both_squeeze)) if both_squeeze else out


def vdot(a: Any, b: Any, *, precision: Any = None, preferred_element_type: Any = None) -> Any:
    """The dot product of the flattened arrays, conjugating ``a`` if it is complex."""
    a = _ravel(a)
    return dot(ew.conj(a) if dtypes.kind(get_aval(a).dtype) == "c" else a, _ravel(b), precision=precision,
               preferred_element_type=preferred_element_type)


def _ravel(x):
    x = asarray_any(x)
    return st.reshape(x, (get_aval(x).size,))


def vecdot(x1: Any, x2: Any, /, *, axis: int = -1, precision: Any = None, preferred_element_type=None) -> Any:
    """Dot products ``sum(conj(x1) * x2)`` along ``axis`` (the other dimensions broadcast), in the operands' dtype."""
    from .reductions import sum
    from .shape import moveaxis
    x1, x2 = promote_dtypes(x1, x2)
    a1, a2 = get_aval(x1), get_aval(x2)
    if not a1.ndim or not a2.ndim:
        raise ValueError(f"vecdot requires arguments with at least one dimension, got shapes {a1.shape} and {a2.shape}")
    if a1.shape[axis] != a2.shape[axis]:
        raise ValueError(f"axes must match; got shapes {a1.shape} and {a2.shape} with axis={axis}")
    if dtypes.kind(a1.dtype) == "c":
        x1 = ew.conj(x1)
    prod = ew.mul(*_bcast(moveaxis(x1, axis, -1), moveaxis(x2, axis, -1)))
    return sum(prod, -1, dtype=preferred_element_type or a1.dtype)


def inner(a: Any, b: Any, *, precision: Any = None, preferred_element_type: Any = None) -> Any:
    a, b = promote_dtypes(a, b)
    na, nb = get_aval(a).ndim, get_aval(b).ndim
    if na == 0 or nb == 0:
        return ew.mul(*_bcast(_to(a, preferred_element_type), _to(b, preferred_element_type)))
    return _dg(a, b, ((na - 1,), (nb - 1,)), precision=precision, preferred_element_type=preferred_element_type)


def outer(a: Any, b: Any, out: None = None) -> Any:
    a, b = promote_dtypes(_ravel(a), _ravel(b))
    return ew.mul(*_bcast(st.expand_dims(a, (1,)), st.expand_dims(b, (0,))))


def tensordot(a: Any, b: Any, axes: int | Sequence = 2, *, precision: Any = None,
              preferred_element_type: Any = None, out_sharding: Any = None) -> Any:
    if out_sharding is not None:
        return computed_as(lambda u, v: tensordot(u, v, axes, precision=precision,
                                                  preferred_element_type=preferred_element_type), out_sharding, a, b,
                           api_name="dot_general")
    a, b = promote_dtypes(a, b)
    na, nb = get_aval(a).ndim, get_aval(b).ndim
    if type(axes) is int:
        if axes > min(na, nb):
            raise TypeError(f"Number of tensordot axes (axes {axes}) exceeds input ranks ({get_aval(a).shape} and "
                            f"{get_aval(b).shape})")
        ca, cb = tuple(range(na - axes, na)), tuple(range(axes))
    elif isinstance(axes, (tuple, list)) and len(axes) == 2:
        xa, xb = axes
        if isinstance(xa, int) and isinstance(xb, int):
            ca, cb = (canonicalize_axis(xa, na),), (canonicalize_axis(xb, nb),)
        elif isinstance(xa, (tuple, list)) and isinstance(xb, (tuple, list)):
            if len(xa) != len(xb):
                raise TypeError(f"tensordot requires axes lists to have equal length, got {xa} and {xb}.")
            ca, cb = tuple(canonicalize_axis(i, na) for i in xa), tuple(canonicalize_axis(i, nb) for i in xb)
        else:
            raise TypeError(f"tensordot requires both axes lists to be either ints, tuples or lists, got {xa} and "
                            f"{xb}")
    else:
        raise TypeError("tensordot axes argument must be an int, a pair of ints, or a pair of lists/tuples of ints.")
    return _dg(a, b, (ca, cb), precision=precision, preferred_element_type=preferred_element_type)


def kron(a: Any, b: Any) -> Any:
    a, b = promote_dtypes(a, b)
    sa, sb = get_aval(a).shape, get_aval(b).shape
    nd = max(len(sa), len(sb))
    a = st.reshape(a, (1,) * (nd - len(sa)) + sa)
    b = st.reshape(b, (1,) * (nd - len(sb)) + sb)
    sa, sb = get_aval(a).shape, get_aval(b).shape
    ea = st.reshape(a, tuple(x for d in sa for x in (d, 1)))
    eb = st.reshape(b, tuple(x for d in sb for x in (1, d)))
    prod = ew.mul(*_bcast(ea, eb))
    return st.reshape(prod, tuple(x * y for x, y in zip(sa, sb)))


def trace(a: Any, offset: int = 0, axis1: int = 0, axis2: int = 1, dtype=None, out: None = None) -> Any:
    from .misc import diagonal
    from .reductions import sum
    if out is not None:
        raise NotImplementedError("The 'out' argument to jnp.trace is not supported.")
    nd = get_aval(asarray_any(a)).ndim
    if canonicalize_axis(axis1, nd) == canonicalize_axis(axis2, nd):
        raise ValueError(f"axis1 and axis2 can not be same. axis1={axis1} and axis2={axis2}")
    return sum(diagonal(a, offset, axis1, axis2), -1, dtype=dtype)


def _interleaved(args: tuple) -> tuple:
    """``(op, sublist, op, sublist, ..., [out])`` as ``(subscripts, operands)``: the sublists' symbols (any
    sortable hashables, ``...`` for an ellipsis) become letters in sorted order, as opt_einsum does."""
    ops, subs, out = list(args[0:-1:2] if len(args) % 2 else args[0::2]), list(args[1::2]), None
    if len(args) % 2:
        out = args[-1]
    try:
        symbols = sorted(set(c for sub in subs for c in sub if c is not Ellipsis))
    except TypeError:
        raise TypeError("For this input type lists must contain either Ellipsis or hashable and comparable "
                        "object (e.g. int, str).") from None
    letters = {c: "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"[k] for k, c in enumerate(symbols)}

    def spec(sub) -> str:
        return "".join("..." if c is Ellipsis else letters[c] for c in sub)
    subscripts = ",".join(spec(sub) for sub in subs)
    return (subscripts + "->" + spec(out) if out is not None else subscripts), ops


def einsum(subscripts: Any, /, *operands: Any, out: None = None, optimize: Any = "optimal", precision: Any = None,
           preferred_element_type: Any = None, out_sharding: Any = None) -> Any:
    """``jnp.einsum``: pairwise contractions in the order numpy's ``einsum_path`` finds optimal; also the
    interleaved form ``einsum(op, sublist, op, sublist, ..., [sublist_out])``."""
    if out is not None:
        raise NotImplementedError("The 'out' argument to jnp.einsum is not supported.")
    if not isinstance(subscripts, str):
        subscripts, operands = _interleaved((subscripts, *operands))
    if out_sharding is not None:
        return computed_as(lambda *ops: einsum(subscripts, *ops, optimize=optimize, precision=precision,
                                               preferred_element_type=preferred_element_type), out_sharding, *operands,
                           api_name="einsum")
    ops = promote_dtypes(*operands)
    if preferred_element_type is not None:  # sums and products accumulate in the preferred type, as JAX
        ops = [o if dtypes.result_type(o, preferred_element_type) == get_aval(o).dtype else
               _to(o, preferred_element_type) for o in ops]
    shapes = [np.empty(get_aval(o).shape, dtype=np.bool_) for o in ops]
    if "->" not in subscripts:
        lhs = subscripts.replace(" ", "")
        letters = [c for c in lhs.replace(",", "").replace(".", "") if c.isalpha()]
        out = "".join(sorted(c for c in set(letters) if letters.count(c) == 1))
        if "..." in lhs:
            out = "..." + out
        subscripts = lhs + "->" + out
    if "..." in subscripts:
        subscripts = _expand_ellipsis(subscripts, [get_aval(o).ndim for o in ops])
    # an explicit pairwise path is used as given; otherwise the optimal order (greedy for many operands)
    strategy = optimize if isinstance(optimize, (list, tuple)) else ("optimal" if len(ops) <= 6 else "greedy")
    path, _ = np.einsum_path(subscripts, *shapes, optimize=strategy)
    lhs, out_spec = subscripts.split("->")
    specs = lhs.split(",")
    ops = list(ops)
    for contraction in path[1:]:
        idx = sorted(contraction, reverse=True)
        taken = [(ops.pop(i), specs.pop(i)) for i in idx]
        remaining = "".join(specs) + out_spec
        if len(taken) == 1:
            (x, sx), = taken
            x, sx = _einsum_unary(x, sx, "".join(c for c in dict.fromkeys(sx) if c in remaining))
            ops.append(x)
            specs.append(sx)
            continue
        (x, sx), (y, sy) = taken[1], taken[0]
        x, sx = _einsum_unary(x, sx, "".join(dict.fromkeys(c for c in sx if c in remaining or c in sy)))
        y, sy = _einsum_unary(y, sy, "".join(dict.fromkeys(c for c in sy if c in remaining or c in sx)))
        batch = [c for c in sx if c in sy and c in remaining]
        contract = [c for c in sx if c in sy and c not in remaining]
        r = _dg(x, y, (tuple(sx.index(c) for c in contract), tuple(sy.index(c) for c in contract)),
                (tuple(sx.index(c) for c in batch), tuple(sy.index(c) for c in batch)), precision,
                preferred_element_type)
        spec = "".join(batch) + "".join(c for c in sx if c not in sy) + "".join(c for c in sy if c not in sx)
        ops.append(r)
        specs.append(spec)
    (x,), (sx,) = ops, specs
    x, sx = _einsum_unary(x, sx, "".join(dict.fromkeys(c for c in sx if c in out_spec)))
    x = _to(x, preferred_element_type)
    return st.transpose(x, tuple(sx.index(c) for c in out_spec)) if sx != out_spec else x


def _einsum_unary(x, spec: str, keep: str):
    """Take diagonals over repeated letters and sum letters not in ``keep``; returns (x, spec)."""
    from .misc import diagonal
    from .reductions import any, sum
    if keep == spec and len(set(spec)) == len(spec):
        return x, spec
    while len(set(spec)) != len(spec):
        c = next(c for c in spec if spec.count(c) > 1)
        i = spec.index(c)
        j = spec.index(c, i + 1)
        x = diagonal(x, 0, i, j)
        spec = "".join(s for k, s in enumerate(spec) if k not in (i, j)) + c
    drop = tuple(i for i, c in enumerate(spec) if c not in keep)
    if drop:  # in the operands' dtype (booleans: or), as JAX's einsum
        x = any(x, drop) if get_aval(x).dtype == dtypes.bool_ else sum(x, drop, dtype=get_aval(x).dtype)
        spec = "".join(c for i, c in enumerate(spec) if i not in drop)
    return x, spec


def _expand_ellipsis(subscripts: str, ndims: list[int]) -> str:
    lhs, out = subscripts.split("->")
    specs = lhs.split(",")
    used = set(c for c in subscripts if c.isalpha())
    free = iter(c for c in "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ" if c not in used)
    n_ell = max((nd - len(s.replace("...", "")) for s, nd in zip(specs, ndims) if "..." in s), default=0)
    ell = "".join(next(free) for _ in range(n_ell))
    new_specs = []
    for s, nd in zip(specs, ndims):
        if "..." in s:
            k = nd - len(s.replace("...", ""))
            s = s.replace("...", ell[n_ell - k:])
        new_specs.append(s)
    return ",".join(new_specs) + "->" + out.replace("...", ell)


def matvec(x1: Any, x2: Any, /) -> Any:
    """Batched matrix-vector product ``x1 @ x2[..., None]`` (array API)."""
    x1, x2 = promote_dtypes(x1, x2)
    return matmul(x1, st.expand_dims(x2, (get_aval(x2).ndim,)))[..., 0]


def vecmat(x1: Any, x2: Any, /) -> Any:
    """Batched vector-matrix product ``conj(x1)[..., None, :] @ x2`` (the vector conjugated, as numpy and JAX)."""
    x1, x2 = promote_dtypes(x1, x2)
    if dtypes.kind(get_aval(x1).dtype) == "c":
        x1 = ew.conj(x1)
    return matmul(st.expand_dims(x1, (get_aval(x1).ndim - 1,)), x2)[..., 0, :]


def einsum_path(subscripts: Any, *operands: Any, optimize: Any = "greedy") -> tuple:
    """The contraction order einsum would use (numpy's ``einsum_path`` on the operand shapes)."""
    if not isinstance(subscripts, str):
        subscripts, operands = _interleaved((subscripts, *operands))
    shapes = [np.empty(get_aval(asarray_any(o)).shape, dtype=np.bool_) for o in operands]
    return np.einsum_path(subscripts, *shapes, optimize=optimize)
