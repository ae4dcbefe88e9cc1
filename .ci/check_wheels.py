"""What a pip user gets: build the sdists and wheels (portax, portax-reference, portax-activations), install
them into a fresh venv and, from a folder outside the checkout, import every module, run `python -m portax`,
the demo and a short conformance run, check that the CLI refuses bad input, and run the shipped CI templates
(.github/workflows of plugins/reference and plugins/activations) on copies of those plugins and on the
minimal backend written in the plugin guide.

Usage: python .ci/check_wheels.py   (from the repository root; `make test` runs it)
"""
from __future__ import annotations

import glob
import os
import pathlib
import shutil
import subprocess
import sys
import tempfile

ROOT = pathlib.Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests" / "docs"))
import doc_blocks  # noqa: E402


def run(*cmd, cwd=None, env=None, expect=0, capture=False) -> subprocess.CompletedProcess:
    print("+", " ".join(map(str, cmd)), flush=True)
    proc = subprocess.run([str(c) for c in cmd], cwd=cwd, env=env, text=True,
                          capture_output=capture, timeout=1800)
    if proc.returncode != expect:
        out = (proc.stdout or "") + (proc.stderr or "") if capture else ""
        sys.exit(f"check_wheels: {' '.join(map(str, cmd))} exited {proc.returncode}, expected {expect}\n{out}")
    return proc


def main() -> None:
    work = pathlib.Path(tempfile.mkdtemp(prefix="portax-wheels-"))
    try:
        dist = work / "dist"
        for project in (ROOT, ROOT / "plugins/reference", ROOT / "plugins/activations"):
            # sdist first, then the wheel built from the unpacked sdist: both must be complete
            run(sys.executable, "-m", "build", "-q", "-o", dist, project, capture=True)
        wheels = {w.name.split("-")[0]: w for w in dist.glob("*.whl")}
        print("built:", ", ".join(sorted(p.name for p in dist.iterdir())))
        venv = work / "venv"
        run(getattr(sys, "_base_executable", sys.executable), "-m", "venv", venv)
        py = venv / "bin" / "python"
        run(py, "-m", "pip", "install", "-q", wheels["portax"], wheels["portax_reference"], "pytest", capture=True)
        outside = work / "elsewhere"
        outside.mkdir()
        env = {k: v for k, v in os.environ.items() if not k.startswith(("PORTAX_", "PYTHONPATH"))}
        run(py, ROOT / ".ci/import_everything.py", cwd=outside, env=env)
        info = run(py, "-m", "portax", cwd=outside, env=env, capture=True).stdout
        print(info)
        for backend in ("cpu_llvm", "reference") + (("wgpu",) if _has_adapter(py, outside, env) else ()):
            if f" {backend}  (priority" not in info or "smoke check: ok" not in info.split(f" {backend}  (")[1]:
                sys.exit(f"check_wheels: `python -m portax` does not show a working {backend} backend")
        run(py, ROOT / "examples/mlp_demo.py", cwd=outside, env=env)
        run(py, "-m", "portax.conformance", "--all-available", "--groups", "primitives", "bad-input",
            "--primitives", "add", "sin", "reduce_sum", "--dtypes", "f32", "i32", "-q", cwd=outside, env=env)
        for bad in (["--dtypes", "f33"], ["--dtypes", "float4_e2m1fn"], ["--backend", "nonexistent"]):
            err = run(py, "-m", "portax.conformance", *bad, cwd=outside, env=env, expect=2, capture=True).stderr
            print(f"  {' '.join(bad)} -> exit 2: {err.strip()}")
        for other in ("python3.10", "python3.12"):  # the other Pythons the wheels claim, where this machine has them
            _check_other_python(other, wheels, work, outside, env)
        backend_template = ROOT / "plugins/reference/.github/workflows/conformance.yml"
        minimal = work / "minimal-backend"  # the backend of the plugin guide, from its `# file:` blocks
        print("the guide's minimal backend:", doc_blocks.write_files(ROOT / "plugins/README.md", minimal))
        version = {"python-version": f"{sys.version_info.major}.{sys.version_info.minor}"}
        _run_template(backend_template, ROOT / "plugins/reference", version, {}, wheels, work, env)
        _run_template(backend_template, minimal, version, {"BACKEND": "minimal"}, wheels, work, env)
        gpu = "wgpu" if _has_adapter(py, outside, env) else "cpu_llvm"  # the matrix entry with the apt step
        _run_template(ROOT / "plugins/activations/.github/workflows/conformance.yml", ROOT / "plugins/activations",
                      {**version, "backend": gpu}, {}, wheels, work, env)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print("check_wheels: the built wheels install and work from outside the checkout")


def _has_adapter(py, cwd, env) -> bool:
    probe = "import sys, wgpu; sys.exit(0 if wgpu.gpu.enumerate_adapters_sync() else 1)"
    return subprocess.run([str(py), "-c", probe], cwd=cwd, env=env, capture_output=True).returncode == 0


def _check_other_python(python: str, wheels: dict, work: pathlib.Path, outside: pathlib.Path, env: dict) -> None:
    """Install the wheels with another Python and import every module and run ``python -m portax`` there."""
    candidates = [shutil.which(python)] + sorted(glob.glob(os.path.expanduser(f"~/.pyenv/versions/*/bin/{python}")))
    usable = [c for c in candidates if c and subprocess.run([c, "-c", "import venv"], capture_output=True).returncode == 0]
    exe = usable[0] if usable else None
    if exe is None:
        print(f"check_wheels: {python} not found here; not checked")
        return
    venv = work / f"venv-{python}"
    run(exe, "-m", "venv", venv)
    py = venv / "bin" / "python"
    run(py, "-m", "pip", "install", "-q", wheels["portax"], wheels["portax_reference"], "pytest", capture=True)
    run(py, ROOT / ".ci/import_everything.py", cwd=outside, env=env)
    run(py, "-m", "portax", cwd=outside, env=env, capture=True)


def _run_template(workflow: pathlib.Path, plugin: pathlib.Path, matrix: dict, settings: dict, wheels: dict,
                  work: pathlib.Path, env: dict) -> None:
    """Run a shipped workflow, unchanged but for its documented ``env`` settings, in a fresh venv on a copy
    of ``plugin`` (as the plugin's own repository would)."""
    name = f"{plugin.name}-{'-'.join(matrix.values())}"
    checkout = work / "templates" / name
    shutil.copytree(plugin, checkout, ignore=shutil.ignore_patterns("*.egg-info", "__pycache__", "build"))
    venv = work / "templates" / f"venv-{name}"
    run(getattr(sys, "_base_executable", sys.executable), "-m", "venv", venv)
    wf_env = {"PORTAX": str(wheels["portax"]), "PORTAX_REFERENCE": str(wheels["portax_reference"]), **settings}
    run(sys.executable, ROOT / ".ci/run_workflow.py", workflow, "--venv", venv, "--workdir", checkout,
        *[f"--matrix={k}={v}" for k, v in matrix.items()], *[f"--env={k}={v}" for k, v in wf_env.items()], env=env)


if __name__ == "__main__":
    main()
