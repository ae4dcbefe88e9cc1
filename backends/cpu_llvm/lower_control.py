"""Control flow in the generated program: cond as a switch, while and scan as loops whose carries live in
two buffers used alternately (the body reads one and writes the other), and calls inlined."""
from __future__ import annotations

from llvmlite import ir

from portax.core.ir import ShapedArray
from portax.core.primitives import call, control_flow as cf, custom_derivatives as cd, solves

from . import lltypes as T
from .codegen import Buf
from .irutil import clamp_index, entry_alloca, for_range, gep, i64
from .lower_structural import load_index
from .program import Lowering, opaque

_BODY = {call.pjit_p: "jaxpr", call.checkpoint_p: "jaxpr", cd.custom_jvp_call_p: "call_jaxpr",
         cd.custom_vjp_call_p: "call_jaxpr", solves.linear_solve_p: "solve"}


@opaque(*_BODY)
def _call(lw: Lowering, eqn, ins, outs):
    lw.closed_call(eqn.params[_BODY[eqn.primitive]], ins, outs)


@opaque(cf.cond_p)
def _cond(lw: Lowering, eqn, ins, outs):
    branches = eqn.params["branches"]
    index, ops = ins[0], ins[1:]
    b = lw.b
    i = clamp_index(b, load_index(lw, index), 0, len(branches) - 1)
    done = b.append_basic_block("cond.done")
    blocks = [b.append_basic_block(f"cond.branch{k}") for k in range(len(branches))]
    sw = b.switch(i, blocks[-1])
    for k, blk in enumerate(blocks[:-1]):
        sw.add_case(i64(k), blk)
    for blk, br in zip(blocks, branches):
        b.position_at_end(blk)
        lw.closed_call(br, ops, outs)
        b.branch(done)
    b.position_at_end(done)


class _Carries:
    """Loop carries in two buffer sets A (the loop's outputs) and B (scratch), alternating per iteration."""

    def __init__(self, lw: Lowering, init: list[Buf], outs: list[Buf]):
        self.lw = lw
        self.a = outs
        self.b_set, self._offs = [], []
        for x in outs:
            buf, off = lw.scratch(x.aval)
            self.b_set.append(buf)
            self._offs.append(off)
        for dst, src in zip(outs, init):
            if dst.ptr is not src.ptr:
                lw.copy(dst, src)
        self.in_a = entry_alloca(lw.b, T.I1)
        lw.b.store(ir.Constant(T.I1, 1), self.in_a)

    def _pick(self, first: bool) -> list[Buf]:
        b = self.lw.b
        flag = b.load(self.in_a)
        return [Buf(b.select(flag, x.ptr, y.ptr) if first else b.select(flag, y.ptr, x.ptr), x.aval)
                for x, y in zip(self.a, self.b_set)]

    def current(self) -> list[Buf]:
        return self._pick(True)

    def other(self) -> list[Buf]:
        return self._pick(False)

    def flip(self) -> None:
        b = self.lw.b
        b.store(b.xor(b.load(self.in_a), ir.Constant(T.I1, 1)), self.in_a)

    def finish(self) -> None:
        """Leave the final carries in A and free B."""
        b = self.lw.b
        with b.if_then(b.xor(b.load(self.in_a), ir.Constant(T.I1, 1))):
            for dst, src in zip(self.a, self.b_set):
                self.lw.copy(dst, src)
        for x, off in zip(self.b_set, self._offs):
            self.lw.release(off, x.aval)


@opaque(cf.while_p)
def _while(lw: Lowering, eqn, ins, outs):
    p = eqn.params
    nc, nb = p["cond_nconsts"], p["body_nconsts"]
    cconsts, bconsts, init = ins[:nc], ins[nc:nc + nb], ins[nc + nb:]
    carries = _Carries(lw, init, outs)
    b = lw.b
    head, body, done = (b.append_basic_block(f"while.{n}") for n in ("head", "body", "done"))
    b.branch(head)
    b.position_at_end(head)
    pred, off = lw.scratch(ShapedArray((), p["cond_jaxpr"].out_avals[0].dtype))
    lw.closed_call(p["cond_jaxpr"], list(cconsts) + carries.current(), [pred])
    go = T.load(b, pred.ptr, pred.dtype)
    lw.release(off, pred.aval)
    b.cbranch(go, body, done)
    b.position_at_end(body)
    lw.closed_call(p["body_jaxpr"], list(bconsts) + carries.current(), carries.other())
    carries.flip()
    b.branch(head)
    b.position_at_end(done)
    carries.finish()


@opaque(cf.scan_p)
def _scan(lw: Lowering, eqn, ins, outs):
    p = eqn.params
    nc, nk, length, reverse = p["num_consts"], p["num_carry"], p["length"], p["reverse"]
    consts, init, xs = ins[:nc], ins[nc:nc + nk], ins[nc + nk:]
    carries = _Carries(lw, init, outs[:nk])
    ys = outs[nk:]
    b = lw.b
    with for_range(b, 0, length, "scan") as i:
        t = b.sub(i64(length - 1), i) if reverse else i
        x_slices = [_row(lw, x, t) for x in xs]
        y_slices = [_row(lw, y, t) for y in ys]
        lw.closed_call(p["jaxpr"], list(consts) + carries.current() + x_slices, carries.other() + y_slices)
        carries.flip()
    carries.finish()


def _row(lw: Lowering, x: Buf, t: ir.Value) -> Buf:
    """Row ``t`` of the leading axis of ``x``."""
    aval = ShapedArray(x.shape[1:], x.dtype)
    row_bytes = aval.size * x.dtype.itemsize
    return Buf(gep(lw.b, x.ptr, lw.b.mul(t, i64(row_bytes))), aval)
