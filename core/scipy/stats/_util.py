"""Argument handling shared by the distributions: promotion to a common float dtype and broadcasting."""
from __future__ import annotations

from typing import Any

from ...numpy._util import promote_args_inexact


def floats(*args: Any) -> list:
    """The arguments as float arrays of one dtype and one broadcast shape."""
    return promote_args_inexact("scipy.stats", *args)
