"""``lax.DotAlgorithm`` and ``lax.DotAlgorithmPreset``: a dot's ``precision`` given as the types its operands
are rounded to and it accumulates in. portax emulates one as JAX does before handing it to XLA: the operands
are converted to the algorithm's input types, the dot accumulates in its accumulation type and the result
is converted to the output dtype (multi-pass presets such as ``BF16_BF16_F32_X6`` compute in float32)."""
from __future__ import annotations

import enum
from typing import Any, NamedTuple

import numpy as np

from . import dtypes


class DotAlgorithm(NamedTuple):
    """The types a dot rounds its operands to and accumulates in (and JAX's multi-pass counts)."""

    lhs_precision_type: Any
    rhs_precision_type: Any
    accumulation_type: Any
    lhs_component_count: int = 1
    rhs_component_count: int = 1
    num_primitive_operations: int = 1
    allow_imprecise_accumulation: bool = False


class DotAlgorithmPreset(enum.Enum):
    """The known dot algorithms, named ``LHS_RHS_ACCUMULATION`` (``_X3``...: that many passes)."""

    DEFAULT = enum.auto()
    ANY_F8_ANY_F8_F32 = enum.auto()
    ANY_F8_ANY_F8_F32_FAST_ACCUM = enum.auto()
    ANY_F8_ANY_F8_ANY = enum.auto()
    ANY_F8_ANY_F8_ANY_FAST_ACCUM = enum.auto()
    F16_F16_F16 = enum.auto()
    F16_F16_F32 = enum.auto()
    BF16_BF16_BF16 = enum.auto()
    BF16_BF16_F32 = enum.auto()
    BF16_BF16_F32_X3 = enum.auto()
    BF16_BF16_F32_X6 = enum.auto()
    BF16_BF16_F32_X9 = enum.auto()
    TF32_TF32_F32 = enum.auto()
    TF32_TF32_F32_X3 = enum.auto()
    F32_F32_F32 = enum.auto()
    F64_F64_F64 = enum.auto()

    def __repr__(self) -> str:
        return f"{self.__class__.__name__}.{self.name}"

    def __str__(self) -> str:
        return self.name

    @property
    def supported_lhs_types(self) -> tuple | None:
        """The operand types the preset computes in (None: any), the first being what others convert to."""
        if self.name == "DEFAULT" or self.name.startswith("ANY_F8"):
            return None
        if self.name.startswith("F16_"):
            return (np.dtype(np.float16),)
        if self in (DotAlgorithmPreset.BF16_BF16_BF16, DotAlgorithmPreset.BF16_BF16_F32):
            return (np.dtype(dtypes.bfloat16), np.dtype(np.float32))
        if self is DotAlgorithmPreset.F64_F64_F64:
            return (np.dtype(np.float64),)
        return (np.dtype(np.float32),)

    @property
    def supported_rhs_types(self) -> tuple | None:
        return self.supported_lhs_types

    @property
    def accumulation_type(self) -> np.dtype | None:
        if self.name in ("DEFAULT", "ANY_F8_ANY_F8_ANY", "ANY_F8_ANY_F8_ANY_FAST_ACCUM"):
            return None
        return np.dtype({"F16_F16_F16": np.float16, "BF16_BF16_BF16": dtypes.bfloat16,
                         "F64_F64_F64": np.float64}.get(self.name, np.float32))


def is_algorithm(precision: Any) -> bool:
    return isinstance(precision, (DotAlgorithm, DotAlgorithmPreset))


def compute_types(algorithm: DotAlgorithm | DotAlgorithmPreset, lhs: np.dtype, rhs: np.dtype) -> tuple:
    """``(lhs type, rhs type, accumulation type or None)`` a dot with ``algorithm`` computes in."""
    if isinstance(algorithm, DotAlgorithm):
        return (dtypes.canonicalize(algorithm.lhs_precision_type), dtypes.canonicalize(algorithm.rhs_precision_type),
                dtypes.canonicalize(algorithm.accumulation_type))
    if algorithm.name.startswith("ANY_F8") and not (_is_float8(lhs) and _is_float8(rhs)):
        raise ValueError(f"The dot algorithm '{algorithm}' requires both inputs to have float8 dtypes. Got {lhs} and "
                         f"{rhs} instead.")
    convert = lambda dt, allowed: dt if allowed is None or dt in allowed else allowed[0]
    return convert(lhs, algorithm.supported_lhs_types), convert(rhs, algorithm.supported_rhs_types), \
        algorithm.accumulation_type


def _is_float8(dt: np.dtype) -> bool:
    return dtypes.kind(dt) == "f" and dt.itemsize == 1
