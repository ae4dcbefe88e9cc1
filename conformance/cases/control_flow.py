"""Control flow and call primitives, each case a small program around the primitive: cond (two-way and
switch with a clamped index), while (trip count from an operand), scan (both directions, empty), pjit,
checkpoint, custom_jvp, custom_vjp, custom_lin (the linear stand-in transposed into the user's bwd) and
custom_linear_solve."""
from __future__ import annotations

from typing import Callable, Iterable

import numpy as np

import portax
from portax import lax
from portax.core import dtypes
from portax.core.primitives import call, control_flow as cf, custom_derivatives as cd, solves

from ..inputs import values
from ..registry import TRANSFORMS, Case, GenContext, register_cases
from ..tolerances import Tolerance, tolerance_for
from .common import int32

NO_VJP = ("eval", "jit", "vmap", "jvp")  # while loops are not reverse-differentiable (as in JAX)
NO_AD = ("eval", "jit", "vmap")


def program_tolerance(dtype: np.dtype) -> Tolerance | None:
    """The bodies below call sin: their float results get the transcendental tolerance."""
    return tolerance_for("sin", dtype) if dtypes.kind(dtype) == "f" else None


def bodies(dtype: np.dtype) -> tuple[Callable, Callable]:
    """Two binary bodies that use ops the dtype supports."""
    if dtypes.kind(dtype) == "b":
        return lax.bitwise_xor, lax.bitwise_and
    if dtypes.kind(dtype) == "f":
        return (lambda a, b: lax.add(lax.mul(lax.sin(a), b), a)), lax.sub
    return (lambda a, b: lax.add(lax.mul(a, b), a)), lax.sub


def _step(dtype: np.dtype) -> Callable:
    if dtypes.kind(dtype) == "b":
        return lax.bitwise_not
    if dtypes.kind(dtype) == "f":
        return lambda v: lax.add(lax.mul(v, 0.5), 1.0)
    return lambda v: lax.add(lax.mul(v, 3), 1)


def _cond_cases(ctx: GenContext) -> Iterable[Case]:
    for dt in ctx.dtypes:
        f, g = bodies(dt)
        x, y = values(ctx.rng, (5,), dt), values(ctx.rng, (5,), dt)
        for pred in (True, False):
            yield Case(cf.cond_p, dt, [np.asarray(pred), x, y], fn=lambda p, a, b, f=f, g=g: lax.cond(p, f, g, a, b),
                       label=f"cond(pred={pred}) on {dt.name}[5]", tolerance=program_tolerance(dt))
        for index in (-1, 1, 5):
            yield Case(cf.cond_p, dt, [int32(index), x, y],
                       fn=lambda i, a, b, f=f, g=g: lax.switch(i, [f, g, lambda u, v: u], a, b),
                       label=f"switch(index={index}, 3 branches) on {dt.name}[5]", tolerance=program_tolerance(dt))


def _while_cases(ctx: GenContext) -> Iterable[Case]:
    for dt in ctx.dtypes:
        step = _step(dt)

        def fn(x, n, step=step):
            def body(c):
                return lax.add(c[0], np.int32(1)), step(c[1])
            return lax.while_loop(lambda c: lax.lt(c[0], n), body, (np.int32(0), x))[1]
        for trips in (3, 0, -1):
            yield Case(cf.while_p, dt, [values(ctx.rng, (4,), dt), int32(trips)], fn=fn, transforms=NO_VJP,
                       label=f"while i < {trips} on {dt.name}[4]")


def _scan_cases(ctx: GenContext) -> Iterable[Case]:
    for dt in ctx.dtypes:
        f, g = bodies(dt)
        for length in (5, 0):
            for reverse in (False, True):
                args = [values(ctx.rng, (3,), dt), values(ctx.rng, (length, 3), dt)]
                yield Case(cf.scan_p, dt, args,
                           fn=lambda c, xs, f=f, g=g, r=reverse: lax.scan(
                               lambda c, x: (f(c, x), g(c, x)), c, xs, reverse=r),
                           label=f"scan over {dt.name}[{length},3] reverse={reverse}", tolerance=program_tolerance(dt),
                           accum=max(length, 1))  # the carry's rounding compounds over the steps


def _call_cases(primitive, wrap: Callable[[Callable], Callable], kinds: str = "biuf", transforms: tuple = TRANSFORMS):
    """Cases ``wrap(body)(x, y)`` for a call-like primitive (the wrapper stages ``primitive``)."""
    def generate(ctx: GenContext) -> Iterable[Case]:
        for dt in ctx.dtypes_of(kinds):
            f, _ = bodies(dt)
            for shape in ((), (7,), (3, 5)):
                args = [values(ctx.rng, shape, dt), values(ctx.rng, shape, dt)]
                yield Case(primitive, dt, args, fn=lambda a, b, f=f: wrap(f)(a, b), transforms=transforms,
                           tolerance=program_tolerance(dt))
    return generate


def _custom_jvp(f: Callable) -> Callable:
    fn = cd.custom_jvp(f)
    fn.defjvp(lambda p, t: (fn(*p), lax.add(lax.mul(t[0], 2.0), t[1])))
    return fn


def _custom_vjp(f: Callable) -> Callable:
    fn = cd.custom_vjp(f)
    fn.defvjp(lambda a, b: (fn(a, b), (a, b)), lambda res, ct: (lax.mul(ct, res[1]), lax.mul(ct, res[0])))
    return fn


def _custom_lin_cases(ctx: GenContext) -> Iterable[Case]:
    """vjp of a custom_vjp function: custom_lin is staged by the linearization and transposed into bwd."""
    for dt in ctx.dtypes_of("f"):
        f, _ = bodies(dt)
        for shape in ((), (7,), (3, 5)):
            args = [values(ctx.rng, shape, dt) for _ in range(3)]
            yield Case(cd.custom_lin_p, dt, args, transforms=NO_AD, diff_argnums=(),
                       fn=lambda a, b, ct, f=f: portax.vjp(_custom_vjp(f), a, b)[1](ct),
                       label=f"vjp of a custom_vjp function on {dt.name}{list(shape)}", tolerance=program_tolerance(dt))


register_cases(cf.cond_p, _cond_cases)
register_cases(cf.while_p, _while_cases)
register_cases(cf.scan_p, _scan_cases)
register_cases(call.pjit_p, _call_cases(call.pjit_p, portax.jit))
register_cases(call.checkpoint_p, _call_cases(call.checkpoint_p, portax.checkpoint))
register_cases(cd.custom_jvp_call_p, _call_cases(cd.custom_jvp_call_p, _custom_jvp, "f"))
# forward-mode AD of a custom_vjp function is an error in JAX too
register_cases(cd.custom_vjp_call_p,
               _call_cases(cd.custom_vjp_call_p, _custom_vjp, "f", ("eval", "jit", "vmap", "vjp")))
register_cases(cd.custom_lin_p, _custom_lin_cases)


def _diagonal_solve(a, b):
    """``x = b / (a² + 1)`` as a symmetric custom_linear_solve with matvec ``x (a² + 1)``."""
    d = lax.add(lax.mul(a, a), lax.full_like(a, 1))
    return lax.custom_linear_solve(lambda x: lax.mul(d, x), b, lambda mv, r: lax.div(r, d), symmetric=True)


register_cases(solves.linear_solve_p, _call_cases(solves.linear_solve_p, lambda f: _diagonal_solve, "f"))
