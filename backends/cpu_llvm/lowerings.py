"""Every opaque-kernel (and contraction-kernel) lowering of the backend, collected from the per-group modules."""
from __future__ import annotations

from . import (lower_callbacks, lower_contraction, lower_control, lower_cumulative, lower_dot,  # noqa: F401
               lower_indexing, lower_sort, lower_structural, lower_linalg, lower_windowed)
from .program import OPAQUE

__all__ = ["OPAQUE"]
