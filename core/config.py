"""Configuration options as JAX has them: ``config.update(name, value)`` sets the global value, and each option's
context manager (usable as a decorator) overrides it in the current thread only."""
from __future__ import annotations

import contextlib
import enum
import functools
import logging
import os
import threading
from typing import Any, Callable, Iterator, Sequence

from .errors import JaxRuntimeError


DEFAULT_COMPILE_CACHE_SIZE = 512
_UNSET = object()


def _env_bool(name: str, default: bool) -> bool:
    return os.environ.get(name.upper(), str(default)).lower() in ("1", "true", "yes", "on")


class _Override(threading.local):
    """An option's value in one thread (``_UNSET``: the global one); a class default, as reading a missing attribute
    would cost an exception."""

    value: Any = _UNSET


class State:
    """One option: a global value and a thread-local override; calling it gives a context manager."""

    def __init__(self, name: str, default: Any, parser: Callable[[Any], Any], help: str,
                 context_default: Any = _UNSET) -> None:
        self.name = name
        self.__name__ = name[4:] if name.startswith("jax_") else name
        self.__doc__ = f"Context manager for `{name}` config option.\n\n{help}"
        self._parser = parser
        self._global = parser(default)
        self._local = _Override()
        self._context_default = context_default

    @property
    def value(self) -> Any:
        local = self._local.value
        return self._global if local is _UNSET else local

    def _set(self, value: Any) -> None:
        self._global = self._parser(value)

    def get_global(self) -> Any:
        """The global value (what ``config.update`` set), whatever the current thread overrides."""
        return self._global

    def __bool__(self):
        raise TypeError(f"bool() not supported for instances of type '{type(self).__name__}' "
                        f"(did you mean to use '{type(self).__name__}.value' instead?)")

    def __call__(self, new_val: Any = _UNSET) -> "StateContextManager":
        if new_val is _UNSET:
            if self._context_default is _UNSET:
                raise TypeError(f"Context manager for {self.__name__} config option requires an argument "
                                "representing the new value for the config option.")
            new_val = self._context_default
        return StateContextManager(self, self._parser(new_val))


class StateContextManager:
    """Sets an option in the current thread for a ``with`` block, or for every call of a function it decorates."""

    def __init__(self, state: State, new_val: Any) -> None:
        self.state, self.new_val = state, new_val
        self._prev = threading.local()  # per thread: one manager may be entered by several threads (and re-entered)

    def __enter__(self) -> None:
        self._prev.__dict__.setdefault("stack", []).append(self.state._local.value)
        self.state._local.value = self.new_val
        _thread.depth += 1
        _thread.base = _global_hot[0]
        _thread.hot = _hot_values()

    def __exit__(self, *exc: Any) -> None:
        self.state._local.value = self._prev.stack.pop()
        _thread.depth -= 1
        _thread.base = _global_hot[0]
        _thread.hot = _hot_values() if _thread.depth else None

    def __call__(self, func: Callable) -> Callable:
        @functools.wraps(func)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            with StateContextManager(self.state, self.new_val):
                return func(*args, **kwargs)
        return wrapper


def _bool(value: Any) -> bool:
    return bool(value)


def _only(supported: Any, feature: str) -> Callable[[Any], Any]:
    """A parser of an option portax supports at one value only (NotImplementedError for the others)."""
    def parse(value: Any) -> Any:
        if value != supported:
            raise NotImplementedError(f"portax does not implement {feature}")
        return value
    return parse


class ExplicitX64Mode(enum.IntEnum):
    """``jax_explicit_x64_dtypes``: what an explicitly requested 64-bit dtype gives without x64 (JAX's enum)."""
    WARN = enum.auto()
    ERROR = enum.auto()
    ALLOW = enum.auto()

    @classmethod
    def _missing_(cls, value: object) -> "ExplicitX64Mode | None":
        return cls.__members__.get(value.upper()) if isinstance(value, str) else None


def _explicit_x64_mode(value: Any) -> ExplicitX64Mode:
    """An ExplicitX64Mode from a member (JAX's too, by name) or its name."""
    return ExplicitX64Mode(value.name if isinstance(value, enum.Enum) else value)


def _enum(values: Sequence[str], optional: bool = False) -> Callable[[Any], Any]:
    def parse(value: Any) -> Any:
        if optional and value is None:
            return None
        if type(value) is not str or value not in values:
            raise ValueError(f"new enum value must be {'None or ' if optional else ''}in {list(values)}, "
                             f"got {value} of type {type(value)}.")
        return value
    return parse


def _enum_member(values: Sequence[str]) -> Callable[[Any], str]:
    """A parser of JAX's string-enum options: the names, or JAX's enum members (their ``value``)."""
    parse = _enum(values)
    return lambda value: parse(getattr(value, "value", value))


_TRANSFER_LEVELS = ("allow", "log", "disallow", "log_explicit", "disallow_explicit")
_MATMUL_PRECISIONS = (
    "default", "high", "highest", "bfloat16", "tensorfloat32", "float32", "ANY_F8_ANY_F8_F32",
    "ANY_F8_ANY_F8_F32_FAST_ACCUM", "ANY_F8_ANY_F8_ANY", "ANY_F8_ANY_F8_ANY_FAST_ACCUM", "F16_F16_F16", "F16_F16_F32",
    "BF16_BF16_BF16", "BF16_BF16_F32", "BF16_BF16_F32_X3", "BF16_BF16_F32_X6", "BF16_BF16_F32_X9", "TF32_TF32_F32",
    "TF32_TF32_F32_X3", "F32_F32_F32", "F64_F64_F64")
_TRANSFER_DIRECTIONS = ("host_to_device", "device_to_device", "device_to_host")

# name, default, parser, help, context-manager default (bool options: True)
_OPTIONS: list[tuple] = [
    ("jax_enable_x64", _env_bool("PORTAX_ENABLE_X64", _env_bool("JAX_ENABLE_X64", False)), _bool,
     "Enable 64-bit types to be used.", True),
    ("jax_numpy_rank_promotion", os.environ.get("JAX_NUMPY_RANK_PROMOTION", "allow"),
     _enum(("allow", "warn", "raise")),
     "Control NumPy-style automatic rank promotion broadcasting ('allow', 'warn', or 'raise').", _UNSET),
    ("jax_numpy_dtype_promotion", os.environ.get("JAX_NUMPY_DTYPE_PROMOTION", "standard"),
     _enum_member(("standard", "strict")),
     "Rules of implicit type promotion between arrays: 'standard' or 'strict' (in strict mode, binary operations "
     "between arrays of differing strongly-specified dtypes are an error).", _UNSET),
    ("jax_default_matmul_precision", None, _enum(_MATMUL_PRECISIONS, optional=True),
     "Default precision of matmuls and convolutions on 32-bit inputs (portax always computes them in the "
     "operands' full precision, which every setting allows).", _UNSET),
    ("jax_enable_checks", False, _bool,
     "Turn on invariant checking of internals (portax has no optional internal checks: this changes nothing).",
     True),
    ("jax_check_tracer_leaks", _env_bool("JAX_CHECK_TRACER_LEAKS", False), _bool,
     "Turn on checking for leaked tracers as soon as a trace completes. Enabling leak checking may have "
     "performance impacts: some caching is disabled, and other overheads may be added.", True),
    ("jax_debug_nans", False, _bool,
     "Add nan checks to every operation: a FloatingPointError names the primitive that produced one.",
     True),
    ("jax_disable_jit", _env_bool("JAX_DISABLE_JIT", False), _bool,
     "Disable JIT compilation and just call original Python (jitted functions run op by op, control flow "
     "with concrete predicates and loops in Python).", True),
    ("jax_no_tracing", False, _bool, "Disallow tracing for JIT compilation.", True),
    ("jax_no_execution", False, _bool, "Disallow JAX executions.", True),
    ("jax_log_compiles", _env_bool("JAX_LOG_COMPILES", False), _bool,
     "Log a message each time `jit` or `pmap` compiles an XLA computation. Logging is performed with `logging`. When "
     "this option is set, the log level is WARNING; otherwise the level is DEBUG.", True),
    ("jax_explain_cache_misses", _env_bool("JAX_EXPLAIN_CACHE_MISSES", False), _bool,
     "Each time there is a miss on one of the main caches (e.g. the tracing cache), log an explanation. Logging is "
     "performed with `logging`. When this option is set, the log level is WARNING; otherwise the level is DEBUG.",
     True),
    ("jax_log_checkpoint_residuals", False, _bool,
     "Log a message every time jax.checkpoint (aka jax.remat) is partially evaluated (e.g. for autodiff), printing "
     "what residuals are saved.", True),
    ("jax_debug_infs", False, _bool,
     "Add inf checks to every operation: a FloatingPointError names the primitive that produced one.",
     True),
    ("jax_check_static_indices", False, _bool,
     "Turn on bounds checks for static indices during array indexing operations. These will only be checked when "
     "indexing mode is PROMISE_IN_BOUNDS, which is the default for gather-type operations.", True),
    ("jax_legacy_prng_key", os.environ.get("JAX_LEGACY_PRNG_KEY", "allow"), _enum_member(("allow", "warn", "error")),
     "Behavior when raw PRNG keys are passed to jax.random APIs.", _UNSET),
    ("jax_default_prng_impl", os.environ.get("JAX_DEFAULT_PRNG_IMPL", "threefry2x32"),
     _enum(("threefry2x32", "threefry4x32", "philox2x32", "philox4x32", "rbg", "unsafe_rbg")),
     "Select the default PRNG implementation, used when one is not explicitly provided at seeding time.", _UNSET),
    ("jax_random_seed_offset", 0, int, "Offset to all random seeds (e.g. argument to jax.random.key()).", _UNSET),
    ("jax_threefry_partitionable", True, _only(True, "threefry2x32's non-partitionable mode (its only mode is "
                                                       "the partitionable one, JAX's default)"),
     "Threefry2x32's partitionable mode (the only one portax has).", True),
    ("jax_debug_key_reuse", False, _only(False, "key reuse checking (jax_debug_key_reuse=True)"),
     "Key reuse checking (portax has none: it cannot be turned on).", True),
    ("jax_explicit_x64_dtypes", ExplicitX64Mode.WARN, _explicit_x64_mode,
     "If set to ALLOW, explicit specification of 64-bit types will be respected even if enable_x64 is false. If "
     "set to WARN, a warning will be issued, and if set to ERROR, an error will be raised.", _UNSET),
    ("jax_enable_custom_prng", False, _bool,
     "The typed-key upgrade: jax.random.PRNGKey, and the random functions given raw keys, return typed key "
     "arrays instead of raw uint32 key data.", True),
    *((f"jax_transfer_guard_{d}", None, _enum(_TRANSFER_LEVELS, optional=True),
       f"Transfer guard level for {d.replace('_', '-')} transfers. Default is 'allow'.", _UNSET)
      for d in _TRANSFER_DIRECTIONS),
    # portax's own options (global only)
    ("default_backend", os.environ.get("PORTAX_BACKEND") or None, lambda v: v or None,
     "Name of the default backend.", _UNSET),
    ("compile_cache_size", int(os.environ.get("PORTAX_COMPILE_CACHE_SIZE", str(DEFAULT_COMPILE_CACHE_SIZE))), int,
     "Compiled programs kept per jitted function and for eager ops (least recently used dropped first).", _UNSET),
]


class Config:
    """JAX's ``jax.config``: ``update``/``read`` by name (with or without the ``jax_`` prefix), and attribute reads
    (``config.jax_enable_x64``, ``config.enable_x64``, ``config.x64_enabled``) giving the current thread's value."""

    def __init__(self) -> None:
        self._states: dict[str, State] = {}
        self._listeners: list = []

    def _add(self, state: State) -> State:
        self._states[state.__name__] = state
        prop = property(lambda _: state.value)
        setattr(Config, state.__name__, prop)
        if state.name.startswith("jax_"):
            setattr(Config, state.name, prop)
        return state

    def _state(self, name: str) -> State:
        key = name[4:] if name.startswith("jax_") else name
        state = self._states.get(key)
        if state is None:
            raise AttributeError(f"Unrecognized config option: {name}")
        return state

    def update(self, name: str, value: Any) -> None:
        """Set the global value of an option (threads inside its context manager keep their own value)."""
        if name in ("jax_transfer_guard", "transfer_guard"):
            for d in _TRANSFER_DIRECTIONS:
                self.update(f"jax_transfer_guard_{d}", value)
            return
        state = self._state(name)
        state._set(value)
        _global_hot[0] = _hot_values(global_only=True)
        for listener in self._listeners:
            listener(state.__name__)

    def read(self, name: str) -> Any:
        return self._state(name).value

    @property
    def x64_enabled(self) -> bool:
        return self._states["enable_x64"].value

    @property
    def values(self) -> dict:
        return {s.name: s.value for s in self._states.values()}

    def trace_context(self) -> tuple:
        """The options that change what tracing a function produces (part of jit's cache key)."""
        return hot()[0]

    def on_change(self, listener) -> None:
        self._listeners.append(listener)


config = Config()
_STATES = {name[4:] if name.startswith("jax_") else name: config._add(State(name, default, parser, help, cm))
           for name, default, parser, help, cm in _OPTIONS}


# What every jitted call reads, precomputed: (trace context, whether outputs are checked for NaN/inf). The global
# values change only in ``config.update``; a thread inside a context manager keeps its own, set on enter/exit.
class _ThreadHot(threading.local):
    """Per thread: the depth of option context managers entered and, inside one, the ``hot`` values."""

    depth = 0
    hot = None  # a class default: a missing attribute would cost an exception per read
    base = None  # the global values ``hot`` was read with (``config.update`` replaces them)


_thread = _ThreadHot()


# The options that change what tracing a function produces (jit's trace context), in the order of its values.
TRACE_CONTEXT = ("enable_x64", "numpy_rank_promotion", "numpy_dtype_promotion", "default_matmul_precision",
                 "default_prng_impl", "random_seed_offset", "explicit_x64_dtypes")


_user_contexts: list[State] = []  # the values of ``make_user_context``s, after TRACE_CONTEXT in the trace context


def _hot_values(global_only: bool = False) -> tuple:
    read = (lambda n: _STATES[n]._global) if global_only else (lambda n: _STATES[n].value)
    users = tuple(s._global if global_only else s.value for s in _user_contexts)
    return (tuple(read(n) for n in TRACE_CONTEXT) + users,
            bool(read("debug_nans") or read("debug_infs") or read("disable_jit") or read("no_execution")))


_global_hot = [_hot_values(global_only=True)]


def hot() -> tuple:
    """``(trace_context, checked)`` for the current thread, in one thread-local read (``checked``: jitted calls take
    the slow path, for NaN/inf checks, ``jax_disable_jit`` or ``jax_no_execution``)."""
    mine = _thread.hot
    if mine is None:
        return _global_hot[0]
    if _thread.base is not _global_hot[0]:  # a global value changed since: read again
        _thread.base = _global_hot[0]
        mine = _thread.hot = _hot_values()
    return mine

class UserConfig:
    """``jax.make_user_context(default_value)``: a value of the user's that jit's caches depend on (a function is
    traced again when it changes); calling it gives a context manager setting it in the current thread."""

    def __init__(self, default_value: Any = None) -> None:
        self._state = State(f"user_context_{len(_user_contexts)}", default_value, lambda v: v, "A user context.")
        _user_contexts.append(self._state)
        _global_hot[0] = _hot_values(global_only=True)

    @property
    def value(self) -> Any:
        return self._state.value

    def get_global(self) -> Any:
        return self._state.get_global()

    def set_global(self, new_value: Any) -> None:
        self._state._set(new_value)
        _global_hot[0] = _hot_values(global_only=True)

    def __call__(self, new_value: Any) -> StateContextManager:
        return StateContextManager(self._state, new_value)


make_user_context = UserConfig


# The options' context managers, under JAX's names (``jax.numpy_rank_promotion('raise')``, ...).
_PUBLIC = ("enable_x64", "numpy_rank_promotion", "numpy_dtype_promotion", "default_matmul_precision", "enable_checks",
           "check_tracer_leaks", "debug_nans", "debug_infs", "legacy_prng_key", "default_prng_impl", "enable_custom_prng",
           "transfer_guard_host_to_device", "transfer_guard_device_to_device", "transfer_guard_device_to_host",
           "debug_key_reuse", "threefry_partitionable", "random_seed_offset", "explicit_x64_dtypes", "no_tracing",
           "no_execution", "log_compiles", "explain_cache_misses")
(enable_x64, numpy_rank_promotion, numpy_dtype_promotion, default_matmul_precision, enable_checks, check_tracer_leaks,
 debug_nans, debug_infs, legacy_prng_key, default_prng_impl, enable_custom_prng, transfer_guard_host_to_device,
 transfer_guard_device_to_device, transfer_guard_device_to_host, debug_key_reuse, threefry_partitionable,
 random_seed_offset, explicit_x64_dtypes, no_tracing, no_execution, log_compiles,
 explain_cache_misses) = (_STATES[name] for name in _PUBLIC)
checking_leaks = functools.partial(check_tracer_leaks, True)


@contextlib.contextmanager
def transfer_guard(new_val: str) -> Iterator[None]:
    """Set the transfer guard level of every direction in the current thread (also usable as a decorator)."""
    with contextlib.ExitStack() as stack:
        for d in _TRANSFER_DIRECTIONS:
            stack.enter_context(_STATES[f"transfer_guard_{d}"](new_val))
        yield


_CORE_DIR = os.path.dirname(os.path.abspath(__file__)) + os.sep


def called_from_user(frame: Any, through: Callable[[Any], bool]) -> bool:
    """Whether ``frame`` (a portax entry point's caller) is user code, after stepping up past the frames whose code
    ``through`` accepts (shims that pass a user's call on). Checks like rank promotion and transfer guards apply to
    user calls only: portax's own code converts and broadcasts freely, as JAX's does."""
    while frame is not None and through(frame.f_code):
        frame = frame.f_back
    return frame is None or not frame.f_code.co_filename.startswith(_CORE_DIR)


def guard_transfer(direction: str, what: str | Callable[[], str], explicit: bool) -> None:
    """Apply the transfer guard of ``direction`` ('host_to_device', ...) to a transfer of ``what`` (or of what
    ``what()`` says: built only when the guard logs or raises); ``explicit``: asked for with ``device_put`` (only the
    '*_explicit' levels guard those)."""
    level = _STATES[f"transfer_guard_{direction}"].value or "allow"
    if level == "allow" or (explicit and level in ("log", "disallow")):
        return
    what = what() if callable(what) else what
    name = direction.replace("_", "-")
    if level.startswith("log"):
        logging.getLogger("portax").warning("%s transfer: %s", name, what)
        return
    raise JaxRuntimeError(f"INVALID_ARGUMENT: Disallowed {name} transfer: {what}")
