"""dtypes: JAX's type promotion table for every pair of types (with x64 off and on), weak types,
canonicalisation with x64 off, and ``enable_x64``."""
import numpy as np
import pytest

import portax as jax
import portax.numpy as jnp
from portax import lax
from portax.core import dtypes

from core_helpers import x64_enabled

TYPES = ["b", "i8", "i16", "i32", "i64", "u8", "u16", "u32", "u64", "f16", "f32", "f64", "i*", "f*"]
_NP = {"b": np.bool_, "i8": np.int8, "i16": np.int16, "i32": np.int32, "i64": np.int64, "u8": np.uint8,
       "u16": np.uint16, "u32": np.uint32, "u64": np.uint64, "f16": np.float16, "f32": np.float32, "f64": np.float64}

# JAX's result of x + y for x of row type, y of column type ("*": weakly typed; "i*"/"f*" are Python
# int/float). As jax.numpy computes it (jax 0.10, the table of the "Type promotion semantics" docs).
JAX_PROMOTION_X64 = """
      b    i8   i16  i32  i64  u8   u16  u32  u64  f16  f32  f64  i*   f*
b     b    i8   i16  i32  i64  u8   u16  u32  u64  f16  f32  f64  i64* f64*
i8    i8   i8   i16  i32  i64  i16  i32  i64  f64* f16  f32  f64  i8   f64*
i16   i16  i16  i16  i32  i64  i16  i32  i64  f64* f16  f32  f64  i16  f64*
i32   i32  i32  i32  i32  i64  i32  i32  i64  f64* f16  f32  f64  i32  f64*
i64   i64  i64  i64  i64  i64  i64  i64  i64  f64* f16  f32  f64  i64  f64*
u8    u8   i16  i16  i32  i64  u8   u16  u32  u64  f16  f32  f64  u8   f64*
u16   u16  i32  i32  i32  i64  u16  u16  u32  u64  f16  f32  f64  u16  f64*
u32   u32  i64  i64  i64  i64  u32  u32  u32  u64  f16  f32  f64  u32  f64*
u64   u64  f64* f64* f64* f64* u64  u64  u64  u64  f16  f32  f64  u64  f64*
f16   f16  f16  f16  f16  f16  f16  f16  f16  f16  f16  f32  f64  f16  f16
f32   f32  f32  f32  f32  f32  f32  f32  f32  f32  f32  f32  f64  f32  f32
f64   f64  f64  f64  f64  f64  f64  f64  f64  f64  f64  f64  f64  f64  f64
i*    i64* i8   i16  i32  i64  u8   u16  u32  u64  f16  f32  f64  i64* f64*
f*    f64* f64* f64* f64* f64* f64* f64* f64* f64* f16  f32  f64  f64* f64*
"""

# The same with x64 off: 64-bit inputs are narrowed to 32 bits first (as jnp arrays of those dtypes are).
JAX_PROMOTION_X32 = """
      b    i8   i16  i32  i64  u8   u16  u32  u64  f16  f32  f64  i*   f*
b     b    i8   i16  i32  i32  u8   u16  u32  u32  f16  f32  f32  i32* f32*
i8    i8   i8   i16  i32  i32  i16  i32  i32  i32  f16  f32  f32  i8   f32*
i16   i16  i16  i16  i32  i32  i16  i32  i32  i32  f16  f32  f32  i16  f32*
i32   i32  i32  i32  i32  i32  i32  i32  i32  i32  f16  f32  f32  i32  f32*
i64   i32  i32  i32  i32  i32  i32  i32  i32  i32  f16  f32  f32  i32  f32*
u8    u8   i16  i16  i32  i32  u8   u16  u32  u32  f16  f32  f32  u8   f32*
u16   u16  i32  i32  i32  i32  u16  u16  u32  u32  f16  f32  f32  u16  f32*
u32   u32  i32  i32  i32  i32  u32  u32  u32  u32  f16  f32  f32  u32  f32*
u64   u32  i32  i32  i32  i32  u32  u32  u32  u32  f16  f32  f32  u32  f32*
f16   f16  f16  f16  f16  f16  f16  f16  f16  f16  f16  f32  f32  f16  f16
f32   f32  f32  f32  f32  f32  f32  f32  f32  f32  f32  f32  f32  f32  f32
f64   f32  f32  f32  f32  f32  f32  f32  f32  f32  f32  f32  f32  f32  f32
i*    i32* i8   i16  i32  i32  u8   u16  u32  u32  f16  f32  f32  i32* f32*
f*    f32* f32* f32* f32* f32* f32* f32* f32* f32* f16  f32  f32  f32* f32*
"""


def _parse(table: str) -> dict:
    rows = [line.split() for line in table.strip().splitlines()]
    cols = rows[0]
    return {(r[0], c): v for r in rows[1:] for c, v in zip(cols, r[1:])}


def _value(name: str):
    """A value of the named type: a (canonicalised) 0-d array, or a Python scalar for the weak types."""
    if name == "i*":
        return 1
    if name == "f*":
        return 1.0
    return jax.device_put(np.zeros((), _NP[name]))


def _name(dtype, weak: bool) -> str:
    dtype = np.dtype(dtype)
    base = "b" if dtype == np.bool_ else f"{dtype.kind}{dtype.itemsize * 8}"
    return base + ("*" if weak else "")


PAIRS = [(a, b) for a in TYPES for b in TYPES]


@pytest.mark.parametrize("x64_on,table", [(False, JAX_PROMOTION_X32), (True, JAX_PROMOTION_X64)], ids=["x32", "x64"])
def test_result_type_matches_jax_table(x64_on, table):
    expected = _parse(table)
    with x64_enabled(x64_on):
        got = {(a, b): _name(*dtypes.result_type_weak(_value(a), _value(b))) for a, b in PAIRS}
    wrong = {k: (got[k], expected[k]) for k in PAIRS if got[k] != expected[k]}
    assert not wrong, f"(x, y): (portax, jax) = {wrong}"


@pytest.mark.parametrize("x64_on,table", [(False, JAX_PROMOTION_X32), (True, JAX_PROMOTION_X64)], ids=["x32", "x64"])
def test_binary_operators_promote_like_jax(x64_on, table):
    expected = _parse(table)
    with x64_enabled(x64_on):
        for a, b in PAIRS:
            x, y = _value(a), _value(b)
            if a == "i*" and b in ("i*", "f*") or a == "f*" and b in ("i*", "f*"):
                x = jnp.asarray(x)
            out = x + y if not (a == b == "b") else x | y
            assert _name(out.dtype, out.weak_type) == expected[a, b], (a, b)


def test_promote_types_of_strong_dtypes(x64):
    expected = _parse(JAX_PROMOTION_X64)
    strong = [t for t in TYPES if "*" not in t]
    for a in strong:
        for b in strong:
            assert _name(jnp.promote_types(_NP[a], _NP[b]), False) == expected[a, b].rstrip("*"), (a, b)


def test_promotion_of_three_values_is_order_independent(x64):
    vals = [_value(t) for t in TYPES]
    for x in vals:
        for y in vals:
            assert dtypes.result_type_weak(x, y) == dtypes.result_type_weak(y, x)
            for z in vals[::3]:
                assert dtypes.result_type_weak(x, y, z) == dtypes.result_type_weak(z, y, x)


def test_weak_type_propagation(x32):
    r = jnp.float32(1) * 2
    assert (r.dtype, r.weak_type) == (np.float32, False)
    r = 2 * jnp.arange(3)
    assert (r.dtype, r.weak_type) == (np.int32, False)
    r = 2.5 * jnp.arange(3)
    assert (r.dtype, r.weak_type) == (np.float32, True)
    r = jnp.arange(3) * jnp.float32(2)
    assert (r.dtype, r.weak_type) == (np.float32, False)
    r = jnp.ones(2, jnp.float16) * 3.0
    assert (r.dtype, r.weak_type) == (np.float16, False)
    r = jnp.ones(2, jnp.uint8) + 3
    assert (r.dtype, r.weak_type) == (np.uint8, False)
    r = lax.add(jnp.float32(1), 2)
    assert (r.dtype, r.weak_type) == (np.float32, False)
    assert jnp.asarray(1.0).weak_type and not jnp.asarray(np.float32(1.0)).weak_type


def test_weak_types_through_transformations(x32):
    f = lambda x: x * 2
    assert jax.jit(f)(1.0).weak_type
    assert not jax.jit(f)(np.float32(1.0)).weak_type
    assert jax.grad(lambda x: x * 2.0)(np.float32(1.0)).dtype == np.float32
    out = jax.vmap(lambda x: x + 1.0)(np.arange(3, dtype=np.int32))
    assert (out.dtype, out.weak_type) == (np.float32, True)
    assert jax.make_jaxpr(lambda x: x + 1.0)(np.float32(1)).out_avals[0].weak_type is False


def test_canonicalisation_with_x64_off(x32):
    assert jnp.asarray(np.float64(1)).dtype == np.float32
    assert jnp.asarray(np.int64(1)).dtype == np.int32
    assert jnp.asarray(np.uint64(1)).dtype == np.uint32
    assert jnp.zeros(3, dtype=jnp.float64).dtype == np.float32
    assert jax.device_put(np.arange(3)).dtype == np.int32
    assert jnp.asarray(1.0).dtype == np.float32 and jnp.asarray(1).dtype == np.int32
    assert dtypes.canonicalize(np.float64) == np.float32
    assert lax.convert_element_type(np.float32(1), np.float64).dtype == np.float32


def test_enable_x64_makes_64_bit_types_available():
    with x64_enabled(True):
        assert jnp.asarray(np.float64(1)).dtype == np.float64
        assert jnp.asarray(1.0).dtype == np.float64 and jnp.asarray(1).dtype == np.int64
        assert (jnp.ones(2) * 2).dtype == np.float64
        assert jax.jit(lambda x: x * 2)(np.float64(1.5)).dtype == np.float64
        assert float(jnp.asarray(np.float64(1) + 1e-12)) == 1 + 1e-12
        assert jax.grad(lambda x: x ** 2)(np.float64(3.0)).dtype == np.float64
    assert jnp.asarray(1.0).dtype == np.float32


def test_config_update_accepts_jax_prefixed_name():
    prev = jax.config.enable_x64
    try:
        jax.config.update("jax_enable_x64", True)
        assert jax.config.read("jax_enable_x64") is True and jnp.asarray(1.0).dtype == np.float64
    finally:
        jax.config.update("jax_enable_x64", prev)
    with pytest.raises(AttributeError, match="Unrecognized config option"):
        jax.config.update("jax_no_such_flag", True)


def test_unsupported_dtypes_are_rejected():
    assert dtypes.canonicalize(np.complex128) == np.complex64  # x64 off
    with pytest.raises(TypeError, match="does not support dtype"):
        dtypes.canonicalize(np.dtype("U3"))
    with pytest.raises(TypeError, match="not a valid JAX type"):
        jnp.sin(object())
