"""``python -m bench.run --quick`` on the NumPy and reference columns (no JAX install): every workload has
its row with a measurement, the files are written; on wgpu (when an adapter exists) the hand-written WGSL
shaders agree with NumPy and are timed next to the generated kernels."""
import json
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[2]
WORKLOADS = ["dispatch", "compile_loss_cold", "compile_grad_cold", "compile_loss_warm", "compile_grad_warm", "selu",
             "sum_xyz", "matmul_0", "matmul_1", "mlp_step", "conv_fwd", "conv_grads", "cnn_step", "per_example_grads",
             "per_example_linear", "attention", "normal"]
NUMBER = r"[0-9][0-9,]*(\.[0-9]+)?(e[-+]?[0-9]+)?"


def run_bench(out: Path, *args: str) -> tuple[str, dict]:
    done = subprocess.run([sys.executable, "-m", "bench.run", "--quick", "--out", str(out), *args], cwd=ROOT,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout, json.loads((out / "results.json").read_text())


def table_rows(markdown: str) -> dict[str, list[str]]:
    """The main table's rows by workload title (the first table of the document)."""
    block = markdown.split("\n\n| workload |", 1)[1].split("\n\n", 1)[0]
    rows = [[c.strip() for c in line.strip("|").split("|")] for line in block.splitlines()[2:]]
    return {r[0]: r[1:] for r in rows}


@pytest.fixture(scope="module")
def quick(tmp_path_factory):
    out = tmp_path_factory.mktemp("bench")
    stdout, results = run_bench(out, "--columns", "reference,numpy")
    return out, stdout, results


def test_every_workload_has_a_row(quick):
    out, stdout, results = quick
    assert list(results["cells"]) == WORKLOADS
    rows = table_rows(stdout)
    assert len(rows) == len(WORKLOADS)
    assert (out / "results.md").read_text() == stdout.rstrip("\n") + "\n"
    header = stdout.split("\n\n| workload |", 1)[1].splitlines()[0]
    assert "portax reference" in header and "NumPy" in header and "reference vs NumPy" in header


@pytest.mark.parametrize("key", WORKLOADS)
def test_row_is_measured(quick, key):
    _, stdout, results = quick
    cells = results["cells"][key]
    assert cells["reference"]["seconds"] > 0, cells["reference"]
    row = next(r for title, r in table_rows(stdout).items() if title.startswith(_title_start(key)))
    unit, reference, numpy_cell, ratio = row
    assert re.fullmatch(NUMBER + r"( \([0-9]+% BW\))?", reference), reference
    if key.startswith("compile_"):
        assert numpy_cell == "n/a (NumPy does not compile)" and ratio == "—"
    else:
        assert cells["numpy"]["seconds"] > 0
        assert re.fullmatch(NUMBER + r"( \([0-9]+% BW\))?", numpy_cell), numpy_cell
        expected = cells["numpy"]["seconds"] / cells["reference"]["seconds"]
        assert ratio == f"{expected:.2f}x"


def _title_start(key: str) -> str:
    return {"dispatch": "dispatch", "compile_loss_cold": "first call: MLP loss (cold", "compile_grad_cold":
            "first call: grad of MLP loss (cold", "compile_loss_warm": "first call: MLP loss (warm",
            "compile_grad_warm": "first call: grad of MLP loss (warm", "selu": "selu ", "sum_xyz": "sum(x + y*z)",
            "matmul_0": "matmul 128²", "matmul_1": "matmul 256²", "mlp_step": "MLP ",
            "conv_fwd": "conv forward", "conv_grads": "conv lhs and rhs gradients", "cnn_step": "CNN train step",
            "per_example_grads": "per-example grads vmap(grad), batch",
            "per_example_linear": "per-example grads vmap(grad) of a linear model",
            "attention": "dot_product_attention", "normal": "random.normal"}[key]


def test_memory_bandwidth_and_machine_info(quick):
    _, stdout, results = quick
    membw = results["membw"]
    assert membw["copy_GBps"] > 0 and membw["read_GBps"] > 0 and len(membw["measurements"]) == 2
    fractions = [int(f) for f in re.findall(r"\(([0-9]+)% BW\)", stdout)]
    assert fractions and max(fractions) <= 100
    assert "Memory bandwidth" in stdout and "NumPy BLAS" in stdout and "Command: `" in stdout


def test_missing_backend_is_na(tmp_path):
    stdout, results = run_bench(tmp_path, "--columns", "no_such_backend,numpy", "--workloads", "selu,dispatch")
    assert "unavailable" in results["cells"]["selu"]["no_such_backend"]
    assert table_rows(stdout)["selu 200K f32"][1] == "n/a (backend unavailable)"
    assert "Unknown backend 'no_such_backend'" in stdout  # the full reason is listed under the table


def test_wgpu_handwritten_shaders(tmp_path):
    _, results = run_bench(tmp_path, "--columns", "wgpu", "--workloads", "dispatch,selu,sum_xyz,matmul_0")
    cells = {k: v["wgpu"] for k, v in results["cells"].items()}
    if "unavailable" in cells["selu"]:
        pytest.skip(f"no wgpu backend here: {cells['selu']['unavailable']}")
    for key, variants in [("selu", 1), ("sum_xyz", 1), ("matmul_0", 2)]:
        assert "error" not in cells[key], cells[key]  # a wrong hand-written result is an error
        assert len(cells[key]["handwritten"]) == variants and cells[key]["dispatches"] >= 1
    assert cells["dispatch"]["raw_submit_s"] > 0 and cells["dispatch"]["sync_call_s"] > 0


@pytest.fixture(scope="module")
def bench_modules():
    if str(ROOT) not in sys.path:  # bench/ is a folder of the repository, not an installed package
        sys.path.insert(0, str(ROOT))
    from bench import checks, numpy_impl, workloads
    return checks, numpy_impl, workloads


@pytest.mark.parametrize("key", ["dispatch", "selu", "sum_xyz", "matmul_0", "mlp_step", "per_example_grads",
                                 "per_example_linear", "compile_loss_cold", "compile_grad_warm", "normal"])
def test_results_are_checked_against_numpy(bench_modules, key):
    checks, numpy_impl, workloads = bench_modules
    sizes = workloads.SIZES["quick"]
    base = key.rsplit("_", 1)[0] if key.startswith("compile_") else key
    out = checks.leaves(numpy_impl.build(base, sizes)())
    checks.verify(key, out, sizes)
    wrong = [o * 1.1 + 0.1 for o in out]
    with pytest.raises(checks.WrongResult, match=key):
        checks.verify(key, wrong, sizes)


def test_bandwidth_is_the_highest_rate_of_the_run(bench_modules):
    """A row faster than the probes sets the bandwidth (and shows 100%): no row can exceed it."""
    from bench import membw, report
    _, _, workloads = bench_modules
    sizes = workloads.SIZES["quick"]
    probes = [{"copy_GBps": 10.0, "read_GBps": 12.0, "threads": 2, "copy_elements": 1, "read_elements": 3},
              {"copy_GBps": 11.0, "read_GBps": 9.0, "threads": 2, "copy_elements": 1, "read_elements": 3}]
    selu_s = workloads.BY_KEY["selu"].work(sizes) / 20e9  # 20 GB/s: faster than the copy probe
    cells = {"selu": {"cpu_llvm": {"seconds": selu_s}, "numpy": {"error": "x"}},
             "dispatch": {"cpu_llvm": {"seconds": 1e-6}}}
    best = membw.best(probes, membw.row_rates(cells, "quick", report.label))
    assert best["copy_GBps"] == pytest.approx(20.0) and best["copy_source"].endswith("portax cpu_llvm")
    assert best["read_GBps"] == 12.0 and best["read_source"] == membw.PROBE
    text = report.value_text(workloads.BY_KEY["selu"], cells["selu"]["cpu_llvm"], sizes, best)
    assert text.endswith("(100% BW)")


def test_pmap_scaling_is_measured(quick):
    _, stdout, results = quick
    cell = results["pmap_scaling"]["reference"]
    assert cell["one_s"] > 0 and cell["two_s"] > 0 and cell["all_cores_one_s"] > 0
    assert cell["ratio"] == pytest.approx(2 * cell["one_s"] / cell["two_s"])
    section = stdout.split("## Data parallelism (pmap)", 1)[1].split("\n## ", 1)[0]
    assert "| portax reference | " in section and f"**{cell['ratio']:.2f}x**" in section


def test_pmap_step_is_checked_against_numpy(bench_modules):
    from bench import pmap_scaling
    _, _, workloads = bench_modules
    sizes = workloads.SIZES["quick"]
    x, y = workloads.mlp_batch(sizes, 8)
    xs, ys = x.reshape(2, 4, -1), y.reshape(2, 4, -1)
    want = pmap_scaling.expected_step(sizes, xs, ys)
    stacked = [(np.stack([w, w]), np.stack([b, b])) for w, b in want]
    pmap_scaling.check_step(stacked, want, 2)
    stacked[1] = (stacked[1][0], stacked[1][1] + 0.1)
    with pytest.raises(AssertionError, match="layer 1 b"):
        pmap_scaling.check_step(stacked, want, 2)


def test_processes_are_measured(quick):
    _, stdout, results = quick
    cell = results["mpi_scaling"]["reference"]
    if "error" in cell and "mpirun not found" in json.dumps(cell):
        pytest.skip("mpi4py/mpirun not installed: pip install '.[mpi]'")
    assert cell["one_s"] > 0 and cell["two_s"] > 0 and cell["ratio"] == pytest.approx(2 * cell["one_s"] / cell["two_s"])
    assert [r["bytes"] for r in cell["allreduce"]] == [4, 1024, 256 << 10]
    assert all(r["portax_s"] > 0 and r["mpi_s"] > 0 and r["shard_map_s"] > 0 for r in cell["allreduce"])
    section = stdout.split("## Several processes (MPI)", 1)[1].split("\n## ", 1)[0]
    assert f"**{cell['ratio']:.2f}x**" in section and "| portax reference | 256 KB |" in section


def test_conv_table_is_measured(quick, bench_modules):
    from bench import conv_table
    _, stdout, results = quick
    shapes = results["conv_table"]["reference"]["shapes"]
    assert list(shapes) == [s.key for s in conv_table.SHAPES]
    for key, cells in shapes.items():
        assert all(cells[what]["seconds"] > 0 for what in conv_table.PASSES), (key, cells)
    section = stdout.split("## Convolution shapes", 1)[1].split("\n## ", 1)[0]
    rows = [line for line in section.splitlines() if line.startswith("| ") and "GFLOP" not in line]
    assert [r.split(" | ")[0][2:] for r in rows] == [s.title() for s in conv_table.shapes("quick")]
    assert all(re.fullmatch(NUMBER, c.strip()) for r in rows for c in r.strip("|").split("|")[2:]), rows


@pytest.mark.parametrize("key", ["resnet_56_28", "mnist_14_nhwc", "mobilenet_112_nhwc", "dilated_28"])
def test_conv_table_is_checked_against_numpy(bench_modules, key):
    """A result in the shape's layout is compared in NCHW / OIHW; a wrong value or shape is a WrongResult."""
    from bench import conv_table
    checks, _, _ = bench_modules
    shape = conv_table.BY_KEY[key].quick()
    data = conv_table.inputs(shape)
    want = conv_table.expected(shape, *data)
    dx, dw, _ = conv_table.to_layout(shape, *(a.astype(np.float32) for a in want["gradients"]), data[2])
    assert dx.shape[-1] == (shape.features if shape.layout == "NHWC" else shape.side)
    got = conv_table.from_layout(shape, [dx, dw])
    conv_table.check(shape, "gradients", got, want["gradients"])
    with pytest.raises(checks.WrongResult, match=f"{key} gradients: output 1"):
        conv_table.check(shape, "gradients", [got[0], got[1] * 1.01], want["gradients"])
    with pytest.raises(checks.WrongResult, match=f"{key} forward: output 0"):
        conv_table.check(shape, "forward", [want["forward"][0][:1]], want["forward"])


def test_conv_table_target_names_the_slowest_shape(bench_modules):
    from bench import conv_table, report
    first, second = conv_table.SHAPES[:2]
    shapes = {s.key: {"forward": {"seconds": 1.0}, "gradients": {"seconds": 1.0}} for s in conv_table.SHAPES}
    jax = {k: {w: {"seconds": 1.5} for w in conv_table.PASSES} for k in shapes}
    jax[second.key]["gradients"] = {"seconds": 0.5}
    results = {"mode": "full", "columns": ["cpu_llvm", "jax"], "cells": {},
               "conv_table": {"cpu_llvm": {"shapes": shapes}, "jax": {"shapes": jax}}}
    row = next(line for line in report.targets_table(results) if "convolution table" in line)
    assert f"min 0.50x ({second.title()}, gradients), median 1.50x" in row and row.endswith("| **no** |")
    shapes[first.key]["forward"] = {"error": "WrongResult: wrong"}
    row = next(line for line in report.targets_table(results) if "convolution table" in line)
    assert f"; 1 of {2 * len(shapes)} not measured" in row
    section = "\n".join(report.conv_section(results))
    assert f"- portax cpu_llvm, {first.title()}, forward: WrongResult: wrong" in section
