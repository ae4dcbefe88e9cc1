"""portax-activations: an example portax plugin that adds a new primitive, ``fused_softmax``, with its
transformation rules, lowerings for the reference, cpu_llvm and wgpu backends, and conformance cases."""
from .softmax import compute_dtype, fused_softmax, fused_softmax_p

__all__ = ["compute_dtype", "fused_softmax", "fused_softmax_p"]
