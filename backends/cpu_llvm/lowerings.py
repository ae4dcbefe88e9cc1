"""Every opaque-kernel lowering of the backend, collected from the per-group modules."""
from __future__ import annotations

from . import lower_structural  # noqa: F401  (each module registers into program.OPAQUE)
from .program import OPAQUE

__all__ = ["OPAQUE"]
