"""bfloat16 and the float8 types (``ml_dtypes``): dtypes, JAX's promotion lattice, finfo, and their values on
every backend, where a backend without them stores them as integers (``core.narrow_floats``): conversions
bit for bit as ``ml_dtypes`` casts, arithmetic in float32 rounded once, jit/grad/vmap."""
import ml_dtypes
import numpy as np
import pytest

import portax
import portax.numpy as jnp
from portax.core import dtypes, narrow_floats as nf
from portax.core.backend import registry

from core_helpers import x64_enabled

BACKENDS = ["reference", "cpu_llvm", "wgpu"]
NAMES = [d.name for d in dtypes.CUSTOM_FLOATS]


def _backend(name):
    if not registry.available(name):
        pytest.skip(f"backend {name} is not available here")
    return registry.get(name)


def _on(name, x):
    return portax.device_put(x, _backend(name).devices()[0])


# --- dtypes ---------------------------------------------------------------------------------------------------
def test_scalar_types_and_finfo():
    for name in NAMES:
        t = getattr(jnp, name)
        assert np.dtype(t) == np.dtype(getattr(ml_dtypes, name)) and getattr(portax.dtypes, name) == np.dtype(t)
        assert jnp.issubdtype(t, jnp.floating) and jnp.issubdtype(t, jnp.inexact) and not jnp.issubdtype(t, jnp.integer)
        assert portax.dtypes.issubdtype(t, np.floating) and portax.dtypes.scalar_type_of(jnp.zeros(1, t)) is float
        info, want = jnp.finfo(t), ml_dtypes.finfo(getattr(ml_dtypes, name))
        assert (info.eps, info.max, info.tiny, info.bits) == (want.eps, want.max, want.tiny, want.bits)
    x = jnp.bfloat16(1.5)
    assert x.dtype == jnp.bfloat16 and x.shape == () and float(x) == 1.5
    assert repr(jnp.asarray([1, 2], dtype=jnp.bfloat16)) == "Array([1, 2], dtype=bfloat16)"


def test_promotion_lattice_as_jax():
    bf16, f16, f8 = jnp.bfloat16, jnp.float16, jnp.float8_e4m3fn
    assert jnp.promote_types(bf16, f16) == np.float32
    assert jnp.promote_types(bf16, float) == dtypes.bfloat16 and jnp.promote_types(bf16, int) == dtypes.bfloat16
    assert jnp.promote_types(bf16, jnp.int8) == dtypes.bfloat16 and jnp.promote_types(bf16, jnp.uint32) == dtypes.bfloat16
    assert jnp.promote_types(bf16, np.float32) == np.float32 and jnp.promote_types(bf16, np.complex64) == np.complex64
    assert jnp.promote_types(f8, float) == np.dtype(f8) and jnp.promote_types(f8, f8) == np.dtype(f8)
    assert jnp.promote_types(f8, np.int8) == np.dtype(f8)  # integers are below the weak float, as in JAX
    for other in (np.float32, bf16, jnp.float8_e5m2, f16):
        with pytest.raises(portax.dtypes.TypePromotionError, match="8-bit floats do not support implicit promotion"):
            jnp.promote_types(f8, other)
    assert (jnp.ones(2, bf16) + 1.0).dtype == dtypes.bfloat16 and (jnp.ones(2, bf16) + jnp.ones(2, f16)).dtype == np.float32
    with portax.numpy_dtype_promotion("strict"):
        assert jnp.promote_types(bf16, float) == dtypes.bfloat16
        with pytest.raises(portax.dtypes.TypePromotionError):
            jnp.promote_types(bf16, f16)


# --- conversions, bit for bit -------------------------------------------------------------------------------
def _samples(d) -> np.ndarray:
    """Random float32 bit patterns, every value of ``d`` and the ties and near-ties between them."""
    rng = np.random.default_rng(0)
    vals = np.arange(2 ** (8 * d.itemsize), dtype=nf.storage_dtype(d)).view(d).astype(np.float32)
    vals = vals[np.isfinite(vals)]
    bits, half = vals.view(np.uint32), np.uint32(1 << (22 - nf.fmt(d).mant))
    near = [(bits + k).view(np.float32) for k in (half - 1, half, half + 1)] if nf.fmt(d).mant else []
    specials = np.array([0, -0., np.inf, -np.inf, np.nan, -np.nan, 1e-45, -1e-45, 3.4e38, -3.4e38], np.float32)
    rand = rng.integers(0, 2 ** 32, 20000, dtype=np.uint64).astype(np.uint32).view(np.float32)
    return np.concatenate([rand, specials, vals, vals * np.float32(0.5), *near])


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("name", NAMES)
def test_casts_match_ml_dtypes_bit_for_bit(backend, name):
    d = np.dtype(getattr(ml_dtypes, name))
    _backend(backend)
    x = _samples(d)
    with np.errstate(all="ignore"):
        want = x.astype(d)
    got = np.asarray(portax.jit(lambda v: v.astype(d), backend=backend)(x))
    assert got.dtype == d
    np.testing.assert_array_equal(got.view(nf.storage_dtype(d)), want.view(nf.storage_dtype(d)))
    codes = np.arange(2 ** (8 * d.itemsize), dtype=nf.storage_dtype(d)).view(d)
    back = np.asarray(portax.jit(lambda v: v.astype(np.float32), backend=backend)(codes))
    np.testing.assert_array_equal(back.view(np.uint32), codes.astype(np.float32).view(np.uint32))


@pytest.mark.parametrize("backend", ["reference", "cpu_llvm"])
def test_float64_rounds_once(backend):
    _backend(backend)
    rng = np.random.default_rng(1)
    # 1 + 2**-8 + 2**-40 rounds to float32 1 + 2**-8, a bfloat16 tie: rounding twice would give 1
    x = np.concatenate([rng.standard_normal(20000), [1 + 2 ** -8 + 2 ** -40, -(1 + 2 ** -8 + 2 ** -40), 1e300]])
    with x64_enabled(True):
        for d in (dtypes.bfloat16, dtypes.float8_e4m3fn, dtypes.float8_e5m2):
            got = np.asarray(portax.jit(lambda v: v.astype(d), backend=backend)(x))
            with np.errstate(over="ignore"):
                want = x.astype(d)
            np.testing.assert_array_equal(got.view(nf.storage_dtype(d)), want.view(nf.storage_dtype(d)))


# --- computing with them --------------------------------------------------------------------------------------
def _f(x, y):
    return jnp.sin(x) * y + jnp.exp(x / 4) - x * x


@pytest.mark.parametrize("backend", BACKENDS)
def test_arithmetic_rounds_each_result(backend):
    rng = np.random.default_rng(2)
    x = rng.standard_normal(257).astype(dtypes.bfloat16)
    y = rng.standard_normal(257).astype(dtypes.bfloat16)
    got = _on(backend, x) * _on(backend, y) + _on(backend, y)
    want = ((x.astype(np.float32) * y.astype(np.float32)).astype(dtypes.bfloat16).astype(np.float32)
            + y.astype(np.float32)).astype(dtypes.bfloat16)
    assert got.dtype == dtypes.bfloat16 and np.array_equal(np.asarray(got).view(np.uint16), want.view(np.uint16))
    f8 = x.astype(dtypes.float8_e4m3fn)
    got8 = _on(backend, f8) + _on(backend, f8)
    want8 = (f8.astype(np.float32) * 2).astype(dtypes.float8_e4m3fn)
    np.testing.assert_array_equal(np.asarray(got8).view(np.uint8), want8.view(np.uint8))


@pytest.mark.parametrize("backend", BACKENDS)
def test_sum_and_mean_accumulate_in_float32(backend):
    x = _on(backend, np.ones(1000, dtypes.bfloat16))  # summed in bfloat16, the sum would stop at 256
    assert jnp.sum(x).dtype == dtypes.bfloat16 and float(jnp.sum(x)) == 1000.0
    assert float(jnp.mean(x)) == 1.0 and float(portax.jit(jnp.sum, backend=backend)(x)) == 1000.0


@pytest.mark.parametrize("backend", BACKENDS)
def test_jit_grad_vmap_of_bfloat16_functions(backend):
    _backend(backend)
    rng = np.random.default_rng(3)
    x = rng.standard_normal((4, 8)).astype(dtypes.bfloat16)
    y = rng.standard_normal((4, 8)).astype(dtypes.bfloat16)
    ref = portax.jit(_f, backend="reference")(x, y)
    out = portax.jit(_f, backend=backend)(x, y)
    assert out.dtype == dtypes.bfloat16
    np.testing.assert_allclose(np.asarray(out, np.float32), np.asarray(ref, np.float32), rtol=2 ** -7, atol=2 ** -7)
    loss = lambda a, b: jnp.sum(_f(a, b))  # noqa: E731
    g = portax.jit(portax.grad(loss), backend=backend)(x, y)
    want = np.cos(x.astype(np.float32)) * y.astype(np.float32) + np.exp(x.astype(np.float32) / 4) / 4 \
        - 2 * x.astype(np.float32)
    assert g.dtype == dtypes.bfloat16
    np.testing.assert_allclose(np.asarray(g, np.float32), want, rtol=2 ** -6, atol=2 ** -6)
    v = portax.jit(portax.vmap(lambda r, s: jnp.dot(r, s)), backend=backend)(x, y)
    want_v = np.einsum("ij,ij->i", x.astype(np.float32), y.astype(np.float32))
    assert v.dtype == dtypes.bfloat16
    np.testing.assert_allclose(np.asarray(v, np.float32), want_v, rtol=2 ** -6, atol=2 ** -5)


@pytest.mark.parametrize("backend", BACKENDS)
def test_control_flow_and_data_movement_keep_bits(backend):
    _backend(backend)
    x = np.arange(-8, 8).astype(dtypes.bfloat16) / 3

    def f(v):
        w = jnp.concatenate([v[::-1].reshape(4, 4).T.reshape(-1), v[:3]])
        s = portax.lax.fori_loop(0, 3, lambda i, c: c * 2, v)
        return w, s, portax.lax.cond(v[0] < 0, lambda: v + 1, lambda: v - 1)
    w, s, c = portax.jit(f, backend=backend)(x)
    assert np.array_equal(np.asarray(w), np.concatenate([x[::-1].reshape(4, 4).T.reshape(-1), x[:3]]))
    assert np.array_equal(np.asarray(s), x * 8) and np.array_equal(np.asarray(c), (x + 1).astype(dtypes.bfloat16))


def test_backends_without_them_see_only_storage_integers():
    backend = _backend("cpu_llvm")
    assert dtypes.bfloat16 in nf.emulated(backend) and dtypes.float16 not in nf.emulated(backend)
    closed = portax.make_jaxpr(_f)(np.ones(3, dtypes.bfloat16), np.ones(3, dtypes.bfloat16))
    lowered = nf.lower_for(closed, backend)
    seen = {v.aval.dtype for e in lowered.jaxpr.eqns for v in list(e.inputs) + list(e.out_binders)}
    assert dtypes.bfloat16 not in seen and np.dtype(np.uint16) in seen


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("name", ["bfloat16", "float8_e4m3fn", "float8_e4m3fnuz", "float8_e5m2", "float8_e8m0fnu"])
def test_nextafter_steps_the_format_not_float32(backend, name):
    d = np.dtype(getattr(ml_dtypes, name))
    st = nf.storage_dtype(d)
    codes = np.arange(2 ** (8 * d.itemsize), dtype=st)
    x = np.concatenate([codes, codes, codes]).view(d)
    y = np.concatenate([np.random.default_rng(4).permutation(codes).view(d), np.zeros(codes.size, d),
                        np.full(codes.size, -0.0, np.float32).astype(d)])
    got = np.asarray(portax.jit(portax.lax.nextafter, backend=backend)(x, y))
    want = np.nextafter(x, y)
    same = (got.view(st) == want.view(st)) | (np.isnan(got.astype(np.float32)) & np.isnan(want.astype(np.float32)))
    assert same.all(), (x[~same][:4], y[~same][:4], got[~same][:4], want[~same][:4])


@pytest.mark.parametrize("backend", BACKENDS)
def test_reduce_precision_of_narrow_floats(backend):
    _backend(backend)
    x = np.array([1.1, 3.3, -0.7, 300.0], dtypes.bfloat16)
    got = portax.jit(lambda v: portax.lax.reduce_precision(v, 5, 2), backend=backend)(x)
    want = portax.lax.reduce_precision(x.astype(np.float32), 5, 2)
    assert got.dtype == dtypes.bfloat16
    np.testing.assert_array_equal(np.asarray(got, np.float32), np.asarray(want))
    same = portax.jit(lambda v: portax.lax.reduce_precision(v, 8, 7), backend=backend)(x)
    np.testing.assert_array_equal(np.asarray(same).view(np.uint16), x.view(np.uint16))


@pytest.mark.parametrize("backend", BACKENDS)
def test_casts_between_float16_integers_and_narrow_floats(backend):
    _backend(backend)
    h = np.arange(2 ** 16, dtype=np.uint16).view(np.float16)
    i = np.concatenate([np.arange(-300, 300), [2 ** 24 + 1, -(2 ** 24) - 3]]).astype(np.int32)
    for d in (dtypes.bfloat16, dtypes.float8_e4m3fn, dtypes.float8_e5m2):
        st = nf.storage_dtype(d)
        with np.errstate(all="ignore"):
            want_h, want_i = h.astype(d), i.astype(np.float32).astype(d)  # integers through float32, as XLA
        got_h = np.asarray(portax.jit(lambda v: v.astype(d), backend=backend)(h))
        np.testing.assert_array_equal(got_h.view(st), want_h.view(st))
        got_i = np.asarray(portax.jit(lambda v: v.astype(d), backend=backend)(i))
        np.testing.assert_array_equal(got_i.view(st), want_i.view(st))
    with np.errstate(all="ignore"):
        b16 = h.astype(dtypes.bfloat16)
        want = b16.astype(np.float16)
    back = np.asarray(portax.jit(lambda v: v.astype(np.float16), backend=backend)(b16))
    np.testing.assert_array_equal(back, want)
