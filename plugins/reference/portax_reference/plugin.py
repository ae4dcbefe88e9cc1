"""Entry point of the reference backend: the two pluggy hooks a portax backend plugin implements."""
from __future__ import annotations

from portax.core.backend import BackendSpec, hookimpl


@hookimpl
def portax_backends() -> list[BackendSpec]:
    from .backend import ReferenceBackend
    return [BackendSpec("reference", ReferenceBackend, priority=10,
                        description="numpy interpreter of the IR: the conformance oracle")]
