"""``portax.tree``: the short names of ``jax.tree`` (map, leaves, structure, flatten, unflatten, reduce)."""
from portax.core.pytree import tree_transpose as transpose, tree_unflatten as unflatten  # noqa: F401
from portax.core.tree_extras import static  # noqa: F401,E402
from portax.core.tree_user import (tree_all as all, tree_broadcast as broadcast, tree_flatten as flatten,  # noqa: F401,E402
                                   tree_flatten_with_path as flatten_with_path, tree_leaves as leaves,
                                   tree_leaves_with_path as leaves_with_path, tree_map as map,
                                   tree_map_with_path as map_with_path, tree_reduce as reduce,
                                   tree_reduce_associative as reduce_associative, tree_structure as structure)
