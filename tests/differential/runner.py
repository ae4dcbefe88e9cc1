"""Running a generated program in each mode on each backend and comparing with the oracle.

Each backend's eager/jit/grad/vmap results are compared with the reference backend's in the same mode. On the
reference backend itself the modes are checked against each other: eager against numpy (where the program has a
numpy equivalent), jit and grad against eager, vmap against a loop of eager calls.
"""
from __future__ import annotations

import contextlib
import dataclasses
import traceback
import warnings
from typing import Callable, Iterator

import numpy as np

import portax
import portax.numpy as jnp
from portax import lax
from portax.core.backend import registry
from portax.core.config import config
from portax.tree_util import tree_flatten

from .generator import FLOATS, Program, input_values

REFERENCE = "reference"
MODES = ("eager", "jit", "grad", "vmap")
OK, DISAGREE, EXCEPTION, UNSUPPORTED, NA = "ok", "disagree", "exception", "unsupported", "n/a"
# relative tolerance per output dtype, per equation of float arithmetic; the absolute tolerance is this times
# the output's magnitude bound (cancellation in a sum loses precision relative to its terms, not its result)
RTOL = {"float16": 4e-3, "float32": 4e-6, "float64": 1e-13, "complex64": 4e-6}
MODE_FACTOR = {"eager": 1.0, "jit": 1.0, "grad": 8.0, "vmap": 1.0}
VMAP_SIZE = 2


@dataclasses.dataclass
class Outcome:
    status: str
    message: str = ""


@contextlib.contextmanager
def settings(backend: str, x64: bool) -> Iterator[None]:
    """Eager ops on ``backend``, with ``enable_x64`` as given."""
    old = (config.default_backend, config.enable_x64)
    config.update("enable_x64", x64)
    config.update("default_backend", backend)
    try:
        yield
    finally:
        config.update("default_backend", old[0])
        config.update("enable_x64", old[1])


def compile_program(prog: Program, module=None) -> Callable:
    """The program's function, with ``jnp`` bound to portax.numpy (or to ``module``, e.g. numpy)."""
    ns = {"jnp": module or jnp, "lax": lax, "np": np}
    exec(prog.source(), ns)
    return ns["f"]


def _host(out) -> list[np.ndarray]:
    return [np.asarray(o) for o in tree_flatten(out)[0]]


def args_of(prog: Program) -> list[np.ndarray]:
    return [prog.values[x] for x in prog.inputs]


def batched_args(prog: Program) -> tuple[list, tuple]:
    """VMAP_SIZE different values per batched input, stacked on axis 0; every third input is not batched."""
    rng = np.random.RandomState(prog.seed + 1)
    axes, args = [], []
    for i, x in enumerate(prog.inputs):
        v = prog.values[x]
        if i % 3 == 2:
            axes.append(None)
            args.append(v)
        else:
            axes.append(0)
            args.append(np.stack([v] + [input_values(rng, v.shape, str(v.dtype)) for _ in range(VMAP_SIZE - 1)]))
    if all(a is None for a in axes):
        return [], ()
    return args, tuple(axes)


def grad_spec(prog: Program) -> tuple[list[int], list[np.ndarray]] | None:
    """The inputs to differentiate (float and complex ones) and one weight array per differentiable output."""
    if prog.no_grad:
        return None
    argnums = [i for i, x in enumerate(prog.inputs) if str(prog.values[x].dtype) in FLOATS + ("complex64",)]
    outs = [prog.vars[o] for o in prog.outputs]
    if not argnums or not any(o.kind in "fc" for o in outs):
        return None
    rng = np.random.RandomState(prog.seed + 2)
    weights = [rng.randint(-8, 9, size=o.shape).astype(np.float32) / 8 for o in outs]
    return argnums, weights


def loss_of(prog: Program, f: Callable, weights: list) -> Callable:
    kinds = [prog.vars[o].kind for o in prog.outputs]

    def loss(*args):
        total = 0.0
        for o, w, k in zip(f(*args), weights, kinds):
            if k in "fc":
                total = total + jnp.sum(jnp.real(o).astype(jnp.float32) * w)
        return total
    return loss


def run_mode(prog: Program, mode: str, backend: str, jitted: bool = True) -> list[np.ndarray] | None:
    """The program's outputs in ``mode`` on ``backend`` (None: the mode does not apply to the program)."""
    f = compile_program(prog)
    with settings(backend, prog.x64), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        wrap = (lambda h: portax.jit(h, backend=backend)) if jitted else (lambda h: h)
        if mode == "eager":
            return _host(f(*args_of(prog)))
        if mode == "jit":
            return _host(portax.jit(f, backend=backend)(*args_of(prog)))
        if mode == "grad":
            spec = grad_spec(prog)
            if spec is None:
                return None
            argnums, weights = spec
            return _host(wrap(portax.grad(loss_of(prog, f, weights), argnums=tuple(argnums)))(*args_of(prog)))
        if mode == "vmap":
            args, axes = batched_args(prog)
            if not axes:
                return None
            return _host(wrap(portax.vmap(f, in_axes=axes))(*args))
    raise ValueError(mode)


def vmap_by_loop(prog: Program) -> list[np.ndarray] | None:
    """vmap's expected result: the eager reference results of each batch element, stacked."""
    args, axes = batched_args(prog)
    if not axes:
        return None
    f = compile_program(prog)
    with settings(REFERENCE, prog.x64), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        rows = [_host(f(*[a if ax is None else a[i] for a, ax in zip(args, axes)])) for i in range(VMAP_SIZE)]
    return [np.stack(r) for r in zip(*rows)]


def run_numpy(prog: Program) -> list[np.ndarray] | None:
    """The program with numpy as ``jnp`` (None when some op has no numpy equivalent)."""
    if not prog.numpy_ok:
        return None
    f = compile_program(prog, np)
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            return [np.asarray(o) for o in f(*[np.copy(a) for a in args_of(prog)])]
        except Exception:  # numpy spells some call differently: no numpy check for this program
            return None


# --- comparison -----------------------------------------------------------------------------------------------
STRUCTURAL = {"reshape", "transpose", "slice", "concat", "broadcast", "expand_dims", "squeeze", "flip", "take",
              "negative", "abs", "conj", "real", "where", "max", "min", "maximum", "minimum", "sort", "floor", "ceil",
              "round", "sign"}
TRANSCENDENTAL = {"sin", "cos", "tanh", "exp", "expm1", "log", "log1p", "sqrt", "rsqrt", "arctan", "arcsinh", "sinh",
                  "cosh", "logistic", "erf", "pow", "atan2", "cond", "fori", "scan", "while"}


def float_ops(prog: Program) -> float:
    """The program's rounding steps: 0 for exact (structural) float ops, 1 per arithmetic op, 2 per
    transcendental one (a few ulps each) and control flow."""
    weight = {**{t: 0 for t in STRUCTURAL}, **{t: 2 for t in TRANSCENDENTAL}}
    return 1 + sum(weight.get(op.tag, 1) for op in prog.ops if prog.vars[op.out].kind in "fc")


def least_precise(prog: Program) -> str:
    """The float dtype whose rounding dominates the program's error."""
    dts = {prog.vars[x].dtype for x in prog.inputs + [op.out for op in prog.ops]}
    return next((d for d in ("float16", "float32", "complex64") if d in dts), "float64")


def compare(got: list, want: list, prog: Program, mode: str, loose_dtype: bool = False,
            ieee: bool = True) -> str | None:
    """None if ``got`` matches ``want``, else what differs."""
    if len(got) != len(want):
        return f"{len(got)} outputs, expected {len(want)}"
    for i, (g, w) in enumerate(zip(got, want)):
        where = f"output {i}: " if len(want) > 1 else ""
        if loose_dtype and (g.dtype.kind == "c" or w.dtype.kind != "c"):  # numpy's dtype rules differ a little
            w = w.astype(g.dtype)
        if g.shape != w.shape:
            return f"{where}shape {g.shape}, expected {w.shape}"
        if g.dtype != w.dtype:
            return f"{where}dtype {g.dtype}, expected {w.dtype}"
        if not ieee and w.dtype.kind in "fc":  # a backend without IEEE inf/NaN: those positions are unspecified
            g = np.where(np.isfinite(w), g, w)
        rtol = RTOL[least_precise(prog)] if w.dtype.kind in "fc" else None
        msg = _compare_values(g, w, _scale(prog, i, mode, w), rtol, float_ops(prog) * MODE_FACTOR[mode])
        if msg:
            return where + msg
    return None


def _scale(prog: Program, i: int, mode: str, w: np.ndarray) -> float:
    finite = np.abs(w[np.isfinite(w)]) if w.dtype.kind in "fc" else np.zeros(0)
    big = float(finite.max()) if finite.size else 0.0
    if mode == "grad":
        return max(big, 1.0)
    return max(big, prog.vars[prog.outputs[i]].bound if i < len(prog.outputs) else 0.0, 1.0)


def _compare_values(g: np.ndarray, w: np.ndarray, scale: float, rtol: float | None, ops: float) -> str | None:
    if rtol is None:  # ints and bools: exact
        bad = g != w
        if not bad.any():
            return None
        j = np.argwhere(bad)[0]
        return f"{int(bad.sum())} of {w.size} elements differ, e.g. at {tuple(int(k) for k in j)}: got {g[tuple(j)]!r}, expected {w[tuple(j)]!r}"
    parts = [(g.real, w.real), (g.imag, w.imag)] if w.dtype.kind == "c" else [(g, w)]
    tol_r = rtol * ops
    for gp, wp in parts:
        gp, wp = gp.astype(np.float64), wp.astype(np.float64)
        nan_bad = np.isnan(gp) != np.isnan(wp)
        inf_bad = (np.isinf(gp) | np.isinf(wp)) & (gp != wp) & ~np.isnan(gp) & ~np.isnan(wp)
        fin = np.isfinite(gp) & np.isfinite(wp)
        err = np.where(fin, np.abs(gp - wp), 0.0)
        val_bad = err > tol_r * scale + tol_r * np.abs(wp)
        bad = nan_bad | inf_bad | val_bad
        if bad.any():
            j = tuple(int(k) for k in np.argwhere(bad)[0])
            worst = float(err.max() / scale)
            return (f"{int(bad.sum())} of {w.size} elements differ, e.g. at {j}: got {gp[j]!r}, expected {wp[j]!r} "
                    f"(max error {worst:.3g} x scale {scale:.3g}; tolerance {tol_r:.3g})")
    return None


# --- one check --------------------------------------------------------------------------------------------------
def _attempt(fn: Callable) -> tuple[str, object]:
    try:
        return OK, fn()
    except NotImplementedError as e:
        return UNSUPPORTED, f"NotImplementedError: {e}"
    except Exception as e:
        tb = traceback.extract_tb(e.__traceback__)[-1]
        return EXCEPTION, f"{type(e).__name__}: {str(e)[:300]} ({tb.filename.split('/')[-1]}:{tb.lineno})"


def check(prog: Program, backend: str, mode: str, cache: dict | None = None) -> Outcome:
    """Outcome of ``prog`` in ``mode`` on ``backend`` against its oracle; ``cache`` keeps reference results."""
    cache = {} if cache is None else cache
    if backend == REFERENCE:
        got_fn = {"eager": lambda: run_mode(prog, "eager", REFERENCE), "jit": lambda: run_mode(prog, "jit", REFERENCE),
                  "grad": lambda: run_mode(prog, "grad", REFERENCE),
                  "vmap": lambda: run_mode(prog, "vmap", REFERENCE)}[mode]
        want_fn = {"eager": lambda: run_numpy(prog), "jit": lambda: _cached(cache, prog, "eager"),
                   "grad": lambda: run_mode(prog, "grad", REFERENCE, jitted=False),
                   "vmap": lambda: vmap_by_loop(prog)}[mode]
        oracle = "numpy" if mode == "eager" else ("loop of eager calls" if mode == "vmap" else "reference eager")
    else:
        got_fn = lambda: run_mode(prog, mode, backend)  # noqa: E731
        want_fn = lambda: _cached(cache, prog, mode)  # noqa: E731
        oracle = "reference"
    status, want = _attempt(want_fn)
    if status != OK:
        if backend == REFERENCE or status == UNSUPPORTED:
            return Outcome(status, f"oracle ({oracle}): {want}")
        return Outcome(NA, f"the reference failed: {want}")
    if want is None:
        return Outcome(NA)
    status, got = _attempt(got_fn)
    if status != OK:
        return Outcome(status, got)
    if got is None:
        return Outcome(NA)
    msg = compare(got, want, prog, mode, loose_dtype=backend == REFERENCE and mode == "eager",
                  ieee=registry.get(backend).capabilities.ieee_specials)
    return Outcome(DISAGREE, f"vs {oracle}: {msg}") if msg else Outcome(OK)


def _cached(cache: dict, prog: Program, mode: str):
    key = (prog.source(), prog.x64, mode, tuple(prog.values[x].tobytes() for x in prog.inputs))
    if key not in cache:
        cache[key] = _attempt(lambda: run_mode(prog, mode, REFERENCE))
    status, value = cache[key]
    if status == OK:
        return value
    raise _Reraised(value) if status == EXCEPTION else NotImplementedError(value)


class _Reraised(Exception):
    """The reference run's exception, kept as text in the cache and raised again for each backend."""
