"""The transformations users call: jit, grad, vjp, jvp, linearize, jacfwd/jacrev/hessian, vmap,
make_jaxpr, eval_shape, checkpoint, and device placement."""
from __future__ import annotations

import collections
import contextlib
import functools
import inspect
import operator
import threading
import warnings
import weakref
from typing import Any, Callable, Iterator, Sequence

import numpy as np

from . import compile_log, dtypes, profiler, trace as core
from .ad_util import Zero, instantiate
from .array import Array, make_array, put_host, to_device
from .backend import Device, get_backend, registry
from .call_key import arrays_key, static_call_key
from .config import config, guard_transfer, hot as config_hot
from .errors import ConcretizationTypeError, JaxRuntimeError
from .jit_args import ArgInfo, StaticArg, check_callable, donation_vector, resolve_argnums, signature
from .lru import LRUCache
from .interpreters import batching
from .interpreters.jvp import jvp_flat
from .interpreters.memo import trace_once
from .interpreters.partial_eval import linearize_flat
from .interpreters.staging import convert_constvars, trace_to_jaxpr
from .interpreters.evaluation import eval_jaxpr
from .interpreters.transpose import UndefinedPrimal, backward_pass
from .ir import ClosedJaxpr, ShapedArray
from .placement import default_device, following
from .pytree import (Partial, PyTreeDef, keystr, register_pytree_node, tree_flatten, tree_flatten_with_path,
                     tree_map, tree_structure, tree_unflatten)
from .sharded import MeshArray, MultiDeviceArray, is_global
from .sharding import current_mesh

from .primitives import call as call_prims
from .primitives.elementwise import asarray
from .prng_keys import KeyTy, PRNGKeyArray, is_key_array


# ============================================ jit ==========================================================
def _argnums_tuple(x, n: int | None = None) -> tuple:
    if x is None:
        return ()
    t = (x,) if isinstance(x, int) else tuple(x)
    return tuple(i % n if n is not None and i < 0 else i for i in t)


class ShapeDtypeStruct:
    """A shape and dtype standing in for an array (``jax.ShapeDtypeStruct``)."""

    __slots__ = ("shape", "dtype", "weak_type", "sharding")

    def __init__(self, shape: Sequence[int], dtype, weak_type: bool = False, sharding: Any = None):
        if dtype is None:
            raise ValueError("ShapeDtypeStruct: dtype must be specified.")
        self.shape = tuple(shape)
        self.dtype = dtype if isinstance(dtype, KeyTy) else np.dtype(dtype)
        self.weak_type = weak_type
        self.sharding = sharding

    @classmethod
    def like(cls, x: Any) -> "ShapeDtypeStruct":
        """The shape, dtype (a key dtype for key arrays), weak type and sharding of ``x``."""
        aval = x if is_key_array(x) else core.get_aval(x)
        return cls(aval.shape, aval.dtype, weak_type=getattr(aval, "weak_type", False),
                   sharding=getattr(x, "sharding", None))

    @property
    def aval(self) -> ShapedArray:
        return ShapedArray(self.shape, dtypes.canonicalize(self.dtype), self.weak_type)

    ndim = property(lambda self: len(self.shape))
    size = property(lambda self: int(np.prod(self.shape, dtype=np.int64)))

    def __len__(self) -> int:
        if not self.shape:
            raise TypeError("len() of unsized object")
        return self.shape[0]

    def __repr__(self) -> str:
        return f"ShapeDtypeStruct(shape={self.shape}, dtype={self.dtype.name})"

    def __eq__(self, other) -> bool:
        return isinstance(other, ShapeDtypeStruct) and (self.shape, self.dtype) == (other.shape, other.dtype)

    def __hash__(self) -> int:
        return hash((self.shape, self.dtype))


class _CacheEntry:
    __slots__ = ("closed", "consts", "out_tree", "compiled", "const_arrays", "donations")

    def __init__(self, closed, consts, out_tree):
        self.closed = closed
        self.consts = consts
        self.out_tree = out_tree
        self.compiled = {}
        self.const_arrays = {}
        self.donations = {}  # donated flags of the argument leaves -> those an output can take (see usable_donations)

    def usable_donations(self, donated: tuple) -> tuple:
        """Which donated argument leaves an output of the same shape and dtype can take (each output one), as
        XLA's buffer donation; the others are not donated (not deleted), with JAX's warning when compiled."""
        usable = self.donations.get(donated)
        if usable is None:
            free = collections.Counter((a.shape, a.dtype) for a in self.closed.out_avals)
            flags = []
            for a, d in zip(self.closed.in_avals[len(self.consts):], donated):
                flags.append(d and free[(a.shape, a.dtype)] > 0)
                free[(a.shape, a.dtype)] -= flags[-1]
            unused = [f"ShapedArray({a.dtype.name}[{','.join(map(str, a.shape))}])"
                      for a, d, u in zip(self.closed.in_avals[len(self.consts):], donated, flags) if d and not u]
            if unused:
                warnings.warn(f"Some donated buffers were not usable: {', '.join(unused)}.\nSee an explanation at "
                              "https://docs.jax.dev/en/latest/faq.html#buffer-donation.")
            usable = self.donations.setdefault(donated, tuple(flags))
        return usable


def _donate(leaves: list, usable: tuple) -> list:
    """The argument Arrays donated (deleted after the call); the same buffer donated and passed twice is an error."""
    ids = collections.Counter(map(id, leaves))
    for i, x in enumerate(leaves):
        if usable[i] and type(x) is Array and ids[id(x)] > 1:
            raise JaxRuntimeError(f"INVALID_ARGUMENT: Attempt to donate the same buffer twice in Execute() (flattened "
                                  f"argument: {i}, replica: 0). Toy example for this bug: `f(donate(a), a)`.")
    return [x for x, u in zip(leaves, usable) if u and type(x) is Array]


# As JAX's: ``jit(f)(x)`` in a loop traces and compiles ``f`` once. Entries go when the function is collected.
_trace_caches: "weakref.WeakKeyDictionary[Callable, dict]" = weakref.WeakKeyDictionary()
_trace_caches_lock = threading.Lock()


_jit_functions: "weakref.WeakSet[JitFunction]" = weakref.WeakSet()  # for clear_caches


def clear_caches() -> None:
    """Drop every jitted function's traces and programs, control flow's traced functions and the eager programs
    (``jax.clear_caches``)."""
    from .dispatch import clear_caches as clear_programs
    from .interpreters.memo import clear_traced
    with _trace_caches_lock:
        _trace_caches.clear()
        jitted = list(_jit_functions)
    for f in jitted:
        f.clear_cache()
    clear_traced()
    clear_programs()


def _trace_cache(fun: Callable, key: tuple) -> LRUCache:
    """The traces (and their programs) of ``fun`` jitted with the static arguments ``key``; a function that cannot be
    weakly referenced or hashed gets a cache of its own."""
    try:
        with _trace_caches_lock:
            return _trace_caches.setdefault(fun, {}).setdefault(key, LRUCache())
    except TypeError:
        return LRUCache()


def on_trace() -> None:
    """Called at each trace of a function for jit (a tracing cache miss; ``eval_shape`` shares jit's cache): a hook for
    counting them (JAX's test harness counts its ``trace_to_jaxpr`` events through it)."""


def on_jit_general_path() -> None:
    """Called at each jit call that misses the fast path (cached programs keyed by argument signature): a hook for
    counting them (JAX's test harness counts its ``jit_cpp_cache_miss`` events through it)."""


def _hashable_static(v: Any) -> Any:
    return StaticArg(v).val


def _output_builder(tree: PyTreeDef) -> Callable[[list], Any]:
    """How jit's fast path makes a call's result of its output leaves: the leaf, a tuple of them, or the tree."""
    if tree.node_type is None:
        return operator.itemgetter(0)
    if tree.node_type is tuple and all(t.node_type is None for t in tree.subtrees):
        return tuple
    return functools.partial(tree_unflatten, tree)


class JitFunction:
    """A function compiled on first call per abstract signature (shapes, dtypes, weak types, static args)."""

    def __init__(self, fun: Callable, static_argnums=None, static_argnames=None, backend: str | None = None,
                 device: Device | None = None, donate_argnums=None, inline: bool = False, donate_argnames=None):
        check_callable(fun)
        functools.update_wrapper(self, fun)
        self.fun = fun
        self._sig = signature(fun)
        # Donated Arrays are deleted after the call where an output can take their buffer (as XLA's donation).
        self.donate_argnums, self.donate_argnames, self.static_argnums, self.static_argnames = resolve_argnums(
            fun, self._sig, donate_argnums, donate_argnames, static_argnums, static_argnames)
        self.backend = backend
        self.device = device
        # Shared by the jitted versions of ``fun`` with these static arguments (its programs go with ``fun``), bounded
        # by config.compile_cache_size (LRU).
        self._cache = _trace_cache(fun, (self.static_argnums, self.static_argnames))
        _jit_functions.add(self)
        self._fast = LRUCache()
        # The static positions in the fast path's key, or None if one counts from the end (resolved per call).
        self._static_positions = tuple(sorted(set(self.static_argnums))) \
            if all(i >= 0 for i in self.static_argnums) else None
        self._partitioned = None  # the ShardedJit running this function over the mesh of its arguments

    def __get__(self, obj, objtype=None):
        return self if obj is None else functools.partial(self, obj)

    def __repr__(self) -> str:
        """JAX's repr of a jitted function (its C++ type is ``PjitFunction``)."""
        try:
            return f"<PjitFunction of {self.__wrapped__!r}>"
        except Exception:  # the function's repr failed, or it is gone
            return "<PjitFunction>"

    def _device(self, leaves) -> Device:
        if self.device is not None:
            return self.device
        if self.backend is not None:
            return get_backend(self.backend).devices()[0]
        from .dispatch import pick_device
        return pick_device(leaves, _fun_name(self.fun))

    def _split(self, args: tuple, kwargs: dict):
        if self.static_argnums and args:
            n = len(args)
            sn = sorted({i % n if i < 0 else i for i in self.static_argnums})  # negative: from the end, per call
            static = tuple((i, StaticArg(args[i])) for i in sn if i < n)
            dyn_args = tuple(a for i, a in enumerate(args) if i not in sn)
        else:
            static, dyn_args = (), args
        if kwargs:
            skw = tuple(sorted((k, StaticArg(v)) for k, v in kwargs.items() if k in self.static_argnames))
            dkw = {k: v for k, v in kwargs.items() if k not in self.static_argnames}
        else:
            skw, dkw = (), kwargs
        return (static, skw), dyn_args, dkw

    def _call_fun(self, static_key, dyn_args, dyn_kwargs):
        (static, skw) = static_key
        args = list(dyn_args)
        for i, s in static:  # ascending positions: each lands where it was
            args.insert(i, s.val)
        return self.fun(*args, **{k: s.val for k, s in skw}, **dyn_kwargs)

    def _trace(self, static_key, in_tree: PyTreeDef, avals: list) -> _CacheEntry:
        on_trace()
        out_tree_box: list = []

        def flat(*leaves):
            dyn_args, dyn_kwargs = tree_unflatten(in_tree, leaves)
            out = tree_map(_float0_output, self._call_fun(static_key, dyn_args, dyn_kwargs))
            ol, ot = tree_flatten(out)
            _check_outputs(self.fun, out, ol)
            out_tree_box[:] = [ot]
            return [asarray(o) if not core.is_tracer(o) else o for o in ol]

        try:
            with profiler.span(f"trace jit({_fun_name(self.fun)})", "trace"):
                jaxpr, consts = trace_to_jaxpr(flat, avals)
        except ConcretizationTypeError as e:
            raise type(e)(e.tracer, f"{e.context}\nThe error occurred while tracing the function "
                          f"{_fun_name(self.fun)} for jit. Its traced arguments are: "
                          f"{self._arg_names(in_tree, avals)}.") from None
        return _CacheEntry(ClosedJaxpr(convert_constvars(jaxpr), []), consts, out_tree_box[0])

    def _check_arguments(self, dyn_args: tuple, dyn_kwargs: dict) -> None:
        """JAX's TypeError for an argument that is neither an array nor a scalar, naming its path."""
        params = list(self._sig.parameters) if self._sig is not None else []
        dyn_pos = [p for i, p in enumerate(params) if i not in self.static_argnums]
        for path, x in tree_flatten_with_path((dyn_args, dyn_kwargs))[0]:
            try:
                core.get_aval(x)
            except TypeError:
                i = getattr(path[1], "idx", None)
                name = (dyn_pos[i] if i < len(dyn_pos) else f"args[{i}]") if i is not None else path[1].key
                raise TypeError(f"Error interpreting argument to {self.fun} as an abstract array. The problematic value "
                                f"is of type {type(x)} and was passed to the function at path {name}"
                                f"{keystr(path[2:])}.\nThis typically means that a jit-wrapped function was called "
                                "with a non-array argument, and this argument was not marked as static using the "
                                "static_argnums or static_argnames parameters of jax.jit.") from None

    def _leaf_names(self, in_tree) -> list[str]:
        """The parameter name of each positional leaf of ``(dyn_args, dyn_kwargs)`` (``args[i]`` past them)."""
        params = list(self._sig.parameters) if self._sig is not None else []
        dyn_pos = [p for i, p in enumerate(params) if i not in self.static_argnums]
        args_tree = in_tree.children()[0]
        return [dyn_pos[i] if i < len(dyn_pos) else f"args[{i}]"
                for i, sub in enumerate(args_tree.children()) for _ in range(sub.num_leaves)]

    def _arg_names(self, in_tree, avals) -> str:
        try:
            return ", ".join(f"{name}: {a.str_short()}" for name, a in zip(self._leaf_names(in_tree), avals))
        except (ValueError, AttributeError, IndexError):
            return ", ".join(a.str_short() for a in avals)

    def _entry(self, static_key, in_tree, avals) -> _CacheEntry:
        # the options that change what tracing produces, and the named axes in scope (none outside a trace)
        axes = ()
        if core.is_tracing():
            from .parallel.axis_env import axis_env_key
            axes = axis_env_key()
        key = (static_key, in_tree, tuple(avals), (*config.trace_context(), axes, current_mesh()))
        entry = self._cache.get(key)
        if entry is None:
            if config.no_tracing:
                raise RuntimeError(f"re-tracing function {self.fun} for `jit`, but 'no_tracing' is set")
            if config.explain_cache_misses:
                positional = [p for i, p in enumerate(self._sig.parameters if self._sig is not None else ())
                              if i not in self.static_argnums]
                compile_log.explain_cache_miss(self.fun, self._cache.keys(), key,
                                               lambda: compile_log.arg_names(in_tree, positional))
            timed = contextlib.nullcontext() if core.is_tracing() else compile_log.log_elapsed(
                "Finished tracing {fun_name} for jit in {elapsed_time:.9f} sec", _fun_name(self.fun))
            with timed:
                entry = self._trace(static_key, in_tree, avals)
            if not any(core.is_tracer(c) for c in entry.consts):
                entry = self._cache.put(key, entry)  # the first one cached, if threads traced at once
        return entry

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        context, checked = config_hot()
        if checked:
            return self._jit_call_checked(args, kwargs)
        mesh = current_mesh()  # (``_with_mesh``, inlined: every call passes here)
        return self._jit_call(context if mesh.empty else (context, mesh), args, kwargs)

    def _jit_call_checked(self, args: tuple, kwargs: dict) -> Any:
        """A call under ``jax_disable_jit`` (the function runs as Python, op by op), ``jax_no_execution`` or
        ``jax_debug_nans``/
        ``jax_debug_infs``: on an invalid output its jaxpr runs again one primitive at a time on the same device, to
        name the primitive and the line that made it."""
        if config.disable_jit:
            return self.fun(*args, **kwargs)
        if config.no_execution and not core.is_tracing():
            raise RuntimeError(f"JAX tried to execute function jit({_fun_name(self.fun)}), but the no_execution "
                               "config option is set")
        from .dispatch import check_special
        out = self._jit_call(_with_mesh(config.trace_context()), args, kwargs)
        try:
            check_special(f"jit({_fun_name(self.fun)})", tree_flatten(out)[0])
        except FloatingPointError as e:
            print("Invalid nan value encountered in the output of a jax.jit function. Calling the de-optimized "
                  "version.")
            self._rerun_by_primitive(args, kwargs)
            raise FloatingPointError(
                f"{e}. Because jax_config.debug_nans.value and/or config.jax_debug_infs is set, the de-optimized "
                "function (i.e., the function as if the `jit` decorator were removed) was called in an attempt to "
                "get a more precise error message. However, the de-optimized function did not produce invalid "
                "values during its execution. This behavior can result from `jit` optimizations causing the invalid "
                "value to be produced. It may also arise from having nan/inf literals as inputs or outputs, like "
                "`jax.jit(lambda ...: jax.numpy.nan)(...)`. \n\nIt may be possible to avoid the invalid value by "
                "removing the `jit` decorator, at the cost of losing optimizations.") from None
        return out

    def _rerun_by_primitive(self, args: tuple, kwargs: dict) -> None:
        """Evaluate this call's jaxpr equation by equation (``nan_check``); raises at the first invalid value."""
        from .nan_check import rerun
        static_key, dyn_args, dyn_kwargs = self._split(args, kwargs)
        leaves, in_tree = tree_flatten((dyn_args, dyn_kwargs))
        device = self._device(leaves)
        leaves = [x if type(x) is Array else _to_array(x, device, implicit=True) for x in leaves]
        leaves = [x if x._device is device else _move(x, device) for x in leaves]
        entry = self._entry(static_key, in_tree, [x.aval for x in leaves])
        rerun(entry.closed, [*entry.const_arrays[device], *leaves])

    def _jit_call(self, context: tuple, args: tuple, kwargs: dict) -> Any:
        # Fast path: no trace active, a signature seen before (see ``call_key``; the leaves that are not Arrays
        # yet are converted as below).
        if core.is_tracing():
            fast = None
        elif self._static_positions is None:
            static_key, dyn_args, dyn_kwargs = self._split(args, kwargs)
            fast = arrays_key((dyn_args, dyn_kwargs), (context, static_key))
        elif kwargs or self._static_positions:
            fast = static_call_key(args, kwargs, self._static_positions, self.static_argnames, context)
        else:
            fast = arrays_key(args, context)
        if fast is not None:
            try:
                hit = self._fast.peek(fast[0])  # (a cache in front of self._cache: no LRU bookkeeping per call)
            except Exception:  # a static value that cannot be hashed or compared: the general path raises JAX's error
                hit = fast = None
            if hit is not None:
                call, consts, build, device, avals = hit
                leaves = fast[1]
                if fast[2]:
                    leaves = [x if type(x) is Array else _host_to_array(x, a, device, implicit=True)
                              for x, a in zip(leaves, avals)]
                return build(call([*consts, *leaves] if consts else leaves))  # (leaves: this call's own list)
        on_jit_general_path()
        static_key, dyn_args, dyn_kwargs = self._split(args, kwargs)
        leaves, in_tree = tree_flatten((dyn_args, dyn_kwargs))
        if not core.is_tracing() and not any(core.is_tracer(l) for l in leaves):
            over_mesh = any(type(x) is MeshArray for x in leaves)
            if not over_mesh:  # under ``set_mesh``, uncommitted arguments are replicated over its mesh, as in JAX
                leaves, over_mesh = self._on_context_mesh(static_key, in_tree, leaves)
                fast = None if over_mesh else fast
            if over_mesh:  # laid out over a mesh: run partitioned there
                from .parallel.partition import ShardedJit
                self._partitioned = self._partitioned or ShardedJit(self, None, None)
                return self._partitioned._run(args, kwargs, (static_key, leaves, in_tree), fast)
            device = self._device(leaves)
            try:
                leaves = [x if type(x) is Array else _to_array(x, device, implicit=True) for x in leaves]
            except TypeError:
                self._check_arguments(dyn_args, dyn_kwargs)
                raise
            avals = [x.aval for x in leaves]
            entry = self._entry(static_key, in_tree, avals)
            call = entry.compiled.get(device)
            if call is None:
                call = self._compile(entry, device)
            consts = entry.const_arrays[device]
            moved = [x if x._device is device else _move(x, device) for x in leaves]
            donating = self.donate_argnums or self.donate_argnames  # (a donating call deletes: no fast path)
            # Cached for the fast path only when no Array had to move: a hit passes them as they are.
            if fast is not None and not donating and all(x._device is device for x in fast[1] if type(x) is Array) \
                    and not any(core.is_tracer(c) for c in entry.consts):
                self._fast.put(fast[0], (call, consts, _output_builder(entry.out_tree), device, avals))
            donated = _donate(leaves, entry.usable_donations(self._donated(args, static_key, dyn_args, dyn_kwargs))) \
                if donating else ()
            outs = call([*consts, *moved])
            for x in donated:
                x.delete()
            return tree_unflatten(entry.out_tree, outs)
        leaves = [asarray(x) if not core.is_tracer(x) else x for x in leaves]
        avals = [core.get_aval(x) for x in leaves]
        entry = self._entry(static_key, in_tree, avals)
        outs = call_prims.pjit_p.bind(*entry.consts, *leaves, jaxpr=entry.closed, name=_fun_name(self.fun),
                                      backend=self.backend)
        return tree_unflatten(entry.out_tree, outs)

    def _on_context_mesh(self, static_key: Any, in_tree: PyTreeDef, leaves: list) -> tuple[list, bool]:
        """The arguments of a call under ``set_mesh`` (``partition.context_mesh``: none committed) replicated
        over its mesh (typed so over Explicit axes), and True, if the program can run partitioned there; else the
        arguments as they are, and False."""
        from .dispatch import replicated
        from .parallel.partition import context_mesh, inlinable
        mesh = context_mesh(leaves, _fun_name(self.fun))
        if mesh is None:
            return leaves, False
        placed = replicated(leaves, mesh)
        if not inlinable(self._entry(static_key, in_tree, [core.get_aval(x) for x in placed]).closed.jaxpr, mesh):
            return leaves, False
        return placed, True

    def _compile(self, entry: _CacheEntry, device: Device):
        from .dispatch import compile_jaxpr
        call = compile_jaxpr(entry.closed, device, f"jit({_fun_name(self.fun)})")
        # consts before the call: another thread seeing the call reads them
        entry.const_arrays.setdefault(device, [to_device(c, device) if type(c) is Array else
                                               make_array(c, device=device) for c in entry.consts])
        return entry.compiled.setdefault(device, call)

    def lower(self, *args: Any, **kwargs: Any) -> "Lowered":
        """Trace for these arguments; ``.as_text()`` shows the jaxpr, ``.compile()`` the backend's program."""
        static_key, dyn_args, dyn_kwargs = self._split(args, kwargs)
        leaves, in_tree = tree_flatten((dyn_args, dyn_kwargs))
        device = self._device(leaves)
        avals = [core.shaped_abstractify(x) for x in leaves]
        donated = self._donated(args, static_key, dyn_args, dyn_kwargs)
        args_info = tree_unflatten(in_tree, [ArgInfo(a, d) for a, d in zip(avals, donated)])
        return Lowered(self, self._entry(static_key, in_tree, avals), device, args_info)

    def _donated(self, args: tuple, static_key, dyn_args: tuple, dyn_kwargs: dict) -> tuple:
        """Per leaf of ``(dyn_args, dyn_kwargs)``: donated or not."""
        static_positions = {i for i, _ in static_key[0]}
        positions = [i for i in range(len(args)) if i not in static_positions]
        return tuple(donation_vector(self.donate_argnums, self.donate_argnames, positions, dyn_args, dyn_kwargs))

    def eval_shape(self, *args, **kwargs):
        return eval_shape(self, *args, **kwargs)

    def clear_cache(self) -> None:
        self._cache.clear()
        self._fast.clear()
        self._partitioned = None  # and the programs partitioned over meshes

    def _cache_size(self) -> int:
        return len(self._cache)


class _Stage:
    """What ``Lowered`` and ``Compiled`` share (``jax.stages.Stage``): the arguments' avals and donation."""

    args_info: Any  # pytree of ArgInfo, structured as (args, kwargs)

    @property
    def in_tree(self) -> PyTreeDef:
        return tree_structure(self.args_info)

    @property
    def in_avals(self):
        return tree_map(lambda info: info._aval, self.args_info)

    @property
    def donate_argnums(self) -> tuple[int, ...]:
        """Flat indices of the donated argument leaves."""
        return tuple(i for i, info in enumerate(tree_flatten(self.args_info)[0]) if info.donated)

    def cost_analysis(self) -> dict[str, float]:
        """Estimated ``flops``, ``transcendentals`` and ``bytes accessed`` of the computation before fusion (see
        ``cost_analysis``)."""
        from .cost_analysis import cost_analysis
        return cost_analysis(self.entry.closed.jaxpr)


class Lowered(_Stage):
    def __init__(self, fun: JitFunction, entry: _CacheEntry, device: Device, args_info: Any):
        self.fun, self.entry, self.device, self.args_info = fun, entry, device, args_info

    def as_text(self, dialect: str | None = None, *, debug_info: bool = False) -> str:
        """The lowering's text: portax lowers to a jaxpr (no XLA dialect such as "hlo" or "stablehlo")."""
        if dialect not in (None, "jaxpr", "hlo", "stablehlo"):
            raise ValueError(f"unknown dialect: {dialect}")
        if dialect not in (None, "jaxpr"):
            raise NotImplementedError(f"Lowered.as_text(dialect={dialect!r}): portax lowers to jaxprs, not to XLA "
                                      "dialects; use dialect=None")
        return str(self.entry.closed)

    @property
    def jaxpr(self) -> ClosedJaxpr:
        return self.entry.closed

    def compile(self) -> "Compiled":
        call = self.entry.compiled.get(self.device) or self.fun._compile(self.entry, self.device)
        return Compiled(call, self.entry, self.args_info, self.fun)


class Compiled(_Stage):
    """A compiled executable; ``kernels`` lists the backend's generated kernels where it exposes them."""

    def __init__(self, call, entry: _CacheEntry, args_info: Any, fun: JitFunction):
        self.call, self.entry, self.args_info, self.fun = call, entry, args_info, fun

    def _check_avals(self, leaves: list) -> None:
        """JAX's check that the arguments have the shapes and dtypes compiled for."""
        ref = tree_flatten(self.in_avals)[0]
        try:
            names = self.fun._leaf_names(self.in_tree)
        except (ValueError, AttributeError, IndexError):
            names = []
        names += [f"args[{i}]" for i in range(len(names), len(ref))]
        errors = []
        for r, x, name in zip(ref, leaves, names):
            a = core.get_aval(x)
            if (r.shape, r.dtype) != (a.shape, dtypes.canonicalize(a.dtype)):
                long = lambda v: f"{v.dtype.name}[{','.join(map(str, v.shape))}]"  # noqa: E731
                errors.append(f"Argument '{name}' compiled with {long(r)} and called with {long(a)}")
        if errors:
            count = f"The first 5 of {len(errors)}" if len(errors) >= 5 else "The"
            raise TypeError("Argument types differ from the types for which this computation was compiled. Perhaps "
                            "you are calling the compiled executable with a different enable_x64 mode than when it "
                            f"was AOT compiled? {count} mismatches are:\n" + "\n".join(errors[:5]))

    @property
    def executable(self):
        return self.call.executable

    @property
    def kernels(self) -> list:
        return list(getattr(self.call.executable, "kernels", []))

    @property
    def kernel_count(self) -> int:
        return len(self.kernels)

    def runtime_executable(self) -> Any:
        """The backend's executable (its type depends on the backend)."""
        return self.call.executable

    def as_text(self) -> str:
        text = getattr(self.call.executable, "as_text", None)
        return text() if text is not None else str(self.entry.closed)

    def __call__(self, *args, **kwargs):
        leaves, in_tree = tree_flatten((args, kwargs))
        if in_tree != self.in_tree:
            raise TypeError(f"Function compiled with input pytree does not match the input pytree it was called "
                            f"with: compiled for {self.in_tree}, called with {in_tree}")
        tracer = next((x for x in leaves if core.is_tracer(x)), None)
        if tracer is not None:
            raise TypeError("Cannot apply JAX transformations to a function lowered and compiled for a particular "
                            f"signature. Detected argument of Tracer type {type(tracer)}.")
        self._check_avals(leaves)
        d = self.call.device
        leaves = [x if type(x) is Array else _to_array(x, d, implicit=True) for x in leaves]
        consts = self.entry.const_arrays[d]
        donated = _donate(leaves, self.entry.usable_donations(tuple(i.donated for i in tree_flatten(self.args_info)[0])))
        outs = self.call([*consts, *leaves])
        for x in donated:
            x.delete()
        return tree_unflatten(self.entry.out_tree, outs)


def _to_array(x: Any, device: Device, implicit: bool = False) -> Array:
    if isinstance(x, MultiDeviceArray):  # gathered on its first device, then moved
        whole = x._gathered()
        return whole if whole._device is device else _move(whole, device)
    aval = core.get_aval(x)
    if isinstance(x, ShapeDtypeStruct):
        raise TypeError("ShapeDtypeStruct values cannot be passed to a compiled function; use lower() or eval_shape")
    return _host_to_array(x, aval, device, implicit)


def _host_to_array(x: Any, aval: ShapedArray, device: Device, implicit: bool = False) -> Array:
    """A NumPy array or Python scalar whose aval is ``aval`` on ``device`` (``implicit``: under the transfer guard)."""
    if implicit and isinstance(x, (np.ndarray, np.generic)):
        guard_transfer("host_to_device", lambda: f"aval={aval.str_short()}, dst_device={device}", explicit=False)
    return Array(put_host(np.asarray(x, dtype=aval.dtype), device), aval, device)


def _move(x: Array, device: Device) -> Array:
    """An implicit device-to-device transfer (of a jitted function's argument), under the transfer guard."""
    guard_transfer("device_to_device", f"aval={x.aval.str_short()}, dst_device={device}", explicit=False)
    return to_device(x, device)


def _fun_src(f: Callable) -> str:
    """``name at file:line`` of a function (its name only when it has no code)."""
    code = getattr(f, "__code__", None)
    return f"{_fun_name(f)} at {code.co_filename}:{code.co_firstlineno}" if code is not None else _fun_name(f)


class _Float0Zeros:
    """A float0 output of a jitted function (tangents of integer values: no data), kept in the output structure
    rather than computed: each call returns ``np.zeros(shape, float0)`` for it, as JAX does."""

    def __init__(self, shape: tuple) -> None:
        self.shape = shape


register_pytree_node(_Float0Zeros, lambda z: ((), z.shape), lambda shape, _: np.zeros(shape, dtypes.float0))


def _float0_output(x: Any) -> Any:
    return _Float0Zeros(x.shape) if isinstance(x, np.ndarray) and x.dtype == dtypes.float0 else x


def _check_outputs(fun: Callable, out: Any, leaves: list) -> None:
    """JAX's TypeError for a traced function returning a leaf that is not an array (nor a scalar)."""
    for i, x in enumerate(leaves):
        if core.is_tracer(x):
            continue
        try:
            core.get_aval(x)
        except TypeError:
            path = keystr(tree_flatten_with_path(out)[0][i][0])
            raise TypeError(f"function {_fun_src(fun)} traced for jit returned a value of type {type(x)} at output "
                            f"component {path}, which is not a valid JAX type") from None


def _with_mesh(context: tuple) -> tuple:
    """A jit cache key's context with the ``set_mesh`` mesh (a program traced under it is its mesh's, as JAX's
    cache keys it)."""
    mesh = current_mesh()
    return context if mesh.empty else (context, mesh)


def _fun_name(f: Callable) -> str:
    return getattr(f, "__name__", None) or getattr(getattr(f, "func", None), "__name__", None) or type(f).__name__


def jit(fun: Callable | None = None, *, static_argnums=None, static_argnames=None, backend: str | None = None,
        device: Device | None = None, donate_argnums=None, donate_argnames=None, inline: bool = False,
        in_shardings=None, out_shardings=None, keep_unused: bool = False, abstracted_axes=None) -> Any:
    """Compile ``fun`` with the backend; retraced per new abstract signature, cached per device."""
    if fun is None:
        return lambda f: jit(f, static_argnums=static_argnums, static_argnames=static_argnames, backend=backend,
                             device=device, donate_argnums=donate_argnums, donate_argnames=donate_argnames,
                             inline=inline, in_shardings=in_shardings, out_shardings=out_shardings)
    jitted = JitFunction(fun, static_argnums, static_argnames, backend, device, donate_argnums, inline,
                         donate_argnames)
    if in_shardings is None and out_shardings is None:
        return jitted
    from .parallel.partition import ShardedJit
    return ShardedJit(jitted, in_shardings, out_shardings)


# ========================================= autodiff ======================================================
def _flatten_fun(f: Callable, in_tree: PyTreeDef, out_tree_box: list, has_aux: bool = False, aux_box: list | None = None):
    def flat(*leaves):
        args = tree_unflatten(in_tree, leaves)
        out = f(*args)
        if has_aux:
            if not (isinstance(out, (tuple, list)) and len(out) == 2):
                raise TypeError("expected function with aux output to return a two-element tuple, but got type "
                                f"{type(out)} with value {out!r}")
            out, aux = out
            aux_box[:] = [tree_map(lambda x: x, aux)]
        ol, ot = tree_flatten(out)
        out_tree_box[:] = [ot]
        return [asarray(o) if not core.is_tracer(o) else o for o in ol]
    return flat


def _lower_aux(aux: Any) -> Any:
    """Auxiliary outputs leave a transformation as primal values: tracers of finished traces are unwrapped."""
    def lower(x):
        while core.is_tracer(x) and not x._trace.main.active:
            x = x.primal_value()
        return x
    return tree_map(lower, aux)


def jvp(fun: Callable, primals: Sequence, tangents: Sequence, has_aux: bool = False) -> tuple:
    """Forward-mode: ``(fun(*primals), J @ tangents)``."""
    if not isinstance(primals, (tuple, list)) or not isinstance(tangents, (tuple, list)):
        raise TypeError(f"primal and tangent arguments to jax.jvp must be tuples or lists; found "
                        f"{type(primals).__name__} and {type(tangents).__name__}.")
    p_leaves, p_tree = tree_flatten(primals)
    t_leaves, t_tree = tree_flatten(tangents)
    if p_tree != t_tree:
        raise TypeError(f"primal and tangent arguments to jax.jvp must have the same tree structure; primals have "
                        f"tree structure {p_tree} whereas tangents have tree structure {t_tree}.")
    with following(p_leaves + t_leaves):  # (host values are placed with the committed arrays)
        return _jvp(fun, p_leaves, p_tree, t_leaves, has_aux)


def _jvp(fun: Callable, p_leaves: list, p_tree: PyTreeDef, t_leaves: list, has_aux: bool) -> tuple:
    """``jvp`` of flattened primals and tangents (checked as JAX checks them)."""
    p_leaves = [asarray(p) for p in p_leaves]
    ts = []
    for p, t in zip(p_leaves, t_leaves):
        pa, ta = core.get_aval(p), core.get_aval(t) if not isinstance(t, np.ndarray) or t.dtype != dtypes.float0 else None
        if ta is None or dtypes.kind(pa.dtype) not in "fc":
            ts.append(Zero(pa.at_least_vspace()))
            continue
        if pa.shape != ta.shape:
            raise ValueError(f"jvp called with different primal and tangent shapes;Got primal shape {pa.shape} and "
                             f"tangent shape as {ta.shape}")
        if ta.dtype != pa.dtype:
            raise TypeError(f"primal and tangent arguments to jax.jvp do not match; dtypes must be equal, or in case "
                            f"of int/bool primal dtype the tangent dtype must be float0.Got primal dtype {pa.dtype.name} "
                            f"and so expected tangent dtype {pa.dtype.name}, but got tangent dtype {ta.dtype.name} instead.")
        ts.append(asarray(t))
    out_tree_box: list = []
    aux_box: list = []
    flat = _flatten_fun(fun, p_tree, out_tree_box, has_aux, aux_box)
    outs, t_outs = jvp_flat(flat, p_leaves, ts, instantiate_zeros=False)
    t_outs = [_zero_out(t) if type(t) is Zero else t for t in t_outs]
    res = (tree_unflatten(out_tree_box[0], outs), tree_unflatten(out_tree_box[0], t_outs))
    return res + (_lower_aux(aux_box[0]),) if has_aux else res


def _zero_out(z: Zero) -> Any:
    if z.aval.dtype == dtypes.float0:
        return np.zeros(z.aval.shape, dtypes.float0)
    return instantiate(z)


def linearize(fun: Callable, *primals: Any, has_aux: bool = False) -> tuple:
    """``(fun(*primals), f_jvp)`` with ``f_jvp(*tangents)`` evaluating the linearized function. As JAX's, ``f_jvp``
    is a ``tree_util.Partial`` (its constants are its leaves: it can be passed to and returned from ``jit``) of a
    ``functools.partial`` whose first argument is the linear jaxpr."""
    p_leaves, p_tree = tree_flatten(primals)
    with following(p_leaves):  # (host values are placed with the committed arrays)
        p_leaves = [asarray(p) for p in p_leaves]
        out_tree_box: list = []
        aux_box: list = []
        p_avals = [core.get_aval(p) for p in p_leaves]
        mask = [dtypes.kind(a.dtype) in "fc" for a in p_avals]
        flat = _flatten_fun(fun, p_tree, out_tree_box, has_aux, aux_box)
        outs, jaxpr, consts, out_mask = linearize_flat(flat, p_leaves, mask)
    out_tree = out_tree_box[0]
    out_avals = [core.get_aval(o) for o in outs]
    f_jvp = Partial(functools.partial(_lift_linearized, jaxpr, p_tree, p_avals, mask, out_tree, out_avals, out_mask),
                    consts)
    out = tree_unflatten(out_tree, outs)
    return (out, f_jvp, _lower_aux(aux_box[0])) if has_aux else (out, f_jvp)


def _value_aval(x: Any) -> ShapedArray:
    """The aval of a value, float0 arrays included."""
    if isinstance(x, np.ndarray) and x.dtype == dtypes.float0:
        return ShapedArray(x.shape, dtypes.float0)
    return core.get_aval(x)


def _lift_linearized(jaxpr, p_tree, p_avals, mask, out_tree, out_avals, out_mask, consts, *tangents):
    """The linearized function of ``linearize`` applied to ``tangents`` (JAX's checks and messages)."""
    t_leaves, t_tree = tree_flatten(tangents)
    if t_tree != p_tree:
        raise TypeError(f"expected {p_tree}, got {t_tree}")
    for t, pa in zip(t_leaves, p_avals):
        ta, expected = _value_aval(t), pa.at_least_vspace()
        if (ta.shape, ta.dtype) != (expected.shape, expected.dtype):
            raise ValueError("linearized function called on tangent values inconsistent with the original primal "
                             f"values:\nGot tangent aval {ta} for primal aval {pa} but expected {expected}.")
    with following(list(consts) + t_leaves):
        res = iter(eval_jaxpr(jaxpr, consts, *[asarray(t) for t, m in zip(t_leaves, mask) if m]))
        return tree_unflatten(out_tree, [next(res) if m else _zero_out(Zero(a.at_least_vspace()))
                                         for m, a in zip(out_mask, out_avals)])


_VJP_TOO_MANY_ARGS = """
The function returned by `jax.vjp` applied to {} was called with {} arguments,
but functions returned by `jax.vjp` must be called with a single argument
corresponding to the single value returned by the function being differentiated
(even if that returned value is a tuple or other container).

For example, if we have:

  def f(x):
    return (x, x)
  _, f_vjp = jax.vjp(f, 1.0)

the function `f` returns a single tuple as output, and so we call `f_vjp` with a
single tuple as its argument:

  x_bar, = f_vjp((2.0, 2.0))

If we instead call `f_vjp(2.0, 2.0)`, with the values 'splatted out' as
arguments rather than in a tuple, this error can arise.
"""


class VJP:
    """The pullback ``vjp`` returns: a pytree whose leaves are its residuals (so it can be passed to and returned
    from ``jit``), called with one cotangent."""

    def __init__(self, fun: functools.partial, residuals: list, name: str):
        self.fun, self.residuals, self.name = fun, residuals, name

    def __call__(self, ct: Any, *extra: Any) -> Any:
        if extra:
            raise TypeError(_VJP_TOO_MANY_ARGS.format(self.name, len(extra) + 1))
        return self.fun(self.residuals, ct)


register_pytree_node(VJP, lambda v: ((v.residuals,), (v.fun, v.name)), lambda meta, xs: VJP(meta[0], xs[0], meta[1]))


def vjp(fun: Callable, *primals: Any, has_aux: bool = False) -> tuple:
    """Reverse-mode: ``(fun(*primals), vjp_fn)`` with ``vjp_fn(cotangent) -> cotangents of primals``."""
    p_leaves, p_tree = tree_flatten(primals)
    with following(p_leaves):  # (host values are placed with the committed arrays)
        p_leaves = [asarray(p) for p in p_leaves]
        p_avals = [core.get_aval(p) for p in p_leaves]
        mask = [dtypes.kind(a.dtype) in "fc" for a in p_avals]
        out_tree_box: list = []
        aux_box: list = []
        flat = _flatten_fun(fun, p_tree, out_tree_box, has_aux, aux_box)
        outs, jaxpr, consts, out_mask = linearize_flat(flat, p_leaves, mask)
    out_tree = out_tree_box[0]
    out_avals = [core.get_aval(o) for o in outs]
    vjp_fn = VJP(functools.partial(_vjp_bwd, jaxpr, p_tree, p_avals, mask, out_tree, out_avals, out_mask, _fun_name(fun)),
                 consts, _fun_name(fun))
    out = tree_unflatten(out_tree, outs)
    return (out, vjp_fn, _lower_aux(aux_box[0])) if has_aux else (out, vjp_fn)


def _vjp_bwd(jaxpr, p_tree, p_avals, mask, out_tree, out_avals, out_mask, name, consts, ct):
    """The pullback of ``vjp`` applied to the cotangent ``ct`` (JAX's checks and messages)."""
    ct_leaves, ct_tree = tree_flatten(ct)
    if ct_tree != out_tree:
        raise ValueError(f"unexpected tree structure.\n\nThe argument to a VJP function returned by `jax.vjp` must "
                         f"match the pytree structure of the differentiated function {name}.\n\nBut the tree "
                         f"structures differ: the output has structure {out_tree}, the argument {ct_tree}.")
    for c, a in zip(ct_leaves, out_avals):
        if dtypes.kind(a.dtype) not in "fc":
            continue
        ca = _value_aval(c)
        if ca.shape != a.shape or (ca.dtype != a.dtype and not ca.weak_type):
            raise ValueError("unexpected JAX type (e.g. shape/dtype) for argument to VJP function: got "
                             f"{ca.str_short()}, but expected {a.str_short()} because the corresponding output of the "
                             f"differentiated function had JAX type {a.str_short()}")
    with following(list(consts) + ct_leaves):
        cts = [asarray(c) for c, m in zip(ct_leaves, out_mask) if m]
        undefined = [UndefinedPrimal(a.at_least_vspace()) for a, m in zip(p_avals, mask) if m]
        cts_in = iter(backward_pass(jaxpr, consts, undefined, cts))
        res = [_zero_out(c) if type(c) is Zero else c for c in
               (next(cts_in) if m else Zero(a.at_least_vspace()) for a, m in zip(p_avals, mask))]
        return tree_unflatten(p_tree, res)


def _partial_in(fun: Callable, args: tuple, kwargs: dict, nums: tuple) -> Callable:
    """``fun`` as a function of only the arguments at positions ``nums`` (the others fixed)."""
    def f_part(*d):
        full = list(args)
        for i, v in zip(nums, d):
            full[i] = v
        return fun(*full, **kwargs)
    return f_part


def _check_output_dtype_revderiv(name: str, holomorphic: bool, aval: ShapedArray) -> None:
    """JAX's output check of reverse-mode derivatives: real outputs (complex ones when holomorphic)."""
    kind = dtypes.kind(aval.dtype)
    if holomorphic:
        if kind != "c":
            raise TypeError(f"{name} with holomorphic=True requires outputs with complex dtype, but got "
                            f"{aval.dtype.name}.")
    elif kind == "c":
        raise TypeError(f"{name} requires real-valued outputs (output dtype that is a sub-dtype of np.floating), but "
                        f"got {aval.dtype.name}. For holomorphic differentiation, pass holomorphic=True. For "
                        "differentiation of non-holomorphic functions involving complex outputs, use jax.vjp directly.")
    elif kind != "f":
        raise TypeError(f"{name} requires real-valued outputs (output dtype that is a sub-dtype of np.floating), but "
                        f"got {aval.dtype.name}. For differentiation of functions with integer outputs, use jax.vjp "
                        "directly.")


def _check_input_dtype_revderiv(name: str, holomorphic: bool, allow_int: bool, x: Any) -> None:
    """JAX's input check of reverse-mode derivatives: inexact inputs (complex ones when holomorphic)."""
    try:
        a = core.get_aval(x)
    except TypeError:
        raise TypeError(f"Argument '{x}' of type {type(x)} is not a valid JAX type") from None
    if holomorphic and dtypes.kind(a.dtype) != "c":
        raise TypeError(f"{name} with holomorphic=True requires inputs with complex dtype, but got {a.dtype.name}.")
    if dtypes.kind(a.dtype) not in "fc" and not allow_int:
        raise TypeError(f"{name} requires real- or complex-valued inputs (input dtype that is a sub-dtype of "
                        f"np.inexact), but got {a.dtype.name}. If you want to use Boolean- or integer-valued "
                        "inputs, use vjp or set allow_int to True.")


def value_and_grad(fun: Callable, argnums: int | Sequence[int] = 0, has_aux: bool = False, holomorphic: bool = False,
                   allow_int: bool = False, reduce_axes: Sequence = ()) -> Callable:
    """``(fun(*args), grad of fun with respect to args[argnums])`` for scalar-output ``fun``."""
    multiple = not isinstance(argnums, int)
    nums = _argnums_tuple(argnums)

    @functools.wraps(fun)
    def vg(*args, **kwargs):
        if any(i >= len(args) for i in nums):
            raise TypeError(f"differentiating with respect to argnums={argnums} requires at least {max(nums) + 1} "
                            f"positional arguments to be passed by the caller, but got only {len(args)} positional "
                            "arguments.")
        dyn = [args[i] for i in nums]
        for leaf in tree_flatten(dyn)[0]:
            _check_input_dtype_revderiv("grad", holomorphic, allow_int, leaf)

        f_part = _partial_in(fun, args, kwargs, nums)

        if has_aux:
            out, vjp_fn, aux = vjp(f_part, *dyn, has_aux=True)
        else:
            out, vjp_fn = vjp(f_part, *dyn)
        leaves = tree_flatten(out)[0]
        if len(leaves) != 1 or core.get_aval(leaves[0]).shape != ():
            shape = core.get_aval(leaves[0]).shape if len(leaves) == 1 else f"a pytree of {len(leaves)} leaves"
            raise TypeError(f"Gradient only defined for scalar-output functions. Output had shape: {shape}.")
        oa = core.get_aval(leaves[0])
        _check_output_dtype_revderiv("grad", holomorphic, oa)
        from .primitives.structural import full
        with following(leaves):  # (the seed is placed with the output, as JAX's ``full_like``)
            seed = full((), 1, oa.dtype, weak_type=oa.weak_type)
        g = vjp_fn(tree_unflatten(tree_structure(out), [seed]))
        g = g if multiple else g[0]
        return ((out, aux), g) if has_aux else (out, g)

    return vg


def grad(fun: Callable, argnums: int | Sequence[int] = 0, has_aux: bool = False, holomorphic: bool = False,
         allow_int: bool = False, reduce_axes: Sequence = ()) -> Callable:
    """The gradient of scalar-output ``fun`` with respect to ``args[argnums]``."""
    return _make_grad(value_and_grad(fun, argnums, has_aux, holomorphic, allow_int), has_aux, fun)


def _make_grad(vg, has_aux, fun):
    @functools.wraps(fun)
    def g(*args, **kwargs):
        out = vg(*args, **kwargs)
        if has_aux:
            (_, aux), gr = out
            return gr, aux
        return out[1]
    return g


def _std_basis(leaves: list) -> Any:
    """Identity matrix over the concatenated flattened leaves, split back per leaf: (N, *leaf.shape)."""
    from .primitives import elementwise as ew, structural as st
    sizes = [core.get_aval(x).size for x in leaves]
    n = sum(sizes)
    dt = dtypes.result_type(*leaves) if leaves else dtypes.default_float()
    eye = ew.convert_element_type(ew.eq(st.broadcasted_iota(dtypes.int32, (n, n), 0),
                                        st.broadcasted_iota(dtypes.int32, (n, n), 1)), dt)
    outs, start = [], 0
    for x, s in zip(leaves, sizes):
        a = core.get_aval(x)
        piece = st.slice(eye, (0, start), (n, start + s))
        outs.append(st.reshape(ew.convert_element_type(piece, a.dtype, weak_type=a.weak_type), (n,) + a.shape))
        start += s
    return outs


def jacfwd(fun: Callable, argnums: int | Sequence[int] = 0, has_aux: bool = False, holomorphic: bool = False) -> Callable:
    """Jacobian by forward mode: vmap of jvp over the input basis; shape ``out.shape + in.shape``."""
    multiple = not isinstance(argnums, int)
    nums = _argnums_tuple(argnums)

    @functools.wraps(fun)
    def jacfun(*args, **kwargs):
        dyn = tuple(args[i] for i in nums)
        leaves, tree = tree_flatten(dyn)
        leaves = [asarray(x) for x in leaves]
        for x in leaves:
            kind, name = dtypes.kind(core.get_aval(x).dtype), core.get_aval(x).dtype.name
            if holomorphic and kind != "c":
                raise TypeError(f"jacfwd with holomorphic=True requires inputs with complex dtype, but got {name}.")
            if not holomorphic and kind != "f":
                raise TypeError(f"jacfwd requires real-valued inputs (input dtype that is a sub-dtype of np.floating), "
                                f"but got {name}. For holomorphic differentiation, pass holomorphic=True. For "
                                "differentiation of non-holomorphic functions involving complex inputs or integer "
                                "inputs, use jax.jvp directly.")

        f_part = _partial_in(fun, args, kwargs, nums)

        with following(leaves):
            basis = _std_basis(leaves)
        primals = tree_unflatten(tree, leaves)

        def push(*t_leaves):
            r = jvp(f_part, primals, tree_unflatten(tree, t_leaves), has_aux=has_aux)
            return (r[1], r[2]) if has_aux else r[1]

        out = vmap(push, in_axes=0, out_axes=(-1, None) if has_aux else -1)(*basis)
        jac, aux = out if has_aux else (out, None)
        jac = tree_map(lambda j: _split_last(j, leaves, multiple, tree), jac)
        return (jac, aux) if has_aux else jac

    return jacfun


def _split_last(j, in_leaves: list, multiple: bool, in_tree: PyTreeDef):
    from .primitives import structural as st
    a = core.get_aval(j)
    out_shape = a.shape[:-1]
    pieces, start = [], 0
    for x in in_leaves:
        xa = core.get_aval(x)
        piece = st.slice_in_dim(j, start, start + xa.size, 1, a.ndim - 1)
        pieces.append(st.reshape(piece, out_shape + xa.shape))
        start += xa.size
    res = tree_unflatten(in_tree, pieces)
    return res if multiple else res[0]


def jacrev(fun: Callable, argnums: int | Sequence[int] = 0, has_aux: bool = False, holomorphic: bool = False,
           allow_int: bool = False) -> Callable:
    """Jacobian by reverse mode: vmap of vjp over the output basis; shape ``out.shape + in.shape``."""
    multiple = not isinstance(argnums, int)
    nums = _argnums_tuple(argnums)

    @functools.wraps(fun)
    def jacfun(*args, **kwargs):
        dyn = tuple(args[i] for i in nums)
        for leaf in tree_flatten(dyn)[0]:
            _check_input_dtype_revderiv("jacrev", holomorphic, allow_int, leaf)

        f_part = _partial_in(fun, args, kwargs, nums)

        if has_aux:
            y, pullback, aux = vjp(f_part, *dyn, has_aux=True)
        else:
            y, pullback = vjp(f_part, *dyn)
        y_leaves, y_tree = tree_flatten(y)
        for leaf in y_leaves:
            _check_output_dtype_revderiv("jacrev", holomorphic, core.get_aval(leaf))
        with following(y_leaves):
            basis = _std_basis(y_leaves)
        in_leaves = [asarray(x) for x in tree_flatten(dyn)[0]]

        def pull(*ct_leaves):
            return tree_flatten(pullback(tree_unflatten(y_tree, ct_leaves)))[0]

        cols = vmap(pull)(*basis)  # each: (N_out_total, *in_shape)
        from .primitives import structural as st
        per_out, start = [], 0
        for yl in y_leaves:
            ya = core.get_aval(yl)
            pieces = [st.reshape(st.slice_in_dim(c, start, start + ya.size, 1, 0), ya.shape + core.get_aval(x).shape)
                      for c, x in zip(cols, in_leaves)]
            start += ya.size
            tree = tree_structure(dyn)
            r = tree_unflatten(tree, pieces)
            per_out.append(r if multiple else r[0])
        jac = tree_unflatten(y_tree, per_out)
        return (jac, aux) if has_aux else jac

    return jacfun


def hessian(fun: Callable, argnums: int | Sequence[int] = 0, has_aux: bool = False, holomorphic: bool = False) -> Callable:
    """``jacfwd(jacrev(fun))``."""
    return jacfwd(jacrev(fun, argnums, has_aux=has_aux, holomorphic=holomorphic), argnums, has_aux=has_aux,
                  holomorphic=holomorphic)


# =========================================== vmap ============================================================
def _flatten_axes(what: str, tree: PyTreeDef, axes: Any, kind: type | tuple = int) -> list:
    """Broadcast a prefix tree of axis specs (``kind``, ints by default, or None) to the leaves of ``tree``."""
    proxy = tree_unflatten(tree, [0] * tree.num_leaves)
    out: list = []
    kinds = kind if isinstance(kind, tuple) else (kind,)

    def add(ax, sub):
        if ax is not None and not isinstance(ax, kinds):
            raise ValueError(f"{what} entries must be {' or '.join(k.__name__ + 's' for k in kinds)} or None, "
                             f"got {ax!r}")
        out.extend([ax] * tree_structure(sub).num_leaves)

    try:
        tree_map(add, axes, proxy, is_leaf=lambda a: a is None)
    except ValueError as e:
        from .tree_extras import prefix_errors
        errors = prefix_errors(axes, proxy, is_leaf=lambda a: a is None)
        if errors:  # JAX's message, with the mismatching subtrees
            details = "\n  ".join(err(what).args[0] for err in errors)
            raise ValueError(f"{what} specification must be a tree prefix of the corresponding value; \n  Mismatch "
                             f"details ({len(errors)} found):\n  {details}") from None
        raise ValueError(f"{what} specification must be a tree prefix of the corresponding value, got "
                         f"specification {axes} for value tree {tree}. ({e})") from None
    return out


def _check_axes_spec(what: str, axes: Any, spec_types: Any = ()) -> None:
    """JAX's TypeError for axes (``what``: "vmap in_axes", ...) that are not ints or None (bools, arrays, ...);
    ``spec_types``: further leaf types allowed (vmap's registered vmappable specs)."""
    if not all(type(a) is int or type(a) in spec_types for a in tree_flatten(axes)[0]):
        raise TypeError(f"{what} must be an int, None, or (nested) container with those types as leaves, but got "
                        f"{axes}.")


def vmap(fun: Callable, in_axes: Any = 0, out_axes: Any = 0, axis_name: Any = None, axis_size: int | None = None,
         spmd_axis_name: Any = None) -> Callable:
    """Vectorise ``fun`` over the axes ``in_axes`` of its arguments; outputs stack along ``out_axes``."""
    if isinstance(in_axes, list):
        in_axes = tuple(in_axes)
    if not (in_axes is None or type(in_axes) in (int, tuple, *batching.spec_types)):
        raise TypeError("vmap in_axes must be an int, None, or a tuple of entries corresponding to the positional "
                        f"arguments passed to the function, but got {in_axes}.")
    _check_axes_spec("vmap in_axes", in_axes, batching.spec_types)
    _check_axes_spec("vmap out_axes", out_axes, batching.spec_types)
    axis_kinds = (int, *batching.spec_types)
    if spmd_axis_name is not None and not isinstance(spmd_axis_name, tuple):
        spmd_axis_name = (spmd_axis_name,)

    @functools.wraps(fun)
    def vmapped(*args, **kwargs):
        leaves, in_tree = tree_flatten((args, kwargs), is_leaf=batching.is_vmappable)
        ia = in_axes
        if isinstance(ia, tuple) and len(ia) != len(args):
            raise ValueError(f"vmap in_axes must be an int, None, or a tuple of entries corresponding to the "
                             f"positional arguments passed to the function, but got len(in_axes)={len(ia)}, "
                             f"len(args)={len(args)}")
        arg_axes = ia if isinstance(ia, tuple) or ia is None or isinstance(ia, int) else (ia,)
        # Keyword arguments are always mapped over their leading axis, as in JAX.
        axes = _flatten_axes("vmap in_axes", in_tree, (arg_axes, 0), axis_kinds)
        # Unmapped values (and registered vmappables) reach the function as they are (a Python scalar stays one,
        # e.g. for jit's static args).
        with following(leaves):  # (host values are placed with the committed arrays)
            leaves = [x if a is None or batching.is_vmappable(x) else asarray(x) for x, a in zip(leaves, axes)]
        sizes = set()
        norm = []
        for x, a in zip(leaves, axes):
            if a is None or batching.is_vmappable(x) or type(a) is not int:  # vmappables: size not checked (as JAX)
                norm.append(a)
                continue
            nd = core.get_aval(x).ndim
            if not -nd <= a < nd:
                raise ValueError(f"vmap was requested to map its argument along axis {a}, which implies that its "
                                 f"rank should be at least {a + 1 if a >= 0 else -a}, but is only {nd} (its shape is "
                                 f"{core.get_aval(x).shape})")
            a = a % nd
            norm.append(a)
            sizes.add(core.get_aval(x).shape[a])
        if not leaves and axis_size is None:
            raise ValueError("vmap wrapped function must be passed at least one argument containing an array or "
                             f"axis_size must be specified, got empty *args={args} and **kwargs={kwargs}")
        if axis_size is not None:
            sizes.add(axis_size)
        if len(sizes) > 1:
            raise _inconsistent_sizes_error(fun, args, kwargs, axes, axis_size)
        if not sizes:
            raise ValueError("vmap must have at least one non-None value in in_axes or axis_size must be specified")
        size = sizes.pop()
        out_tree_box: list = []

        def flat(*xs):
            a, kw = tree_unflatten(in_tree, xs)
            out = fun(*a, **kw)
            ol, ot = tree_flatten(out, is_leaf=batching.is_vmappable)
            out_tree_box[:] = [ot]
            return ol

        try:
            out_axes_of = lambda n: _flatten_axes("vmap out_axes", out_tree_box[0], out_axes, axis_kinds)
            with following(leaves):
                outs = batching.vmap_flat(flat, size, axis_name, norm, leaves, out_axes_of,
                                          spmd_axis_name=spmd_axis_name)
        except batching.SpecMatchError as e:
            out_tree = out_tree_box[0]
            path = tree_flatten_with_path(tree_unflatten(out_tree, [0] * out_tree.num_leaves))[0][e.leaf_idx][0]
            raise ValueError(f"at vmap out_axes{keystr(path)}, got axis spec None but output was batched on axis "
                             f"{e.src}") from None
        return tree_unflatten(out_tree_box[0], outs)

    name = getattr(fun, "__name__", fun)
    vmapped.__doc__ = (f"Vectorized version of {name}. Takes similar arguments as {name} but with additional array "
                       f"axes over which {name} is mapped.")
    if getattr(fun, "__doc__", None):
        vmapped.__doc__ += "\n\nOriginal documentation:\n\n" + fun.__doc__
    return vmapped


def _inconsistent_sizes_error(fun: Callable, args: tuple, kwargs: dict, axes: list, axis_size: int | None
                              ) -> ValueError:
    """JAX's error for mapped axes of different sizes: the most common size first, each size with an example."""
    try:
        params: list | None = list(inspect.signature(fun).bind(*args, **kwargs).signature.parameters)
    except (TypeError, ValueError):
        params = None

    def name(path) -> str:
        i = path[0].idx
        if params is None or i >= len(params):
            return f"args{keystr(path)}"
        return f"argument {params[i]}{keystr(path[1:])}"

    def typ(x) -> str:
        try:
            a = core.get_aval(x)
        except TypeError:  # not an array (an unmapped Python object)
            return "unknown"
        return f"{a.dtype.name}[{','.join(map(str, a.shape))}]"

    described = [f"{name(p)} of type {typ(x)}" for p, x in tree_flatten_with_path(args)[0]]
    described += [f"kwargs{keystr(p)} of type {typ(x)}" for p, x in tree_flatten_with_path(kwargs)[0]]
    leaves = tree_flatten((args, kwargs))[0]
    sizes = [None if a is None else core.get_aval(x).shape[a] for x, a in zip(leaves, axes)]
    msg = ["vmap got inconsistent sizes for array axes to be mapped:\n"]
    if axis_size is not None:
        msg.append(f"  * the `axis_size` argument was {axis_size};\n")
    for k, (sz, ct) in enumerate(collections.Counter(s for s in sizes if s is not None).most_common()):
        i = sizes.index(sz)
        if ct == 1:
            msg.append(f"  * one axis had size {sz}: axis {axes[i]} of {described[i]};\n")
        else:
            msg.append(f"  * {'some' if k else 'most'} axes ({ct} of them) had size {sz}, e.g. axis {axes[i]} of "
                       f"{described[i]};\n")
    return ValueError("".join(msg)[:-2])


# ====================================== staging helpers ======================================================
def _flatten_static(fun: Callable, args: tuple, kwargs: dict, static: tuple):
    """Leaves of the non-static arguments, and ``fun`` as a flat function of them (static ones fixed);
    the returned box receives the output tree when the flat function runs."""
    dyn = tuple(a for i, a in enumerate(args) if i not in static)
    leaves, in_tree = tree_flatten((dyn, kwargs))
    out_tree_box: list = []

    def flat(*xs):
        d, kw = tree_unflatten(in_tree, xs)
        it = iter(d)
        full = [args[i] if i in static else next(it) for i in range(len(args))]
        out = fun(*full, **kw)
        ol, ot = tree_flatten(out)
        _check_outputs(fun, out, ol)
        out_tree_box[:] = [ot]
        return ol

    return leaves, flat, out_tree_box


def _shapes(out_tree: PyTreeDef, jaxpr) -> Any:
    return tree_unflatten(out_tree, [ShapeDtypeStruct(a.shape, a.dtype, a.weak_type) for a in jaxpr.out_avals])


def make_jaxpr(fun: Callable, static_argnums: int | Sequence[int] = (), axis_env=None, return_shape: bool = False,
               abstracted_axes=None) -> Callable:
    """``make_jaxpr(f)(*args)`` returns the ClosedJaxpr that ``f`` stages for those arguments."""
    sn = _argnums_tuple(static_argnums)

    def mk(*args, **kwargs):
        leaves, flat, out_tree_box = _flatten_static(fun, args, kwargs, sn)
        jaxpr, consts = trace_to_jaxpr(flat, [core.shaped_abstractify(x) for x in leaves])
        closed = ClosedJaxpr(jaxpr, consts)
        return (closed, _shapes(out_tree_box[0], jaxpr)) if return_shape else closed

    return mk


def eval_shape(fun: Callable, *args: Any, **kwargs: Any) -> Any:
    """The output shapes/dtypes of ``fun`` for these (possibly abstract) arguments, without computing."""
    args, kwargs = tree_map(_key_struct_in, (args, kwargs))
    jitted = fun if isinstance(fun, JitFunction) else JitFunction(fun)  # jit's trace (and cache) of ``fun``, as JAX
    static_key, dyn_args, dyn_kwargs = jitted._split(args, kwargs)
    leaves, in_tree = tree_flatten((dyn_args, dyn_kwargs))
    entry = jitted._entry(static_key, in_tree, [core.shaped_abstractify(x) for x in leaves])
    return tree_map(lambda k: ShapeDtypeStruct(k.shape, k.dtype) if is_key_array(k) else k,
                    _shapes(entry.out_tree, entry.closed), is_leaf=is_key_array)


def _key_struct_in(x: Any) -> Any:
    """A ShapeDtypeStruct of a key dtype as keys over a struct of their data (what eval_shape traces with)."""
    if isinstance(x, ShapeDtypeStruct) and isinstance(x.dtype, KeyTy):
        impl = x.dtype._impl
        return PRNGKeyArray(impl, ShapeDtypeStruct(x.shape + impl.key_shape, dtypes.uint32))
    return x


def checkpoint(fun: Callable, *, prevent_cse: bool = True, policy: Callable | None = None,
               static_argnums: int | Sequence[int] = ()) -> Callable:
    """Rematerialisation: the backward pass recomputes ``fun``'s intermediates instead of storing them, but
    those ``policy`` (one of ``checkpoint_policies``) lets the forward pass save."""
    sn = _argnums_tuple(static_argnums)

    @functools.wraps(fun)
    def wrapped(*args, **kwargs):
        leaves, flat, out_tree_box = _flatten_static(fun, args, kwargs, sn)
        leaves = [asarray(x) for x in leaves]
        avals = [core.get_aval(x) for x in leaves]
        key = (tuple((i, StaticArg(args[i])) for i in sn if i < len(args)),
               tree_structure((tuple(a for i, a in enumerate(args) if i not in sn), kwargs)), tuple(avals))
        # As JAX's: ``fun`` is traced once per signature (unless it closes over tracers), until jax.clear_caches().
        closed, consts, out_tree = trace_once((fun,), ("checkpoint", key), lambda: (
            *call_prims._trace_closed(flat, avals), out_tree_box[0]))
        outs = call_prims.checkpoint_p.bind(*consts, *leaves, jaxpr=closed, prevent_cse=prevent_cse, policy=policy)
        return tree_unflatten(out_tree, outs)

    return wrapped


remat = checkpoint


# ====================================== devices =============================================================
def devices(backend: str | None = None) -> list[Device]:
    """``jax.devices``: every device of ``backend``, those of other processes too in a distributed run."""
    from .distributed import global_devices
    b = get_backend(backend)
    spanning = global_devices(b)
    return list(b.devices()) if spanning is None else spanning


def local_devices(backend: str | None = None) -> list[Device]:
    return list(get_backend(backend).devices())


def device_count(backend: str | None = None) -> int:
    return len(devices(backend))


def local_device_count(backend: str | None = None) -> int:
    return len(local_devices(backend))


def default_backend() -> str:
    return get_backend().name


def device_put(x: Any, device: Any = None) -> Any:
    """Place every leaf of ``x`` on ``device`` (default: the default backend's first device), or lay it
    out by a sharding (a ``NamedSharding`` splits it into blocks over a mesh's devices; a PartitionSpec
    is one over the mesh set by ``set_mesh``)."""
    from .explicit_sharding import check_divisible, relaid
    from .sharding import NamedSharding, PartitionSpec, Sharding, SingleDeviceSharding, pspec_to_sharding, type_sharding
    placement = (Device, str, Sharding, PartitionSpec)
    if not (device is None or isinstance(device, placement)):  # a tree prefix of x's
        leaves, tree = tree_flatten(x)
        targets = _flatten_axes("device_put device", tree, device, object)
        for d in targets:
            if not (d is None or isinstance(d, placement)):
                raise ValueError("`jax.device_put` only accepts `None`, `jax.sharding.Sharding`, `jax.Device` or a "
                                 f"pytree of these values. Received invalid value: {d}")
        return tree_unflatten(tree, [device_put(v, d) for v, d in zip(leaves, targets)])
    device = pspec_to_sharding("device_put", device)
    if isinstance(device, SingleDeviceSharding):
        device = device._device
    if isinstance(device, NamedSharding):
        from .sharded import put_sharded

        def put_blocks(v):
            if core.is_tracer(v):  # (as JAX: on Explicit axes the sharding becomes the value's type)
                if type_sharding(device, np.ndim(v)) is None:
                    return v
                aval = core.get_aval(v)
                if len(device.spec) > aval.ndim:
                    device.check_shape(aval.shape, "device_put args")
                check_divisible(aval, tuple(device.spec) + (None,) * (aval.ndim - len(device.spec)),
                                device.mesh.abstract_mesh)
                return relaid(v, device)
            if not isinstance(v, (Array, MultiDeviceArray)):
                guard_transfer("host_to_device", f"aval={core.get_aval(v).str_short()}, dst_sharding={device}",
                               explicit=True)
            return put_sharded(v, device)
        return tree_map(put_blocks, x)
    stay = device is None  # arrays already on devices stay there (as JAX); host values go to the default device
    if device is None:
        device = default_device()
    elif isinstance(device, str):
        device = get_backend(device).devices()[0]

    def put(v):
        if stay and isinstance(v, (Array, MultiDeviceArray)):
            return v
        if isinstance(v, MultiDeviceArray):  # gathered on its first device, then moved
            if is_global(v):
                raise ValueError("When the second argument to `device_put` is a Device, the first argument must be a "
                                 "fully addressable array or a non-addressable array with a single device sharding. "
                                 f"Got value with devices {v.sharding.device_set}")
            v = v._gathered()
        if type(v) is Array:
            if v._device is not device:
                guard_transfer("device_to_device", f"aval={v.aval.str_short()}, dst_device={device}", explicit=True)
            return to_device(v, device)
        if core.is_tracer(v):
            return v
        aval = core.get_aval(v)
        guard_transfer("host_to_device", f"aval={aval.str_short()}, dst_device={device}", explicit=True)
        return make_array(v, weak_type=aval.weak_type, device=device, dtype=aval.dtype)

    return tree_map(put, x)


def device_get(x: Any) -> Any:
    """Transfer ``x`` to the host: each array leaf becomes a numpy array (a key array: keys over host key data);
    tracers and leaves without ``__array__`` (Python scalars) are returned as they are."""
    def get(v):
        if core.is_tracer(v) or not hasattr(v, "__array__"):
            return v
        if type(v) is Array and v.device.platform != "cpu":
            guard_transfer("device_to_host", f"aval={v.aval.str_short()}", explicit=True)
        return v.__array__()

    return tree_map(get, x)


def copy_to_host_async(x: Any) -> Any:
    """Start the host copy of every leaf that has a ``copy_to_host_async`` method (others are left as they are);
    returns ``x``."""
    for leaf in tree_flatten(x)[0]:
        try:
            copy = leaf.copy_to_host_async
        except AttributeError:
            continue
        copy()
    return x


@contextlib.contextmanager
def disable_jit(disable: bool = True) -> Iterator[None]:
    """Within the context, jitted functions run as plain Python, one primitive at a time (``lax.cond``/``switch``
    with a concrete predicate, ``scan``, ``while_loop`` and ``fori_loop`` as Python control flow), for debugging."""
    with config._state("disable_jit")(disable):
        yield


def block_until_ready(x: Any) -> Any:
    return tree_map(lambda v: v.block_until_ready() if type(v) is Array else v, x)


def backends() -> list[str]:
    return registry.names()
