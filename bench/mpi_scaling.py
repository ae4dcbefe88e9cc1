"""Several processes over MPI: a data-parallel MLP training step on 2 processes (one core each) against 1
process on one core, and allreduce latency and bandwidth (4 B to 64 MB) of portax's ``psum`` across 2
processes against raw mpi4py ``Allreduce`` on the same buffers.

``python -m bench.mpi_scaling BACKEND [--mode M]`` starts the ``mpirun`` jobs (``--bind-to core``: every
process on its own core), checks the results against NumPy and prints one JSON line: ``one_s``/``two_s``
(seconds per step, medians), ``ratio`` (examples/s on 2 processes over 1; target 1.7x) and ``allreduce``
(per size: ``portax_s``, ``mpi_s`` and ``ratio`` = mpi4py's time over portax's, target 0.9x; ``shard_map_s``:
the psum in a jitted shard_map over a mesh of every process's device, one call per psum; ``loop_s``: one psum
of a ``fori_loop`` of ``loop_iterations`` psums inside one such call, the call's time over the iterations).
Needs ``pip install 'portax[mpi]'``.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from .pmap_scaling import PER_DEVICE_BATCH, REPEATS, check_step, data_parallel_step, expected_step
from .workloads import SIZES, mlp_batch, mlp_params

KEY = "mpi_scaling"
ALLREDUCE_BYTES = {"full": (4, 64, 1024, 16 << 10, 256 << 10, 4 << 20, 64 << 20), "quick": (4, 1024, 256 << 10)}
ALLREDUCE_SECONDS = {"full": 0.5, "quick": 0.05}  # time spent per size and side, at least 5 calls


def loop_iterations(nbytes: int) -> int:
    """How many psums the timed fori_loop holds: 200 for small buffers, down to 4 (16 MiB moved per call)."""
    return max(4, min(200, (16 << 20) // nbytes))


def _mpirun(processes: int, *args: str, backend: str) -> dict:
    """Run ``python -m bench.mpi_scaling --worker ...`` under mpirun; the JSON line process 0 prints."""
    runner = shutil.which("mpirun", path=f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}")
    if runner is None:
        raise RuntimeError("mpirun not found: pip install 'portax[mpi]'")
    flags = (["--allow-run-as-root"] if os.geteuid() == 0 else []) + ["--bind-to", "core"]
    env = dict(os.environ, PORTAX_BACKEND=backend, PORTAX_CPU_DEVICES="1", PORTAX_WGPU_DEVICES="1",
               PORTAX_REFERENCE_DEVICES="1")
    done = subprocess.run([runner, *flags, "-n", str(processes), sys.executable, "-m", "bench.mpi_scaling",
                           "--worker", *args], env=env, capture_output=True, text=True, timeout=1800,
                          cwd=Path(__file__).resolve().parent.parent)
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    if done.returncode != 0 or not lines:
        raise RuntimeError(f"mpirun -n {processes} failed ({done.returncode}): {done.stderr.strip()[-600:]}")
    return json.loads(lines[-1])


def train_worker(mode: str) -> dict:
    """Seconds per data-parallel step of this job (one device per process, its own shard of the batch)."""
    import portax as jax
    from portax.experimental import multihost_utils
    jax.distributed.initialize()
    P, p = jax.process_count(), jax.process_index()
    sizes, per = SIZES[mode], PER_DEVICE_BATCH[mode]
    x, y = mlp_batch(sizes, P * per)
    xs, ys = x.reshape(P, 1, per, -1), y.reshape(P, 1, per, -1)
    step = jax.pmap(data_parallel_step(jax), axis_name="batch")
    params = [(w[None], b[None]) for w, b in mlp_params(sizes)]
    out = jax.block_until_ready(step(params, xs[p], ys[p]))
    check_step(out, expected_step(sizes, x, y), 1)
    samples, calls = REPEATS[mode]
    times = []
    for _ in range(samples):
        multihost_utils.sync_global_devices("sample")
        start = time.perf_counter()
        state = params
        for _ in range(calls):
            state = step(state, xs[p], ys[p])
        jax.block_until_ready(state)
        times.append((time.perf_counter() - start) / calls)
    return {"seconds": statistics.median(times), "processes": P, "per_process_batch": per}


def _timed(call, budget_s: float, comm) -> float:
    """Median seconds of ``call()`` (a collective) over at least 5 calls and about ``budget_s``: the count
    comes from a warm-up call and is agreed by every process, which must make the same calls."""
    start = time.perf_counter()
    call()
    from mpi4py import MPI
    count = comm.allreduce(max(5, int(budget_s / max(time.perf_counter() - start, 1e-7))), op=MPI.MAX)
    times = []
    for _ in range(count):
        start = time.perf_counter()
        call()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def allreduce_worker(mode: str) -> dict:
    """portax psum (pmap over every process's device; and in a jitted shard_map over a mesh of them, on a
    global array) against mpi4py Allreduce, per buffer size."""
    import portax as jax
    from mpi4py import MPI
    from portax.sharding import Mesh, NamedSharding, PartitionSpec
    jax.distributed.initialize()
    comm, p, P = MPI.COMM_WORLD, jax.process_index(), jax.process_count()
    psum = jax.pmap(lambda v: jax.lax.psum(v, "i"), axis_name="i")
    mesh = Mesh(np.array(jax.devices()), ("i",))
    mapped = jax.jit(jax.shard_map(lambda v: jax.lax.psum(v, "i"), mesh=mesh, in_specs=PartitionSpec("i"),
                                   out_specs=PartitionSpec()))

    def looped(k: int):  # k psums in one compiled program (halved: the values stay the same on 2 processes)
        body = lambda v: jax.lax.fori_loop(0, k, lambda _, acc: jax.lax.psum(acc, "i") * 0.5, v)
        return jax.jit(jax.shard_map(body, mesh=mesh, in_specs=PartitionSpec("i"), out_specs=PartitionSpec("i")))
    rows = []
    for nbytes in ALLREDUCE_BYTES[mode]:
        n = nbytes // 4
        mine = np.arange(n, dtype=np.float32) % 7 + p
        want = sum(np.arange(n, dtype=np.float32) % 7 + q for q in range(P))
        got = np.asarray(psum(mine[None]))[0]
        np.testing.assert_allclose(got, want)
        out = np.empty_like(mine)
        mpi_s = _timed(lambda: comm.Allreduce(mine, out, op=MPI.SUM), ALLREDUCE_SECONDS[mode], comm)
        x = jax.device_put(mine[None])
        portax_s = _timed(lambda: jax.block_until_ready(psum(x)), ALLREDUCE_SECONDS[mode], comm)
        g = jax.make_array_from_process_local_data(NamedSharding(mesh, PartitionSpec("i")), mine[None])
        np.testing.assert_allclose(np.asarray(mapped(g).addressable_shards[0].data)[0], want)
        shard_map_s = _timed(lambda: jax.block_until_ready(mapped(g)), ALLREDUCE_SECONDS[mode], comm)
        k = loop_iterations(nbytes)
        loop = looped(k)
        np.testing.assert_allclose(np.asarray(loop(g).addressable_shards[0].data)[0], want * 0.5 * (P / 2) ** (k - 1))
        loop_s = _timed(lambda: jax.block_until_ready(loop(g)), ALLREDUCE_SECONDS[mode], comm) / k
        # every process times its own calls: process 0's medians are the job's (the calls are collective)
        rows.append({"bytes": nbytes, "portax_s": portax_s, "mpi_s": mpi_s, "ratio": mpi_s / portax_s,
                     "shard_map_s": shard_map_s, "loop_s": loop_s, "loop_iterations": k})
    return {"allreduce": rows}


def measure(backend: str, mode: str) -> dict:
    one = _mpirun(1, "train", mode, backend=backend)
    two = _mpirun(2, "train", mode, backend=backend)
    result = {"framework": backend, "per_process_batch": one["per_process_batch"], "one_s": one["seconds"],
              "two_s": two["seconds"], "ratio": 2 * one["seconds"] / two["seconds"]}
    result.update(_mpirun(2, "allreduce", mode, backend=backend))
    return result


def main(argv: list[str] | None = None) -> None:
    args = sys.argv[1:] if argv is None else argv
    if args[:1] == ["--worker"]:
        kind, mode = args[1], args[2]
        result = (train_worker if kind == "train" else allreduce_worker)(mode)
        import portax
        if portax.process_index() == 0:
            print(json.dumps(result), flush=True)
        portax.distributed.shutdown()
        return
    p = argparse.ArgumentParser(prog="python -m bench.mpi_scaling", description=__doc__.splitlines()[0])
    p.add_argument("backend", help="a portax backend name")
    p.add_argument("--mode", choices=sorted(SIZES), default="full")
    parsed = p.parse_args(args)
    print(json.dumps(measure(parsed.backend, parsed.mode)))


if __name__ == "__main__":
    main()
