"""What a backend plugin imports: the hook markers, the Backend protocol and its parts, the device-count
convention, decompositions (the fallback for primitives a backend does not lower) and the fusion pass.

See plugins/README.md for the guide; ``plugins/reference`` is a complete example backend.
"""
from portax.core.backend import (Backend, BackendSpec, BackendUnavailableError, Capabilities, Device,  # noqa: F401
                                 Executable, SupportsCollectives, device_count_env, hookimpl, hookspec, registry,
                                 requested_device_count)
from portax.core.decompositions import register_decomposition  # noqa: F401
from portax.core.fusion import FusionPolicy, Kernel, fuse  # noqa: F401

__all__ = ["Backend", "BackendSpec", "BackendUnavailableError", "Capabilities", "Device", "Executable",
           "FusionPolicy", "Kernel", "SupportsCollectives", "device_count_env", "fuse", "hookimpl", "hookspec",
           "register_decomposition", "registry", "requested_device_count"]
