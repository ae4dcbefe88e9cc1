"""Compiled programs are cached in bounded LRUs (``config.compile_cache_size``, env PORTAX_COMPILE_CACHE_SIZE)
and a jitted function's programs go with it. Run on every backend (PORTAX_BACKEND)."""
import gc
import json
import os
import subprocess
import sys
import textwrap
import threading
import time
import weakref

import numpy as np
import pytest

import portax
import portax.numpy as jnp
from portax.core import dispatch
from portax.core.config import DEFAULT_COMPILE_CACHE_SIZE
from portax.core.lru import LRUCache


@pytest.fixture
def cache_size():
    prev = portax.config.compile_cache_size
    yield lambda n: portax.config.update("compile_cache_size", n)
    portax.config.update("compile_cache_size", prev)


def test_lru_evicts_least_recently_used():
    c = LRUCache(maxsize=2)
    c.put("a", 1)
    c.put("b", 2)
    assert c.get("a") == 1  # "a" is now the most recently used
    c.put("c", 3)
    assert "b" not in c and c.get("a") == 1 and c.get("c") == 3 and len(c) == 2


def test_lru_peek_leaves_the_order():
    c = LRUCache(maxsize=2)
    c.put("a", 1)
    c.put("b", 2)
    assert c.peek("a") == 1 and c.peek("z") is None  # "a" stays the least recently used
    c.put("c", 3)
    assert "a" not in c and c.peek("b") == 2 and c.peek("c") == 3


def test_lru_makes_each_key_once_when_threads_ask_at_once():
    c, made, barrier = LRUCache(maxsize=4), [], threading.Barrier(8)

    def make():
        made.append(1)
        time.sleep(0.05)
        return object()

    def ask(out, i):
        barrier.wait()
        out[i] = c.get_or_create("k", make)

    out = [None] * 8
    threads = [threading.Thread(target=ask, args=(out, i)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(made) == 1 and all(o is out[0] for o in out)


def test_cache_size_from_environment():
    code = "import portax; print(portax.config.compile_cache_size)"
    env = dict(os.environ, PORTAX_COMPILE_CACHE_SIZE="7")
    assert subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                          check=True).stdout.strip() == "7"
    env.pop("PORTAX_COMPILE_CACHE_SIZE")
    assert subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                          check=True).stdout.strip() == str(DEFAULT_COMPILE_CACHE_SIZE)


def test_jit_cache_is_bounded(cache_size):
    cache_size(4)
    f = portax.jit(lambda x: x * 2 + 1)
    for n in list(range(1, 11)) + [1, 2]:  # 1 and 2 were evicted: compiled again
        x = portax.device_put(np.arange(n, dtype=np.float32))
        np.testing.assert_array_equal(f(x), np.arange(n, dtype=np.float32) * 2 + 1)
        np.testing.assert_array_equal(f(np.asarray(x)), np.arange(n, dtype=np.float32) * 2 + 1)
    assert f._cache_size() == 4 and len(f._fast) == 4


def test_eager_cache_is_bounded(cache_size):
    cache_size(8)
    for n in range(1, 25):
        x = np.linspace(0, 1, n, dtype=np.float32)
        np.testing.assert_allclose(jnp.sin(x), np.sin(x), rtol=1e-6)
    assert len(dispatch._eqn_cache) <= 8


def test_deleting_a_jitted_function_frees_its_programs():
    f = portax.jit(lambda x: x * 3.25 - 1)
    x = np.arange(5, dtype=np.float32)
    f(x)
    f(portax.device_put(x))  # the fast path's cache too
    lowered = f.lower(x)
    exe, jaxpr = weakref.ref(lowered.compile().executable), weakref.ref(lowered.jaxpr)
    del lowered
    gc.collect()
    assert exe() is not None
    del f
    gc.collect()
    assert exe() is None and jaxpr() is None


RSS_SCRIPT = textwrap.dedent("""
    import ctypes, gc, json, os, sys
    import numpy as np
    import portax

    def rss():
        gc.collect()
        try:  # hand freed heap back to the OS first: measure what is live, not the allocator's slack
            ctypes.CDLL(None).malloc_trim(0)
        except (OSError, AttributeError):
            pass
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")

    f = portax.jit(lambda x: x * 2 + 1)
    cap, n = portax.config.compile_cache_size, int(sys.argv[1])

    def run(sizes):
        for k in sizes:
            assert np.asarray(f(np.ones(k, np.float32)))[0] == 3

    run(range(1, 2 * cap + 1))  # warm up: the cache filled, then evicting
    before = rss()
    run(range(2 * cap + 1, 2 * cap + n + 1))
    print(json.dumps({"before": before, "after": rss(), "cached": f._cache_size()}))
""")


@pytest.mark.skipif(not os.path.exists("/proc/self/statm"), reason="reads RSS from /proc")
def test_memory_stays_bounded_over_many_shapes(tmp_path):
    """RSS within 5% over 2,000 new shapes (600 on wgpu, whose compiles are slow) with the cache capped."""
    backend = portax.default_backend()
    shapes = 600 if backend == "wgpu" else 2000
    env = dict(os.environ, PORTAX_BACKEND=backend, PORTAX_COMPILE_CACHE_SIZE="32", PORTAX_CACHE_DIR=str(tmp_path))
    env.pop("PORTAX_DISABLE_DISK_CACHE", None)

    def run() -> dict:
        out = subprocess.run([sys.executable, "-c", RSS_SCRIPT, str(shapes)], env=env, capture_output=True,
                             text=True, timeout=600)
        assert out.returncode == 0, out.stderr[-2000:]
        return json.loads(out.stdout.strip().splitlines()[-1])

    r = run()  # a fresh disk cache: every shape is compiled (cpu_llvm: by its LLVM compile worker)
    assert r["cached"] == 32
    assert r["after"] <= r["before"] * 1.05, r
