"""Host callbacks (pure_callback, io_callback, debug_callback): a runtime call at the callback's place in the
program. The callback gets read-only numpy views of the operand buffers (no copy) and its checked results are
written straight into the output buffers; the calls run in program order, inside loops and branches too."""
from __future__ import annotations

import numpy as np

from portax.core.primitives import callbacks as cb

from .program import Lowering, opaque


@opaque(*cb.CALLBACKS)
def _callback(lw: Lowering, eqn, ins, outs):
    prim, params = eqn.primitive, dict(eqn.params)

    def run(inputs: list, outputs: list) -> None:
        for dst, value in zip(outputs, cb.call_host(prim, params, inputs)):
            np.copyto(dst, value, casting="no")
    lw.runtime_call(f"Python callback {params['callback'].__name__}", eqn, run, ins, outs)
