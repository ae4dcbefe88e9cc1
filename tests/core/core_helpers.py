"""Helpers shared by the core suite: x64 toggling and array comparison."""
import contextlib

import numpy as np

import portax


@contextlib.contextmanager
def x64_enabled(on: bool = True):
    """Run a block with ``enable_x64`` set to ``on``; the previous value comes back afterwards."""
    prev = portax.config.enable_x64
    portax.config.update("enable_x64", on)
    try:
        yield
    finally:
        portax.config.update("enable_x64", prev)


def assert_close(actual, expected, tol: float = 1e-5) -> None:
    """Same shape and dtype; floats within ``tol`` (NaNs match), everything else exactly equal."""
    a, e = np.asarray(actual), np.asarray(expected)
    assert a.shape == e.shape, f"shape {a.shape} != {e.shape}"
    assert a.dtype == e.dtype, f"dtype {a.dtype} != {e.dtype}"
    if a.dtype.kind == "f":
        np.testing.assert_allclose(a, e, rtol=tol, atol=tol, equal_nan=True)
    else:
        np.testing.assert_array_equal(a, e)


def leaves(out) -> list:
    """The outputs of a primitive as a list (one for single-result primitives)."""
    return list(out) if isinstance(out, (list, tuple)) else [out]
