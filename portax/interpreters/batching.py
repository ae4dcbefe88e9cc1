"""``portax.interpreters.batching`` (``jax.interpreters.batching``): batching rules for user primitives
(``primitive_batchers[p] = rule(vals, dims, **params)``, ``fancy_primitive_batchers[p] = rule(axis_data, vals,
dims, **params)``, both returning ``(out, out_dim)``; ``out_dim`` None for an unmapped result) and custom types vmap
maps over (``register_vmappable``)."""
from portax.core.interpreters.batching import (axis_primitive_batchers, bdim_at_front, defbroadcasting,  # noqa: F401
                                               defvectorized, fancy_primitive_batchers, not_mapped,
                                               primitive_batchers, register_vmappable, unregister_vmappable)
