"""Multi-device checks: pmap and every collective at 1, 2 and 4 devices. A case needing more devices
than the backend offers is reported as ``needs-devices`` (the run is partial), one beyond ``--devices`` as
skipped; a missing pmap or collective (NotImplementedError) is reported as unsupported."""
from __future__ import annotations

from typing import Callable, Iterator

import numpy as np

import portax
from portax import lax
from portax.core.backend import device_count_env, registry

from .report import FAIL, NEEDS_DEVICES, PASS, SKIP, UNSUPPORTED, Cell
from .tolerances import Tolerance, compare

DEVICE_COUNTS = (1, 2, 4)
AXIS = "i"
TOLERANCE = Tolerance(2, 2)


def collective(name: str) -> Callable:
    fn = getattr(lax, name, None)
    if fn is None:
        raise NotImplementedError(f"portax.lax.{name} is not implemented yet")
    return fn


# name -> (per-device function for n devices, per-device operand shape for n, expected from the stacked operands)
CASES: dict[str, tuple[Callable, Callable, Callable]] = {
    "pmap": (lambda n: lambda x: x * 2.0 + 1.0, lambda n: (3,), lambda xs: xs * 2 + 1),
    "psum": (lambda n: lambda x: collective("psum")(x, AXIS), lambda n: (3,),
             lambda xs: np.broadcast_to(xs.sum(0), xs.shape)),
    "pmean": (lambda n: lambda x: collective("pmean")(x, AXIS), lambda n: (3,),
              lambda xs: np.broadcast_to(xs.mean(0), xs.shape)),
    "pmax": (lambda n: lambda x: collective("pmax")(x, AXIS), lambda n: (3,),
             lambda xs: np.broadcast_to(xs.max(0), xs.shape)),
    "pmin": (lambda n: lambda x: collective("pmin")(x, AXIS), lambda n: (3,),
             lambda xs: np.broadcast_to(xs.min(0), xs.shape)),
    "all_gather": (lambda n: lambda x: collective("all_gather")(x, AXIS), lambda n: (3,),
                   lambda xs: np.broadcast_to(xs, (xs.shape[0],) + xs.shape)),
    "ppermute": (lambda n: lambda x: collective("ppermute")(x, AXIS, perm=[(i, (i + 1) % n) for i in range(n)]),
                 lambda n: (3,), lambda xs: np.roll(xs, 1, 0)),
    "all_to_all": (lambda n: lambda x: collective("all_to_all")(x, AXIS, 0, 0), lambda n: (n, 3),
                   lambda xs: np.swapaxes(xs, 0, 1)),
    "psum_scatter": (lambda n: lambda x: collective("psum_scatter")(x, AXIS, scatter_dimension=0), lambda n: (n, 3),
                     lambda xs: xs.sum(0)),
    "axis_index": (lambda n: lambda x: collective("axis_index")(AXIS), lambda n: (3,),
                   lambda xs: np.arange(xs.shape[0], dtype=np.int32)),
}


def run(backend_name: str, max_devices: int | None = None) -> Iterator[Cell]:
    devices = registry.get(backend_name).devices()
    usable = len(devices) if max_devices is None else min(max_devices, len(devices))
    rng = np.random.RandomState(0)
    for name, (make_fn, shape_of, expected) in CASES.items():
        for n in DEVICE_COUNTS:
            transform = f"{n} device{'s' if n > 1 else ''}"
            if n > len(devices):
                yield Cell("pmap", name, "f32", transform, NEEDS_DEVICES,
                           f"needs {n} devices; backend '{backend_name}' offers {len(devices)} (set "
                           f"{device_count_env(backend_name)}={n} or pass --devices {n})")
                continue
            if n > usable:
                yield Cell("pmap", name, "f32", transform, SKIP, f"needs {n} devices; --devices {max_devices}")
                continue
            xs = rng.uniform(-1, 1, size=(n,) + shape_of(n)).astype(np.float32)
            yield _run_case(name, transform, make_fn(n), xs, expected(xs), devices[:n])


def _run_case(name: str, transform: str, fn: Callable, xs: np.ndarray, want: np.ndarray, devices: list) -> Cell:
    try:
        got = np.asarray(portax.pmap(fn, axis_name=AXIS, devices=devices)(xs))
    except NotImplementedError as e:
        return Cell("pmap", name, "f32", transform, UNSUPPORTED, str(e), 1)
    except Exception as e:
        return Cell("pmap", name, "f32", transform, FAIL, f"{name} on {transform}: raised {type(e).__name__}: {e}", 1)
    mismatch = compare(got, np.asarray(want), TOLERANCE)
    if mismatch is not None:
        return Cell("pmap", name, "f32", transform, FAIL, f"{name} on {transform}: {mismatch}", 1)
    return Cell("pmap", name, "f32", transform, PASS, "", 1)
