"""Fixtures of the core suite: float64 (or float32) on demand, restored afterwards."""
import pytest

from core_helpers import x64_enabled


@pytest.fixture
def x64():
    with x64_enabled(True):
        yield


@pytest.fixture
def x32():
    with x64_enabled(False):
        yield
