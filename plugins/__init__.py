"""What a backend plugin imports: the hook markers, the Backend protocol and its parts.

See plugins/README.md for the guide; ``plugins/reference`` is a complete example backend.
"""
from portax.core.backend import (Backend, BackendSpec, Capabilities, Device, Executable, hookimpl,  # noqa: F401
                                 hookspec, registry)

__all__ = ["Backend", "BackendSpec", "Capabilities", "Device", "Executable", "hookimpl", "hookspec", "registry"]
