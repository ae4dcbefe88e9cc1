"""cond, while_loop, fori_loop and scan on cpu_llvm: branches and loops inside the generated program (no Python
per iteration), nested, with consts, pass-through and literal outputs, reverse scans."""
from __future__ import annotations

import time

import numpy as np
import pytest

import portax
import portax.numpy as jnp
from portax import jit, lax

from cpu_llvm_helpers import assert_matches, numpy_calls

RNG = np.random.RandomState(3)
X = RNG.standard_normal((4, 5)).astype(np.float32)


@pytest.mark.parametrize("index", [0, 1, 2, 7, -1])
def test_switch(index):
    branches = [lambda x: x + 1, lambda x: jnp.sin(x) * 2, lambda x: x]
    assert_matches(lambda i, x: lax.switch(i, branches, x), np.int32(index), X)


def test_cond_bool_with_literal_and_passthrough_outputs():
    assert_matches(lambda p, x: lax.cond(p, lambda v: (v, 1.0, v * 2), lambda v: (v + 1, 2.0, v), x),
                   np.bool_(True), X)
    assert_matches(lambda p, x: lax.cond(p, lambda v: (v, 1.0, v * 2), lambda v: (v + 1, 2.0, v), x),
                   np.bool_(False), X)


def test_while_loop():
    def f(x):
        return lax.while_loop(lambda c: c[0] < 10, lambda c: (c[0] + 1, c[1] * 1.1 + jnp.sum(c[1]), c[2]),
                              (0, x, x[0]))
    assert_matches(f, X)


def test_fori_loop_with_consts_and_nesting():
    w = RNG.standard_normal((5, 5)).astype(np.float32) * 0.1

    def f(x):
        def body(i, c):
            inner = lax.fori_loop(0, 3, lambda j, v: v + j * 0.5, c)
            return jnp.tanh(inner @ w) + i
        return lax.fori_loop(0, 6, body, x)
    assert_matches(f, X)


@pytest.mark.parametrize("reverse", [False, True])
def test_scan(reverse):
    def f(xs, c0):
        def body(c, x):
            c = c * 0.9 + x
            return c, (c.sum(), x * 2, c)
        return lax.scan(body, c0, xs, reverse=reverse)
    assert_matches(f, RNG.standard_normal((7, 3)).astype(np.float32), np.zeros(3, np.float32))


def test_scan_zero_length_and_carry_only():
    assert_matches(lambda c: lax.scan(lambda c, _: (c + 1, None), c, None, length=5), X)
    assert_matches(lambda c, xs: lax.scan(lambda c, x: (c + x, c), c, xs), X[0], X[:0])


def test_grad_through_scan_and_while():
    def loss(x):
        y, _ = lax.scan(lambda c, v: (jnp.sin(c) + v, None), x[0], x)
        return jnp.sum(y ** 2)
    assert_matches(jit(portax.grad(loss)), X)


def test_loop_iterations_run_in_generated_code():
    """100000 iterations: no Python (hence no numpy) runs per iteration, and it takes milliseconds."""
    f = jit(lambda x: lax.fori_loop(0, 100_000, lambda i, c: c * 0.5 + 1.0, x), backend="cpu_llvm")
    x = np.ones(4, np.float32)
    c = f.lower(x).compile()
    exe = c.executable
    from portax.core.backend import get_backend
    backend = get_backend("cpu_llvm")
    buf = backend.put(x, backend.devices()[0])
    assert numpy_calls(exe, buf) == []
    t = time.perf_counter()
    out = exe(buf)
    assert time.perf_counter() - t < 0.5
    np.testing.assert_allclose(out[0], np.full(4, 2.0, np.float32))
