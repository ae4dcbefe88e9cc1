"""pmap on 1, 2 and 4 devices: its compositions with grad, vmap, jit and itself against the
single-device result, in_axes/out_axes/static arguments, concurrency, and its errors."""
import threading

import numpy as np
import pytest

import portax as jax
import portax.numpy as jnp
from portax import lax


def _rand(*shape, seed=0):
    return np.random.RandomState(seed).randn(*shape).astype(np.float32)


def _close(a, b, tol=1e-5):
    np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=tol, atol=tol)


def _layer(w, x):
    return jnp.tanh(x @ w) * lax.pmean(jnp.sum(x), "i")


def test_pmap_runs_one_slice_per_device(devices):
    n = len(devices)
    x = _rand(n, 3)
    out = jax.pmap(lambda v: jnp.sin(v) * 2, devices=devices)(x)
    _close(out, np.sin(x) * 2)
    assert out.shape == (n, 3) and [s.device for s in out.shards] == list(devices)


def test_grad_of_pmap(devices):
    n = len(devices)
    w, x = _rand(3, 2), _rand(n, 4, 3, seed=1)
    loss = lambda f: (lambda w, x: jnp.sum(f(lambda x: _layer(w, x), x) ** 2))
    g_p = jax.grad(loss(lambda f, x: jax.pmap(f, "i", devices=devices)(x)))(w, x)
    g_v = jax.grad(loss(lambda f, x: jax.vmap(f, axis_name="i")(x)))(w, x)
    _close(g_p, g_v, 1e-4)


def test_pmap_of_grad(devices):
    n = len(devices)
    w, x = _rand(3, 2), _rand(n, 4, 3, seed=1)
    per_device = jax.grad(lambda w, x: jnp.sum(_layer(w, x) ** 2))
    _close(jax.pmap(per_device, "i", in_axes=(None, 0), devices=devices)(w, x),
           jax.vmap(per_device, axis_name="i", in_axes=(None, 0))(w, x), 1e-4)


def test_jvp_and_linearize_of_pmap(devices):
    n = len(devices)
    x, t = _rand(n, 3), _rand(n, 3, seed=1)
    f = lambda v: jnp.sin(v) * lax.psum(v, "i")
    p_out, t_out = jax.jvp(jax.pmap(f, "i", devices=devices), (x,), (t,))
    v_out, vt_out = jax.jvp(jax.vmap(f, axis_name="i"), (x,), (t,))
    _close(p_out, v_out)
    _close(t_out, vt_out)
    _, f_lin = jax.linearize(jax.pmap(f, "i", devices=devices), x)
    _close(f_lin(t), vt_out)


def test_pmap_of_vmap_and_vmap_of_pmap(devices):
    n = len(devices)
    x = _rand(n, 5, 3)
    f = lambda v: v * lax.psum(v, "j") + lax.pmax(v, "i")
    inner = jax.vmap(f, axis_name="j")
    ref = jax.vmap(inner, axis_name="i")(x)
    _close(jax.pmap(inner, "i", devices=devices)(x), ref)
    # vmap over axis 1 outside, pmap over axis 0 inside: the same function
    out = jax.vmap(jax.pmap(f, "i", devices=devices), in_axes=1, out_axes=1, axis_name="j")(x)
    _close(out, ref)


def test_vmap_of_pmap_with_unbatched_collective_operand():
    x = _rand(4, 3)
    f = jax.pmap(lambda v: v + lax.psum(1.0, "j"), "i")
    out = jax.vmap(lambda b: f(x) * b, axis_name="j")(np.arange(3.0, dtype=np.float32))
    _close(out, (x + 3)[None] * np.arange(3.0)[:, None, None])


def test_vmap_named_like_the_pmap_is_shadowed_inside():
    x = _rand(2, 4, 3)
    out = jax.vmap(jax.pmap(lambda v: lax.psum(v, "i"), "i"), axis_name="i")(x)
    _close(out, np.broadcast_to(x.sum(1, keepdims=True), x.shape))


def test_pmap_of_jit_with_collectives_inside(devices):
    n = len(devices)
    x = _rand(n, 3)
    jitted = jax.jit(lambda v: jnp.exp(v) / lax.psum(jnp.exp(v), "i"))
    _close(jax.pmap(jitted, "i", devices=devices)(x), np.exp(x) / np.exp(x).sum(0))
    _close(jax.grad(lambda v: jax.pmap(jitted, "i", devices=devices)(v)[0, 0])(x),
           jax.grad(lambda v: jax.vmap(jitted, axis_name="i")(v)[0, 0])(x))


def test_seed_example_pmap_of_vmap_of_hidden_layer(devices):
    W, b = _rand(16, 8), _rand(8, seed=1)

    def hidden_layer(x):
        return jax.nn.relu(jnp.dot(W, x + b))

    x = _rand(len(devices), 32, 8, seed=2)
    out = jax.pmap(jax.vmap(hidden_layer), devices=devices)(x)
    assert out.shape == (len(devices), 32, 16)
    _close(out, np.maximum(np.einsum("ij,nbj->nbi", W, x + b), 0), 1e-4)


def test_seed_example_pmap_of_vmap_of_jit_of_grad(devices):
    f = lambda x: jnp.sum(jnp.tanh(x) ** 2)
    x = _rand(len(devices), 6, 3)
    out = jax.pmap(jax.vmap(jax.jit(jax.grad(f))), devices=devices)(x)
    _close(out, 2 * np.tanh(x) * (1 - np.tanh(x) ** 2), 1e-5)


def test_nested_pmap_over_two_axes():
    x = _rand(2, 2, 3)
    f = lambda v: lax.psum(v, "j") + 10 * lax.psum(v, "i") + lax.axis_index("i") * 100 + lax.axis_index("j")
    out = jax.pmap(jax.pmap(f, "j"), "i")(x)
    ref = jax.vmap(jax.vmap(f, axis_name="j"), axis_name="i")(x)
    _close(out, ref)
    assert out.shape == (2, 2, 3)
    g = jax.grad(lambda v: jnp.sum(jax.pmap(jax.pmap(lambda w: lax.psum(w * w, ("i", "j")), "j"), "i")(v)))(x)
    _close(g, 2 * 4 * x)


def test_nested_pmap_needs_the_product_of_device_counts():
    with pytest.raises(ValueError, match=r"2 x 4 = 8 devices, but only 4 devices are available"):
        jax.pmap(jax.pmap(lambda v: v, "j"), "i")(np.zeros((2, 4)))


def test_in_axes_out_axes_and_static_arguments(devices):
    n = len(devices)
    x, y = _rand(3, n), _rand(4, seed=1)
    f = jax.pmap(lambda a, b, k: (a * k, jnp.sum(b) + a[0]), in_axes=(1, None, None), out_axes=(1, 0),
                 static_broadcasted_argnums=(2,), devices=devices)
    p, q = f(x, y, 3)
    _close(p, x * 3)
    _close(q, y.sum() + x[0])
    out = jax.pmap(lambda v: lax.psum(v, "i"), "i", out_axes=None, devices=devices)(x.T)
    assert isinstance(out, jax.Array)
    _close(out, x.T.sum(0))
    kw = jax.pmap(lambda a, scale: a * scale, devices=devices)(x.T, scale=np.full((n,), 2.0, np.float32))
    _close(kw, x.T * 2)


def test_gradients_through_unmapped_inputs_and_outputs(devices):
    n = len(devices)
    x, w = _rand(n, 3), _rand(3, seed=1)
    g = jax.grad(lambda w: jnp.sum(jax.pmap(lambda v, w: v * w, in_axes=(0, None), devices=devices)(x, w)))(w)
    _close(g, x.sum(0))
    g = jax.grad(lambda v: jnp.sum(jax.pmap(lambda u: lax.psum(u * u, "i"), "i", out_axes=None,
                                            devices=devices)(v)))(x)
    _close(g, 2 * x)


def test_pmap_reuses_traces_and_programs(devices):
    count = []

    def f(v):
        count.append(1)
        return v + 1

    p = jax.pmap(f, devices=devices)
    for _ in range(3):
        p(_rand(len(devices), 2))
    assert len(count) == 1


def test_device_programs_run_concurrently(four_devices, monkeypatch):
    """Every device's program waits at a barrier that only opens when all four run at once."""
    barrier = threading.Barrier(4, timeout=10)
    threads = set()
    compile_ = four_devices.compile

    def compile_with_barrier(closed, device):
        exe = compile_(closed, device)

        def run(*bufs):
            threads.add(threading.get_ident())
            barrier.wait()
            return exe(*bufs)
        return run

    monkeypatch.setattr(four_devices, "compile", compile_with_barrier)
    out = jax.pmap(lambda v: jnp.cos(v) + 1.5)(_rand(4, 3))
    _close(out, np.cos(_rand(4, 3)) + 1.5)
    assert len(threads) == 4


def test_too_large_mapped_axis_names_both_numbers():
    with pytest.raises(ValueError, match=r"mapped axis has size 8, but only 4 devices are available"):
        jax.pmap(lambda v: v)(np.zeros((8, 2)))


def test_mismatched_mapped_sizes():
    with pytest.raises(ValueError, match="(?s)inconsistent sizes.*size 4.*size 2"):
        jax.pmap(lambda a, b: a + b)(np.zeros((4, 3)), np.zeros((2, 3)))
    with pytest.raises(ValueError, match="rank should be at least 2"):
        jax.pmap(lambda a: a, in_axes=1)(np.zeros(4))
    with pytest.raises(ValueError, match="len\\(in_axes\\)=2, len\\(args\\)=1"):
        jax.pmap(lambda a: a, in_axes=(0, 0))(np.zeros(4))
    with pytest.raises(ValueError, match="Got axis_size=4, num_local_devices=2"):
        jax.pmap(lambda v: v, devices=jax.devices()[:2])(np.zeros(4))


def test_collectives_need_the_backend_hook(four_devices, monkeypatch):
    monkeypatch.delattr(type(four_devices), "collective", raising=False)
    _close(jax.pmap(lambda v: v * 2)(np.ones(4)), np.full(4, 2.0))
    with pytest.raises(NotImplementedError, match=f"backend '{four_devices.name}' does not implement collectives"):
        jax.pmap(lambda v: lax.psum(v, "i"), "i")(np.ones(4))


def _scan_cond_loop(v):
    def body(c, xi):
        c = c + lax.psum(xi * c, "i") * 0.1
        return c, lax.pmax(c, "i")

    c, ys = lax.scan(body, v, jnp.stack([v, 2 * v]))
    c = lax.cond(lax.psum(1, "i") > 1, lambda a: lax.pmean(a, "i"), lambda a: a * 2, c)
    return lax.fori_loop(0, 3, lambda i, a: a + lax.psum(a, "i") * 0.01, c), ys


def test_collectives_inside_scan_cond_and_loops(devices):
    x = _rand(len(devices), 3)
    for out, ref in zip(jax.pmap(_scan_cond_loop, "i", devices=devices)(x),
                        jax.vmap(_scan_cond_loop, axis_name="i")(x)):
        _close(out, ref, 1e-5)
    loss = lambda mapped: (lambda v: jnp.sum(mapped(v)[0] ** 2) + jnp.sum(mapped(v)[1]))
    _close(jax.grad(loss(jax.pmap(_scan_cond_loop, "i", devices=devices)))(x),
           jax.grad(loss(jax.vmap(_scan_cond_loop, axis_name="i")))(x), 1e-4)


def test_while_loop_with_collectives_needs_agreeing_devices():
    x = np.arange(4.0, dtype=np.float32)[:, None] * np.ones((4, 2), np.float32)
    loop = lambda v: lax.while_loop(lambda c: lax.psum(c[0], "i") < 20.0,
                                    lambda c: (c[0] + 1, lax.psum(c[1], "i")), (v[0], v))[1]
    _close(jax.pmap(loop, "i")(x), np.full((4, 2), 6.0 * 4 ** 3))  # 4 iterations: psum(c[0]) = 6, 10, 14, 18
    _close(jax.pmap(loop, "i")(x), jax.vmap(loop, axis_name="i")(x))
    with pytest.raises(RuntimeError, match="devices disagree on the predicate of a while_loop"):
        jax.pmap(lambda v: lax.while_loop(lambda c: c[0] < 2.0, lambda c: (c[0] + 1, lax.psum(c[1], "i")),
                                          (v[0], v)), "i")(x)
