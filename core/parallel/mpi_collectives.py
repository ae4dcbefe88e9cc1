"""Collectives between processes by MPI's own (``spmd._Collective`` over a mesh spanning processes).

all_gather, psum_scatter, all_to_all and ppermute send each device's data once, with MPI's allgather,
reduce_scatter, alltoall and point-to-point transfers of host buffers (after the header check of
``core.distributed``), and receive straight into the backend's host buffers where its buffers are host
memory (cpu_llvm: no copy on either side). ``plan`` picks the transfer when the layout allows it:
ppermute always; the others when one group holds every mesh device, each process's devices being
consecutive in it (as many per process), and the blocks lie along the leading dimension. Otherwise the
collective gathers every process's buffers (``spmd._Collective.run``).
"""
from __future__ import annotations

from typing import Any, Callable

import numpy as np

from .. import distributed


def plan(c: Any, groups: list[list[int]], owners: tuple, combined: np.dtype) -> Callable | None:
    """How collective ``c`` (a ``spmd._Collective`` whose groups span processes; ``combined``: the dtype
    of the buffers combined) runs with MPI's collectives: ``run(c, parts) -> outs``, or None."""
    name, params = c.eqn.primitive.name, c.params
    if name == "ppermute":
        return lambda c, bufs: _ppermute(c, bufs, combined)
    n, local = len(owners), len(owners) // distributed.process_count()  # (the same answer on every process,
    # also when processes hold different numbers of the mesh's devices: then no process's devices match below)
    whole = len(groups) == 1 and len(groups[0]) == n
    if not whole or any(owners[g] != k // local for k, g in enumerate(groups[0])):
        return None
    if name == "all_gather" and params["all_gather_dimension"] == 0:
        return _all_gather
    if name == "reduce_scatter" and params["scatter_dimension"] == 0 and (
            combined.kind in "iu" or combined in (np.float32, np.float64)):
        return _reduce_scatter
    if name == "all_to_all" and local == 1 and params["split_axis"] == 0 and params["concat_axis"] == 0:
        return _all_to_all
    return None


def _host(c: Any, buf: Any) -> np.ndarray:
    return np.asarray(c.devices[0].backend.get(buf))


def _mine(c: Any, bufs: list) -> list:
    """This process's buffers in the group's order (its devices are consecutive in it)."""
    return [bufs[c.index[g]] for g in c.groups[0] if c.local(g)]


def _on(c: Any, host: np.ndarray, k: int) -> Any:
    """``host`` (from ``c.alloc``) as the buffer of local device ``k``."""
    backend = c.devices[0].backend
    return host if hasattr(backend, "host_buffer") else backend.put(host, c.devices[k])


def _all_gather(c: Any, bufs: list) -> list:
    mine = [_host(c, b) for b in _mine(c, bufs)]
    shape = c.eqn.out_binders[0].aval.shape
    out = distributed.allgather_into(mine[0] if len(mine) == 1 else np.stack(mine), c.alloc(shape, mine[0].dtype),
                                     c.what)
    return [_on(c, out, k) for k in range(len(c.devices))]


def _reduce_scatter(c: Any, bufs: list) -> list:
    partial = bufs[0] if len(bufs) == 1 else c.collective("psum", bufs, c.devices)[0]
    host, shape = _host(c, partial), c.eqn.out_binders[0].aval.shape
    if len(bufs) == 1:
        return [_on(c, distributed.reduce_scatter_into(host, c.alloc(shape, host.dtype), "SUM", c.what), 0)]
    blocks = distributed.reduce_scatter_into(host, np.empty((len(bufs),) + shape, host.dtype), "SUM", c.what)
    backend, order = c.devices[0].backend, [c.index[g] for g in c.groups[0] if c.local(g)]
    out: list = [None] * len(bufs)
    for block, k in zip(blocks, order):
        out[k] = backend.put(block, c.devices[k])
    return out


def _all_to_all(c: Any, bufs: list) -> list:
    host = _host(c, bufs[0])
    return [_on(c, distributed.alltoall_into(host, c.alloc(host.shape, host.dtype), c.what), 0)]


def _ppermute(c: Any, bufs: list, dtype: np.dtype) -> list:
    """Each pair ``(src, dst)`` of a group: a local source's buffer stays in the process (shared if host
    memory, else copied to the destination device), a remote one is received from its process; a device
    that is no destination gets zeros."""
    backend, owners, index, shape = c.devices[0].backend, c.owners, c.index, c.eqn.out_binders[0].aval.shape
    out: list = [None] * len(c.devices)
    sends, receives, hosts = [], [], {}
    for group in c.groups:
        for src, dst in c.params["perm"]:
            s, d = group[src], group[dst]
            if c.local(s) and c.local(d):
                b = bufs[index[s]]
                out[index[d]] = b if hasattr(backend, "host_buffer") else backend.put(_host(c, b), c.devices[index[d]])
            elif c.local(s):
                sends.append((_host(c, bufs[index[s]]), owners[d], d))
            elif c.local(d):
                hosts[index[d]] = c.alloc(shape, dtype)
                receives.append((hosts[index[d]], owners[s], d))
    distributed.sendrecv(sends, receives, c.what)
    for k in range(len(out)):
        if out[k] is None and k not in hosts:
            hosts[k] = c.alloc(shape, dtype)
            hosts[k].fill(0)
    for k, host in hosts.items():
        out[k] = _on(c, host, k)
    return out
