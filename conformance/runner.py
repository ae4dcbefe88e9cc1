"""Running the suite: every primitive's cases x dtype x transform against the reference backend, then the
PRNG, bad-input, leak and multi-device checks; the result is a ReportCard."""
from __future__ import annotations

import contextlib
import dataclasses
import re
import time
import zlib
from typing import Callable, Iterator

import numpy as np

import portax
from portax.core import dtypes as core_dtypes
from portax.core.backend import Backend, registry
from portax.core.config import config

from . import transforms
from .registry import TRANSFORMS, Case, GenContext, generators_for, tested_primitives
from .report import FAIL, NO_CASES, PASS, RUNTIME_CALL, SKIP, UNSUPPORTED, Cell, ReportCard
from .tolerances import compare, tolerance_for

GROUPS = ("primitives", "prng", "bad-input", "leak", "pmap", "processes")
REFERENCE = "reference"
LARGE_CASE_LIMIT = 1 << 24  # the largest operand (elements) made to go past a backend's dispatch limit
MAX_MESSAGES = 3


@dataclasses.dataclass
class Options:
    backend: str
    dtypes: tuple | None = None  # dtype names; None: every dtype the backend claims
    devices: int | None = None  # devices the multi-device cases may use; None: all the backend has
    processes: int | None = None  # processes of the multi-process checks (under mpirun); None: not run
    strict: bool = False  # unsupported and no-cases cells fail too
    primitives: tuple | None = None  # primitive names; None: all
    transforms: tuple = TRANSFORMS
    groups: tuple = GROUPS
    leak_calls: int = 10_000
    seed: int = 0


def run_suite(options: Options, on_cell: Callable[[Cell], None] | None = None) -> ReportCard:
    """Run the selected groups on ``options.backend`` and return the report card."""
    start = time.perf_counter()
    backend = backend_under_test(options.backend)
    dts = selected_dtypes(backend, options.dtypes)
    cells: list[Cell] = []
    for group in options.groups:
        for cell in group_cells(group, options, backend, dts):
            cells.append(cell)
            if on_cell is not None:
                on_cell(cell)
    caps = backend.capabilities
    info = {"platform": backend.platform, "devices": len(backend.devices()),
            "dtypes": " ".join(core_dtypes.short_name(d) for d in dts), "ieee_specials": caps.ieee_specials,
            "max_dispatch_elements": caps.max_dispatch_elements, "runtime_calls": "; ".join(caps.runtime_calls),
            "seconds": round(time.perf_counter() - start, 2)}
    return ReportCard(options.backend, cells, options.strict, info)


def backend_under_test(name: str) -> Backend:
    """The named backend, after checking that the reference backend (the oracle) is installed."""
    backend = registry.get(name)
    if not registry.available(REFERENCE):
        raise RuntimeError("The conformance suite compares with the numpy reference backend, which is not "
                           "installed: pip install portax-reference (plugins/reference in the portax repo).")
    return backend


def group_cells(group: str, options: Options, backend: Backend, dts: tuple) -> Iterator[Cell]:
    """The cells of one group of checks, computed one by one."""
    wide = any(d.itemsize == 8 for d in dts)
    if group == "primitives":
        with x64(wide):
            for planned in plan_primitives(backend, dts, options):
                yield run_planned(planned, options.backend, backend.capabilities)
    elif group == "prng":
        from . import prng_checks
        with x64(wide):
            yield from prng_checks.against_reference(options.backend, dts)
        with x64(False):  # the recorded jax.random values were made without x64
            yield from prng_checks.known_answers(options.backend)
            yield from prng_checks.jax_values(options.backend)
    elif group == "bad-input":
        from . import bad_input
        yield from bad_input.run(options.backend)
    elif group == "leak":
        from . import leak_check
        yield from leak_check.run(options.backend, options.leak_calls)
    elif group == "pmap":
        from . import pmap_checks
        yield from pmap_checks.run(options.backend, options.devices)
    elif group == "processes":
        from . import process_checks
        yield from process_checks.run(options.backend, options.processes)
    else:
        raise ValueError(f"Unknown group of checks '{group}'; use one of {', '.join(GROUPS)}")


# Every backend computes in float16 and the ml_dtypes floats (natively, or through ``core.narrow_floats``):
# float16 is tested by default, bfloat16 and the float8 types when asked for (--dtypes bf16 f8_e4m3fn ...).
_TESTABLE = core_dtypes.SUPPORTED + core_dtypes.CUSTOM_FLOATS


def selected_dtypes(backend: Backend, names: tuple | None) -> tuple:
    """The backend's claimed dtypes and float16 (in the core's order), or those of them and of the ml_dtypes
    floats named in ``names``."""
    claimed = [d for d in core_dtypes.SUPPORTED if d in backend.capabilities.dtypes or d == core_dtypes.float16]
    if not names:
        return tuple(claimed)
    wanted = {parse_dtype(n) for n in names}
    return tuple(d for d in claimed + list(core_dtypes.CUSTOM_FLOATS) if d in wanted)


def parse_dtype(name: str) -> np.dtype:
    """A dtype from its short (``f32``) or numpy (``float32``) name; ValueError listing the valid ones."""
    by_short = {core_dtypes.short_name(d): d for d in _TESTABLE}
    if name in by_short:
        return by_short[name]
    try:
        d = np.dtype(name)
    except TypeError:
        d = None
    if d is None or d not in _TESTABLE:  # (np.dtype == None compares equal to float64)
        valid = ", ".join(d.name for d in _TESTABLE)
        raise ValueError(f"Unknown dtype '{name}' for --dtypes; use one of {valid} (or f32, i8, u16, bool, ...)")
    return d


@contextlib.contextmanager
def x64(enabled: bool) -> Iterator[None]:
    """Run with ``enable_x64`` set as given (64-bit dtypes are only representable with it on)."""
    old = config.enable_x64
    if enabled != old:
        config.update("enable_x64", enabled)
    try:
        yield
    finally:
        if config.enable_x64 != old:
            config.update("enable_x64", old)


# --- primitives ---------------------------------------------------------------------------------------------
def large_size(max_dispatch_elements: int | None) -> int | None:
    """An odd operand size past the backend's single-dispatch limit, when it is small enough to test."""
    if max_dispatch_elements is None or max_dispatch_elements + 17 > LARGE_CASE_LIMIT:
        return None
    return max_dispatch_elements + 17


@dataclasses.dataclass
class PlannedCell:
    """A report cell before it runs: the (case, layout) runs of one primitive x dtype x transform."""

    name: str
    dtype: str
    transform: str
    runs: list
    preset: Cell | None = None  # decided without running (no-cases, skip)

    @property
    def id(self) -> str:
        return f"{self.name}-{self.dtype}-{self.transform}"


def plan_primitives(backend: Backend, dts: tuple, options: Options) -> Iterator[PlannedCell]:
    """Every primitive's cases grouped into cells; the primitive table decides what is covered."""
    caps = backend.capabilities
    if caps.max_dispatch_elements is not None and large_size(caps.max_dispatch_elements) is None:
        yield _preset("max_dispatch_elements", "eval", SKIP,
                      f"max_dispatch_elements={caps.max_dispatch_elements} is past the largest operand the suite "
                      f"makes ({LARGE_CASE_LIMIT} elements); no case goes past it")
    for prim in tested_primitives():
        if options.primitives and prim.name not in options.primitives:
            continue
        gens = generators_for(prim)
        if not gens:
            yield _preset(prim.name, "-", NO_CASES,
                          "no case generator is registered for this primitive (portax.conformance.register_cases)")
            continue
        rng = np.random.RandomState((options.seed * 7919 + zlib.crc32(prim.name.encode())) % 2**32)
        ctx = GenContext(dts, rng, caps.ieee_specials, large_size(caps.max_dispatch_elements),
                         caps.flushes_subnormals)
        cases = [c for g in gens for c in g(ctx) if accepted(c)]
        if not cases:
            yield _preset(prim.name, "-", SKIP, "no case for the dtypes under test")
            continue
        by_dtype: dict = {}
        for c in cases:
            by_dtype.setdefault(c.dtype, []).append(c)
        for dt, dcases in by_dtype.items():
            for t in options.transforms:
                runs = [(c, layout) for c in dcases if _applicable(c, t) for layout in transforms.layouts_for(c, t)]
                if runs:
                    yield PlannedCell(prim.name, core_dtypes.short_name(dt), t, runs)


def _preset(name: str, transform: str, status: str, message: str) -> PlannedCell:
    return PlannedCell(name, "-", transform, [], Cell("primitive", name, "-", transform, status, message))


def run_planned(planned: PlannedCell, backend_name: str, caps) -> Cell:
    if planned.preset is not None:
        return planned.preset
    outcomes = [check(c, planned.transform, layout, backend_name, caps.ieee_specials) for c, layout in planned.runs]
    return aggregate("primitive", planned.name, planned.dtype, planned.transform, outcomes, caps.runtime_calls)


def accepted(case: Case) -> bool:
    """Whether the core's shape/dtype rules accept the case (cases of dtypes an op rejects are dropped, such as
    float16 decompositions, which the core refuses with NotImplementedError as JAX does on CPU)."""
    try:
        portax.eval_shape(case.fn, *case.args)
    except (TypeError, ValueError, NotImplementedError):
        return False
    return True


def _applicable(case: Case, transform: str) -> bool:
    try:
        return transforms.applicable(case, transform)
    except Exception:  # an invalid case shows up as a failure of the transform itself
        return transform in case.transforms


def check(case: Case, transform: str, layout: str, backend_name: str, ieee_specials: bool) -> tuple[str, str]:
    """(status, message) of one case: the backend's outputs vs the reference backend's."""
    where = (f"{case.primitive.name} {core_dtypes.short_name(case.dtype)} under {transform} "
             f"({layout} operands {case.label})")
    try:
        want = transforms.run(case, transform, layout, REFERENCE)
    except NotImplementedError as e:
        return UNSUPPORTED, f"{where}: not implemented in the core or the reference backend: {e}"
    except Exception as e:
        return FAIL, f"{where}: the reference run failed (a bug of the suite or the core): {type(e).__name__}: {e}"
    if backend_name == REFERENCE:  # certifying the oracle itself: running it is the check
        return PASS, ""
    try:
        got = transforms.run(case, transform, layout, backend_name)
    except NotImplementedError as e:
        return UNSUPPORTED, f"{where}: {e}"
    except Exception as e:
        return FAIL, f"{where}: raised {type(e).__name__}: {e}"
    if len(got) != len(want):
        return FAIL, f"{where}: returned {len(got)} outputs, expected {len(want)}"
    for i, (g, w) in enumerate(zip(got, want)):
        tol = (case.tolerance or tolerance_for(case.primitive.name, w.dtype)).for_transform(transform)
        mismatch = compare(g, w, tol, ieee_specials, case.accum)
        if mismatch is not None:
            out = f" output {i}" if len(want) > 1 else ""
            return FAIL, f"{where}{out}: {mismatch}"
    return PASS, ""


def aggregate(group: str, name: str, dtype: str, transform: str, outcomes: list, runtime_calls: tuple) -> Cell:
    """One report cell from its cases: fail if any failed, unsupported if any was, else pass/runtime-call."""
    statuses = [s for s, _ in outcomes]
    for status in (FAIL, UNSUPPORTED):
        if status in statuses:
            msgs = [m for s, m in outcomes if s == status]
            more = f"\n(and {len(msgs) - MAX_MESSAGES} more)" if len(msgs) > MAX_MESSAGES else ""
            return Cell(group, name, dtype, transform, status, "\n".join(msgs[:MAX_MESSAGES]) + more, len(outcomes))
    documented = [r for r in runtime_calls if re.search(rf"\b{re.escape(name)}\b", r)]
    if documented:
        return Cell(group, name, dtype, transform, RUNTIME_CALL, "; ".join(documented), len(outcomes))
    return Cell(group, name, dtype, transform, PASS, "", len(outcomes))
