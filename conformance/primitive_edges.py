"""Edge inputs per primitive for ``docs/primitives.md``: the doc shows what the reference backend returns.

Only the inputs are written here; the outputs are computed by running the reference backend when the
doc is generated, so the doc states the oracle's semantics as they are. Each entry is
``(call, fn, args, names)``: ``call`` is how the doc shows the call, ``fn`` binds the primitive (through
its ``lax`` wrapper), ``args`` are the numpy operands and ``names`` their names in ``call``.
"""
from __future__ import annotations

from typing import Callable, NamedTuple

import numpy as np

import portax
from portax import lax

NAN, INF = float("nan"), float("inf")
I32_MIN, I32_MAX = -2**31, 2**31 - 1


class Edge(NamedTuple):
    call: str
    fn: Callable
    args: tuple
    names: tuple = ("x", "y")  # how the call names the operands


def f32(*v) -> np.ndarray:
    return np.array(v, np.float32)


def i32(*v) -> np.ndarray:
    return np.array(v, np.int32)


def u32(*v) -> np.ndarray:
    return np.array(v, np.uint32)


def u8(*v) -> np.ndarray:
    return np.array(v, np.uint8)


def _unary(name: str, *arrays: np.ndarray) -> list:
    fn = getattr(lax, name)
    return [Edge(f"lax.{name}(x)", fn, (a,)) for a in arrays]


def _binary(name: str, *pairs: tuple) -> list:
    fn = getattr(lax, name)
    return [Edge(f"lax.{name}(x, y)", fn, pair) for pair in pairs]


def _convert(dtype: str, x: np.ndarray) -> Edge:
    return Edge(f"lax.convert_element_type(x, {dtype})", lambda v: lax.convert_element_type(v, np.dtype(dtype)), (x,))


def _gathers() -> list:
    points = lax.GatherDimensionNumbers(offset_dims=(), collapsed_slice_dims=(0,), start_index_map=(0,))
    windows = lax.GatherDimensionNumbers(offset_dims=(0,), collapsed_slice_dims=(), start_index_map=(0,))
    idx = i32(-1, 0, 3, 4, 100).reshape(5, 1)
    out = []
    for mode in ("clip", "fill"):
        call = f"lax.gather(x, idx, (collapsed 0), slice_sizes=(1,), mode={mode!r})"
        fn = lambda x, i, mode=mode: lax.gather(x, i, points, (1,), mode=mode)  # noqa: E731
        out += [Edge(call, fn, (x, idx), ("x", "idx"))
                for x in (f32(10, 20, 30, 40), i32(10, 20, 30, 40), np.array([False, False, False, False]))]
    for mode in ("clip", "fill"):
        out.append(Edge(f"lax.gather(x, idx, (offset 0), slice_sizes=(2,), mode={mode!r})",
                        lambda x, i, mode=mode: lax.gather(x, i, windows, (2,), mode=mode),
                        (f32(10, 20, 30, 40), i32(3)), ("x", "idx")))
    return out


def _scatters(name: str) -> list:
    dn = lax.ScatterDimensionNumbers(update_window_dims=(), inserted_window_dims=(0,),
                                     scatter_dims_to_operand_dims=(0,))
    fn = getattr(lax, name)
    idx = i32(1, 1, -1, 4, 2).reshape(5, 1)
    return [Edge(f"lax.{name}(x, idx, updates, (inserted 0), mode={mode!r})",
                 lambda x, i, u, mode=mode: fn(x, i, u, dn, mode=mode),
                 (f32(1, 1, 1, 1), idx, f32(5, 7, 9, 11, -3)), ("x", "idx", "updates"))
            for mode in ("clip", "fill")]


def _reduction(name: str) -> list:
    fn = getattr(lax, name)
    call = f"lax.{name}(x, axes=(0,))"
    red = lambda x: fn(x, (0,))  # noqa: E731
    kinds = {"reduce_sum": "fiu", "reduce_prod": "fiu", "reduce_max": "fiub", "reduce_min": "fiub"}.get(name, "iub")
    empty = [Edge(call, red, (np.zeros((0,), dt),)) for dt in ("float32", "int32", "uint8", "bool")
             if np.dtype(dt).kind in kinds]
    if name in ("reduce_max", "reduce_min"):
        empty.append(Edge(call, red, (f32(1, NAN, 3),)))
    if name in ("reduce_sum", "reduce_prod"):
        empty.append(Edge(call, red, (i32(I32_MAX, 2),)))
    return empty


def _arg(name: str) -> list:
    fn = getattr(lax, name)
    call = f"lax.{name}(x, axis=0, index_dtype=int32)"
    red = lambda x: fn(x, 0, np.int32)  # noqa: E731
    return [Edge(call, red, (a,)) for a in (f32(1, NAN, 3, NAN), f32(3, 1, 3, 1), f32(-0.0, 0.0), f32(-INF, -INF))]


def _cumulative(name: str) -> list:
    fn = getattr(lax, name)
    return [Edge(f"lax.{name}(x, axis=0)", lambda x: fn(x, 0), (f32(1, NAN, 3),)),
            Edge(f"lax.{name}(x, axis=0)", lambda x: fn(x, 0), (np.zeros((0,), np.float32),))]


def _reduce_window(name: str) -> list:
    op = {"reduce_window_sum": lax.add, "reduce_window_max": lax.max, "reduce_window_min": lax.min}[name]
    init = {"reduce_window_sum": 0, "reduce_window_max": -INF, "reduce_window_min": INF}[name]
    return [Edge(f"lax.reduce_window(x, {init}, {op.__name__}, (3,), (1,), ((1, 1),)) (padding: the identity)",
                 lambda x: lax.reduce_window(x, np.float32(init), op, (3,), (1,), ((1, 1),)), (a,))
            for a in (f32(1, 2, 3), f32(1, NAN, 3))]


def _cond() -> list:
    branches = tuple(portax.make_jaxpr(lambda v, k=k: lax.add(v, np.float32(k)))(np.float32(0)) for k in (10, 20))
    return [Edge(f"cond(index, x, branches=(x + 10, x + 20)) with index = {i}",
                 lambda i, v: lax.cond_p.bind(i, v, branches=branches), (np.int32(i), np.float32(1)), ("index", "x"))
            for i in (-1, 1, 5)]


def _matrix(*rows) -> np.ndarray:
    return np.array(rows, np.float32)


EDGES: dict = {
    "neg": _unary("neg", i32(I32_MIN, 0), f32(0.0, -0.0, NAN)),
    "sign": _unary("sign", f32(-0.0, 0.0, NAN, -INF), i32(I32_MIN, 0, 7)),
    "round": [Edge(f"lax.round(x, {m}) (half {how})", lambda x, m=m: lax.round(x, m), (f32(0.5, 1.5, 2.5, -0.5, -2.5),))
              for m, how in ((0, "away from zero"), (1, "to even"))],
    "floor": _unary("floor", f32(-0.5, -0.0, NAN, INF)),
    "ceil": _unary("ceil", f32(-0.5, -0.0, NAN, INF)),
    "is_finite": _unary("is_finite", f32(NAN, INF, -INF, 0.0)),
    "abs": _unary("abs", i32(I32_MIN, -1), f32(-0.0, -INF, NAN)),
    "exp": _unary("exp", f32(89, -104, -INF, NAN)),
    "log": _unary("log", f32(0.0, -0.0, -1, INF)),
    "log1p": _unary("log1p", f32(-1, -2, INF)),
    "logistic": _unary("logistic", f32(-INF, INF, NAN, 0)),
    "tanh": _unary("tanh", f32(-INF, INF, NAN)),
    "asin": _unary("asin", f32(2, -2, NAN)),
    "acosh": _unary("acosh", f32(0.5, 1)),
    "atanh": _unary("atanh", f32(1, -1, 2)),
    "sqrt": _unary("sqrt", f32(-1, -0.0, INF)),
    "rsqrt": _unary("rsqrt", f32(0.0, -0.0, -1, INF)),
    "cbrt": _unary("cbrt", f32(-8, -0.0)),
    "erf_inv": _unary("erf_inv", f32(-1, 1, 1.5, NAN)),
    "lgamma": _unary("lgamma", f32(0, -1, -0.5, INF)),
    "digamma": _unary("digamma", f32(0, -1, -0.5, INF)),
    "square": _unary("square", i32(65536), f32(3e20)),
    "integer_pow": [Edge(f"lax.integer_pow(x, {y})", lambda x, y=y: lax.integer_pow(x, y), (a,))
                    for y, a in ((0, f32(0, NAN)), (-1, f32(0.0, -0.0)), (3, i32(2048)))],
    "not": _unary("bitwise_not", i32(0, -1), np.array([True, False])),
    "population_count": _unary("population_count", i32(-1, I32_MIN, 0), np.array([-1], np.int8)),
    "clz": _unary("clz", i32(0, -1, 1), u8(0, 1)),
    "convert_element_type": [
        _convert("int32", f32(NAN, INF, -INF, 3e9, -3e9, 2.7, -2.7)),
        _convert("uint8", f32(-1, -0.5, 255.9, 300, NAN)),
        _convert("uint32", f32(-1, 5e9)),
        _convert("bool", f32(NAN, 0.0, -0.0, 0.1)),
        _convert("bool", i32(0, 2, -1)),
        _convert("uint8", i32(-1, 256, 257)),
        _convert("float16", f32(65504, 65519, 65520, 1e-8)),
        _convert("float32", i32(16777217, I32_MAX)),
    ],
    "add": _binary("add", (i32(I32_MAX), i32(1)), (u8(255), u8(1)), (f32(INF, 0.0), f32(-INF, -0.0))),
    "sub": _binary("sub", (i32(I32_MIN), i32(1)), (u8(0), u8(1)), (f32(INF, 0.0), f32(INF, 0.0))),
    "mul": _binary("mul", (i32(65536, I32_MIN), i32(65536, -1)), (f32(0.0, INF), f32(-1, 0.0))),
    "div": _binary("div", (i32(7, -7, 0, -7, 7, I32_MIN), i32(0, 0, 0, 2, -2, -1)),
                   (u32(7, 0), u32(0, 0)), (np.array([5, 0], np.uint8), np.array([0, 0], np.uint8)),
                   (f32(1, -1, 0, 1), f32(0.0, 0.0, 0.0, -0.0))),
    "rem": _binary("rem", (i32(7, -7, 7, -7, I32_MIN, 7), i32(2, 2, -2, -2, -1, 0)), (u32(7), u32(0)),
                   (f32(5.5, -5.5, 1, INF, 1), f32(2, 2, 0, 2, INF))),
    "pow": _binary("pow", (f32(0, 0, -8, -8, NAN, 1, INF, 0.0), f32(0, -1, 1 / 3, 2, 0, NAN, 0, 0.5))),
    "max": _binary("max", (f32(NAN, 1, -INF), f32(1, NAN, NAN))),
    "min": _binary("min", (f32(NAN, 1, INF), f32(1, NAN, NAN))),
    "atan2": _binary("atan2", (f32(0.0, 0.0, -0.0, -0.0, INF), f32(0.0, -0.0, 0.0, -0.0, INF))),
    "nextafter": _binary("nextafter", (f32(0, 1, NAN, 1), f32(1, INF, 0, 1))),
    "shift_left": _binary("shift_left", (i32(1, 1, 1, 1, 1), i32(31, 32, 40, -1, 0)), (u8(1, 1), u8(7, 8))),
    "shift_right_logical": _binary("shift_right_logical", (i32(-8, -8, -8, -8), i32(1, 31, 32, -1))),
    "shift_right_arithmetic": _binary("shift_right_arithmetic", (i32(-8, -8, 8, -8), i32(1, 32, 40, -1)),
                                      (u8(128, 128), u8(1, 8))),
    "eq": _binary("eq", (f32(NAN, 0.0, INF), f32(NAN, -0.0, INF))),
    "ne": _binary("ne", (f32(NAN, 0.0), f32(NAN, -0.0))),
    "lt": _binary("lt", (f32(NAN, 1, -0.0), f32(1, NAN, 0.0))),
    "select_n": [Edge("lax.select_n(which, a, b, c)", lax.select_n,
                      (i32(0, 1, 2), f32(1, 1, 1), f32(2, 2, 2), f32(3, 3, 3)), ("which", "a", "b", "c")),
                 Edge("lax.select_n(which, a, b)", lax.select_n, (np.array([False, True]), f32(1, 1), f32(2, 2)),
                      ("which", "a", "b"))],
    "clamp": [Edge("lax.clamp(0.0, x, 1.0)", lambda x: lax.clamp(np.float32(0), x, np.float32(1)),
                   (f32(NAN, -INF, INF, 0.5),)),
              Edge("lax.clamp(1.0, x, 0.0) (lo > hi)", lambda x: lax.clamp(np.float32(1), x, np.float32(0)),
                   (f32(-1, 0.5, 2),))],
    "bitcast_convert_type": [
        Edge("lax.bitcast_convert_type(x, int32)", lambda x: lax.bitcast_convert_type(x, np.int32),
             (f32(-0.0, 1.0, NAN),)),
        Edge("lax.bitcast_convert_type(x, uint8)", lambda x: lax.bitcast_convert_type(x, np.uint8), (f32(1.0),))],
    "dynamic_slice": [Edge(f"lax.dynamic_slice(x, (i,), (3,)) with i = {i}",
                           lambda x, i=i: lax.dynamic_slice(x, (np.int32(i),), (3,)), (i32(0, 1, 2, 3, 4),))
                      for i in (-2, 2, 4)],
    "dynamic_update_slice": [Edge(f"lax.dynamic_update_slice(x, u, (i,)) with i = {i}",
                                  lambda x, u, i=i: lax.dynamic_update_slice(x, u, (np.int32(i),)),
                                  (i32(0, 0, 0, 0, 0), i32(7, 8)), ("x", "u"))
                             for i in (-1, 4)],
    "pad": [Edge("lax.pad(x, 0, ((-1, 2, 1),))", lambda x: lax.pad(x, np.int32(0), ((-1, 2, 1),)), (i32(1, 2, 3),))],
    "reduce_sum": _reduction("reduce_sum"),
    "reduce_prod": _reduction("reduce_prod"),
    "reduce_max": _reduction("reduce_max"),
    "reduce_min": _reduction("reduce_min"),
    "reduce_and": _reduction("reduce_and"),
    "reduce_or": _reduction("reduce_or"),
    "reduce_xor": _reduction("reduce_xor"),
    "argmax": _arg("argmax"),
    "argmin": _arg("argmin"),
    "cumsum": _cumulative("cumsum"),
    "cumprod": _cumulative("cumprod"),
    "cummax": _cumulative("cummax"),
    "cummin": _cumulative("cummin"),
    "cumlogsumexp": _cumulative("cumlogsumexp") + [
        Edge("lax.cumlogsumexp(x, axis=0)", lambda x: lax.cumlogsumexp(x, 0), (f32(-INF, 0, INF, 1, -INF),))],
    "gather": _gathers(),
    "scatter": _scatters("scatter"),
    "scatter_add": _scatters("scatter_add"),
    "scatter_mul": _scatters("scatter_mul"),
    "scatter_min": _scatters("scatter_min"),
    "scatter_max": _scatters("scatter_max"),
    "dot_general": [
        Edge("lax.dot(x, y)", lax.dot, (np.array([100, 100], np.int8), np.array([2, 1], np.int8))),
        Edge("lax.dot(x, y, preferred_element_type=int32)",
             lambda x, y: lax.dot(x, y, preferred_element_type=np.int32),
             (np.array([100, 100], np.int8), np.array([2, 1], np.int8))),
        Edge("lax.dot(x, y)", lax.dot, (np.array([True, True]), np.array([True, True]))),
        Edge("lax.dot(x, y)", lax.dot, (f32(INF, 1), f32(0, 1))),
        Edge("lax.dot(x, y)", lax.dot, (np.zeros((0,), np.float32), np.zeros((0,), np.float32)))],
    "sort": [Edge("lax.sort(x)", lax.sort, (f32(NAN, 1, 0.0, -0.0, -INF, -NAN, 0.0, INF),)),
             Edge("lax.sort_key_val(k, v) (equal keys keep their order)", lax.sort_key_val,
                  (f32(2, 1, 2, 1, 0.0, -0.0), i32(0, 1, 2, 3, 4, 5)), ("k", "v")),
             Edge("lax.sort(x)", lax.sort, (np.array([True, False, True]),))],
    "top_k": [Edge("lax.top_k(x, 7)", lambda x: lax.top_k(x, 7), (f32(1, NAN, 3, -NAN, -0.0, 0.0, 3),)),
              Edge("lax.top_k(x, 3)", lambda x: lax.top_k(x, 3), (i32(2, 5, 2, 5),))],
    "reduce_window_sum": _reduce_window("reduce_window_sum"),
    "reduce_window_max": _reduce_window("reduce_window_max"),
    "reduce_window_min": _reduce_window("reduce_window_min"),
    "cond": _cond(),
    "scan": [Edge("lax.scan(lambda c, x: (c + x, c), init, xs) with 0 steps",
                  lambda c, xs: lax.scan(lambda a, b: (lax.add(a, b), a), c, xs), (np.float32(5), f32()),
                  ("init", "xs"))],
    "cholesky": [Edge("lax.linalg.cholesky(x, symmetrize_input=False)",
                      lambda x: lax.linalg.cholesky(x, symmetrize_input=False), (m,))
                 for m in (_matrix((4, 100), (2, 5)), _matrix((1, 2), (2, 1)))],
    "triangular_solve": [Edge("lax.linalg.triangular_solve(a, b, left_side=True, lower=True)",
                              lambda a, b: lax.linalg.triangular_solve(a, b, left_side=True, lower=True),
                              (_matrix((0, 0), (1, 1)), _matrix((1,), (1,))), ("a", "b"))],
    "eigh": [Edge("lax.linalg.eigh(x)[1] (the eigenvalues)", lambda x: lax.linalg.eigh(x)[1],
                  (_matrix((2, 0), (0, 1)),))],
    "svd": [Edge("lax.linalg.svd(x, compute_uv=False)", lambda x: lax.linalg.svd(x, compute_uv=False),
                 (_matrix((1, 0), (0, -3)),))],
    "lu": [Edge("lax.linalg.lu(x)", lax.linalg.lu, (m,)) for m in (_matrix((1, 2), (3, 4)), _matrix((0, 0), (0, 0)))],
    "threefry2x32": [Edge("threefry2x32_p.bind(k1, k2, x1, x2)", lax.threefry2x32_p.bind, (u32(v),) * 4,
                          ("k1", "k2", "x1", "x2")) for v in (0, 0xFFFFFFFF)],
}
