"""``jax.profiler``: a trace of what portax did, as Chrome trace-event JSON that Perfetto and chrome://tracing open.

``start_trace(log_dir)``/``stop_trace()`` (or ``trace(log_dir)``) record, while active: tracing (one event per
function traced for jit), compiling (per backend), host<->device transfers (with bytes), program runs and
the kernels they ran (with the named scopes of the equations fused into each, bytes moved and FLOPs where
known) and ``TraceAnnotation`` ranges. ``stop_trace`` writes them, in JAX's TensorBoard layout, to
``log_dir/plugins/profile/<YYYY_MM_DD_HH_MM_SS>/<host>.trace.json.gz`` (gzipped JSON; drag it into
https://ui.perfetto.dev). ``python -m portax.profiler LOG_DIR`` prints the latest run's per-kernel table;
``--svg OUT.svg [--window NAME]`` draws its timeline instead (see profiler_svg.py).

When no trace is active the only cost is one ``session is None`` check per program run (and per transfer).

Backends report kernels through the optional ``profile(emit, *buffers)`` method of their executables (see
plugins/README.md): it runs like ``__call__`` and calls ``emit(name, start_ns, dur_ns, bytes=, flops=, calls=,
clock=)`` per kernel, with times from ``time.perf_counter_ns()`` (or GPU timestamps placed on that clock).
"""
from __future__ import annotations

import contextlib
import datetime
import functools
import gzip
import json
import math
import os
import socket
import threading
import time
from typing import Any, Callable, Iterable, Iterator, Sequence

from .ir import JaxprEqn, Literal

clock = time.perf_counter_ns  # the trace's clock (ns)
_DEVICE_TIDS = 1 << 30  # trace-event thread ids of device timelines (past OS thread ids, which stay below 2**22)


class _Session:
    """The events of one trace, with times in ns on ``perf_counter_ns``."""

    def __init__(self, log_dir: str, perfetto_copy: bool) -> None:
        self.log_dir = log_dir
        self.perfetto_copy = perfetto_copy  # also write perfetto_trace.json.gz (JAX's create_perfetto_trace)
        self.events: list[dict] = []
        self.lock = threading.Lock()
        self.tracks: dict[str, int] = {}  # device track name -> tid
        self.pid = os.getpid()

    def add(self, name: str, cat: str, start_ns: int, dur_ns: int, tid: int | None = None, **args: Any) -> None:
        ev = {"name": name, "cat": cat, "ph": "X", "ts": start_ns / 1e3, "dur": max(dur_ns, 0) / 1e3,
              "pid": self.pid, "tid": threading.get_native_id() if tid is None else tid}
        if args:
            ev["args"] = args
        with self.lock:
            self.events.append(ev)

    def track(self, device: Any) -> int:
        """The timeline (a trace-event thread) of ``device``'s kernels."""
        key = str(device)
        with self.lock:
            tid = self.tracks.get(key)
            if tid is None:
                tid = self.tracks[key] = _DEVICE_TIDS + len(self.tracks)
            return tid

    def trace_events(self) -> list[dict]:
        meta = [{"name": "process_name", "ph": "M", "pid": self.pid, "args": {"name": f"portax (pid {self.pid})"}}]
        meta += [{"name": "thread_name", "ph": "M", "pid": self.pid, "tid": tid, "args": {"name": f"{key} kernels"}}
                 for key, tid in self.tracks.items()]
        return meta + sorted(self.events, key=lambda e: e["ts"])


session: _Session | None = None  # the active trace; read (once) on every program run
_state_lock = threading.Lock()


def start_trace(log_dir: os.PathLike | str, create_perfetto_link: bool = False,
                create_perfetto_trace: bool = False, profiler_options: Any = None) -> None:
    """Start a trace, written to ``log_dir`` by :func:`stop_trace` (one trace at a time, as in JAX)."""
    global session
    if create_perfetto_link:
        raise NotImplementedError("portax.profiler: create_perfetto_link is not supported; open the written "
                                  "*.trace.json.gz in https://ui.perfetto.dev")
    with _state_lock:
        if session is not None:
            raise RuntimeError("Profile has already been started. Only one profile may be run at a time.")
        session = _Session(str(log_dir), create_perfetto_trace)


def stop_trace() -> str:
    """Stop the trace and write it; returns the path of the written ``.trace.json.gz``."""
    global session
    with _state_lock:
        s = session
        if s is None:
            raise RuntimeError("No profile started")
        session = None
    run = datetime.datetime.now().strftime("%Y_%m_%d_%H_%M_%S")
    folder = os.path.join(s.log_dir, "plugins", "profile", run)
    os.makedirs(folder, exist_ok=True)
    path = os.path.join(folder, f"{socket.gethostname()}.trace.json.gz")
    data = json.dumps({"displayTimeUnit": "ns", "traceEvents": s.trace_events()}).encode()
    for p in [path] + ([os.path.join(folder, "perfetto_trace.json.gz")] if s.perfetto_copy else []):
        with gzip.open(p, "wb") as f:
            f.write(data)
    return path


@contextlib.contextmanager
def trace(log_dir: os.PathLike | str, create_perfetto_link: bool = False, create_perfetto_trace: bool = False,
          profiler_options: Any = None) -> Iterator[None]:
    """Trace the enclosed code (a context manager; also a decorator, as ``jax.profiler.trace``)."""
    start_trace(log_dir, create_perfetto_link, create_perfetto_trace, profiler_options)
    try:
        yield
    finally:
        stop_trace()


class TraceAnnotation:
    """A named range on the trace's timeline around the enclosed code (``name`` plus keyword arguments)."""

    def __init__(self, name: str, **kwargs: Any) -> None:
        self.name, self.kwargs = name, kwargs
        self._start = None

    def __enter__(self) -> "TraceAnnotation":
        self._start = clock() if session is not None else None
        return self

    def __exit__(self, *exc) -> None:
        s = session
        if s is not None and self._start is not None:
            s.add(self.name, "annotation", self._start, clock() - self._start,
                  **{k: str(v) for k, v in self.kwargs.items()})


class StepTraceAnnotation(TraceAnnotation):
    """A training step's range (``step_num`` among the keyword arguments)."""


def annotate_function(func: Callable, name: str | None = None, **decorator_kwargs: Any) -> Callable:
    """A decorator putting each call of ``func`` on the timeline as a ``TraceAnnotation``."""
    name = name or getattr(func, "__qualname__", None) or func.__name__

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        with TraceAnnotation(name, **decorator_kwargs):
            return func(*args, **kwargs)
    return wrapper


# --- events recorded by the core and by backends -------------------------------------------------------------
@contextlib.contextmanager
def span(name: str, cat: str, **args: Any) -> Iterator[None]:
    """A host-timed event of category ``cat`` ('trace', 'compile', 'transfer', ...) when a trace is active."""
    s = session
    if s is None:
        yield
        return
    start = clock()
    try:
        yield
    finally:
        s.add(name, cat, start, clock() - start, **args)


def transfer(direction: str, nbytes: int, start_ns: int, device: Any) -> None:
    """Record a finished transfer ('host_to_device', 'device_to_host', 'device_to_device') of ``nbytes``."""
    s = session
    if s is not None:
        s.add(f"transfer {direction.replace('_', ' ')}", "transfer", start_ns, clock() - start_ns,
              bytes=int(nbytes), device=str(device))


def run_program(executable: Any, buffers: Sequence, device: Any, name: str) -> list:
    """Run ``executable`` on ``buffers`` under the active trace: its kernels through its ``profile`` hook
    if it has one, else the whole program as one event."""
    s = session
    tid = s.track(device)

    def emit(kname: str, start_ns: int, dur_ns: int, *, bytes: int = 0, flops: int = 0, calls: int = 1,
             clock: str = "host") -> None:
        s.add(kname, "kernel", start_ns, dur_ns, tid, bytes=int(bytes), flops=int(flops), calls=int(calls),
              clock=clock, device=str(device))

    start = clock()
    profile = getattr(executable, "profile", None)
    outs = profile(emit, *buffers) if profile is not None else executable(*buffers)
    dur = clock() - start
    s.add(name, "execute", start, dur, device=str(device))
    if profile is None:
        emit(name, start, dur, clock="host (whole program)")
    return outs


# --- naming and costing kernels (for backends) ----------------------------------------------------------------
def kernel_name(eqns: Sequence[JaxprEqn]) -> str:
    """A kernel's name: the named scopes of its equations, then its primitive (``mlp/dense/dot_general``) or
    ``fusion(p1,p2,...)`` for several."""
    scopes = list(dict.fromkeys(e.source_info.name_stack for e in eqns
                                if e.source_info is not None and e.source_info.name_stack))
    prims = list(dict.fromkeys(e.primitive.name for e in eqns))
    body = prims[0] if len(eqns) == 1 else f"fusion({','.join(prims[:6])}{',...' if len(prims) > 6 else ''})"
    return f"{'+'.join(scopes)}/{body}" if scopes else body


def _nbytes(aval: Any) -> int:
    return aval.size * aval.dtype.itemsize


def eqn_flops(eqn: JaxprEqn) -> int:
    """Multiply-adds counted twice for dot_general and conv_general_dilated; 0 (unknown) for the rest."""
    name = eqn.primitive.name
    if not eqn.out_binders:  # e.g. a debug callback
        return 0
    out = eqn.out_binders[0].aval
    if name == "dot_general":
        (lc, _), _ = eqn.params["dimension_numbers"]
        lhs = eqn.inputs[0].aval
        return 2 * out.size * math.prod(lhs.shape[d] for d in lc)
    if name == "conv_general_dilated":
        rhs = eqn.inputs[1].aval
        out_features = rhs.shape[eqn.params["dimension_numbers"].rhs_spec[0]]
        return 2 * out.size * (rhs.size // max(out_features, 1))
    return 0


def kernel_cost(eqns: Sequence[JaxprEqn], inputs: Iterable, outputs: Iterable) -> tuple[int, int]:
    """``(bytes moved, flops)`` of a kernel reading ``inputs`` and writing ``outputs`` (Vars)."""
    moved = sum(_nbytes(v.aval) for v in list(inputs) + list(outputs) if type(v) is not Literal)
    return moved, sum(eqn_flops(e) for e in eqns)


# --- the per-kernel table (python -m portax.profiler LOG_DIR) ------------------------------------------------
def latest_trace(log_dir: os.PathLike | str) -> str:
    """The ``.trace.json.gz`` of the latest run under ``log_dir`` (or ``log_dir`` itself if it is one)."""
    log_dir = str(log_dir)
    if log_dir.endswith(".trace.json.gz"):
        return log_dir
    root = os.path.join(log_dir, "plugins", "profile")
    runs = sorted(os.listdir(root)) if os.path.isdir(root) else []
    for run in reversed(runs):
        files = sorted(f for f in os.listdir(os.path.join(root, run)) if f.endswith(".trace.json.gz"))
        if files:
            return os.path.join(root, run, files[0])
    raise FileNotFoundError(f"no portax/JAX trace (plugins/profile/<run>/*.trace.json.gz) under {log_dir}")


def read_events(log_dir: os.PathLike | str) -> list[dict]:
    """The trace events of the latest trace under ``log_dir`` (see :func:`latest_trace`)."""
    with gzip.open(latest_trace(log_dir), "rt", encoding="utf-8") as f:
        return json.load(f)["traceEvents"]


def kernel_table(log_dir: os.PathLike | str) -> str:
    """Per kernel: calls, total and mean time, bytes moved per call, GB/s and GFLOP/s (where FLOPs are known)."""
    events = read_events(log_dir)
    rows: dict = {}
    for e in events:
        if e.get("cat") != "kernel":
            continue
        a = e.get("args", {})
        r = rows.setdefault((e["name"], a.get("device", "")), [0, 0.0, 0, 0])
        calls = a.get("calls", 1)
        r[0] += calls
        r[1] += e["dur"]
        r[2] += a.get("bytes", 0) * calls
        r[3] += a.get("flops", 0) * calls
    width = min(max([len(name) for name, _ in rows] + [6]), 80)
    head = f"{'kernel':<{width}} {'device':<18} {'calls':>7} {'total ms':>10} {'mean us':>10} {'MB/call':>9} " \
           f"{'GB/s':>8} {'GFLOP/s':>8}"
    lines = [head, "-" * len(head)]
    for (name, dev), (calls, us, nbytes, flops) in sorted(rows.items(), key=lambda kv: -kv[1][1]):
        sec = us / 1e6
        gbs = f"{nbytes / sec / 1e9:8.3g}" if sec > 0 and nbytes else f"{'-':>8}"
        gfl = f"{flops / sec / 1e9:8.3g}" if sec > 0 and flops else f"{'-':>8}"
        lines.append(f"{name[:width]:<{width}} {dev[:18]:<18} {calls:>7} {us / 1e3:>10.3f} {us / max(calls, 1):>10.1f} "
                     f"{nbytes / max(calls, 1) / 1e6:>9.3f} {gbs} {gfl}")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> None:
    """``python -m portax.profiler LOG_DIR``: print the latest trace's per-kernel table, or with ``--svg OUT``
    draw its timeline (``--window NAME``: only the last annotation named NAME, e.g. one training step)."""
    import argparse

    from .profiler_svg import render_svg, window_span
    parser = argparse.ArgumentParser(prog="python -m portax.profiler", description=main.__doc__)
    parser.add_argument("log_dir", help="the log_dir given to portax.profiler.trace (or a .trace.json.gz)")
    parser.add_argument("--svg", metavar="OUT", help="write the timeline as an SVG picture to OUT")
    parser.add_argument("--window", metavar="NAME", help="with --svg: draw only the span of the last "
                        "TraceAnnotation named NAME")
    parser.add_argument("--last", type=int, default=1, metavar="N",
                        help="with --window: the span of the last N annotations named NAME (default 1)")
    parser.add_argument("--width", type=int, default=1400, help="with --svg: picture width in px (default 1400)")
    args = parser.parse_args(argv)
    if args.svg is None and (args.window is not None or args.last != 1):
        parser.error("--window and --last apply only with --svg OUT")
    if args.window is None and args.last != 1:
        parser.error("--last needs --window NAME")
    try:
        path = latest_trace(args.log_dir)
    except FileNotFoundError as e:
        parser.error(str(e))
    print(path)
    if args.svg is None:
        print(kernel_table(path))
        return
    events = read_events(path)
    try:
        window = window_span(events, args.window, args.last) if args.window is not None else None
        title = os.path.basename(path) + (f", window: last {args.last} {args.window!r} annotation(s)" if window else "")
        svg = render_svg(events, window, args.width, title)
    except ValueError as e:
        parser.error(str(e))
    with open(args.svg, "w", encoding="utf-8") as f:
        f.write(svg)
    print(f"wrote {args.svg}")
