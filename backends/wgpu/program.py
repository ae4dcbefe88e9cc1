"""A compiled jaxpr as a list of steps, and the recorder that runs them into command batches.

``Program`` lowers a jaxpr once: ``core.fusion`` decides the kernels, loop/reduce kernels go through
the renderer, opaque ones through the lowering rules (``lowering.LOWERINGS``). ``Program.record``
records every step of one call into the ``Recorder``'s current command batch; only data-dependent
control flow (``while``, ``cond`` with expensive branches) submits early to read a predicate back.
"""
from __future__ import annotations

import dataclasses
import math
from typing import Any, Sequence

import numpy as np

from portax.core import fusion, profiler
from portax.core.ir import ClosedJaxpr, Jaxpr, JaxprEqn, Literal, Var
from portax.core.lru import LRUCache

from . import autotune
from .buffers import DeviceBuffer, storage_nbytes
from .errors import LimitExceededError
from .kernel_writer import KernelWriter, check_size, u32, workgroups_for
from .renderer import (LOOP_VARIANTS, REDUCE_VARIANTS, WORKGROUP, Scratch, folds, loop_variants, render_loop,
                       render_reduce)
from .simplify import compose_broadcasts, sink_scalar_broadcasts
from .runtime import CommandBatch, Pipeline, WgpuDevice
from .timestamps import DispatchTimer


@dataclasses.dataclass(frozen=True)
class GeneratedKernel:
    """One shader of a compiled program, as ``Compiled.kernels`` lists it."""

    name: str
    wgsl: str
    workgroups: Any
    context: str

    def __repr__(self) -> str:
        return f"GeneratedKernel({self.name})"


class Launch:
    """One dispatch: a pipeline over slots (jaxpr variables or scratch buffers)."""

    __slots__ = ("pipeline", "slots", "grid", "params", "context", "name", "label")

    def __init__(self, pipeline: Pipeline, slots: tuple, grid, params: bytes | None, context: str, name: str,
                 label: tuple | None = None):
        self.pipeline, self.slots, self.grid, self.params = pipeline, slots, grid, params
        self.context, self.name = context, name
        self.label = label  # (name with named scopes, flops) on a profiler trace

    def record(self, rec: "Recorder", env: dict) -> None:
        rec.dispatch(self.pipeline, [rec.buffer(env, s) for s in self.slots], self.grid, self.params, self.context,
                     self.label)

    def kernels(self) -> list[GeneratedKernel]:
        return [GeneratedKernel(self.name, self.pipeline.wgsl, self.grid, self.context)]


WORKSPACE = "__workspace__"  # env key of the buffers a loop body reuses from one iteration to the next


class Recorder:
    """Buffers and the current command batch of one call of a program.

    ``buffer`` allocates a slot's buffer on first use. In an environment holding a ``WORKSPACE`` dict
    (a loop body), buffers are taken from and kept in it, so every iteration reuses the same
    intermediates: dispatches of one batch run in order, so this is safe, and memory stays bounded
    although nothing returns to the pool before the batch is submitted."""

    def __init__(self, device: WgpuDevice, context: str = "", timed: bool = False):
        self.device = device
        self.context = context
        self.timers: list[DispatchTimer] | None = [] if timed else None  # one per batch, when profiling
        self.batch: CommandBatch = self._new_batch()
        self.dispatches = 0
        self.submits = 0

    def _new_batch(self) -> CommandBatch:
        if self.timers is None:
            return self.device.batch(self.context)
        self.timers.append(DispatchTimer(self.device))
        return CommandBatch(self.device, self.context, self.timers[-1])

    def buffer(self, env: dict, slot) -> DeviceBuffer:
        """The buffer of ``slot`` in ``env``, allocated on first use (or reused from the workspace)."""
        buf = env.get(slot)
        if buf is None:
            workspace = env.get(WORKSPACE)
            buf = workspace.get(slot) if workspace is not None else None
            if buf is None:
                shape, dtype = (slot.aval.shape, slot.aval.dtype) if isinstance(slot, Var) else \
                    (slot.shape, slot.dtype)
                buf = self.device.empty(shape, dtype, self.context)
                if workspace is not None:
                    workspace[slot] = buf
            env[slot] = buf
        return buf

    def dispatch(self, pipeline: Pipeline, buffers: Sequence[DeviceBuffer], grid, params, context: str,
                 label: tuple | None = None) -> None:
        timed = None
        if self.timers is not None:
            name, flops = label or (context, 0)
            timed = (name, sum(b.binding_size for b in buffers), flops)
        self.batch.dispatch(pipeline, buffers, grid, params, context, timed)
        self.dispatches += 1

    def flush(self) -> None:
        """Submit what is recorded so far and start a new batch."""
        if len(self.batch):
            self.batch.submit()
            self.submits += 1
            self.batch = self._new_batch()

    def read(self, buf: DeviceBuffer, shape: tuple, dtype) -> np.ndarray:
        """Read a value back (submits the recorded work first: a host round trip)."""
        self.flush()
        return self.device.download(buf, shape, dtype, self.context)

    def finish(self) -> None:
        if len(self.batch):
            self.batch.submit()
            self.submits += 1
        else:
            self.batch.abandon()

    def abandon(self) -> None:
        self.batch.abandon()

    def constant(self, value, dtype) -> DeviceBuffer:
        return self.device.upload(np.asarray(value, dtype), self.context)


class Step:
    """A custom step of a program (control flow): records itself given the environment."""

    def record(self, rec: Recorder, env: dict) -> None:
        raise NotImplementedError

    def kernels(self) -> list[GeneratedKernel]:
        return []


def context_of(eqn: JaxprEqn) -> str:
    """``name in_avals -> out_avals``: how errors name an operation."""
    ins = ", ".join(x.aval.str_short() for x in eqn.inputs)
    outs = ", ".join(v.aval.str_short() for v in eqn.out_binders)
    return f"{eqn.primitive.name} {ins} -> {outs}"


class LoweringContext:
    """What a lowering rule uses: the device and its capabilities, scratch buffers, launches."""

    def __init__(self, device: WgpuDevice):
        self.device = device
        self.caps = device.capabilities
        self.limits = device.limits
        self.steps: list = []
        self.kernel_eqns: list = []  # the equations of the kernel being lowered (they name its launches)
        self.kernel_flops = 0  # its FLOPs, counted on its first launch

    def launch(self, writer: KernelWriter, workgroups, params: bytes | None = None, context: str = "") -> None:
        """Compile ``writer``'s shader and append a dispatch of it over its declared buffers."""
        limit = self.caps.loop_trip_limit
        if limit is not None and writer.trips > limit:
            raise NotImplementedError(
                f"wgpu backend: {context or writer.name}: a kernel ({writer.name}) whose invocations run up to "
                f"{writer.trips:,} loop iterations is unsupported on {self.caps.adapter_name} via "
                f"{self.caps.backend_type}: its driver stops an invocation's loops after {limit:,} iterations "
                "without an error (Mesa's llvmpipe), which would give wrong results; use another backend "
                "(cpu_llvm) or a GPU for this size")
        pipe = self.device.pipeline(writer.source(), context=context or writer.name)
        label = (profiler.kernel_name(self.kernel_eqns) if self.kernel_eqns else writer.name, self.kernel_flops)
        self.kernel_flops = 0
        self.steps.append(Launch(pipe, tuple(writer.keys), workgroups, params, context or writer.name, writer.name,
                                 label))

    def scratch(self, shape: Sequence[int], dtype, label: str = "scratch") -> Scratch:
        return Scratch(shape, np.dtype(dtype), label)

    def add(self, step: Step) -> None:
        self.steps.append(step)

    def program(self, closed: ClosedJaxpr, name: str) -> "Program":
        return Program(self.device, closed, name)

    def check_dtypes(self, eqn: JaxprEqn) -> None:
        """Refuse dtypes the adapter cannot compute, naming the op and the missing feature."""
        for a in [x.aval for x in eqn.inputs] + [v.aval for v in eqn.out_binders]:
            if a.dtype not in self.caps.dtypes:
                feature = _FEATURE_OF.get(a.dtype.name, "a WGSL type")
                raise NotImplementedError(
                    f"wgpu backend: {context_of(eqn)}: dtype {a.dtype.name} is unsupported on "
                    f"{self.caps.adapter_name} via {self.caps.backend_type} (needs {feature})")

    def check_sizes(self, eqn: JaxprEqn) -> None:
        """Refuse arrays past u32 indexing or the device's largest storage binding."""
        limit = self.limits.max_storage_buffer_binding_size
        for a in [x.aval for x in eqn.inputs] + [v.aval for v in eqn.out_binders]:
            check_size(a.shape, context_of(eqn))
            nbytes = storage_nbytes(a.shape, a.dtype)
            if nbytes > limit:
                raise LimitExceededError(f"{a.str_short()} takes {nbytes} bytes, more than this device's "
                                         f"max_storage_buffer_binding_size={limit}", context_of(eqn))


_FEATURE_OF = {"float16": "the shader-f16 feature", "float64": "the shader-f64 feature",
               "int64": "the shader-int64 feature", "uint64": "the shader-int64 feature"}


def lower_jaxpr(ctx: LoweringContext, jaxpr: Jaxpr) -> None:
    """Append the steps computing ``jaxpr`` to ``ctx``."""
    from .lower_dot import dot_general, lower_contraction
    from .lowering import LOWERINGS, can_fuse, lower_opaque_as_fused
    policy = fusion.FusionPolicy(can_fuse=can_fuse, max_buffers=ctx.limits.max_storage_buffers_per_shader_stage,
                                 epilogue_of=lambda eqn: LOWERINGS.get(eqn.primitive) is dot_general)
    for kernel in fusion.fuse(jaxpr, policy):
        for e in kernel.eqns:
            ctx.check_dtypes(e)
            ctx.check_sizes(e)
        ctx.kernel_eqns, ctx.kernel_flops = kernel.eqns, sum(map(profiler.eqn_flops, kernel.eqns))
        if kernel.kind == "opaque":
            eqn = kernel.root
            if lower_opaque_as_fused(ctx, kernel):
                continue
            rule = LOWERINGS.get(eqn.primitive)
            if rule is None:
                raise NotImplementedError(f"wgpu backend: no lowering for primitive {eqn.primitive.name} "
                                          f"({context_of(eqn)})")
            rule(ctx, eqn)
        elif kernel.kind == "contraction":
            lower_contraction(ctx, kernel.eqns[0], kernel)
        else:
            lower_fused(ctx, kernel)


def lower_fused(ctx: LoweringContext, kernel: fusion.Kernel) -> None:
    """A loop or reduce kernel of ``core.fusion`` as one or two dispatches (none for empty shapes)."""
    if kernel.kind == "loop" and math.prod(kernel.shape) == 0:
        return
    if kernel.kind == "reduce" and math.prod(kernel.root.out_binders[0].aval.shape) == 0:
        return
    context = "fused " + kernel.describe()
    if kernel.kind == "loop":
        variant = _choose_loop(ctx, kernel)
        w, groups = render_loop(kernel, ctx.caps, variant)
        ctx.launch(w, groups, context=f"{context} [{variant}]")
        return
    n_out = math.prod(kernel.root.out_binders[0].aval.shape)

    def partials(dtypes, groups):
        return [ctx.scratch((n_out * groups,), d, "partials") for d in dtypes]
    fold = _choose_fold(ctx, kernel, n_out)
    for w, groups in render_reduce(kernel, ctx.caps, partials, fold):
        ctx.launch(w, groups, context=f"{context} [{fold}]" if fold else context)


def _choose_loop(ctx: LoweringContext, kernel: fusion.Kernel) -> str:
    """How a loop kernel runs on this device (``autotune``: by default four elements per invocation, their
    32-bit operands read and written as ``vec4``, where the element count allows; timed for big kernels)."""
    names = loop_variants(kernel)
    n = math.prod(kernel.shape)
    problem = f"{kernel.outputs[0].aval.dtype}:{len(kernel.eqns)}:{autotune.size_class(n)}"
    return autotune.choose(ctx.device, "loop", problem, n, names[-1],
                           {name: (lambda name=name: render_loop(kernel, ctx.caps, name)) for name in names},
                           known=LOOP_VARIANTS)


def _choose_fold(ctx: LoweringContext, kernel: fusion.Kernel, n_out: int) -> str | None:
    """How a reduce kernel is split over invocations and combined within workgroups on this device
    (``autotune``: a contiguous run per invocation and a tree in workgroup memory on CPU adapters, subgroup
    operations on GPUs that have them, else a tree; timed from a million elements)."""
    names = folds(kernel, ctx.caps)
    if not names:
        return None
    n_red = math.prod(kernel.shape) // max(n_out, 1)

    def first_pass(fold):
        scratch = lambda dtypes, groups: [Scratch((n_out * groups,), d, "partials") for d in dtypes]
        return lambda: render_reduce(kernel, ctx.caps, scratch, fold)[0]
    default = "runs" if ctx.caps.is_cpu else "subgroup" if "subgroup" in names else "tree"
    problem = f"{kernel.root.primitive.name}:{kernel.root.inputs[0].aval.dtype}:{autotune.size_class(n_out, n_red)}"
    return autotune.choose(ctx.device, "reduce", problem, n_out * n_red, default,
                           {name: first_pass(name) for name in names}, known=REDUCE_VARIANTS,
                           min_work=autotune.TUNE_MIN_ELEMENTS)


class Program:
    """A jaxpr lowered for one device: consts uploaded, steps ready to record."""

    def __init__(self, device: WgpuDevice, closed: ClosedJaxpr, name: str = "jit"):
        from .lower_control import inline_cheap_conds
        jaxpr = fusion.inline_calls(closed.jaxpr)
        jaxpr, cond_consts = inline_cheap_conds(jaxpr)
        jaxpr = compose_broadcasts(sink_scalar_broadcasts(jaxpr))
        self.name = name
        self.device = device
        self.in_vars = list(jaxpr.in_binders)
        self.outs = list(jaxpr.outs)
        consts = list(zip(closed.jaxpr.constvars, closed.consts)) + cond_consts
        self.const_env = {v: device.upload(np.asarray(c), f"{name}: constant") for v, c in consts}
        ctx = LoweringContext(device)
        lower_jaxpr(ctx, jaxpr)
        self.steps = ctx.steps
        # scalar literals that kernels bind as buffers (e.g. the 1.0 of grad(dot)) become constant buffers
        literals = {s for step in self.steps if isinstance(step, Launch) for s in step.slots if type(s) is Literal}
        self.const_env.update((lit, device.upload(np.asarray(lit.val, lit.aval.dtype), f"{name}: literal"))
                              for lit in literals)
        defined = {v for e in jaxpr.eqns for v in e.out_binders}
        self._produced = [type(o) is Var and o in defined for o in self.outs]

    @property
    def kernels(self) -> list[GeneratedKernel]:
        return [k for s in self.steps for k in s.kernels()]

    def record(self, rec: Recorder, args: Sequence[DeviceBuffer], dests: Sequence[DeviceBuffer] | None = None,
               workspace: dict | None = None) -> list[DeviceBuffer]:
        """Record one evaluation; results go to ``dests`` when given (else to new buffers). A loop passes
        the same ``workspace`` every iteration to reuse the intermediates' buffers."""
        env = dict(self.const_env)
        env.update(zip(self.in_vars, args))
        if dests is not None or workspace is not None:
            for i, (out, produced) in enumerate(zip(self.outs, self._produced)):
                if produced and out not in env:  # results never come from the workspace: callers keep them
                    env[out] = dests[i] if dests is not None else rec.device.empty(
                        out.aval.shape, out.aval.dtype, rec.context)
        if workspace is not None:
            env[WORKSPACE] = workspace
        for step in self.steps:
            step.record(rec, env)
        results = []
        for i, out in enumerate(self.outs):
            aval = out.aval
            buf = rec.constant(out.val, aval.dtype) if type(out) is Literal else rec.buffer(env, out)
            if dests is not None and buf is not dests[i]:
                record_copy(rec, buf, dests[i], aval.size, aval.dtype)
                buf = dests[i]
            results.append(buf)
        return results


def workspace_buffer(rec: Recorder, workspace: dict, key, aval) -> DeviceBuffer:
    """The buffer ``workspace`` keeps under ``key`` for an array of ``aval`` (allocated once)."""
    buf = workspace.get(key)
    if buf is None:
        buf = workspace[key] = rec.device.empty(aval.shape, aval.dtype, rec.context)
    return buf


def bind_result(rec: Recorder, env: dict, var: Var, buf: DeviceBuffer) -> None:
    """Make ``buf`` the value of ``var`` (copied when ``var`` already has a destination)."""
    dest = env.get(var)
    if dest is None:
        env[var] = buf
    elif dest is not buf:
        record_copy(rec, buf, dest, var.aval.size, var.aval.dtype)


def copy_kernel(dtype, n: int, src_key="src", dst_key="dst") -> KernelWriter:
    """``dst[dst_offset + i] = src[src_offset + i]`` for i < n (offsets are dispatch parameters)."""
    w = KernelWriter(f"copy:{np.dtype(dtype).name}[{n}]", WORKGROUP)
    src = w.buffer(src_key, dtype)
    dst = w.buffer(dst_key, dtype, write=True)
    w.line(f"if (gid >= {u32(n)}) {{ return; }}")
    w.line(f"{dst}[{w.param('dst_offset')} + gid] = {src}[{w.param('src_offset')} + gid];")
    return w


_COPY_PIPELINES = LRUCache()  # (device, dtype, n) -> (writer, pipeline)


def record_copy(rec: Recorder, src: DeviceBuffer, dst: DeviceBuffer, n: int, dtype,
                src_offset: int = 0, dst_offset: int = 0) -> None:
    """Record a copy of ``n`` elements (no dispatch when ``n`` is 0)."""
    if n == 0:
        return
    key = (rec.device, np.dtype(dtype), n)
    entry = _COPY_PIPELINES.get(key)
    if entry is None:
        w = copy_kernel(dtype, n)
        entry = _COPY_PIPELINES.put(key, (w, rec.device.pipeline(w.source(), context=w.name)))
    w, pipe = entry
    params = w.pack_params({"src_offset": src_offset, "dst_offset": dst_offset})
    rec.dispatch(pipe, [src, dst], workgroups_for(n, WORKGROUP), params, f"copy {np.dtype(dtype).name}[{n}]")

