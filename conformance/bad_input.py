"""Bad input: wrong shapes and dtypes must raise TypeError or ValueError (as in JAX), eagerly on the
backend's device and under jit on the backend, never crash or return a value."""
from __future__ import annotations

from typing import Callable, Iterator

import numpy as np

import portax
import portax.numpy as jnp
from portax import lax
from portax.core.backend import registry
from portax.core.dtypes import short_name
from portax.core.primitives import indexing as ix

from .report import FAIL, PASS, Cell

F32, I32 = np.float32, np.int32


def _f(*shape) -> np.ndarray:
    return np.ones(shape, F32)


# (name, function, operands): each call must raise TypeError or ValueError
CHECKS: tuple[tuple[str, Callable, list], ...] = (
    ("add: shapes differ", lax.add, [_f(3), _f(4)]),
    ("add: dtypes differ", lax.add, [_f(3), np.ones(3, I32)]),
    ("sin: integer operand", lax.sin, [np.ones(3, I32)]),
    ("dot_general: contraction sizes differ", lambda a, b: lax.dot_general(a, b, (((1,), (0,)), ((), ()))),
     [_f(3, 4), _f(5, 2)]),
    ("reshape: size changes", lambda x: lax.reshape(x, (4,)), [_f(6)]),
    ("concatenate: dtypes differ", lambda a, b: lax.concatenate([a, b], 0), [_f(2), np.ones(2, I32)]),
    ("broadcast_in_dim: incompatible", lambda x: lax.broadcast_in_dim(x, (4,), (0,)), [_f(3)]),
    ("transpose: not a permutation", lambda x: lax.transpose(x, (0, 0)), [_f(2, 3)]),
    ("dynamic_slice: window larger than operand", lambda x: lax.dynamic_slice(x, (0,), (5,)), [_f(4)]),
    ("gather: float indices", lambda x, i: lax.gather(x, i, ix.GatherDimensionNumbers((), (0,), (0,)), (1,)),
     [_f(4), _f(2, 1)]),
    ("select_n: case shapes differ", lax.select_n, [np.ones(3, bool), _f(3), _f(4)]),
    ("cond: non-scalar predicate", lambda p, x: lax.cond(p, lambda v: v, lambda v: v, x), [np.ones(2, bool), _f(3)]),
    ("scan: leading axes differ", lambda a, b: lax.scan(lambda c, x: (c, x[0] + x[1]), 0.0, (a, b)),
     [_f(3), _f(4)]),
    ("reduce_sum: axis out of range", lambda x: lax.reduce_sum(x, (2,)), [_f(3)]),
    ("argmax: empty axis", lambda x: lax.argmax(x, 0, I32), [_f(0)]),
    ("sort: num_keys too large", lambda x: lax.sort(x, num_keys=2), [_f(3)]),
    ("pad: negative interior padding", lambda x: lax.pad(x, 0.0, ((0, 0, -1),)), [_f(3)]),
    ("matmul: inner sizes differ", jnp.matmul, [_f(2, 3), _f(4, 5)]),
)


def run(backend_name: str) -> Iterator[Cell]:
    device = registry.get(backend_name).devices()[0]
    for name, fn, args in CHECKS:
        dtype = short_name(np.dtype(args[0].dtype))
        yield _expect_error(name, dtype, "eager",
                            lambda fn=fn, args=args: fn(*[portax.device_put(a, device) for a in args]))
        yield _expect_error(name, dtype, "jit", lambda fn=fn, args=args: portax.jit(fn, backend=backend_name)(*args))


def _expect_error(name: str, dtype: str, transform: str, call: Callable) -> Cell:
    try:
        out = call()
    except (TypeError, ValueError) as e:
        return Cell("bad-input", name, dtype, transform, PASS, f"{type(e).__name__}: {_first_line(e)}", 1)
    except Exception as e:
        return Cell("bad-input", name, dtype, transform, FAIL,
                    f"{name} under {transform}: expected TypeError or ValueError, got {type(e).__name__}: "
                    f"{_first_line(e)}", 1)
    return Cell("bad-input", name, dtype, transform, FAIL,
                f"{name} under {transform}: expected TypeError or ValueError, but it returned {out!r:.200}", 1)


def _first_line(e: Exception) -> str:
    return (str(e).splitlines() or [""])[0][:200]
