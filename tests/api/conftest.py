"""Fixtures of the API tests."""
import pytest

import portax


@pytest.fixture
def x64():
    """Run the test with 64-bit types enabled (derivative checks in float64), restoring the flag after."""
    previous = portax.config.enable_x64
    portax.config.update("jax_enable_x64", True)
    yield
    portax.config.update("jax_enable_x64", previous)
