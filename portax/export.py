"""``portax.export``: as ``jax.export``, with programs that run on any backend."""
from portax.core.export import (Exported, ExportError, deserialize, export, register_namedtuple_serialization,  # noqa: F401
                                register_pytree_node_serialization, symbolic_shape)
