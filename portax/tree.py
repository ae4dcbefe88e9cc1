"""``portax.tree``: the short names of ``jax.tree`` (map, leaves, structure, flatten, unflatten, reduce)."""
from portax.core.pytree import (tree_all as all, tree_flatten as flatten, tree_flatten_with_path as flatten_with_path,  # noqa: F401
                                tree_leaves as leaves, tree_map as map, tree_map_with_path as map_with_path,
                                tree_reduce as reduce, tree_structure as structure, tree_transpose as transpose,
                                tree_unflatten as unflatten)
from portax.core.tree_extras import (static, tree_broadcast as broadcast,  # noqa: F401,E402
                                     tree_leaves_with_path as leaves_with_path,
                                     tree_reduce_associative as reduce_associative)
