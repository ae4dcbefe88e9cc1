"""The cpu_llvm backend as a whole: fusion into kernels, vector code, the executable's inventory, compile
caches across processes, threads, the buffer pool, eager dispatch, virtual devices and collectives."""
from __future__ import annotations

import ctypes
import os
import re
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import portax
import portax.numpy as jnp
from portax import jit, lax
from portax.backends.cpu_llvm import allocator, engine, entry, threads
from portax.core.backend import get_backend
from portax.core.ir import ClosedJaxpr, Jaxpr, JaxprEqn, ShapedArray, Var
from portax.core.trace import Primitive, abstract_eval_rules

from cpu_llvm_helpers import check_executable, compiled

RNG = np.random.RandomState(4)
X = RNG.standard_normal(1000).astype(np.float32)


def selu(x):
    return 1.0507 * jnp.where(x > 0, x, 1.6733 * (jnp.exp(x) - 1))


def test_sum_of_fused_chain_is_one_kernel():
    c = jit(lambda x, y, z: jnp.sum(x + y * z), backend="cpu_llvm").lower(X, X, X).compile()
    assert c.kernel_count == 1
    assert c.kernels[0].kind == "reduce"
    np.testing.assert_allclose(c(X, X, X), np.sum(X + X * X, dtype=np.float64), rtol=1e-4)


def test_fused_selu_is_one_vectorised_loop():
    c = compiled(selu, X)
    assert [k.kind for k in c.kernels] == ["loop"]
    asm = engine.emit_assembly(c.as_text(), ["main"])
    reg = {512: "zmm", 256: "ymm", 128: "xmm"}[engine.host_target_info().vector_width]
    packed = re.findall(rf"\bv\w*ps\s+[^\n]*%{reg}", asm)
    assert len(packed) > 20, "the selu loop is not vectorised"
    assert "expf" not in asm  # exp is inlined polynomial code, not a libm call


def test_executable_inventory_and_ir():
    c = compiled(lambda x: (jnp.sort(x), jnp.cumsum(x), jnp.sum(x * x)), X)
    exe = c.executable
    # the loop makes sort's key canonical (-0.0 equal to +0.0, one NaN), as JAX's comparator does
    assert [k.kind for k in exe.kernels] == ["loop", "opaque", "opaque", "reduce"]
    assert [k.description.split("(")[-1] for k in exe.kernels][1:] == ["sort)", "cumsum)", "mul+reduce_sum)"]
    assert exe.runtime_calls == []
    assert "define void @\"main\"(ptr" in c.as_text()


def test_host_callbacks_are_documented_runtime_calls_between_kernels():
    def f(x):
        y = jnp.sin(x)
        portax.debug.callback(lambda a: None, y)
        z = portax.pure_callback(np.cos, portax.ShapeDtypeStruct(x.shape, x.dtype), y)
        return portax.experimental.io_callback(np.negative, portax.ShapeDtypeStruct(x.shape, x.dtype), z * 2)
    check_executable(f, X)
    c = compiled(f, X)
    assert [rc.primitive for rc in c.executable.runtime_calls] == ["debug_callback", "pure_callback", "io_callback"]
    np.testing.assert_allclose(c(X), -2 * np.cos(np.sin(X)), rtol=1e-5)


def test_unsupported_primitive_names_itself():
    p = Primitive("frobnicate")
    abstract_eval_rules[p] = lambda x: x
    x, y = Var(ShapedArray((3,), np.float32)), Var(ShapedArray((3,), np.float32))
    closed = ClosedJaxpr(Jaxpr([], [x], [JaxprEqn(p, [x], {}, [y])], [y]), [])
    backend = get_backend("cpu_llvm")
    with pytest.raises(NotImplementedError, match="frobnicate"):
        backend.compile(closed, backend.devices()[0])


def test_executable_checks_its_arity():
    exe = compiled(lambda x: x + 1, X).executable
    with pytest.raises(TypeError, match="takes 1 buffers, got 2"):
        exe(X, X)


def test_entry_writes_the_buffers_addresses_and_calls_main():
    enter = entry.get()
    assert enter is not None  # (CPython and numpy 2 here: the fast path is on)
    seen = []
    main = ctypes.CFUNCTYPE(None, ctypes.c_void_p)(lambda argv: seen.append(argv))
    arrays = (np.zeros(3), X[1:], np.zeros(0, np.uint8), np.frombuffer(b"abcd", np.uint8))  # a view, empty, read-only
    block, argv = entry.new_argv(len(arrays) + 1, ctypes.cast(main, ctypes.c_void_p).value)
    argv[len(arrays)] = 12345  # slots past the arrays stay as they are
    assert enter(ctypes.addressof(argv), arrays) == 0
    assert seen == [ctypes.addressof(argv)]
    assert list(argv) == [a.ctypes.data for a in arrays] + [12345]
    # an item that is not exactly an ndarray (a subclass here): refused, main not called
    assert enter(ctypes.addressof(argv), (arrays[0], np.ma.zeros(3))) == 1 and len(seen) == 1


def test_executable_takes_read_only_views_and_array_subclasses():
    exe = compiled(lambda x, y: x * 2 + y, X, X).executable
    y = X[::-1].copy()
    y.flags.writeable = False
    want = X * 2 + y
    np.testing.assert_array_equal(exe(X, y)[0], want)
    np.testing.assert_array_equal(exe(X, np.ma.masked_array(y))[0], want)  # addresses read in Python
    np.testing.assert_array_equal(exe(X, y)[0], want)


@pytest.mark.parametrize("fn", [lambda x, y: x * 2 + y,  # one output, no arena: the executor's plain path
                                lambda x, y: (x * 2 + y, jnp.sum(x) * y)])  # two outputs
def test_executable_outputs_are_fresh_buffers_each_call(fn):
    exe = compiled(fn, X, X).executable
    first = exe(X, X)
    kept = [o.copy() for o in first]
    second = exe(X[::-1].copy(), X)
    assert all(a is not b and not np.shares_memory(a, b) for a, b in zip(first, second))
    for o, k in zip(first, kept):  # the first call's results are not overwritten by the second call
        np.testing.assert_array_equal(o, k)
    with pytest.raises(TypeError, match="takes 2 buffers, got 1"):
        exe(X)


@pytest.mark.parametrize("n", [6, allocator.MIN_CACHED_BYTES // 4])  # below and above the caching allocator's size
def test_put_copies_into_a_c_contiguous_ndarray(n):
    backend = get_backend("cpu_llvm")
    host = np.arange(2 * n, dtype=np.float32).reshape(2, n).T  # Fortran order
    for value in (host, np.ma.masked_array(host), host[::2]):
        buf = backend.put(value, backend.devices()[0])
        assert type(buf) is np.ndarray and buf.flags.c_contiguous and buf.dtype == np.float32
        assert not np.shares_memory(buf, host)
        np.testing.assert_array_equal(buf, np.asarray(value))
    buf = backend.put(host, backend.devices()[0])
    host[0, 0] = -1  # the buffer is a copy
    assert buf[0, 0] == 0


def test_compile_cache_hit_in_a_second_process(tmp_path):
    script = textwrap.dedent("""
        import numpy as np, portax.numpy as jnp
        from portax import jit
        from portax.backends.cpu_llvm import engine
        from portax.core.backend import get_backend
        get_backend("cpu_llvm")  # its library kernels are compiled (or loaded) on creation
        before = engine.stats()
        out = jit(lambda x: jnp.tanh(x) * 3 + jnp.sum(x), backend="cpu_llvm")(np.arange(5, dtype=np.float32))
        after = engine.stats()
        print(after["compiles"] - before["compiles"], after["disk_hits"] - before["disk_hits"], float(out[1]))
    """)
    env = dict(os.environ, PORTAX_CACHE_DIR=str(tmp_path))
    env.pop("PORTAX_DISABLE_DISK_CACHE", None)
    runs = [subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=120)
            for _ in range(2)]
    for r in runs:
        assert r.returncode == 0, r.stderr
    (c1, h1, v1), (c2, h2, v2) = (r.stdout.split() for r in runs)
    assert int(c1) == 1 and int(h1) == 0
    assert int(c2) == 0 and int(h2) == 1 and v1 == v2


def test_big_loops_split_across_threads_give_the_same_result():
    x = RNG.standard_normal(3_000_001).astype(np.float32)
    f = jit(lambda v: (selu(v), jnp.sum(v * 2, axis=0)), backend="cpu_llvm")
    prev = threads.get_num_threads()
    try:
        threads.set_num_threads(1)
        single = [np.asarray(o) for o in f(x)]
        threads.set_num_threads(max(prev, 2))
        split = [np.asarray(o) for o in f(x)]
    finally:
        threads.set_num_threads(prev)
    np.testing.assert_array_equal(single[0], split[0])
    np.testing.assert_allclose(single[1], split[1], rtol=1e-5)


def test_outputs_come_from_the_buffer_pool():
    x = RNG.standard_normal(200_000).astype(np.float32)
    f = jit(lambda v: v * 2, backend="cpu_llvm")
    f(x)
    hits = allocator.default_pool().stats["hits"]
    for _ in range(3):
        out = f(x)
        del out
    assert allocator.default_pool().stats["hits"] >= hits + 2


def test_eager_ops_compile_once_per_signature():
    x = portax.device_put(X, get_backend("cpu_llvm").devices()[0])
    y = lax.exp(x)
    before = engine.stats()
    for _ in range(3):
        y = lax.exp(x)
    after = engine.stats()
    assert after["compiles"] == before["compiles"] and after["disk_hits"] == before["disk_hits"]
    np.testing.assert_allclose(np.asarray(y), np.exp(X), rtol=1e-6)


def test_virtual_devices():
    script = textwrap.dedent("""
        import numpy as np, portax
        from portax.core.backend import get_backend
        backend = get_backend("cpu_llvm")
        devs = backend.devices()
        x = portax.device_put(np.arange(4.0, dtype=np.float32), devs[2])
        y = portax.jit(lambda v: v * 2)(x)
        print(len(devs), repr(devs[2]), y.device.id, float(y[3]))
    """)
    env = dict(os.environ, PORTAX_CPU_DEVICES="3", PORTAX_BACKEND="cpu_llvm")
    r = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert r.stdout.split() == ["3", "CpuDevice(id=2)", "2", "6.0"]


@pytest.mark.parametrize("name, params", [
    ("psum", {}), ("pmax", {}), ("pmin", {}),
    ("all_gather", {"all_gather_dimension": 1, "tiled": False}),
    ("all_gather", {"all_gather_dimension": 0, "tiled": True}),
    ("reduce_scatter", {"scatter_dimension": 0, "tiled": True}),
    ("reduce_scatter", {"scatter_dimension": 1, "tiled": False}),
    ("ppermute", {"perm": ((0, 1), (1, 2))}),
    ("all_to_all", {"split_axis": 1, "concat_axis": 0}),
])
def test_collectives_match_the_reference(name, params):
    from portax_reference.rules_collectives import collective
    bufs = [RNG.standard_normal((3, 6)).astype(np.float32) for _ in range(3)]
    backend = get_backend("cpu_llvm")
    got = backend.collective(name, bufs, backend.devices() * 3, **params)
    want = collective(name, bufs, [None] * 3, **params)
    assert len(got) == len(want)
    for g, w in zip(got, want):
        np.testing.assert_allclose(g, w, rtol=1e-6)


def test_profile_hook_times_each_kernel_and_loop_body_iterations():
    # a profiler trace runs a profiled build: generated code reads the clock around every kernel, and a
    # kernel of a scan body accumulates its iterations (calls == length); results are the same
    def body(c, x):
        with portax.named_scope("step"):
            return c * 0.5 + jnp.sin(x), c

    f = jit(lambda xs: lax.scan(body, jnp.zeros(3), xs)[0], backend="cpu_llvm")
    xs = np.ones((5, 3), np.float32)
    exe = f.lower(xs).compile().executable
    events = []
    out = exe.profile(lambda *a, **kw: events.append((a, kw)), xs)
    np.testing.assert_array_equal(out[0], exe(xs)[0])
    (step,) = [(a, kw) for a, kw in events if a[0].startswith("step/")]
    assert step[1]["calls"] == 5 and step[1]["bytes"] > 0 and step[0][2] >= 0
    assert {a[0] for a, _ in events} >= {"scan", step[0][0]}
