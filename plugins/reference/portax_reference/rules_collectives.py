"""Collectives of the reference backend (``ReferenceBackend.collective``): the per-device numpy buffers
of one group of devices in, one result buffer per device out (each device gets its own copy)."""
from __future__ import annotations

from typing import Callable

import numpy as np

from portax.core import dtypes


def _psum(xs: list) -> list:
    """The sum (bfloat16 and float8 summed in float32 and rounded once, as the other backends)."""
    dt = xs[0].dtype
    wide = dtypes.float32 if dtypes.is_custom_float(dt) else dt
    total = xs[0].astype(wide)
    for x in xs[1:]:
        total = total + x.astype(wide)
    return [np.array(total.astype(dt), copy=True) for _ in xs]


def _extreme(op: Callable) -> Callable:
    return lambda xs: [np.array(op.reduce(np.stack(xs)), copy=True) for _ in xs]


def _all_gather(xs: list, *, all_gather_dimension: int, tiled: bool) -> list:
    join = np.concatenate if tiled else np.stack
    return [join(xs, axis=all_gather_dimension) for _ in xs]


def _reduce_scatter(xs: list, *, scatter_dimension: int, tiled: bool) -> list:
    total = _psum(xs)[0]
    if tiled:
        return [np.array(b, copy=True) for b in np.split(total, len(xs), axis=scatter_dimension)]
    return [np.take(total, i, axis=scatter_dimension) for i in range(len(xs))]


def _ppermute(xs: list, *, perm: tuple) -> list:
    out = [np.zeros_like(x) for x in xs]
    for src, dst in perm:
        out[dst] = np.array(xs[src], copy=True)
    return out


def _all_to_all(xs: list, *, split_axis: int, concat_axis: int) -> list:
    blocks = [np.split(x, len(xs), axis=split_axis) for x in xs]
    return [np.concatenate([b[i] for b in blocks], axis=concat_axis) for i in range(len(xs))]


COLLECTIVES: dict[str, Callable] = {
    "psum": _psum, "pmax": _extreme(np.maximum), "pmin": _extreme(np.minimum), "all_gather": _all_gather,
    "reduce_scatter": _reduce_scatter, "ppermute": _ppermute, "all_to_all": _all_to_all,
}


def collective(name: str, buffers: list, devices: list, **params) -> list:
    """Combine the buffers of one group of devices (ordered by axis index) with collective ``name``."""
    fn = COLLECTIVES.get(name)
    if fn is None:
        raise NotImplementedError(f"reference backend: no collective '{name}'")
    return fn([np.asarray(b) for b in buffers], **params)
