"""``lax.reduce_window`` with any computation and any pytree of operands: every window's elements are
stacked along a new last axis (the operands padded and base-dilated with their init values, as XLA pads
them) and folded by :func:`lax.reduce`, so jvp, vmap and transposition follow from its parts."""
from __future__ import annotations

import itertools
from typing import Any, Callable, Sequence

from .lax_composites import reduce
from .primitives import structural as st
from .primitives.windowed import canonical_init, check_window_params
from .pytree import PyTreeDef, tree_structure, tree_unflatten
from .trace import get_aval


def _windows(x: Any, init: Any, out_shape: tuple, params: dict) -> Any:
    """``x``'s windows: shape ``out_shape + (prod(window_dimensions),)``."""
    config = [(lo, hi, b - 1) for (lo, hi), b in zip(params["padding"], params["base_dilation"])]
    x = st.pad(x, init, config)
    strides = params["window_strides"]
    parts = []
    for offset in itertools.product(*(range(w) for w in params["window_dimensions"])):
        start = [k * d for k, d in zip(offset, params["window_dilation"])]
        limit = [s + (n - 1) * stride + 1 if n else s for s, n, stride in zip(start, out_shape, strides)]
        parts.append(st.expand_dims(st.slice(x, start, limit, strides), (len(out_shape),)))
    if not parts:
        return st.full(out_shape + (0,), 0, get_aval(x).dtype)
    return st.concatenate(parts, len(out_shape))


def reduce_window_general(operands: Sequence[Any], tree: PyTreeDef, init_values: Sequence[Any],
                          computation: Callable, params: dict) -> Any:
    """The windows of ``operands`` (leaves of ``tree``) reduced with ``computation`` from ``init_values``."""
    shape = get_aval(operands[0]).shape
    if any(get_aval(x).shape != shape for x in operands):
        raise TypeError(f"reduce_window operands must have the same shape, got "
                        f"{[get_aval(x).shape for x in operands]}.")
    out_shape = check_window_params(shape, params)
    inits = [canonical_init(v, get_aval(x).dtype) for x, v in zip(operands, init_values)]

    def checked(a: Any, b: Any) -> Any:
        out = computation(a, b)
        if tree_structure(out) != tree:
            raise ValueError(f"reduce_window output must have the same tree structure as the operands {tree} vs. "
                             f"{tree_structure(out)}")
        return out
    stacks = [_windows(x, v, out_shape, params) for x, v in zip(operands, inits)]
    return reduce(tree_unflatten(tree, stacks), tree_unflatten(tree, inits), checked, (len(out_shape),))
