"""Complex dtypes: promotion as in JAX, arithmetic and functions against numpy, transformations (grad values
computed with JAX 0.10.2), control flow with complex carries, and the same programs on every backend (each
computes complex values as pairs of real buffers)."""
import numpy as np
import pytest

import portax as jax
import portax.numpy as jnp
from portax import lax
from portax.core.backend import registry
from portax.core.primitives import elementwise as ew
from portax.test_util import check_grads

RNG = np.random.RandomState(0)
Z = (RNG.randn(3, 4) + 1j * RNG.randn(3, 4)).astype(np.complex64)
W = (RNG.randn(3, 4) + 1j * RNG.randn(3, 4)).astype(np.complex64)
V = np.array([1 + 2j, -3 + 0.5j, 0.25 - 1j], np.complex64)


def _close(got, want, tol=1e-5):
    got = np.asarray(got)
    assert got.dtype == np.asarray(want).dtype, (got.dtype, np.asarray(want).dtype)
    np.testing.assert_allclose(got, want, rtol=tol, atol=tol)


def test_promotion_follows_jax():
    for d in (jnp.bool_, jnp.int8, jnp.uint8, jnp.int32, jnp.float16, jnp.float32, jnp.complex64):
        assert jnp.promote_types(d, jnp.complex64) == jnp.complex64
    assert (jnp.ones(2, jnp.float32) + 1j).dtype == jnp.complex64
    assert (jnp.ones(2, jnp.int32) + 1j).dtype == jnp.complex64
    assert (jnp.ones(2, jnp.float16) + 1j).dtype == jnp.complex64
    assert jnp.asarray(1j).dtype == jnp.complex64 and jnp.asarray(1j).weak_type
    assert (jnp.ones(2, jnp.complex64) * 2.0).dtype == jnp.complex64
    assert jnp.asarray(np.ones(2, np.complex128)).dtype == jnp.complex64  # x64 off


def test_arrays_hold_complex_values():
    z = jnp.asarray(Z)
    assert z.dtype == jnp.complex64 and z.shape == (3, 4)
    np.testing.assert_array_equal(np.asarray(z), Z)
    assert "dtype=complex64" in repr(z) and complex(z[0, 0]) == complex(Z[0, 0])
    _close(z.real, Z.real)
    _close(z.imag, Z.imag)
    _close(z.conj(), Z.conj())
    _close(jnp.array([1, 2j]), np.array([1, 2j], np.complex64))
    _close(jnp.zeros(2, jnp.complex64), np.zeros(2, np.complex64))
    _close(jnp.asarray(Z.real).astype(jnp.complex64), Z.real.astype(np.complex64))


@pytest.mark.parametrize("name,fn", [
    ("add", lambda a, b: a + b), ("sub", lambda a, b: a - b), ("mul", lambda a, b: a * b),
    ("div", lambda a, b: a / b), ("neg", lambda a, b: -a), ("square", lambda a, b: a ** 2),
    ("cube_inverse", lambda a, b: a ** -3), ("eq", lambda a, b: a == a * (b != b)), ("ne", lambda a, b: a != b),
    ("scalar", lambda a, b: 2 * a + 1j), ("real_times", lambda a, b: a * b.real),
])
def test_arithmetic_matches_numpy(name, fn):
    want = fn(Z, W)
    got = fn(jnp.asarray(Z), jnp.asarray(W))
    if want.dtype == bool:
        np.testing.assert_array_equal(got, want)
    else:
        _close(got, want.astype(np.complex64), 1e-4)


@pytest.mark.parametrize("name", ["exp", "log", "sqrt", "sin", "cos", "tanh", "abs", "sign", "conj", "real", "imag",
                                  "angle", "square", "reciprocal"])
def test_functions_match_numpy(name):
    want = getattr(np, name)(Z)
    _close(getattr(jnp, name)(Z), want.astype(np.float32 if want.dtype.kind == "f" else np.complex64), 1e-5)


def test_predicates_and_power():
    z = np.array([1 + 2j, np.inf + 0j, complex(0, np.nan), 0j], np.complex64)
    for name in ("isfinite", "isnan", "isinf"):
        np.testing.assert_array_equal(getattr(jnp, name)(z), getattr(np, name)(z))
    _close(jnp.power(Z, 2.5), np.power(Z, 2.5).astype(np.complex64), 1e-4)
    _close(jnp.power(Z, W), np.power(Z, W).astype(np.complex64), 1e-4)
    _close(jnp.power(jnp.zeros(2, jnp.complex64), 2.0), np.zeros(2, np.complex64))


def test_reductions_contractions_and_structure():
    z, w = jnp.asarray(Z), jnp.asarray(W)
    _close(jnp.sum(z, axis=0), Z.sum(0), 1e-5)
    _close(jnp.mean(z), np.complex64(Z.mean()), 1e-5)
    _close(jnp.cumsum(z, axis=1), Z.cumsum(1), 1e-5)
    _close(jnp.prod(z, axis=1), Z.prod(1), 1e-4)
    _close(jnp.prod(z), np.complex64(Z.prod()), 1e-4)
    _close(jnp.prod(z[:, :0], axis=1), np.ones(3, np.complex64))
    _close(z @ w.T, Z @ W.T, 1e-5)
    _close(jnp.dot(z[0], w[0]), np.complex64(np.dot(Z[0], W[0])), 1e-5)
    _close(jnp.vdot(z, w), np.complex64(np.vdot(Z, W)), 1e-5)
    _close(jnp.einsum("ij,kj->ik", z, w), np.einsum("ij,kj->ik", Z, W), 1e-5)
    _close(jnp.concatenate([z, w]).reshape(4, 6).T[::-1], np.concatenate([Z, W]).reshape(4, 6).T[::-1])
    _close(z[jnp.array([2, 0]), 1:3], Z[[2, 0], 1:3])
    _close(z.at[1, 2].set(5j), np.where(np.arange(12).reshape(3, 4) == 6, 5j, Z).astype(np.complex64))
    _close(jnp.where(Z.real > 0, z, 0), np.where(Z.real > 0, Z, 0).astype(np.complex64))
    _close(jnp.pad(z, 1), np.pad(Z, 1))
    _close(jnp.sort_complex(V), np.sort_complex(V).astype(np.complex64))
    ties = np.array([1 + 2j, 1 - 1j, -2 + 0j, 1 + 0j], np.complex64)
    _close(jnp.sort(ties), np.sort(ties))
    np.testing.assert_array_equal(jnp.argsort(ties), np.argsort(ties, kind="stable"))
    np.testing.assert_array_equal(jnp.iscomplex(jnp.asarray(V.real) + 0j), np.zeros(3, bool))


def test_grad_follows_jax_conventions():
    # values computed with JAX 0.10.2
    _close(jax.grad(lambda a: jnp.real(jnp.sum(a * jnp.conj(a))))(V), np.array([2 - 4j, -6 - 1j, 0.5 + 2j], np.complex64))
    _close(jax.grad(lambda a: jnp.sum(jnp.abs(a) ** 2))(V), np.array([2 - 4j, -6 - 1j, 0.5 + 2j], np.complex64))
    _close(jax.grad(lambda a: jnp.sum(jnp.sin(a) * a), holomorphic=True)(V),
           np.array([11.302298 + 2.973149j, 3.1531246 - 1.294662j, 1.0462912 - 2.5610895j], np.complex64), 1e-4)
    _close(jax.grad(lambda a: jnp.imag(jnp.sum(jnp.exp(a))))(V),
           np.array([2.4717267 + 1.1312044j, 0.02386919 - 0.04369226j, -1.0804701 - 0.6937619j], np.complex64), 1e-4)
    with pytest.raises(TypeError, match="holomorphic=True"):
        jax.grad(lambda a: jnp.sum(a))(V)
    with pytest.raises(TypeError, match="complex dtype"):
        jax.grad(lambda a: jnp.sum(a), holomorphic=True)(np.ones(2, np.float32))


def test_jvp_vjp_vmap_and_jit():
    f = lambda a: jnp.exp(a) * a
    t = np.ones_like(V)
    out, tan = jax.jvp(f, (V,), (t,))
    _close(out, np.exp(V) * V, 1e-5)
    _close(tan, np.exp(V) * (V + 1), 1e-5)
    _, pullback = jax.vjp(f, V)
    _close(pullback(t)[0], np.exp(V) * (V + 1), 1e-5)  # holomorphic: the transpose is not conjugated, as in JAX
    _close(jax.vmap(lambda a, b: jnp.sum(a * b))(Z, W), (Z * W).sum(1), 1e-5)
    _close(jax.jit(lambda a: jnp.abs(a) + jnp.angle(a))(Z), np.abs(Z) + np.angle(Z), 1e-5)


def test_control_flow_with_complex_carries():
    rot = np.complex64(np.exp(0.3j))
    out = lax.fori_loop(0, 5, lambda i, c: c * rot, jnp.asarray(V))
    _close(out, V * rot ** 5, 1e-5)
    carry, ys = lax.scan(lambda c, x: (c * x, c + x), jnp.asarray(1 + 0j, jnp.complex64), jnp.asarray(V))
    _close(carry, np.complex64(np.prod(V)), 1e-5)
    _close(lax.cond(True, lambda a: a * 1j, lambda a: a, jnp.asarray(V)), V * 1j)
    n = lax.while_loop(lambda c: jnp.abs(c[0]) < 100, lambda c: (c[0] * 2j, c[1] + 1), (jnp.asarray(1 + 1j), 0))[1]
    assert int(n) == 7
    g = jax.grad(lambda a: jnp.abs(lax.fori_loop(0, 3, lambda i, c: c * a, 1 + 0j)))(V[0])
    _close(g, np.complex64(3 * abs(V[0]) ** 3 / V[0]), 1e-4)  # d|a^3| = 3|a|^3 / a, as JAX conjugates


def test_unsupported_ops_raise_clearly():
    with pytest.raises(TypeError, match="floor does not accept dtype complex64"):
        lax.floor(jnp.asarray(V))
    with pytest.raises(NotImplementedError, match="scatter_mul on complex64 values is not supported yet"):
        jax.jit(lambda a: a.at[0].multiply(2j))(V)


@pytest.mark.parametrize("backend", ["reference", "cpu_llvm", "wgpu"])
def test_programs_run_on_every_backend(backend):
    if not registry.available(backend):
        pytest.skip(f"backend {backend} is not available here")
    dev = jax.devices(backend)[0]
    z, w = jax.device_put(Z, dev), jax.device_put(W, dev)
    f = jax.jit(lambda a, b: (jnp.sum(jnp.exp(a) * b / (1 + jnp.abs(a)), axis=1), jnp.fft.fft(a), a @ b.T))
    s, spec, m = f(z, w)
    _close(s, (np.exp(Z) * W / (1 + np.abs(Z))).sum(1).astype(np.complex64), 1e-4)
    _close(spec, np.fft.fft(Z).astype(np.complex64), 1e-4)
    _close(m, (Z @ W.T).astype(np.complex64), 1e-4)
    assert s.device == dev and ew.real(s).device == dev



@pytest.mark.parametrize("name", ["sinh", "cosh", "tan", "expm1", "log1p"])
def test_more_functions_match_numpy(name):
    small = (Z * 1e-3).astype(np.complex64)  # expm1 and log1p stay accurate near zero
    for z in (Z, small):
        want = getattr(np, name)(z.astype(np.complex128)).astype(np.complex64)
        np.testing.assert_allclose(np.asarray(getattr(jnp, name)(z)), want, rtol=2e-5, atol=1e-6 * np.abs(want).max())
    g = jax.grad(lambda a: jnp.real(getattr(jnp, name)(a)).sum())(V)  # JAX's grad of Re f(z) is f'(z) for holomorphic f
    deriv = {"sinh": np.cosh, "cosh": np.sinh, "tan": lambda v: 1 / np.cos(v) ** 2, "expm1": np.exp,
             "log1p": lambda v: 1 / (1 + v)}[name](V.astype(np.complex128))
    np.testing.assert_allclose(np.asarray(g), deriv.astype(np.complex64), rtol=1e-4, atol=1e-5)


def test_complex_linear_systems_and_norms():
    a = (RNG.randn(2, 3, 3) + 1j * RNG.randn(2, 3, 3) + 3 * np.eye(3)).astype(np.complex64)
    b = (RNG.randn(2, 3) + 1j * RNG.randn(2, 3)).astype(np.complex64)
    _close(jnp.linalg.solve(a, b[..., None]), np.linalg.solve(a, b[..., None]).astype(np.complex64), 1e-4)
    _close(jnp.linalg.solve(a[0], b[0]), np.linalg.solve(a[0], b[0]).astype(np.complex64), 1e-4)
    _close(jnp.linalg.inv(a), np.linalg.inv(a).astype(np.complex64), 1e-4)
    _close(jnp.linalg.norm(Z), np.float32(np.linalg.norm(Z)), 1e-5)
    _close(jnp.linalg.norm(Z, axis=1), np.linalg.norm(Z, axis=1).astype(np.float32), 1e-5)
    g = jax.grad(lambda m: jnp.real(jnp.sum(jnp.linalg.solve(m, b[0]))))(a[0])  # the gradient exists (finite)
    assert g.dtype == jnp.complex64 and np.all(np.isfinite(np.asarray(g)))


def test_complex_conv_general_dilated_matches_direct_sum_and_grads():
    r = np.random.RandomState(0)
    x = (r.randn(1, 2, 5, 5) + 1j * r.randn(1, 2, 5, 5)).astype(np.complex64)
    w = (r.randn(3, 2, 2, 2) + 1j * r.randn(3, 2, 2, 2)).astype(np.complex64)
    conv = lambda a, b: lax.conv_general_dilated(a, b, (1, 1), "VALID")
    ref = np.array([[[[(x[0, :, i:i + 2, j:j + 2] * w[o]).sum() for j in range(4)] for i in range(4)]
                     for o in range(3)]])
    np.testing.assert_allclose(conv(x, w), ref, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(jax.jit(conv)(x, w), ref, rtol=1e-5, atol=1e-5)
    check_grads(conv, (x, w), order=1, modes=["fwd", "rev"], atol=1e-2, rtol=1e-2)


def test_complex_iota_lowers_to_a_real_iota():
    # jnp.arange(n, dtype=complex64) is one iota: complex lowering gives it a real iota and a zero imaginary part
    np.testing.assert_array_equal(jnp.arange(5, dtype=jnp.complex64), np.arange(5).astype(np.complex64))
    out = jax.jit(lambda: lax.broadcasted_iota(np.complex64, (2, 3), 1))()
    np.testing.assert_array_equal(out, np.broadcast_to(np.arange(3), (2, 3)).astype(np.complex64))
