"""portax's benchmark harness (``make bench`` = ``python -m bench.run``).

``workloads`` (the programs, written once against JAX's API), ``numpy_impl`` (the NumPy column),
``worker`` (one measurement in a fresh process), ``wgsl_reference`` + ``wgsl/`` (hand-written WGSL
shaders), ``membw`` (memory bandwidth), ``jax_env`` (the JAX virtualenv), ``report`` (Markdown), ``run``.
Nothing here is imported by portax; JAX is only ever run in its own virtualenv.
"""
