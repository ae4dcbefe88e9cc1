"""``make bench``: portax backends, NumPy and JAX side by side, in one run.

``python -m bench.run [--quick] [--columns cpu_llvm,wgpu,numpy,jax] [--workloads selu,...] [--out DIR]``

Every measurement runs in a fresh worker process (``bench.worker``): portax columns and NumPy with this
python, JAX with ``bench/.venv-jax`` (created on first use). The NumPy worker runs without
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

from . import jax_env, membw, report
from .workloads import BY_KEY, SIZES, WORKLOADS, Workload

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_COLUMNS = ("cpu_llvm", "wgpu", "numpy", "jax")
NUMPY_ENV_DROPPED = ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")
TIMEOUT_S = {"full": 1800, "quick": 120}
COMPILE_RUNS = {"full": 3, "quick": 1}  # fresh processes per first-call row


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

    def worker(self, column: str, key: str, cache: str | None) -> dict:
        """One fresh process measuring ``key`` on ``column``; ``cache`` is a disk-cache folder or None (off)."""
        python = str(jax_env.PYTHON) if column == "jax" else sys.executable
        cmd = [python, "-m", "bench.worker", column, key, "--mode", self.mode]
        if cache is not None:
            cmd += ["--cache-dir", cache]
        self.log.write(f"\n=== {shlex.join(cmd)}\n")
        self.log.flush()
        try:
            done = subprocess.run(cmd, cwd=ROOT, env=self._env(column), stdout=subprocess.PIPE, stderr=self.log,
                                  text=True, timeout=TIMEOUT_S[self.mode])
        except subprocess.TimeoutExpired:
            return {"timeout": f"no result within {TIMEOUT_S[self.mode]} s"}
        lines = done.stdout.strip().splitlines()
        try:
            return json.loads(lines[-1])
        except (IndexError, json.JSONDecodeError):
            return {"error": f"worker exited with status {done.returncode} without a result (see bench.log)"}

    def cell(self, column: str, w: Workload) -> dict:
        """The measurement of workload ``w`` on ``column`` (first-call rows: median over fresh processes)."""
        if column in self.unavailable:
            return self.unavailable[column]
        if w.compile_probe and column == "numpy":
            return {"skipped": "NumPy does not compile"}
        warm_cache = str(self.cache_root / column)
        if not w.compile_probe:
            result = self.worker(column, w.key, warm_cache)
        else:
            cache = None if w.key.endswith("_cold") else warm_cache
            if cache is not None:
                self.worker(column, w.key, cache)  # fills the disk cache; not timed
            runs = [self.worker(column, w.key, cache) for _ in range(COMPILE_RUNS[self.mode])]
            failed = [r for r in runs if "seconds" not in r]
            result = failed[0] if failed else {**runs[0], "seconds": statistics.median(r["seconds"] for r in runs),
                                               "samples": [r["seconds"] for r in runs]}
        if "unavailable" in result:
            self.unavailable[column] = result
        return result


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

    info = {
        "CPU": f"{first_line('/proc/cpuinfo', 'model name')}, {os.cpu_count()} logical cores",
        "memory": f"{os.sysconf('SC_PAGE_SIZE') * os.sysconf('SC_PHYS_PAGES') / 2**30:.1f} GiB",
        "OS": platform.platform(),
        "Python": platform.python_version(),
        "versions": f"portax {version('portax')}, NumPy {version('numpy')}, llvmlite {version('llvmlite')}, "
                    f"wgpu {version('wgpu')}, JAX {results.get('jax_version') or 'not available'}",
        "OpenBLAS environment": (", ".join(f"{k}={os.environ[k]}" for k in NUMPY_ENV_DROPPED if k in os.environ)
                                 + " (unset for the NumPy column)") if any(k in os.environ for k in NUMPY_ENV_DROPPED)
                                else "none",
    }
    blas = next((c["blas"] for row in results["cells"].values() for c in row.values() if "blas" in c), None)
    if blas:
        info["NumPy BLAS"] = blas
    adapter = results["cells"].get("dispatch", {}).get("wgpu", {}).get("adapter")
    if adapter:
        info["wgpu adapter"] = adapter
    info["load average (1 min) at start / end"] = " / ".join(f"{x:.2f}" for x in results["load"])
    return info


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m bench.run", description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="small sizes and few repeats: a smoke run under a minute")
    p.add_argument("--columns", default=",".join(DEFAULT_COLUMNS),
                   help="comma-separated: portax backend names, numpy, jax (default: %(default)s)")
    p.add_argument("--workloads", default=",".join(w.key for w in WORKLOADS),
                   help="comma-separated workload keys (default: all)")
    p.add_argument("--out", type=Path, default=Path(__file__).resolve().parent,
                   help="folder for results.md, results.json and bench.log (default: bench/)")
    args = p.parse_args(argv)
    args.columns = [c for c in args.columns.split(",") if c]
    args.workloads = [w for w in args.workloads.split(",") if w]
    unknown = [w for w in args.workloads if w not in BY_KEY]
    if unknown:
        p.error(f"unknown workloads {unknown}; choose from {sorted(BY_KEY)}")
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
        bandwidths = [membw.measure(SIZES[mode].membw_bytes)]
        results["membw"] = membw.best(bandwidths)
        for w in WORKLOADS:
            if w.key not in args.workloads:
                continue
            for column in args.columns:
                t0 = time.perf_counter()
                cell = results["cells"].setdefault(w.key, {})[column] = runner.cell(column, w)
                shown = report.failure(cell) or f"{report.value_text(w, cell, SIZES[mode], results['membw'])} {w.unit}"
                log(f"{w.title(SIZES[mode])} | {report.label(column)}: {shown} ({time.perf_counter() - t0:.1f} s)")
        runner.log.close()
    log("measuring memory bandwidth again")
    results["membw"] = membw.best(bandwidths + [membw.measure(SIZES[mode].membw_bytes)])
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
