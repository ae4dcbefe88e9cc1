"""``portax.tree_util``: pytrees, as ``jax.tree_util`` (typed key arrays are leaves)."""
from portax.core.pytree import (DictKey, FlattenedIndexKey, GetAttrKey, Partial, PyTreeDef, SequenceKey,  # noqa: F401
                                keystr, register_dataclass, register_pytree_node, register_pytree_node_class,
                                tree_transpose, tree_unflatten, treedef_children, treedef_is_leaf)
from portax.core.tree_extras import (KeyEntry, KeyPath, flatten_one_level,  # noqa: F401,E402
                                     flatten_one_level_with_keys, is_tree_node,
                                     register_pytree_with_keys, register_pytree_with_keys_class, register_static,
                                     treedef_tuple)
from portax.core.tree_user import (all_leaves, tree_all, tree_broadcast, tree_flatten,  # noqa: F401,E402
                                   tree_flatten_with_path, tree_leaves, tree_leaves_with_path, tree_map,
                                   tree_map_with_path, tree_reduce, tree_reduce_associative, tree_structure)
