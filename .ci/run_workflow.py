"""Run a GitHub Actions workflow's shell steps here, unchanged: how CI proves the plugin templates work.

``uses:`` steps (checkout, setup-python, upload-artifact) are what this script provides itself: the working
folder, a fresh venv first on PATH, and nothing to upload. ``run:`` steps run with bash in the working folder,
with the workflow's ``env`` (overridable with ``--env``) and ``${{ matrix.X }}`` taken from ``--matrix X=V``;
``if:`` conditions of the forms ``matrix.X == 'V'`` and ``always()`` are evaluated. Run as root, ``sudo``
runs its command directly.
"""
from __future__ import annotations

import argparse
import os
import pathlib
import re
import subprocess
import sys
import tempfile

import yaml

_EXPR = re.compile(r"\$\{\{\s*([^}]*?)\s*\}\}")


def _value(expr: str, matrix: dict) -> str:
    if expr.startswith("matrix."):
        return matrix[expr[len("matrix."):]]
    raise SystemExit(f"run_workflow: unsupported expression ${{{{ {expr} }}}}")


def _condition(cond, matrix: dict) -> bool:
    if cond is None or cond == "always()":
        return True
    m = re.fullmatch(r"matrix\.([\w-]+)\s*==\s*'([^']*)'", str(cond).strip())
    if not m:
        raise SystemExit(f"run_workflow: unsupported condition {cond!r}")
    return matrix[m.group(1)] == m.group(2)


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("workflow")
    p.add_argument("--venv", required=True)
    p.add_argument("--workdir", required=True)
    p.add_argument("--matrix", action="append", default=[])
    p.add_argument("--env", action="append", default=[])
    args = p.parse_args()
    matrix = dict(kv.split("=", 1) for kv in args.matrix)
    flow = yaml.safe_load(pathlib.Path(args.workflow).read_text())
    env = {k: v for k, v in os.environ.items() if not k.startswith("PORTAX_")}
    env.update({k: str(v) for k, v in (flow.get("env") or {}).items()})
    env.update(dict(kv.split("=", 1) for kv in args.env))
    shims = pathlib.Path(tempfile.mkdtemp(prefix="wf-shims-"))
    if os.geteuid() == 0:
        (shims / "sudo").write_text('#!/bin/sh\nexec "$@"\n')
        (shims / "sudo").chmod(0o755)
    env["PATH"] = f"{pathlib.Path(args.venv).resolve() / 'bin'}:{shims}:{env['PATH']}"
    env["VIRTUAL_ENV"] = str(pathlib.Path(args.venv).resolve())
    for job_name, job in flow["jobs"].items():
        for step in job["steps"]:
            title = _EXPR.sub(lambda m: _value(m.group(1), matrix), step.get("name") or step.get("uses", "step"))
            if "uses" in step:
                print(f"[{job_name}] {title}: provided by run_workflow.py", flush=True)
                continue
            if not _condition(step.get("if"), matrix):
                print(f"[{job_name}] {title}: skipped (if: {step['if']})", flush=True)
                continue
            script = _EXPR.sub(lambda m: _value(m.group(1), matrix), step["run"])
            step_env = {**env, **{k: str(v) for k, v in (step.get("env") or {}).items()}}
            print(f"[{job_name}] {title}", flush=True)
            proc = subprocess.run(["bash", "-eo", "pipefail", "-c", script], cwd=args.workdir, env=step_env)
            if proc.returncode:
                sys.exit(f"run_workflow: step '{title}' of {args.workflow} exited {proc.returncode}")


if __name__ == "__main__":
    main()
