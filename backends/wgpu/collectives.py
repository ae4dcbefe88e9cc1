"""pmap's collectives on wgpu devices (``WgpuBackend.collective``).

wgpu devices share no memory, so a collective stages through the host: the participants' buffers are
copied to the first device, reductions (psum, pmax, pmin, and reduce_scatter's sum) run there as a WGSL
kernel, and each device receives its result. all_gather, ppermute and all_to_all only move data.
"""
from __future__ import annotations

import numpy as np

from portax.core.primitives import elementwise as ew

from .kernel_writer import KernelWriter, u32, workgroups_for
from .renderer import WORKGROUP
from .runtime import WgpuDevice
from .wgsl_ops import OPS, OpContext
from .wgsl_types import load, store, wtype

_FOLDS = {"psum": "add", "pmax": "max", "pmin": "min"}


def _combine(how: str, t, a: str, b: str) -> str:
    if how == "add":
        return f"({a} || {b})" if t.kind == "b" else f"({a} + {b})"
    p = ew.max_p if how == "max" else ew.min_p
    return OPS[p](OpContext(t, t, {}, True, how), a, b)


def fold(device: WgpuDevice, arrays: list, how: str, shape: tuple, dtype) -> object:
    """The elementwise sum/max/min of same-shape device buffers, by kernels on ``device`` (as many
    operands per kernel as the storage-buffer limit allows)."""
    t = wtype(dtype)
    n = int(np.prod(shape, dtype=np.int64))
    per = device.limits.max_storage_buffers_per_shader_stage - 1
    acc = arrays[0]
    rest = list(arrays[1:])
    with device.batch(f"collective {how}") as batch:
        while rest:
            group, rest = rest[:per - 1], rest[per - 1:]
            w = KernelWriter(f"collective-{how}:{len(group) + 1}", WORKGROUP)
            w.line(f"if (gid >= {u32(n)}) {{ return; }}")
            value = load(t, f"{w.buffer('acc', dtype)}[gid]")
            for k in range(len(group)):
                value = _combine(how, t, value, load(t, f"{w.buffer(k, dtype)}[gid]"))
            w.line(f"{w.buffer('out', dtype, write=True)}[gid] = {store(t, value)};")
            out = device.empty(shape, dtype, "collective")
            if n:
                batch.dispatch(device.pipeline(w.source(), context=w.name), [acc] + group + [out],
                               workgroups_for(n, WORKGROUP), context=w.name)
            acc = out
    return acc


def collective(name: str, host_of, to_device, buffers: list, devices: list, **params) -> list:
    """Run collective ``name`` (see ``core.backend.SupportsCollectives``): ``host_of(buffer)`` reads a
    buffer back, ``to_device(array, k)`` uploads an array to participant ``k``."""
    n = len(buffers)
    if name in _FOLDS or name == "reduce_scatter":
        first = buffers[0]
        staged = [first.buf] + [to_device(host_of(b), 0).buf for b in buffers[1:]]
        total = fold(first.device, staged, _FOLDS.get(name, "add"), first.shape, first.dtype)
        result = first.device.download(total, first.shape, first.dtype, f"collective {name}")
        if name != "reduce_scatter":
            return [to_device(result, k) for k in range(n)]
        axis = params["scatter_dimension"]
        if params["tiled"]:
            return [to_device(part, k) for k, part in enumerate(np.split(result, n, axis=axis))]
        return [to_device(np.take(result, k, axis=axis), k) for k in range(n)]
    hosts = [host_of(b) for b in buffers]
    if name == "all_gather":
        join = np.concatenate if params["tiled"] else np.stack
        gathered = join(hosts, axis=params["all_gather_dimension"])
        return [to_device(gathered, k) for k in range(n)]
    if name == "ppermute":
        dest = {dst: src for src, dst in params["perm"]}
        return [to_device(hosts[dest[k]] if k in dest else np.zeros_like(hosts[k]), k) for k in range(n)]
    if name == "all_to_all":
        blocks = [np.split(h, n, axis=params["split_axis"]) for h in hosts]
        return [to_device(np.concatenate([b[k] for b in blocks], axis=params["concat_axis"]), k) for k in range(n)]
    raise NotImplementedError(f"wgpu backend: no collective '{name}'")
