"""The wgpu backend: primitives lowered to WGSL compute shaders run through wgpu-py.

Modules: ``adapters`` (adapter enumeration and choice), ``buffers`` (pooled device memory),
``runtime`` (devices, capabilities, pipelines, command batches), ``errors`` (exceptions).
Importing this package does not import ``wgpu``; its modules do.
"""
