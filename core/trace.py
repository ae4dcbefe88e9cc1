"""Primitives, the trace stack and ``bind``: how every operation reaches the innermost transformation.

As in autodidax: each transformation is a ``Trace`` type with a ``MainTrace`` on a stack; ``bind`` finds
the highest-level trace among its arguments (or the dynamic staging trace) and lets it process the
primitive. Level 0 is evaluation, which dispatches to the default backend.
"""
from __future__ import annotations

import contextlib
import functools
import operator
import threading
from typing import Any, Callable

import numpy as np

from . import dtypes
from .errors import (ConcretizationTypeError, TracerArrayConversionError, TracerBoolConversionError,
                     TracerIntegerConversionError, UnexpectedTracerError)
from .config import check_tracer_leaks as _check_leaks
from .ir import ShapedArray
from .array_methods import ArrayMethods, check_bool_conversion, check_integer_conversion, check_scalar_conversion


class Primitive:
    """An operation of the IR. All its semantics live in the rule tables keyed by it."""

    multiple_results = False

    def __init__(self, name: str, multiple_results: bool = False):
        self.name = name
        self.multiple_results = multiple_results

    def bind(self, *args: Any, **params: Any) -> Any:
        return bind(self, *args, **params)

    @property
    def impl(self) -> Callable:
        """How the primitive evaluates on concrete arrays: its ``def_impl`` rule, else compiled dispatch."""
        rule = impl_rules.get(self)
        return rule if rule is not None else functools.partial(_dispatcher, self)

    def def_impl(self, impl: Callable) -> Callable:
        """Evaluate the primitive with ``impl(*arrays, **params)`` outside transformations (given the
        primitive's own ``impl`` back, it dispatches compiled again)."""
        if isinstance(impl, functools.partial) and impl.func is _dispatcher and impl.args == (self,) \
                and not impl.keywords:
            impl_rules.pop(self, None)
        else:
            impl_rules[self] = impl
        return impl

    def def_abstract_eval(self, abstract_eval: Callable) -> Callable:
        """``abstract_eval(*avals, **params)`` gives the output aval (a list of them if ``multiple_results``)."""
        abstract_eval_rules[self] = abstract_eval
        return abstract_eval

    def top_trace(self, args: tuple, params: dict) -> "Trace":
        """The trace that processes this primitive: its arguments' innermost (collectives extend this, and a
        higher-order primitive goes to a vmap whose named axis its jaxprs use)."""
        trace = find_top_trace(args)
        return higher_order_top_trace(trace, params) if self in higher_order_primitives else trace

    def __repr__(self) -> str:
        return self.name


class MainTrace:
    __slots__ = ("level", "trace_type", "global_data", "active")

    def __init__(self, level: int, trace_type: type, global_data: Any):
        self.level = level
        self.trace_type = trace_type
        self.global_data = global_data
        self.active = True

    def __repr__(self) -> str:
        return f"MainTrace({self.level}, {self.trace_type.__name__})"


class Trace:
    """Base of the interpreters: ``pure``/``lift`` box values, ``process_primitive`` applies a rule."""

    __slots__ = ("main",)

    def __init__(self, main: MainTrace):
        self.main = main

    def pure(self, val: Any) -> Any:
        raise NotImplementedError

    def lift(self, val: Any) -> Any:
        return self.pure(val)

    def process_primitive(self, primitive: Primitive, tracers: list, params: dict) -> Any:
        raise NotImplementedError


class EvalTrace(Trace):
    """Level 0: apply primitives to concrete arrays through the default backend."""

    pure = lift = lambda self, x: x

    def process_primitive(self, primitive, tracers, params):
        rule = impl_rules.get(primitive)
        if rule is not None:
            return rule(*tracers, **params)
        return _dispatcher(primitive, *tracers, **params)


_dispatcher: Callable = None  # set by core.dispatch
impl_rules: dict[Primitive, Callable] = {}  # primitives evaluated in Python rather than compiled

_base_main = MainTrace(0, EvalTrace, None)
_eval_trace = EvalTrace(_base_main)


class _TraceState(threading.local):
    """This thread's trace stack (evaluation at level 0) and dynamic staging trace: as in JAX, every thread
    traces independently, so concurrent first calls of jit/grad/vmap never see each other's tracers."""

    def __init__(self) -> None:
        self.stack: list[MainTrace] = [_base_main]
        self.dynamic: MainTrace | None = None
        self.compile_time_eval = False  # ensure_compile_time_eval: concrete operands evaluate, even when staging


_state = _TraceState()


def trace_stack() -> list[MainTrace]:
    """The calling thread's trace stack, outermost (level 0) first."""
    return _state.stack


def is_tracing() -> bool:
    """Whether a transformation is tracing on the calling thread (else binds evaluate)."""
    s = _state
    return len(s.stack) > 1 or s.dynamic is not None


def is_staging() -> bool:
    """Whether a jit/make_jaxpr trace is staging on the calling thread."""
    return _state.dynamic is not None


def constants_staged() -> bool:
    """Whether an operation on constants alone is staged (a jit/make_jaxpr trace is active, outside
    ``ensure_compile_time_eval``) rather than evaluated now on the default backend."""
    return is_staging() and not _state.compile_time_eval


@contextlib.contextmanager
def new_main(trace_type: type, global_data: Any = None):
    stack = _state.stack
    main = MainTrace(len(stack), trace_type, global_data)
    stack.append(main)
    try:
        yield main
    finally:
        stack.pop()
        main.active = False
    if _check_leaks.value:
        from .tracer_leaks import raise_if_leaked
        raise_if_leaked(main)


@contextlib.contextmanager
def _state_set(attr: str, value: Any):
    """This thread's trace state with ``attr`` set to ``value`` for the block."""
    prev = getattr(_state, attr)
    setattr(_state, attr, value)
    try:
        yield
    finally:
        setattr(_state, attr, prev)


def new_dynamic(main: MainTrace):
    return _state_set("dynamic", main)


def ensure_compile_time_eval():
    """Inside it, operations on concrete values (no tracer among their operands) are evaluated now, even
    under ``jit`` or ``make_jaxpr``, giving concrete arrays usable in Python control flow; operations on
    traced values are staged as usual."""
    return _state_set("compile_time_eval", True)


@contextlib.contextmanager
def new_base_main(trace_type: type, global_data: Any = None):
    """A staging trace that captures every bind, even of constants (jit's omnistaging)."""
    with new_main(trace_type, global_data) as main, new_dynamic(main):
        yield main


class Tracer(ArrayMethods):
    """A value being traced by a transformation; behaves like an array."""

    __slots__ = ("_trace",)
    __array_priority__ = 1000

    @property
    def aval(self) -> ShapedArray:
        raise NotImplementedError

    def full_lower(self) -> Any:
        return self

    def to_concrete_value(self) -> np.ndarray | None:
        """The concrete value behind this tracer if the transformation knows it, else None."""
        return None

    def primal_value(self) -> Any:
        """The value this tracer stands for one level down (its primal), once its transformation is done."""
        raise escaped_tracer_error(self)

    def _origin_msg(self) -> str:
        """Where this tracer's value was computed, when the transformation recorded it."""
        return ""

    shape = property(lambda self: self.aval.shape)
    dtype = property(lambda self: self.aval.dtype)
    ndim = property(lambda self: self.aval.ndim)
    size = property(lambda self: self.aval.size)
    weak_type = property(lambda self: self.aval.weak_type)

    def _concrete(self, err_type: type, context: str) -> np.ndarray:
        val = self.to_concrete_value()
        if val is None:
            raise err_type(self, context)
        return val

    def __bool__(self) -> bool:
        val = self.to_concrete_value()
        if val is not None:
            return bool(val)
        check_bool_conversion(self)
        raise TracerBoolConversionError(self, "")

    def __index__(self) -> int:
        val = self.to_concrete_value()
        if val is not None:
            return operator.index(val)
        check_integer_conversion(self)
        raise TracerIntegerConversionError(self, "")

    def __int__(self) -> int:
        val = self.to_concrete_value()
        if val is not None:
            return int(val)
        check_scalar_conversion(self)
        raise ConcretizationTypeError(self, _cast_context(int))

    def __float__(self) -> float:
        check_scalar_conversion(self)
        return float(self._concrete(ConcretizationTypeError, _cast_context(float)))

    def __complex__(self) -> complex:
        check_scalar_conversion(self)
        return complex(self._concrete(ConcretizationTypeError, _cast_context(complex)))

    def __array__(self, dtype=None, copy=None):
        # Always an error, as JAX's (even with a known value: numpy would compute without the transformation,
        # e.g. a gradient through np.exp would silently be zero).
        raise TracerArrayConversionError(self)

    def item(self):
        return self._concrete(ConcretizationTypeError, "item() was called on a traced value.").item()

    def tolist(self):
        return self._concrete(ConcretizationTypeError, "tolist() was called on a traced value.").tolist()

    def __hash__(self):
        raise TypeError(f"unhashable type: {type(self).__name__}")

    def __len__(self) -> int:
        if not self.aval.shape:
            raise TypeError("len() of unsized object")
        return self.aval.shape[0]

    def __repr__(self) -> str:
        return f"Traced<{self.aval}>with<{type(self._trace).__name__}(level={self._trace.main.level})>"

    __str__ = __repr__


def _cast_context(fun: type) -> str:
    """JAX's explanation of a Python cast (``int``, ``float``, ``complex``) of a traced value."""
    name = fun.__name__
    return (f"The problem arose with the `{name}` function. If trying to convert the data type of a value, try using "
            f"`x.astype({name})` or `jnp.array(x, {name})` instead.")


def get_aval(x: Any) -> ShapedArray:
    """The abstract value of any array-like: tracer, portax Array, numpy array or Python scalar."""
    aval = getattr(x, "aval", None)
    if aval is not None:
        return aval
    t = type(x)
    if t in (bool, int, float, complex):
        return ShapedArray((), dtypes.python_scalar_dtype(x), weak_type=t is not bool)
    if isinstance(x, (np.ndarray, np.generic)):
        if isinstance(x, np.ma.MaskedArray):
            raise ValueError("numpy masked arrays are not supported as direct inputs to JAX functions. Use "
                             "arr.filled() to convert the value to a standard numpy array.")
        return ShapedArray(x.shape, dtypes.canonicalize(x.dtype))
    if hasattr(x, "__jax_array__"):
        return get_aval(x.__jax_array__())
    if isinstance(x, (list, tuple)):
        raise TypeError(f"Value {x!r:.100} of type {t.__name__} is not a valid array; use jnp.asarray to convert sequences.")
    raise TypeError(f"Value {x!r:.100} with type {t.__name__} is not a valid JAX type")


def shaped_abstractify(x: Any) -> ShapedArray:
    """``get_aval``, also of a duck-typed array: any object with ``shape`` and ``dtype`` attributes (what
    ``eval_shape``, ``make_jaxpr`` and ``jit(f).lower`` accept as abstract arguments)."""
    try:
        return get_aval(x)
    except TypeError:
        if not hasattr(x, "dtype"):
            raise
    return ShapedArray(np.shape(x), dtypes.canonicalize(np.dtype(x.dtype)), weak_type=getattr(x, "weak_type", False))


def is_tracer(x: Any) -> bool:
    return isinstance(x, Tracer)


def concrete_or_none(x: Any) -> np.ndarray | None:
    """A numpy value for ``x`` when it is known at trace time, else None."""
    if isinstance(x, Tracer):
        return x.to_concrete_value()
    return np.asarray(x)


def concrete_or_error(x: Any, context: str = "") -> np.ndarray:
    val = concrete_or_none(x)
    if val is None:
        raise ConcretizationTypeError(x, context)
    return val


def find_top_trace(xs) -> Trace:
    top_main = _base_main
    for x in xs:
        if isinstance(x, Tracer):
            main = x._trace.main
            if not main.active:
                raise escaped_tracer_error(x)
            if main.level > top_main.level:
                top_main = main
    dynamic = _state.dynamic
    if dynamic is not None and dynamic.level > top_main.level and (top_main.level or not _state.compile_time_eval):
        top_main = dynamic
    if top_main.level == 0:
        return _eval_trace
    return top_main.trace_type(top_main)


def full_raise(trace: Trace, val: Any) -> Any:
    if not isinstance(val, Tracer):
        return trace.pure(val)
    level = trace.main.level
    vmain = val._trace.main
    if vmain is trace.main:
        return val
    if vmain.level < level:
        return trace.lift(val)
    raise escaped_tracer_error(val, f"Can't lift a tracer of level {vmain.level} to level {level}: {val!r}.")


def escaped_tracer_error(tracer: Tracer, detail: str | None = None) -> UnexpectedTracerError:
    """JAX's error for a tracer used outside the transformation that made it."""
    msg = ("Encountered an unexpected tracer. A function transformed by JAX had a side effect, allowing for a "
           f"reference to an intermediate value with type {tracer.aval.str_short()} wrapped in a "
           f"{type(tracer).__name__} to escape the scope of the transformation.\nJAX transformations require that "
           "functions explicitly return their outputs, and disallow saving intermediate values to global state.")
    origin = tracer._origin_msg()
    if origin:
        divider = "\n" + "-" * 30 + "\n"
        msg += f"{divider}The leaked intermediate value was created on line {origin}. {divider}"
    msg += ("\nTo catch the leak earlier, try setting the environment variable JAX_CHECK_TRACER_LEAKS or using the "
            "`jax.checking_leaks` context manager.")
    if detail:
        msg += f"Detail: {detail}"
    return UnexpectedTracerError(msg)


def full_lower(val: Any) -> Any:
    return val.full_lower() if isinstance(val, Tracer) else val


def bind(primitive: Primitive, *args: Any, **params: Any) -> Any:
    trace = primitive.top_trace(args, params)
    if trace is _eval_trace:
        return trace.process_primitive(primitive, args, params)
    tracers = [full_raise(trace, a) for a in args]
    outs = trace.process_primitive(primitive, tracers, params)
    if primitive.multiple_results:
        return [full_lower(o) for o in outs]
    return full_lower(outs)


# --- rule tables shared by every interpreter ------------------------------------------------------------
class _AbstractEvalRules(dict):
    """primitive -> abstract evaluation rule; a primitive without one raises JAX's NotImplementedError."""

    def __missing__(self, primitive: Primitive):
        raise NotImplementedError(f"Abstract evaluation for '{primitive}' not implemented")


abstract_eval_rules: dict[Primitive, Callable] = _AbstractEvalRules()
jvp_rules: dict[Primitive, Callable] = {}
transpose_rules: dict[Primitive, Callable] = {}
batching_rules: dict[Primitive, Callable] = {}
partial_eval_jaxpr_rules: dict[Primitive, Callable] = {}
# Primitives whose jaxpr params need recursive handling by passes (fusion, DCE, lowering).
higher_order_primitives: set[Primitive] = set()
higher_order_top_trace: Callable = lambda trace, params: trace  # set by parallel.axis_env (named vmap axes)
