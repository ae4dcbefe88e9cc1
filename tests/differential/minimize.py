"""Shrinking a failing program (delta debugging) and printing it as a standalone Python snippet."""
from __future__ import annotations

import dataclasses
import time

import numpy as np

from .generator import Program, Var, input_values
from .runner import EXCEPTION, REFERENCE, Outcome, batched_args, check, grad_spec


def signature(outcome: Outcome) -> str:
    """What must stay the same while shrinking: the status, and the exception's type."""
    if outcome.status == EXCEPTION:
        return f"{EXCEPTION}:{outcome.message.split(':')[0]}"
    return outcome.status


def _with_output(prog: Program, name: str) -> Program:
    return dataclasses.replace(prog, outputs=[name]).live()


def _cut(prog: Program, name: str, seed: int) -> Program:
    """``prog`` with variable ``name`` turned into a fresh input of the same shape and dtype."""
    v: Var = prog.vars[name]
    new = f"x{len(prog.vars)}"
    rng = np.random.RandomState(seed)
    vars_ = {**prog.vars, new: dataclasses.replace(v, name=new)}
    ops = [dataclasses.replace(op, args=[new if a == name else a for a in op.args]) for op in prog.ops if op.out != name]
    outputs = [new if o == name else o for o in prog.outputs]
    values = {**prog.values, new: input_values(rng, v.shape, v.dtype)}
    return dataclasses.replace(prog, vars=vars_, ops=ops, outputs=outputs, inputs=prog.inputs + [new],
                               values=values).live()


def _bypass(prog: Program, op_index: int, arg: str) -> Program:
    """``prog`` with one equation's result replaced by one of its operands (same shape and dtype)."""
    out = prog.ops[op_index].out
    ops = [dataclasses.replace(op, args=[arg if a == out else a for a in op.args]) for op in prog.ops if op.out != out]
    outputs = [arg if o == out else o for o in prog.outputs]
    return dataclasses.replace(prog, ops=ops, outputs=outputs).live()


def _simpler_values(prog: Program) -> list[Program]:
    """Variants with one input's values made simpler (zeros, ones, first element repeated)."""
    out = []
    for x in prog.inputs:
        v = prog.values[x]
        if v.size == 0:
            continue
        for simple in (np.zeros_like(v), np.ones_like(v), np.full_like(v, v.ravel()[0])):
            if not np.array_equal(simple, v):
                out.append(dataclasses.replace(prog, values={**prog.values, x: simple}))
    return out


def minimize(prog: Program, backend: str, mode: str, outcome: Outcome, seconds: float = 60.0) -> Program:
    """A smaller program that fails in the same way (same backend, mode, status and exception type)."""
    want = signature(outcome)
    deadline = time.monotonic() + seconds

    def fails(p: Program) -> bool:
        if time.monotonic() > deadline:
            return False
        if mode == "grad" and grad_spec(p) is None:
            return False
        try:
            return signature(check(p, backend, mode)) == want
        except Exception:
            return False

    for name in [op.out for op in prog.ops]:  # the earliest variable that already fails
        cand = _with_output(prog, name)
        if len(cand.ops) < len(prog.ops) and fails(cand):
            prog = cand
            break
    changed = True
    while changed and time.monotonic() < deadline:
        changed = False
        for i in range(len(prog.ops)):
            op = prog.ops[i]
            cands = [_bypass(prog, i, a) for a in op.args
                     if prog.vars[a].shape == prog.vars[op.out].shape and prog.vars[a].dtype == prog.vars[op.out].dtype]
            cands += [_cut(prog, a, prog.seed + i) for a in op.args if a.startswith("v")]
            for cand in cands:
                if len(cand.ops) < len(prog.ops) and fails(cand):
                    prog, changed = cand, True
                    break
            if changed:
                break
    for cand in _simpler_values(prog):
        if fails(cand):
            prog = cand
    return prog


def repro(prog: Program, backend: str, mode: str, outcome: Outcome) -> str:
    """A standalone snippet that shows the failure."""
    lines = ["import numpy as np", "import portax", "import portax.numpy as jnp", "from portax import lax"]
    if prog.x64:
        lines.append('portax.config.update("jax_enable_x64", True)')
    lines += ["", prog.source(), ""]
    values, axes = [prog.values[x] for x in prog.inputs], None
    if mode == "vmap":
        values, axes = batched_args(prog)
    for x, v in zip(prog.inputs, values):
        lines.append(f"{x} = np.array({v.tolist()!r}, dtype=np.{v.dtype.name})")
    args = ", ".join(prog.inputs)
    oracle = "reference" if backend != REFERENCE else {"eager": "numpy", "jit": "eager", "grad": "eager grad",
                                                        "vmap": "loop"}[mode]
    call = {"eager": "f", "jit": f'portax.jit(f, backend="{backend}")'}.get(mode)
    if mode == "grad":
        argnums, weights = grad_spec(prog)
        ws = ", ".join(f"np.array({w.tolist()!r}, dtype=np.float32)" for w in weights)
        lines.append(f"w = [{ws}]")
        lines.append("loss = lambda *a: sum(jnp.sum(jnp.real(o).astype(jnp.float32) * wi) for o, wi in zip(f(*a), w))")
        call = f'portax.jit(portax.grad(loss, argnums={tuple(argnums)!r}), backend="{backend}")'
    if mode == "vmap":
        call = f'portax.jit(portax.vmap(f, in_axes={axes!r}), backend="{backend}")'
    if mode == "eager":
        lines.append(f'portax.config.update("default_backend", "{backend}")')
    lines.append(f"print({call}({args}))  # on {backend} ({mode}); compare with {oracle}")
    lines.append(f"# {outcome.status}: {outcome.message[:400]}")
    return "\n".join(lines)
