"""Several processes (``jax.distributed``) over MPI, through mpi4py (the optional extra ``portax[mpi]``).

``initialize()`` joins the processes ``mpirun`` started (Open MPI's ``OMPI_COMM_WORLD_*`` or MPICH's
``PMI_*`` environment), or checks explicit ``num_processes``/``process_id`` against MPI's world. MPI does
the transport, so ``coordinator_address`` is accepted for compatibility with JAX and not used. Then
``devices()`` lists every process's devices of the default backend: the local ones renumbered by a global
id, the others ``RemoteDevice``s (not addressable here). pmap spans them all (``core.parallel.spmd``), and so
do shard_map, jit and global arrays over a mesh of them (each process running its devices' blocks).

Every exchange starts with a header of the same size everywhere (a hash of what each process is about to
exchange), a non-blocking MPI call waited for with a deadline (``heartbeat_timeout_seconds``): processes
running different programs get an error naming both sides instead of a hang or garbage, and nothing else is
sent before every header matched. A small exchange travels in the header itself (one MPI call); a larger one
then moves by MPI's blocking collective, every process being known to be there (Open MPI's non-blocking
collectives take up to 1.5x as long). Collectives among some of the processes run on communicators split from MPI's world, each made
once, right after the header check of the first exchange that needs it (so at the same point everywhere).
An uncaught exception in any process aborts the whole MPI job (an excepthook installed by ``initialize``),
so the others end too. mpi4py is imported only here, on ``initialize()``.
"""
from __future__ import annotations

import dataclasses
import functools
import hashlib
import itertools
import os
import sys
import time
import traceback
from typing import Any, Callable, Sequence

import numpy as np

from .backend import Backend, Device, get_backend


class DistributedError(RuntimeError):
    """A multi-process run failed: divergent programs, a timeout, or a misuse of ``portax.distributed``."""


class _Elsewhere:
    """The backend of another process's device: its names only; computing or placing data there is an error."""

    def __init__(self, backend: Backend, device: str):
        self.name, self.platform, self.device_class_name = backend.name, backend.platform, backend.device_class_name
        self._device = device

    def __getattr__(self, attr: str) -> Any:
        raise NotImplementedError(
            f"{self._device} is not addressable from process {process_index()}: each process computes and places "
            "data on its own devices (local_devices()) only. To span processes use pmap, or a mesh over every "
            "process's devices (device_put, shard_map, jit): each process then handles its devices' blocks.")


class RemoteDevice(Device):
    """A device of another process: listed by ``devices()``, never used for computation here."""

    def __init__(self, backend: Backend, id: int, process_index: int, kind: str):
        super().__init__(backend, id, kind)
        self.process_index = process_index
        self.backend = _Elsewhere(backend, f"{backend.device_class_name}(id={id}) of process {process_index}")


@dataclasses.dataclass
class _State:
    comm: Any  # mpi4py.MPI.Comm (COMM_WORLD)
    mpi: Any  # the mpi4py.MPI module
    process_id: int
    num_processes: int
    backend: Backend
    local: list  # this process's devices of ``backend`` (renumbered)
    devices: list  # every process's devices, by global id
    old_ids: list  # the local devices' ids before initialize (restored by shutdown)
    timeout: float
    old_hook: Any
    spin: float = 1e-3  # seconds a wait spins before yielding the core (see _wait)
    sent: Any = None  # this process's header record (reused by every exchange), and every process's
    records: Any = None
    comms: dict = dataclasses.field(default_factory=dict)  # sub-communicators by their group (see _comm)

    def __post_init__(self) -> None:
        self.sent = np.zeros(_RECORD // 8, np.int64)
        self.records = np.empty((self.num_processes, _RECORD // 8), np.int64)


_state: _State | None = None

_LAUNCHERS = (("OMPI_COMM_WORLD_SIZE", "OMPI_COMM_WORLD_RANK"), ("PMI_SIZE", "PMI_RANK"),
              ("PMIX_SIZE", "PMIX_RANK"))


def _launcher_env() -> tuple[int, int] | None:
    """(size, rank) from the environment of ``mpirun`` (Open MPI, MPICH), if started by it."""
    for size, rank in _LAUNCHERS:
        if size in os.environ and rank in os.environ:
            return int(os.environ[size]), int(os.environ[rank])
    return None


def _import_mpi() -> Any:
    try:
        from mpi4py import MPI
    except ImportError as e:
        raise ImportError("portax.distributed needs mpi4py and an MPI library: pip install 'portax[mpi]' "
                          "(mpi4py and Open MPI's wheel, which provides mpirun)") from e
    return MPI


def initialize(coordinator_address: str | None = None, num_processes: int | None = None,
               process_id: int | None = None, local_device_ids: int | Sequence[int] | None = None,
               initialization_timeout: int = 300, heartbeat_timeout_seconds: int = 100) -> None:
    """``jax.distributed.initialize`` over MPI: join the processes of this ``mpirun`` job.

    Without arguments the process count and index come from mpirun's environment; explicit ones must
    agree with it. ``coordinator_address`` is not needed (MPI connects the processes). Every later
    exchange between processes fails with ``DistributedError`` after ``heartbeat_timeout_seconds``.
    """
    global _state
    if _state is not None:
        raise RuntimeError("distributed.initialize should only be called once.")
    env = _launcher_env()
    if env is None and num_processes not in (None, 1):
        raise ValueError(f"distributed.initialize: num_processes={num_processes} but this process was not started "
                         "by mpirun: portax's processes are connected by MPI, so start them with "
                         f"`mpirun -n {num_processes} python ...` (coordinator_address is not used).")
    MPI = _import_mpi()
    comm = MPI.COMM_WORLD
    size, rank = comm.Get_size(), comm.Get_rank()
    for name, given, actual in (("num_processes", num_processes, size), ("process_id", process_id, rank)):
        if given is not None and given != actual:
            raise ValueError(f"distributed.initialize: {name}={given} but MPI (mpirun) says {actual}")
    backend = get_backend()
    local = list(backend.devices())
    if local_device_ids is not None:
        ids = [local_device_ids] if isinstance(local_device_ids, int) else list(local_device_ids)
        local = [local[i] for i in ids]
    state = _State(comm, MPI, rank, size, backend, local, [], [d.id for d in local],
                   float(heartbeat_timeout_seconds), None)
    counts = _exchange_header(state, "initialize", float(initialization_timeout), extra=len(local))
    first = int(sum(counts[:rank]))
    kind = local[0].device_kind if local else backend.platform
    for k, d in enumerate(local):
        d.id, d.process_index = first + k, rank
    for p, n in enumerate(counts):
        start = int(sum(counts[:p]))
        state.devices += local if p == rank else [RemoteDevice(backend, start + k, p, kind) for k in range(n)]
    local_size = int(os.environ.get("OMPI_COMM_WORLD_LOCAL_SIZE", os.environ.get("MPI_LOCALNRANKS", "1")))
    state.spin = 1e-3 if local_size <= (os.cpu_count() or 1) else 1e-4
    state.old_hook = sys.excepthook
    sys.excepthook = _abort_on_exception
    _state = state


def shutdown() -> None:
    """``jax.distributed.shutdown``: wait for every process (a barrier), then leave the distributed run
    (MPI itself is finalized at exit). A no-op when not initialized."""
    global _state
    state = _state
    if state is None:
        return
    _exchange_header(state, "shutdown", state.timeout)
    for comm in state.comms.values():  # created in the same order everywhere (see _comm): freed so too
        comm.Free()
    for d, old in zip(state.local, state.old_ids):
        d.id, d.process_index = old, 0
    if sys.excepthook is _abort_on_exception:
        sys.excepthook = state.old_hook
    _state = None


def _abort_on_exception(kind, value, tb) -> None:
    """The excepthook of a distributed run: print the error, then abort every process of the MPI job."""
    traceback.print_exception(kind, value, tb)
    state = _state
    if state is not None:
        sys.stderr.write(f"portax.distributed: process {state.process_id} of {state.num_processes} raised "
                         f"{kind.__name__}; aborting the MPI job so that the other processes stop too.\n")
        sys.stderr.flush()
        state.comm.Abort(1)


def is_initialized() -> bool:
    return _state is not None


def _joined() -> _State | None:
    """The distributed run, or None for a process on its own; in a process that mpirun started with
    others, exchanging values before ``initialize()`` is an error."""
    if _state is not None:
        return _state
    env = _launcher_env()
    if env is not None and env[0] > 1:
        raise DistributedError(f"portax.distributed.initialize() must be called before any collective across "
                               f"processes (process_allgather, sync_global_devices, ...): mpirun started {env[0]} "
                               "processes.")
    return _state


def process_index(backend: str | None = None) -> int:
    """``jax.process_index``: this process's index (0 without ``initialize``)."""
    return 0 if _state is None else _state.process_id


def process_count(backend: str | None = None) -> int:
    """``jax.process_count``: the number of processes (1 without ``initialize``)."""
    return 1 if _state is None else _state.num_processes


def spans(backend: Backend) -> bool:
    """Whether computations on ``backend`` span several processes."""
    return _state is not None and _state.num_processes > 1 and backend is _state.backend


def global_devices(backend: Backend) -> list[Device] | None:
    """Every process's devices of ``backend`` when the run spans processes on it, else None."""
    return list(_state.devices) if _state is not None and backend is _state.backend else None


# --- exchanges ------------------------------------------------------------------------------------------------------
def _wait(state: _State, requests: Any, what: str, timeout: float | None = None) -> None:
    """Wait for non-blocking MPI calls (a request or a list of them), at most the run's timeout: a process
    that died or went elsewhere is an error here, never a hang. Spins on MPI's progress (``Test``) for
    1 ms (100 µs if the processes outnumber the cores), then yields the core between tests, and after
    50 ms sleeps 1 ms between them."""
    if isinstance(requests, list):
        test = requests[0].Test if len(requests) == 1 else lambda: state.mpi.Request.Testall(requests)
    else:
        test = requests.Test
    if test():
        return
    start = time.monotonic()
    limit = state.timeout if timeout is None else timeout
    while not test():
        waited = time.monotonic() - start
        if waited > limit:
            raise DistributedError(f"portax.distributed: process {state.process_id} waited more than {limit:g} s "
                                   f"for the other processes at {what}; a process has died, hangs, or runs a "
                                   "different program.")
        if waited > state.spin:
            time.sleep(0 if waited < 0.05 else 1e-3)


@functools.lru_cache(maxsize=4096)
def _digest(text: str) -> int:
    return int.from_bytes(hashlib.blake2b(text.encode(), digest_size=7).digest(), "little")


# Every exchange starts with one allgather of a record of this many bytes from each process (so that any two
# exchanges match in MPI, whatever they are): a hash of what the process is about to exchange, an integer,
# and the exchange's payload itself when it fits (a small exchange takes one MPI call), else zeros.
_RECORD = 256
_INLINE = _RECORD - 16  # the payload bytes a record holds


def _exchange(state: _State, what: str, timeout: float | None = None, extra: int = 0,
              payload: np.ndarray | None = None) -> np.ndarray:
    """Check that every process is at the same exchange (``what`` describes it, and so the payload's size);
    return every process's record ``(processes, _RECORD // 8)`` int64: [hash, ``extra``, payload bytes...],
    valid until the next exchange (the buffers are reused). A mismatch is a DistributedError naming both
    sides (on every process)."""
    mine, records, digest = state.sent, state.records, _digest(what)
    mine[0], mine[1] = digest, extra
    if payload is not None:
        mine.view(np.uint8)[16:16 + payload.size] = payload
    _wait(state, state.comm.Iallgather(mine, records), what, timeout)
    if records[:, 0].tolist().count(digest) != state.num_processes:
        text = np.zeros(512, np.uint8)
        raw = what.encode()[:512]
        text[:len(raw)] = np.frombuffer(raw, np.uint8)
        texts = np.empty((state.num_processes, 512), np.uint8)
        _wait(state, state.comm.Iallgather(text, texts), what, timeout)
        names = [bytes(t).rstrip(b"\0").decode(errors="replace") for t in texts]
        other = next(p for p in range(state.num_processes) if names[p] != what)
        raise DistributedError(f"portax.distributed: the processes run different programs: process "
                               f"{state.process_id} is at {what!r} while process {other} is at {names[other]!r}.")
    return records


def _exchange_header(state: _State, what: str, timeout: float | None = None, extra: int = 0) -> np.ndarray:
    """``_exchange`` without payload: every process's ``extra`` integer."""
    return _exchange(state, what, timeout, extra)[:, 1].copy()


def _payloads(records: np.ndarray, nbytes: int) -> np.ndarray:
    """The first ``nbytes`` payload bytes of every process's record: ``(processes, nbytes)`` uint8 (a view
    of the records: copy what outlives the exchange)."""
    return records.view(np.uint8)[:, 16:16 + nbytes]


@functools.lru_cache(maxsize=4096)
def _described(what: str, verb: str, signature: tuple) -> str:
    """The header text of an exchange: ``what`` and the dtypes and shapes (``signature``) exchanged."""
    return f"{what} ({verb} {', '.join(f'{dtype.name}{list(shape)}' for dtype, shape in signature)})"


def _bytes(x: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(x).reshape(-1).view(np.uint8)


def allgather_many(arrays: Sequence[np.ndarray], what: str) -> list[np.ndarray]:
    """Every process's value of each array (same shapes and dtypes everywhere), in one exchange: for each,
    an array ``(processes, *shape)``."""
    state_ = _joined()
    if state_ is None:
        return [np.array(a)[None] for a in arrays]
    what = _described(what, "exchanging", _signature(arrays))
    sizes = [a.nbytes for a in arrays]
    mine = np.concatenate([_bytes(a) for a in arrays]) if len(arrays) != 1 else _bytes(arrays[0])
    if mine.size <= _INLINE:
        every = _payloads(_exchange(state_, what, payload=mine), mine.size)
    else:
        _exchange(state_, what)
        every = np.empty((state_.num_processes, mine.size), np.uint8)
        state_.comm.Allgather(mine, every)
    ends = itertools.accumulate(sizes)
    columns = [every] if len(arrays) == 1 and mine.size > _INLINE else \
        [every[:, end - size:end].copy() for size, end in zip(sizes, ends)]
    return [c.view(a.dtype).reshape((state_.num_processes,) + a.shape) for a, c in zip(arrays, columns)]


def allgather(local: np.ndarray, what: str) -> np.ndarray:
    """Every process's ``local`` array (same shape and dtype everywhere), stacked: ``(processes, *shape)``."""
    return allgather_many([local], what)[0]


def allreduce_many(arrays: Sequence[np.ndarray], ops: Sequence[str], what: str,
                   alloc: Callable[[tuple, np.dtype], np.ndarray] = np.empty, group: tuple | None = None
                   ) -> list[np.ndarray]:
    """The elementwise reduction (``ops[i]``: SUM, MAX or MIN) of every process's ``arrays[i]`` (of the
    processes of this one's ``group``, see ``_comm``; None: every process), each result written into a fresh
    ``alloc(shape, dtype)`` (e.g. a backend's host buffer: no copy afterwards): after the header, one MPI
    allreduce per array straight from the array into its result, arrays under 64 KiB being concatenated per
    operation and dtype (one allreduce each)."""
    state_ = _joined()
    if state_ is None:
        return [_copy_into(alloc, np.asarray(a)) for a in arrays]
    what, buckets = _reduction_plan(what, _signature(arrays), tuple(ops))
    out: list = [None] * len(arrays)
    _exchange(state_, what)
    comm = _comm(state_, group)
    joined = []
    for op, members, ends in buckets:
        mpi_op = getattr(state_.mpi, op)
        if len(members) == 1:
            i = members[0]
            out[i] = alloc(arrays[i].shape, arrays[i].dtype)
            comm.Allreduce(np.ascontiguousarray(arrays[i]).reshape(-1), out[i].reshape(-1), op=mpi_op)
        else:
            mine = np.concatenate([arrays[i].reshape(-1) for i in members])
            joined.append((members, ends, np.empty_like(mine)))
            comm.Allreduce(mine, joined[-1][2], op=mpi_op)
    for members, ends, reduced in joined:
        for i, end in zip(members, ends):
            out[i] = _copy_into(alloc, reduced[end - arrays[i].size:end].reshape(arrays[i].shape))
    return out


def _copy_into(alloc: Callable, value: np.ndarray) -> np.ndarray:
    out = alloc(value.shape, value.dtype)
    np.copyto(out, value)
    return out


_ALONE = 64 << 10  # arrays of this many bytes or more are allreduced on their own, not concatenated


@functools.lru_cache(maxsize=1024)
def _reduction_plan(what: str, signature: tuple, ops: tuple) -> tuple[str, list]:
    """The header of an ``allreduce_many`` and its buckets: (operation, members, where each member ends) per
    operation and dtype, the members being reduced concatenated (an array of ``_ALONE`` bytes or more: a
    bucket of its own)."""
    buckets: dict = {}
    for i, ((dtype, shape), op) in enumerate(zip(signature, ops)):
        alone = int(np.prod(shape)) * dtype.itemsize >= _ALONE
        buckets.setdefault((op, dtype, i if alone else -1), []).append(i)
    sizes = [int(np.prod(shape)) for _, shape in signature]
    return (_described(what, "reducing", signature),
            [(key[0], members, np.cumsum([sizes[i] for i in members]).tolist()) for key, members in buckets.items()])


def broadcast(value: np.ndarray, root: int, what: str) -> np.ndarray:
    """Process ``root``'s ``value`` on every process (same shape and dtype everywhere)."""
    state_ = _joined()
    if state_ is None:
        return np.array(value, copy=True)
    what = _described(what, "exchanging", ((value.dtype, value.shape),))
    out = np.array(value, copy=True, order="C")
    if out.nbytes <= _INLINE:
        sent = _payloads(_exchange(state_, what, payload=_bytes(out)), out.nbytes)[root]
        return sent.copy().view(out.dtype).reshape(out.shape)
    _exchange(state_, what)
    state_.comm.Bcast(out.reshape(-1).view(np.uint8), root=root)
    return out


def _comm(state: _State, group: tuple | None) -> Any:
    """The communicator of this process's part of ``group`` (None: every process, in order): ``(colors,
    keys)``, each process's color and rank key, splits the world into one communicator per color, ranked by
    key. Made once per group, by MPI's (collective) Split called after a header check, so that every process
    creates its sub-communicators at the same exchanges, in the same order."""
    if group is None:
        return state.comm
    comm = state.comms.get(group)
    if comm is None:
        colors, keys = group
        comm = state.comms[group] = state.comm.Split(colors[state.process_id], keys[state.process_id])
    return comm


def _members(state: _State, group: tuple | None) -> list[int]:
    """The processes of this process's communicator of ``group`` (``_comm``), in rank order."""
    if group is None:
        return list(range(state.num_processes))
    colors, keys = group
    return sorted((q for q in range(state.num_processes) if colors[q] == colors[state.process_id]),
                  key=lambda q: keys[q])


def _native(what: str, run: Callable[[Any], Any], group: tuple | None = None) -> None:
    """After the header check, MPI's own collectives: ``run(comm)`` makes them on the communicator of
    ``group`` (``_comm``)."""
    state_ = _joined()
    _exchange(state_, what)
    run(_comm(state_, group))


def _signature(arrays: Sequence[np.ndarray]) -> tuple:
    return tuple((a.dtype, a.shape) for a in arrays)


def allgather_into(sends: Sequence[np.ndarray], outs: Sequence[np.ndarray], what: str,
                   group: tuple | None = None) -> None:
    """Every process's ``sends[i]`` (same shapes and dtypes everywhere) written in process order into
    ``outs[i]`` (``processes`` times its size: e.g. a backend's host buffer), by MPI's allgather (small: in
    the header); with ``group`` (``_comm``), the processes of this one's communicator in its rank order."""
    mine, intos = [_bytes(s) for s in sends], [o.reshape(-1).view(np.uint8) for o in outs]
    what = _described(what, "gathering", _signature(sends))
    size = sum(m.size for m in mine)
    if size <= _INLINE:
        state_ = _joined()
        every = _payloads(_exchange(state_, what, payload=np.concatenate(mine)), size)[_members(state_, group)]
        for into, m, end in zip(intos, mine, itertools.accumulate(m.size for m in mine)):
            into[:] = every[:, end - m.size:end].reshape(-1)
    else:
        _native(what, lambda comm: [comm.Allgather(m, into) for m, into in zip(mine, intos)], group)


def reduce_scatter_into(sends: Sequence[np.ndarray], outs: Sequence[np.ndarray], op: str, what: str,
                        group: tuple | None = None) -> None:
    """Block ``k`` (of as many equal blocks as processes, in order; ``k``: this process's rank, see
    ``allgather_into``) of the elementwise reduction ``op`` (SUM, MAX, MIN) of every process's ``sends[i]``,
    written into ``outs[i]``: MPI's reduce_scatter."""
    mine = [np.ascontiguousarray(s).reshape(-1) for s in sends]
    mpi_op = getattr(_state.mpi, op)
    _native(_described(what, "reduce-scattering", _signature(sends)),
            lambda comm: [comm.Reduce_scatter_block(m, o.reshape(-1), op=mpi_op) for m, o in zip(mine, outs)], group)


def alltoall_into(sends: Sequence[np.ndarray], outs: Sequence[np.ndarray], what: str,
                  group: tuple | None = None) -> None:
    """Block ``q`` (of as many equal blocks as processes, in order) of ``sends[i]`` to the process of rank
    ``q`` (see ``allgather_into``); the blocks received, in rank order, into ``outs[i]`` (the size of
    ``sends[i]``): MPI's alltoall."""
    mine, intos = [_bytes(s) for s in sends], [o.reshape(-1).view(np.uint8) for o in outs]
    _native(_described(what, "exchanging blocks of", _signature(sends)),
            lambda comm: [comm.Alltoall(m, into) for m, into in zip(mine, intos)], group)


def sendrecv(sends: Sequence[tuple[np.ndarray, int, int]], receives: Sequence[tuple[np.ndarray, int, int]],
             what: str) -> None:
    """Point-to-point transfers once every process is at ``what``: each ``(array, process, tag)`` of
    ``sends`` goes to that process, each of ``receives`` is filled from that process's send of that tag."""
    def run(comm: Any) -> None:
        state_.mpi.Request.Waitall([comm.Isend(_bytes(a), dest=q, tag=t) for a, q, t in sends]
                                   + [comm.Irecv(a.reshape(-1).view(np.uint8), source=q, tag=t) for a, q, t in receives])
    state_ = _joined()
    _native(what, run)


def barrier(what: str) -> None:
    """Wait for every process to reach the barrier ``what`` (a different name is an error naming both)."""
    state_ = _joined()
    if state_ is not None:
        _exchange_header(state_, what)
