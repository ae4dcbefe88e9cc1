"""portax.conformance: the contract between the core and every backend.

Run it as ``python -m portax.conformance --backend NAME`` or ``pytest --pyargs portax.conformance
--portax-backend NAME``. Plugins add cases for their own primitives with :func:`register_cases`.
"""
