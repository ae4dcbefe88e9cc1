"""The suite run programmatically: a fast subset passes on the reference backend, and a deliberately
broken lowering (a test plugin registered at runtime) fails it with a message naming primitive, dtype,
shape and transform."""
import numpy as np
import pytest

from conformance_backends import installed
from portax.conformance import Options, run_suite
from portax.conformance.report import FAIL, PASS, RUNTIME_CALL, UNSUPPORTED
from portax.core.primitives import elementwise as ew

SUBSET = ("add", "sin", "convert_element_type", "broadcast_in_dim", "transpose", "reduce_max", "dot_general",
          "dynamic_slice", "scatter_add", "cond", "while", "scan", "pjit", "threefry2x32")
DTYPES = ("f32", "i32", "u32", "bool")


def _run(backend, **kw):
    kw.setdefault("dtypes", DTYPES)
    kw.setdefault("groups", ("primitives",))
    return run_suite(Options(backend, **kw))


def test_reference_subset_passes():
    card = _run("reference", primitives=SUBSET, groups=("primitives", "prng", "bad-input"))
    assert card.passed, "\n".join(c.message for c in card.failures())
    covered = {(c.name, c.transform) for c in card.cells if c.group == "primitive"}
    for prim in SUBSET:
        assert (prim, "eval") in covered and (prim, "jit") in covered and (prim, "vmap") in covered
    assert ("sin", "jvp") in covered and ("sin", "vjp") in covered and ("while", "vjp") not in covered
    assert {c.dtype for c in card.cells if c.name == "sin"} == {"f32"}  # sin's shape rule takes floats only
    assert {c.group for c in card.cells} == {"primitive", "prng", "bad-input"}


def _off_by_a_little(x):
    with np.errstate(all="ignore"):
        out = np.sin(x)
    return out * np.float32(1.001) if x.dtype == np.float32 else out


def test_broken_lowering_fails_naming_primitive_dtype_and_transform():
    with installed("broken", rules={ew.sin_p: _off_by_a_little}):
        card = _run("broken", primitives=("sin", "cos"), dtypes=("f32", "f64"))
    failed = {(c.name, c.dtype, c.transform) for c in card.failures()}
    assert not card.passed and card.exit_code() == 1
    # sin is wrong everywhere; cos only where its derivative calls sin; float64 is untouched
    assert failed == {("sin", "f32", t) for t in ("eval", "jit", "vmap", "jvp", "vjp")} | \
        {("cos", "f32", "jvp"), ("cos", "f32", "vjp")}
    message = next(c.message for c in card.failures() if c.transform == "eval")
    assert message.startswith("sin f32 under eval")
    assert "f32[" in message and "max error" in message and "ulp" in message and "tolerance" in message


def test_broken_lowering_only_past_the_dispatch_limit():
    def wrong_when_large(x, y):
        with np.errstate(all="ignore"):
            out = np.add(x, y)
        return out + np.ones((), out.dtype) if out.size > 100 else out
    with installed("chunked", rules={ew.add_p: wrong_when_large}, max_dispatch_elements=100):
        card = _run("chunked", primitives=("add",), dtypes=("f32",))
    (cell,) = card.failures()
    assert (cell.name, cell.transform) == ("add", "eval")
    assert "f32[117]" in cell.message and "past max_dispatch_elements" in cell.message


def test_unsupported_passes_unless_strict():
    with installed("partial", unsupported=("cbrt",)):
        loose = _run("partial", primitives=("cbrt", "sqrt"), dtypes=("f32",))
        strict = _run("partial", primitives=("cbrt", "sqrt"), dtypes=("f32",), strict=True)
    assert loose.passed and not strict.passed
    statuses = {(c.name, c.transform): c.status for c in loose.cells}
    assert statuses[("cbrt", "eval")] == UNSUPPORTED and statuses[("sqrt", "eval")] == PASS
    assert "no lowering for cbrt" in next(c.message for c in loose.cells if c.name == "cbrt")


def test_documented_runtime_calls_are_reported():
    with installed("runtime", runtime_calls=("numpy lexsort for sort",)):
        card = _run("runtime", primitives=("sort", "neg"), dtypes=("i32",))
    assert card.passed
    assert {c.status for c in card.cells if c.name == "sort"} == {RUNTIME_CALL}
    assert {c.status for c in card.cells if c.name == "neg"} == {PASS}


def test_without_ieee_specials_nan_and_inf_are_not_compared():
    def nan_for_inf(x):
        with np.errstate(all="ignore"):
            out = np.exp(x)
        return np.where(np.isinf(out), np.nan, out).astype(out.dtype)
    with installed("no-ieee", rules={ew.exp_p: nan_for_inf}, ieee_specials=False):
        loose = _run("no-ieee", primitives=("exp",), dtypes=("f32",))
    with installed("ieee", rules={ew.exp_p: nan_for_inf}):
        strict = _run("ieee", primitives=("exp",), dtypes=("f32",))
    assert loose.passed
    assert [(c.name, c.status) for c in strict.failures()] == [("exp", FAIL), ("exp", FAIL)]
    assert "special values" in strict.failures()[0].message


@pytest.mark.parametrize("transform", ["vmap", "jvp"])
def test_a_transform_can_be_selected(transform):
    card = _run("reference", primitives=("mul",), dtypes=("f32",), transforms=(transform,))
    assert card.passed and {c.transform for c in card.cells} == {transform}
