"""The results as Markdown: the side-by-side table, wgpu's kernels and launch costs, the issues' targets.

A cell is a worker's JSON result (``seconds`` per call, or ``na``/``error``/``unavailable``/``timeout``/
``skipped`` with a reason). Ratios are speed ratios within this run: ``t_other / t_portax``, so above
1.0x the portax column is faster, whatever the unit.
"""
from __future__ import annotations

import statistics
from typing import Callable

from . import conv_table
from .membw import KINDS, PROBE
from .pmap_scaling import PER_DEVICE_BATCH
from .workloads import BY_KEY, SIZES, WORKLOADS, Sizes, Workload

LABELS = {"numpy": "NumPy", "jax": "JAX"}
FAILURES = {  # result field -> short form shown in a cell
    "unavailable": "n/a (backend unavailable)",
    "na": "n/a (not implemented)",
    "skipped": "n/a",
    "timeout": "n/a (timeout)",
    "error": "error",
}


def label(column: str) -> str:
    return LABELS.get(column, f"portax {column}")


def seconds(cell: dict | None) -> float | None:
    return cell.get("seconds") if cell else None


def number(v: float) -> str:
    if v >= 100:
        return f"{v:,.0f}"
    return f"{v:.1f}" if v >= 10 else f"{v:.2f}" if v >= 0.1 else f"{v:.3g}"


def failure(cell: dict | None) -> str | None:
    """The cell's short failure text, or None if it has a measurement."""
    if cell is None:
        return "n/a (not run)"
    for field, text in FAILURES.items():
        if field in cell:
            if field == "skipped":
                return f"n/a ({cell[field]})"
            if field == "error":
                return f"error ({cell[field].split(':')[0]})"
            return text
    return None


def value_text(w: Workload, cell: dict | None, sizes: Sizes, membw: dict | None) -> str:
    bad = failure(cell)
    if bad is not None:
        return bad
    v = w.value(cell["seconds"], sizes)
    text = number(v)
    if w.memory_bound and membw:
        text += f" ({100 * v / membw[f'{w.memory_bound}_GBps']:.0f}% BW)"
    return text


def ratio(fast: dict | None, slow: dict | None) -> float | None:
    a, b = seconds(fast), seconds(slow)
    return b / a if a and b else None


def ratio_text(r: float | None) -> str:
    return "—" if r is None else f"{r:.2f}x"


def ratio_columns(columns: list[str]) -> list[tuple[str, str]]:
    """(portax column, baseline) pairs shown as ratios: each portax column against NumPy and JAX, and wgpu
    against cpu_llvm."""
    portax = [c for c in columns if c not in LABELS]
    pairs = [(p, b) for p in portax for b in ("jax", "numpy") if b in columns]
    if "wgpu" in portax and "cpu_llvm" in portax:
        pairs.append(("wgpu", "cpu_llvm"))
    return pairs


def measured(results: dict) -> list[Workload]:
    """The workloads of this run, in table order."""
    return [w for w in WORKLOADS if w.key in results["cells"]]


def _table(header: list[str], rows: list[list[str]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    return lines + ["| " + " | ".join(r) + " |" for r in rows]


def main_table(results: dict) -> list[str]:
    columns, cells, sizes = results["columns"], results["cells"], SIZES[results["mode"]]
    pairs = ratio_columns(columns)
    header = ["workload", "unit", *map(label, columns),
              *(f"{label(p).removeprefix('portax ')} vs {label(b).removeprefix('portax ')}" for p, b in pairs)]
    rows = []
    for w in measured(results):
        row = cells.get(w.key, {})
        rows.append([w.title(sizes), w.unit, *(value_text(w, row.get(c), sizes, results.get("membw")) for c in columns),
                     *(ratio_text(ratio(row.get(p), row.get(b))) for p, b in pairs)])
    return _table(header, rows)


def kernels_table(results: dict) -> list[str]:
    portax = [c for c in results["columns"] if c not in LABELS]
    header = ["workload", *(f"{c} kernels" for c in portax)]
    if "wgpu" in portax:
        header.append("wgpu dispatches/call (kernel variants chosen)")
    rows = []
    for w in measured(results):
        row = results["cells"].get(w.key, {})
        cells = [str(row.get(c, {}).get("kernels", "—")) for c in portax]
        if "wgpu" in portax:
            wgpu = row.get("wgpu", {})
            variants = f" ({', '.join(wgpu['variants'])})" if wgpu.get("variants") else ""
            cells.append(f"{wgpu.get('dispatches', '—')}{variants}")
        rows.append([w.title(SIZES[results["mode"]]), *cells])
    return _table(header, rows)


def handwritten_ratios(results: dict) -> list[tuple[Workload, str, float, float]]:
    """(workload, shader variant, generated s, hand-written s) for every wgpu hand-written reference."""
    out = []
    for key, row in results["cells"].items():
        cell = row.get("wgpu") or {}
        for name, hand_s in cell.get("handwritten", {}).items():
            out.append((BY_KEY[key], name, cell["seconds"], hand_s))
    return out


def pmap_section(results: dict) -> list[str]:
    """The data-parallel step on 1 and 2 devices of each column (``bench.pmap_scaling``)."""
    rows = []
    for column, cell in results.get("pmap_scaling", {}).items():
        if "two_s" not in cell:
            rows.append([label(column), failure(cell) or "n/a", "", "", ""])
            continue
        per_s = lambda n, t: number(n * cell["per_device_batch"] / t) if t else "—"
        rows.append([label(column), per_s(1, cell["one_s"]), per_s(2, cell["two_s"]), f"**{cell['ratio']:.2f}x**",
                     per_s(1, cell.get("all_cores_one_s"))])
    if not rows:
        return []
    sizes = SIZES[results["mode"]]
    return [f"A pmap'd SGD step (MLP {'-'.join(map(str, sizes.mlp))}, {PER_DEVICE_BATCH[results['mode']]} examples "
            "per device, gradients averaged with `lax.pmean`) on 1 and on 2 devices of one "
            "process, in examples/s. portax's virtual CPU devices share the cores out (with "
            "`PORTAX_CPU_DEVICES=2` each runs its programs on one core), so the ratio is the scaling from one "
            "core to two; the last column is the same step on the only device of `PORTAX_CPU_DEVICES=1`, "
            "which splits its kernels over every core. JAX's host devices share one intra-op thread pool, so "
            "its 1-device step already uses every core.", "",
            *_table(["column", "1 device", "2 devices", "2 devices / 1 device", "1 device alone, all cores"], rows)]


def wgpu_section(results: dict) -> list[str]:
    sizes = SIZES[results["mode"]]
    lines = []
    refs = handwritten_ratios(results)
    if refs:
        lines += ["Generated kernels against the hand-written WGSL shaders of `bench/wgsl/` on the same adapter "
                  "(target: generated >= 0.8x):", ""]
        lines += _table(["workload", "hand-written variant", "unit", "generated", "hand-written",
                         "generated / hand-written"],
                        [[w.title(sizes), name, w.unit, number(w.value(g, sizes)), number(w.value(h, sizes)),
                          f"{h / g:.2f}x"] for w, name, g, h in refs])
    launch = results["cells"].get("dispatch", {}).get("wgpu") or {}
    if "raw_submit_s" in launch:
        lines += ["", f"Launch costs on {launch.get('adapter', 'the adapter')}: one raw wgpu submit of a trivial "
                  f"dispatch + wait {launch['raw_submit_s'] * 1e6:.0f} µs; each further dispatch in the same submit "
                  f"{launch['per_dispatch_s'] * 1e6:.0f} µs; a jitted call + `block_until_ready` "
                  f"{launch['sync_call_s'] * 1e6:.0f} µs = **{launch['sync_call_s'] / launch['raw_submit_s']:.2f}x** "
                  f"one raw submit (target <= 1.2x); back-to-back jitted calls without waiting "
                  f"{launch['seconds'] * 1e6:.0f} µs/call."]
    return lines


def _reason(cell: dict) -> str:
    return next((cell[field] for field in FAILURES if field in cell), "no result")


def _conv_cell(results: dict, column: str, key: str, what: str) -> dict | None:
    """The result of one pass of one shape of the convolution table (the column's failure if it has none)."""
    cell = results.get(conv_table.KEY, {}).get(column)
    return cell["shapes"].get(key, {}).get(what) if cell and "shapes" in cell else cell or None


def conv_section(results: dict) -> list[str]:
    """GFLOP/s of every shape of ``bench.conv_table``, forward and gradients, per column; portax vs JAX."""
    table = results.get(conv_table.KEY, {})
    if not table:
        return []
    columns = list(table)
    reasons = [f"- {label(c)}, every shape: {_reason(cell)}" for c, cell in table.items() if "shapes" not in cell]
    pairs = [(c, "jax") for c in columns if c != "jax" and "jax" in columns]
    header = ["shape", "forward GFLOP", *(f"{label(c)} {what}" for c in columns for what in conv_table.PASSES),
              *(f"{label(p).removeprefix('portax ')} vs JAX {what}" for p, _ in pairs for what in conv_table.PASSES)]
    rows = []
    for shape in conv_table.shapes(results["mode"]):
        cells = {(c, what): _conv_cell(results, c, shape.key, what) for c in columns for what in conv_table.PASSES}
        values = [failure(cell) or number(shape.flops(what) / cell["seconds"] / 1e9)
                  for (_, what), cell in cells.items()]
        rows.append([shape.title(), f"{shape.flops('forward') / 1e9:.3g}", *values,
                     *(ratio_text(ratio(cells[p, what], cells[b, what]))
                       for p, b in pairs for what in conv_table.PASSES)])
        reasons += [f"- {label(c)}, {shape.title()}, {what}: {_reason(cell)}"
                    for (c, what), cell in cells.items() if cell and failure(cell) and "shapes" in table[c]]
    return ["`lax.conv_general_dilated` on layers of real CNNs ('SAME' padding, float32; shapes as batch x input "
            "channels x side² * output channels x input channels per group x kernel side²): the forward pass and "
            "the lhs and rhs gradients of one `vjp` (counted as twice the forward FLOPs), in GFLOP/s (medians), "
            "each checked against NumPy first.", "", *_table(header, rows), *([""] + reasons if reasons else [])]


def _conv_shapes(results: dict):
    ratios = {(shape.title(), what): ratio(_conv_cell(results, "cpu_llvm", shape.key, what),
                                           _conv_cell(results, "jax", shape.key, what))
              for shape in conv_table.shapes(results["mode"]) for what in conv_table.PASSES}
    found = {k: r for k, r in ratios.items() if r is not None}
    if not found:
        return None
    (title, what), worst = min(found.items(), key=lambda item: item[1])
    text = f"min {worst:.2f}x ({title}, {what}), median {statistics.median(found.values()):.2f}x"
    missing = len(ratios) - len(found)
    return text + (f"; {missing} of {len(ratios)} not measured" if missing else ""), worst >= 1.0 and not missing


Check = Callable[[dict], "tuple[str, bool] | None"]


def _vs(key: str, column: str, baseline: str, target: float) -> Check:
    def check(results: dict):
        row = results["cells"].get(key, {})
        r = ratio(row.get(column), row.get(baseline))
        return None if r is None else (f"{r:.2f}x", r >= target)
    return check


def _bandwidth(key: str, column: str, target: float) -> Check:
    def check(results: dict):
        cell, membw, w = results["cells"].get(key, {}).get(column), results.get("membw"), BY_KEY[key]
        if seconds(cell) is None or not membw:
            return None
        frac = w.value(cell["seconds"], SIZES[results["mode"]]) / membw[f"{w.memory_bound}_GBps"]
        return f"{100 * frac:.0f}%", frac >= target
    return check


def _handwritten(key: str, target: float) -> Check:
    def check(results: dict):
        found = [h / g for w, _, g, h in handwritten_ratios(results) if w.key == key]
        return (f"{min(found):.2f}x (vs the fastest variant)", min(found) >= target) if found else None
    return check


def _launch(results: dict):
    cell = results["cells"].get("dispatch", {}).get("wgpu") or {}
    if "raw_submit_s" not in cell:
        return None
    r = cell["sync_call_s"] / cell["raw_submit_s"]
    return f"{r:.2f}x", r <= 1.2


def mpi_section(results: dict) -> list[str]:
    """The data-parallel step on 1 and 2 processes and allreduce against mpi4py (``bench.mpi_scaling``)."""
    rows, sizes = [], []
    for column, cell in results.get("mpi_scaling", {}).items():
        if "two_s" not in cell:
            rows.append([label(column), failure(cell) or "n/a", "", ""])
            continue
        per_s = lambda n, t: number(n * cell["per_process_batch"] / t)
        rows.append([label(column), per_s(1, cell["one_s"]), per_s(2, cell["two_s"]), f"**{cell['ratio']:.2f}x**"])
        sizes += [[label(column), _bytes(r["bytes"]), f"{r['portax_s'] * 1e6:.0f}",
                   f"{r['shard_map_s'] * 1e6:.0f}" if "shard_map_s" in r else "n/a",
                   f"{r['loop_s'] * 1e6:.1f}" if "loop_s" in r else "n/a", f"{r['mpi_s'] * 1e6:.1f}",
                   f"{r['bytes'] / r['portax_s'] / 1e9:.2f}", f"**{r['ratio']:.2f}x**"] for r in cell["allreduce"]]
    if not rows:
        return []
    return ["The pmap'd SGD step of the section above with each process on its own core (`mpirun --bind-to core`, "
            "one device per process, the batch split over the processes), in examples/s, and `lax.psum` across "
            "2 processes against mpi4py's `Allreduce` on the same float32 buffers (µs per call, medians; the "
            "ratio is mpi4py's time over portax's: portax's call also dispatches a pmap'd program and checks "
            "that every process runs the same one; the shard_map column: the psum in a jitted shard_map over a "
            "mesh of every process's device, one call per psum; the loop column: one psum of a fori_loop of "
            "psums inside one such call, the call's time over its iterations).", "",
            *_table(["column", "1 process", "2 processes", "2 / 1"], rows), "",
            *_table(["column", "buffer", "portax psum µs", "shard_map psum µs", "psum in a loop µs", "mpi4py µs",
                     "portax GB/s",
                     "mpi4py / portax"], sizes)]


def _bytes(n: int) -> str:
    for unit, size in (("MB", 1 << 20), ("KB", 1 << 10)):
        if n >= size:
            return f"{n // size} {unit}"
    return f"{n} B"


def _mpi_scaling(results: dict):
    cell = results.get("mpi_scaling", {}).get("cpu_llvm") or {}
    return (f"{cell['ratio']:.2f}x", cell["ratio"] >= 1.7) if "ratio" in cell else None


def _allreduce(results: dict):
    rows = (results.get("mpi_scaling", {}).get("cpu_llvm") or {}).get("allreduce")
    if not rows:
        return None
    worst = min(rows, key=lambda r: r["ratio"])
    return f"{worst['ratio']:.2f}x at {_bytes(worst['bytes'])}", worst["ratio"] >= 0.9


def _pmap_scaling(results: dict):
    cell = results.get("pmap_scaling", {}).get("cpu_llvm") or {}
    return (f"{cell['ratio']:.2f}x", cell["ratio"] >= 1.6) if "ratio" in cell else None


def _one_dispatch(results: dict):
    cell = results["cells"].get("selu", {}).get("wgpu") or {}
    return (str(cell["dispatches"]), cell["dispatches"] == 1) if "dispatches" in cell else None


TARGETS: list[tuple[str, str, Check]] = [
    ("cpu_llvm", "dispatch overhead <= JAX's", _vs("dispatch", "cpu_llvm", "jax", 1.0)),
    ("cpu_llvm", "MLP loss compile <= JAX's", _vs("compile_loss_cold", "cpu_llvm", "jax", 1.0)),
    ("cpu_llvm", "grad compile <= JAX's", _vs("compile_grad_cold", "cpu_llvm", "jax", 1.0)),
    ("cpu_llvm", "selu >= 3x JAX", _vs("selu", "cpu_llvm", "jax", 3.0)),
    ("cpu_llvm", "selu >= 75% of copy bandwidth", _bandwidth("selu", "cpu_llvm", 0.75)),
    ("cpu_llvm", "selu faster than NumPy", _vs("selu", "cpu_llvm", "numpy", 1.0)),
    ("cpu_llvm", "sum(x + y*z) >= 1.0x JAX", _vs("sum_xyz", "cpu_llvm", "jax", 1.0)),
    ("cpu_llvm", "sum(x + y*z) faster than NumPy", _vs("sum_xyz", "cpu_llvm", "numpy", 1.0)),
    *((("cpu_llvm", f"matmul #{i + 1} >= 1.0x JAX", _vs(f"matmul_{i}", "cpu_llvm", "jax", 1.0)) for i in range(2))),
    *((("cpu_llvm", f"matmul #{i + 1} >= 0.8x NumPy", _vs(f"matmul_{i}", "cpu_llvm", "numpy", 0.8)) for i in range(2))),
    ("cpu_llvm", "MLP train step >= 1.0x JAX", _vs("mlp_step", "cpu_llvm", "jax", 1.0)),
    ("cpu_llvm", "per-example grads >= 1.0x JAX", _vs("per_example_grads", "cpu_llvm", "jax", 1.0)),
    ("cpu_llvm", "per-example grads of a linear model (sub-millisecond calls) >= 1.0x JAX",
     _vs("per_example_linear", "cpu_llvm", "jax", 1.0)),
    ("cpu_llvm", "conv forward >= 1.0x JAX", _vs("conv_fwd", "cpu_llvm", "jax", 1.0)),
    ("cpu_llvm", "conv gradients >= 1.0x JAX", _vs("conv_grads", "cpu_llvm", "jax", 1.0)),
    ("cpu_llvm", "CNN train step >= 1.0x JAX", _vs("cnn_step", "cpu_llvm", "jax", 1.0)),
    ("cpu_llvm", "convolution table (forward and gradients): >= 1.0x JAX on every shape; measured: min/median ratio "
     "vs JAX", _conv_shapes),
    ("cpu_llvm", "dot_product_attention >= 1.0x JAX", _vs("attention", "cpu_llvm", "jax", 1.0)),
    ("cpu_llvm", "normal samples faster than NumPy", _vs("normal", "cpu_llvm", "numpy", 1.0)),
    ("cpu_llvm", "pmap'd data-parallel step: 2 devices >= 1.6x the throughput of 1", _pmap_scaling),
    ("cpu_llvm", "data-parallel step: 2 processes >= 1.7x the throughput of 1", _mpi_scaling),
    ("cpu_llvm", "psum across 2 processes >= 0.9x mpi4py's Allreduce (every size, 4 B to 64 MB)", _allreduce),
    ("wgpu", "selu (a fused elementwise chain) is one dispatch", _one_dispatch),
    ("wgpu", "selu >= 0.8x hand-written", _handwritten("selu", 0.8)),
    ("wgpu", "sum(x + y*z) >= 0.8x hand-written", _handwritten("sum_xyz", 0.8)),
    ("wgpu", "matmul #1 >= 0.8x hand-written", _handwritten("matmul_0", 0.8)),
    ("wgpu", "jitted call <= 1.2x one raw submit", _launch),
]


def targets_table(results: dict) -> list[str]:
    rows = []
    for column, what, check in TARGETS:
        if column in results["columns"]:
            got = check(results)
            measured_text, met = ("not measured", "—") if got is None else (got[0], "yes" if got[1] else "**no**")
            rows.append([column, what, measured_text, met])
    return _table(["backend", "target", "measured", "met"], rows) if rows else []


def notes(results: dict) -> list[str]:
    """The full reason of every cell that has no measurement."""
    sizes = SIZES[results["mode"]]
    rows = measured(results)
    reasons: dict[tuple[str, str], list[str]] = {}
    for w in rows:
        for column, cell in results["cells"].get(w.key, {}).items():
            for field in ("unavailable", "na", "timeout", "error"):
                if field in cell:
                    reasons.setdefault((column, cell[field]), []).append(w.title(sizes))
    return [f"- {label(column)}, {'every row' if len(titles) == len(rows) else '; '.join(titles)}: {reason}"
            for (column, reason), titles in reasons.items()]


def markdown(results: dict) -> str:
    meta, membw = results["meta"], results.get("membw")
    lines = ["# portax benchmarks", "",
             f"Command: `{meta['command']}` ({results['mode']} sizes) — {meta['date']}", "",
             *(f"- {k}: {v}" for k, v in meta["machine"].items()), ""]
    if membw:
        each = "; ".join(f"copy {m['copy_GBps']:.1f}, read {m['read_GBps']:.1f}" for m in membw["measurements"])
        by_rows = [f"{kind} by {membw[f'{kind}_source']}" for kind in KINDS if membw[f"{kind}_source"] != PROBE]
        lines += [f"Memory bandwidth: copy **{membw['copy_GBps']:.1f} GB/s** (bytes read + written), read "
                  f"**{membw['read_GBps']:.1f} GB/s**: the highest byte rates reached in this run, by the probes "
                  f"(kernels generated by portax cpu_llvm on {membw['threads']} threads, a jitted negation of "
                  f"{membw['copy_elements']:,} float32 and a jitted sum of {membw['read_elements']:,}: the sizes of "
                  f"selu's and sum(x + y*z)'s inputs; the best of repeats at the start and at the end of the run: "
                  f"{each} GB/s) or by a memory-bound row itself ("
                  + ("; ".join(by_rows) if by_rows else "the probes set both") + "). A memory-bound row shows in "
                  "brackets the fraction of it that it reaches (selu: copy; sum: read), so none exceeds 100%.", ""]
    lines += ["Medians of repeats within one run. First-call rows: trace + compile + run of the jitted function in "
              "a fresh process (the backend initialised first by an unrelated tiny jitted function), median over "
              "processes; the warm disk cache is portax's `PORTAX_CACHE_DIR` and JAX's persistent compilation "
              "cache, filled by an earlier process. GB/s counts bytes read + written. NumPy's dispatch row is the "
              "same expression run eagerly, its MLP rows a hand-written backward pass. Ratios are speed ratios: "
              "above 1.0x the first-named column is faster.", "",
              *main_table(results), "", "## Kernels per jitted call", "", *kernels_table(results)]
    conv = conv_section(results)
    if conv:
        lines += ["", "## Convolution shapes", "", *conv]
    pmap = pmap_section(results)
    if pmap:
        lines += ["", "## Data parallelism (pmap)", "", *pmap]
    mpi = mpi_section(results)
    if mpi:
        lines += ["", "## Several processes (MPI)", "", *mpi]
    wgpu = wgpu_section(results)
    if wgpu:
        lines += ["", "## wgpu", "", *wgpu]
    targets = targets_table(results)
    if targets:
        lines += ["", "## Targets of the issues", "", *targets]
    missing = notes(results)
    if missing:
        lines += ["", "## Not measured", "", *missing]
    return "\n".join(lines) + "\n"
