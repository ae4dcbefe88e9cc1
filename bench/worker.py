"""Measurements in a fresh process: ``python -m bench.worker COLUMN WORKLOAD... [--mode M] [--cache-dir D]``.

COLUMN is a portax backend name, ``numpy``, or ``jax`` (run with the JAX virtualenv's python; nothing
here imports portax then). Prints one JSON line per workload (key ``workload``): ``seconds`` per call
(median of repeats), ``first_s`` and ``samples``; for portax backends the kernel count and dispatches per
jitted call; on wgpu the hand-written reference shaders' times and the launch overheads; or
``na``/``error``/``unavailable`` with the reason (a result that differs from NumPy's is an error, see
``checks``). A first-call row (``compile_*``) times the first call of the process, so it is run alone;
``--cache-dir`` turns the disk cache on (portax's ``PORTAX_CACHE_DIR``, JAX's persistent compilation
cache), else it is off.
"""
from __future__ import annotations

import argparse
import functools
import json
import os
import re
import time
import traceback
from typing import Any

import numpy as np

from . import workloads
from .checks import verify
from .timing import measure
from .workloads import BY_KEY, SIZES, Job, Sizes

REPEATS = {"full": dict(min_repeats=5, max_repeats=25, budget_s=4.0),
           "quick": dict(min_repeats=2, max_repeats=3, budget_s=0.3)}


class Framework:
    """The module a workload is written against (portax or jax), its ``jit`` bound to one backend, and
    ``put``/``block`` for that backend's first device."""

    def __init__(self, column: str):
        if column == "jax":
            import jax
            self.jax, self.jit = jax, jax.jit
            self.device = jax.devices("cpu")[0]
        else:
            import portax
            self.jax, self.jit = portax, functools.partial(portax.jit, backend=column)
            self.device = portax.devices(column)[0]
        self.column = column

    def put(self, x: np.ndarray) -> Any:
        return self.jax.device_put(x, self.device)

    def block(self, out: Any) -> Any:
        return self.jax.block_until_ready(out)


def _configure_cache(column: str, cache_dir: str | None) -> None:
    """Disk compile cache on (in ``cache_dir``) or off, before the framework is imported."""
    if column == "jax":
        if cache_dir is not None:
            import jax
            jax.config.update("jax_compilation_cache_dir", cache_dir)
            jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.0)
            jax.config.update("jax_persistent_cache_min_entry_size_bytes", -1)
    elif cache_dir is not None:
        os.environ["PORTAX_CACHE_DIR"] = cache_dir
        os.environ.pop("PORTAX_DISABLE_DISK_CACHE", None)
    else:
        os.environ["PORTAX_DISABLE_DISK_CACHE"] = "1"


def _first_call(fw: Framework, key: str, sizes: Sizes) -> dict:
    """Time the first call of a jitted MLP loss or its grad; the backend is initialised beforehand by an
    unrelated tiny jitted function, so only tracing, compiling and running the MLP is timed."""
    fw.block(fw.jit(lambda x: x + 1.0)(fw.put(np.zeros(4, np.float32))))
    job = workloads.build(fw, f"compile_{BY_KEY[key].compile_probe}", sizes)
    start = time.perf_counter()
    out = fw.block(job())
    seconds = time.perf_counter() - start
    verify(key, out, sizes)
    return {"seconds": seconds, "first_s": seconds, "samples": [seconds], **_kernel_info(fw, job)}


def _kernel_info(fw: Framework, job: Job) -> dict:
    """Generated kernels and dispatches of the last call, where the backend exposes them."""
    if fw.column == "jax":
        return {}
    compiled = job.fn.lower(*job.args).compile()
    info = {"kernels": compiled.kernel_count}
    dispatches = getattr(compiled.executable, "last_dispatches", None)
    if dispatches is not None:
        info["dispatches"] = dispatches
    # kernel variants the backend chose (wgpu tags them in the kernel's context, e.g. "... [tiled]")
    variants = sorted({m for k in compiled.kernels for m in re.findall(r"\[(\w+)\]$", getattr(k, "context", ""))})
    if variants:
        info["variants"] = variants
    return info


def _timed(job: Job, block, mode: str) -> dict:
    """Seconds per call of ``job`` (median, first run, samples)."""
    t = measure(job, block, **REPEATS[mode])
    per = job.calls
    return {"seconds": t.median_s / per, "first_s": t.first_s / per, "samples": [s / per for s in t.samples]}


@functools.lru_cache(maxsize=None)
def _wgpu_device():
    """A runtime device on the adapter the wgpu backend uses, for the hand-written shaders and raw submits."""
    from portax.backends.wgpu import runtime
    return runtime.create_devices(count=1)[0]


def _wgpu_extras(fw: Framework, key: str, sizes: Sizes, job: Job, mode: str) -> dict:
    """On wgpu: a jitted call + wait vs one raw submit + wait (dispatch row), hand-written shaders (others);
    all medians of the same repeats as the generated kernels."""
    from .wgsl_reference import RAW_BATCH, raw_submits, references
    device = _wgpu_device()

    def median_s(run) -> float:
        return measure(run, lambda _: device.synchronize("bench"), **REPEATS[mode]).median_s
    if key == "dispatch":
        one, many = map(median_s, raw_submits(device))
        return {"sync_call_s": measure(Job(job.fn, job.args), fw.block, **REPEATS[mode]).median_s,
                "raw_submit_s": one, "per_dispatch_s": max(many - one, 0.0) / (RAW_BATCH - 1),
                "adapter": f"{device.capabilities.adapter_name} via {device.capabilities.backend_type}"}
    handwritten = {}
    for ref in references(device, key, sizes):
        handwritten[ref.name] = median_s(ref.run)
        verify(key, ref.read(), sizes)
    return {"handwritten": handwritten} if handwritten else {}


def run(fw: Framework | None, key: str, mode: str) -> dict:
    """Measure workload ``key`` with ``fw`` (None: the NumPy column)."""
    sizes = SIZES[mode]
    if fw is None:
        from . import numpy_impl
        job = numpy_impl.build(key, sizes)
        return {**_timed(job, lambda out: out, mode), "blas": numpy_impl.blas_info()}
    if BY_KEY[key].compile_probe:
        return _first_call(fw, key, sizes)
    job = workloads.build(fw, key, sizes)
    result = _timed(job, fw.block, mode)
    verify(key, fw.block(job()), sizes)
    result.update(_kernel_info(fw, job))
    if fw.column == "wgpu":
        result.update(_wgpu_extras(fw, key, sizes, job, mode))
    return result


def _guarded(fw: Framework | None, key: str, mode: str) -> dict:
    try:
        return run(fw, key, mode)
    except NotImplementedError as e:
        return {"na": f"NotImplementedError: {e}"}
    except Exception as e:
        traceback.print_exc()
        return {"error": f"{type(e).__name__}: {e}"}


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("column")
    p.add_argument("workloads", nargs="+", choices=sorted(BY_KEY), metavar="WORKLOAD")
    p.add_argument("--mode", choices=sorted(SIZES), default="full")
    p.add_argument("--cache-dir")
    args = p.parse_args(argv)
    _configure_cache(args.column, args.cache_dir)
    fw, unavailable = None, None
    if args.column != "numpy":
        try:
            fw = Framework(args.column)
        except Exception as e:  # the backend is missing or failed to initialise: every row of the column is n/a
            unavailable = {"unavailable": f"{type(e).__name__}: {e}"}
    for key in args.workloads:
        result = unavailable or _guarded(fw, key, args.mode)
        print(json.dumps({"workload": key, **result}), flush=True)


if __name__ == "__main__":
    main()
