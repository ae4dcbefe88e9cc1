"""Where an equation came from: the user's ``file:line (function)`` that traced it and the ``named_scope``s
around it (JAX's ``source_info_util``). Captured once per staged equation; a code object's "is it portax's
own?" answer is cached, so finding the user frame is a short walk up the stack."""
from __future__ import annotations

import contextlib
import os
import sys
import threading
from typing import Any, Callable, Iterator, NamedTuple

from .sharding import current_mesh, use_mesh

_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# portax's own packages (portax.core, portax, portax.backends: siblings in a source tree, nested once installed)
# and Python's wrappers that user calls pass through
_INTERNAL_DIRS = (_ROOT + os.sep,) if os.path.isfile(os.path.join(_ROOT, "__init__.py")) else \
    tuple(os.path.join(_ROOT, d) + os.sep for d in ("core", "portax", "backends"))
_WRAPPERS = (os.sep + "contextlib.py", os.sep + "functools.py")
_internal: dict = {}  # file name -> whether it is portax's own code (or Python's contextlib/functools)


class SourceInfo(NamedTuple):
    """``file``, ``line`` and ``function`` of the user frame, the ``/``-joined named scopes ('' if none), and the
    mesh set by ``set_mesh`` (None if none; with the axis types ``auto_axes`` and ``explicit_axes`` give it: the
    mesh of JAX's ``eqn.ctx``)."""

    file: str | None
    line: int
    function: str
    name_stack: str
    mesh: Any = None

    def location(self) -> str:
        """``file:line (function)`` as JAX prints a source location."""
        return f"{self.file}:{self.line} ({self.function})" if self.file else ""


class _Scopes(threading.local):
    def __init__(self) -> None:
        self.stack: tuple[str, ...] = ()
        self.joined = ""
        self.override: SourceInfo | None = None  # set while a staged equation is re-traced (user_context)


_scopes = _Scopes()


def _is_internal(filename: str) -> bool:
    hit = _internal.get(filename)
    if hit is None:
        hit = _internal[filename] = filename.startswith(_INTERNAL_DIRS) or filename.endswith(_WRAPPERS)
    return hit


def current() -> SourceInfo:
    """The innermost user frame and the current named scopes (or the equation being re-traced's)."""
    if _scopes.override is not None:
        return _scopes.override
    mesh = current_mesh()
    mesh = None if mesh.empty else mesh
    frame = sys._getframe(1)
    while frame is not None and _is_internal(frame.f_code.co_filename):
        frame = frame.f_back
    if frame is None:
        return SourceInfo(None, 0, "", _scopes.joined, mesh)
    return SourceInfo(frame.f_code.co_filename, frame.f_lineno, frame.f_code.co_name, _scopes.joined, mesh)


def name_stack() -> str:
    """The current named scopes joined by ``/``."""
    return _scopes.joined


def transformed(info: SourceInfo | None, transform: str) -> SourceInfo | None:
    """``info`` for an equation a transformation derives from it: its scopes wrapped as ``transpose(mlp/dense)``."""
    if info is None:
        return None
    return info._replace(name_stack=f"{transform}({info.name_stack})" if info.name_stack else transform)


@contextlib.contextmanager
def user_context(info: SourceInfo | None) -> Iterator[None]:
    """Equations traced inside take ``info`` (a staged equation's, while a pass re-traces it): decompositions
    and transformations of jaxprs keep pointing at the user's line and scopes, and run under its mesh."""
    s = _scopes
    prev, s.override = s.override, info
    try:
        with use_mesh(info.mesh) if info is not None and info.mesh is not None else contextlib.nullcontext():
            yield
    finally:
        s.override = prev


@contextlib.contextmanager
def named_scope(name: str) -> Iterator[None]:
    """``jax.named_scope``: equations traced inside carry ``name`` (scopes nest: ``outer/inner``), which the
    profiler shows in the names of the kernels they end up in."""
    if not isinstance(name, str):
        raise TypeError("named_scope name argument must be a string.")
    s = _scopes
    prev = s.stack, s.joined
    s.stack = prev[0] + (name,)
    s.joined = "/".join(s.stack)
    try:
        yield
    finally:
        s.stack, s.joined = prev


def named_call(fun: Callable, *, name: str | None = None) -> Callable:
    """``jax.named_call``: ``fun`` traced inside ``named_scope(name)`` (its ``__name__`` by default)."""
    return named_scope(fun.__name__ if name is None else name)(fun)
