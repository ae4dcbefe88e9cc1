"""Every elementwise primitive on cpu_llvm against the reference backend, over dtypes and shapes (0-d, empty,
odd sizes), special values and integer edges; each executable is generated code only."""
from __future__ import annotations

import numpy as np
import pytest

from portax import lax

from cpu_llvm_helpers import assert_matches, x64_enabled

FLOATS = ("float16", "float32", "float64")
INTS = ("int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64")
SHAPES = ((), (0,), (7,), (3, 5))
RNG = np.random.RandomState(0)


@pytest.fixture(autouse=True)
def x64():
    with x64_enabled(True):
        yield


def floats(dtype, shape=(37,), lo=-3.0, hi=3.0):
    return np.asarray(RNG.uniform(lo, hi, shape), dtype)


def specials(dtype):
    fi = np.finfo(dtype)
    return np.array([np.nan, np.inf, -np.inf, 0.0, -0.0, 1.0, -1.0, 0.5, -0.5, 2.5, -2.5, fi.max, -fi.max, fi.tiny,
                     1e-3, 100.0], dtype)


def ints(dtype, shape=(37,)):
    info = np.iinfo(dtype)
    edges = [info.min, info.min + 1, info.max, 0, 1, 2, 7] + ([-1, -7] if info.min < 0 else [])
    vals = RNG.randint(max(info.min, -100), min(info.max, 100) + 1, size=shape).astype(dtype)
    if shape == (37,):
        vals[:len(edges)] = edges
    return vals


UNARY_FLOAT = ["exp", "exp2", "log", "log1p", "expm1", "tanh", "logistic", "sin", "cos", "tan", "asin", "acos",
               "atan", "sinh", "cosh", "asinh", "acosh", "atanh", "sqrt", "rsqrt", "cbrt", "erf", "erfc",
               "erf_inv", "lgamma", "digamma", "floor", "ceil", "is_finite", "neg", "sign", "abs", "square"]


@pytest.mark.parametrize("name", UNARY_FLOAT)
@pytest.mark.parametrize("dtype", FLOATS)
def test_unary_float(name, dtype):
    fn = getattr(lax, name)
    lo = 0.05 if name in ("lgamma", "digamma") else -0.99 if name in ("erf_inv", "atanh", "asin", "acos") else -3
    rtol = {"float16": 4e-3, "float32": 1e-5, "float64": 1e-12}[dtype]
    assert_matches(fn, floats(dtype, lo=lo, hi=0.99 if lo > -1 and lo < 0 else 3.0), rtol=rtol, check_exe=False)
    assert_matches(fn, specials(dtype), rtol=rtol, check_exe=name in ("exp", "sign", "sin"))


@pytest.mark.parametrize("shape", SHAPES)
def test_shapes(shape):
    assert_matches(lambda x, y: lax.add(lax.mul(x, y), lax.exp(x)), floats("float32", shape),
                   floats("float32", shape))


@pytest.mark.parametrize("method", [0, 1])
@pytest.mark.parametrize("dtype", FLOATS)
def test_round(method, dtype):
    x = np.array([0.5, 1.5, 2.5, -0.5, -1.5, -2.5, 0.49, 3.7, -3.2, np.nan, np.inf, -0.0], dtype)
    assert_matches(lambda x: lax.round(x, method), x)


BINARY = ["add", "sub", "mul", "div", "rem", "max", "min", "eq", "ne", "lt", "le", "gt", "ge"]


@pytest.mark.parametrize("name", BINARY + ["pow", "atan2", "nextafter"])
@pytest.mark.parametrize("dtype", FLOATS)
def test_binary_float(name, dtype):
    s = specials(dtype)
    x, y = np.meshgrid(s, s)
    rtol = {"float16": 4e-3, "float32": 1e-5, "float64": 1e-12}[dtype]
    assert_matches(getattr(lax, name), x.ravel(), y.ravel(), rtol=rtol, check_exe=name in ("add", "pow"))


@pytest.mark.parametrize("name", BINARY + ["and", "or", "xor", "shift_left", "shift_right_logical",
                                           "shift_right_arithmetic"])
@pytest.mark.parametrize("dtype", INTS)
def test_binary_int(name, dtype):
    x, y = ints(dtype), ints(dtype)[::-1].copy()
    if name.startswith("shift"):
        y = (np.arange(37) - 3).astype(dtype)  # negative, in range and past the width
    fn = {"and": lax.bitwise_and, "or": lax.bitwise_or, "xor": lax.bitwise_xor}.get(name) or getattr(lax, name)
    assert_matches(fn, x, y, check_exe=name in ("div", "shift_right_arithmetic"))


@pytest.mark.parametrize("dtype", INTS + ("bool",))
def test_integer_unary(dtype):
    x = ints(dtype) if dtype != "bool" else RNG.rand(37) < 0.5
    assert_matches(lax.bitwise_not, x)
    if dtype != "bool":
        assert_matches(lax.population_count, x, check_exe=False)
        assert_matches(lax.clz, x, check_exe=False)
        assert_matches(lambda v: (lax.neg(v), lax.abs(v), lax.sign(v), lax.square(v)), x, check_exe=False)
        assert_matches(lambda v: lax.integer_pow(v, 3), x, check_exe=False)


def test_bool_ops():
    x, y = RNG.rand(2, 23) < 0.5
    assert_matches(lambda a, b: (a & b, a | b, a ^ b, lax.max(a, b), lax.min(a, b), lax.eq(a, b), lax.lt(a, b)),
                   x, y)


@pytest.mark.parametrize("y", [0, 1, 2, 5, -1, -3])
def test_integer_pow(y):
    assert_matches(lambda v: lax.integer_pow(v, y), floats("float32", lo=0.5, hi=2))
    assert_matches(lambda v: lax.integer_pow(v, y), floats("float16", lo=0.5, hi=2), check_exe=False)


ALL = FLOATS + INTS + ("bool",)


@pytest.mark.parametrize("src", ALL)
def test_convert_every_pair(src):
    if src == "bool":
        x = RNG.rand(37) < 0.5
    elif src in FLOATS:
        x = np.concatenate([specials(src), floats(src, (21,), -300, 300)])
    else:
        x = ints(src)

    def convert_all(v):
        return [lax.convert_element_type(v, np.dtype(d)) for d in ALL]
    assert_matches(convert_all, x)


@pytest.mark.parametrize("pair", [("float32", "int32"), ("int32", "uint32"), ("float64", "int64"),
                                  ("float16", "int16"), ("uint8", "int8"), ("bool", "int8"), ("int8", "bool")])
def test_bitcast_same_size(pair):
    src, dst = pair
    x = floats(src) if src in FLOATS else RNG.rand(37) < 0.5 if src == "bool" else ints(src)
    if dst == "bool":
        x = (x & 1).astype(src)
    assert_matches(lambda v: lax.bitcast_convert_type(v, np.dtype(dst)), x)


@pytest.mark.parametrize("pair", [("float32", "uint8"), ("int8", "int32"), ("float64", "uint16"),
                                  ("uint16", "float32")])
def test_bitcast_between_sizes(pair):
    src, dst = pair
    shape = (3, 4) if np.dtype(src).itemsize < np.dtype(dst).itemsize else (5,)
    shape = shape[:-1] + (np.dtype(dst).itemsize // np.dtype(src).itemsize,) if len(shape) == 2 else shape
    x = floats(src, shape) if src in FLOATS else ints(src, shape)
    assert_matches(lambda v: lax.bitcast_convert_type(v, np.dtype(dst)), x)


@pytest.mark.parametrize("dtype", ["float32", "int16", "bool"])
def test_select_n_and_clamp(dtype):
    cases = [RNG.rand(15) < 0.5 if dtype == "bool" else floats(dtype, (15,)) if dtype in FLOATS else
             ints(dtype, (15,)) for _ in range(3)]
    which = RNG.randint(0, 3, 15).astype(np.int32)
    assert_matches(lambda w, *c: lax.select_n(w, *c), which, *cases)
    assert_matches(lambda p, a, b: lax.select_n(p, a, b), RNG.rand(15) < 0.5, cases[0], cases[1])
    assert_matches(lambda p, a, b: lax.select_n(p, a, b), np.bool_(True), cases[0], cases[1])
    if dtype != "bool":
        lo, hi = (np.asarray(v, dtype) for v in (-1, 2))
        assert_matches(lambda a, x, b: lax.clamp(a, x, b), lo, cases[0], hi)


def test_clamp_nan():
    assert_matches(lambda x: lax.clamp(np.float32(-1), x, np.float32(1)), specials("float32"))


def test_threefry_bit_identical():
    from portax.core.primitives import prng
    k = RNG.randint(0, 2 ** 32, size=(2, 9), dtype=np.uint64).astype(np.uint32)
    x = RNG.randint(0, 2 ** 32, size=(2, 9), dtype=np.uint64).astype(np.uint32)
    assert_matches(lambda a, b, c, d: prng.threefry2x32_p.bind(a, b, c, d), k[0], k[1], x[0], x[1])


@pytest.mark.parametrize("dst", INTS)
def test_float_to_int_truncates_and_saturates(dst):
    """NaN -> 0, truncation toward zero, out-of-range values saturate (as XLA's conversions)."""
    from portax import jit
    x = np.array([np.nan, np.inf, -np.inf, 1e30, -1e30, 2.9, -2.9, 0.5], np.float64)
    info = np.iinfo(dst)
    want = np.array([0, info.max, info.min, info.max, info.min, 2, max(-2, info.min), 0], dtype=object)
    got = np.asarray(jit(lambda v: lax.convert_element_type(v, np.dtype(dst)), backend="cpu_llvm")(x))
    assert got.dtype == np.dtype(dst) and [int(v) for v in got] == [int(v) for v in want]
