"""Checks across processes (``--processes N``): the suite starts itself under ``mpirun -n N``; every process
joins with ``distributed.initialize()``, runs pmap and each collective over every device of every process
(passing its own rows, as JAX's multi-process pmap does) and ``multihost_utils``, and writes its cells to a
file the launching process merges: a cell passes when it passes in every process."""
from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Callable, Iterator

import numpy as np

from .pmap_checks import AXIS, CASES, TOLERANCE
from .report import FAIL, PASS, SKIP, STATUSES, UNSUPPORTED, Cell
from .tolerances import compare

GROUP = "processes"
TIMEOUT_S = 600


def mpirun() -> str | None:
    """The ``mpirun`` next to this Python (``pip install 'portax[mpi]'``) or on PATH."""
    return shutil.which("mpirun", path=f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}")


def missing_requirement() -> str | None:
    """Why ``--processes`` cannot run here, or None."""
    import importlib.util
    if importlib.util.find_spec("mpi4py") is None or mpirun() is None:
        return "--processes needs mpi4py and mpirun: pip install 'portax[mpi]' (mpi4py and Open MPI's wheel)"
    return None


def run(backend_name: str, processes: int | None) -> Iterator[Cell]:
    """The cells of the group: one SKIP cell without ``--processes``, else the merged cells of an mpirun job."""
    if not processes:
        yield Cell(GROUP, "pmap across processes", "f32", "-", SKIP,
                   "pass --processes N to run pmap and every collective across N processes under mpirun")
        return
    with tempfile.TemporaryDirectory(prefix="portax-conformance-") as out:
        flags = ["--allow-run-as-root"] if os.geteuid() == 0 else []
        flags += ["--oversubscribe"] if processes > (os.cpu_count() or 1) else []
        cmd = [mpirun(), *flags, "-n", str(processes), sys.executable, "-m", __name__, backend_name, out]
        env = dict(os.environ, PORTAX_BACKEND=backend_name)
        try:
            job = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=TIMEOUT_S)
        except subprocess.TimeoutExpired:
            yield _job_failure(processes, f"mpirun did not finish within {TIMEOUT_S} s")
            return
        per_process = [_read(Path(out) / f"{p}.json") for p in range(processes)]
    if job.returncode != 0 or any(cells is None for cells in per_process):
        yield _job_failure(processes, f"mpirun exited with status {job.returncode}: {_reason(job.stdout + job.stderr)}")
        return
    yield from merge(per_process)


def _job_failure(processes: int, message: str) -> Cell:
    return Cell(GROUP, "mpirun job", "-", f"{processes} processes", FAIL, message)


def _reason(output: str) -> str:
    """The first Python exception a process printed, else the output's last lines (mpirun's own report)."""
    errors = [line for line in output.splitlines() if re.match(r"[\w.]+(Error|Exception|Exit)\b", line)]
    return errors[0] if errors else " | ".join(output.strip().splitlines()[-6:])


def _read(path: Path) -> list[Cell] | None:
    return [Cell(**c) for c in json.loads(path.read_text())] if path.exists() else None


def merge(per_process: list[list[Cell]]) -> Iterator[Cell]:
    """One cell per check: the worst status over the processes, with the failing processes' messages."""
    for same in zip(*per_process):
        worst = max(same, key=lambda c: (c.status == FAIL, STATUSES.index(c.status)))
        notes = [f"process {p}: {c.message}" for p, c in enumerate(same) if c.status == worst.status and c.message]
        yield Cell(worst.group, worst.name, worst.dtype, worst.transform, worst.status, "; ".join(notes[:3]),
                   worst.cases)


def checks() -> Iterator[tuple[str, Callable[[], None]]]:
    """(name, check) pairs run in every process; a check raises AssertionError on a wrong answer."""
    import portax
    from portax.experimental import multihost_utils
    P, p, L = portax.process_count(), portax.process_index(), portax.local_device_count()
    n = P * L
    rng = np.random.RandomState(0)  # the same operands in every process: each passes its own rows

    def pmap_case(make_fn: Callable, shape_of: Callable, expected: Callable) -> Callable[[], None]:
        every = rng.uniform(-1, 1, size=(n,) + shape_of(n)).astype(np.float32)

        def check() -> None:
            got = np.asarray(portax.pmap(make_fn(n), axis_name=AXIS)(every[p * L:(p + 1) * L]))
            mismatch = compare(got, np.asarray(expected(every))[p * L:(p + 1) * L], TOLERANCE)
            assert mismatch is None, mismatch
        return check

    for name, case in CASES.items():
        yield name, pmap_case(*case)

    def allgather() -> None:
        got = multihost_utils.process_allgather(np.array([p, 10 * p], np.int32))
        np.testing.assert_array_equal(got, [[q, 10 * q] for q in range(P)])

    def broadcast() -> None:
        got = multihost_utils.broadcast_one_to_all(np.float32(p + 3), is_source=p == P - 1)
        np.testing.assert_array_equal(got, np.float32(P + 2))

    def sync() -> None:
        multihost_utils.sync_global_devices("portax conformance")
    yield "process_allgather", allgather
    yield "broadcast_one_to_all", broadcast
    yield "sync_global_devices", sync


def child(out: str) -> None:
    """One process of the mpirun job: join, run every check, write this process's cells."""
    import portax
    portax.distributed.initialize()
    P, p = portax.process_count(), portax.process_index()
    transform = f"{P} processes x {portax.local_device_count()} devices"
    cells = []
    for name, check in checks():
        try:
            check()
            cells.append(Cell(GROUP, name, "f32", transform, PASS, "", 1))
        except NotImplementedError as e:
            cells.append(Cell(GROUP, name, "f32", transform, UNSUPPORTED, str(e), 1))
        except Exception as e:  # one failing check must not end the job: the others still report
            cells.append(Cell(GROUP, name, "f32", transform, FAIL, f"{type(e).__name__}: {e}", 1))
    Path(out, f"{p}.json").write_text(json.dumps([c.__dict__ for c in cells]))
    portax.distributed.shutdown()


if __name__ == "__main__":
    child(sys.argv[2])
