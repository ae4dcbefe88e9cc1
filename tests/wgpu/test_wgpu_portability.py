"""Portability: WebGPU's default limits, the OpenGL adapter, grid tiling, size limits, clear errors."""
import os
import subprocess
import sys

import numpy as np
import pytest

import portax
import portax.numpy as jnp
from portax import jit
from portax.backends.wgpu import adapters
from portax.backends.wgpu.errors import LimitExceededError, ShaderCompileError
from portax.core.ir import ShapedArray
from portax.core.trace import Primitive, abstract_eval_rules

from wgpu_helpers import check, wgpu_backend, x64_enabled

HERE = os.path.dirname(os.path.abspath(__file__))


def _run_checks(**env):
    wgpu_backend()
    out = subprocess.run([sys.executable, os.path.join(HERE, "portability_checks.py")],
                         env=dict(os.environ, **env), capture_output=True, text=True, timeout=600, cwd=HERE)
    assert out.returncode == 0, out.stdout[-2000:] + out.stderr[-4000:]
    return out.stdout


def test_webgpu_default_limits():
    assert "storage buffers per stage: 8" in _run_checks(PORTAX_WGPU_DEFAULT_LIMITS="1")


def test_opengl_adapter():
    if not any(a.backend_type == "OpenGL" for a in adapters.list_adapters()):
        pytest.skip("no OpenGL adapter")
    assert "via OpenGL" in _run_checks(PORTAX_WGPU_ADAPTER="opengl")


def test_more_than_65535_workgroups_are_tiled():
    x = np.random.RandomState(8).randn(70000, 2).astype(np.float32)
    check(lambda v: jnp.sort(v, axis=1), x)  # one workgroup per row


def test_arrays_past_u32_indexing_are_refused():
    wgpu_backend()
    big = portax.ShapeDtypeStruct((2 ** 16, 2 ** 16), jnp.bool_)
    with pytest.raises(LimitExceededError, match=r"and bool\[65536,65536\].*2\*\*31"):
        jit(lambda v: v & v, backend="wgpu").lower(big).compile()


def test_binding_size_limit_is_a_clear_error():
    limit = wgpu_backend().runtime_device(wgpu_backend().devices()[0]).limits.max_storage_buffer_binding_size
    big = portax.ShapeDtypeStruct((limit // 4 + 1024,), jnp.float32)
    with pytest.raises(LimitExceededError, match="max_storage_buffer_binding_size"):
        jit(lambda v: v + 1, backend="wgpu").lower(big).compile()


def test_shader_errors_name_the_operation():
    backend = wgpu_backend()
    broken = Primitive("broken_op")
    abstract_eval_rules[broken] = lambda x: ShapedArray(x.shape, x.dtype)

    def rule(ctx, eqn):
        from portax.backends.wgpu.kernel_writer import KernelWriter
        from portax.backends.wgpu.program import context_of
        w = KernelWriter("broken")
        w.line(f"{w.buffer(eqn.out_binders[0], np.float32, write=True)}[gid] = undefined_thing;")
        ctx.launch(w, 1, context=context_of(eqn))
    backend.add_lowerings({broken: rule})
    try:
        with pytest.raises(ShaderCompileError, match=r"broken_op f32\[3\] -> f32\[3\]"):
            jit(lambda v: broken.bind(v), backend="wgpu")(np.ones(3, np.float32))
    finally:
        backend.rules.pop(broken)


def test_unsupported_dtype_names_the_missing_feature():
    """A dtype the adapter cannot compute in (float64 without shader-f64; float16 is emulated) is a TypeError
    naming it."""
    backend = wgpu_backend()
    if np.dtype(np.float64) in backend.capabilities.dtypes:
        pytest.skip("the adapter has shader-f64: no dtype feature is missing")
    with x64_enabled(), pytest.raises(TypeError, match="float64"):
        jit(lambda v: v + 1, backend="wgpu")(np.ones(3, np.float64))


_F16_WITHOUT_SHADER_F16 = """
import numpy as np, portax, portax.numpy as jnp
from portax.core.backend import registry
caps = registry.get("wgpu").capabilities
assert np.dtype(np.float16) not in caps.dtypes and np.dtype(np.float64) not in caps.dtypes, sorted(map(str, caps.dtypes))
x = (np.arange(-300, 300) / 7).astype(np.float16)
out = portax.jit(lambda v: (v * v + v, jnp.sum(v), portax.grad(lambda u: jnp.sum(jnp.sin(u)))(v)), backend="wgpu")(x)
assert out[0].dtype == np.float16
assert np.array_equal(np.asarray(out[0]).view(np.uint16), (x * x + x).view(np.uint16))
assert float(out[1]) == float(np.float16(x.astype(np.float32).sum()))
np.testing.assert_allclose(np.asarray(out[2], np.float32), np.cos(x.astype(np.float32)), atol=1e-3)
print("float16 emulated")
"""


def test_float16_without_shader_f16_is_emulated():
    wgpu_backend()
    env = dict(os.environ, PORTAX_WGPU_DISABLE_FEATURES="shader-f16,shader-f64")
    out = subprocess.run([sys.executable, "-c", _F16_WITHOUT_SHADER_F16], env=env, capture_output=True, text=True,
                         timeout=600, cwd=HERE)
    assert out.returncode == 0 and "float16 emulated" in out.stdout, out.stdout[-2000:] + out.stderr[-4000:]


def test_unknown_disabled_feature_is_an_error(monkeypatch):
    from portax.backends.wgpu import runtime
    monkeypatch.setenv(runtime.DISABLE_FEATURES_ENV, "shader-f16, shader-f99")
    with pytest.raises(ValueError, match="unknown feature.*shader-f99"):
        runtime.disabled_features()


_FLOAT64_CASES = """
import numpy as np, portax, portax.numpy as jnp
from portax import lax
from portax.core.backend import registry
assert portax.default_backend() == "wgpu" and np.dtype(np.float64) not in registry.get("wgpu").capabilities.dtypes
portax.config.update("jax_enable_x64", True)
x, xs = np.float64(1.5), np.linspace(0.1, 1.0, 4)
f = lambda v: jnp.sin(v) * v
df = lambda v: np.cos(v) * v + np.sin(v)

@portax.custom_jvp
def cj(v):
    return jnp.sin(v)
cj.defjvp(lambda p, t: (jnp.sin(p[0]), jnp.cos(p[0]) * t[0]))

cases = [  # (function, argument, expected)
    (portax.grad(f), x, df(x)),
    (lambda v: portax.jvp(f, (v,), (1.0 * v,))[1], x, df(x) * x),
    (portax.vmap(portax.grad(f)), xs, df(xs)),
    (portax.grad(lambda v: lax.cond(v > 1, jnp.sin, jnp.cos, v)), x, np.cos(x)),
    (portax.grad(lambda v: lax.scan(lambda c, a: (c * a + jnp.sin(c), c), v, xs)[0]), x, None),
    (portax.grad(lambda v: lax.fori_loop(0, 3, lambda i, c: c * 1.5, v)), x, 1.5 ** 3),
    (portax.grad(lambda v: cj(v) * 2.0), x, 2 * np.cos(x)),
    (portax.vmap(lambda v: lax.cond(v > 0.5, lambda u: u + 1.0, lambda u: u * 2.0, v)), xs,
     np.where(xs > 0.5, xs + 1, xs * 2)),
    (portax.grad(lambda v: jnp.sum(jnp.abs(jnp.fft.rfft(v)) ** 2)), xs,  # quadratic: central differences are exact
     [(np.sum(np.abs(np.fft.rfft(xs + e)) ** 2) - np.sum(np.abs(np.fft.rfft(xs - e)) ** 2)) / 2e-3
      for e in np.eye(4) * 1e-3]),
    (portax.jacfwd(f), xs, np.diag(df(xs))),
    (portax.jacrev(f), xs, np.diag(df(xs))),
    (lambda v: portax.linearize(f, v)[1](v), x, df(x) * x),
    (lambda v: jnp.sort(v) + jnp.zeros_like(v) + jnp.full_like(v, 1), xs, xs + 1),
    (lambda v: portax.jvp(lambda a, i: a * i, (v, 2), (v, np.zeros((), portax.dtypes.float0)))[1], x, 2 * x),
    (lambda v: portax.linear_transpose(lambda a: 2.0 * a + jnp.zeros(4), xs)(v)[0], xs, 2 * xs),
    (lambda v: portax.vmap(lambda a, b: a * b + 1.0)(v, xs), xs, xs * xs + 1),
    (lambda v: v + jnp.zeros(4) + jnp.arange(4.0), xs, xs + np.arange(4.0)),  # (last: jnp.zeros outside any transform)
]
"""

_CONSTANTS_FOLLOW_JIT_BACKEND = _FLOAT64_CASES + """
for fun, arg, want in cases:
    got = portax.jit(fun, backend="reference")(arg)
    assert got.dtype == np.float64 and {d.backend.name for d in got.devices()} == {"reference"}, got.devices()
    if want is not None:
        np.testing.assert_allclose(np.asarray(got), want, rtol=1e-9)
print("constants on the jit's backend")
"""


def _run_without_float64(script: str, done: str) -> None:
    """Run ``script`` with wgpu the default backend lacking float64 (and other features); it prints ``done``."""
    wgpu_backend()
    env = dict(os.environ, PORTAX_BACKEND="wgpu", PORTAX_WGPU_DEFAULT_LIMITS="1",
               PORTAX_WGPU_DISABLE_FEATURES="shader-f16,shader-f64,shader-int64,subgroup")
    out = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=600, cwd=HERE)
    assert out.returncode == 0 and done in out.stdout, out.stdout[-2000:] + out.stderr[-4000:]


def test_transformation_constants_follow_the_jit_backend():
    """Constants and zeros that transformations create while tracing under ``jit(backend=...)`` stay in the jaxpr:
    with wgpu the default backend and lacking float64, the float64 computation runs on the reference backend."""
    _run_without_float64(_CONSTANTS_FOLLOW_JIT_BACKEND, "constants on the jit's backend")


_CONSTANTS_FOLLOW_COMMITTED_ARRAYS = _FLOAT64_CASES + """
ref = portax.devices("reference")[0]
for fun, arg, want in cases[:-1]:
    got = fun(portax.device_put(arg, ref))
    assert got.dtype == np.float64 and got.devices() == {ref}, got.devices()
    if want is not None:
        np.testing.assert_allclose(np.asarray(got), want, rtol=1e-9)
samplers = [lambda k: portax.random.normal(k, (3,)), lambda k: portax.random.gamma(k, 2.0, (3,)),
            lambda k: portax.random.bernoulli(k, 0.3, (3,)), lambda k: portax.random.binomial(k, 5, 0.3, (3,))]
key = portax.random.wrap_key_data(portax.device_put(np.array([0, 42], np.uint32), ref))  # (key(42) made there)
for sample in samplers:
    got = sample(key)
    assert got.devices() == {ref}, got.devices()
    np.testing.assert_array_equal(np.asarray(got), np.asarray(portax.jit(sample, backend="reference")(key)))
print("constants on the committed arrays' backend")
"""


def test_transformation_constants_follow_committed_arrays():
    """Outside jit, the constants and zeros that transformations (and ``*_like``, primitives' rules and random
    samplers) make follow arguments committed to another backend: with wgpu the default backend and lacking float64,
    the float64 computation on arrays (keys) placed on the reference backend runs there, as JAX's computation follows
    data."""
    _run_without_float64(_CONSTANTS_FOLLOW_COMMITTED_ARRAYS, "constants on the committed arrays' backend")
