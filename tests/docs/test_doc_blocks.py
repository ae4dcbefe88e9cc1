"""Every code block of the README and the plugin guide works as written: Python blocks run (a file's blocks
in order, in one fresh process, as one script), TOML blocks parse, shell blocks are valid bash (their
commands are what `make test` runs: .ci/check_wheels.py installs the guide's minimal backend from its
``# file:`` blocks and certifies it with the shipped template)."""
import pathlib
import subprocess
import sys
import tomllib

import pytest

from doc_blocks import blocks

ROOT = pathlib.Path(__file__).resolve().parents[2]
DOCS = [ROOT / "README.md", ROOT / "plugins" / "README.md"]


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: str(p.relative_to(ROOT)))
def test_python_blocks_run_as_written(doc, tmp_path):
    code = [text for lang, text in blocks(doc) if lang == "python"]
    assert code, f"{doc} has no python block"
    script = tmp_path / "blocks.py"
    script.write_text("\n".join(code))
    proc = subprocess.run([sys.executable, str(script)], cwd=tmp_path, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, f"the python blocks of {doc.name} fail:\n{proc.stderr[-3000:]}"


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: str(p.relative_to(ROOT)))
def test_toml_and_shell_blocks_are_valid(doc):
    for lang, text in blocks(doc):
        if lang == "toml":
            tomllib.loads(text)
        elif lang in ("sh", "bash"):
            proc = subprocess.run(["bash", "-n"], input=text, capture_output=True, text=True)
            assert proc.returncode == 0, f"{doc.name}: invalid shell block:\n{text}\n{proc.stderr}"
        else:
            assert lang in ("python", ""), f"{doc.name}: a block in {lang!r} is checked by nothing"
