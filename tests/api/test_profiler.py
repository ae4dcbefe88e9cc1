"""portax.profiler (trace files Perfetto opens, the per-kernel table), named_scope and Device.memory_stats."""
import glob
import gzip
import json
import os
import subprocess
import sys
from xml.etree import ElementTree

import numpy as np
import pytest

import portax as jax
import portax.numpy as jnp
from portax.core import profiler as core_profiler

M, K, N = 8, 32, 16


def _mlp(w, x):
    with jax.named_scope("mlp"):
        with jax.named_scope("dense"):
            h = jnp.tanh(x @ w + 1.0)
        with jax.named_scope("head"):
            return jnp.sum(h * 2)


def _is_dot(name: str) -> bool:
    """The kernel of ``_mlp``'s product: ``mlp/dense/dot_general``, or a contraction kernel fusing its consumers
    (``mlp/dense+mlp/head/fusion(dot_general,...)``)."""
    return name.startswith("mlp/dense") and "dot_general" in name


def _events(log_dir):
    files = glob.glob(os.path.join(str(log_dir), "plugins", "profile", "*", "*.trace.json.gz"))
    assert len(files) == 1, files
    with gzip.open(files[0], "rt") as f:
        return json.load(f)["traceEvents"]


@pytest.fixture
def traced(tmp_path):
    """A trace of three calls of a jitted two-layer function (named scopes), with an annotation."""
    w = np.linspace(-1, 1, K * N, dtype=np.float32).reshape(K, N)
    x = np.ones((M, K), np.float32)
    f = jax.jit(_mlp)
    with jax.profiler.trace(tmp_path):
        with jax.profiler.TraceAnnotation("train_step", step_num=7):
            for _ in range(3):
                y = f(w, x)
            np.asarray(y)
    np.testing.assert_allclose(y, np.sum(np.tanh(x @ w + 1.0) * 2), rtol=1e-5)
    return tmp_path, _events(tmp_path)


def test_trace_file_has_kernel_compile_transfer_and_annotation_events(traced):
    _, events = traced
    by_cat = {}
    for e in events:
        by_cat.setdefault(e.get("cat"), []).append(e)
    kernels = by_cat["kernel"]
    dots = [e for e in kernels if _is_dot(e["name"])]  # alone, or with its epilogue (a contraction kernel)
    assert len(dots) == 3, sorted({e["name"] for e in kernels})
    assert all(e["args"]["flops"] >= 2 * M * K * N and e["args"]["bytes"] >= 4 * (M * K + K * N)
               for e in dots)
    assert any("mlp/head" in e["name"] for e in kernels)
    assert all(e["dur"] >= 0 and e["ph"] == "X" for e in kernels)
    backend = jax.default_backend()
    assert {e["args"]["backend"] for e in by_cat["compile"]} == {backend}  # (cpu_llvm: and its profiled build)
    assert any(e["name"] == "trace jit(_mlp)" for e in by_cat["trace"])
    up = [e for e in by_cat["transfer"] if e["name"] == "transfer host to device"]
    assert {K * N * 4, M * K * 4} <= {e["args"]["bytes"] for e in up}
    assert any(e["name"] == "transfer device to host" and e["args"]["bytes"] == 4 for e in by_cat["transfer"])
    (ann,) = by_cat["annotation"]
    assert ann["name"] == "train_step" and ann["args"] == {"step_num": "7"}
    runs = by_cat["execute"]
    assert len(runs) == 3 and all(e["name"] == "jit(_mlp)" for e in runs)
    assert ann["ts"] <= runs[0]["ts"] and runs[-1]["ts"] + runs[-1]["dur"] <= ann["ts"] + ann["dur"]
    if backend == "wgpu":
        device = jax.devices()[0]
        has_ts = device.backend.runtime_device(device).capabilities.has_timestamps
        assert {e["args"]["clock"] for e in dots} == {"gpu timestamps" if has_ts else "host (batch shared evenly)"}


def test_cli_prints_the_per_kernel_table(traced):
    log_dir, _ = traced
    out = subprocess.run([sys.executable, "-m", "portax.profiler", str(log_dir)], capture_output=True, text=True,
                         check=True).stdout
    lines = out.splitlines()
    assert lines[0].endswith(".trace.json.gz")
    assert lines[1].split()[:3] == ["kernel", "device", "calls"] and "GFLOP/s" in lines[1]
    (row,) = [line for line in lines if _is_dot(line.split()[0])]
    cols = row.split()
    # calls, total ms (3 decimals: a tiny dot on a fast machine totals 0.000), mean µs, GFLOP/s
    assert cols[-6] == "3" and float(cols[-5]) >= 0 and float(cols[-4]) > 0 and float(cols[-1]) > 0


def test_no_events_without_a_trace_and_one_trace_at_a_time(tmp_path):
    assert core_profiler.session is None
    with pytest.raises(RuntimeError, match="No profile started"):
        jax.profiler.stop_trace()
    jax.profiler.start_trace(tmp_path)
    with pytest.raises(RuntimeError, match="Profile has already been started"):
        jax.profiler.start_trace(tmp_path)
    path = jax.profiler.stop_trace()
    assert path.startswith(str(tmp_path)) and core_profiler.session is None
    jnp.sin(jnp.ones(3))  # nothing recorded now
    assert [e for e in _events(tmp_path) if e["ph"] == "X"] == []


def test_trace_as_decorator_and_annotate_function(tmp_path):
    @jax.profiler.annotate_function
    def step(x):
        return jnp.cos(x) * 2

    @jax.profiler.trace(tmp_path)
    def run():
        return step(jnp.ones(4))

    np.testing.assert_allclose(run(), 2 * np.cos(np.ones(4)), rtol=1e-6)
    names = {e["name"] for e in _events(tmp_path) if e.get("cat") == "annotation"}
    assert names == {"test_trace_as_decorator_and_annotate_function.<locals>.step"}


def test_named_scope_nests_into_equation_names():
    jaxpr = jax.make_jaxpr(_mlp)(jnp.ones((K, N)), jnp.ones((M, K)))
    scopes = {e.primitive.name: e.source_info.name_stack for e in jaxpr.eqns}
    assert scopes["dot_general"] == "mlp/dense" and scopes["tanh"] == "mlp/dense"
    assert scopes["reduce_sum"] == "mlp/head"
    assert all(e.source_info.file == __file__ for e in jaxpr.eqns)
    assert jax.make_jaxpr(jnp.sin)(1.0).jaxpr.eqns[0].source_info.name_stack == ""
    # the backward pass's equations keep the scopes of the ones they transpose, as in JAX
    grad_eqns = jax.make_jaxpr(jax.grad(_mlp))(jnp.ones((K, N)), jnp.ones((M, K))).jaxpr.eqns
    stacks = {e.source_info.name_stack for e in grad_eqns if e.primitive.name == "dot_general"}
    assert stacks == {"mlp/dense", "transpose(mlp/dense)"}
    with pytest.raises(TypeError, match="must be a string"):
        with jax.named_scope(3):
            pass


def test_memory_stats_keys_and_growth():
    device = jax.devices()[0]
    before = device.memory_stats()
    assert {"bytes_in_use", "peak_bytes_in_use", "num_allocs", "largest_alloc_size"} <= set(before)
    if jax.default_backend() != "wgpu":
        assert before["bytes_limit"] > 0
    x = jax.device_put(np.ones((512, 1024), np.float32), device)  # 2 MiB
    after = device.memory_stats()
    assert after["bytes_in_use"] - before["bytes_in_use"] >= x.nbytes
    assert after["num_allocs"] > before["num_allocs"] and after["largest_alloc_size"] >= x.nbytes
    assert after["peak_bytes_in_use"] >= after["bytes_in_use"]
    del x
    assert device.memory_stats()["bytes_in_use"] <= after["bytes_in_use"] - 512 * 1024 * 4


def test_kernels_of_a_jitted_function_closing_over_an_array(tmp_path):
    w = jnp.ones((16, 16))
    f = jax.jit(lambda x: jnp.tanh(x @ w))
    with jax.profiler.trace(tmp_path):
        np.testing.assert_allclose(f(np.ones((4, 16), np.float32)), np.tanh(np.full((4, 16), 16.0)), rtol=1e-6)
    names = [e["name"] for e in _events(tmp_path) if e.get("cat") == "kernel"]
    assert any("dot_general" in n for n in names), names


def _svg_cli(*args):
    return subprocess.run([sys.executable, "-m", "portax.profiler", *map(str, args)], capture_output=True, text=True)


def test_cli_svg_timeline_of_one_annotation(traced, tmp_path):
    log_dir, events = traced
    out = tmp_path / "t.svg"
    run = _svg_cli(log_dir, "--svg", out, "--window", "train_step")
    assert run.returncode == 0 and f"wrote {out}" in run.stdout, run.stderr
    root = ElementTree.parse(out).getroot()
    ns = "{http://www.w3.org/2000/svg}"
    (ann,) = [e for e in events if e.get("cat") == "annotation"]
    end = ann["ts"] + ann["dur"]
    inside = [e for e in events if e["ph"] == "X" and ann["ts"] <= e["ts"] and e["ts"] + e["dur"] <= end]
    boxes = [r for r in root.iter(ns + "rect") if r.get("class") == "ev"]
    assert len(boxes) == len(inside) and len(inside) > len([e for e in events if e.get("cat") == "kernel"])
    tips = [r.find(ns + "title").text for r in boxes]
    assert sum(_is_dot(t.split(" (kernel, ")[0]) for t in tips if " (kernel, " in t) == 3
    width = float(root.get("width"))
    assert all(0 < float(r.get("x")) and float(r.get("x")) + float(r.get("width")) <= width for r in boxes)
    texts = [t.text for t in root.iter(ns + "text")]
    assert {"train_step", "time (ms)", "kernel", "program", "annotation", "tracing"} <= set(texts)
    assert f"{jax.devices()[0]} kernels" in texts
    y = {t.split(" (")[0]: float(r.get("y")) for t, r in zip(tips, boxes)}
    assert y["train_step"] < y["jit(_mlp)"]  # the program runs, inside the annotation, one row below it


def test_svg_stacks_nested_events_clips_labels_and_cuts_to_the_window():
    from portax.core.profiler_svg import render_svg, window_span
    ev = [{"name": "thread_name", "ph": "M", "pid": 1, "tid": 9, "args": {"name": "dev kernels"}}]
    ev += [{"name": n, "cat": c, "ph": "X", "ts": ts, "dur": d, "pid": 1, "tid": tid}
           for n, c, ts, d, tid in [("step", "annotation", 0, 100, 2), ("step", "annotation", 100, 100, 2),
                                    ("a_long_kernel_name_" * 4, "kernel", 110, 30, 9), ("run", "execute", 105, 90, 2),
                                    ("k2", "kernel", 140, 20, 9), ("early", "kernel", 10, 5, 9)]]
    assert window_span(ev, "step") == (100, 200) and window_span(ev, "step", last=2) == (0, 200)
    root = ElementTree.fromstring(render_svg(ev, window_span(ev, "step"), width=230 + 1000 + 20))
    ns = "{http://www.w3.org/2000/svg}"
    rects = [r for r in root.iter(ns + "rect") if r.get("class") == "ev"]
    boxes = {r.find(ns + "title").text.split(" (")[0]: r for r in rects}
    assert sorted(boxes) == sorted(["step", "run", "a_long_kernel_name_" * 4, "k2"]) and len(rects) == 4
    # (out: 'early' and the first step, which ends where the window starts)
    x, w = ({k: float(r.get(a)) for k, r in boxes.items()} for a in ("x", "width"))
    assert x["step"] == 230 and w["step"] == 1000 and x["run"] == 280 and w["run"] == 900  # 10 px per us
    assert float(boxes["run"].get("y")) == float(boxes["step"].get("y")) + 18  # nested: one row down
    assert boxes["k2"].get("y") == boxes["a_long_kernel_name_" * 4].get("y")  # back to back: same row
    texts = {t.text: float(t.get("x")) for t in root.iter(ns + "text")}
    (cut,) = [t for t in texts if t.startswith("a_long")]
    assert cut.endswith("\u2026") and len(cut) * 6.6 <= w["a_long_kernel_name_" * 4] - 2
    assert {"step", "run", "k2", "dev kernels", "thread 2"} <= set(texts)
    with pytest.raises(ValueError, match=r"no annotation named 'nope' in the trace; its annotations: \['step'\]"):
        window_span(ev, "nope")
    with pytest.raises(ValueError, match="last=3, but the trace has 2 annotation"):
        window_span(ev, "step", last=3)


def test_cli_svg_errors(traced, tmp_path):
    log_dir, _ = traced
    cases = [((log_dir, "--svg", tmp_path / "a.svg", "--window", "nope"),
              "no annotation named 'nope' in the trace; its annotations: ['train_step']"),
             ((log_dir, "--window", "train_step"), "--window and --last apply only with --svg OUT"),
             ((log_dir, "--svg", tmp_path / "a.svg", "--last", "2"), "--last needs --window NAME"),
             ((log_dir, "--svg", tmp_path / "a.svg", "--window", "train_step", "--last", "2"),
              "last=2, but the trace has 1 annotation(s) named 'train_step'"),
             ((log_dir, "--svg", tmp_path / "a.svg", "--width", "50"), "width=50 px is too narrow"),
             ((tmp_path / "empty", "--svg", tmp_path / "a.svg"), "no portax/JAX trace")]
    for args, message in cases:
        run = _svg_cli(*args)
        assert run.returncode == 2 and message in run.stderr, (args, run.stderr)
    assert not (tmp_path / "a.svg").exists()
