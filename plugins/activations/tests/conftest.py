"""The plugin's tests run against an installed portax-activations (its CI: ``pip install .``) or, when it is
not installed, against this source tree with the plugin registered at runtime."""
import importlib.util
import pathlib
import sys
import warnings
from importlib import metadata

import numpy as np
import pytest

warnings.filterwarnings("ignore", message="portax: backend plugin")
INSTALLED = importlib.util.find_spec("portax_activations") is not None
if not INSTALLED:
    sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))

from portax_activations.plugin import register_at_runtime  # noqa: E402

register_at_runtime()

BACKENDS = ("reference", "cpu_llvm", "wgpu")


@pytest.fixture
def rng():
    return np.random.RandomState(0)


@pytest.fixture
def installed():
    """The installed distribution (tests of what ``pip install`` provides skip when run from the source)."""
    if not INSTALLED:
        pytest.skip("portax-activations is not installed (pip install -e plugins/activations)")
    return metadata.distribution("portax-activations")


@pytest.fixture(params=BACKENDS)
def backend(request) -> str:
    """Each backend of this machine that the plugin lowers for."""
    from portax.core.backend import registry
    if not registry.available(request.param):
        pytest.skip(f"backend {request.param} is not available on this machine")
    return request.param
