"""jit's argument specification as JAX resolves it (``jax._src.api_util.resolve_argnums``): static and donated
arguments by position and by name, validated against the function's signature."""
from __future__ import annotations

import inspect
import operator
from typing import Any, Callable, Iterable

_POSITIONAL = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
_KEYWORD = (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)
_NOT_KEYWORD = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.VAR_POSITIONAL)


def check_callable(fun: Any) -> None:
    """JAX's checks on the function given to jit."""
    if isinstance(fun, staticmethod):
        raise TypeError(f"staticmethod arguments are not supported, got {fun}")
    if not callable(fun):
        raise TypeError(f"Expected a callable value, got {fun}")
    if inspect.isgeneratorfunction(fun):
        raise TypeError(f"Expected a function, got a generator function: {fun}")


def signature(fun: Callable) -> inspect.Signature | None:
    try:
        return inspect.signature(fun)
    except (TypeError, ValueError):
        return None


def index_tuple(x: int | Iterable[int]) -> tuple[int, ...]:
    """An index or an iterable of indices as a tuple of ints (JAX's ``_ensure_index_tuple``)."""
    try:
        return (operator.index(x),)
    except TypeError:
        return tuple(operator.index(i) for i in x)


def str_tuple(x: str | Iterable[str]) -> tuple[str, ...]:
    if isinstance(x, str):
        return (x,)
    names = tuple(x)
    if not all(isinstance(n, str) for n in names):
        raise TypeError(f"argument is not a string or an iterable of strings: {x}")
    return names


def _infer(sig: inspect.Signature, argnums, argnames) -> tuple[tuple[int, ...], tuple[str, ...]]:
    """Numbers from names or names from numbers, where only one is given (both given: kept as they are)."""
    if argnums is None and argnames is None:
        return (), ()
    if argnums is not None and argnames is not None:
        return index_tuple(argnums), str_tuple(argnames)
    params = [(k, p.kind) for k, p in sig.parameters.items()]
    if argnums is None:
        argnames = str_tuple(argnames)
        return tuple(i for i, (k, kind) in enumerate(params)
                     if kind == inspect.Parameter.POSITIONAL_OR_KEYWORD and k in argnames), argnames
    argnums = index_tuple(argnums)
    return argnums, tuple(k for i, (k, kind) in enumerate(params)
                          if kind == inspect.Parameter.POSITIONAL_OR_KEYWORD and i in argnums)


def _validate_argnums(sig: inspect.Signature, argnums: tuple[int, ...], name: str) -> None:
    """The numbers index positional parameters (any number passes with ``*args``)."""
    kinds = [p.kind for p in sig.parameters.values()]
    if inspect.Parameter.VAR_POSITIONAL in kinds:
        return
    n = sum(k in _POSITIONAL for k in kinds)
    if argnums and (-min(argnums) > n or max(argnums) >= n):
        raise ValueError(f"Jitted function has {name}={argnums}, but only accepts {n} positional arguments.")


def _validate_argnames(sig: inspect.Signature, argnames: tuple[str, ...], name: str) -> None:
    """The names are keyword parameters (any name but a positional-only one passes with ``**kwargs``)."""
    params = sig.parameters.items()
    if invalid := {k for k, p in params if p.kind in _NOT_KEYWORD} & set(argnames):
        raise ValueError(f"Jitted function has invalid argnames {invalid} in {name}. These are positional-only")
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for _, p in params):
        return
    if invalid := set(argnames) - {k for k, p in params if p.kind in _KEYWORD}:
        raise ValueError(f"Jitted function has invalid argnames {invalid} in {name}. Function does not take these "
                         "args.")


def resolve_argnums(fun: Callable, sig: inspect.Signature | None, donate_argnums, donate_argnames, static_argnums,
                    static_argnames) -> tuple[tuple[int, ...], tuple[str, ...], tuple[int, ...], tuple[str, ...]]:
    """``(donate_argnums, donate_argnames, static_argnums, static_argnames)`` completed and validated as JAX does."""
    if sig is None:  # no signature (some builtins): no validation
        if donate_argnames is not None:
            raise ValueError(f"Getting the signature of function {fun} failed. Pass donate_argnums instead of "
                             "donate_argnames.")
        static = () if static_argnums is None else index_tuple(static_argnums)
        static_names = () if static_argnames is None else str_tuple(static_argnames)
        donate, donate_names = (() if donate_argnums is None else index_tuple(donate_argnums)), ()
    else:
        static, static_names = _infer(sig, static_argnums, static_argnames)
        donate, donate_names = _infer(sig, donate_argnums, donate_argnames)
        _validate_argnums(sig, static, "static_argnums")
        _validate_argnames(sig, static_names, "static_argnames")
        _validate_argnums(sig, donate, "donate_argnums")
        _validate_argnames(sig, donate_names, "donate_argnames")
    if both := set(static_names) & set(donate_names):
        raise ValueError("static_argnames and donate_argnames cannot intersect. Argument names "
                         f"{both} appear in both static_argnames and donate_argnames")
    return donate, donate_names, static, static_names


class StaticArg:
    """A static argument in a cache key: equal only to a value of the same type (``1``, ``True`` and ``1.0`` are
    three compilations, as in JAX)."""

    __slots__ = ("val", "_hash")

    def __init__(self, val: Any) -> None:
        try:
            self._hash = hash(val)
        except TypeError as e:
            raise ValueError(f"Non-hashable static arguments are not supported. An error occurred while trying to "
                             f"hash an object of type {type(val)}, {val!r:.80}. The error was:\n{e}") from None
        self.val = val

    def __hash__(self) -> int:
        return self._hash

    def __eq__(self, other: Any) -> bool:
        if type(other) is not StaticArg or type(self.val) is not type(other.val):
            return False
        try:
            return bool(self.val == other.val)
        except Exception as e:
            raise ValueError(f"static arguments should be comparable using __eq__. The following error was raised "
                             f"when comparing two objects of types {type(self.val)} and {type(other.val)}. The "
                             f"error was:\n{e}") from e


class ArgInfo:
    """An argument of a lowered function: its abstract value and whether it is donated (``jax.stages.ArgInfo``)."""

    __slots__ = ("_aval", "donated")

    def __init__(self, aval: Any, donated: bool) -> None:
        self._aval, self.donated = aval, donated

    shape = property(lambda self: self._aval.shape)
    dtype = property(lambda self: self._aval.dtype)

    def __repr__(self) -> str:
        return f"ArgInfo({self._aval.str_short()}, donated={self.donated})"


def donation_vector(donate_argnums: tuple[int, ...], donate_argnames: tuple[str, ...], positions: list[int],
                    dyn_args: tuple, dyn_kwargs: dict) -> list[bool]:
    """Per leaf of ``(dyn_args, dyn_kwargs)``: donated or not; ``positions`` are the dynamic arguments' indices
    among all positional arguments (numbers name positional arguments, names keyword arguments, as in JAX)."""
    from .pytree import tree_flatten
    flags = []
    for pos, arg in zip(positions, dyn_args):
        flags += [pos in donate_argnums] * len(tree_flatten(arg)[0])
    for key in sorted(dyn_kwargs):
        flags += [key in donate_argnames] * len(tree_flatten(dyn_kwargs[key])[0])
    return flags
