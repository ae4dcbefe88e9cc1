"""Collectives between processes by MPI's own (``spmd._Collective`` over a mesh spanning processes).

psum, pmax and pmin over groups of devices (not every mesh device: ``spmd`` allreduces that case itself),
all_gather, psum_scatter, all_to_all and ppermute send each device's data once, with MPI's allreduce,
allgather, reduce_scatter, alltoall and point-to-point transfers of host buffers (after the header check
of ``core.distributed``), and receive straight into the backend's host buffers where its buffers are host
memory (cpu_llvm: no copy on either side). ``plan`` picks the transfer when the layout allows it:
ppermute always; the others when the processes of each group are those of a class of processes (classes:
disjoint, as many processes and groups in each), each class combining its groups among its processes by
a communicator of its own (``distributed._comm``), the local devices of a group being combined first
(psum, pmax, pmin, psum_scatter). all_gather, psum_scatter and all_to_all also need each group to visit
its processes in the same order, each process's devices being consecutive in it (as many per process);
blocks along another dimension than the leading one are moved to the front on the host
(each device's data still sent once) and back. Otherwise the collective gathers every process's buffers
(``spmd._Collective.run``).
"""
from __future__ import annotations

from typing import Any, Callable, Sequence

import numpy as np

from .. import distributed

_ORDERED = ("all_gather", "reduce_scatter", "all_to_all")  # collectives whose blocks follow the group order


def reduces(op: str, dtype: np.dtype) -> bool:
    """Whether MPI reduces ``dtype`` by ``op`` (SUM, MAX, MIN) as the backends do: integers, and sums of
    float32/float64 (MPI's MAX and MIN may drop NaNs)."""
    return dtype.kind in "iu" or op == "SUM" and dtype in (np.float32, np.float64)


def plan(c: Any, groups: list[list[int]], owners: tuple, combined: np.dtype) -> Callable | None:
    """How collective ``c`` (a ``spmd._Collective`` whose groups span processes; ``combined``: the dtype
    of the buffers combined) runs with MPI's collectives: ``run(c, parts) -> outs``, or None."""
    name = c.eqn.primitive.name
    if name == "ppermute":
        return lambda c, bufs: _ppermute(c, bufs, combined)
    group = _layout(groups, owners, name in _ORDERED)
    if group is None:
        return None
    group = group or None  # () -> None: MPI's world
    mine = [[c.index[g] for g in members if c.local(g)] for members in c.groups]  # per group, its local devices
    run = None
    if c.op is not None and reduces(c.op, combined):
        run = _allreduce
    elif name == "all_gather":
        run = _all_gather
    elif name == "reduce_scatter" and reduces("SUM", combined):
        run = _reduce_scatter
    elif name == "all_to_all":
        run = _all_to_all
    return None if run is None else lambda c, bufs: run(c, bufs, mine, group)


def _layout(groups: list[list[int]], owners: tuple, ordered: bool) -> tuple | None:
    """How ``groups`` lie over the processes if MPI can combine each among its processes (see the module's
    doc): the group of ``distributed._comm`` (``()``: every process, in order), else None."""
    processes = distributed.process_count()
    classes: dict = {}  # the processes of a class -> the order of its groups' processes, and their number
    for members in groups:
        runs: list = []  # the group's processes in its order, with their consecutive devices
        for g in members:
            if runs and runs[-1][0] == owners[g]:
                runs[-1][1] += 1
            else:
                runs.append([owners[g], 1])
        order = tuple(q for q, _ in runs)
        if ordered and (len(set(order)) != len(order) or len({k for _, k in runs}) != 1):
            return None
        known = classes.setdefault(frozenset(order), [order if ordered else tuple(sorted(set(order))), 0])
        if ordered and known[0] != order:
            return None
        known[1] += 1
    orders = [order for order, _ in classes.values()]
    if (sum(map(len, orders)) != processes or len({len(o) for o in orders}) != 1
            or len({count for _, count in classes.values()}) != 1):
        return None  # classes overlapping, or of different sizes (processes would send different shapes)
    if len(orders) == 1 and orders[0] == tuple(range(processes)):
        return ()
    colors, keys = [0] * processes, [0] * processes
    for color, order in enumerate(sorted(orders, key=min)):  # (colors: the same for the same classes)
        for key, q in enumerate(order):
            colors[q], keys[q] = color, key
    return tuple(colors), tuple(keys)


def combine_local(c: Any, name: str, bufs: list, ks: Sequence[int]) -> np.ndarray:
    """The buffers of local devices ``ks`` combined by collective ``name`` (psum, pmax, pmin), read back."""
    if len(ks) == 1:
        return _host(c, bufs[ks[0]])
    return _host(c, c.collective(name, [bufs[k] for k in ks], [c.devices[k] for k in ks])[0])


def _host(c: Any, buf: Any) -> np.ndarray:
    return np.asarray(c.devices[0].backend.get(buf))


def _on(c: Any, host: np.ndarray, k: int) -> Any:
    """``host`` (from ``c.alloc``) as the buffer of local device ``k``."""
    backend = c.devices[0].backend
    return host if hasattr(backend, "host_buffer") else backend.put(host, c.devices[k])


def _placed(c: Any, results: list[tuple[np.ndarray, int]]) -> list:
    """The buffers of the local devices from ``(host, k)`` pairs: ``host`` (from ``c.alloc``) on device ``k``."""
    out: list = [None] * len(c.devices)
    for host, k in results:
        out[k] = _on(c, host, k)
    return out


def _allreduce(c: Any, bufs: list, mine: list[list[int]], group: tuple | None) -> list:
    """psum, pmax or pmin: each group's local devices combined, then the processes' partial results."""
    partials = [combine_local(c, c.eqn.primitive.name, bufs, ks) for ks in mine]
    totals = distributed.allreduce_many(partials, [c.op] * len(partials), c.what, c.alloc, group)
    return _placed(c, [(total, k) for total, ks in zip(totals, mine) for k in ks])


def _all_gather(c: Any, bufs: list, mine: list[list[int]], group: tuple | None) -> list:
    """Each device's block gathered along the leading dimension, moved to ``all_gather_dimension``."""
    d, n, shape = c.params["all_gather_dimension"], len(c.groups[0]), c.eqn.inputs[0].aval.shape
    stacked = shape[:d] + (n,) + shape[d:]  # the result with the gathered axis apart (a view of it)
    sends, outs, received = [], [], []
    for ks in mine:
        hosts = [_host(c, bufs[k]) for k in ks]
        outs.append(c.alloc(c.eqn.out_binders[0].aval.shape, hosts[0].dtype))
        sends.append(hosts[0] if len(hosts) == 1 else np.stack(hosts))
        received.append(outs[-1].reshape(stacked) if d == 0 else np.empty((n,) + shape, hosts[0].dtype))
    distributed.allgather_into(sends, received, c.what, group)
    if d:
        for out, got in zip(outs, received):
            np.copyto(out.reshape(stacked), np.moveaxis(got, 0, d))
    return _placed(c, [(out, k) for out, ks in zip(outs, mine) for k in ks])


def _reduce_scatter(c: Any, bufs: list, mine: list[list[int]], group: tuple | None) -> list:
    """The local devices' inputs of each group summed, ``scatter_dimension`` moved to the front, reduce-
    scattered among the processes, and each local device's block moved back."""
    d, n, shape = c.params["scatter_dimension"], len(c.groups[0]), c.eqn.inputs[0].aval.shape
    kept = shape[:d] + (shape[d] // n,) + shape[d + 1:]  # a device's block, the scattered axis kept
    direct = d == 0 and len(mine[0]) == 1  # received straight into the result
    sends, outs, received = [], [], []
    for ks in mine:
        x = combine_local(c, "psum", bufs, ks)
        outs.append([c.alloc(c.eqn.out_binders[0].aval.shape, x.dtype) for _ in ks])
        sends.append(np.moveaxis(x, d, 0))
        received.append(outs[-1][0].reshape((1,) + kept) if direct else
                        np.empty((len(ks), kept[d]) + kept[:d] + kept[d + 1:], x.dtype))
    distributed.reduce_scatter_into(sends, received, "SUM", c.what, group)
    if not direct:
        for blocks, got in zip(outs, received):
            for out, block in zip(blocks, got):
                np.copyto(out.reshape(kept), np.moveaxis(block, 0, d))
    return _placed(c, [(out, k) for blocks, ks in zip(outs, mine) for out, k in zip(blocks, ks)])


def _all_to_all(c: Any, bufs: list, mine: list[list[int]], group: tuple | None) -> list:
    """Each device's blocks along ``split_axis`` moved to the front, those of a process's devices interleaved
    by destination process and exchanged; each local device's blocks received (in the group's order) moved
    to ``concat_axis``."""
    split, concat, n, m = c.params["split_axis"], c.params["concat_axis"], len(c.groups[0]), len(mine[0])
    shape = c.eqn.inputs[0].aval.shape
    block = shape[:split] + (shape[split] // n,) + shape[split + 1:]
    stacked = block[:concat] + (n,) + block[concat:]  # the result with the senders' axis apart (a view of it)
    direct = m == 1 and concat == 0  # received straight into the result
    sends, outs, received = [], [], []
    for ks in mine:
        fronts = [np.moveaxis(_host(c, bufs[k]).reshape(shape[:split] + (n,) + block[split:]), split, 0)
                  .reshape((n // m, m) + block) for k in ks]  # [to process, to device]
        sends.append(fronts[0] if m == 1 else np.stack(fronts, axis=1))  # [to process, from device, to device]
        outs.append([c.alloc(c.eqn.out_binders[0].aval.shape, fronts[0].dtype) for _ in ks])
        received.append(outs[-1][0].reshape((n, 1, 1) + block) if direct else  # [from process, device, to device]
                        np.empty((n // m, m, m) + block, fronts[0].dtype))
    distributed.alltoall_into(sends, received, c.what, group)
    if not direct:
        for blocks, got in zip(outs, received):
            for j, out in enumerate(blocks):
                np.copyto(out.reshape(stacked), np.moveaxis(got[:, :, j].reshape((n,) + block), 0, concat))
    return _placed(c, [(out, k) for blocks, ks in zip(outs, mine) for out, k in zip(blocks, ks)])


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
