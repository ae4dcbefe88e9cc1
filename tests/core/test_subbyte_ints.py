"""The sub-byte integers (int2, uint2, int4, uint4 of ``ml_dtypes``): dtypes, JAX's promotion lattice, iinfo, and
their values on every backend, which stores them as uint8 bits and computes them in 32 bits wrapped to their width
(``core.narrow_floats``); also finfo/iinfo of numpy scalar classes."""
import ml_dtypes
import numpy as np
import pytest

import portax
import portax.numpy as jnp
from portax import lax
from portax.core import dtypes
from portax.core.backend import registry

BACKENDS = ["reference", "cpu_llvm", "wgpu"]
NAMES = ["int2", "uint2", "int4", "uint4"]


def _on(name, x):
    if not registry.available(name):
        pytest.skip(f"backend {name} is not available here")
    return portax.device_put(x, registry.get(name).devices()[0])


def _all(dtype):
    """Every value of ``dtype``, as a host array of it."""
    info = ml_dtypes.iinfo(dtype)
    return np.arange(int(info.min), int(info.max) + 1).astype(dtype)


def _wrap(v, dtype):
    """int64 values wrapped to ``dtype``'s width (two's complement), as ``ml_dtypes`` casts from int64 do."""
    return np.asarray(v, np.int64).astype(dtype)


# --- dtypes ---------------------------------------------------------------------------------------------------
def test_scalar_types_iinfo_issubdtype():
    for name in NAMES:
        t, d = getattr(jnp, name), np.dtype(getattr(ml_dtypes, name))
        assert np.dtype(t) == d and repr(t) == f"<class 'jax.numpy.{name}'>"
        signed = name.startswith("i")
        assert jnp.issubdtype(t, jnp.integer) and jnp.issubdtype(t, jnp.signedinteger) == signed
        assert jnp.issubdtype(t, jnp.unsignedinteger) != signed and not jnp.issubdtype(t, jnp.floating)
        info = jnp.iinfo(t)
        assert (info.min, info.max, info.bits) == (ml_dtypes.iinfo(d).min, ml_dtypes.iinfo(d).max, int(name[-1]))
        assert portax.dtypes.itemsize_bits(t) == int(name[-1]) and portax.dtypes.scalar_type_of(jnp.zeros(1, t)) is int
        assert jnp.iinfo(jnp.zeros(2, t)).max == info.max
    x = jnp.int4(-3)
    assert x.dtype == jnp.int4 and x.shape == () and int(x) == -3
    assert repr(jnp.asarray([1, -2], dtype=jnp.int4)) == "Array([1, -2], dtype=int4)"


def test_finfo_iinfo_of_numpy_scalar_classes():
    assert jnp.finfo(np.float32).bits == 32 and jnp.finfo(np.float16).eps == np.finfo(np.float16).eps
    assert jnp.iinfo(np.int8).max == 127 and jnp.iinfo(jnp.uint16).max == 65535
    assert jnp.issubdtype(np.float32, jnp.floating) and not jnp.issubdtype(np.int8, jnp.floating)
    assert portax.dtypes.finfo(np.float64).bits == 64 and portax.dtypes.iinfo(np.uint32).bits == 32


def test_promotion_lattice():
    for name in NAMES:
        t = getattr(jnp, name)
        assert jnp.promote_types(t, t) == t and jnp.promote_types(t, int) == t
        assert jnp.result_type(jnp.zeros(2, t), 3) == t
        with pytest.raises(portax.dtypes.TypePromotionError, match="4-bit integers do not support implicit"):
            jnp.promote_types(t, jnp.int8)
    with pytest.raises(portax.dtypes.TypePromotionError):
        jnp.promote_types(jnp.int4, jnp.uint4)
    with pytest.raises(portax.dtypes.TypePromotionError):
        jnp.promote_types(jnp.int4, float)


# --- values on every backend ----------------------------------------------------------------------------------
@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("name", NAMES)
def test_arithmetic_wraps(backend, name):
    d = np.dtype(getattr(ml_dtypes, name))
    a = _all(d)
    b = np.roll(a, 1)
    x, y = _on(backend, a), _on(backend, b)
    a64, b64 = a.astype(np.int64), b.astype(np.int64)
    np.testing.assert_array_equal(np.asarray(x + y), _wrap(a64 + b64, d))
    np.testing.assert_array_equal(np.asarray(x * y), _wrap(a64 * b64, d))
    np.testing.assert_array_equal(np.asarray(x - y), _wrap(a64 - b64, d))
    np.testing.assert_array_equal(np.asarray(-x), _wrap(-a64, d))
    np.testing.assert_array_equal(np.asarray(jnp.maximum(x, y)), np.maximum(a64, b64).astype(d))
    np.testing.assert_array_equal(np.asarray(x < y), a64 < b64)
    np.testing.assert_array_equal(np.asarray(~x), _wrap(~a64, d))
    assert (x + y).dtype == d and int(jnp.sum(x, dtype=jnp.int32)) == int(a64.sum())


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("name", NAMES)
def test_bit_operations_on_the_narrow_width(backend, name):
    d = np.dtype(getattr(ml_dtypes, name))
    bits = int(name[-1])
    a = _all(d)
    x = _on(backend, a)
    raw = a.view(np.uint8).astype(np.int64)  # the value's bits, zero-extended
    one = _on(backend, np.ones_like(a))
    np.testing.assert_array_equal(np.asarray(lax.shift_right_logical(x, one)), _wrap(raw >> 1, d))
    np.testing.assert_array_equal(np.asarray(lax.shift_right_arithmetic(x, one)), _wrap(a.astype(np.int64) >> 1, d))
    np.testing.assert_array_equal(np.asarray(lax.shift_left(x, one)), _wrap(raw << 1, d))
    np.testing.assert_array_equal(np.asarray(lax.population_count(x)), _wrap([bin(v).count("1") for v in raw], d))
    np.testing.assert_array_equal(np.asarray(lax.clz(x)), _wrap([bits - int(v).bit_length() for v in raw], d))


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("name", NAMES)
def test_conversions(backend, name):
    d = np.dtype(getattr(ml_dtypes, name))
    info = ml_dtypes.iinfo(d)
    f = np.array([-100.0, -2.7, -0.5, 0.0, 0.9, 1.5, 2.99, 100.0, np.nan], np.float32)
    want = np.where(np.isnan(f), 0, np.clip(np.trunc(f), int(info.min), int(info.max))).astype(d)  # saturating
    np.testing.assert_array_equal(np.asarray(_on(backend, f).astype(d)), want)
    i = np.arange(-20, 20, dtype=np.int32)
    np.testing.assert_array_equal(np.asarray(_on(backend, i).astype(d)), _wrap(i, d))  # integers wrap
    a = _all(d)
    x = _on(backend, a)
    np.testing.assert_array_equal(np.asarray(x.astype(jnp.float32)), a.astype(np.float32))
    np.testing.assert_array_equal(np.asarray(x.astype(jnp.bfloat16)), a.astype(np.float32).astype(jnp.bfloat16))
    np.testing.assert_array_equal(np.asarray(x.astype(jnp.int32)), a.astype(np.int32))


@pytest.mark.parametrize("backend", BACKENDS)
def test_jit_vmap_moves_and_reductions(backend):
    a = _all(np.dtype(ml_dtypes.int4))
    x = _on(backend, a)
    a64 = a.astype(np.int64)
    f = portax.jit(lambda v: (v * v + 1)[::-1])
    np.testing.assert_array_equal(np.asarray(f(x)), _wrap(a64 * a64 + 1, jnp.int4)[::-1])
    np.testing.assert_array_equal(np.asarray(portax.vmap(lambda v: v * 3)(x)), _wrap(a64 * 3, jnp.int4))
    np.testing.assert_array_equal(np.asarray(jnp.sort(x[::-1])), a)
    np.testing.assert_array_equal(np.asarray(jnp.where(x > 0, x, jnp.int4(0))), np.maximum(a64, 0).astype(jnp.int4))
    assert int(jnp.max(x)) == 7 and int(jnp.argmin(x)) == 0
    assert int(jnp.dot(x, x)) == int(_wrap((a64 * a64).sum(), jnp.int4))
    np.testing.assert_array_equal(np.asarray(jnp.arange(6, dtype=jnp.uint4)), np.arange(6).astype(jnp.uint4))
    np.testing.assert_array_equal(np.asarray(lax.bitcast_convert_type(x, jnp.uint4)), a.view(jnp.uint4))


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("name", NAMES)
def test_bitcast_packs_sub_byte_values_into_bytes_low_bits_first(backend, name):
    # JAX (XLA): n-bit elements fill a byte from its lowest bits; a wider type takes a trailing axis of them
    d = np.dtype(getattr(ml_dtypes, name))
    bits, per = ml_dtypes.iinfo(d).bits, 8 // ml_dtypes.iinfo(d).bits
    raw = np.arange(4 * per, dtype=np.uint8) % (1 << bits)
    packed = np.zeros(4, np.uint8)
    for j in range(per):
        packed |= raw.reshape(4, per)[:, j] << (bits * j)
    x = _on(backend, _wrap(raw, d))
    for f in (lax.bitcast_convert_type, portax.jit(lax.bitcast_convert_type, static_argnums=1)):
        as_u8 = f(x.reshape(4, per), jnp.uint8)
        assert as_u8.shape == (4,)
        np.testing.assert_array_equal(np.asarray(as_u8), packed)
        as_u32 = f(x, jnp.uint32)  # all 4 bytes in one word
        assert as_u32.shape == () and int(as_u32) == int(packed.view(np.uint32)[0])
        back = f(_on(backend, packed), d)
        assert back.shape == (4, per) and back.dtype == d
        np.testing.assert_array_equal(np.asarray(back).reshape(-1), np.asarray(x))


@pytest.mark.parametrize("backend", BACKENDS)
def test_bits_above_the_width_of_a_host_array_are_ignored(backend):
    # ml_dtypes reads only the low bits of each byte; a host array viewed from bytes may hold anything above them
    raw = np.array([172, 10, 127, 140, 47, 170, 196, 151], np.uint8)
    x = raw.view(jnp.int4)
    clean = raw & 15
    a = _on(backend, x)
    np.testing.assert_array_equal(np.asarray(lax.convert_element_type(lax.bitcast_convert_type(a, jnp.uint4),
                                                                      jnp.uint8)), clean)
    np.testing.assert_array_equal(np.asarray(a.view(jnp.uint8)), clean[0::2] | clean[1::2] << 4)
    np.testing.assert_array_equal(np.asarray(portax.jit(lambda: jnp.asarray(x).view(jnp.uint8))()),
                                  clean[0::2] | clean[1::2] << 4)


@pytest.mark.parametrize("name", NAMES)
def test_abs_rejects_sub_byte_integers_as_jax(name):
    with pytest.raises(TypeError, match=f"abs does not accept dtype {name}"):
        lax.abs(lax.iota(np.dtype(getattr(ml_dtypes, name)), 3))
