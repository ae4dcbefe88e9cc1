"""portax.core: primitives, tracing and IR, interpreters, pytrees, dtypes and dispatch.

Backend-agnostic: backends are plugins found through the ``portax`` entry-point group.
"""
from . import primitives  # noqa: F401  (registers every primitive and its rules)
from . import dispatch  # noqa: F401  (installs eager dispatch)
