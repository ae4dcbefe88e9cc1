"""``make jax-tests``: JAX's own test files (tests/ at tag jax-v<version>) run against portax, next to real jax's
counts on the same files and machine.

Steps: (1) a venv ``.venv-jaxtests`` with jax/jaxlib of that version for the test HARNESS only, plus portax
(editable); (2) JAX's tests/ extracted into ``.jax-tests/src-<tag>`` from ``JAX_SRC`` (a jax git dir) or
downloaded from GitHub; (3) each file run by pytest in its own process with ``-p jax_redirect_plugin`` (public jax
imports -> portax; harness patches in jax_redirect_plugin.py), and once with real jax (the baseline, cached per jax
version in ``.jax-tests/baseline-...``); (4) the per-file table and the failure causes printed and written to
``.jax-tests/report.md`` (and report.json). Standard library only: runs with any python3.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tarfile
import time
import urllib.error
import urllib.request
from pathlib import Path

import jax_report as report

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
JAX_VERSION = os.environ.get("JAX_VERSION", "0.10.2")
TAG = f"jax-v{JAX_VERSION}"
FILES = ("lax_numpy_operators_test lax_numpy_reducers_test lax_numpy_test lax_numpy_indexing_test lax_test "
         "lax_autodiff_test lax_control_flow_test lax_vmap_test batching_test api_test nn_test random_test "
         "tree_util_test linalg_test fft_test generated_fun_test").split()
REQUIREMENTS = [f"jax=={JAX_VERSION}", f"jaxlib=={JAX_VERSION}", "absl-py", "pytest", "pytest-xdist",
                "pytest-timeout", "numpy", "scipy", "hypothesis", "mpmath"]


def log(msg: str) -> None:
    print(f"[jax-tests {time.strftime('%H:%M:%S')}] {msg}", flush=True)


def ensure_venv(venv: Path) -> Path:
    """The harness venv: jax for the test utilities, portax and its reference plugin from this checkout."""
    python = venv / "bin" / "python"
    marker = venv / ".jax-tests-installed"
    wanted = " ".join(REQUIREMENTS)
    if marker.exists() and marker.read_text() == wanted:
        return python
    if not python.exists():
        log(f"creating {venv}")
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    log(f"installing {wanted} and portax (editable) into {venv}")
    subprocess.run([str(python), "-m", "pip", "install", "-q", *REQUIREMENTS,
                    "-e", str(ROOT), "-e", str(ROOT / "plugins" / "reference")], check=True)
    marker.write_text(wanted)
    return python


def ensure_sources(cache: Path) -> Path:
    """JAX's tests/ at TAG, from ``JAX_SRC`` (git dir) or GitHub's tarball; never copied into the repository."""
    dest = cache / f"src-{TAG}"
    tests = dest / "tests"
    if tests.is_dir():
        return tests
    tmp = cache / f"src-{TAG}.partial"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    src = os.environ.get("JAX_SRC")
    if src:
        log(f"extracting tests/ of {TAG} from {src}")
        archive = subprocess.run(["git", "-C", src, "archive", "--format=tar", "--prefix=tests/", f"{TAG}:tests"],
                                 capture_output=True, check=False)
        if archive.returncode:
            sys.exit(f"jax-tests: `git -C {src} archive {TAG}:tests` failed: {archive.stderr.decode().strip()}")
        subprocess.run(["tar", "x", "-C", str(tmp)], input=archive.stdout, check=True)
    else:
        url = f"https://github.com/jax-ml/jax/archive/refs/tags/{TAG}.tar.gz"
        tarball = cache / f"{TAG}.tar.gz"
        if not tarball.exists():
            log(f"downloading {url}")
            try:
                with urllib.request.urlopen(url, timeout=60) as r, open(tarball.with_suffix(".part"), "wb") as f:
                    shutil.copyfileobj(r, f)
            except (urllib.error.URLError, OSError) as e:
                sys.exit(f"jax-tests: cannot download {url} ({e}).\nOffline? Set JAX_SRC=/path/to/jax/git "
                         f"(a clone or bare git dir of jax-ml/jax that has tag {TAG}).")
            tarball.with_suffix(".part").rename(tarball)
        prefix = f"jax-{TAG}/tests/"
        with tarfile.open(tarball) as tar:
            members = [m for m in tar.getmembers() if m.name.startswith(prefix)]
            for m in members:
                m.name = "tests/" + m.name[len(prefix):]
            tar.extractall(tmp, members=members, filter="data")
    shutil.rmtree(dest, ignore_errors=True)
    tmp.rename(dest)
    return tests


def run_file(python: Path, tests: Path, name: str, xml: Path, redirect: bool, args) -> report.FileResult:
    """One test file in its own pytest process (a crash loses that file only)."""
    xml.parent.mkdir(parents=True, exist_ok=True)
    xml.unlink(missing_ok=True)
    cmd = [str(python), "-m", "pytest", "-c", str(HERE / "jax_pytest.ini"), f"--rootdir={tests}", "-q",
           "-p", "no:portax_conformance", f"--junitxml={xml}", f"--timeout={args.timeout}", f"{name}.py"]
    if redirect:
        cmd[3:3] = ["-p", "jax_redirect_plugin"]
    if args.jobs > 1:
        cmd += ["-n", str(args.jobs)]
    if args.k:
        cmd += ["-k", args.k]
    env = dict(os.environ, PYTHONPATH=str(HERE), PORTAX_JAX_TESTS_DIR=str(tests), JAX_PLATFORMS="cpu")
    logfile = xml.with_suffix(".log")
    start = time.time()
    with open(logfile, "w") as out:
        proc = subprocess.run(cmd, cwd=tests, env=env, stdout=out, stderr=subprocess.STDOUT)
    tail = logfile.read_text(errors="replace").strip().splitlines()[-1:] or [""]
    log(f"{'portax' if redirect else 'jax'} {name}: {tail[0]} ({time.time() - start:.0f}s, log {logfile})")
    if not xml.exists():
        return report.FileResult(crash=f"pytest exited with {proc.returncode} before writing results: {tail[0]}")
    return report.parse_junit(xml)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--files", default=os.environ.get("FILES", ""), help="space-separated subset of: "
                        + " ".join(FILES))
    parser.add_argument("--jobs", type=int, default=int(os.environ.get("JOBS", "1")), help="pytest-xdist workers")
    parser.add_argument("--timeout", type=int, default=int(os.environ.get("TIMEOUT", "300")),
                        help="seconds per test (pytest-timeout)")
    parser.add_argument("-k", default=os.environ.get("K", ""), help="pytest -k filter (baseline not cached then)")
    parser.add_argument("--no-baseline", action="store_true", help="skip real jax's run (use the cache if any)")
    parser.add_argument("--top", type=int, default=40, help="failure causes listed")
    args = parser.parse_args()
    files = args.files.split() or list(FILES)
    unknown = [f for f in files if f.removesuffix(".py") not in FILES]
    if unknown:
        log(f"note: not among the files the suite covers: {unknown}")
    files = [f.removesuffix(".py") for f in files]

    cache = Path(os.environ.get("PORTAX_JAX_TESTS_CACHE", ROOT / ".jax-tests"))
    cache.mkdir(parents=True, exist_ok=True)
    python = ensure_venv(Path(os.environ.get("PORTAX_JAX_TESTS_VENV", ROOT / ".venv-jaxtests")))
    tests = ensure_sources(cache)
    backend = os.environ.get("PORTAX_BACKEND") or subprocess.run(
        [str(python), "-W", "ignore", "-c", "import portax; print(portax.default_backend())"],
        capture_output=True, text=True, check=True).stdout.strip()
    cases = os.environ.get("JAX_NUM_GENERATED_CASES", "default")
    base_dir = cache / f"baseline-jax-{JAX_VERSION}-cases-{cases}"
    if args.k:
        base_dir = cache / "baseline-filtered"
        shutil.rmtree(base_dir, ignore_errors=True)

    header = (f"# JAX {JAX_VERSION}'s own tests on portax (backend {backend})\n\n"
              f"JAX_NUM_GENERATED_CASES={cases}; JAX's counts from real jax {JAX_VERSION} (CPU) on the same machine, "
              f"same files and pytest options.")
    results, baseline = {}, {}
    for name in files:
        results[name] = run_file(python, tests, name, cache / f"portax-{backend}" / f"{name}.xml", True, args)
        xml = base_dir / f"{name}.xml"
        if xml.exists():
            baseline[name] = report.parse_junit(xml)
        elif not args.no_baseline:
            baseline[name] = run_file(python, tests, name, xml, False, args)
        text = write_report(cache, results, baseline, header, backend, args.top)  # after each file: partial runs too
    print(text)
    log(f"report written to {cache / 'report.md'}")


def write_report(cache: Path, results: dict, baseline: dict, header: str, backend: str, top: int) -> str:
    text, ratio = report.render(results, baseline, header, top=top)
    (cache / "report.md").write_text(text)
    (cache / "report.json").write_text(json.dumps({
        "backend": backend, "ratio": ratio,
        "files": {n: {"passed": sorted(r.passed), "failed": r.failed, "skipped": sorted(r.skipped),
                      "crash": r.crash} for n, r in results.items()}}, indent=1))
    return text


if __name__ == "__main__":
    main()
