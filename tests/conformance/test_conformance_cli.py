"""The report card formats, the command line and the pytest plugin."""
import json
import os
import subprocess
import sys
import xml.etree.ElementTree as ET

import pytest

from conformance_backends import installed
from portax.conformance.cli import main
from portax.conformance.report import Cell, ReportCard

CELLS = [Cell("primitive", "add", "f32", "eval", "pass", "", 3),
         Cell("primitive", "add", "f16", "eval", "fail", "add f16 under eval: 1 of 3 elements out of tolerance", 3),
         Cell("primitive", "cbrt", "f32", "jit", "unsupported", "no lowering for cbrt", 1),
         Cell("primitive", "lu", "f32", "eval", "runtime-call", "LAPACK getrf for lu", 1),
         Cell("primitive", "new_op", "-", "-", "no-cases", "no case generator", 0),
         Cell("pmap", "psum", "f32", "4 devices", "skip", "needs 4 devices", 0)]


def test_report_card_formats_and_strictness(tmp_path):
    card = ReportCard("demo", list(CELLS), info={"seconds": 1.5})
    assert [c.name for c in card.failures()] == ["add"] and card.exit_code() == 1
    strict = ReportCard("demo", [c for c in CELLS if c.status != "fail"], strict=True)
    assert {c.name for c in strict.failures()} == {"cbrt", "new_op"}
    assert ReportCard("demo", [c for c in CELLS if c.status != "fail"]).exit_code() == 0
    assert card.summary_line() == "portax conformance [demo]: FAILED: 1 pass, 1 runtime-call, 1 unsupported, " \
                                  "1 no-cases, 1 skip, 1 fail in 1.5s"
    md = card.to_markdown()
    assert "| add | ✗ f16 |" in md and "## Failures" in md and "LAPACK getrf for lu" in md
    data = json.loads(card.to_json())
    assert data["summary"]["fail"] == 1 and data["cells"][1]["dtype"] == "f16" and not data["passed"]
    suite = ET.fromstring(card.to_junit())
    assert suite.get("tests") == "6" and suite.get("failures") == "1" and suite.get("skipped") == "3"
    failure = suite.find("testcase[@name='f16-eval']/failure")
    assert "out of tolerance" in failure.get("message")
    assert card.write(str(tmp_path / "card.json")) == [str(tmp_path / "card.json")]
    assert sorted(os.listdir(tmp_path)) == ["card.json"]
    card.write(str(tmp_path / "all"))
    assert sorted(os.listdir(tmp_path)) == ["all.json", "all.md", "all.xml", "card.json"]


def test_cli_certifies_a_backend_and_writes_reports(tmp_path, capsys):
    code = main(["--backend", "reference", "--primitives", "add", "mul", "--dtypes", "f32,i8", "--groups", "primitives",
                 "--report", str(tmp_path / "card.md"), "--report", str(tmp_path / "card.xml")])
    out = capsys.readouterr().out
    assert code == 0 and "portax conformance [reference]: PASSED" in out
    assert (tmp_path / "card.md").read_text().startswith("# portax conformance report: `reference`")
    assert ET.parse(tmp_path / "card.xml").getroot().get("failures") == "0"


def test_cli_tests_bfloat16_and_float8_on_a_backend_without_them(tmp_path, capsys):
    code = main(["--backend", "cpu_llvm", "--primitives", "add", "sin", "reduce_sum", "--dtypes", "bf16",
                 "f8_e4m3fn", "--groups", "primitives", "--report", str(tmp_path / "card.json")])
    assert code == 0 and "PASSED" in capsys.readouterr().out
    cells = json.loads((tmp_path / "card.json").read_text())["cells"]
    assert {(c["name"], c["dtype"]) for c in cells if c["status"] == "pass"} >= {
        ("add", "bf16"), ("sin", "bf16"), ("reduce_sum", "bf16"), ("add", "f8_e4m3fn")}


def test_cli_exit_code_and_messages_for_a_broken_backend(capsys):
    import numpy as np
    from portax.core.primitives import elementwise as ew
    with installed("broken-cli", rules={ew.neg_p: lambda x: np.negative(x) + np.ones((), x.dtype)}):
        code = main(["--backend", "broken-cli", "--primitives", "neg", "--dtypes", "i32", "--groups", "primitives"])
    out = capsys.readouterr().out
    assert code == 1 and "FAIL primitive neg i32 eval: neg i32 under eval" in out and "FAILED" in out


def test_cli_lists_backends_and_runs_all_available(tmp_path, capsys):
    assert main(["--list-backends"]) == 0
    assert "reference: numpy interpreter of the IR" in capsys.readouterr().out
    code = main(["--all-available", "--primitives", "sub", "--dtypes", "f32", "--groups", "primitives",
                 "--report", str(tmp_path / "card.json"), "-q"])
    out = capsys.readouterr().out
    assert code == 0 and "portax conformance [reference]: PASSED" in out
    assert (tmp_path / "card-reference.json").exists()


def test_cli_certifies_backends_concurrently_with_jobs(tmp_path, capsys):
    from portax.core.backend import registry
    available = [n for n in registry.names() if registry.available(n)]
    code = main(["--all-available", "--jobs", "0", "--primitives", "sub", "--dtypes", "f32", "--groups", "primitives",
                 "--report", str(tmp_path / "card.json"), "-q"])
    out = capsys.readouterr().out
    assert code == 0 and all(f"portax conformance [{n}]: PASSED" in out for n in available), out
    assert all((tmp_path / f"card-{n}.json").exists() for n in available)


def test_each_concurrent_run_gets_the_same_options():
    from portax.conformance.cli import _backend_argv, parser
    argv = ["--all-available", "-j", "2", "--devices", "4", "--processes", "2", "--dtypes", "bf16", "f32",
            "--primitives", "add", "--transforms", "jit", "vmap", "--groups", "primitives", "pmap",
            "--report", "r.md", "--report", "card", "--strict", "--leak-calls", "7", "--seed", "3", "-q"]
    args = parser().parse_args(argv)
    again = parser().parse_args(_backend_argv(args, "wgpu"))
    expected = dict(vars(args), backend="wgpu", all_available=False, jobs=1, report=["r-wgpu.md", "card-wgpu"])
    assert vars(again) == expected


@pytest.mark.parametrize("dtype", ["f33", "float4_e2m1fn", "complex64", "float128"])
def test_cli_rejects_unknown_dtypes(dtype, capsys):
    assert main(["--backend", "reference", "--dtypes", f"f32,{dtype}", "--groups", "primitives"]) == 2
    err = capsys.readouterr().err
    assert f"Unknown dtype '{dtype}'" in err and "float32" in err and len(err.strip().splitlines()) == 1


@pytest.mark.parametrize("argv, message", [
    (["--backend", "no_such_backend"], "Unknown backend 'no_such_backend'"),
    (["--groups", "nonsense"], "invalid choice: 'nonsense'"),
    (["--devices", "0"], "--devices 0: expected a positive number"),
    (["--all-available", "--jobs", "-1"], "--jobs -1: expected 0 (one per core) or a positive number"),
])
def test_cli_usage_errors_exit_2_with_one_line(argv, message, capsys):
    try:
        code = main(argv)
    except SystemExit as e:  # argparse's own errors
        code = e.code
    assert code == 2 and message in capsys.readouterr().err


def _cli(*argv, env=None):
    return subprocess.run([sys.executable, "-m", "portax.conformance", *argv], capture_output=True, text=True,
                          env={**os.environ, **(env or {})}, timeout=300)


def test_cli_without_the_reference_backend_says_so():
    proc = _cli("--backend", "cpu_llvm", "--groups", "primitives", "--primitives", "add",
                env={"PYTHONPATH": os.path.join(os.path.dirname(__file__), "blocked_reference")})
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "pip install portax-reference" in proc.stderr and "Traceback" not in proc.stderr


def test_cli_reports_cells_that_need_more_devices_and_a_partial_run():
    proc = _cli("--backend", "reference", "--groups", "pmap", "-q", env={"PORTAX_REFERENCE_DEVICES": "1"})
    assert proc.returncode == 0, proc.stderr
    assert "PASSED (PARTIAL)" in proc.stdout and "needs-devices" in proc.stdout
    assert "PORTAX_REFERENCE_DEVICES=4" in proc.stdout
    full = _cli("--backend", "reference", "--groups", "pmap", "--devices", "4", "-q",
                env={"PORTAX_REFERENCE_DEVICES": ""})
    assert full.returncode == 0 and "PASSED:" in full.stdout and "needs-devices" not in full.stdout, full.stdout
    strict = _cli("--backend", "reference", "--groups", "pmap", "--strict", "-q", env={"PORTAX_REFERENCE_DEVICES": "1"})
    assert strict.returncode == 1 and "FAILED" in strict.stdout


def test_list_backends_by_priority_with_the_default_marked(capsys):
    from portax.core.backend import registry
    assert main(["--list-backends"]) == 0
    lines = [line for line in capsys.readouterr().out.splitlines() if not line.startswith(" ")]
    listed = [line.split(":")[0].split(" ")[0] for line in lines]
    priorities = [registry.specs()[n].priority for n in listed if n in registry.specs()]
    assert priorities == sorted(priorities, reverse=True)
    assert sum("(default)" in line for line in lines) == 1
    assert any(line.startswith(f"{registry.default_name()} (default):") for line in lines)


def test_pytest_plugin_runs_the_suite(tmp_path):
    report = tmp_path / "card.xml"
    proc = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--pyargs",
                           "portax.conformance", "--portax-backend", "reference", "--portax-primitives", "add,rev",
                           "--portax-dtypes", "f32,bool", "--portax-leak-calls", "500", f"--portax-report={report}"],
                          capture_output=True, text=True, cwd=tmp_path, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "portax conformance [reference]: PASSED" in proc.stdout
    assert "test_primitive[add-f32-eval]" not in proc.stdout  # quiet run; the cells are in the report
    names = {tc.get("classname") for tc in ET.parse(report).getroot()}
    assert {"reference.primitive.add", "reference.primitive.rev", "reference.prng.random.uniform"} <= names


def test_cli_backend_that_fails_to_start_is_one_line_and_exit_2(capsys):
    from portax.core.backend import BackendSpec, hookimpl, registry, reset_default_backend

    def factory():
        raise RuntimeError("no such device: /dev/accel0")

    class Plugin:
        @hookimpl
        def portax_backends(self):
            return [BackendSpec("fails-to-start", factory)]

    plugin = Plugin()
    registry.register(plugin, "fails-to-start")
    try:
        code = main(["--backend", "fails-to-start", "--groups", "primitives", "--primitives", "add"])
    finally:
        registry.unregister(plugin)
        reset_default_backend()
    err = capsys.readouterr().err
    assert code == 2 and "Backend 'fails-to-start' failed to initialize" in err and "/dev/accel0" in err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
