"""``portax.dtypes`` against ``jax.dtypes`` of JAX 0.10.2 (expected values from JAX's tests/dtypes_test.py)."""
import numpy as np
import pytest

import portax
import portax.numpy as jnp
from portax import dtypes

# JAX's testObservedPromotionTable without bfloat16 (row/column 'bf'): '*' marks a weak type (a Python scalar).
CODES = ['b1', 'u1', 'u2', 'u4', 'u8', 'i1', 'i2', 'i4', 'i8', 'f2', 'f4', 'f8', 'c4', 'c8', 'i*', 'f*', 'c*']
TABLE_X64 = """
b1 u1 u2 u4 u8 i1 i2 i4 i8 f2 f4 f8 c4 c8 i* f* c*
u1 u1 u2 u4 u8 i2 i2 i4 i8 f2 f4 f8 c4 c8 u1 f* c*
u2 u2 u2 u4 u8 i4 i4 i4 i8 f2 f4 f8 c4 c8 u2 f* c*
u4 u4 u4 u4 u8 i8 i8 i8 i8 f2 f4 f8 c4 c8 u4 f* c*
u8 u8 u8 u8 u8 f* f* f* f* f2 f4 f8 c4 c8 u8 f* c*
i1 i2 i4 i8 f* i1 i2 i4 i8 f2 f4 f8 c4 c8 i1 f* c*
i2 i2 i4 i8 f* i2 i2 i4 i8 f2 f4 f8 c4 c8 i2 f* c*
i4 i4 i4 i8 f* i4 i4 i4 i8 f2 f4 f8 c4 c8 i4 f* c*
i8 i8 i8 i8 f* i8 i8 i8 i8 f2 f4 f8 c4 c8 i8 f* c*
f2 f2 f2 f2 f2 f2 f2 f2 f2 f2 f4 f8 c4 c8 f2 f2 c4
f4 f4 f4 f4 f4 f4 f4 f4 f4 f4 f4 f8 c4 c8 f4 f4 c4
f8 f8 f8 f8 f8 f8 f8 f8 f8 f8 f8 f8 c8 c8 f8 f8 c8
c4 c4 c4 c4 c4 c4 c4 c4 c4 c4 c4 c8 c4 c8 c4 c4 c4
c8 c8 c8 c8 c8 c8 c8 c8 c8 c8 c8 c8 c8 c8 c8 c8 c8
i* u1 u2 u4 u8 i1 i2 i4 i8 f2 f4 f8 c4 c8 i* f* c*
f* f* f* f* f* f* f* f* f* f2 f4 f8 c4 c8 f* f* c*
c* c* c* c* c* c* c* c* c* c4 c4 c8 c4 c8 c* c* c*
"""
TABLE_X32 = """
b1 u1 u2 u4 u4 i1 i2 i4 i4 f2 f4 f4 c4 c4 i* f* c*
u1 u1 u2 u4 u4 i2 i2 i4 i4 f2 f4 f4 c4 c4 u1 f* c*
u2 u2 u2 u4 u4 i4 i4 i4 i4 f2 f4 f4 c4 c4 u2 f* c*
u4 u4 u4 u4 u4 i4 i4 i4 i4 f2 f4 f4 c4 c4 u4 f* c*
u4 u4 u4 u4 u4 i4 i4 i4 i4 f2 f4 f4 c4 c4 u4 f* c*
i1 i2 i4 i4 i4 i1 i2 i4 i4 f2 f4 f4 c4 c4 i1 f* c*
i2 i2 i4 i4 i4 i2 i2 i4 i4 f2 f4 f4 c4 c4 i2 f* c*
i4 i4 i4 i4 i4 i4 i4 i4 i4 f2 f4 f4 c4 c4 i4 f* c*
i4 i4 i4 i4 i4 i4 i4 i4 i4 f2 f4 f4 c4 c4 i4 f* c*
f2 f2 f2 f2 f2 f2 f2 f2 f2 f2 f4 f4 c4 c4 f2 f2 c4
f4 f4 f4 f4 f4 f4 f4 f4 f4 f4 f4 f4 c4 c4 f4 f4 c4
f4 f4 f4 f4 f4 f4 f4 f4 f4 f4 f4 f4 c4 c4 f4 f4 c4
c4 c4 c4 c4 c4 c4 c4 c4 c4 c4 c4 c4 c4 c4 c4 c4 c4
c4 c4 c4 c4 c4 c4 c4 c4 c4 c4 c4 c4 c4 c4 c4 c4 c4
i* u1 u2 u4 u4 i1 i2 i4 i4 f2 f4 f4 c4 c4 i* f* c*
f* f* f* f* f* f* f* f* f* f2 f4 f4 c4 c4 f* f* c*
c* c* c* c* c* c* c* c* c* c4 c4 c4 c4 c4 c* c* c*
"""
_DTYPE = {'b1': 'bool', 'u1': 'uint8', 'u2': 'uint16', 'u4': 'uint32', 'u8': 'uint64', 'i1': 'int8', 'i2': 'int16',
          'i4': 'int32', 'i8': 'int64', 'f2': 'float16', 'f4': 'float32', 'f8': 'float64', 'c4': 'complex64',
          'c8': 'complex128', 'i*': int, 'f*': float, 'c*': complex}
_CODE = {np.dtype(v): k for k, v in _DTYPE.items() if isinstance(v, str)}


def _observed_table() -> list:
    def code(a, b):
        dt, weak = dtypes.result_type(_DTYPE[a], _DTYPE[b], return_weak_type_flag=True)
        return _CODE[dt][:-1] + "*" if weak else _CODE[dt]
    return [[code(a, b) for a in CODES] for b in CODES]


def _expected(table: str) -> list:
    return [row.split() for row in table.strip().splitlines()]


def test_public_names_are_jax_dtypes_all_but_bfloat16():
    for name in ("canonicalize_dtype", "finfo", "float0", "iinfo", "issubdtype", "extended", "prng_key",
                 "result_type", "scalar_type_of", "TypePromotionError", "itemsize_bits"):
        assert hasattr(portax.dtypes, name), name
    assert issubclass(dtypes.TypePromotionError, ValueError)


def test_result_type_follows_jax_promotion_table_x32():
    assert _observed_table() == _expected(TABLE_X32)


def test_result_type_follows_jax_promotion_table_x64(x64):
    assert _observed_table() == _expected(TABLE_X64)


def test_result_type_weak_flag_none_and_no_arguments():
    weak = jnp.array(1.)
    assert dtypes.result_type(weak) == np.float32
    assert dtypes.result_type(weak, return_weak_type_flag=True) == (np.float32, True)
    assert dtypes.result_type(weak.astype(np.float32), return_weak_type_flag=True) == (np.float32, False)
    assert dtypes.result_type(None) == np.float32
    assert dtypes.result_type(jnp.ones(2, jnp.int8), 3) == np.int8
    assert dtypes.result_type(jnp.ones(2, jnp.float16), 1.0) == np.float16
    with pytest.raises(ValueError, match="at least one array or dtype is required"):
        dtypes.result_type()


def test_promote_types_treats_python_types_as_weak():
    # JAX's promote_types docstring: Python scalar types do not widen a strongly typed dtype
    assert jnp.promote_types("uint8", int) == np.uint8
    assert jnp.promote_types("float16", float) == np.float16
    assert jnp.result_type(int, "int8") == np.int8


def test_canonicalize_dtype(x64):
    assert dtypes.canonicalize_dtype("float64") == np.float64
    assert dtypes.canonicalize_dtype(int) == np.int64


def test_canonicalize_dtype_x32():
    for src, want in (("float64", "float32"), ("int64", "int32"), ("uint64", "uint32"), ("complex128", "complex64"),
                      (int, "int32"), (float, "float32"), ("float16", "float16"), (jnp.int8, "int8")):
        assert dtypes.canonicalize_dtype(src) == np.dtype(want), src
    assert dtypes.canonicalize_dtype(dtypes.float0) == dtypes.float0
    with pytest.raises(TypeError, match="not understood"):
        dtypes.canonicalize_dtype("not-a-dtype")
    with pytest.raises(ValueError, match="allow_extended_dtype=False"):
        dtypes.canonicalize_dtype(dtypes.prng_key)
    assert dtypes.canonicalize_dtype(dtypes.prng_key, allow_extended_dtype=True) is dtypes.prng_key


SCALAR_TYPES = [np.bool_, np.int8, np.int16, np.int32, np.int64, np.uint8, np.uint16, np.uint32, np.uint64,
                np.float16, np.float32, np.float64, np.complex64, np.complex128]


@pytest.mark.parametrize("t", SCALAR_TYPES)
def test_issubdtype_matches_numpy_on_standard_types(t):
    # JAX's testIsSubdtype
    assert dtypes.issubdtype(t, t) and dtypes.issubdtype(np.dtype(t), t) and dtypes.issubdtype(t, np.dtype(t))
    for category in (np.generic, np.inexact, np.integer, np.signedinteger, np.unsignedinteger, np.floating,
                     np.complexfloating):
        assert dtypes.issubdtype(t, category) == np.issubdtype(t, category)
    assert not dtypes.issubdtype(t, dtypes.extended) and not dtypes.issubdtype(t, dtypes.prng_key)


def test_issubdtype_extended_categories():
    # JAX's testIsSubdtypeExtended (portax has no key dtype, so only the abstract classes)
    assert dtypes.issubdtype(dtypes.extended, dtypes.extended)
    assert dtypes.issubdtype(dtypes.extended, np.generic)
    assert not dtypes.issubdtype(dtypes.extended, np.number)
    assert dtypes.issubdtype(dtypes.prng_key, dtypes.prng_key) and dtypes.issubdtype(dtypes.prng_key, dtypes.extended)
    assert dtypes.issubdtype(dtypes.prng_key, np.generic) and not dtypes.issubdtype(dtypes.prng_key, np.number)
    assert dtypes.issubdtype(jnp.float32, jnp.floating) and not dtypes.issubdtype("int32", np.floating)
    # typed keys have a key dtype; legacy PRNGKey keys are raw uint32 data
    assert dtypes.issubdtype(portax.random.key(0).dtype, dtypes.prng_key)
    assert not dtypes.issubdtype(portax.random.key(0).dtype, np.number)
    assert not dtypes.issubdtype(portax.random.PRNGKey(0).dtype, dtypes.prng_key)


def test_finfo_iinfo_every_dtype_not_canonicalised():
    for name in ("float16", "float32", "float64"):
        assert dtypes.finfo(name).bits == np.finfo(name).bits and dtypes.finfo(name).eps == np.finfo(name).eps
        assert jnp.finfo(getattr(jnp, name)).bits == np.finfo(name).bits
    assert dtypes.finfo(np.complex64).dtype == np.float32 and dtypes.finfo(np.complex128).dtype == np.float64
    for name in ("int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64"):
        assert (dtypes.iinfo(name).min, dtypes.iinfo(name).max) == (np.iinfo(name).min, np.iinfo(name).max)
    assert jnp.iinfo(jnp.int64).max == 2 ** 63 - 1  # JAX: not narrowed to int32 without x64
    with pytest.raises(ValueError):
        dtypes.finfo(np.int32)


def test_scalar_type_of():
    assert dtypes.scalar_type_of(True) is bool and dtypes.scalar_type_of(jnp.ones(2, bool)) is bool
    assert dtypes.scalar_type_of(3) is int and dtypes.scalar_type_of(jnp.arange(2, dtype=jnp.uint8)) is int
    assert dtypes.scalar_type_of(1.5) is float and dtypes.scalar_type_of(np.float16(1)) is float
    assert dtypes.scalar_type_of(jnp.ones(2) * 1j) is complex and dtypes.scalar_type_of(np.float32) is float
    with pytest.raises(TypeError):
        dtypes.scalar_type_of(np.zeros(2, dtypes.float0))


def test_itemsize_bits():
    # JAX's test_itemsize_bits and test_itemsize_none_raises
    for dt, bits in ((jnp.int8, 8), (jnp.int16, 16), (jnp.int32, 32), (jnp.float16, 16), (jnp.float32, 32),
                     (jnp.float64, 64), (np.complex64, 64), (np.bool_, 8)):
        assert dtypes.itemsize_bits(dt) == bits
    with pytest.raises(ValueError, match="dtype cannot be None"):
        dtypes.itemsize_bits(None)
