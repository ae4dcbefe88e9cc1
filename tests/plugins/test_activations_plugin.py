"""The example plugin that adds a primitive (plugins/activations, portax-activations), imported from the
source tree and registered at runtime: ``fused_softmax`` is certified by the conformance suite on every
backend of this machine, and a broken lowering of it fails with the primitive, dtype and transform named."""
import importlib.util
import pathlib
import sys

import numpy as np
import pytest

if importlib.util.find_spec("portax_activations") is None:
    sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[2] / "plugins" / "activations"))

import portax.nn as nn  # noqa: E402
from portax.conformance import Options, run_suite  # noqa: E402
from portax.conformance import registry as case_registry  # noqa: E402
from portax.conformance.report import FAIL, PASS, UNSUPPORTED  # noqa: E402
from portax.core.backend import BackendSpec, hookimpl, registry, reset_default_backend  # noqa: E402
from portax_activations import fused_softmax, fused_softmax_p, plugin as activations_plugin  # noqa: E402
from portax_reference.backend import ReferenceBackend  # noqa: E402

TRANSFORMS = ("eval", "jit", "vmap", "jvp", "vjp")
FLOATS = {"f16": np.float16, "f32": np.float32, "f64": np.float64}


@pytest.fixture
def activations(monkeypatch):
    """The plugin's hooks registered at runtime (unless installed) and its cases in a private case registry."""
    case_registry.load_generators()
    monkeypatch.setattr(case_registry, "_GENERATORS", dict(case_registry._GENERATORS))
    registry.names()
    installed = registry.pm.is_registered(activations_plugin)
    activations_plugin.register_at_runtime()
    yield
    if not installed:
        registry.unregister(activations_plugin)
        reset_default_backend()


@pytest.mark.parametrize("backend", ["reference", "cpu_llvm", "wgpu"])
def test_fused_softmax_is_certified_on_each_backend(activations, backend):
    if not registry.available(backend):
        pytest.skip(f"backend {backend} is not available on this machine")
    card = run_suite(Options(backend, primitives=("fused_softmax",), groups=("primitives",)))
    assert card.passed, card.failures()
    claimed = registry.get(backend).capabilities.dtypes
    cells = {(c.dtype, c.transform): c.status for c in card.cells if c.name == "fused_softmax"}
    assert set(cells) == {(d, t) for d, dt in FLOATS.items() if np.dtype(dt) in claimed for t in TRANSFORMS}
    for (dtype, _), status in cells.items():
        assert status == (UNSUPPORTED if (backend, dtype) == ("wgpu", "f64") else PASS)


def _naive_softmax(x: np.ndarray) -> np.ndarray:
    """Softmax without subtracting the row's maximum: exp overflows on a wide range."""
    with np.errstate(over="ignore", invalid="ignore"):
        return np.exp(x) / np.exp(x).sum(-1, keepdims=True)


class _NaiveSoftmaxBackend(ReferenceBackend):
    """The reference backend with the naive softmax as its lowering of fused_softmax."""

    name = "naive-softmax"

    def __init__(self):
        super().__init__()
        self.rules = {**self.rules, fused_softmax_p: _naive_softmax}


class _NaiveSoftmaxPlugin:
    @hookimpl
    def portax_backends(self):
        return [BackendSpec("naive-softmax", _NaiveSoftmaxBackend, description="a broken fused_softmax")]


def test_a_broken_lowering_fails_naming_primitive_dtype_and_transform(activations):
    plugin = _NaiveSoftmaxPlugin()
    registry.register(plugin, "naive-softmax")
    try:
        card = run_suite(Options("naive-softmax", primitives=("fused_softmax",), dtypes=("f32",),
                                 groups=("primitives",)))
    finally:
        registry.unregister(plugin)
        reset_default_backend()
    assert not card.passed
    failed = {c.transform: c.message for c in card.cells if c.status == FAIL}
    assert set(failed) == set(TRANSFORMS)
    assert failed["eval"].startswith("fused_softmax f32 under eval (contiguous operands f32[5,33] wide range +-200)")
    assert "out of tolerance" in failed["eval"]


def test_the_wrapper_agrees_with_nn_softmax(activations, rng):
    x = rng.uniform(-4, 4, size=(3, 4, 5)).astype(np.float32)
    for axis in (-1, 1, (0, 2), None):
        np.testing.assert_allclose(fused_softmax(x, axis=axis), nn.softmax(x, axis=axis), rtol=2e-6, atol=1e-7)


class _NoSoftmaxBackend(ReferenceBackend):
    """A backend the plugin has no lowering for (as any third-party backend): the reference rules without
    fused_softmax."""

    name = "no-softmax"

    def __init__(self):
        super().__init__()
        self.rules = {p: r for p, r in self.rules.items() if p is not fused_softmax_p}


class _NoSoftmaxPlugin:
    @hookimpl
    def portax_backends(self):
        return [BackendSpec("no-softmax", _NoSoftmaxBackend, description="no lowering of fused_softmax")]


def test_a_backend_without_a_lowering_runs_the_decomposition_and_certifies(activations, rng):
    import portax
    plugin = _NoSoftmaxPlugin()
    registry.register(plugin, "no-softmax")
    try:
        x = rng.uniform(-4, 4, size=(3, 7)).astype(np.float32)
        f = portax.jit(fused_softmax, backend="no-softmax")
        np.testing.assert_allclose(f(x), nn.softmax(x), rtol=2e-6, atol=1e-7)
        kernels = f.lower(x).compile().kernels
        assert "fused_softmax" not in kernels and {"reduce_max", "exp", "reduce_sum"} <= set(kernels)
        card = run_suite(Options("no-softmax", primitives=("fused_softmax",), groups=("primitives",)))
    finally:
        registry.unregister(plugin)
        reset_default_backend()
    assert card.passed, card.failures()
    assert {c.status for c in card.cells if c.name == "fused_softmax"} == {PASS}
    native = portax.jit(fused_softmax, backend="reference").lower(x).compile().kernels
    assert native == ["fused_softmax"]  # a backend with its own lowering keeps it
