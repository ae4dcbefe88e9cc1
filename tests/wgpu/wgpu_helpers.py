"""Helpers of the wgpu backend's tests: the backend (or a skip), x64 toggling, and comparing a function
jitted on wgpu with the same function jitted on the numpy reference backend."""
import contextlib
import functools
import re

import numpy as np
import pytest

import portax
from portax import jit
from portax.core.backend import registry


@functools.lru_cache(maxsize=None)
def _wgpu_status() -> str:
    try:
        registry.get("wgpu")
        return ""
    except Exception as e:  # no adapter, no driver: the whole directory skips
        return f"wgpu backend unavailable: {e}"


def wgpu_backend():
    """The wgpu backend, or skip the calling test."""
    reason = _wgpu_status()
    if reason:
        pytest.skip(reason)
    return registry.get("wgpu")


def caps():
    """The runtime capabilities of the wgpu backend's first device."""
    b = wgpu_backend()
    return b.runtime_device(b.devices()[0]).capabilities


def needs_dtype(dtype) -> None:
    if np.dtype(dtype) not in wgpu_backend().capabilities.dtypes:
        pytest.skip(f"{np.dtype(dtype).name} unsupported on this adapter")


@contextlib.contextmanager
def x64_enabled(on: bool = True):
    prev = portax.config.enable_x64
    portax.config.update("enable_x64", on)
    try:
        yield
    finally:
        portax.config.update("enable_x64", prev)


def assert_same(got, want, tol: float = 1e-5) -> None:
    """Same shape and dtype; floats within ``tol`` relative/absolute (NaNs match), others exact."""
    g, w = np.asarray(got), np.asarray(want)
    assert g.shape == w.shape, f"shape {g.shape} != {w.shape}"
    assert g.dtype == w.dtype, f"dtype {g.dtype} != {w.dtype}"
    if g.dtype.kind == "f":
        np.testing.assert_allclose(g.astype(np.float64), w.astype(np.float64), rtol=tol, atol=tol, equal_nan=True)
    else:
        np.testing.assert_array_equal(g, w)


def check(f, *args, tol: float = 1e-5, static_argnums=()):
    """Run ``f`` jitted on wgpu and on the reference backend; compare every output leaf."""
    wgpu_backend()
    got = jit(f, backend="wgpu", static_argnums=static_argnums)(*args)
    want = jit(f, backend="reference", static_argnums=static_argnums)(*args)
    g_leaves, w_leaves = portax.tree_util.tree_leaves(got), portax.tree_util.tree_leaves(want)
    assert len(g_leaves) == len(w_leaves)
    for g, w in zip(g_leaves, w_leaves):
        assert_same(g, w, tol)
    return got


def compiled(f, *args):
    """The wgpu Compiled object of ``f`` for ``args`` (to inspect ``kernels``)."""
    wgpu_backend()
    return jit(f, backend="wgpu").lower(*args).compile()


def force_variant(request, monkeypatch, op: str) -> str:
    """Force the kernel variant ``request.param`` of ``op`` (``PORTAX_WGPU_<OP>``), with compile caches emptied
    before and after so no program compiled with another variant is reused; returns the variant."""
    monkeypatch.setenv(f"PORTAX_WGPU_{op.upper()}", request.param)
    portax.clear_caches()
    request.addfinalizer(portax.clear_caches)
    return request.param


def variants_used(f, *args, kernels: str = "") -> set[str]:
    """The variants (the ``[name]`` ending a kernel's context) of ``f``'s wgpu kernels whose context starts
    with ``kernels``."""
    found = (re.search(r"\[(\w+)\]$", k.context) for k in compiled(f, *args).kernels if k.context.startswith(kernels))
    return {m.group(1) for m in found if m}
