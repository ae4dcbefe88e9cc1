"""dot_general: batched tensor contraction, bilinear, with XLA's dimension numbers."""
from __future__ import annotations

import enum
import functools
from typing import Any, Sequence

import numpy as np

from .. import dtypes
from ..config import config
from ..interpreters import batching, jvp as ad
from ..interpreters.transpose import is_undefined
from ..ir import ShapedArray
from ..trace import Primitive, abstract_eval_rules, batching_rules, get_aval, transpose_rules
from ..dot_algorithms import DotAlgorithmPreset, compute_types, is_algorithm
from . import elementwise as ew
from . import structural as st


def _free(ndim: int, *used: Sequence[int]) -> list[int]:
    taken = {d for u in used for d in u}
    return [i for i in range(ndim) if i not in taken]


def _dot_abstract(lhs: ShapedArray, rhs: ShapedArray, *, dimension_numbers, precision, preferred_element_type):
    (lc, rc), (lb, rb) = dimension_numbers
    if lhs.dtype != rhs.dtype:
        raise TypeError(f"dot_general requires operands of the same dtype, got {lhs.dtype.name} and {rhs.dtype.name}. "
                        "(Tip: jnp.dot/jnp.matmul promote types.)")
    if dtypes.kind(lhs.dtype) not in "fiubc":
        raise TypeError(f"dot_general does not accept dtype {lhs.dtype.name}")
    for side, x, batch, contracting in (("lhs", lhs, lb, lc), ("rhs", rhs, rb, rc)):
        if not all(0 <= d < x.ndim for d in (*batch, *contracting)):
            raise TypeError(f"dot_general requires {side} dimension numbers to be nonnegative and less than the number "
                            f"of axes of the {side} value, got {side}_batch of {batch} and {side}_contracting of "
                            f"{contracting} for {side} of rank {x.ndim}")
        for name, dims in (("batch", batch), ("contracting", contracting)):
            if len(set(dims)) != len(dims):
                raise TypeError(f"dot_general requires {side} {name} dimensions to be distinct, got {side}_{name} "
                                f"{dims}.")
        if set(batch) & set(contracting):
            raise TypeError(f"dot_general requires {side} batch dimensions to be disjoint from contracting dimensions, "
                            f"got {side}_batch {batch} and {side}_contracting {contracting}.")
    if len(lb) != len(rb):
        raise TypeError(f"dot_general requires equal numbers of lhs_batch and rhs_batch dimensions, got lhs_batch {lb} "
                        f"and rhs_batch {rb}.")
    if len(lc) != len(rc):  # (JAX's rule reports it as a shape mismatch)
        raise TypeError(f"dot_general requires contracting dimensions to have the same shape, got "
                        f"{tuple(lhs.shape[i] for i in lc)} and {tuple(rhs.shape[i] for i in rc)}.")
    for what, (a, b) in (("batch", (tuple(lhs.shape[i] for i in lb), tuple(rhs.shape[i] for i in rb))),
                         ("contracting", (tuple(lhs.shape[i] for i in lc), tuple(rhs.shape[i] for i in rc)))):
        if a != b:
            sides = "lhs batch dimensions and rhs batch dimensions" if what == "batch" else "contracting dimensions"
            raise TypeError(f"dot_general requires {sides} to have the same shape, got {a} and {b}.")
    shape = tuple(lhs.shape[i] for i in lb) + tuple(lhs.shape[i] for i in _free(lhs.ndim, lc, lb)) + \
        tuple(rhs.shape[i] for i in _free(rhs.ndim, rc, rb))
    out_dtype = lhs.dtype if preferred_element_type is None else preferred_element_type
    return ShapedArray(shape, out_dtype, lhs.weak_type and rhs.weak_type)


class Precision(enum.Enum):
    """``lax.Precision``: a dot's requested precision, kept in the jaxpr (portax computes every dot in the operands'
    own precision)."""
    DEFAULT = 0
    HIGH = 1
    HIGHEST = 2

    @classmethod
    def _missing_(cls, value: object) -> Precision | None:
        return _PRECISION_STRINGS.get(value)

    def __repr__(self) -> str:
        return f"{self.__class__.__name__}.{self.name}"

    def __str__(self) -> str:
        return self.name


_PRECISION_STRINGS = {"highest": Precision.HIGHEST, "float32": Precision.HIGHEST, "high": Precision.HIGH,
                      "bfloat16_3x": Precision.HIGH, "tensorfloat32": Precision.HIGH, "default": Precision.DEFAULT,
                      "bfloat16": Precision.DEFAULT, "fastest": Precision.DEFAULT,
                      **{p.name: p for p in Precision}}


def canonicalize_precision(precision: Any) -> Any:
    """``None``, a pair ``(lhs, rhs)`` of :class:`Precision` (from one value, a string or a pair) or a dot algorithm
    (a :class:`DotAlgorithm`, a :class:`DotAlgorithmPreset` or its name), as JAX's. ``None`` takes
    ``jax_default_matmul_precision`` where it names a precision ("bfloat16", "tensorfloat32", "float32", ...; portax
    computes every one in the operands' full precision)."""
    if precision is None:
        default = config.default_matmul_precision
        return (Precision(default), Precision(default)) if default in _PRECISION_STRINGS else None
    if isinstance(precision, Precision):
        return precision, precision
    if isinstance(precision, str) and precision in _PRECISION_STRINGS:
        return Precision(precision), Precision(precision)
    if isinstance(precision, str) and precision in DotAlgorithmPreset.__members__:
        return DotAlgorithmPreset[precision]
    if is_algorithm(precision):
        return precision
    if isinstance(precision, (list, tuple)) and len(precision) == 2:
        if all(isinstance(p, Precision) for p in precision):
            return tuple(precision)
        if all(isinstance(p, str) and p in _PRECISION_STRINGS for p in precision):
            return Precision(precision[0]), Precision(precision[1])
    raise ValueError("Precision argument must be one of:\n- None,\n- a string in "
                     f"{sorted(k for k in _PRECISION_STRINGS if k.islower())},\n- a lax.Precision value,\n"
                     "- a tuple of two lax.Precision values or strings,\n- a lax.DotAlgorithmPreset or the name of one "
                     f"of these presets, or\n- a lax.DotAlgorithm value; got {precision}.")


def _transpose_lhs(g, x_aval, y, dimension_numbers, swap_ans: bool = False, precision: Any = None):
    """Cotangent of the lhs: contract g with y over y's free dims, then permute into x's layout (and, as in JAX,
    typed as x when x's type carries Explicit mesh axes)."""
    if not is_undefined(y):
        from ..explicit_sharding import as_typed_like
        target = as_typed_like(x_aval, g, y)
        if target is not None:
            from ..explicit_sharding import computed_as
            return computed_as(lambda g, y: _contract_into(g, x_aval, y, dimension_numbers, swap_ans, precision),
                               target, g, y)
    return _contract_into(g, x_aval, y, dimension_numbers, swap_ans, precision)


def _contract_into(g, x_aval, y, dimension_numbers, swap_ans: bool, precision: Any):
    (xc, yc), (xb, yb) = dimension_numbers
    y_ndim = get_aval(y).ndim if not is_undefined(y) else y.aval.ndim
    x_kept = _free(x_aval.ndim, xc, xb)
    y_kept = _free(y_ndim, yc, yb)
    nb = len(xb)
    if swap_ans:
        ans_y = list(range(nb, nb + len(y_kept)))
    else:
        ans_y = list(range(nb + len(x_kept), nb + len(x_kept) + len(y_kept)))
    ans_batch = list(range(nb))
    dims = ((tuple(ans_y), tuple(y_kept)), (tuple(ans_batch), tuple(yb)))
    xc_by_y = [xc[i] for i in np.argsort(yc)] if len(yc) else []
    out_axes = np.argsort(list(xb) + x_kept + xc_by_y)
    res = dot_general_p.bind(g, y, dimension_numbers=dims, precision=precision, preferred_element_type=None)
    res = ew.convert_element_type(res, x_aval.dtype) if get_aval(res).dtype != x_aval.dtype else res
    return st.transpose(res, tuple(int(a) for a in out_axes))


def _dot_transpose(ct, lhs, rhs, *, dimension_numbers, precision, preferred_element_type):
    (lc, rc), (lb, rb) = dimension_numbers
    ct_l = _transpose_lhs(ct, lhs.aval, rhs, dimension_numbers, precision=precision) if is_undefined(lhs) else None
    ct_r = None
    if is_undefined(rhs):
        swapped = ((rc, lc), (rb, lb))
        ct_r = _transpose_lhs(ct, rhs.aval, lhs, swapped, swap_ans=True, precision=precision)
    return [ct_l, ct_r]


def _dot_batch(axis, vals, dims, *, dimension_numbers, **params):
    (lhs, rhs), (dl, dr) = vals, dims
    (lc, rc), (lb, rb) = dimension_numbers
    up = lambda ds: tuple(d + 1 for d in ds)
    if dl is not None and dr is not None:
        lhs, rhs = batching.moveaxis(lhs, dl, 0), batching.moveaxis(rhs, dr, 0)
        dn = ((up(lc), up(rc)), ((0,) + up(lb), (0,) + up(rb)))
        return dot_general_p.bind(lhs, rhs, dimension_numbers=dn, **params), 0
    # One side batched: its batch axis stays where it is, as one more free dimension (no transpose).
    shift = lambda ds, d: tuple(i + (i >= d) for i in ds)
    free_before = lambda d, c, b: sum(1 for i in range(d) if i not in c and i not in b)
    if dl is not None:
        lc, lb = shift(lc, dl), shift(lb, dl)
        out = dot_general_p.bind(lhs, rhs, dimension_numbers=((lc, rc), (lb, rb)), **params)
        return out, len(lb) + free_before(dl, lc, lb)
    n_lhs_free = get_aval(lhs).ndim - len(lc) - len(lb)
    rc, rb = shift(rc, dr), shift(rb, dr)
    out = dot_general_p.bind(lhs, rhs, dimension_numbers=((lc, rc), (lb, rb)), **params)
    return out, len(lb) + n_lhs_free + free_before(dr, rc, rb)


dot_general_p = Primitive("dot_general")
abstract_eval_rules[dot_general_p] = _dot_abstract
ad.defjvp(dot_general_p, lambda g, x, y, **p: dot_general_p.bind(g, y, **p),
          lambda g, x, y, **p: dot_general_p.bind(x, g, **p))
transpose_rules[dot_general_p] = _dot_transpose
batching_rules[dot_general_p] = _dot_batch


@functools.lru_cache(None)
def _dot_type_properties(dt: np.dtype) -> tuple:
    """XLA's order of precision (primitive_util's HigherPrecisionType), as JAX's dot_general dtype rule."""
    real = np.dtype(dtypes.finfo(dt).dtype) if dtypes.kind(dt) == "c" else dt
    floating = dtypes.kind(real) == "f"
    bits = 1 if real == np.bool_ else (dtypes.finfo(real).bits if floating else dtypes.iinfo(real).bits)
    return (dtypes.kind(dt) == "c", dtypes.finfo(real).maxexp if floating else -1,
            dtypes.finfo(real).nmant if floating else -1, bits, dtypes.kind(real) != "u")


def _dot_result_dtype(lhs: np.dtype, rhs: np.dtype, pet: np.dtype | None) -> np.dtype:
    """The dtype a dot of mixed operand dtypes computes in: the more precise one (JAX's rule)."""
    lp, rp = _dot_type_properties(lhs), _dot_type_properties(rhs)
    if lp == rp and lhs != rhs:
        raise TypeError(f"lax.dot_general argument type error: {lhs}, {rhs}")
    return lhs if lp >= rp else rhs


def _upcast(result: np.dtype, pet: np.dtype) -> np.dtype:
    """``preferred_element_type``, unless it is narrower than a non-float result (XLA's MaybeUpcast)."""
    if dtypes.kind(result) != "f" and _dot_type_properties(pet)[3] < _dot_type_properties(result)[3]:
        raise TypeError(f"`preferred_element_type` must not be narrower than the original type, got "
                        f"preferred_element_type of {pet} for result type of {result}.")
    return pet


def dot_general(lhs: Any, rhs: Any, dimension_numbers, precision: Any = None, preferred_element_type: Any = None, *,
                out_sharding: Any = None) -> Any:
    """``lax.dot_general``: ``dimension_numbers = ((lhs_contract, rhs_contract), (lhs_batch, rhs_batch))``; the
    result laid out and typed by ``out_sharding`` when given (JAX's: a PartitionSpec of the ``set_mesh`` mesh's
    Explicit axes, or a NamedSharding)."""
    if out_sharding is not None:
        from ..explicit_sharding import computed_as
        return computed_as(lambda u, v: dot_general(u, v, dimension_numbers, precision, preferred_element_type),
                           out_sharding, lhs, rhs, api_name="dot_general")
    (lc, rc), (lb, rb) = dimension_numbers
    dn = ((tuple(map(int, lc)), tuple(map(int, rc))), (tuple(map(int, lb)), tuple(map(int, rb))))
    pet = None if preferred_element_type is None else dtypes.canonicalize(preferred_element_type)
    lhs, rhs = ew.asarray(lhs), ew.asarray(rhs)
    common = _dot_result_dtype(get_aval(lhs).dtype, get_aval(rhs).dtype, pet)
    if pet is not None and pet != common:
        pet = _upcast(common, pet)
    target = common if pet is None else pet
    precision = canonicalize_precision(precision)
    if is_algorithm(precision):
        return _dot_with_algorithm(lhs, rhs, dn, precision, target)
    lhs, rhs = (_convert(x, target) for x in (lhs, rhs))
    return dot_general_p.bind(lhs, rhs, dimension_numbers=dn, precision=precision, preferred_element_type=None)


def _convert(x: Any, dtype: np.dtype) -> Any:
    return x if get_aval(x).dtype == dtype else ew.convert_element_type(x, dtype)


def _dot_with_algorithm(lhs: Any, rhs: Any, dn: tuple, algorithm: Any, out_dtype: np.dtype) -> Any:
    """The operands rounded to the algorithm's input types, accumulated in its accumulation type, the result in
    ``out_dtype``."""
    lt, rt, acc = compute_types(algorithm, get_aval(lhs).dtype, get_aval(rhs).dtype)
    compute = acc if acc is not None else _dot_result_dtype(lt, rt, None)
    lhs, rhs = _convert(_convert(lhs, lt), compute), _convert(_convert(rhs, rt), compute)
    out = dot_general_p.bind(lhs, rhs, dimension_numbers=dn, precision=algorithm, preferred_element_type=None)
    return _convert(out, out_dtype)


def dot(lhs: Any, rhs: Any, *, dimension_numbers: Any = None, precision: Any = None,
        preferred_element_type: Any = None, out_sharding: Any = None) -> Any:
    """``lax.dot``: ``dot_general`` with ``dimension_numbers``, by default the vector/matrix product contracting
    lhs's last and rhs's first dimension."""
    if dimension_numbers is None:
        ls, rs = get_aval(lhs).shape, get_aval(rhs).shape
        if len(ls) not in (1, 2) or len(rs) not in (1, 2) or ls[-1] != rs[0]:
            raise ValueError("jax.lax.dot: dimension_numbers must be specified when not performing simple "
                             "un-batched matrix-matrix, matrix-vector, or vector-vector products; "
                             f"got lhs_shape={ls} rhs_shape={rs}")
        dimension_numbers = (((len(ls) - 1,), (0,)), ((), ()))
    return dot_general(lhs, rhs, dimension_numbers, precision, preferred_element_type, out_sharding=out_sharding)


CONTRACTIONS = (dot_general_p,)
