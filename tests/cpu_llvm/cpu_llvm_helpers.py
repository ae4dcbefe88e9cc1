"""Helpers of the cpu_llvm tests: run a function on cpu_llvm and on the reference backend and compare; check
that the executable is generated kernels plus documented runtime calls, and runs no numpy computation."""
from __future__ import annotations

import contextlib
import os
import re
import sys

import numpy as np

import portax
from portax import jit
from portax.backends.cpu_llvm.codegen import KernelInfo
from portax.core.backend import get_backend

NUMPY_DIR = os.path.dirname(np.__file__)
ALLOCATION = {"empty", "asarray"}  # numpy functions the executor may call: output allocation only


@contextlib.contextmanager
def x64_enabled(on: bool = True):
    prev = portax.config.enable_x64
    portax.config.update("enable_x64", on)
    try:
        yield
    finally:
        portax.config.update("enable_x64", prev)


def numpy_calls(fn, *args) -> list[str]:
    """Names of numpy functions (Python-level or C, ufuncs included) that run during ``fn(*args)``, apart
    from output allocation."""
    seen: list[str] = []

    def hook(frame, event, arg):
        if event == "call" and frame.f_code.co_filename.startswith(NUMPY_DIR):
            seen.append(frame.f_code.co_name)
        elif event == "c_call":
            mod = getattr(arg, "__module__", None) or ""
            if isinstance(arg, np.ufunc) or (mod.startswith("numpy") and arg.__name__ not in ALLOCATION):
                seen.append(getattr(arg, "__name__", repr(arg)))

    sys.setprofile(hook)
    try:
        fn(*args)
    finally:
        sys.setprofile(None)
    return seen


def compiled(fn, *args, static_argnums=()):
    """The cpu_llvm ``Compiled`` object of ``jit(fn)`` for these arguments."""
    return jit(fn, backend="cpu_llvm", static_argnums=static_argnums).lower(*args).compile()


def check_executable(fn, *args) -> None:
    """The executable is generated kernels plus documented runtime calls, and (without runtime calls) its
    execution runs no numpy function."""
    c = compiled(fn, *args)
    exe = c.executable
    assert all(isinstance(k, KernelInfo) and k.kind in ("loop", "reduce", "opaque") for k in exe.kernels)
    documented = get_backend("cpu_llvm").capabilities.runtime_calls
    for rc in exe.runtime_calls:
        assert any(re.search(rf"\b{rc.primitive}\b", d) for d in documented), rc
    if not exe.runtime_calls:
        backend = get_backend("cpu_llvm")
        dev = backend.devices()[0]
        consts = [a._buf for a in c.entry.const_arrays[c.call.device]]
        bufs = consts + [backend.put(np.asarray(a), dev) for a in args]
        calls = numpy_calls(exe, *bufs)
        assert calls == [], f"numpy ran during the executable: {calls}"


def assert_matches(fn, *args, rtol: float | None = None, check_exe: bool = True) -> None:
    """``jit(fn)`` on cpu_llvm equals (floats: within ``rtol``) ``jit(fn)`` on the reference backend."""
    want = portax.tree_util.tree_leaves(jit(fn, backend="reference")(*args))
    got = portax.tree_util.tree_leaves(jit(fn, backend="cpu_llvm")(*args))
    assert len(got) == len(want)
    for g, w in zip(got, want):
        g, w = np.asarray(g), np.asarray(w)
        assert g.shape == w.shape and g.dtype == w.dtype, (g.shape, g.dtype, w.shape, w.dtype)
        if g.dtype.kind == "f":
            tol = rtol if rtol is not None else {2: 2e-3, 4: 2e-6, 8: 1e-13}[g.dtype.itemsize]
            np.testing.assert_allclose(g, w, rtol=tol, atol=tol, equal_nan=True)
        else:
            np.testing.assert_array_equal(g, w)
    if check_exe:
        check_executable(fn, *args)
