"""The primitive reference, ``docs/primitives.md``, generated from the core's primitive table.

For every primitive of ``portax.core.primitives.primitive_groups()``: its meaning (``primitive_meanings``),
its parameters (the keywords its abstract evaluation rule takes, with an example from a conformance case),
the dtypes its abstract evaluation rule accepts (the rule is called on each dtype), the transformation
rules registered for it, and its edge cases as the reference backend computes them (``primitive_edges``).

    python -m portax.conformance.primitive_docs --out docs/primitives.md   # write the doc
    python -m portax.conformance.primitive_docs --check docs/primitives.md # exit 1 if it is stale
"""
from __future__ import annotations

import argparse
import difflib
import inspect
import sys
import zlib
from typing import Any, Sequence

import numpy as np

from portax.core import dtypes, trace
from portax.core.dtypes import short_name
from portax.core.interpreters.staging import closed_call_jaxpr
from portax.core.ir import ClosedJaxpr, Jaxpr, ShapedArray, iter_eqns, subjaxprs
from portax.core.primitives import primitive_groups
from portax.tree_util import tree_flatten

from .primitive_edges import EDGES
from .primitive_meanings import MEANINGS
from . import transforms
from .registry import Case, GenContext, generators_for
from .runner import REFERENCE, backend_under_test, x64

DOC_PATH = "docs/primitives.md"
COMMAND = f"python -m portax.conformance.primitive_docs --out {DOC_PATH}"
ALL_DTYPES = tuple(dtypes.SUPPORTED) + tuple(dtypes.CUSTOM_FLOATS) + tuple(dtypes.COMPLEX)
MAX_OBSERVED = 40  # traced conformance cases per primitive (enough to see every parameter and dtype)
MAX_EXAMPLE = 60  # longest parameter example shown


# --- what the conformance cases bind ------------------------------------------------------------------------
def _eqns_of(jaxpr: Jaxpr, prim: Any) -> list:
    """The equations of ``prim`` in ``jaxpr`` and in the jaxprs nested in its equations' parameters."""
    return [e for e in iter_eqns(jaxpr) if e.primitive is prim]


def _has_jaxprs(params: dict) -> bool:
    return any(True for _ in subjaxprs(params))


def _traced_eqns(prim: Any, fn: Any, args: Sequence[np.ndarray]) -> list:
    closed, _ = closed_call_jaxpr(lambda *xs: tree_flatten(fn(*xs))[0],
                                  [ShapedArray(np.shape(a), np.asarray(a).dtype) for a in args])
    return _eqns_of(closed.jaxpr, prim)


def _collective_eqns(prim: Any) -> list:
    """A collective's equations, from its conformance function traced inside a one-device ``pmap`` (under
    ``vmap(axis_name=)``, as the cases run it, the batching rule replaces the collective)."""
    import portax
    from .cases.collectives import AXIS, COLLECTIVES
    if prim not in COLLECTIVES:
        return []
    make_fn, shape_of, _ = COLLECTIVES[prim]
    x = np.zeros((1,) + shape_of(1), np.float32)
    closed = portax.make_jaxpr(portax.pmap(make_fn(1), axis_name=AXIS))(x)
    return [(np.dtype(np.float32), e) for e in _eqns_of(closed.jaxpr, prim)]


def observed(prim: Any) -> list:
    """``(case dtype, equation)`` pairs: how the conformance cases (through the ``lax`` wrappers) bind ``prim``."""
    rng = np.random.RandomState(zlib.crc32(prim.name.encode()))
    ctx = GenContext(ALL_DTYPES, rng)
    out = []
    for gen in generators_for(prim):
        for case in gen(ctx):
            try:
                eqns = _traced_eqns(prim, case.fn, case.args)
            except (TypeError, ValueError, NotImplementedError):  # a dtype the primitive rejects or lacks
                continue
            out += [(case.dtype, e) for e in eqns]
            if len(out) >= MAX_OBSERVED:
                return out
    return out or _collective_eqns(prim)


# --- parameters -------------------------------------------------------------------------------------------
def parameters(prim: Any, seen: list) -> list[tuple[str, str]]:
    """``(name, example)`` of every parameter: the abstract eval rule's keywords, plus the parameters the
    cases bind when the rule takes ``**params``."""
    sig = inspect.signature(trace.abstract_eval_rules[prim])
    kinds = {p.kind for p in sig.parameters.values()}
    names = [n for n, p in sig.parameters.items() if p.kind == p.KEYWORD_ONLY]
    if inspect.Parameter.VAR_KEYWORD in kinds:
        if not seen:
            raise RuntimeError(f"primitive '{prim.name}': its abstract eval rule takes **params and no conformance "
                               "case binds it, so its parameters cannot be listed; register cases for it")
        names += sorted({k for _, e in seen for k in e.params} - set(names))
    examples = {}
    for _, e in seen:
        for k, v in e.params.items():
            examples.setdefault(k, v)
    return [(n, _example(examples[n]) if n in examples else "") for n in names]


def _example(value: Any) -> str:
    if isinstance(value, np.dtype):
        return short_name(value)
    if isinstance(value, type) and issubclass(value, np.generic):
        return short_name(np.dtype(value))
    if isinstance(value, (ClosedJaxpr, Jaxpr)):
        return "a jaxpr"
    if _has_jaxprs({"": value}):
        return "jaxprs"
    if callable(value):
        return "a function"
    text = repr(value)
    return text if len(text) <= MAX_EXAMPLE else f"{type(value).__name__}(...)"


# --- dtypes -----------------------------------------------------------------------------------------------
def _varied(case_dtype: np.dtype, eqn: Any) -> np.dtype:
    """The dtype a case stands for: its report dtype if an operand has it, else its first operand's dtype."""
    ins = [v.aval.dtype for v in eqn.inputs]
    return case_dtype if case_dtype in ins or not ins else ins[0]


def _substitute(case_dtype: np.dtype, eqn: Any, new: np.dtype) -> tuple[list, dict]:
    """The equation's operand avals and params with the varied dtype replaced by ``new``: in the operands, or
    in the dtype parameters of a primitive without operands (``iota``)."""
    old = _varied(case_dtype, eqn)
    avals = [v.aval.update(dtype=new) if v.aval.dtype == old else v.aval for v in eqn.inputs]
    params = dict(eqn.params)
    if not avals:
        params = {k: new if isinstance(v, np.dtype) and v == old else v for k, v in params.items()}
    return avals, params


def _out_dtypes(prim: Any, avals: list, params: dict) -> tuple | None:
    """The output dtypes, each as the name of the dtype parameter that sets it if one does, else a dtype."""
    try:
        out = trace.abstract_eval_rules[prim](*avals, **params)
    except (TypeError, ValueError, NotImplementedError):
        return None
    outs = out if prim.multiple_results else [out]
    if "result_avals" in params:  # a host callback declares its results
        return tuple("the `result_avals` parameter" for _ in outs)
    by_param = {v: f"the `{k}` parameter" for k, v in params.items() if isinstance(v, np.dtype)}
    return tuple(by_param.get(np.dtype(o.dtype), np.dtype(o.dtype)) for o in outs)


def accepted_dtypes(prim: Any, seen: list) -> dict:
    """``{dtype: output dtypes}`` for the dtypes the abstract eval rule accepts: each observed equation is
    re-evaluated with its case's dtype replaced by every dtype in turn; a dtype that one of them takes counts."""
    accepted = {}
    for dt in ALL_DTYPES:
        for case_dtype, eqn in seen:
            outs = _out_dtypes(prim, *_substitute(case_dtype, eqn, dt))
            if outs is not None:
                accepted[dt] = outs
                break
    return accepted


def _dtype_list(dts: Sequence[np.dtype]) -> str:
    return ", ".join(short_name(d) for d in dts)


def dtype_text(prim: Any, seen: list) -> str:
    if not seen:
        return "not derived: no conformance case binds it outside a transformation."
    if any(_has_jaxprs(e.params) for _, e in seen):
        return "those of its jaxpr parameters (operands must match the jaxpr's input types)."
    acc = accepted_dtypes(prim, seen)
    if not any(e.inputs for _, e in seen):
        dparams = sorted({k for _, e in seen for k, v in e.params.items() if isinstance(v, np.dtype)})
        if not dparams:
            return f"no operands. Output: {_output_text(acc)}."
        return f"no operands; `{'`, `'.join(dparams)}` may be {_dtype_list(acc)}. Output: {_output_text(acc)}."
    rejected = [d for d in ALL_DTYPES if d not in acc]
    text = _dtype_list(acc) + (f"; rejects {_dtype_list(rejected)}" if rejected else "")
    return f"{text}. Output: {_output_text(acc)}."


def _output_text(acc: dict) -> str:
    n_out = len(next(iter(acc.values())))
    if not n_out:
        return "none (no results)"
    parts = []
    for j in range(n_out):
        outs = {d: o[j] for d, o in acc.items()}
        differ = {d: o for d, o in outs.items() if o != d}
        names = {o if isinstance(o, str) else short_name(o) for o in outs.values()}
        if not differ:
            parts.append("the operand dtype")
        elif len(names) == 1:
            parts.append(names.pop())
        else:
            mapped = ", ".join(f"{short_name(d)} → {o if isinstance(o, str) else short_name(o)}"
                               for d, o in differ.items())
            parts.append(mapped + ("; otherwise the operand dtype" if len(differ) < len(outs) else ""))
    return parts[0] if n_out == 1 else "; ".join(f"result {j}: {p}" for j, p in enumerate(parts))


# --- transformation rules ----------------------------------------------------------------------------------
def rule_tables() -> list[tuple[str, dict]]:
    """The rule tables of ``portax.core.trace`` (``*_rules``), in definition order, abstract eval excluded."""
    return [(name[:-len("_rules")], table) for name, table in vars(trace).items()
            if name.endswith("_rules") and isinstance(table, dict) and name != "abstract_eval_rules"]


def rules_text(prim: Any) -> str:
    have = [name for name, table in rule_tables() if prim in table]
    lack = [name for name, table in rule_tables() if prim not in table]
    text = ", ".join(have) if have else "none"
    if lack:
        text += f" (none for {', '.join(lack)})"
    if prim in trace.higher_order_primitives:
        text += "; higher-order (passes recurse into its jaxpr parameters)"
    return text


# --- edge cases on the reference backend ---------------------------------------------------------------------
def _value(v: Any, nan_sign: bool) -> str:
    if isinstance(v, (np.floating, float)) and np.isnan(v):
        return "-nan" if nan_sign and np.signbit(v) else "nan"
    if isinstance(v, np.float16):  # numpy prints float16 with 3 digits (65504 as 6.55e+04)
        return repr(float(v))
    return str(v)


def _nested(a: np.ndarray, nan_sign: bool) -> str:
    if a.ndim == 0:
        return _value(a[()], nan_sign)
    return "[" + ", ".join(_nested(x, nan_sign) for x in a) + "]"


def format_array(a: np.ndarray, nan_sign: bool = True) -> str:
    """``f32 [1.0, nan]``, ``i32[2, 1] [[1], [2]]``, ``f32[] 0.0``. The sign of a NaN is shown when
    ``nan_sign`` (operands); results print every NaN as ``nan``, as the sign of a NaN made by an invalid
    operation differs between CPUs (x86 sets it, ARM does not)."""
    a = np.asarray(a)
    return f"{short_name(a.dtype)}{list(a.shape) if a.ndim != 1 else ''} {_nested(a, nan_sign)}"


def edge_rows(prim: Any) -> list[tuple[str, str, str]]:
    """``(call, operands, result)`` per edge case of ``prim``, computed by the reference backend."""
    rows = []
    for edge in EDGES.get(prim.name, ()):
        args = [np.asarray(a) for a in edge.args]
        if not _traced_eqns(prim, edge.fn, args):
            raise RuntimeError(f"edge case '{edge.call}' of '{prim.name}' does not bind {prim.name}")
        case = Case(prim, args[0].dtype, args, fn=edge.fn)
        outs = transforms.run(case, "eval", "contiguous", REFERENCE)
        if len(edge.names) < len(args):
            raise RuntimeError(f"edge case '{edge.call}' of '{prim.name}' names {len(edge.names)} of its "
                               f"{len(args)} operands")
        operands = "; ".join(f"{n} = {format_array(a)}" for n, a in zip(edge.names, args))
        rows.append((edge.call, operands, "; ".join(format_array(o, nan_sign=False) for o in outs)))
    return rows


# --- the document ----------------------------------------------------------------------------------------------
HEADER = f"""# Primitive reference

<!-- Generated from the primitive table by `{COMMAND}`. Do not edit by hand:
     tests/conformance/test_primitive_docs.py fails when this file is stale. -->

Every primitive of the core (`portax.core.primitives.all_primitives()`), grouped by the module that defines
it. For each one:

- **Parameters**: the keyword parameters its abstract evaluation rule takes, with an example value from the
  conformance cases (how the `lax` wrappers bind it).
- **Dtypes**: the operand dtypes its abstract evaluation rule accepts (the rule is called on each dtype; the
  other operands keep the dtypes of a conformance case), and the output dtype.
- **Rules**: the `*_rules` tables of `portax.core.trace` that have a rule for it (`impl`: evaluated in Python
  rather than compiled by a backend).
- **Edge cases**: inputs at the edges of its domain and what the reference backend (`portax-reference`, the
  conformance suite's oracle) returns for them, computed when this file was generated. The suite compares
  every backend with the reference backend, so these are the results a backend must give.

Dtype names are JAX's short names (f32, i32, u8, bool, c64, ...). In operands `-nan` is a NaN with its sign
bit set; results print every NaN as `nan` (the sign of a NaN made by an invalid operation depends on the CPU).
"""


def _section(prim: Any) -> list[str]:
    seen = observed(prim)
    params = parameters(prim, seen)
    ptext = ", ".join(f"`{n}` (e.g. `{ex}`)" if ex else f"`{n}`" for n, ex in params) or "none"
    lines = [f"### `{prim.name}`", "", MEANINGS[prim.name], "",
             f"- **Parameters:** {ptext}.",
             f"- **Dtypes:** {dtype_text(prim, seen)}",
             f"- **Rules:** {rules_text(prim)}.",
             f"- **Multiple results:** {'yes' if prim.multiple_results else 'no'}.", ""]
    rows = edge_rows(prim)
    if rows:
        lines += ["Edge cases (reference backend):", "", "| call | operands | result |", "|---|---|---|"]
        lines += [f"| `{c}` | {o} | {r} |" for c, o, r in rows]
        lines.append("")
    return lines


def generate() -> str:
    """The text of ``docs/primitives.md`` (deterministic; runs the reference backend for the edge cases)."""
    backend_under_test(REFERENCE)
    groups = primitive_groups()
    names = [p.name for ps in groups.values() for p in ps]
    undocumented = [n for n in names if n not in MEANINGS]
    if undocumented:
        raise RuntimeError(f"primitive(s) without a description: {', '.join(undocumented)}; add a line for each to "
                           "MEANINGS in conformance/primitive_meanings.py")
    unknown = sorted(set(MEANINGS) - set(names))
    if unknown:
        raise RuntimeError(f"MEANINGS describes primitives that are not in the table: {', '.join(unknown)}")
    stray = sorted(set(EDGES) - set(names))
    if stray:
        raise RuntimeError(f"EDGES lists primitives that are not in the table: {', '.join(stray)}")
    lines = [HEADER, "## Contents", "", "| module | primitives |", "|---|---|"]
    for group, prims in groups.items():
        links = ", ".join(f"[`{p.name}`](#{p.name})" for p in prims)
        lines.append(f"| `{group}` | {links} |")
    lines.append("")
    with x64(True), np.errstate(all="ignore"):
        for group, prims in groups.items():
            lines += [f"## Module `core/primitives/{group}.py`", ""]
            for prim in prims:
                lines += _section(prim)
    return "\n".join(lines).rstrip("\n") + "\n"


def check(path: str, text: str) -> int:
    """0 if ``path`` holds ``text``; else print a diff and how to regenerate, and return 1."""
    try:
        with open(path, encoding="utf-8") as f:
            current = f.read()
    except FileNotFoundError:
        print(f"{path} does not exist; create it with: {COMMAND}", file=sys.stderr)
        return 1
    if current == text:
        return 0
    diff = list(difflib.unified_diff(current.splitlines(), text.splitlines(), path, "generated", lineterm="", n=1))
    shown = diff[:60] + ([f"... ({len(diff) - 60} more diff lines)"] if len(diff) > 60 else [])
    print("\n".join(shown), file=sys.stderr)
    print(f"{path} is stale (the primitive table or the reference backend changed); regenerate it with: {COMMAND}",
          file=sys.stderr)
    return 1


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m portax.conformance.primitive_docs",
                                     description=__doc__.split("\n")[0])
    parser.add_argument("--out", help="write the reference to this file (default: print it)")
    parser.add_argument("--check", metavar="FILE", help="exit 1 with a diff if FILE differs from the generated text")
    args = parser.parse_args(argv)
    text = generate()
    if args.check:
        return check(args.check, text)
    if args.out:
        with open(args.out, "w", encoding="utf-8") as f:
            f.write(text)
        return 0
    sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
