"""Run under mpirun: collectives over some axes of a multi-axis mesh spanning processes, and along non-leading
dimensions, with shard_map; process 0 prints a digest of every result (runs on one and several processes holding
as many devices in all are compared bit for bit). Checks that each collective takes MPI's own path: no gather of
every process's buffers, and reductions and gathers on a communicator of the group's processes only."""
import hashlib
import itertools
import json

import numpy as np

import portax as jax
from portax import lax
from portax.core import distributed
from portax.experimental import multihost_utils
from portax.sharding import Mesh, PartitionSpec as P

jax.distributed.initialize()
N, processes = jax.device_count(), jax.process_count()
devices = np.array(jax.devices())
SHAPES = {4: [(2, 2)], 8: [(2, 4), (4, 2), (2, 2, 2)]}[N]
NAMES = ("x", "y", "z")
BLOCK = (8, 8, 4)  # a device's block (each dimension divisible by the axis sizes: tiled splits)

fallbacks, comms = [], []  # the gathers of every process's buffers, the communicators of MPI's collectives
allgather_many, comm_of = distributed.allgather_many, distributed._comm


def _gathering(arrays, what):
    if " in shard_map of " in what:
        fallbacks.append(what)
    return allgather_many(arrays, what)


def _recording(state, group):
    comm = comm_of(state, group)
    comms.append(comm.Get_size())
    return comm


distributed.allgather_many, distributed._comm = _gathering, _recording


def block_input(shape, dtype):
    x = (np.arange(N * int(np.prod(shape))).reshape((N * shape[0],) + shape[1:]) % 13 - 6).astype(dtype)
    return x + 1j * x[::-1] if np.dtype(dtype).kind == "c" else x


def cases(axis, n):
    """(name, block shape, dtype, body) of the collectives over ``axis`` (a name, or a tuple of them) of size ``n``."""
    for dtype in (np.float32, np.int32, np.complex64):
        yield f"psum {np.dtype(dtype).name}", BLOCK, dtype, lambda b: lax.psum(b, axis)
    yield "pmax int32", BLOCK, np.int32, lambda b: lax.pmax(b, axis)
    yield "pmin int32", BLOCK, np.int32, lambda b: lax.pmin(b, axis)
    if isinstance(axis, tuple):  # (devices row-major over the mesh's axes)
        yield "ppermute", BLOCK, np.float32, lambda b: lax.ppermute(b, axis, [(i, (i + 1) % n) for i in range(n)])
        return
    for d, tiled in itertools.product(range(3), (False, True)):
        yield f"all_gather axis={d} tiled={tiled}", BLOCK, np.float32, \
            lambda b, d=d, tiled=tiled: lax.all_gather(b, axis, axis=d, tiled=tiled)
        shape = BLOCK if tiled else BLOCK[:d] + (n,) + BLOCK[d + 1:]
        yield f"psum_scatter dimension={d} tiled={tiled}", shape, np.float32, \
            lambda b, d=d, tiled=tiled: lax.psum_scatter(b, axis, scatter_dimension=d, tiled=tiled)
    yield "all_gather int16", BLOCK, np.int16, lambda b: lax.all_gather(b, axis, axis=1, tiled=True)
    yield "all_gather small", (2, 3), np.float32, lambda b: lax.all_gather(b, axis, axis=1)  # (in the header)
    yield "psum_scatter int32", BLOCK, np.int32, lambda b: lax.psum_scatter(b, axis, scatter_dimension=2, tiled=True)
    for split, concat in ((0, 0), (0, 2), (2, 0), (1, 2), (2, 2)):
        yield f"all_to_all {split} {concat}", BLOCK, np.float32, \
            lambda b, s=split, c=concat: lax.all_to_all(b, axis, s, c, tiled=True)
    yield "ppermute", BLOCK, np.float32, lambda b: lax.ppermute(b, axis, [(i, (i + 1) % n) for i in range(n)])


def group_processes(grid, axes):
    """How many processes a group over ``axes`` of the mesh ``grid`` spans."""
    kept = [i for i in range(grid.ndim) if NAMES[i] not in axes]
    owners = np.vectorize(lambda d: d.process_index)(grid)
    rows = np.moveaxis(owners, kept, list(range(len(kept)))).reshape(int(np.prod([grid.shape[i] for i in kept])), -1)
    return len(set(rows[0].tolist()))


results = {}
for shape in SHAPES:
    names = NAMES[:len(shape)]
    orders = {"natural": devices.reshape(shape), "transposed": devices.reshape(shape[::-1]).T,
              "reversed": devices[::-1].reshape(shape)}  # (groups visiting the processes in another order)
    for order, grid in orders.items():
        mesh = Mesh(grid, names)
        overs = list(names) + ([names[:2], names[1:]] if len(names) == 3 else [])
        for over in overs:
            axes = over if isinstance(over, tuple) else (over,)
            n = int(np.prod([mesh.shape[a] for a in axes]))
            spans = group_processes(grid, axes)
            for name, block, dtype, body in cases(over, n):
                key = f"{shape} {order} over {over}: {name}"
                spec = P(names)
                f = jax.shard_map(body, mesh=mesh, in_specs=spec, out_specs=spec)
                del fallbacks[:], comms[:]
                out = f(block_input(block, dtype))
                if spans == 1:
                    assert not comms and not fallbacks, (key, comms, fallbacks)  # no exchange between processes
                else:
                    assert not fallbacks, (key, fallbacks)
                    inline = name == "all_gather small"  # (travels in the header: no communicator)
                    assert name == "ppermute" or set(comms) == (set() if inline else {spans}), (key, comms, spans)
                value = np.asarray(multihost_utils.process_allgather(out) if processes > 1 else out)
                results[key] = hashlib.sha1(f"{value.dtype}{value.shape}".encode() + value.tobytes()).hexdigest()
distributed.allgather_many, distributed._comm = allgather_many, comm_of
jax.distributed.shutdown()
if jax.process_index() == 0:
    print("results " + json.dumps(results), flush=True)
print(f"process {jax.process_index()}: OK", flush=True)
