"""Decompositions and triangular_solve, one invocation per matrix (per right-hand-side column for
triangular_solve): the serial LAPACK algorithms in registers and device memory, meant for the small and
batched matrices of ML code rather than large dense factorisations.

* cholesky: the Cholesky-Banachiewicz recurrence on the lower triangle (all NaN if not positive definite);
* triangular_solve: forward/back substitution on the effective triangle (transposes folded into indexing);
* lu: getrf's partial pivoting (first largest magnitude), returning pivots and the permutation;
* qr: Householder reflections with LAPACK's sign convention (geqrf + orgqr);
* eigh: cyclic Jacobi rotations, eigenvalues ascending;
* svd: one-sided (Hestenes) Jacobi, singular values descending, U completed to a basis when full.

Everything uses only arithmetic and sqrt, so float64 works where the adapter has it; float16 is computed
in float32 scratch.
"""
from __future__ import annotations

import math

import numpy as np

from portax.core.ir import JaxprEqn, Var
from portax.core.primitives import linalg as la

from .kernel_writer import KernelWriter, u32, workgroups_for
from .lowering import lowering
from .program import LoweringContext, context_of
from .wgsl_types import WType, is_nan, load, special_float, store, wtype

THREADS = 64
JACOBI_SWEEPS = 40


def _work_dtype(dtype) -> np.dtype:
    return np.dtype(np.float32) if wtype(dtype).storage == "f16" else np.dtype(dtype)


class _Matrix:
    """Element access of the ``rows x cols`` matrix of batch ``bm`` in a buffer (row-major)."""

    def __init__(self, w: KernelWriter, slot, dtype, rows: int, cols: int, write: bool = False):
        self.t = wtype(dtype)
        self.name = w.buffer(slot, dtype, write=write)
        self.rows, self.cols = rows, cols

    def ref(self, i: str, j: str) -> str:
        return f"{self.name}[bm * {u32(self.rows * self.cols)} + ({i}) * {u32(self.cols)} + ({j})]"

    def get(self, i: str, j: str) -> str:
        return load(self.t, self.ref(i, j))

    def set(self, i: str, j: str, value: str) -> str:
        return f"{self.ref(i, j)} = {store(self.t, value)};"

    def fill(self, w: KernelWriter, value_of) -> None:
        """Every element (i, j) set to ``value_of("i", "j")``."""
        w.line(f"for (var e = 0u; e < {u32(self.rows * self.cols)}; e = e + 1u) {{")
        w.line(f"  let i = e / {u32(self.cols)};\n    let j = e % {u32(self.cols)};")
        w.line(f"  {self.set('i', 'j', value_of('i', 'j'))}")
        w.line("}")


def _for(var: str, lo: str, hi: int | str) -> str:
    """A WGSL loop header over ``lo <= var < hi``."""
    return f"for (var {var} = {lo}; {var} < {hi if isinstance(hi, str) else u32(hi)}; {var} = {var} + 1u) {{"


def _per_matrix(name: str, batch: int) -> KernelWriter:
    w = KernelWriter(name, THREADS)
    w.line(f"let bm = gid;\n  if (bm >= {u32(batch)}) {{ return; }}")
    return w


def _batch(var: Var) -> int:
    return math.prod(var.aval.shape[:-2])


def _zero(t: WType) -> str:
    return f"{t.reg}(0.0)"


@lowering(la.cholesky_p)
def _cholesky(ctx: LoweringContext, eqn: JaxprEqn) -> None:
    x, out = eqn.inputs[0], eqn.out_binders[0]
    n = x.aval.shape[-1]
    batch = _batch(x)
    if batch == 0 or n == 0:
        return
    w = _per_matrix("cholesky", batch)
    a, l = _Matrix(w, x, x.aval.dtype, n, n), _Matrix(w, out, out.aval.dtype, n, n, write=True)
    r = a.t.reg
    w.line("var ok = true;")
    w.line(f"for (var j = 0u; j < {u32(n)}; j = j + 1u) {{")
    w.line(f"  var s = {a.get('j', 'j')};")
    w.line(f"  for (var k = 0u; k < j; k = k + 1u) {{ let v = {l.get('j', 'k')}; s = s - v * v; }}")
    w.line(f"  if (!(s > {r}(0.0)) || {is_nan(a.t, 's')}) {{ ok = false; break; }}")
    w.line("  let d = sqrt(s);")
    w.line(f"  {l.set('j', 'j', 'd')}")
    w.line(f"  for (var i = j + 1u; i < {u32(n)}; i = i + 1u) {{")
    w.line(f"    var t = {a.get('i', 'j')};")
    w.line(f"    for (var k = 0u; k < j; k = k + 1u) {{ t = t - {l.get('i', 'k')} * {l.get('j', 'k')}; }}")
    w.line(f"    {l.set('i', 'j', 't / d')}")
    w.line(f"    {l.set('j', 'i', f'{r}(0.0)')}")
    w.line("  }")
    w.line("}")
    w.line(f"if (!ok) {{ for (var e = 0u; e < {u32(n * n)}; e = e + 1u) {{ "
           f"{l.set('e / ' + u32(n), 'e % ' + u32(n), special_float(a.t, float('nan')))} }} }}")
    ctx.launch(w, workgroups_for(batch, THREADS), context=context_of(eqn))


@lowering(la.triangular_solve_p)
def _triangular_solve(ctx: LoweringContext, eqn: JaxprEqn) -> None:
    """Left side: op(T) X = B. Right side: X op(T) = B, solved as op(T)^T X^T = B^T."""
    a, b = eqn.inputs
    out = eqn.out_binders[0]
    p = eqn.params
    n = a.aval.shape[-1]
    rows, cols = b.aval.shape[-2:]
    batch = _batch(b)
    rhs = cols if p["left_side"] else rows
    if batch * rhs == 0 or n == 0:
        return
    w = KernelWriter("triangular_solve", THREADS)
    w.line(f"let bm = gid / {u32(rhs)};\n  let c = gid % {u32(rhs)};")
    w.line(f"if (bm >= {u32(batch)}) {{ return; }}")
    am = _Matrix(w, a, a.aval.dtype, n, n)
    bm_ = _Matrix(w, b, b.aval.dtype, rows, cols)
    xm = _Matrix(w, out, out.aval.dtype, rows, cols, write=True)
    transposed = p["transpose_a"] != (not p["left_side"])  # effective T = tri(a) or its transpose
    lower = p["lower"] != transposed

    def t_elem(i: str, j: str) -> str:
        return am.get(j, i) if transposed else am.get(i, j)

    def bx(i: str) -> tuple[str, str]:
        """(row, column) of element i of the right-hand side being solved."""
        return (i, "c") if p["left_side"] else ("c", i)
    order = "ii" if lower else f"{u32(n - 1)} - ii"
    w.line(f"for (var ii = 0u; ii < {u32(n)}; ii = ii + 1u) {{")
    w.line(f"  let i = {order};")
    w.line(f"  var s = {bm_.get(*bx('i'))};")
    known = ("0u", "i") if lower else ("i + 1u", u32(n))
    w.line(f"  for (var k = {known[0]}; k < {known[1]}; k = k + 1u) {{ s = s - {t_elem('i', 'k')} * "
           f"{xm.get(*bx('k'))}; }}")
    diag = "s" if p["unit_diagonal"] else f"s / {t_elem('i', 'i')}"
    w.line(f"  {xm.set(*bx('i'), diag)}")
    w.line("}")
    ctx.launch(w, workgroups_for(batch * rhs, THREADS), context=context_of(eqn))


@lowering(la.lu_p)
def _lu(ctx: LoweringContext, eqn: JaxprEqn) -> None:
    x = eqn.inputs[0]
    lu, pivots, perm = eqn.out_binders
    m, n = x.aval.shape[-2:]
    k = min(m, n)
    batch = _batch(x)
    if batch == 0 or m == 0:
        return
    work = ctx.scratch(x.aval.shape, _work_dtype(x.aval.dtype), "lu work")
    w = _per_matrix("lu", batch)
    src = _Matrix(w, x, x.aval.dtype, m, n)
    a = _Matrix(w, work, work.dtype, m, n, write=True)
    out = _Matrix(w, lu, lu.aval.dtype, m, n, write=True)
    piv = w.buffer(pivots, np.int32, write=True)
    prm = w.buffer(perm, np.int32, write=True)
    a.fill(w, src.get)
    w.line(f"{_for('i', '0u', m)} {prm}[bm * {u32(m)} + i] = i32(i); }}")
    w.line(f"for (var j = 0u; j < {u32(k)}; j = j + 1u) {{")
    w.line(f"  var p = j;\n    var best = abs({a.get('j', 'j')});")
    w.line(f"  for (var i = j + 1u; i < {u32(m)}; i = i + 1u) {{ let v = abs({a.get('i', 'j')}); "
           "if (v > best) { best = v; p = i; } }")
    w.line(f"  {piv}[bm * {u32(k)} + j] = i32(p);")
    w.line("  if (p != j) {")
    w.line(f"    for (var c = 0u; c < {u32(n)}; c = c + 1u) {{ let tmp = {a.get('j', 'c')}; "
           f"{a.set('j', 'c', a.get('p', 'c'))} {a.set('p', 'c', 'tmp')} }}")
    w.line(f"    let tp = {prm}[bm * {u32(m)} + j]; {prm}[bm * {u32(m)} + j] = {prm}[bm * {u32(m)} + p]; "
           f"{prm}[bm * {u32(m)} + p] = tp;")
    w.line("  }")
    w.line(f"  let d = {a.get('j', 'j')};")
    w.line(f"  if (d != {_zero(a.t)}) {{ for (var i = j + 1u; i < {u32(m)}; i = i + 1u) {{ "
           f"{a.set('i', 'j', a.get('i', 'j') + ' / d')} }} }}")
    w.line(f"  for (var i = j + 1u; i < {u32(m)}; i = i + 1u) {{")
    w.line(f"    let f = {a.get('i', 'j')};")
    w.line(f"    {_for('c', 'j + 1u', n)}")
    w.line(f"      {a.set('i', 'c', a.get('i', 'c') + ' - f * ' + a.get('j', 'c'))}")
    w.line("    }")
    w.line("  }")
    w.line("}")
    out.fill(w, a.get)
    ctx.launch(w, workgroups_for(batch, THREADS), context=context_of(eqn))


@lowering(la.qr_p)
def _qr(ctx: LoweringContext, eqn: JaxprEqn) -> None:
    x = eqn.inputs[0]
    q_out, r_out = eqn.out_binders
    m, n = x.aval.shape[-2:]
    k = min(m, n)
    kq = q_out.aval.shape[-1]
    kr = r_out.aval.shape[-2]
    batch = _batch(x)
    if batch == 0:
        return
    wd = _work_dtype(x.aval.dtype)
    work = ctx.scratch(x.aval.shape, wd, "qr work")
    taus = ctx.scratch(x.aval.shape[:-2] + (max(k, 1),), wd, "qr tau")
    qwork = ctx.scratch(x.aval.shape[:-2] + (m, kq), wd, "qr q")
    w = _per_matrix("qr", batch)
    src = _Matrix(w, x, x.aval.dtype, m, n)
    a = _Matrix(w, work, wd, m, n, write=True)
    tau = w.buffer(taus, wd, write=True)
    q = _Matrix(w, qwork, wd, m, kq, write=True)
    r = a.t.reg
    a.fill(w, src.get)
    w.line(_for("j", "0u", k))
    w.line(f"  let alpha = {a.get('j', 'j')};")
    w.line(f"  var xn = {r}(0.0);")
    w.line(f"  for (var i = j + 1u; i < {u32(m)}; i = i + 1u) {{ let v = {a.get('i', 'j')}; xn = xn + v * v; }}")
    w.line(f"  var t = {r}(0.0);")
    w.line(f"  if (xn > {r}(0.0)) {{")
    w.line(f"    let beta = select(sqrt(alpha * alpha + xn), -sqrt(alpha * alpha + xn), alpha >= {r}(0.0));")
    w.line("    t = (beta - alpha) / beta;")
    w.line(f"    let scale = {r}(1.0) / (alpha - beta);")
    w.line(f"    for (var i = j + 1u; i < {u32(m)}; i = i + 1u) {{ {a.set('i', 'j', a.get('i', 'j') + ' * scale')} }}")
    w.line(f"    {a.set('j', 'j', 'beta')}")
    w.line(f"    for (var c = j + 1u; c < {u32(n)}; c = c + 1u) {{")
    w.line(f"      var s = {a.get('j', 'c')};")
    w.line(f"      {_for('i', 'j + 1u', m)} s = s + {a.get('i', 'j')} * {a.get('i', 'c')}; }}")
    w.line("      s = s * t;")
    w.line(f"      {a.set('j', 'c', a.get('j', 'c') + ' - s')}")
    w.line(f"      {_for('i', 'j + 1u', m)} {a.set('i', 'c', a.get('i', 'c') + ' - s * ' + a.get('i', 'j'))} }}")
    w.line("    }")
    w.line("  }")
    w.line(f"  {tau}[bm * {u32(max(k, 1))} + j] = t;")
    w.line("}")
    # Q = H_0 ... H_{k-1} applied to the first kq columns of the identity, accumulated backwards
    q.fill(w, lambda i, j: f"select({r}(0.0), {r}(1.0), {i} == {j})")
    w.line(f"for (var jj = 0u; jj < {u32(k)}; jj = jj + 1u) {{")
    w.line(f"  let j = {u32(k - 1)} - jj;")
    w.line(f"  let t = {tau}[bm * {u32(max(k, 1))} + j];")
    w.line(f"  for (var c = 0u; c < {u32(kq)}; c = c + 1u) {{")
    w.line(f"    var s = {q.get('j', 'c')};")
    w.line(f"    {_for('i', 'j + 1u', m)} s = s + {a.get('i', 'j')} * {q.get('i', 'c')}; }}")
    w.line("    s = s * t;")
    w.line(f"    {q.set('j', 'c', q.get('j', 'c') + ' - s')}")
    w.line(f"    {_for('i', 'j + 1u', m)} {q.set('i', 'c', q.get('i', 'c') + ' - s * ' + a.get('i', 'j'))} }}")
    w.line("  }")
    w.line("}")
    qo = _Matrix(w, q_out, q_out.aval.dtype, m, kq, write=True)
    ro = _Matrix(w, r_out, r_out.aval.dtype, kr, n, write=True)
    qo.fill(w, q.get)
    ro.fill(w, lambda i, j: f"select({r}(0.0), {a.get(f'min({i}, {u32(m - 1)})', j)}, {j} >= {i} && {i} < {u32(m)})")
    ctx.launch(w, workgroups_for(batch, THREADS), context=context_of(eqn))


def _jacobi_rotation(w: KernelWriter, r: str, app: str, aqq: str, apq: str) -> None:
    """Emit c, s of the rotation zeroing the (p, q) entry of a symmetric 2x2 block."""
    w.line(f"    let theta = ({aqq} - {app}) / ({r}(2.0) * {apq});")
    w.line(f"    let tt = select({r}(-1.0), {r}(1.0), theta >= {r}(0.0)) / (abs(theta) + sqrt(theta * theta + {r}(1.0)));")
    w.line(f"    let cs = {r}(1.0) / sqrt(tt * tt + {r}(1.0));")
    w.line("    let sn = tt * cs;")


@lowering(la.eigh_p)
def _eigh(ctx: LoweringContext, eqn: JaxprEqn) -> None:
    x = eqn.inputs[0]
    v_out, w_out = eqn.out_binders
    n = x.aval.shape[-1]
    batch = _batch(x)
    if batch == 0 or n == 0:
        return
    wd = _work_dtype(x.aval.dtype)
    work = ctx.scratch(x.aval.shape, wd, "eigh work")
    vecs = ctx.scratch(x.aval.shape, wd, "eigh vectors")
    w = _per_matrix("eigh", batch)
    src = _Matrix(w, x, x.aval.dtype, n, n)
    a = _Matrix(w, work, wd, n, n, write=True)
    v = _Matrix(w, vecs, wd, n, n, write=True)
    r = a.t.reg
    lower = eqn.params["lower"]
    stored = "i >= j" if lower else "i <= j"  # the triangle eigh reads; the other is its mirror
    w.line(f"for (var e = 0u; e < {u32(n * n)}; e = e + 1u) {{")
    w.line(f"  let i = e / {u32(n)};\n    let j = e % {u32(n)};")
    w.line(f"  let s0 = {src.get('j', 'i')};\n    let s1 = {src.get('i', 'j')};")
    w.line(f"  {a.set('i', 'j', f'select(s0, s1, {stored})')}")
    w.line(f"  {v.set('i', 'j', f'select({r}(0.0), {r}(1.0), i == j)')}")
    w.line("}")
    w.line(f"for (var sweep = 0; sweep < {JACOBI_SWEEPS}; sweep = sweep + 1) {{")
    w.line(f"  var off = {r}(0.0);\n    var total = {r}(0.0);")
    w.line(f"  for (var e = 0u; e < {u32(n * n)}; e = e + 1u) {{ let z = {a.get(f'e / {u32(n)}', f'e % {u32(n)}')}; "
           f"total = total + z * z; if (e / {u32(n)} != e % {u32(n)}) {{ off = off + z * z; }} }}")
    w.line(f"  if (off <= total * {r}(1e-30) || off == {r}(0.0)) {{ break; }}")
    w.line(f"  for (var p = 0u; p < {u32(n)}; p = p + 1u) {{ for (var q = p + 1u; q < {u32(n)}; q = q + 1u) {{")
    w.line(f"    let apq = {a.get('p', 'q')};")
    w.line(f"    if (apq == {r}(0.0)) {{ continue; }}")
    _jacobi_rotation(w, r, a.get("p", "p"), a.get("q", "q"), "apq")
    w.line(f"    for (var k = 0u; k < {u32(n)}; k = k + 1u) {{")
    w.line(f"      let akp = {a.get('k', 'p')};\n        let akq = {a.get('k', 'q')};")
    w.line(f"      {a.set('k', 'p', 'cs * akp - sn * akq')} {a.set('k', 'q', 'sn * akp + cs * akq')}")
    w.line("    }")
    w.line(f"    for (var k = 0u; k < {u32(n)}; k = k + 1u) {{")
    w.line(f"      let apk = {a.get('p', 'k')};\n        let aqk = {a.get('q', 'k')};")
    w.line(f"      {a.set('p', 'k', 'cs * apk - sn * aqk')} {a.set('q', 'k', 'sn * apk + cs * aqk')}")
    w.line(f"      let vkp = {v.get('k', 'p')};\n        let vkq = {v.get('k', 'q')};")
    w.line(f"      {v.set('k', 'p', 'cs * vkp - sn * vkq')} {v.set('k', 'q', 'sn * vkp + cs * vkq')}")
    w.line("    }")
    w.line("  } }")
    w.line("}")
    vo = _Matrix(w, v_out, v_out.aval.dtype, n, n, write=True)
    wt = wtype(w_out.aval.dtype)
    wo = w.buffer(w_out, wt.dtype, write=True)
    _sorted_columns(w, n, n, lambda j: a.get(j, j), v, vo, wo, wt, ascending=True)
    ctx.launch(w, workgroups_for(batch, THREADS), context=context_of(eqn))


def _sorted_columns(w: KernelWriter, rows: int, n: int, key, cols: _Matrix, dest: _Matrix | None, values: str,
                    vt: WType, ascending: bool, k: int | None = None) -> None:
    """Write ``values[j] = key(order[j])`` and (if ``dest``) ``dest[:, j] = cols[:, order[j]]`` for the
    first ``k`` positions of the stable sort of the keys (a selection sort per matrix)."""
    k = n if k is None else k
    better = "<" if ascending else ">"
    w.line(f"var order: array<u32, {n}>;")
    w.line(f"for (var j = 0u; j < {u32(n)}; j = j + 1u) {{ order[j] = j; }}")
    w.line(f"for (var j = 0u; j < {u32(n)}; j = j + 1u) {{")
    w.line("  var b = j;")
    w.line(f"  for (var i = j + 1u; i < {u32(n)}; i = i + 1u) {{ if ({key('order[i]')} {better} {key('order[b]')}) {{ b = i; }} }}")
    w.line("  let tmp = order[j]; order[j] = order[b]; order[b] = tmp;")
    w.line("}")
    w.line(f"for (var j = 0u; j < {u32(k)}; j = j + 1u) {{")
    w.line(f"  {values}[bm * {u32(k)} + j] = {store(vt, key('order[j]'))};")
    if dest is not None:
        w.line(f"  for (var i = 0u; i < {u32(rows)}; i = i + 1u) {{ {dest.set('i', 'j', cols.get('i', 'order[j]'))} }}")
    w.line("}")


@lowering(la.svd_p)
def _svd(ctx: LoweringContext, eqn: JaxprEqn) -> None:
    """One-sided Jacobi on the columns of A (of A^T when wide): A V = U S."""
    x = eqn.inputs[0]
    m, n = x.aval.shape[-2:]
    batch = _batch(x)
    k = min(m, n)
    if batch == 0 or k == 0:
        return
    wide = m < n
    rows, cols = (n, m) if wide else (m, n)  # work on a tall matrix: rows >= cols = k
    wd = _work_dtype(x.aval.dtype)
    work = ctx.scratch(x.aval.shape[:-2] + (rows, cols), wd, "svd work")
    vwork = ctx.scratch(x.aval.shape[:-2] + (cols, cols), wd, "svd v")
    basis = ctx.scratch(x.aval.shape[:-2] + (rows, rows), wd, "svd basis")
    w = _per_matrix("svd", batch)
    src = _Matrix(w, x, x.aval.dtype, m, n)
    a = _Matrix(w, work, wd, rows, cols, write=True)
    v = _Matrix(w, vwork, wd, cols, cols, write=True)
    r = a.t.reg
    get_src = (lambda i, j: src.get(j, i)) if wide else src.get
    w.line(f"for (var e = 0u; e < {u32(rows * cols)}; e = e + 1u) {{ let i = e / {u32(cols)}; let j = e % {u32(cols)}; "
           f"{a.set('i', 'j', get_src('i', 'j'))} }}")
    w.line(f"for (var e = 0u; e < {u32(cols * cols)}; e = e + 1u) {{ {v.set(f'e / {u32(cols)}', f'e % {u32(cols)}', f'select({r}(0.0), {r}(1.0), e / {u32(cols)} == e % {u32(cols)})')} }}")
    w.line(f"for (var sweep = 0; sweep < {JACOBI_SWEEPS}; sweep = sweep + 1) {{")
    w.line("  var rotated = false;")
    w.line(f"  for (var p = 0u; p < {u32(cols)}; p = p + 1u) {{ for (var q = p + 1u; q < {u32(cols)}; q = q + 1u) {{")
    w.line(f"    var alpha = {r}(0.0);\n      var beta = {r}(0.0);\n      var gamma = {r}(0.0);")
    w.line(f"    for (var i = 0u; i < {u32(rows)}; i = i + 1u) {{ let ap = {a.get('i', 'p')}; let aq = {a.get('i', 'q')}; "
           "alpha = alpha + ap * ap; beta = beta + aq * aq; gamma = gamma + ap * aq; }")
    eps = "1e-15" if a.t.is_64 else "1e-7"
    w.line(f"    if (abs(gamma) <= {r}({eps}) * sqrt(alpha * beta) || gamma == {r}(0.0)) {{ continue; }}")
    w.line("    rotated = true;")
    _jacobi_rotation(w, r, "alpha", "beta", "gamma")
    w.line(f"    for (var i = 0u; i < {u32(rows)}; i = i + 1u) {{ let ap = {a.get('i', 'p')}; let aq = {a.get('i', 'q')}; "
           f"{a.set('i', 'p', 'cs * ap - sn * aq')} {a.set('i', 'q', 'sn * ap + cs * aq')} }}")
    w.line(f"    for (var i = 0u; i < {u32(cols)}; i = i + 1u) {{ let vp = {v.get('i', 'p')}; let vq = {v.get('i', 'q')}; "
           f"{v.set('i', 'p', 'cs * vp - sn * vq')} {v.set('i', 'q', 'sn * vp + cs * vq')} }}")
    w.line("  } }")
    w.line("  if (!rotated) { break; }")
    w.line("}")
    # singular values are the column norms; U's columns the normalised columns
    w.line(f"var sv: array<{r}, {cols}>;")
    w.line(f"for (var j = 0u; j < {u32(cols)}; j = j + 1u) {{ var s = {r}(0.0); "
           f"for (var i = 0u; i < {u32(rows)}; i = i + 1u) {{ let z = {a.get('i', 'j')}; s = s + z * z; }} sv[j] = sqrt(s); }}")
    outs = eqn.out_binders
    st = wtype(outs[0].aval.dtype)
    s_name = w.buffer(outs[0], st.dtype, write=True)
    if not eqn.params["compute_uv"]:
        _sorted_columns(w, cols, cols, lambda j: f"sv[{j}]", v, None, s_name, st, ascending=False)
        ctx.launch(w, workgroups_for(batch, THREADS), context=context_of(eqn))
        return
    u_out, vt_out = outs[1], outs[2]
    b = _Matrix(w, basis, wd, rows, rows, write=True)
    # left vectors of the tall problem, completed to an orthonormal basis of R^rows (modified Gram-Schmidt)
    _sorted_columns(w, cols, cols, lambda j: f"sv[{j}]", v, None, s_name, st, ascending=False)
    w.line(f"for (var j = 0u; j < {u32(cols)}; j = j + 1u) {{")
    w.line("  let src_col = order[j];")
    w.line(f"  let inv = select({r}(0.0), {r}(1.0) / sv[src_col], sv[src_col] > {r}(0.0));")
    w.line(f"  for (var i = 0u; i < {u32(rows)}; i = i + 1u) {{ {b.set('i', 'j', a.get('i', 'src_col') + ' * inv')} }}")
    w.line("}")
    w.line(f"var filled = 0u;\n  for (var j = 0u; j < {u32(cols)}; j = j + 1u) {{ if (sv[order[j]] > {r}(0.0)) {{ filled = j + 1u; }} }}")
    w.line(f"for (var cand = 0u; cand < {u32(rows)} && filled < {u32(rows)}; cand = cand + 1u) {{")
    w.line(f"  for (var i = 0u; i < {u32(rows)}; i = i + 1u) {{ {b.set('i', 'filled', f'select({r}(0.0), {r}(1.0), i == cand)')} }}")
    w.line("  for (var round = 0; round < 2; round = round + 1) {")
    w.line("    for (var j = 0u; j < filled; j = j + 1u) {")
    w.line(f"      var d = {r}(0.0);\n        for (var i = 0u; i < {u32(rows)}; i = i + 1u) {{ d = d + {b.get('i', 'j')} * {b.get('i', 'filled')}; }}")
    w.line(f"      for (var i = 0u; i < {u32(rows)}; i = i + 1u) {{ {b.set('i', 'filled', b.get('i', 'filled') + ' - d * ' + b.get('i', 'j'))} }}")
    w.line("    }")
    w.line("  }")
    w.line(f"  var nn = {r}(0.0);\n    for (var i = 0u; i < {u32(rows)}; i = i + 1u) {{ let z = {b.get('i', 'filled')}; nn = nn + z * z; }}")
    w.line(f"  if (nn > {r}(0.25)) {{ let inv = {r}(1.0) / sqrt(nn); "
           f"for (var i = 0u; i < {u32(rows)}; i = i + 1u) {{ {b.set('i', 'filled', b.get('i', 'filled') + ' * inv')} }} filled = filled + 1u; }}")
    w.line("}")
    # tall: U = basis[:, :ku], V^T = V[:, order]^T; wide (A^T = B S W^T): U = W[:, order], V^T = basis^T
    uo = _Matrix(w, u_out, u_out.aval.dtype, *u_out.aval.shape[-2:], write=True)
    vo = _Matrix(w, vt_out, vt_out.aval.dtype, *vt_out.aval.shape[-2:], write=True)
    ku, kv = u_out.aval.shape[-1], vt_out.aval.shape[-2]
    if wide:
        w.line(f"for (var i = 0u; i < {u32(m)}; i = i + 1u) {{ for (var j = 0u; j < {u32(ku)}; j = j + 1u) {{ "
               f"{uo.set('i', 'j', v.get('i', 'order[j]'))} }} }}")
        w.line(f"for (var i = 0u; i < {u32(kv)}; i = i + 1u) {{ for (var j = 0u; j < {u32(n)}; j = j + 1u) {{ "
               f"{vo.set('i', 'j', b.get('j', 'i'))} }} }}")
    else:
        w.line(f"for (var i = 0u; i < {u32(m)}; i = i + 1u) {{ for (var j = 0u; j < {u32(ku)}; j = j + 1u) {{ "
               f"{uo.set('i', 'j', b.get('i', 'j'))} }} }}")
        w.line(f"for (var i = 0u; i < {u32(kv)}; i = i + 1u) {{ for (var j = 0u; j < {u32(n)}; j = j + 1u) {{ "
               f"{vo.set('i', 'j', v.get('j', 'order[i]'))} }} }}")
    ctx.launch(w, workgroups_for(batch, THREADS), context=context_of(eqn))
