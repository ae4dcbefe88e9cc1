"""Test backends for the suite's own tests: variants of the numpy reference backend registered at runtime
through ``registry.register`` (exactly as a plugin's entry point would), each with one thing changed."""
from __future__ import annotations

import contextlib
import dataclasses
import itertools
from typing import Any, Callable, Iterator

from portax.core.backend import BackendSpec, Device, hookimpl, registry, reset_default_backend
from portax_reference.backend import ReferenceBackend

_ids = itertools.count()


class VariantBackend(ReferenceBackend):
    """The reference backend with its own rule table (a copy), capabilities, device count, and primitives
    whose compilation raises NotImplementedError."""

    def __init__(self, name: str, rules: dict | None = None, devices: int = 1, unsupported: tuple = (),
                 wrap_executable: Callable | None = None, **capabilities: Any):
        super().__init__()
        self.name = name
        self.rules = {**self.rules, **(rules or {})}
        self.capabilities = dataclasses.replace(self.capabilities, **capabilities)
        self._devices = [Device(self, i, "numpy") for i in range(devices)]
        self.unsupported = set(unsupported)
        self.wrap_executable = wrap_executable

    def compile(self, closed, device):
        missing = sorted({e.primitive.name for e in closed.jaxpr.eqns} & self.unsupported)
        if missing:
            raise NotImplementedError(f"{self.name}: no lowering for {', '.join(missing)}")
        exe = super().compile(closed, device)
        return exe if self.wrap_executable is None else self.wrap_executable(exe)


@contextlib.contextmanager
def installed(name: str, lowerings: dict | None = None, **kwargs: Any) -> Iterator[VariantBackend]:
    """Register a VariantBackend called ``name`` as a plugin for the duration of the block; ``lowerings``
    reach it through the ``portax_lowerings`` hook, as a plugin adding rules to a backend would."""
    class Plugin:
        @hookimpl
        def portax_backends(self) -> list:
            return [BackendSpec(name, lambda: VariantBackend(name, **kwargs), description="test variant")]

        @hookimpl
        def portax_lowerings(self, backend_name: str) -> dict | None:
            return lowerings if backend_name == name else None

    plugin = Plugin()
    registry.register(plugin, name=f"conformance-test-{name}-{next(_ids)}")
    try:
        yield registry.get(name)
    finally:
        registry.unregister(plugin)
        reset_default_backend()
