"""The multi-device suite runs on the backend under test re-created with 4 devices (each backend reads
its device count from its environment variable when it is created); the original instance is put back
after each module."""
import pytest

import portax
from portax.core.backend import registry, reset_default_backend

DEVICES = 4
DEVICE_COUNT_VARS = ("PORTAX_REFERENCE_DEVICES", "PORTAX_CPU_DEVICES", "PORTAX_WGPU_DEVICES")


@pytest.fixture(scope="module", autouse=True)
def four_devices():
    name = portax.default_backend()
    try:
        with pytest.MonkeyPatch.context() as mp:
            for var in DEVICE_COUNT_VARS:
                mp.setenv(var, str(DEVICES))
            mp.delitem(registry._backends, name)
            backend = registry.get(name)
            reset_default_backend()
            if len(backend.devices()) < DEVICES:
                pytest.skip(f"backend '{name}' offers {len(backend.devices())} devices, the suite needs {DEVICES}")
            yield backend
    finally:
        reset_default_backend()


@pytest.fixture(params=[1, 2, 4], ids=lambda n: f"{n}dev")
def devices(request):
    """The first n devices of the backend under test."""
    return portax.devices()[:request.param]
