"""The wgpu backend: primitives lowered to WGSL compute shaders run through wgpu-py.

Runtime: ``adapters`` (adapter enumeration and choice), ``buffers`` (pooled device memory), ``runtime``
(devices, capabilities, pipelines, command batches), ``errors`` (exceptions).

Compiler: ``backend`` (the portax Backend; ``plugin`` registers it), ``program`` (a jaxpr as steps
recorded into one command batch per call), ``simplify`` (jaxpr clean-ups before fusion), the renderer
(``wgsl_types``: dtype table, ``wgsl_ops``: op table and math helpers, ``kernel_writer``: shader
assembly, ``renderer``: fused loop and reduce kernels) and the lowering rules of the other primitives
(``lowering`` registry, ``lower_*`` modules).

Behaviour worth knowing:
  * A jitted call records all its dispatches into one command batch and submits once without waiting;
    results are read back when the host asks. Exceptions: a ``while_loop`` reads its predicate back
    once per iteration, and a ``cond`` whose branches are not cheap elementwise code reads its index.
  * NaN is detected from the bit pattern (some drivers fold ``x != x``); Inf/NaN arithmetic follows the
    driver (``Capabilities.ieee_specials`` says whether it is IEEE).
  * float64 runs where the adapter has shader-f64; since drivers compute float64 transcendentals in 32
    bits, exp/log/sin/cos/atan are the backend's own (the rest is built on them); erf, erfc and erf_inv
    are refused for float64. 8/16-bit integers are kept in 32-bit words; float16 is computed in float32
    and rounded after every operation.
  * Arrays are indexed with u32 arithmetic: more than 2**31 - 1 elements are refused.

Importing this package does not import ``wgpu``; its modules do.
"""
