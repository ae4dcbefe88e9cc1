"""The redirection `make jax-tests` loads JAX's test modules with, driven by fake `fakejax`/`fakeportax` packages
(no jax, no network): public names go to the target package, the harness (`_src`) stays the source's."""
import builtins
import pathlib
import sys
import types

import pytest

HERE = str(pathlib.Path(__file__).parent)
if HERE not in sys.path:  # jax_redirect sits next to this file (and is not a test module)
    sys.path.insert(0, HERE)
from jax_redirect import Missing, Redirector, RedirectingFinder  # noqa: E402

TEST_MODULE = """
import fakejax
import fakejax.numpy as jnp
from fakejax import lax, nothere
from fakejax import numpy as jnp2
from fakejax._src import harness, api
from fakejax.numpy import bfloat16, ones
import fakejax.missingmod
dtypes = [jnp.float32, jnp.bfloat16]
call_at_import = fakejax.lax.DotAlgorithm(1).name
"""


def _module(name, **attrs):
    module = types.ModuleType(name)
    module.__dict__.update(attrs)
    return module


@pytest.fixture
def fakes(monkeypatch):
    """fakejax (public numpy/lax plus the harness fakejax._src.harness) and fakeportax (numpy and lax only)."""
    mods = {
        "fakejax": _module("fakejax", who="jax"),
        "fakejax.numpy": _module("fakejax.numpy", who="jax numpy"),
        "fakejax.lax": _module("fakejax.lax", who="jax lax"),
        "fakejax._src": _module("fakejax._src"),
        "fakejax._src.harness": _module("fakejax._src.harness", who="jax harness"),
        "fakejax._src.api": _module("fakejax._src.api", who="jax api"),
        "fakeportax": _module("fakeportax", who="portax"),
        "fakeportax.numpy": _module("fakeportax.numpy", who="portax numpy", float32="f32", ones=lambda: "ones"),
        "fakeportax.lax": _module("fakeportax.lax", who="portax lax"),
    }
    mods["fakejax"]._src = mods["fakejax._src"]
    mods["fakejax._src"].harness = mods["fakejax._src.harness"]
    mods["fakejax._src"].api = mods["fakejax._src.api"]
    mods["fakeportax"].numpy = mods["fakeportax.numpy"]
    mods["fakeportax"].lax = mods["fakeportax.lax"]
    for name, module in mods.items():
        monkeypatch.setitem(sys.modules, name, module)
    return mods


def _load(tmp_path, monkeypatch, name="fake_redirect_test"):
    (tmp_path / f"{name}.py").write_text(TEST_MODULE)
    redirector = Redirector(source="fakejax", target="fakeportax", harness=("fakejax._src",),
                            aliases={"fakejax._src.api": "fakejax"})
    monkeypatch.setattr(sys, "meta_path", [RedirectingFinder(str(tmp_path), redirector), *sys.meta_path])
    monkeypatch.delitem(sys.modules, name, raising=False)
    module = __import__(name)
    monkeypatch.delitem(sys.modules, name)
    return module, redirector


def test_public_imports_see_portax_and_harness_sees_jax(fakes, tmp_path, monkeypatch):
    module, redirector = _load(tmp_path, monkeypatch)
    assert module.jnp.who == module.jnp2.who == module.fakejax.numpy.who == "portax numpy"
    assert module.lax.who == "portax lax" and module.fakejax.who == "portax"
    assert module.harness is fakes["fakejax._src.harness"]
    assert module.api.who == "portax"  # an internal module the tests use as the public API
    assert module.fakejax._src is fakes["fakejax._src"]
    assert module.ones() == "ones" and module.dtypes[0] == "f32"
    assert module.__builtins__["__import__"] == redirector.import_
    assert builtins.__import__ is not redirector.import_  # nothing outside the test module is redirected


def test_names_portax_lacks_fail_when_used_with_their_name(fakes, tmp_path, monkeypatch):
    module, _ = _load(tmp_path, monkeypatch)
    for value, what in [(module.nothere, "fakeportax.nothere"), (module.bfloat16, "fakeportax.numpy.bfloat16"),
                        (module.dtypes[1], "fakeportax.numpy.bfloat16"), (module.call_at_import, "DotAlgorithm"),
                        (module.fakejax.missingmod, "fakeportax.missingmod")]:
        assert isinstance(value, Missing)
        with pytest.raises(ImportError, match=what):
            value()
    with pytest.raises(AttributeError, match="bfloat16"):  # after import, reads raise as usual
        module.jnp.bfloat16
    with pytest.raises(AttributeError, match="fakeportax lacks fakeportax.absent"):
        module.fakejax.absent


def test_only_modules_in_the_directory_are_redirected(fakes, tmp_path):
    finder = RedirectingFinder(str(tmp_path), Redirector(source="fakejax", target="fakeportax"))
    (tmp_path / "fake_in_dir.py").write_text("")
    assert finder.find_spec("fake_in_dir") is not None
    assert finder.find_spec("fake_elsewhere") is None and finder.find_spec("pkg.fake_in_dir") is None


def test_a_module_portax_holds_as_an_attribute_resolves(fakes):
    """`from jax._src.lax import linalg` (aliased to jax.lax.linalg): portax.lax.linalg is an attribute module."""
    fakes["fakeportax.lax"].linalg = _module("fakeportax.core.linalg", who="portax linalg")
    redirector = Redirector(source="fakejax", target="fakeportax", harness=("fakejax._src",))
    assert redirector.resolve("fakejax.lax.linalg").who == "portax linalg"
    with pytest.raises(ImportError, match="fakeportax.lax.nothere"):
        redirector.resolve("fakejax.lax.nothere")


def test_names_imported_from_an_aliased_internal_module(fakes, monkeypatch):
    """`from jax._src.ad_checkpoint import saved_residuals, custom_remat`: the aliased module's names (portax's),
    placeholders for those it lacks."""
    monkeypatch.setitem(sys.modules, "fakeportax.checkpoints",
                        _module("fakeportax.checkpoints", saved_residuals="portax's"))
    redirector = Redirector(source="fakejax", target="fakeportax", harness=("fakejax._src",),
                            aliases={"fakejax._src.ad_checkpoint": "fakejax.checkpoints"})
    view = redirector.import_("fakejax._src.ad_checkpoint", fromlist=("saved_residuals", "custom_remat"))
    assert view.saved_residuals == "portax's"
    assert isinstance(view.custom_remat, Missing)
