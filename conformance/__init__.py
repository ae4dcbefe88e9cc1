"""portax.conformance: the contract between the core and every backend.

Run it as ``python -m portax.conformance --backend NAME`` or ``pytest --pyargs portax.conformance
--portax-backend NAME``. A plugin that adds a primitive registers case generators for it with
:func:`register_cases` (see plugins/README.md).

The names below load on first use, so the pytest plugin (loaded by every pytest run) stays cheap.
"""
from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "Case": ".registry", "GenContext": ".registry", "TRANSFORMS": ".registry", "register_cases": ".registry",
    "elementwise_cases": ".cases.elementwise", "Cell": ".report", "ReportCard": ".report", "Options": ".runner",
    "run_suite": ".runner", "Tolerance": ".tolerances", "set_tolerance": ".tolerances",
}
__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name], __name__), name)
    raise AttributeError(f"module 'portax.conformance' has no attribute '{name}'")
