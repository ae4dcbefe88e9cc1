"""Shared test configuration: the backend under test comes from PORTAX_BACKEND (default: the registry's)."""
import os
import warnings

import numpy as np
import pytest

warnings.filterwarnings("ignore", message="portax: backend plugin")


@pytest.fixture
def rng():
    return np.random.RandomState(0)


def pytest_report_header(config):
    import portax
    return f"portax default backend: {portax.default_backend()} (PORTAX_BACKEND={os.environ.get('PORTAX_BACKEND')})"
