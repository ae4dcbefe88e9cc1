"""What a user of the plugin relies on: the entry points of the installed distribution, and the documented
one-line conformance command covering ``fused_softmax`` on every backend of this machine."""
import json
import subprocess
import sys

import numpy as np

from portax.conformance import GenContext
from portax.core.backend import registry
from portax_activations.conformance import fused_softmax_cases

TRANSFORMS = {"eval", "jit", "vmap", "jvp", "vjp"}


def test_the_distribution_declares_both_entry_points(installed):
    eps = {(ep.group, ep.name): ep.value for ep in installed.entry_points}
    assert eps[("portax", "activations")] == "portax_activations.plugin"
    assert eps[("portax.conformance", "activations")] == "portax_activations.conformance:register"


def test_the_one_line_command_certifies_fused_softmax(installed, backend, tmp_path):
    report = tmp_path / "card.json"
    cmd = [sys.executable, "-m", "portax.conformance", "--backend", backend, "--groups", "primitives",
           "--primitives", "fused_softmax", "--report", str(report)]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"portax conformance [{backend}]: PASSED" in done.stdout
    cells = [c for c in json.loads(report.read_text())["cells"] if c["name"] == "fused_softmax"]
    # Without --dtypes the suite runs the standard float dtypes a backend claims (bf16/float8 only on request).
    short = {np.dtype(np.float16): "f16", np.dtype(np.float32): "f32", np.dtype(np.float64): "f64"}
    claimed = {np.dtype(d) for d in registry.get(backend).capabilities.dtypes} & set(short)
    assert {(c["dtype"], c["transform"]) for c in cells} == {(short[d], t) for d in claimed for t in TRANSFORMS}
    for c in cells:
        unsupported = backend == "wgpu" and c["dtype"] == "f64"
        assert c["status"] == ("unsupported" if unsupported else "pass"), c


def test_a_case_goes_past_a_backend_dispatch_limit():
    ctx = GenContext((np.dtype(np.float32),), np.random.RandomState(0), True, large_size=1000)
    (large,) = [c for c in fused_softmax_cases(ctx) if "past max_dispatch_elements" in c.label]
    assert large.args[0].size >= 1000 and large.transforms == ("eval",)
