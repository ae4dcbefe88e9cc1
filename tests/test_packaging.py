"""What a user sees first: `python -m portax`, and the message of an uninstalled source tree. (The built
wheels themselves are tested from outside the checkout by .ci/check_wheels.py, part of `make test`.)"""
import os
import pathlib
import subprocess
import sys

import portax
from portax.core.backend import registry

ROOT = pathlib.Path(__file__).resolve().parents[1]


def _run(*args, env=None, cwd=None):
    return subprocess.run([sys.executable, *args], capture_output=True, text=True, timeout=300, cwd=cwd,
                          env={**os.environ, **(env or {})})


def test_python_m_portax_lists_every_backend_with_devices_and_a_smoke_check(tmp_path):
    proc = _run("-m", "portax", cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    out = proc.stdout
    assert f"portax {portax.__version__}" in out and "numpy " in out and "llvmlite " in out
    default = registry.default_name()
    for name in registry.names():
        if registry.available(name):
            marker = "*" if name == default else " "
            section = out.split(f"{marker} {name}  (priority")[1]
            assert "devices:" in section and "smoke check: ok" in section.split("  (priority")[0]
    if registry.available("wgpu"):
        assert "adapters:" in out and "limits:" in out


def test_python_m_portax_fails_when_the_default_backend_does_not_work(tmp_path):
    proc = _run("-m", "portax", env={"PORTAX_BACKEND": "no_such_backend"}, cwd=tmp_path)
    assert proc.returncode == 1
    assert "default backend 'no_such_backend'" in proc.stdout


def test_print_environment_info_is_public():
    import io
    buf = io.StringIO()
    assert portax.print_environment_info(file=buf, smoke=False)
    assert "backends (by priority; * = default):" in buf.getvalue()


def test_importing_the_uninstalled_source_tree_says_how_to_install():
    # -S: no site-packages, so no installed (or editable) portax; the checkout's portax/ folder is all there is
    proc = subprocess.run([sys.executable, "-S", "-c", "import portax"], capture_output=True, text=True, cwd=ROOT)
    assert proc.returncode == 1
    assert "ImportError: portax is not installed" in proc.stderr and "pip install ." in proc.stderr
    assert "circular import" not in proc.stderr


def test_the_version_is_written_once():
    from importlib.metadata import version
    assert portax.__version__ == version("portax")
    text = (ROOT / "pyproject.toml").read_text()
    assert 'dynamic = ["version"]' in text and "portax._version.__version__" in text
