"""Rematerialisation control as ``jax.ad_checkpoint``: ``checkpoint_name`` (the identity primitive ``name``),
the ``checkpoint_policies`` that decide which residuals of a ``checkpoint`` are saved in the forward pass
(the rest is recomputed in the backward pass), and ``print_saved_residuals``."""
from __future__ import annotations

import dataclasses
import logging
import types
from typing import Any, Callable

from .config import config
from .decompositions import register_decomposition
from .interpreters import batching
from .ir import ShapedArray
from .pytree import keystr, tree_flatten, tree_flatten_with_path, tree_map, tree_unflatten
from .primitives.contractions import dot_general_p
from .primitives.convolution import conv_general_dilated_p
from .trace import Primitive, abstract_eval_rules, impl_rules, jvp_rules, transpose_rules

logger = logging.getLogger(__name__)

# --- checkpoint_name ----------------------------------------------------------------------------------------
name_p = Primitive("name")
abstract_eval_rules[name_p] = lambda x, *, name: x
impl_rules[name_p] = lambda x, *, name: x
batching.defvectorized(name_p)
jvp_rules[name_p] = lambda primals, tangents, *, name: (name_p.bind(primals[0], name=name), tangents[0])
transpose_rules[name_p] = lambda ct, x, *, name: [ct]
register_decomposition(name_p, lambda x, *, name: x)


def checkpoint_name(x: Any, name: str) -> Any:
    """The identity on ``x`` (a pytree), naming its values for the policies of ``checkpoint``."""
    from .primitives.elementwise import asarray
    return tree_map(lambda v: name_p.bind(asarray(v), name=name), x)


# --- policies: policy(primitive, *in_avals, **params) -> whether its outputs may be saved ---------------------
def everything_saveable(*_, **__) -> bool:
    """Save every residual, as without ``checkpoint``."""
    return True


def nothing_saveable(*_, **__) -> bool:
    """Recompute everything from the checkpoint's inputs (``checkpoint``'s default)."""
    return False


@dataclasses.dataclass(frozen=True)
class DotsSaveable:
    only_if_no_batch_dims: bool

    def __call__(self, prim: Primitive, *avals: ShapedArray, **params: Any) -> bool:
        if self.only_if_no_batch_dims:
            if prim is dot_general_p:
                (_, _), (lhs_b, rhs_b) = params["dimension_numbers"]
                return not lhs_b and not rhs_b
            return False
        return prim in (dot_general_p, conv_general_dilated_p)


checkpoint_dots = dots_saveable = DotsSaveable(False)
dots_with_no_batch_dims_saveable = DotsSaveable(True)


@dataclasses.dataclass(frozen=True)
class SaveOnlyTheseNames:
    saveable_names: frozenset

    def __call__(self, prim: Primitive, *_, **params: Any) -> bool:
        return prim is name_p and params["name"] in self.saveable_names


@dataclasses.dataclass(frozen=True)
class SaveAnyNamesButThese:
    names: frozenset

    def __call__(self, prim: Primitive, *_, **params: Any) -> bool:
        return prim is name_p and params["name"] not in self.names


def save_only_these_names(*names_which_can_be_saved: str) -> Callable[..., bool]:
    """Save only named values (``checkpoint_name``), and only among the names given."""
    return SaveOnlyTheseNames(frozenset(names_which_can_be_saved))


def save_any_names_but_these(*names_not_to_save: str) -> Callable[..., bool]:
    """Save only named values, excluding the names given."""
    return SaveAnyNamesButThese(frozenset(names_not_to_save))


def save_anything_except_these_names(*names_not_to_save: str) -> Callable[..., bool]:
    """As JAX 0.10.2: saves every value (the names are not looked at)."""
    return everything_saveable


def save_from_both_policies(policy_1: Callable[..., bool], policy_2: Callable[..., bool]) -> Callable[..., bool]:
    """Logical OR of two policies: a residual is saveable iff either saves it."""
    def policy(prim, *args, **params):
        out1, out2 = policy_1(prim, *args, **params), policy_2(prim, *args, **params)
        if not (isinstance(out1, bool) and isinstance(out2, bool)):
            raise ValueError(f"The return value of the policies should be a boolean. Got: {out1} and {out2}. Please "
                             "write a custom policy function directly, rather than using this helper function.")
        return out1 or out2
    return policy


def _no_offload(name: str) -> NotImplementedError:
    return NotImplementedError(f"checkpoint_policies.{name}: offloading residuals to another memory space (e.g. "
                               "pinned host memory) is not supported by portax; use a policy that saves or "
                               "recomputes them (save_only_these_names, dots_with_no_batch_dims_saveable).")


def offload_dot_with_no_batch_dims(offload_src: str, offload_dst: str):
    raise _no_offload("offload_dot_with_no_batch_dims")


def save_and_offload_only_these_names(*, names_which_can_be_saved, names_which_can_be_offloaded, offload_src,
                                      offload_dst):
    both = set(names_which_can_be_saved) & set(names_which_can_be_offloaded)
    if both:
        raise ValueError("The names should be exclusive and should not intersect in `names_which_can_be_saved` and "
                         f"`names_which_can_be_offloaded`. Got names_which_can_be_saved={set(names_which_can_be_saved)}"
                         f", names_which_can_be_offloaded={set(names_which_can_be_offloaded)} and the "
                         f"intersection={both}")
    raise _no_offload("save_and_offload_only_these_names")


checkpoint_policies = types.SimpleNamespace(
    everything_saveable=everything_saveable, nothing_saveable=nothing_saveable, dots_saveable=dots_saveable,
    checkpoint_dots=dots_saveable, dots_with_no_batch_dims_saveable=dots_with_no_batch_dims_saveable,
    checkpoint_dots_with_no_batch_dims=dots_with_no_batch_dims_saveable,
    offload_dot_with_no_batch_dims=offload_dot_with_no_batch_dims,
    save_anything_except_these_names=save_anything_except_these_names,
    save_any_names_but_these=save_any_names_but_these, save_only_these_names=save_only_these_names,
    save_from_both_policies=save_from_both_policies,
    save_and_offload_only_these_names=save_and_offload_only_these_names)


# --- saved residuals ------------------------------------------------------------------------------------------
def saved_residuals(f: Callable, *args: Any, **kwargs: Any) -> list[tuple[ShapedArray, str]]:
    """The values ``vjp(f, *args)`` keeps for its backward pass, each with where it comes from."""
    from . import trace as core
    from .interpreters.partial_eval import linearize_flat
    from .interpreters.staging import trace_to_jaxpr
    from .primitives.elementwise import asarray
    leaves, in_tree = tree_flatten((args, kwargs))
    leaves = [asarray(x) for x in leaves]

    def flat(*xs):
        a, kw = tree_unflatten(in_tree, xs)
        return [asarray(o) for o in tree_flatten(f(*a, **kw))[0]]

    def residuals(*xs):
        mask = [core.get_aval(x).dtype.kind in "fc" for x in xs]
        return list(linearize_flat(flat, xs, mask)[2])

    jaxpr, _ = trace_to_jaxpr(residuals, [core.get_aval(x) for x in leaves])
    names = _arg_names(f, args, kwargs)
    res = set(jaxpr.outs)
    out = [(v.aval, "from a constant") for v in jaxpr.constvars if v in res]
    out += [(v.aval, f"from the argument {n}") for v, n in zip(jaxpr.in_binders, names) if v in res]
    return out + [(v.aval, _describe(e)) for e in jaxpr.eqns for v in e.out_binders if v in res]


def _arg_names(f: Callable, args: tuple, kwargs: dict) -> list[str]:
    import inspect
    try:
        bound = inspect.signature(f).bind(*args, **kwargs)
    except (TypeError, ValueError):
        return [f"args[{i}]" for i in range(len(tree_flatten((args, kwargs))[0]))]
    return [f"{name}{keystr(path)}" for name, val in bound.arguments.items()
            for path, _ in tree_flatten_with_path(val)[0]]


def _describe(eqn) -> str:
    info = getattr(eqn, "source_info", None)
    src = f" from {info.location()}" if info is not None and info.location() else ""
    if eqn.primitive is name_p:
        return f"named '{eqn.params['name']}'{src}"
    if eqn.primitive.name == "pjit":
        return f"output of jitted function '{eqn.params['name']}'{src}"
    return f"output of {eqn.primitive.name}{src}"


def log_saved_residuals(forward, n_known_out: int, const_avals: list, used: list[bool]) -> None:
    """Log (at DEBUG, WARNING under ``jax_log_checkpoint_residuals``) what a checkpoint's forward pass keeps for the
    backward one: ``forward`` maps the known inputs to the known outputs and the saved values; ``used`` masks the
    constants, known inputs and saved values the backward half reads."""
    level = logging.WARNING if config.log_checkpoint_residuals else logging.DEBUG
    if not logger.isEnabledFor(level):
        return
    n_consts, n_in = len(const_avals), len(forward.in_binders)
    inputs = [v.aval for v, u in zip(forward.in_binders, used[n_consts:n_consts + n_in]) if u]
    producer = {v: e for e in forward.eqns for v in e.out_binders}
    saved = [(a, "from a constant") for a, u in zip(const_avals, used) if u]
    saved += [(v.aval, _describe(producer[v]) if v in producer else "from an input")
              for v, u in zip(forward.outs[n_known_out:], used[n_consts + n_in:]) if u]
    msg = "remat-decorated function "
    if inputs:
        msg += "saving inputs with shapes:\n" + "".join(f"  {a.str_short()}\n" for a in inputs)
    if saved:
        msg += ("and " if inputs else "") + "saving these intermediates:\n" + "".join(
            f"  {a.str_short()} from {src}\n" for a, src in saved)
    logger.log(level, msg)


def print_saved_residuals(f: Callable, *args: Any, **kwargs: Any) -> None:
    """Print one line per residual ``vjp(f, *args)`` saves: its type and where it comes from."""
    for aval, src in saved_residuals(f, *args, **kwargs):
        print(f"{aval.str_short()} {src}")
