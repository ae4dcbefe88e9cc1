"""Tracing, compiling and running from many threads at once: the trace state is per thread (as in JAX)
and every cache and pool is safe under concurrent first calls. Run on every backend (PORTAX_BACKEND)."""
import sys
import threading

import numpy as np
import pytest

import portax
import portax.numpy as jnp
from portax.core import trace as core

N_THREADS = 8


@pytest.fixture(autouse=True)
def fast_switching():
    """Switch threads every 10 us, so that unguarded check-then-act sequences interleave."""
    old = sys.getswitchinterval()
    sys.setswitchinterval(1e-5)
    yield
    sys.setswitchinterval(old)
    assert_no_tracer_leak()


def run_threads(work, n: int = N_THREADS) -> list:
    """``[work(0), ..., work(n - 1)]``, each on its own thread, all released at once."""
    barrier = threading.Barrier(n)
    results, errors = [None] * n, []

    def target(i):
        try:
            barrier.wait()
            results[i] = work(i)
        except BaseException as e:  # re-raised on the main thread
            errors.append(e)

    threads = [threading.Thread(target=target, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        raise errors[0]
    return results


def assert_no_tracer_leak():
    assert not core.is_tracing()
    assert type(jnp.sin(np.float32(0.5))) is portax.Array
    assert type(portax.jit(lambda x: x * 3)(np.float32(2.0))) is portax.Array


def test_concurrent_first_calls_of_one_jitted_function():
    f = portax.jit(lambda x: jnp.sum(jnp.sin(x) * x))
    sizes = [3 + i % 4 for i in range(N_THREADS)]  # the same shape on several threads, and different ones
    outs = run_threads(lambda i: np.asarray(f(np.arange(sizes[i], dtype=np.float32))))
    for n, out in zip(sizes, outs):
        x = np.arange(n, dtype=np.float32)
        np.testing.assert_allclose(out, np.sum(np.sin(x) * x), rtol=1e-5)
    assert f._cache_size() == 4


def test_concurrent_grad_vmap_and_jit_of_them():
    def loss(w, x):
        return jnp.sum(jnp.tanh(x @ w) ** 2)

    def work(i):
        w = np.linspace(-1, 1, 6, dtype=np.float32).reshape(3, 2) * (i + 1)
        x = np.arange(3 * (i % 3 + 1), dtype=np.float32).reshape(-1, 3) / 10
        g = portax.grad(loss)(w, x)
        gj = portax.jit(portax.grad(loss))(w, x)
        v = portax.vmap(lambda r: jnp.cos(r) * r)(x)
        vj = portax.jit(portax.vmap(portax.grad(lambda r: jnp.sum(jnp.exp(r)))))(x)
        return [np.asarray(a) for a in (g, gj, v, vj)], w, x

    for (g, gj, v, vj), w, x in run_threads(work):
        t = np.tanh(x @ w)
        expect = x.T @ (2 * t * (1 - t ** 2))
        np.testing.assert_allclose(g, expect, rtol=2e-5, atol=1e-6)
        np.testing.assert_allclose(gj, expect, rtol=2e-5, atol=1e-6)
        np.testing.assert_allclose(v, np.cos(x) * x, rtol=1e-6, atol=1e-7)
        np.testing.assert_allclose(vj, np.exp(x), rtol=1e-6)


def test_concurrent_first_eager_ops():
    # shapes no other test uses: every thread compiles eager programs (some of them the same ones)
    def work(i):
        x = np.arange(97 + i % 3, dtype=np.float32) / 7
        return x, [np.asarray(a) for a in (jnp.cumsum(x), jnp.exp(x) - x, jnp.sort(-x), jnp.max(x))]

    for x, (c, e, s, m) in run_threads(work):
        np.testing.assert_allclose(c, np.cumsum(x), rtol=1e-5)
        np.testing.assert_allclose(e, np.exp(x) - x, rtol=1e-6)
        np.testing.assert_array_equal(s, np.sort(-x))
        assert m == x.max()


def test_trace_state_is_per_thread():
    """While one thread is inside a trace, other threads evaluate concretely and trace on their own."""
    inside, release = threading.Event(), threading.Event()
    seen = {}

    def slow(x):
        inside.set()
        assert release.wait(30)
        seen["tracer"] = core.is_tracer(x)
        return x + 1

    box = {}
    t = threading.Thread(target=lambda: box.setdefault("out", portax.jit(slow)(np.float32(1.0))))
    t.start()
    try:
        assert inside.wait(30)
        assert not core.is_tracing()
        y = jnp.sin(np.float32(0.0)) + 2  # an eager op while the other thread traces
        assert type(y) is portax.Array and float(y) == 2.0
        assert float(portax.grad(lambda x: x * x)(3.0)) == 6.0
    finally:
        release.set()
        t.join()
    assert seen["tracer"] and float(box["out"]) == 2.0


def test_threads_share_compiled_programs():
    f = portax.jit(lambda x: x * 2 + 1)
    outs = run_threads(lambda i: np.asarray(f(np.full(5, i, np.float32))))
    for i, out in enumerate(outs):
        np.testing.assert_array_equal(out, np.full(5, 2 * i + 1, np.float32))
    assert f._cache_size() == 1
