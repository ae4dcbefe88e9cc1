"""Multi-process runs: the scripts in scripts/ started by ``mpirun`` (Open MPI from ``pip install 'portax[mpi]'``)
on cpu_llvm and reference (wgpu where an adapter exists), checked from here through their exit code and output."""
import importlib.util
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from portax.core.backend import device_count_env, registry

SCRIPTS = Path(__file__).parent / "scripts"
MPIRUN = shutil.which("mpirun", path=f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}")

pytestmark = pytest.mark.skipif(
    importlib.util.find_spec("mpi4py") is None or MPIRUN is None,
    reason="multi-process tests need mpi4py and mpirun: pip install '.[mpi]' (or run `make test-mpi`)")
# `make test` runs the quick ones (about a minute); `make test-mpi` sets PORTAX_MPI_TESTS=all for every one.
full = pytest.mark.skipif(os.environ.get("PORTAX_MPI_TESTS") != "all",
                          reason="a longer multi-process test: run by `make test-mpi` (PORTAX_MPI_TESTS=all)")


def mpirun(script: str, processes: int, *args: str, backend: str = "cpu_llvm", devices: int = 1,
           timeout_s: int = 5) -> tuple[subprocess.CompletedProcess, float]:
    """Run ``script`` on ``processes`` processes of ``devices`` devices each; (result, seconds taken)."""
    flags = ["--allow-run-as-root"] if os.geteuid() == 0 else []
    flags += ["--oversubscribe"] if processes > (os.cpu_count() or 1) else []
    env = dict(os.environ, PORTAX_BACKEND=backend, TIMEOUT=str(timeout_s), **{device_count_env(backend): str(devices)})
    start = time.monotonic()
    result = subprocess.run([MPIRUN, *flags, "-n", str(processes), sys.executable, str(SCRIPTS / script), *args],
                            env=env, capture_output=True, text=True, timeout=300)
    return result, time.monotonic() - start


def _backends() -> list:
    found = [b for b in ("cpu_llvm", "reference", "wgpu") if b in registry.names() and registry.available(b)]
    return [pytest.param(b, marks=[pytest.mark.skipif(b not in found, reason=f"backend {b} is not available here")]
                         + ([full] if b != "cpu_llvm" else [])) for b in ("cpu_llvm", "reference", "wgpu")]


@pytest.mark.parametrize("backend", _backends())
def test_collectives_across_two_processes(backend):
    result, _ = mpirun("collectives.py", 2, backend=backend, devices=2)
    assert result.returncode == 0, result.stdout + result.stderr
    assert sorted(result.stdout.split("\n"))[-2:] == ["process 0: OK", "process 1: OK"]


def test_collectives_across_four_processes_oversubscribed():
    result, _ = mpirun("collectives.py", 4)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.count(": OK") == 4


@pytest.mark.parametrize("mode, message", [
    ("raise", "process 1 fails on purpose"),
    pytest.param("die", "exited with non-zero status", marks=full),
    pytest.param("leave", "process 0 waited more than 5 s for the other processes at psum of f32[3] in pmap of "
                 "<lambda>", marks=full),
    pytest.param("diverge", "process 0 is at 'psum of f32[3] in pmap of <lambda>", marks=full),
    pytest.param("diverge_native", "while process 1 is at 'all_gather all_gather_dimension=0 tiled=False of f32[300]",
                 marks=full),
])
def test_a_failing_process_ends_the_run(mode, message):
    result, seconds = mpirun("faults.py", 2, mode)
    output = result.stdout + result.stderr
    assert result.returncode != 0, output
    assert "done" not in result.stdout, output
    assert message in " ".join(output.split()), output
    assert seconds < 60
    if mode == "diverge":
        assert "while process 1 is at 'pmax of f32[3] in pmap of other_program" in output


@pytest.mark.parametrize("backend", _backends())
def test_callbacks_in_jit_run_once_in_the_process_of_the_first_device(backend):
    """A callback in jit over a global array runs in process 0 only, on the global value (sum 276); in a shard_map
    each process runs it for its own devices' blocks."""
    result, _ = mpirun("callbacks.py", 2, backend=backend, devices=2)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "process 0 saw [('jit', 276.0), ('shard_map', 15.0), ('shard_map', 51.0)]" in result.stdout
    assert "process 1 saw [('shard_map', 87.0), ('shard_map', 123.0)]" in result.stdout


def test_misuse_is_a_clear_error():
    result, _ = mpirun("faults.py", 2, "misuse")
    assert result.returncode == 0, result.stdout + result.stderr
    for message in ("error: portax.distributed.initialize() must be called before any collective",
                    "error: distributed.initialize should only be called once.", "done"):
        assert result.stdout.count(message) == 2, result.stdout


def _results(backend: str, processes: int, devices: int, script: str = "global_arrays.py") -> dict:
    result, _ = mpirun(script, processes, backend=backend, devices=devices)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.count(": OK") == processes, result.stdout
    return json.loads(result.stdout.split("results ")[1].split("\n")[0])


@pytest.mark.parametrize("backend", _backends())
def test_global_arrays_over_a_mesh_spanning_processes(backend):
    """shard_map (every collective), jit with shardings, operations outside jit, make_array_from_process_local_data,
    device_put (resharding onto other layouts, device orders and mesh shapes) and process_allgather over a mesh of
    every process's devices: the single-process run's results."""
    one, two = _results(backend, 1, 4), _results(backend, 2, 2)
    assert one.keys() == two.keys() and len(one) > 20
    for name in one:
        np.testing.assert_allclose(two[name], one[name], rtol=1e-5, err_msg=name)


@full
def test_global_arrays_over_four_processes_oversubscribed():
    one, four = _results("cpu_llvm", 1, 4), _results("cpu_llvm", 4, 1)
    for name in one:
        np.testing.assert_allclose(four[name], one[name], rtol=1e-5, err_msg=name)


@pytest.mark.parametrize("backend", _backends())
def test_collectives_over_mesh_axes_and_other_dimensions_across_processes(backend):
    """psum, pmax, pmin, all_gather, psum_scatter, all_to_all and ppermute over one axis of a 2-D mesh whose axes
    span processes or not (device orders: natural, transposed, reversed), along every dimension: bit for bit the
    single-process run's results, by MPI's own collectives on the groups' processes only (checked in the script)."""
    one, two = _results(backend, 1, 4, "mesh_collectives.py"), _results(backend, 2, 2, "mesh_collectives.py")
    assert one.keys() == two.keys() and len(one) == 156
    assert {k for k in one if one[k] != two[k]} == set()


@full
@pytest.mark.parametrize("processes, devices", [(4, 1), (2, 4), (4, 2)])
def test_collectives_over_mesh_axes_on_more_processes_and_devices(processes, devices):
    """As above, also over 3-D meshes and pairs of axes: groups of several devices of a process (combined there
    first), and groups over some of the processes (on communicators split from MPI's world)."""
    one = _results("cpu_llvm", 1, processes * devices, "mesh_collectives.py")
    many = _results("cpu_llvm", processes, devices, "mesh_collectives.py")
    assert one.keys() == many.keys() and len(one) > 100
    assert {k for k in one if one[k] != many[k]} == set()


@pytest.mark.parametrize("backend", _backends())
def test_a_mesh_over_processes_holding_different_numbers_of_devices(backend):
    """Process 0 with 2 devices, process 1 with 1: collectives, jit, eager operations, resharding and global arrays
    over the 3 devices give numpy's results (checked in the script)."""
    result, _ = mpirun("uneven_devices.py", 2, "--devices", "2,1", backend=backend)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.count(": OK") == 2, result.stdout


@full
def test_a_mesh_over_four_processes_holding_different_numbers_of_devices():
    result, _ = mpirun("uneven_devices.py", 4, "--devices", "2,1")
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.count(": OK") == 4, result.stdout


@full
@pytest.mark.parametrize("mode", [[], ["--shard-map"]], ids=["pmap", "shard_map"])
def test_example_trains_the_same_on_one_and_two_processes(mode):
    example = str(Path(__file__).parents[2] / "examples" / "multiprocess_train.py")
    losses = []
    for n in (1, 2):
        result, _ = mpirun(example, n, "--steps", "3", "--batch", "256", *mode)
        assert result.returncode == 0, result.stdout + result.stderr
        losses.append(result.stdout.split("loss ")[1].split(",")[0])
    assert losses[0] == losses[1]


def test_conformance_certifies_collectives_across_processes():
    result = subprocess.run([sys.executable, "-m", "portax.conformance", "--backend", "cpu_llvm", "--groups",
                             "processes", "--processes", "2", "--devices", "2"], capture_output=True, text=True,
                            timeout=600)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "portax conformance [cpu_llvm]: PASSED: 13 pass" in result.stdout, result.stdout


def test_a_process_job_that_cannot_start_is_a_failed_cell():
    from portax.conformance import process_checks
    cells = list(process_checks.run("no_such_backend", 2))
    assert [(c.name, c.status) for c in cells] == [("mpirun job", "fail")]
    assert "mpirun exited with status" in cells[0].message and "no_such_backend" in cells[0].message
