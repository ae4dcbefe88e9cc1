"""Random portax programs from a seed, as Python source text that runs unchanged eagerly, under jit, grad and
vmap, on any backend (and, without ``lax``/``.at``, with numpy standing in for ``jnp``).

A program is a list of single-assignment equations ``v = <expression of earlier variables>``. The generator
keeps the values well conditioned so that backends agree up to rounding: every float variable carries a bound
on its magnitude (inputs are operand-scaled down before an op that would overflow), and the ops that are
discontinuous in their input (comparisons, floor/round/sign, float-to-int casts, argmax) only see *exact*
variables (inputs, integers, booleans and structural ops of them), so rounding never flips a decision.
"""
from __future__ import annotations

import dataclasses
import math
from typing import Callable

import numpy as np

FLOATS = ("float16", "float32", "float64")
LIMIT = {"float16": 60.0, "float32": 1e4, "float64": 1e4, "complex64": 1e4}
MAX_SIZE = 48  # elements of any generated input
BIG_SIZE = 3000  # the same in the programs (one in ten) with big dimensions (other code paths: threads, tiles)


@dataclasses.dataclass
class Var:
    name: str
    shape: tuple
    dtype: str
    bound: float = 3.0  # magnitude bound (floats, ints)
    exact: bool = True  # same bits on every backend (no rounding has happened)

    @property
    def kind(self) -> str:
        return {"bool": "b", "int32": "i", "int64": "i", "complex64": "c"}.get(self.dtype, "f")

    @property
    def size(self) -> int:
        return math.prod(self.shape)


@dataclasses.dataclass
class Op:
    out: str
    expr: str  # str.format template over ``args``
    args: list
    tag: str  # the op's name, for statistics and exclusions
    no_grad: bool = False  # reverse mode does not apply through it (see Program.no_grad)


@dataclasses.dataclass
class Program:
    seed: int
    x64: bool
    vars: dict  # name -> Var
    inputs: list  # names, in argument order
    values: dict  # input name -> np.ndarray
    ops: list
    outputs: list
    no_grad: bool = False  # reverse mode does not apply (while_loop), or a kink sees rounded values
    numpy_ok: bool = True  # every op has a numpy equivalent under the same text

    def source(self, name: str = "f") -> str:
        lines = [f"def {name}({', '.join(self.inputs)}):"]
        lines += [f"    {op.out} = {op.expr.format(*op.args)}" for op in self.ops]
        outs = ", ".join(self.outputs)
        lines.append(f"    return {outs}" + ("," if len(self.outputs) == 1 else ""))
        return "\n".join(lines)

    def live(self) -> "Program":
        """The program without equations the outputs do not use (and without unused inputs)."""
        need = set(self.outputs)
        kept = []
        for op in reversed(self.ops):
            if op.out in need:
                kept.append(op)
                need.update(op.args)
        kept.reverse()
        inputs = [x for x in self.inputs if x in need]
        tags = {op.tag for op in kept}
        return dataclasses.replace(self, ops=kept, inputs=inputs, values={x: self.values[x] for x in inputs},
                                   numpy_ok=not tags & NON_NUMPY, no_grad=any(op.no_grad for op in kept))

    @property
    def tags(self) -> set:
        return {op.tag for op in self.ops}


NON_NUMPY = {"at", "cond", "fori", "scan", "while", "erf", "logistic", "rsqrt"}  # ops written with lax or .at


def input_values(rng: np.random.RandomState, shape: tuple, dtype: str) -> np.ndarray:
    """Exact small values: floats are multiples of 1/8 in [-3, 3], ints in [-5, 5]."""
    if dtype == "bool":
        return np.asarray(rng.rand(*shape) < 0.5)
    if dtype in ("int32", "int64"):
        return np.asarray(rng.randint(-5, 6, size=shape), dtype=dtype)
    if dtype == "complex64":
        return np.asarray(rng.randint(-24, 25, size=shape) / 8 + 1j * rng.randint(-24, 25, size=shape) / 8, dtype=dtype)
    return np.asarray(rng.randint(-24, 25, size=shape) / 8, dtype=dtype)


class Builder:
    """The state of one program under construction."""

    def __init__(self, seed: int):
        self.rng = np.random.RandomState(seed)
        self.seed = seed
        self.x64 = self.rng.rand() < 0.25
        self.big = self.rng.rand() < 0.1
        self.vars: dict = {}
        self.inputs: list = []
        self.values: dict = {}
        self.ops: list = []
        self.no_grad = False

    # --- variables ---------------------------------------------------------------------------------------------
    def dtype(self) -> str:
        pool = ["float32"] * 5 + ["int32"] * 2 + ["bool", "float16", "complex64"] + ["float64"] * 3 * self.x64
        return pool[self.rng.randint(len(pool))]

    def shape(self, rank: int | None = None) -> tuple:
        rank = self.rng.choice([0, 1, 1, 2, 2, 2, 3]) if rank is None else rank
        choices, limit = ([1, 2, 7, 31, 64, 257], BIG_SIZE) if self.big else ([0, 1, 1, 2, 3, 3, 4, 5], MAX_SIZE)
        for _ in range(20):
            dims = tuple(int(self.rng.choice(choices)) if self.rng.rand() > 0.05 else 0 for _ in range(rank))
            if math.prod(dims) <= limit and (0 not in dims or self.rng.rand() < 0.25):
                return dims
        return (1,) * rank

    def fresh(self, shape: tuple, dtype: str) -> Var:
        name = f"x{len(self.inputs)}"
        v = Var(name, tuple(shape), dtype, 5.0 if dtype in ("int32", "int64") else 3.0 * (1 + (dtype == "complex64")))
        self.vars[name] = v
        self.inputs.append(name)
        self.values[name] = input_values(self.rng, v.shape, dtype)
        return v

    def pick(self, pred: Callable[[Var], bool] = lambda v: True, fresh_p: float = 0.15) -> Var | None:
        cands = [v for v in self.vars.values() if pred(v)]
        if not cands or self.rng.rand() < fresh_p:
            return None
        r = self.rng.rand()  # favour recent results so that ops compose into chains
        pool = cands[-1:] if r < 0.5 else cands[-3:] if r < 0.8 else cands
        return pool[self.rng.randint(len(pool))]

    def emit(self, expr: str, args: list, shape: tuple, dtype: str, tag: str, bound: float = 1.0,
             exact: bool = False) -> Var:
        name = f"v{len(self.ops)}"
        v = Var(name, tuple(int(d) for d in shape), dtype, float(bound), exact)
        self.vars[name] = v
        self.ops.append(Op(name, expr, [a.name for a in args], tag, self.no_grad))
        self.no_grad = False  # a flag set by an op generator goes to its next equation
        return v

    def partner(self, a: Var, dtype: str | None = None, same_shape: bool = False) -> Var:
        """A variable broadcastable against ``a`` (an existing one or a fresh input)."""
        dtype = dtype or a.dtype
        if same_shape:
            cand = self.pick(lambda v: v.shape == a.shape and v.dtype == dtype and v is not a)
            return cand or self.fresh(a.shape, dtype)
        cand = self.pick(lambda v: v.dtype == dtype and _broadcastable(v.shape, a.shape) and v is not a)
        if cand is not None:
            return cand
        k = self.rng.randint(0, len(a.shape) + 1)
        shape = tuple(1 if self.rng.rand() < 0.25 else d for d in a.shape[k:])
        return self.fresh(shape, dtype)

    def scaled(self, a: Var, limit: float) -> tuple[str, Var, float]:
        """``a``'s expression scaled down so that its magnitude is at most ``limit``, and the new bound."""
        if a.kind in "fc" and a.bound > limit:
            s = float(np.float16(limit / a.bound)) or 2.0 ** -14
            return f"({{0}} * {s!r})", a, a.bound * s
        return "{0}", a, a.bound

    def cast_to(self, a: Var, dtype: str) -> Var:
        if a.dtype == dtype:
            return a
        if a.kind == "c":
            a = self.emit("jnp.real({0})", [a], a.shape, "float32", "real", a.bound, a.exact)
        if dtype in ("int32", "int64") and a.kind == "f" and not a.exact:
            a = self.emit("jnp.round({0})", [self.scaled_var(a, 1e3)], a.shape, a.dtype, "round", 1e3, True)
        if a.dtype == dtype:
            return a
        return self.emit(f"{{0}}.astype(jnp.{dtype})", [a], a.shape, dtype, "astype",
                         a.bound if dtype != "bool" else 1.0, a.exact)

    def scaled_var(self, a: Var, limit: float) -> Var:
        expr, _, b = self.scaled(a, limit)
        return a if expr == "{0}" else self.emit(expr, [a], a.shape, a.dtype, "scale", b, False)

    def finish(self) -> Program:
        n_out = 1 + (self.rng.rand() < 0.2 and len(self.ops) > 1)
        outputs = [self.ops[-1].out] + ([self.ops[self.rng.randint(len(self.ops) - 1)].out] if n_out > 1 else [])
        prog = Program(self.seed, self.x64, self.vars, self.inputs, self.values, self.ops, outputs)
        return prog.live()


def _broadcastable(small: tuple, big: tuple) -> bool:
    if len(small) > len(big):
        return False
    return all(s in (1, b) for s, b in zip(small[::-1], big[::-1]))


def _bshape(a: tuple, b: tuple) -> tuple:
    n = max(len(a), len(b))
    a, b = (1,) * (n - len(a)) + a, (1,) * (n - len(b)) + b
    return tuple(y if x == 1 else x for x, y in zip(a, b))


# --- elementwise -------------------------------------------------------------------------------------------------
# name: (template, kinds, input limit, output bound from input bound b, kink)
UNARY = {
    "sin": ("jnp.sin({0})", "fc", 8.0, lambda b: 1.0, False),
    "cos": ("jnp.cos({0})", "fc", 8.0, lambda b: 1.0, False),
    "tanh": ("jnp.tanh({0})", "f", math.inf, lambda b: 1.0, False),
    "exp": ("jnp.exp({0})", "fc", 4.0, lambda b: math.exp(b), False),
    "expm1": ("jnp.expm1({0})", "f", 4.0, lambda b: math.exp(b), False),
    "log": ("jnp.log({0} * {0} + 0.5)", "f", 100.0, lambda b: 2 * math.log(b + 1) + 1, False),
    "log1p": ("jnp.log1p({0} * {0})", "f", 100.0, lambda b: 2 * math.log(b + 1) + 1, False),
    "sqrt": ("jnp.sqrt({0} * {0} + 0.25)", "f", 100.0, lambda b: b + 0.5, False),
    "rsqrt": ("lax.rsqrt({0} * {0} + 0.25)", "f", 100.0, lambda b: 2.0, False),
    "reciprocal": ("jnp.reciprocal({0} * {0} + 0.5)", "f", 100.0, lambda b: 2.0, False),
    "arctan": ("jnp.arctan({0})", "f", math.inf, lambda b: 1.6, False),
    "arcsinh": ("jnp.arcsinh({0})", "f", math.inf, lambda b: math.log(2 * b + 1) + 1, False),
    "sinh": ("jnp.sinh({0})", "f", 4.0, lambda b: math.exp(b), False),
    "cosh": ("jnp.cosh({0})", "f", 4.0, lambda b: math.exp(b), False),
    "logistic": ("lax.logistic({0})", "f", math.inf, lambda b: 1.0, False),
    "erf": ("lax.erf({0})", "f", math.inf, lambda b: 1.0, False),
    "square": ("jnp.square({0})", "fci", 100.0, lambda b: b * b, False),
    "negative": ("-{0}", "fci", math.inf, lambda b: b, False),
    "abs": ("jnp.abs({0})", "fi", math.inf, lambda b: b, True),
    "sign": ("jnp.sign({0})", "fi", math.inf, lambda b: 1.0, True),
    "floor": ("jnp.floor({0})", "f", math.inf, lambda b: b + 1, True),
    "ceil": ("jnp.ceil({0})", "f", math.inf, lambda b: b + 1, True),
    "round": ("jnp.round({0})", "f", math.inf, lambda b: b + 1, True),
    "conj": ("jnp.conj({0})", "c", math.inf, lambda b: b, False),
    "not": ("jnp.logical_not({0})", "b", math.inf, lambda b: 1.0, False),
}
DISCONTINUOUS = {"sign", "floor", "ceil", "round"}  # only on exact inputs
EXACT_PRESERVING = {"negative", "abs", "sign", "floor", "ceil", "round", "conj", "not"}

# name: (template, kinds, input limit, bound from (a, b), kink)
BINARY = {
    "add": ("{0} + {1}", "fci", math.inf, lambda a, b: a + b, False),
    "sub": ("{0} - {1}", "fci", math.inf, lambda a, b: a + b, False),
    "mul": ("{0} * {1}", "fci", 100.0, lambda a, b: a * b, False),
    "div": ("{0} / ({1} * {1} + 0.5)", "f", 100.0, lambda a, b: 2 * a, False),
    "cdiv": ("{0} / ({1} * jnp.conj({1}) + 0.5)", "c", 100.0, lambda a, b: 2 * a, False),
    "maximum": ("jnp.maximum({0}, {1})", "fi", math.inf, max, True),
    "minimum": ("jnp.minimum({0}, {1})", "fi", math.inf, max, True),
    "pow": ("jnp.power({0} * {0} + 0.5, {1})", "f", 2.0, lambda a, b: (a * a + 0.5) ** b + 1, False),
    "atan2": ("jnp.arctan2({0}, {1})", "f", math.inf, lambda a, b: 3.2, True),
    "floordiv": ("{0} // (jnp.abs({1}) + 1)", "i", math.inf, lambda a, b: a, False),
    "mod": ("{0} % (jnp.abs({1}) + 1)", "i", math.inf, lambda a, b: b + 1, False),
    "and": ("{0} & {1}", "ib", math.inf, max, False),
    "or": ("{0} | {1}", "ib", math.inf, max, False),
    "xor": ("{0} ^ {1}", "ib", math.inf, max, False),
}
COMPARE = ["<", "<=", "==", "!=", ">", ">="]


def gen_unary(g: Builder) -> Var | None:
    name = list(UNARY)[g.rng.randint(len(UNARY))]
    tmpl, kinds, limit, bound, kink = UNARY[name]
    a = g.pick(lambda v: v.kind in kinds and (name not in DISCONTINUOUS or v.exact))
    if a is None:
        return None
    if kink and not a.exact:
        g.no_grad = True  # rounding decides which side of the kink the gradient takes
    limit = min(limit, LIMIT.get(a.dtype, math.inf))
    if a.kind == "c" and name in ("sin", "cos", "exp"):
        limit = 3.0
    a = g.scaled_var(a, limit)
    out = bound(a.bound) if a.kind != "c" or name not in ("sin", "cos") else math.cosh(a.bound) + 1
    exact = a.exact and name in EXACT_PRESERVING
    return g.emit(tmpl, [a], a.shape, a.dtype, name, out, exact)


def gen_binary(g: Builder) -> Var | None:
    name = list(BINARY)[g.rng.randint(len(BINARY))]
    tmpl, kinds, limit, bound, kink = BINARY[name]
    a = g.pick(lambda v: v.kind in kinds)
    if a is None:
        a = g.fresh(g.shape(), {"f": "float32", "c": "complex64", "i": "int32", "b": "bool"}[kinds[0]])
    if name == "atan2" and not a.exact:
        return None
    b = g.partner(a)
    if g.rng.rand() < 0.5:
        a, b = b, a
    if kink and not (a.exact and b.exact):
        g.no_grad = True
    lim = min(limit, LIMIT.get(a.dtype, math.inf) / 2)
    if name == "pow":
        a, b = g.scaled_var(a, 3.0), g.scaled_var(b, 2.0)
    elif a.kind in "fc":
        a, b = g.scaled_var(a, lim), g.scaled_var(b, lim)
    if name == "mul" and a.kind == "i":
        a, b = g.scaled_var(a, 1e4), g.scaled_var(b, 1e4)
    exact = a.exact and b.exact and (a.kind in "ib" or name in ("maximum", "minimum"))
    return g.emit(tmpl, [a, b], _bshape(a.shape, b.shape), a.dtype, name, bound(a.bound, b.bound), exact)


def gen_scalar(g: Builder) -> Var | None:
    a = g.pick(lambda v: v.kind in "fi")
    if a is None:
        return None
    c = float(g.rng.choice([0.5, 1.5, 2.0, -3.0])) if a.kind == "f" else int(g.rng.choice([1, 2, -3]))
    op = g.rng.choice(["+", "*", "-"])
    a = g.scaled_var(a, LIMIT.get(a.dtype, math.inf) / 4)
    return g.emit(f"({{0}} {op} {c!r})", [a], a.shape, a.dtype, "scalar", a.bound * 3 + 3, a.kind == "i")


def gen_compare(g: Builder) -> Var | None:
    a = g.pick(lambda v: v.exact and v.kind in "fib")
    if a is None:
        a = g.fresh(g.shape(), g.rng.choice(["float32", "int32"]))
    b = g.partner(a)
    op = COMPARE[g.rng.randint(len(COMPARE))]
    return g.emit(f"({{0}} {op} {{1}})", [a, b], _bshape(a.shape, b.shape), "bool", "compare", 1.0, True)


def gen_where(g: Builder) -> Var | None:
    a = g.pick(lambda v: v.kind != "b")
    if a is None:
        return None
    b = g.partner(a)
    shape = _bshape(a.shape, b.shape)
    c = g.pick(lambda v: v.kind == "b" and _broadcastable(v.shape, shape)) or g.fresh(
        shape[g.rng.randint(len(shape) + 1):], "bool")
    return g.emit("jnp.where({0}, {1}, {2})", [c, a, b], shape, a.dtype, "where", max(a.bound, b.bound),
                  a.exact and b.exact)


def gen_cast(g: Builder) -> Var | None:
    a = g.pick()
    if a is None:
        return None
    options = ["float32", "int32", "bool", "float16", "complex64"] + ["float64"] * g.x64
    dt = options[g.rng.randint(len(options))]
    if dt == a.dtype or (a.kind == "c" and dt == "bool"):
        return None
    if dt == "bool" and not a.exact:
        return None
    if dt == "float16":
        a = g.scaled_var(a, LIMIT["float16"])
    return g.cast_to(a, dt)


# --- reductions and scans -----------------------------------------------------------------------------------------
def _axes(g: Builder, a: Var, single: bool = False):
    if a.shape == () or (not single and g.rng.rand() < 0.2):
        return None
    if single or g.rng.rand() < 0.6:
        ax = g.rng.randint(len(a.shape))
        return ax - len(a.shape) if g.rng.rand() < 0.3 else ax
    k = g.rng.randint(1, len(a.shape) + 1)
    return tuple(sorted(g.rng.choice(len(a.shape), k, replace=False).tolist()))


def _reduced(shape: tuple, axes, keepdims: bool) -> tuple[tuple, int]:
    axs = range(len(shape)) if axes is None else ([axes] if isinstance(axes, int) else axes)
    axs = {ax % len(shape) for ax in axs} if shape else set()
    n = math.prod(shape[i] for i in axs)
    out = tuple(1 if i in axs else d for i, d in enumerate(shape) if keepdims or i not in axs)
    return out, n


def gen_reduce(g: Builder) -> Var | None:
    name = g.rng.choice(["sum", "sum", "max", "min", "prod", "mean", "argmax", "argmin"])
    arg = name.startswith("arg")
    a = g.pick(lambda v: v.kind in ("fi" if name != "sum" and name != "mean" else "fibc")
               and (v.exact or not arg))
    if a is None:
        return None
    axes = _axes(g, a, single=arg)
    keep = bool(g.rng.rand() < 0.3)
    shape, n = _reduced(a.shape, axes, keep)
    if name in ("max", "min") or arg:
        if n == 0 or a.size == 0 and axes is None:
            return None
        if not a.exact:
            g.no_grad = True
    if name == "prod":
        if n > 6:
            return None
        a = g.scaled_var(a, 1.5 if a.kind == "f" else math.inf)
    kw = ("" if axes is None else f", axis={axes!r}") + (", keepdims=True" if keep else "")
    int_out = "int64" if g.x64 else "int32"
    if arg:
        return g.emit(f"jnp.{name}({{0}}{kw})", [a], shape, int_out, name, max(a.shape or (1,)), True)
    dtype = a.dtype
    if a.kind in "bi" and name in ("sum", "prod"):
        dtype = int_out
    if a.kind in "bi" and name == "mean":
        dtype = "float64" if g.x64 else "float32"
    bound = a.bound * max(n, 1) if name == "sum" else min(a.bound, 1e30) ** max(n, 1) + 1 if name == "prod" else a.bound
    if a.kind == "b":
        bound = max(n, 1)
    exact = a.exact and (a.kind in "bi" and name != "mean" or name in ("max", "min"))
    return g.emit(f"jnp.{name}({{0}}{kw})", [a], shape, dtype, name, bound, exact)


def gen_cumsum(g: Builder) -> Var | None:
    a = g.pick(lambda v: v.kind in "fic" and v.shape != ())
    if a is None:
        return None
    ax = _axes(g, a, single=True)
    dtype = a.dtype  # JAX 0.10.2's cumsum keeps integer dtypes (only booleans promote)
    n = a.shape[ax]
    return g.emit(f"jnp.cumsum({{0}}, axis={ax})", [a], a.shape, dtype, "cumsum", a.bound * max(n, 1),
                  a.exact and a.kind == "i")


def gen_sort(g: Builder) -> Var | None:
    a = g.pick(lambda v: v.kind in "fi" and v.shape != ())
    if a is None:
        return None
    ax = _axes(g, a, single=True)
    if not a.exact:
        g.no_grad = True  # near-ties may be ordered differently
    return g.emit(f"jnp.sort({{0}}, axis={ax})", [a], a.shape, a.dtype, "sort", a.bound, a.exact)


def gen_dot(g: Builder) -> Var | None:
    a = g.pick(lambda v: v.kind in "fic" and len(v.shape) in (1, 2, 3))
    if a is None:
        return None
    a = g.scaled_var(a, 30.0)
    k = a.shape[-1]
    n = int(g.rng.choice([1, 2, 3, 4]))
    if len(a.shape) == 1:
        bshape = (k,) if g.rng.rand() < 0.5 else (k, n)
    elif len(a.shape) == 2:
        bshape = (k, n) if g.rng.rand() < 0.7 else (k,)
    else:
        bshape = (a.shape[0], k, n) if g.rng.rand() < 0.5 else (k, n)
    b = g.pick(lambda v: v.shape == bshape and v.dtype == a.dtype) or g.fresh(bshape, a.dtype)
    b = g.scaled_var(b, 30.0)
    fn = "jnp.matmul" if len(a.shape) == 3 or g.rng.rand() < 0.5 else "jnp.dot"
    if len(a.shape) == 3:
        shape = a.shape[:-1] + bshape[-1:]
    else:
        shape = a.shape[:-1] + bshape[1:]
    return g.emit(f"{fn}({{0}}, {{1}})", [a, b], shape, a.dtype, "dot", a.bound * b.bound * max(k, 1),
                  a.exact and b.exact and a.kind == "i")


# --- structural -------------------------------------------------------------------------------------------------
def gen_reshape(g: Builder) -> Var | None:
    a = g.pick()
    if a is None:
        return None
    dims = [d for d in a.shape]
    r = g.rng.rand()
    if r < 0.3 and len(dims) >= 2:
        i = g.rng.randint(len(dims) - 1)
        dims[i:i + 2] = [dims[i] * dims[i + 1]]
    elif r < 0.6:
        dims.insert(g.rng.randint(len(dims) + 1), 1)
    elif r < 0.8 and dims:
        i = g.rng.randint(len(dims))
        d = dims[i]
        f = [x for x in range(2, d) if d % x == 0]
        if f:
            x = int(g.rng.choice(f))
            dims[i:i + 1] = [x, d // x]
        else:
            dims = [a.size]
    else:
        dims = [a.size]
    shape = tuple(dims)
    shown = list(shape)
    if shown and a.size > 0 and g.rng.rand() < 0.3:
        shown[g.rng.randint(len(shown))] = -1
    return g.emit(f"jnp.reshape({{0}}, {tuple(shown)!r})", [a], shape, a.dtype, "reshape", a.bound, a.exact)


def gen_transpose(g: Builder) -> Var | None:
    a = g.pick(lambda v: len(v.shape) >= 2)
    if a is None:
        return None
    perm = tuple(int(p) for p in g.rng.permutation(len(a.shape)))
    return g.emit(f"jnp.transpose({{0}}, {perm!r})", [a], tuple(a.shape[p] for p in perm), a.dtype, "transpose",
                  a.bound, a.exact)


def gen_slice(g: Builder) -> Var | None:
    a = g.pick(lambda v: v.shape != ())
    if a is None:
        return None
    parts, shape = [], []
    for d in a.shape:
        lo = g.rng.randint(0, d + 1)
        hi = g.rng.randint(lo, d + 1)
        step = int(g.rng.choice([1, 1, 2, -1]))
        if step == -1:
            parts.append("::-1")
            shape.append(d)
        elif g.rng.rand() < 0.3:
            parts.append(":")
            shape.append(d)
        else:
            parts.append(f"{lo}:{hi}" + (f":{step}" if step != 1 else ""))
            shape.append(len(range(lo, hi, step)))
    return g.emit(f"{{0}}[{', '.join(parts)}]", [a], tuple(shape), a.dtype, "slice", a.bound, a.exact)


def gen_concat(g: Builder) -> Var | None:
    a = g.pick(lambda v: v.shape != ())
    if a is None:
        return None
    ax = g.rng.randint(len(a.shape))
    bshape = a.shape[:ax] + (int(g.rng.choice([0, 1, 2, 3])),) + a.shape[ax + 1:]
    b = g.pick(lambda v: v.dtype == a.dtype and len(v.shape) == len(a.shape)
               and all(x == y for i, (x, y) in enumerate(zip(v.shape, a.shape)) if i != ax)) or g.fresh(bshape, a.dtype)
    shape = a.shape[:ax] + (a.shape[ax] + b.shape[ax],) + a.shape[ax + 1:]
    return g.emit(f"jnp.concatenate([{{0}}, {{1}}], axis={ax})", [a, b], shape, a.dtype, "concat",
                  max(a.bound, b.bound), a.exact and b.exact)


def gen_broadcast(g: Builder) -> Var | None:
    a = g.pick()
    if a is None:
        return None
    r = g.rng.rand()
    if r < 0.4:
        shape = tuple(int(g.rng.choice([1, 2, 3])) for _ in range(g.rng.randint(0, 2))) + tuple(
            int(g.rng.choice([2, 3])) if d == 1 else d for d in a.shape)
        if math.prod(shape) > 4 * (BIG_SIZE if g.big else MAX_SIZE):
            return None
        return g.emit(f"jnp.broadcast_to({{0}}, {shape!r})", [a], shape, a.dtype, "broadcast", a.bound, a.exact)
    if r < 0.7:
        ax = g.rng.randint(len(a.shape) + 1)
        shape = a.shape[:ax] + (1,) + a.shape[ax:]
        return g.emit(f"jnp.expand_dims({{0}}, {ax})", [a], shape, a.dtype, "expand_dims", a.bound, a.exact)
    ones = [i for i, d in enumerate(a.shape) if d == 1]
    if ones:
        ax = int(g.rng.choice(ones))
        shape = a.shape[:ax] + a.shape[ax + 1:]
        return g.emit(f"jnp.squeeze({{0}}, {ax})", [a], shape, a.dtype, "squeeze", a.bound, a.exact)
    a = g.pick(lambda v: v.shape != ())
    if a is None:
        return None
    ax = g.rng.randint(len(a.shape))
    return g.emit(f"jnp.flip({{0}}, {ax})", [a], a.shape, a.dtype, "flip", a.bound, a.exact)


def gen_take(g: Builder) -> Var | None:
    a = g.pick(lambda v: v.shape != () and v.size > 0)
    if a is None:
        return None
    ax = g.rng.randint(len(a.shape))
    idx = [int(i) for i in g.rng.randint(0, a.shape[ax], size=g.rng.randint(0, 4))]
    shape = a.shape[:ax] + (len(idx),) + a.shape[ax + 1:]
    return g.emit(f"jnp.take({{0}}, jnp.array({idx!r}, dtype=jnp.int32), axis={ax})", [a], shape, a.dtype,
                  "take", a.bound, a.exact)


def gen_at(g: Builder) -> Var | None:
    a = g.pick(lambda v: v.shape != () and v.shape[0] > 0 and v.kind != "b")
    if a is None:
        return None
    d = a.shape[0]
    r = g.rng.rand()
    if r < 0.4:
        i = g.rng.randint(-d, d)
        idx, sub = f"{i}", a.shape[1:]
    elif r < 0.7:
        lo = g.rng.randint(0, d)
        hi = g.rng.randint(lo, d + 1)  # lo == hi: an empty update
        idx, sub = f"{lo}:{hi}", (hi - lo,) + a.shape[1:]
    else:
        ids = [int(i) for i in g.rng.choice(d, size=g.rng.randint(1, d + 1), replace=False)]
        idx, sub = f"jnp.array({ids!r})", (len(ids),) + a.shape[1:]
    method = g.rng.choice(["set", "add", "add", "mul", "min", "max"]) if a.kind != "c" else g.rng.choice(["set", "add"])
    if method in ("min", "max") and not a.exact:
        g.no_grad = True
    if g.rng.rand() < 0.3:
        c = {"f": 1.5, "i": 2, "c": 1.5}[a.kind]
        return g.emit(f"jnp.asarray({{0}}).at[{idx}].{method}({c!r})", [a], a.shape, a.dtype, "at", a.bound * 2 + 2,
                      a.exact and (a.kind == "i" or method in ("set", "min", "max")))
    k = g.rng.randint(len(sub) + 1)
    val = g.pick(lambda v: v.dtype == a.dtype and v.shape == sub[k:]) or g.fresh(sub[k:], a.dtype)
    a, val = g.scaled_var(a, 30.0), g.scaled_var(val, 30.0)
    return g.emit(f"jnp.asarray({{0}}).at[{idx}].{method}({{1}})", [a, val], a.shape, a.dtype, "at",
                  a.bound * val.bound + a.bound + val.bound, a.exact and val.exact and a.kind == "i")


# --- control flow ------------------------------------------------------------------------------------------------
def _body(g: Builder, kind: str, var: str) -> str:
    """A shape- and dtype-preserving, magnitude-contracting expression of ``var``."""
    choices = {"f": [f"jnp.sin({var}) + {var} * 0.5", f"jnp.tanh({var}) * 1.5", f"{var} * 0.5 - 0.25",
                     f"jnp.cos({var})"],
               "c": [f"{var} * 0.5 + 0.25", f"jnp.conj({var}) * 0.5"],
               "i": [f"{var} + 1", f"{var} * 2 - 3", f"-{var}"],
               "b": [f"jnp.logical_not({var})"]}[kind]
    return choices[g.rng.randint(len(choices))]


def _pred(g: Builder) -> tuple[str, Var]:
    p = g.pick(lambda v: v.exact and v.kind in "fib" and v.size > 0) or g.fresh((), "int32")
    return ("jnp.any({0})" if p.kind == "b" else "jnp.sum({0}) > 0"), p


def gen_cond(g: Builder) -> Var | None:
    a = g.pick()
    if a is None:
        return None
    a = g.scaled_var(a, 8.0)
    pred, p = _pred(g)
    b1, b2 = _body(g, a.kind, "t"), _body(g, a.kind, "t")
    expr = f"lax.cond({pred.format('{1}')}, lambda t: {b1}, lambda t: {b2}, {{0}})"
    return g.emit(expr, [a, p], a.shape, a.dtype, "cond", max(a.bound, 1) * 2 + 3, a.exact and a.kind in "ib")


def gen_fori(g: Builder) -> Var | None:
    a = g.pick(lambda v: v.kind != "i")
    if a is None:
        return None
    a = g.scaled_var(a, 8.0)
    n = g.rng.randint(0, 4)
    return g.emit(f"lax.fori_loop(0, {n}, lambda i, c: {_body(g, a.kind, 'c')}, {{0}})", [a], a.shape, a.dtype,
                  "fori", max(a.bound, 1) * 2 + 3, a.exact and n == 0)


def gen_scan(g: Builder) -> Var | None:
    xs = g.pick(lambda v: v.kind in "fc" and v.shape != ())
    if xs is None:
        return None
    xs = g.scaled_var(xs, 8.0)
    c = g.pick(lambda v: v.shape == xs.shape[1:] and v.dtype == xs.dtype) or g.fresh(xs.shape[1:], xs.dtype)
    c = g.scaled_var(c, 8.0)
    which = g.rng.randint(2)
    body = _body(g, xs.kind, "c")
    expr = f"lax.scan(lambda c, x: ({body} + x, c * x), {{0}}, {{1}})[{which}]"
    n = xs.shape[0]
    bound = (max(c.bound, 1) * 2 + 3 + xs.bound * 1.5) * (n + 1)
    shape = c.shape if which == 0 else xs.shape
    return g.emit(expr, [c, xs], shape, xs.dtype, "scan", bound * (xs.bound if which else 1))


def gen_while(g: Builder) -> Var | None:
    a = g.pick()
    if a is None:
        return None
    a = g.scaled_var(a, 8.0)
    n = g.rng.randint(0, 4)
    g.no_grad = True  # reverse-mode differentiation of while_loop is not defined (as in JAX)
    expr = f"lax.while_loop(lambda s: s[0] < {n}, lambda s: (s[0] + 1, {_body(g, a.kind, 's[1]')}), (0, {{0}}))[1]"
    return g.emit(expr, [a], a.shape, a.dtype, "while", max(a.bound, 1) * 2 + 3, a.exact and a.kind in "ib")


GENERATORS = [(gen_unary, 6), (gen_binary, 6), (gen_scalar, 2), (gen_compare, 2), (gen_where, 2), (gen_cast, 2),
              (gen_reduce, 4), (gen_cumsum, 1), (gen_sort, 1), (gen_dot, 2), (gen_reshape, 2), (gen_transpose, 1),
              (gen_slice, 2), (gen_concat, 1), (gen_broadcast, 2), (gen_take, 1), (gen_at, 2), (gen_cond, 1),
              (gen_fori, 1), (gen_scan, 1), (gen_while, 1)]


def generate(seed: int) -> Program:
    """The random program for ``seed`` (the same seed always gives the same program)."""
    g = Builder(seed)
    for _ in range(g.rng.randint(1, 3)):
        g.fresh(g.shape(), g.dtype())
    weights = np.array([w for _, w in GENERATORS], dtype=float)
    n_ops = g.rng.randint(2, 16)
    tries = 0
    while len(g.ops) < n_ops and tries < 100:
        tries += 1
        gen = GENERATORS[g.rng.choice(len(GENERATORS), p=weights / weights.sum())][0]
        gen(g)
    if not g.ops:
        a = g.vars[g.inputs[0]]
        g.emit("-{0}" if a.kind != "b" else "jnp.logical_not({0})", [a], a.shape, a.dtype, "negative", a.bound,
               a.exact)
    return g.finish()
