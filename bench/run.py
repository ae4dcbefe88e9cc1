"""``make bench``: portax backends, NumPy and JAX side by side, in one run.

``python -m bench.run [--quick] [--columns cpu_llvm,wgpu,numpy,jax] [--workloads selu,...] [--out DIR]``

Measurements run in fresh worker processes (``bench.worker``, see ``plan``): portax columns and NumPy
with this python, JAX with ``bench/.venv-jax`` (created on first use). The NumPy worker runs without
``OPENBLAS_CORETYPE``/``OPENBLAS_L2_SIZE`` so OpenBLAS picks its kernel for this CPU (the table says
which). Prints the Markdown table and writes ``results.md``, ``results.json`` and ``bench.log`` (the
workers' stderr) to ``--out`` (default ``bench/``).
"""
from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import shlex
import statistics
import subprocess
import sys
import tempfile
import time
from importlib import metadata
from pathlib import Path

from . import conv_table, jax_env, membw, mpi_scaling, pmap_scaling, report
from .workloads import BY_KEY, SIZES, WORKLOADS, Workload

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_COLUMNS = ("cpu_llvm", "wgpu", "numpy", "jax")
NUMPY_ENV_DROPPED = ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")
TIMEOUT_S = {"full": 1800, "quick": 120}
COMPILE_RUNS = {"full": 3, "quick": 1}  # fresh processes per first-call row
SECTIONS = (conv_table.KEY, pmap_scaling.KEY, mpi_scaling.KEY)  # workloads measured by a module of their own


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


class Runner:
    """Starts worker processes and keeps their stderr in ``bench.log``."""

    def __init__(self, mode: str, out: Path, cache_root: Path):
        self.mode, self.cache_root = mode, cache_root
        self.log = open(out / "bench.log", "w")
        self.unavailable: dict[str, dict] = {}

    def _env(self, column: str) -> dict:
        env = dict(os.environ)
        if column == "numpy":
            for name in NUMPY_ENV_DROPPED:
                env.pop(name, None)
        if column == "jax":
            env["JAX_PLATFORMS"] = "cpu"
        return env

    def worker(self, column: str, keys: list[str], cache: str | None) -> dict[str, dict]:
        """One fresh process measuring ``keys`` on ``column`` (``cache``: a disk-cache folder, or None for
        off); a key the process gave no result for gets the reason."""
        python = str(jax_env.PYTHON) if column == "jax" else sys.executable
        cmd = [python, "-m", "bench.worker", column, *keys, "--mode", self.mode]
        if cache is not None:
            cmd += ["--cache-dir", cache]
        results, missing = self._json_lines(cmd, self._env(column), TIMEOUT_S[self.mode] * len(keys))
        found = {r.pop("workload"): r for r in results if "workload" in r}
        return {k: found.get(k, missing) for k in keys}

    def _module(self, module: str, column: str, args: list[str], env: dict, timeout: float) -> dict:
        """The JSON line ``python -m module column --mode M *args`` printed in a fresh process (for jax: the JAX
        virtualenv's python), or the reason it gave none."""
        python = str(jax_env.PYTHON) if column == "jax" else sys.executable
        results, missing = self._json_lines([python, "-m", module, column, "--mode", self.mode, *args], env, timeout)
        return results[0] if results else missing

    def scaling(self, column: str, devices: int) -> dict:
        """``bench.pmap_scaling`` for ``column`` (a portax backend or jax) in a fresh process."""
        env = {**self._env(column), **pmap_scaling.environment(column, devices)}
        return self._module("bench.pmap_scaling", column, ["--devices", str(devices)], env, TIMEOUT_S[self.mode])

    def processes(self, column: str) -> dict:
        """``bench.mpi_scaling`` for the portax backend ``column``: it starts its own mpirun jobs."""
        return self._module("bench.mpi_scaling", column, [], self._env(column), 4 * TIMEOUT_S[self.mode])

    def conv_shapes(self, column: str) -> dict:
        """``bench.conv_table`` for ``column`` (a portax backend or jax) in a fresh process."""
        return self._module("bench.conv_table", column, [], self._env(column), TIMEOUT_S[self.mode])

    def _json_lines(self, cmd: list[str], env: dict, timeout: float) -> tuple[list[dict], dict]:
        """The JSON objects ``cmd`` printed, and the reason to give for results it did not print."""
        self.log.write(f"\n=== {shlex.join(cmd)}\n")
        self.log.flush()
        try:
            done = subprocess.run(cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=self.log, text=True,
                                  timeout=timeout)
            stdout, missing = done.stdout, {"error": f"the worker exited with status {done.returncode} before giving "
                                                     "a result (its stderr is in bench.log)"}
        except subprocess.TimeoutExpired as e:
            stdout = e.stdout.decode(errors="replace") if isinstance(e.stdout, bytes) else e.stdout or ""
            missing = {"timeout": f"no result within {timeout} s"}
        results = []
        for line in stdout.splitlines():
            try:
                result = json.loads(line)
            except json.JSONDecodeError:
                continue
            if isinstance(result, dict):
                results.append(result)
        return results, missing

    def cells(self, column: str, group: list[Workload]) -> dict[str, dict]:
        """The results of ``group`` on ``column``: several runtime rows share one process; a first-call row
        (always alone in its group) is the median over fresh processes."""
        if column in self.unavailable:
            return {w.key: self.unavailable[column] for w in group}
        warm_cache = str(self.cache_root / column)
        w = group[0]
        if not w.compile_probe:
            results = self.worker(column, [w.key for w in group], warm_cache)
        elif column == "numpy":
            results = {w.key: {"skipped": "NumPy does not compile"}}
        else:
            cache = None if w.key.endswith("_cold") else warm_cache
            if cache is not None:
                self.worker(column, [w.key], cache)  # fills the disk cache; not timed
            runs = [self.worker(column, [w.key], cache)[w.key] for _ in range(COMPILE_RUNS[self.mode])]
            failed = [r for r in runs if "seconds" not in r]
            times = [r.get("seconds") for r in runs]
            merged = {**runs[0], "seconds": statistics.median(times), "samples": times} if not failed else failed[0]
            results = {w.key: merged}
        unavailable = next((r for r in results.values() if "unavailable" in r), None)
        if unavailable is not None:
            self.unavailable[column] = unavailable
        return results


def _git_revision() -> str:
    """The commit the measured code is at (and whether the work tree differs from it)."""
    try:
        head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True,
                              timeout=30).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=ROOT,
                               capture_output=True, text=True, timeout=30).stdout.strip()
    except (OSError, subprocess.TimeoutExpired):
        return "unknown (no git)"
    return f"commit {head}" + (" with uncommitted changes" if dirty else "") if head else "unknown (not a git checkout)"


def machine_info(results: dict) -> dict:
    def first_line(path: str, prefix: str) -> str:
        try:
            with open(path) as f:
                return next((line.split(":", 1)[1].strip() for line in f if line.startswith(prefix)), "?")
        except OSError:
            return "?"

    def version(dist: str) -> str:
        try:
            return metadata.version(dist)
        except metadata.PackageNotFoundError:
            return "not installed"

    jax_missing = "not available" if "jax" in results["columns"] else "not run"
    info = {
        "CPU": f"{first_line('/proc/cpuinfo', 'model name')}, {os.cpu_count()} logical cores",
        "memory": f"{os.sysconf('SC_PAGE_SIZE') * os.sysconf('SC_PHYS_PAGES') / 2**30:.1f} GiB",
        "OS": platform.platform(),
        "Python": platform.python_version(),
        "versions": f"portax {version('portax')}, NumPy {version('numpy')}, llvmlite {version('llvmlite')}, "
                    f"wgpu {version('wgpu')}, JAX {results.get('jax_version') or jax_missing}",
    }
    openblas = [f"{k}={os.environ[k]}" for k in NUMPY_ENV_DROPPED if k in os.environ]
    if openblas:
        info["OpenBLAS environment"] = f"{', '.join(openblas)} (unset for the NumPy column)"
    info["portax source"] = _git_revision()
    blas = next((c["blas"] for row in results["cells"].values() for c in row.values() if "blas" in c), None)
    if blas:
        info["NumPy BLAS"] = blas
    adapter = results["cells"].get("dispatch", {}).get("wgpu", {}).get("adapter")
    if adapter:
        info["wgpu adapter"] = adapter
    info["load average (1 min) at start / end"] = " / ".join(f"{x:.2f}" for x in results["load"])
    return info


def plan(selected: list[Workload], mode: str) -> list[list[Workload]]:
    """Groups of workloads measured by one process per column, in table order: one workload per process
    in a full run (fresh memory, its own time limit); in a quick run the runtime rows share one."""
    runtime = [w for w in selected if not w.compile_probe]
    if mode == "full" or not runtime:
        return [[w] for w in selected]
    return [[w] for w in selected if w.compile_probe] + [runtime]


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m bench.run", description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="small sizes and few repeats: a smoke run under a minute")
    p.add_argument("--columns", default=",".join(DEFAULT_COLUMNS),
                   help="comma-separated: portax backend names, numpy, jax (default: %(default)s)")
    p.add_argument("--workloads", default=",".join([w.key for w in WORKLOADS] + list(SECTIONS)),
                   help="comma-separated workload keys (default: all)")
    p.add_argument("--out", type=Path, default=Path(__file__).resolve().parent,
                   help="folder for results.md, results.json and bench.log (default: bench/)")
    args = p.parse_args(argv)
    args.columns = [c for c in args.columns.split(",") if c]
    args.workloads = [w for w in args.workloads.split(",") if w]
    unknown = [w for w in args.workloads if w not in BY_KEY and w not in SECTIONS]
    if unknown:
        p.error(f"unknown workloads {unknown}; choose from {sorted(BY_KEY) + sorted(SECTIONS)}")
    return args


def main(argv: list[str] | None = None) -> dict:
    args = parse_args(argv)
    mode = "quick" if args.quick else "full"
    args.out.mkdir(parents=True, exist_ok=True)
    results: dict = {"mode": mode, "columns": args.columns, "cells": {}, "load": [os.getloadavg()[0]]}
    command = shlex.join([Path(sys.executable).name, "-m", "bench.run", *(argv if argv is not None else sys.argv[1:])])
    date = datetime.datetime.now().astimezone().isoformat(timespec="seconds")
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="portax-bench-cache-") as cache_root:
        runner = Runner(mode, args.out, Path(cache_root))
        if "jax" in args.columns:
            try:
                results["jax_version"] = jax_env.ensure(log)
            except jax_env.JaxUnavailable as e:
                runner.unavailable["jax"] = {"unavailable": str(e)}
        log("measuring memory bandwidth")
        bandwidths = [membw.measure(mode)]
        results["membw"] = membw.best(bandwidths)
        selected = [w for w in WORKLOADS if w.key in args.workloads]
        cells: dict[str, dict] = {}
        for group in plan(selected, mode):
            for column in args.columns:
                t0 = time.perf_counter()
                for key, cell in runner.cells(column, group).items():
                    cells.setdefault(key, {})[column] = cell
                    w = BY_KEY[key]
                    results["membw"] = membw.best(bandwidths, membw.row_rates(cells, mode, report.label))
                    shown = report.failure(cell) or \
                        f"{report.value_text(w, cell, SIZES[mode], results['membw'])} {w.unit}"
                    log(f"{w.title(SIZES[mode])} | {report.label(column)}: {shown} ({time.perf_counter() - t0:.1f} s)")
        results["cells"] = {w.key: cells[w.key] for w in selected}
        if conv_table.KEY in args.workloads:
            results[conv_table.KEY] = {}
            for column in (c for c in args.columns if c != "numpy" and c not in runner.unavailable):
                log(f"convolution shapes, forward and gradients | {report.label(column)}")
                results[conv_table.KEY][column] = runner.conv_shapes(column)
        if pmap_scaling.KEY in args.workloads:
            results[pmap_scaling.KEY] = scaling = {}
            for column in (c for c in args.columns if c != "numpy" and c not in runner.unavailable):
                log(f"pmap data-parallel step, 1 and 2 devices | {report.label(column)}")
                scaling[column] = runner.scaling(column, 2)
                if column != "jax":
                    scaling[column]["all_cores_one_s"] = runner.scaling(column, 1).get("one_s")
        if mpi_scaling.KEY in args.workloads:
            results[mpi_scaling.KEY] = {}
            for column in (c for c in args.columns if c not in ("numpy", "jax") and c not in runner.unavailable):
                log(f"data-parallel step on 1 and 2 processes, allreduce vs mpi4py | {report.label(column)}")
                results[mpi_scaling.KEY][column] = runner.processes(column)
        runner.log.close()
    log("measuring memory bandwidth again")
    bandwidths.append(membw.measure(mode))
    results["membw"] = membw.best(bandwidths, membw.row_rates(results["cells"], mode, report.label))
    results["load"].append(os.getloadavg()[0])
    results["meta"] = {"command": command, "date": date, "machine": machine_info(results),
                       "wall_s": time.perf_counter() - started}
    text = report.markdown(results)
    print(text)
    (args.out / "results.md").write_text(text)
    (args.out / "results.json").write_text(json.dumps(results, indent=1, default=str) + "\n")
    return results


if __name__ == "__main__":
    main()
