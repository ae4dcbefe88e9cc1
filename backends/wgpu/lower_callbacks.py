"""Host callbacks (pure_callback, io_callback, debug_callback): the command stream is split at the callback.
The work recorded so far is submitted and the operands read back, the Python function runs, its checked
results are uploaded and the program goes on recording; inside loops and branches too, in program order."""
from __future__ import annotations

import numpy as np

from portax.core.ir import JaxprEqn, Literal
from portax.core.primitives import callbacks as cb

from .lowering import lowering
from .program import LoweringContext, Recorder, Step, bind_result, context_of


class CallbackStep(Step):
    def __init__(self, eqn: JaxprEqn):
        self.eqn = eqn
        self.context = context_of(eqn)

    def record(self, rec: Recorder, env: dict) -> None:
        eqn = self.eqn
        args = [np.asarray(x.val, x.aval.dtype) if type(x) is Literal else
                rec.read(rec.buffer(env, x), x.aval.shape, x.aval.dtype) for x in eqn.inputs]
        for v, value in zip(eqn.out_binders, cb.call_host(eqn.primitive, eqn.params, args)):
            bind_result(rec, env, v, rec.device.upload(value, self.context))


@lowering(*cb.CALLBACKS)
def _callback(ctx: LoweringContext, eqn: JaxprEqn) -> None:
    ctx.add(CallbackStep(eqn))
