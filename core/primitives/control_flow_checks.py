"""The type and structure errors of the control-flow wrappers, worded as JAX's: a loop carry whose output
differs from its input, branches whose outputs differ."""
from __future__ import annotations

import functools
import inspect
from typing import Callable, Sequence

from ..ir import ShapedArray
from ..pytree import PyTreeDef, keystr, tree_flatten_with_path, tree_unflatten
from ..tree_extras import equality_errors, equality_errors_pytreedef


def aval_str(aval: ShapedArray) -> str:
    """``float32[2,3]``: JAX's ``ShapedArray.str_short()`` (full dtype names)."""
    return f"{aval.dtype.name}[{','.join(map(str, aval.shape))}]"


def aval_repr(aval: ShapedArray) -> str:
    """``ShapedArray(float32[])``, JAX's ``repr`` of an aval."""
    return f"ShapedArray({aval_str(aval)}{', weak_type=True' if aval.weak_type else ''})"


def typematch(a: ShapedArray, b: ShapedArray) -> bool:
    """Same shape and dtype (weak types aside)."""
    return a.shape == b.shape and a.dtype == b.dtype


def _mismatch_extra(a: ShapedArray, b: ShapedArray) -> str:
    what = [w for w, differ in (("the dtypes do not match", a.dtype != b.dtype),
                                ("the shapes do not match", a.shape != b.shape)) if differ]
    return "" if not what else ", so " + (what[0] if len(what) == 1 else f"{what[0]}, and {what[1]}")


def _capitalize(s: str) -> str:
    return s[0].upper() + s[1:]


def _differences(diffs: Sequence[str]) -> str:
    if len(diffs) == 1:
        return f"{_capitalize(diffs[0])}.\n"
    return "\n".join(f"  * {d};\n" for d in diffs[:-1]) + f"  * {diffs[-1]}.\n"


def check_carry_type(name: str, body_fun: Callable, in_tree: PyTreeDef, in_avals: Sequence[ShapedArray],
                     out_tree: PyTreeDef, out_avals: Sequence[ShapedArray]) -> None:
    """TypeError (JAX's wording) unless the carry output has the input's structure, shapes and dtypes."""
    try:
        params = list(inspect.signature(body_fun).parameters)
    except (ValueError, TypeError):
        params = []
    carry_name = params[0] if params else None
    if carry_name:
        component = lambda p: f"the input carry component {carry_name}{keystr(p)}" if p else \
            f"the input carry {carry_name}"
    else:
        component = lambda p: f"the input carry at path {keystr(p)}" if p else "the input carry"
    if in_tree != out_tree:
        diffs = [f"{component(path)} is a {thing1} but the corresponding component of the carry output is a "
                 f"{thing2}, so {explanation}"
                 for path, thing1, thing2, explanation in equality_errors(tree_unflatten(in_tree, in_avals),
                                                                          tree_unflatten(out_tree, out_avals))]
        if not diffs:
            return  # same structure up to aux data
        raise TypeError(f"{name} function carry input and carry output must have the same pytree structure, but "
                        f"they differ:\n\n{_differences(diffs)}\nRevise the function so that the carry output has "
                        "the same pytree structure as the carry input.")
    paths = [p for p, _ in tree_flatten_with_path(tree_unflatten(in_tree, in_avals))[0]]
    diffs = [f"{component(p)} has type {aval_str(a)} but the corresponding output carry component has type "
             f"{aval_str(b)}{_mismatch_extra(a, b)}"
             for p, a, b in zip(paths, in_avals, out_avals) if not typematch(a, b)]
    if diffs:
        raise TypeError(f"{name} function carry input and carry output must have equal types, but they differ:"
                        f"\n\n{_differences(diffs)}\nRevise the function so that all output types match the "
                        "corresponding input types.")


def fun_sourceinfo(fun: Callable) -> str:
    """``name at file:line``, as JAX names a function in its messages."""
    while isinstance(fun, functools.partial):
        fun = fun.func
    fun = inspect.unwrap(fun)
    code = getattr(fun, "__code__", None)
    return f"{fun.__name__} at {code.co_filename}:{code.co_firstlineno}" if code else "<unknown>"


def check_branch_outputs(api_name: str, name1: str, name2: str, f1: Callable, f2: Callable,
                         tree1: PyTreeDef, avals1: Sequence[ShapedArray], tree2: PyTreeDef,
                         avals2: Sequence[ShapedArray]) -> None:
    """TypeError (JAX's wording) unless two branches return the same structure, shapes and dtypes."""
    paths = [p for p, _ in tree_flatten_with_path(tree_unflatten(tree1, avals1))[0]]
    component = lambda p: f" at path {keystr(p)}" if p else ""
    if tree1 != tree2:
        diffs = [f"{name1} output{component(p)} is a {thing1} but {name2} output{component(p)} is a {thing2}, "
                 f"so {expl}" for p, thing1, thing2, expl in equality_errors_pytreedef(tree1, tree2)]
        if not diffs:
            return
        text = f"{diffs[0]}.\n" if len(diffs) == 1 else _differences(diffs)
        raise TypeError(f"{api_name} branch outputs must have the same pytree structure, but they differ:\n\n"
                        f"{name1} is {fun_sourceinfo(f1)}\n{name2} is {fun_sourceinfo(f2)}\n\n{text}\n"
                        f"Revise {name1} and/or {name2} so that they have the same pytree structure.")
    diffs = [f"the output of {name1}{component(p)} has type {aval_str(a)} but the corresponding output of "
             f"{name2} has type {aval_str(b)}{_mismatch_extra(a, b)}"
             for p, a, b in zip(paths, avals1, avals2) if not typematch(a, b)]
    if diffs:
        text = f"{_capitalize(diffs[0])}.\n" if len(diffs) == 1 else \
            "\n".join(f"  * {d};" for d in diffs[:-1]) + f"\n  * {diffs[-1]}.\n"
        raise TypeError(f"{api_name} branches must have equal output types but they differ.\n\n"
                        f"{name1} is {fun_sourceinfo(f1)}\n{name2} is {fun_sourceinfo(f2)}\n\n{text}\n"
                        f"Revise {name1} and/or {name2} so that all output types match.")

