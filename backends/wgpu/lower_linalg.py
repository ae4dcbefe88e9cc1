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
in float32 scratch. Complex matrices (``complex_linalg``) are not implemented: NotImplementedError.
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
        w.loops(self.rows * self.cols)
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


@lowering(la.complex_linalg_p)
def _complex_linalg(ctx: LoweringContext, eqn: JaxprEqn) -> None:
    dt = np.dtype(eqn.inputs[0].aval.dtype)
    raise NotImplementedError(f"wgpu backend: {eqn.params['op']} of complex matrices (complex{dt.itemsize * 16}) is "
                              "not implemented; the cpu_llvm and reference backends compute it")


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
    w.loops(sum(1 + j + (n - j - 1) * (1 + j) for j in range(n)) + n * n)
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
    w.loops(n + n * (n - 1) // 2)
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
    w.loops(m + sum(1 + n + 2 * (m - j - 1) + (m - j - 1) * (n - j) for j in range(k)))
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
    w.loops(sum(1 + 2 * (m - j - 1) + (n - j - 1) * (1 + 2 * (m - j - 1)) for j in range(k))
            + sum(1 + kq * (1 + 2 * (m - j - 1)) for j in range(k)))
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
    w.line(f"  let j = {u32(max(k - 1, 0))} - jj;")
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
    last_row = u32(max(m - 1, 0))
    ro.fill(w, lambda i, j: f"select({r}(0.0), {a.get(f'min({i}, {last_row})', j)}, {j} >= {i} && {i} < {u32(m)})")
    ctx.launch(w, workgroups_for(batch, THREADS), context=context_of(eqn))


def _jacobi_rotation(w: KernelWriter, r: str, app: str, aqq: str, apq: str) -> None:
    """Emit ``cs``, ``sn`` of the rotation zeroing the (p, q) entry of a symmetric 2x2 block."""
    w.line(f"    let theta = ({aqq} - {app}) / ({r}(2.0) * {apq});")
    w.line(f"    let tt = select({r}(-1.0), {r}(1.0), theta >= {r}(0.0)) / "
           f"(abs(theta) + sqrt(theta * theta + {r}(1.0)));")
    w.line(f"    let cs = {r}(1.0) / sqrt(tt * tt + {r}(1.0));")
    w.line("    let sn = tt * cs;")


def _rotate(w: KernelWriter, m: _Matrix, at_p, at_q, k: str, n: int) -> None:
    """Rotate the pair of rows or columns ``at_p(k)``, ``at_q(k)`` of ``m`` by (cs, sn), k < n."""
    w.line(f"    {_for(k, '0u', n)}")
    w.line(f"      let xp = {m.get(*at_p(k))};\n        let xq = {m.get(*at_q(k))};")
    w.line(f"      {m.set(*at_p(k), 'cs * xp - sn * xq')} {m.set(*at_q(k), 'sn * xp + cs * xq')}")
    w.line("    }")


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
    stored = ">=" if eqn.params["lower"] else "<="  # the triangle eigh reads; the other is its mirror
    a.fill(w, lambda i, j: f"select({src.get(j, i)}, {src.get(i, j)}, {i} {stored} {j})")
    v.fill(w, lambda i, j: f"select({r}(0.0), {r}(1.0), {i} == {j})")
    w.loops(JACOBI_SWEEPS * (1 + n + n * n + n + n * (n - 1) // 2 * (1 + 3 * n)) + 2 * n)
    w.line(f"for (var sweep = 0; sweep < {JACOBI_SWEEPS}; sweep = sweep + 1) {{")
    w.line(f"  var off = {r}(0.0);\n    var total = {r}(0.0);")
    w.line(f"  {_for('i', '0u', n)} {_for('j', '0u', n)}")
    w.line(f"    let z = {a.get('i', 'j')};\n      total = total + z * z;")
    w.line("    if (i != j) { off = off + z * z; }")
    w.line("  } }")
    w.line(f"  if (off <= total * {r}(1e-30) || off == {r}(0.0)) {{ break; }}")
    w.line(f"  {_for('p', '0u', n)} {_for('q', 'p + 1u', n)}")
    w.line(f"    let apq = {a.get('p', 'q')};")
    w.line(f"    if (apq == {r}(0.0)) {{ continue; }}")
    _jacobi_rotation(w, r, a.get("p", "p"), a.get("q", "q"), "apq")
    _rotate(w, a, lambda k: (k, "p"), lambda k: (k, "q"), "k", n)
    _rotate(w, a, lambda k: ("p", k), lambda k: ("q", k), "k", n)
    _rotate(w, v, lambda k: (k, "p"), lambda k: (k, "q"), "k", n)
    w.line("  } }")
    w.line("}")
    vo = _Matrix(w, v_out, v_out.aval.dtype, n, n, write=True)
    wt = wtype(w_out.aval.dtype)
    _sort_order(w, n, lambda j: a.get(j, j), ascending=True)
    w.line(f"{_for('j', '0u', n)} {w.buffer(w_out, wt.dtype, write=True)}[bm * {u32(n)} + j] = "
           f"{store(wt, a.get('order[j]', 'order[j]'))}; }}")
    vo.fill(w, lambda i, j: v.get(i, f"order[{j}]"))
    ctx.launch(w, workgroups_for(batch, THREADS), context=context_of(eqn))


def _sort_order(w: KernelWriter, n: int, key, ascending: bool) -> None:
    """Declare ``order``: the indices 0..n-1 stably sorted by ``key(index)`` (a selection sort)."""
    better = "<" if ascending else ">"
    w.loops(2 * n + n * (n - 1) // 2)
    w.line(f"var order: array<u32, {n}>;")
    w.line(f"{_for('j', '0u', n)} order[j] = j; }}")
    w.line(_for("j", "0u", n))
    w.line("  var b = j;")
    w.line(f"  {_for('i', 'j + 1u', n)} if ({key('order[i]')} {better} {key('order[b]')}) {{ b = i; }} }}")
    w.line("  let tmp = order[j];\n    order[j] = order[b];\n    order[b] = tmp;")
    w.line("}")


@lowering(la.svd_p)
def _svd(ctx: LoweringContext, eqn: JaxprEqn) -> None:
    """One-sided Jacobi on the columns of A (of A^T when wide): A V = U S."""
    x = eqn.inputs[0]
    m, n = x.aval.shape[-2:]
    batch = _batch(x)
    if batch == 0 or min(m, n) == 0:
        return
    wide = m < n
    rows, cols = (n, m) if wide else (m, n)  # work on a tall matrix: rows >= cols = min(m, n)
    wd = _work_dtype(x.aval.dtype)
    lead = x.aval.shape[:-2]
    w = _per_matrix("svd", batch)
    src = _Matrix(w, x, x.aval.dtype, m, n)
    a = _Matrix(w, ctx.scratch(lead + (rows, cols), wd, "svd work"), wd, rows, cols, write=True)
    v = _Matrix(w, ctx.scratch(lead + (cols, cols), wd, "svd v"), wd, cols, cols, write=True)
    r = a.t.reg
    a.fill(w, (lambda i, j: src.get(j, i)) if wide else src.get)
    v.fill(w, lambda i, j: f"select({r}(0.0), {r}(1.0), {i} == {j})")
    w.loops(JACOBI_SWEEPS * (1 + cols + cols * (cols - 1) // 2 * (1 + 2 * rows + cols)) + cols * (2 + rows))
    w.line(f"for (var sweep = 0; sweep < {JACOBI_SWEEPS}; sweep = sweep + 1) {{")
    w.line("  var rotated = false;")
    w.line(f"  {_for('p', '0u', cols)} {_for('q', 'p + 1u', cols)}")
    w.line(f"    var alpha = {r}(0.0);\n      var beta = {r}(0.0);\n      var gamma = {r}(0.0);")
    w.line(f"    {_for('i', '0u', rows)}")
    w.line(f"      let ap = {a.get('i', 'p')};\n        let aq = {a.get('i', 'q')};")
    w.line("      alpha = alpha + ap * ap;\n        beta = beta + aq * aq;\n        gamma = gamma + ap * aq;")
    w.line("    }")
    eps = "1e-15" if a.t.is_64 else "1e-7"
    w.line(f"    if (abs(gamma) <= {r}({eps}) * sqrt(alpha * beta) || gamma == {r}(0.0)) {{ continue; }}")
    w.line("    rotated = true;")
    _jacobi_rotation(w, r, "alpha", "beta", "gamma")
    _rotate(w, a, lambda k: (k, "p"), lambda k: (k, "q"), "i", rows)
    _rotate(w, v, lambda k: (k, "p"), lambda k: (k, "q"), "i", cols)
    w.line("  } }")
    w.line("  if (!rotated) { break; }")
    w.line("}")
    # singular values are the column norms, sorted descending; U's columns the normalised columns
    w.line(f"var sv: array<{r}, {cols}>;")
    w.line(f"{_for('j', '0u', cols)}\n    var s = {r}(0.0);")
    w.line(f"  {_for('i', '0u', rows)} let z = {a.get('i', 'j')}; s = s + z * z; }}")
    w.line("  sv[j] = sqrt(s);\n  }")
    _sort_order(w, cols, lambda j: f"sv[{j}]", ascending=False)
    s_out = eqn.out_binders[0]
    st = wtype(s_out.aval.dtype)
    w.line(f"{_for('j', '0u', cols)} {w.buffer(s_out, st.dtype, write=True)}[bm * {u32(cols)} + j] = "
           f"{store(st, 'sv[order[j]]')}; }}")
    if eqn.params["compute_uv"]:
        _svd_vectors(w, ctx, eqn, a, v, rows, cols, wide, wd)
    ctx.launch(w, workgroups_for(batch, THREADS), context=context_of(eqn))


def _svd_vectors(w: KernelWriter, ctx: LoweringContext, eqn: JaxprEqn, a: _Matrix, v: _Matrix, rows: int, cols: int,
                 wide: bool, wd) -> None:
    """U and V^T from the rotated columns: the tall problem's left vectors, completed to an orthonormal
    basis of R^rows by Gram-Schmidt against the unit vectors (needed when full or rank-deficient)."""
    x, (_, u_out, vt_out) = eqn.inputs[0], eqn.out_binders
    r = a.t.reg
    b = _Matrix(w, ctx.scratch(x.aval.shape[:-2] + (rows, rows), wd, "svd basis"), wd, rows, rows, write=True)
    w.loops(cols * (2 + rows) + rows * (2 + 2 * rows + 2 * rows * (1 + 2 * rows)))
    w.line(_for("j", "0u", cols))
    w.line(f"  let inv = select({r}(0.0), {r}(1.0) / sv[order[j]], sv[order[j]] > {r}(0.0));")
    w.line(f"  {_for('i', '0u', rows)} {b.set('i', 'j', a.get('i', 'order[j]') + ' * inv')} }}")
    w.line("}")
    w.line("var filled = 0u;")
    w.line(f"{_for('j', '0u', cols)} if (sv[order[j]] > {r}(0.0)) {{ filled = j + 1u; }} }}")
    w.line(f"for (var cand = 0u; cand < {u32(rows)} && filled < {u32(rows)}; cand = cand + 1u) {{")
    w.line(f"  {_for('i', '0u', rows)} {b.set('i', 'filled', f'select({r}(0.0), {r}(1.0), i == cand)')} }}")
    w.line("  for (var round = 0; round < 2; round = round + 1) {")
    w.line(f"    {_for('j', '0u', 'filled')}")
    w.line(f"      var d = {r}(0.0);")
    w.line(f"      {_for('i', '0u', rows)} d = d + {b.get('i', 'j')} * {b.get('i', 'filled')}; }}")
    minus = b.get("i", "filled") + " - d * " + b.get("i", "j")
    w.line(f"      {_for('i', '0u', rows)} {b.set('i', 'filled', minus)} }}")
    w.line("    }")
    w.line("  }")
    w.line(f"  var nn = {r}(0.0);")
    w.line(f"  {_for('i', '0u', rows)} let z = {b.get('i', 'filled')}; nn = nn + z * z; }}")
    w.line(f"  if (nn > {r}(0.25)) {{")
    w.line(f"    let inv = {r}(1.0) / sqrt(nn);")
    w.line(f"    {_for('i', '0u', rows)} {b.set('i', 'filled', b.get('i', 'filled') + ' * inv')} }}")
    w.line("    filled = filled + 1u;")
    w.line("  }")
    w.line("}")
    # tall: U = basis[:, :ku], V^T = V[:, order]^T; wide (A^T = B S W^T): U = W[:, order], V^T = basis^T
    uo = _Matrix(w, u_out, u_out.aval.dtype, *u_out.aval.shape[-2:], write=True)
    vo = _Matrix(w, vt_out, vt_out.aval.dtype, *vt_out.aval.shape[-2:], write=True)
    if wide:
        uo.fill(w, lambda i, j: v.get(i, f"order[{j}]"))
        vo.fill(w, lambda i, j: b.get(j, i))
    else:
        uo.fill(w, b.get)
        vo.fill(w, lambda i, j: v.get(j, f"order[{i}]"))
