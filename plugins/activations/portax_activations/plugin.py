"""Entry point of portax-activations (group ``portax``): the lowerings of ``fused_softmax`` for the
reference, cpu_llvm and wgpu backends, through the ``portax_lowerings`` hook.

Each backend's rule module is imported only when that backend asks, so a machine without llvmlite or a
GPU loads the plugin all the same. The plugin provides no backend of its own.
"""
from __future__ import annotations

import importlib
import sys

from portax.core.backend import hookimpl, registry

from .softmax import fused_softmax_p

# backend name -> (module, rule) of its lowering of fused_softmax
LOWERINGS = {
    "reference": ("portax_activations.lower_reference", "fused_softmax_reference"),
    "cpu_llvm": ("portax_activations.lower_cpu_llvm", "lower_fused_softmax"),
    "wgpu": ("portax_activations.lower_wgpu", "lower_fused_softmax"),
}
ENTRY_POINT_NAME = "activations"


@hookimpl
def portax_lowerings(backend_name: str) -> dict | None:
    """``{fused_softmax_p: rule}`` in the named backend's rule format; None for other backends."""
    if backend_name not in LOWERINGS:
        return None
    module, rule = LOWERINGS[backend_name]
    return {fused_softmax_p: getattr(importlib.import_module(module), rule)}


def register_at_runtime() -> None:
    """Activate the plugin without installing it (tests, notebooks): register this module's hooks, add the
    lowerings to every available backend (the registry calls ``portax_lowerings`` only when it creates a
    backend, so backends created before this call would miss them), and register the conformance cases."""
    from . import conformance  # the suite's API, imported only when asked for
    plugin = sys.modules[__name__]
    registry.names()  # load the installed plugins first: an installed copy of this one counts
    if not registry.pm.is_registered(plugin):
        registry.register(plugin, ENTRY_POINT_NAME)
    for name in LOWERINGS:
        if name in registry.specs() and registry.available(name):
            registry.get(name).add_lowerings(portax_lowerings(name))
    conformance.register()
