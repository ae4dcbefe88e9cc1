"""The JAX virtualenv (``bench/.venv-jax``): created and filled with ``jax[cpu]`` on first use.

JAX is never imported by portax or its tests; the bench runs it only as a subprocess of this
environment's python, so portax's environment stays free of it.
"""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

VENV = Path(__file__).resolve().with_name(".venv-jax")
PYTHON = VENV / "bin" / "python"
REQUIREMENT = "jax[cpu]"


class JaxUnavailable(RuntimeError):
    pass


def _run(cmd: list, what: str, timeout: float) -> str:
    try:
        done = subprocess.run([str(c) for c in cmd], capture_output=True, text=True, timeout=timeout)
    except (OSError, subprocess.TimeoutExpired) as e:
        raise JaxUnavailable(f"{what} failed: {e}") from None
    if done.returncode:
        tail = (done.stderr or done.stdout).strip().splitlines()[-3:]
        raise JaxUnavailable(f"{what} failed (exit {done.returncode}): {' | '.join(tail)}")
    return done.stdout.strip()


def jax_version() -> str | None:
    """The installed JAX version, or None if the environment has no working JAX."""
    if not PYTHON.exists():
        return None
    try:
        return _run([PYTHON, "-c", "import jax; print(jax.__version__)"], "importing jax", 120)
    except JaxUnavailable:
        return None


def ensure(log=print) -> str:
    """The JAX version of the environment (run ``PYTHON``), creating it and installing JAX when needed; raises
    ``JaxUnavailable`` (with pip's last lines) when that is impossible, e.g. offline."""
    version = jax_version()
    if version is None:
        if not PYTHON.exists():
            log(f"creating {VENV}")
            _run([sys.executable, "-m", "venv", VENV], "python -m venv", 300)
        log(f"installing {REQUIREMENT} into {VENV} (once)")
        _run([PYTHON, "-m", "pip", "install", "-q", "--upgrade", "pip"], "pip install --upgrade pip", 600)
        _run([PYTHON, "-m", "pip", "install", "-q", REQUIREMENT], f"pip install {REQUIREMENT}", 1800)
        version = jax_version()
        if version is None:
            raise JaxUnavailable(f"{REQUIREMENT} installed into {VENV} but 'import jax' fails")
    return version
