"""pmap's fast path (``pmap._FastCall``, keyed by ``call_key`` with ShardedArrays as leaves): a call whose signature
was seen before goes straight to its SPMD program; a call of another signature (avals, structure, static values,
shard devices) never reuses a program made for another one, and the general path's errors stay."""
import numpy as np
import pytest

import portax as jax
import portax.numpy as jnp
from portax import lax
from portax.core.call_key import arrays_key
from portax.core.parallel import pmap as pmap_module


@pytest.fixture
def general_path_calls(monkeypatch):
    """How many pmap calls took the general path since the fixture was set up."""
    calls = []
    monkeypatch.setattr(pmap_module, "on_pmap_general_path", lambda: calls.append(1))
    return calls


def _rand(*shape, seed=0):
    return np.random.RandomState(seed).randn(*shape).astype(np.float32)


def test_repeated_calls_take_the_fast_path(general_path_calls):
    n = 2
    devices = jax.devices()[:n]
    update = jax.pmap(lambda w, x: w - 0.1 * lax.pmean(x @ w, "i"), "i", devices=devices)
    w, x = _rand(n, 4, 4), _rand(n, 4, 4, seed=1)
    expected = w - 0.1 * np.mean(x @ w, axis=0)
    ws = update(w, x)  # numpy inputs
    np.testing.assert_allclose(ws, expected, rtol=1e-5, atol=1e-5)
    assert len(general_path_calls) == 1
    for _ in range(3):
        np.testing.assert_allclose(update(w, x), expected, rtol=1e-5, atol=1e-5)
    assert len(general_path_calls) == 1
    out = update(ws, update(x, w))  # sharded inputs: the outputs of pmap calls, whose shards are used in place
    assert len(general_path_calls) == 2
    for _ in range(3):  # the training-loop case (the signature of the call before)
        ws = update(ws, ws)
    assert len(general_path_calls) == 2
    w2 = expected
    for _ in range(3):
        w2 = w2 - 0.1 * np.mean(w2 @ w2, axis=0)
    np.testing.assert_allclose(ws, w2, rtol=1e-4, atol=1e-4)
    assert [s.device for s in ws.shards] == list(devices) and [s.device for s in out.shards] == list(devices)


def test_trees_statics_scalars_and_out_axes_on_the_fast_path(general_path_calls):
    n = 2
    devices = jax.devices()[:n]

    def step(params, scale, batch, *, bias):
        return {"w": params["w"] * scale + batch.sum(), "stats": (lax.psum(batch, "d"), bias)}

    f = jax.pmap(step, "d", in_axes=({"w": 0}, None, 1), out_axes={"w": 0, "stats": (1, None)},
                 static_broadcasted_argnums=(), devices=devices)
    params, batch = {"w": _rand(n, 3)}, _rand(3, n, seed=2)
    for k in range(3):
        out = f(params, 2.0 + k, batch, bias=_rand(n, seed=3))
        np.testing.assert_allclose(out["w"], params["w"] * (2.0 + k) + batch.sum(0)[:, None], rtol=1e-5)
        np.testing.assert_allclose(out["stats"][0], np.repeat(batch.sum(1)[:, None], n, 1), rtol=1e-5)
        np.testing.assert_allclose(out["stats"][1], _rand(n, seed=3)[0], rtol=1e-6)
        assert out["stats"][0].shape == (3, n) and out["stats"][1].shape == ()
    assert len(general_path_calls) == 1

    kw = jax.pmap(lambda *, b, a: a - 2 * b, devices=devices)  # keyword arguments: leaves in sorted order
    for _ in range(2):
        np.testing.assert_allclose(kw(b=np.ones(n, np.float32), a=np.arange(n, dtype=np.float32)), np.arange(n) - 2)
    assert len(general_path_calls) == 2

    g = jax.pmap(lambda x, k: x * k, static_broadcasted_argnums=1, devices=devices)
    x = _rand(n, 2)
    for k in (2, 3, 2, 3):
        np.testing.assert_allclose(g(x, k), x * k, rtol=1e-6)
    assert len(general_path_calls) == 4  # one per static value


def test_other_avals_never_reuse_a_program(general_path_calls):
    f = jax.pmap(lambda x: lax.psum(x * 2, "i"), "i")
    cases = [np.arange(2, dtype=np.float32), np.arange(2, dtype=np.int32), np.arange(4.0, dtype=np.float32),
             np.arange(6, dtype=np.float32).reshape(2, 3), np.arange(6, dtype=np.float32).reshape(3, 2),
             np.arange(2, dtype=np.float64), np.array([True, False]), np.arange(6, dtype=np.float32).reshape(2, 3).T]
    for _ in range(2):  # the second round on the fast path
        for x in cases:
            out = f(x)
            want = np.repeat((x * 2).sum(0, keepdims=True), x.shape[0], 0)
            assert out.shape == x.shape and out.dtype == jnp.asarray(x * 2).dtype, x
            np.testing.assert_allclose(out, want, err_msg=str(x))
    assert len(general_path_calls) == len(cases) - 1  # a transposed f32[3,2] has the signature of another
    # A sharded input of another shape after one of a first shape.
    a, b = f(np.ones(2, np.float32)), f(np.ones((4, 3), np.float32))
    np.testing.assert_allclose(f(b), np.full((4, 3), 64.0))
    np.testing.assert_allclose(f(a), np.full(2, 16.0))
    np.testing.assert_allclose(f(b), np.full((4, 3), 64.0))


def test_shards_on_other_devices_are_moved():
    d = jax.devices()
    flip = jax.pmap(lambda x: x + 1, devices=[d[1], d[0]])
    f = jax.pmap(lambda x: x * 10, devices=[d[0], d[1]])
    x = np.arange(2, dtype=np.float32)
    same = jax.pmap(lambda x: x + 1, devices=[d[0], d[1]])(x)
    for _ in range(3):
        for y in (flip(x), same):
            out = f(y)
            np.testing.assert_allclose(out, (x + 1) * 10)
            assert [s.device for s in out.shards] == [d[0], d[1]]


def test_general_path_errors_after_the_fast_path_was_taken():
    f = jax.pmap(lambda x: lax.psum(x, "i"), "i")
    x = f(np.ones(2, np.float32))
    f(x)
    f(x)
    with pytest.raises(ValueError, match="devices are available"):
        f(np.ones(len(jax.devices()) + 1, np.float32))
    g = jax.pmap(lambda a, b: a + b)
    g(np.ones(2, np.float32), np.ones(2, np.float32))
    with pytest.raises(ValueError, match="inconsistent sizes"):
        g(np.ones(2, np.float32), np.ones(3, np.float32))
    x.shards[1].delete()
    with pytest.raises(RuntimeError, match="deleted"):
        f(x)
    h = jax.pmap(lambda x, s: x, static_broadcasted_argnums=1)
    h(np.ones(2), 1)
    with pytest.raises(ValueError, match="Non-hashable static arguments"):
        h(np.ones(2), [1])


def test_no_fast_path_under_a_trace(general_path_calls):
    f = jax.pmap(lambda x: x * 2)
    x = np.arange(2, dtype=np.float32)
    f(x)
    f(x)
    assert len(general_path_calls) == 1
    np.testing.assert_allclose(jax.jit(lambda y: f(x) + y)(1.0), x * 2 + 1)
    np.testing.assert_allclose(jax.grad(lambda s: jnp.sum(f(x * s)))(1.0), 2 * x.sum())
    assert len(general_path_calls) == 3


def test_sharded_arrays_are_keyed_for_pmap_only():
    x = jax.pmap(lambda v: v)(np.ones(2, np.float32))
    assert arrays_key((x,), ()) is None  # jit's general path gathers them
    key, leaves, _ = arrays_key((x,), (), sharded=True)
    assert leaves == [x] and tuple(s.device for s in x.shards) in key
