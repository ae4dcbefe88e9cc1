"""Products: dot, matmul (@), vdot, inner, outer, tensordot, einsum, kron, trace."""
from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from .. import dtypes
from ..primitives import contractions as ct, elementwise as ew, structural as st
from ..trace import get_aval
from ._util import asarray_any, broadcast_shapes, broadcast_to, canonicalize_axis, promote_dtypes


def _dg(a, b, contract, batch=((), ())):
    return ct.dot_general(a, b, (contract, batch))


def dot(a: Any, b: Any, *, precision: Any = None, preferred_element_type: Any = None) -> Any:
    a, b = promote_dtypes(a, b)
    na, nb = get_aval(a).ndim, get_aval(b).ndim
    if na == 0 or nb == 0:
        return ew.mul(*_bcast(a, b))
    if nb == 1:
        return _dg(a, b, ((na - 1,), (0,)))
    return _dg(a, b, ((na - 1,), (nb - 2,)))


def _bcast(a, b):
    shp = broadcast_shapes(get_aval(a).shape, get_aval(b).shape)
    return broadcast_to(a, shp), broadcast_to(b, shp)


def matmul(a: Any, b: Any, *, precision: Any = None, preferred_element_type: Any = None) -> Any:
    """``a @ b`` with numpy's broadcasting of batch dimensions."""
    a, b = promote_dtypes(a, b)
    sa, sb = get_aval(a).shape, get_aval(b).shape
    if not sa or not sb:
        raise ValueError(f"matmul: Input operand does not have enough dimensions (shapes {sa} and {sb})")
    a1, b1 = len(sa) == 1, len(sb) == 1
    if a1:
        a = st.reshape(a, (1,) + sa)
    if b1:
        b = st.reshape(b, sb + (1,))
    sa, sb = get_aval(a).shape, get_aval(b).shape
    if sa[-1] != sb[-2]:
        raise ValueError(f"matmul: Input operand 1 has a mismatch in its core dimension 0 (size {sb[-2]} is different "
                         f"from {sa[-1]}); shapes {sa} and {sb}")
    batch = broadcast_shapes(sa[:-2], sb[:-2])
    a = broadcast_to(a, batch + sa[-2:])
    b = broadcast_to(b, batch + sb[-2:])
    nb = len(batch)
    out = _dg(a, b, ((nb + 1,), (nb,)), (tuple(range(nb)), tuple(range(nb))))
    if a1:
        out = st.squeeze(out, (nb,))
    if b1:
        out = st.squeeze(out, (get_aval(out).ndim - 1,))
    return out


def vdot(a: Any, b: Any, *, precision: Any = None) -> Any:
    """The dot product of the flattened arrays, conjugating ``a`` if it is complex."""
    a = _ravel(a)
    return dot(ew.conj(a) if dtypes.kind(get_aval(a).dtype) == "c" else a, _ravel(b))


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


def inner(a: Any, b: Any, *, precision: Any = None) -> Any:
    a, b = promote_dtypes(a, b)
    na, nb = get_aval(a).ndim, get_aval(b).ndim
    if na == 0 or nb == 0:
        return ew.mul(*_bcast(a, b))
    return _dg(a, b, ((na - 1,), (nb - 1,)))


def outer(a: Any, b: Any, out: None = None) -> Any:
    a, b = promote_dtypes(_ravel(a), _ravel(b))
    return ew.mul(*_bcast(st.expand_dims(a, (1,)), st.expand_dims(b, (0,))))


def tensordot(a: Any, b: Any, axes: int | Sequence = 2, *, precision: Any = None) -> Any:
    a, b = promote_dtypes(a, b)
    na, nb = get_aval(a).ndim, get_aval(b).ndim
    if isinstance(axes, int):
        ca, cb = tuple(range(na - axes, na)), tuple(range(axes))
    else:
        xa, xb = axes
        ca = (xa,) if isinstance(xa, int) else tuple(xa)
        cb = (xb,) if isinstance(xb, int) else tuple(xb)
        ca = tuple(canonicalize_axis(i, na) for i in ca)
        cb = tuple(canonicalize_axis(i, nb) for i in cb)
    return _dg(a, b, (ca, cb))


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


def einsum(subscripts: Any, *operands: Any, optimize: Any = "optimal", precision: Any = None,
           preferred_element_type: Any = None) -> Any:
    """``jnp.einsum``: pairwise contractions in the order numpy's ``einsum_path`` finds optimal; also the
    interleaved form ``einsum(op, sublist, op, sublist, ..., [sublist_out])``."""
    if not isinstance(subscripts, str):
        subscripts, operands = _interleaved((subscripts, *operands))
    ops = promote_dtypes(*operands)
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
                (tuple(sx.index(c) for c in batch), tuple(sy.index(c) for c in batch)))
        spec = "".join(batch) + "".join(c for c in sx if c not in sy) + "".join(c for c in sy if c not in sx)
        ops.append(r)
        specs.append(spec)
    (x,), (sx,) = ops, specs
    x, sx = _einsum_unary(x, sx, "".join(dict.fromkeys(c for c in sx if c in out_spec)))
    return st.transpose(x, tuple(sx.index(c) for c in out_spec)) if sx != out_spec else x


def _einsum_unary(x, spec: str, keep: str):
    """Take diagonals over repeated letters and sum letters not in ``keep``; returns (x, spec)."""
    from .misc import diagonal
    from .reductions import sum
    if keep == spec and len(set(spec)) == len(spec):
        return x, spec
    while len(set(spec)) != len(spec):
        c = next(c for c in spec if spec.count(c) > 1)
        i = spec.index(c)
        j = spec.index(c, i + 1)
        x = diagonal(x, 0, i, j)
        spec = "".join(s for k, s in enumerate(spec) if k not in (i, j)) + c
    drop = tuple(i for i, c in enumerate(spec) if c not in keep)
    if drop:
        x = sum(x, drop)
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
    """Batched vector-matrix product ``x1[..., None, :] @ x2``."""
    x1, x2 = promote_dtypes(x1, x2)
    return matmul(st.expand_dims(x1, (get_aval(x1).ndim - 1,)), x2)[..., 0, :]


def einsum_path(subscripts: Any, *operands: Any, optimize: Any = "greedy") -> tuple:
    """The contraction order einsum would use (numpy's ``einsum_path`` on the operand shapes)."""
    if not isinstance(subscripts, str):
        subscripts, operands = _interleaved((subscripts, *operands))
    shapes = [np.empty(get_aval(asarray_any(o)).shape, dtype=np.bool_) for o in operands]
    return np.einsum_path(subscripts, *shapes, optimize=optimize)
