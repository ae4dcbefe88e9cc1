"""Fused loop kernels run one element per invocation (``scalar``) or four consecutive ones whose 32-bit operands
are read and written as ``vec4`` (``vec4``, where the element count is a multiple of 4): both forced through
``PORTAX_WGPU_LOOP`` and checked against the reference backend on chains that mix the ways a loop kernel
reads its operands (own index, broadcast, transpose, slice, one-element, iota) and every storage type."""
import re

import numpy as np
import pytest

import portax
import portax.numpy as jnp
from portax import lax, nn

from wgpu_helpers import check, compiled, force_variant, needs_dtype, variants_used, x64_enabled

R = np.random.RandomState(0)
X = R.randn(8, 12).astype(np.float32)
SQ = R.randn(12, 12).astype(np.float32)
ODD = R.randn(3, 7).astype(np.float32)  # 21 elements: no vec4 variant
ROW = R.randn(12).astype(np.float32)
INTS = (R.randn(8, 12) * 100).astype(np.int32)

CHAINS = [
    ("selu", nn.selu, (X,)),
    ("broadcast_row", lambda a, r: a * r + 1.0, (X, ROW)),
    ("scalar_operand", lambda a, s: jnp.exp(a) * s, (X, np.float32(3.0))),
    ("transpose_and_own", lambda a: a + a.T * 2.0, (SQ,)),
    ("slice", lambda a: a[:, 2:10] * 2.0, (X,)),
    ("iota", lambda a: a + jnp.arange(12, dtype=jnp.float32), (X,)),
    ("two_outputs", lambda a: (jnp.sin(a), a > 0.5), (X,)),
    ("int_and_bool", lambda a: (a * 3 - 7, (a & 1) == 0), (INTS,)),
    ("int8", lambda a: (a.astype(jnp.int8) * 3).astype(jnp.int8), (INTS,)),
    ("odd_size", lambda a: jnp.tanh(a) * 2.0, (ODD,)),
]


@pytest.fixture(params=["scalar", "vec4"])
def loop(request, monkeypatch):
    return force_variant(request, monkeypatch, "loop")


@pytest.fixture
def fresh_caches(request):
    """Compile caches emptied before and after (the test sets ``PORTAX_WGPU_LOOP`` itself)."""
    portax.clear_caches()
    request.addfinalizer(portax.clear_caches)


@pytest.mark.parametrize("name,f,args", CHAINS, ids=[c[0] for c in CHAINS])
def test_every_loop_variant_computes_every_chain(loop, name, f, args):
    check(f, *args, tol=1e-6)
    expected = "scalar" if name == "odd_size" else loop
    assert variants_used(f, *args, kernels="fused loop") == {expected}


SPECIALS = np.array([0.0, -0.0, np.inf, -np.inf, np.nan, 1e-45, -1e-45, 1e-38, 3e38, -3e38, 88.7, -104.0],
                    np.float32)
WIDE = np.concatenate([SPECIALS, R.uniform(-30, 30, 2000).astype(np.float32),
                       np.geomspace(1e-30, 1e30, 400, dtype=np.float32)])


@pytest.mark.parametrize("name,f", [("expm1", lax.expm1), ("sin", lax.sin), ("lgamma", lax.lgamma),
                                    ("erf_inv", lambda a: lax.erf_inv(jnp.tanh(a))),
                                    ("pow", lambda a: jnp.abs(a) ** jnp.flip(a) * 0.5)])
def test_vec4_loop_is_bitwise_the_scalar_loop(monkeypatch, fresh_caches, name, f):
    """The four lanes of a vec4 invocation run the scalar kernel's code: the same bits, specials included."""
    got = {}
    for v in ("scalar", "vec4"):
        monkeypatch.setenv("PORTAX_WGPU_LOOP", v)
        portax.clear_caches()
        assert variants_used(f, WIDE) == {v}
        got[v] = np.asarray(portax.jit(f, backend="wgpu")(WIDE))
    np.testing.assert_array_equal(got["vec4"].view(np.uint32), got["scalar"].view(np.uint32))


def test_vec4_loop_f16_operands_stay_scalar(loop):
    """16- and 64-bit operands are read and written an element at a time next to ``vec4`` float32 ones."""
    needs_dtype(np.float16)
    check(lambda a, h: (a * 2.0 + h.astype(jnp.float32), h * 2), X, X.astype(np.float16), tol=1e-3)


def test_vec4_loop_f64_operands_stay_scalar(loop):
    with x64_enabled():
        needs_dtype(np.float64)
        check(lambda a, d: (a * 2.0, d * a.astype(jnp.float64)), X, X.astype(np.float64))


def test_loops_default_to_vec4_reading_and_writing_vec4():
    """Four elements per invocation by default: the lavapipe selu of bench/ runs 2x faster than one per
    invocation (llvmpipe pays per lane for each storage access)."""
    x = R.randn(4096).astype(np.float32)
    (k,) = compiled(nn.selu, x).kernels
    assert k.context.endswith("[vec4]") and k.workgroups == 4
    assert re.search(r"read> b0: array<vec4<f32>>", k.wgsl) and re.search(r"read_write> b1: array<vec4<f32>>", k.wgsl)


def test_vec4_loop_binds_an_operand_read_two_ways_once(monkeypatch, fresh_caches):
    """An operand read at its own index and transposed keeps one (scalar) binding: no binding is added."""
    f = lambda a: a + a.T * 2.0
    bindings = {}
    for v in ("scalar", "vec4"):
        monkeypatch.setenv("PORTAX_WGPU_LOOP", v)
        portax.clear_caches()
        (k,) = compiled(f, SQ).kernels
        bindings[v] = k.wgsl.count("@binding")
    assert bindings["vec4"] == bindings["scalar"] == 2


def test_forcing_an_unknown_loop_variant_is_refused(monkeypatch, fresh_caches):
    monkeypatch.setenv("PORTAX_WGPU_LOOP", "vec8")
    with pytest.raises(ValueError, match="PORTAX_WGPU_LOOP must be one of scalar, vec4"):
        compiled(lambda a: lax.neg(a) * 3.0, X.copy())
