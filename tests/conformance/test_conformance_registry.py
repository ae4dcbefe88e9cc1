"""Coverage comes from the primitive table: a plugin's new primitive is covered once it registers cases,
elementwise generators derive dtypes from the shape rule, and a primitive without cases is reported."""
import numpy as np
import pytest

from conformance_backends import installed
from portax.conformance import Options, elementwise_cases, register_cases, run_suite
from portax.conformance import registry as case_registry
from portax.conformance.report import NO_CASES, PASS, UNSUPPORTED
from portax.core import primitives as core_primitives
from portax.core.backend import registry
from portax.core.interpreters import batching, jvp as ad
from portax.core.ir import ShapedArray
from portax.core.primitives import elementwise as ew
from portax.core.trace import Primitive, abstract_eval_rules


def _softplus_abstract(x: ShapedArray) -> ShapedArray:
    if x.dtype.kind != "f":
        raise TypeError(f"test_softplus does not accept dtype {x.dtype.name}")
    return x


softplus_p = Primitive("test_softplus")
abstract_eval_rules[softplus_p] = _softplus_abstract
ad.defjvp(softplus_p, lambda g, x: ew.mul(g, ew.logistic(x)))
batching.defvectorized(softplus_p)
LOWERING = {softplus_p: lambda x: np.logaddexp(np.zeros((), x.dtype), x).astype(x.dtype)}


@pytest.fixture
def private_registry(monkeypatch):
    """Cases registered by a test disappear with it."""
    case_registry.load_generators()
    monkeypatch.setattr(case_registry, "_GENERATORS", dict(case_registry._GENERATORS))


def test_a_plugin_primitive_is_covered_once_it_registers_cases(private_registry):
    register_cases(softplus_p, elementwise_cases(softplus_p, 1))
    registry.get("reference").add_lowerings(LOWERING)  # the oracle needs the rule too
    with installed("with-softplus", lowerings=LOWERING) as backend:
        assert softplus_p in backend.rules
        card = run_suite(Options("with-softplus", primitives=("test_softplus",), dtypes=("f32", "f64", "i32"),
                                 groups=("primitives",)))
    assert card.passed
    assert {(c.dtype, c.transform) for c in card.cells} == {(d, t) for d in ("f32", "f64")
                                                           for t in ("eval", "jit", "vmap", "jvp", "vjp")}


def test_a_backend_without_the_plugin_lowering_reports_it_unsupported(private_registry):
    register_cases(softplus_p, elementwise_cases(softplus_p, 1))
    registry.get("reference").add_lowerings(LOWERING)
    with installed("without-softplus", unsupported=("test_softplus",)):
        card = run_suite(Options("without-softplus", primitives=("test_softplus",), dtypes=("f32",),
                                 groups=("primitives",)))
    assert card.passed and {c.status for c in card.cells} == {UNSUPPORTED}


def test_a_primitive_without_cases_is_reported_and_fails_strict(private_registry, monkeypatch):
    unlisted = Primitive("test_unlisted")
    table = core_primitives.all_primitives
    monkeypatch.setattr(core_primitives, "all_primitives", lambda: table() + [unlisted])
    for strict in (False, True):
        card = run_suite(Options("reference", primitives=("test_unlisted", "neg"), dtypes=("i8",), strict=strict,
                                 groups=("primitives",)))
        (cell,) = [c for c in card.cells if c.name == "test_unlisted"]
        assert cell.status == NO_CASES and "register_cases" in cell.message
        assert card.passed is not strict
        assert {c.status for c in card.cells if c.name == "neg"} == {PASS}
