"""The differential tester: its own pieces, then a fixed-seed slice of random programs on every backend
(eager, jit, grad, vmap against the reference backend; on the reference itself, against numpy and its
other modes). ``make fuzz N=...`` runs long slices with fresh seeds."""
import importlib.util
import pathlib

import numpy as np
import pytest

from . import runner
from .fuzz import available_backends, report, run
from .generator import generate
from .minimize import minimize, repro
from .runner import DISAGREE, EXCEPTION, UNSUPPORTED, check, compare

SLICE = range(0, 100)  # 5-25 s per backend on two cores (warm or cold compile caches)


def test_programs_are_reproducible_from_their_seed():
    a, b = generate(123), generate(123)
    assert a.source() == b.source()
    assert all(np.array_equal(a.values[x], b.values[x]) for x in a.inputs)
    assert len({generate(s).source() for s in range(40)}) > 30


def test_generated_programs_cover_the_features():
    progs = [generate(s) for s in range(300)]
    tags = set().union(*(p.tags for p in progs))
    for tag in ("sin", "compare", "where", "sum", "argmax", "cumsum", "sort", "dot", "reshape", "transpose",
                "slice", "concat", "at", "cond", "fori", "scan", "while", "astype"):
        assert tag in tags, tag
    dtypes = {str(p.values[x].dtype) for p in progs for x in p.inputs}
    assert {"int32", "bool", "float16", "float32", "float64", "complex64"} <= dtypes
    shapes = [p.vars[x].shape for p in progs for x in p.inputs]
    assert any(0 in s for s in shapes) and any(1 in s for s in shapes)


def test_comparison_tolerances():
    prog = generate(1)
    w = [np.array([1.0, 2.0, np.nan], np.float32)]
    assert compare([w[0].copy()], w, prog, "jit") is None
    assert "differ" in compare([np.array([1.0, 2.5, np.nan], np.float32)], w, prog, "jit")
    assert "differ" in compare([np.array([1.0, 2.0, 3.0], np.float32)], w, prog, "jit")  # NaN must match
    assert "dtype" in compare([w[0].astype(np.float64)], w, prog, "jit")
    ints = [np.array([1, 2], np.int32)]
    assert "differ" in compare([np.array([1, 3], np.int32)], ints, prog, "jit")  # ints are exact


def _variant_backends():
    """tests/conformance/conformance_backends.py (a reference backend variant registered as a plugin)."""
    path = pathlib.Path(__file__).parent.parent / "conformance" / "conformance_backends.py"
    spec = importlib.util.spec_from_file_location("conformance_backends_for_differential", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_a_disagreement_is_minimised_to_a_standalone_repro():
    """A backend made wrong on purpose (sin computed as cos) is caught, shrunk and printed as a snippet."""
    from portax.core.backend import registry
    from portax.core.primitives import elementwise as ew
    cos = registry.get("reference").rules[ew.cos_p]
    with _variant_backends().installed("sin_is_cos", rules={ew.sin_p: cos}):
        progs = (generate(s) for s in range(300))
        found = ((p, check(p, "sin_is_cos", "jit")) for p in progs if "sin" in p.tags and len(p.ops) >= 4)
        prog, outcome = next((p, o) for p, o in found if o.status == DISAGREE)
        small = minimize(prog, "sin_is_cos", "jit", outcome, seconds=30)
        assert len(small.ops) < len(prog.ops) and "jnp.sin" in small.source()
        text = repro(small, "sin_is_cos", "jit", check(small, "sin_is_cos", "jit"))
    assert "def f(" in text and 'portax.jit(f, backend="sin_is_cos")' in text and "# disagree" in text


def test_exceptions_and_unsupported_are_told_apart():
    """NotImplementedError (a documented unsupported feature) is counted apart from other exceptions."""
    assert runner._attempt(lambda: (_ for _ in ()).throw(NotImplementedError("x")))[0] == UNSUPPORTED
    assert runner._attempt(lambda: 1 / 0)[0] == EXCEPTION
    tally = run(range(5), ["reference"], modes=("eager",))
    assert sum(tally.counts["reference", "eager"].values()) == 5
    assert "reference  eager" in report(tally, minimize_seconds=0, max_repros=0)


@pytest.mark.parametrize("backend", available_backends())
def test_fixed_seed_slice(backend):
    tally = run(SLICE, [backend])
    assert not tally.failures and not tally.generator_errors, "\n" + report(tally, minimize_seconds=10, max_repros=3)
