"""Sharded results (indexing, gathering, reuse by a further pmap), device_put_sharded/replicated, the
jaxpr of a pmap, and the data-parallel SGD demo against single-device SGD."""
import importlib.util
from pathlib import Path

import numpy as np
import pytest

import portax as jax
import portax.numpy as jnp
from portax import lax


def _rand(*shape, seed=0):
    return np.random.RandomState(seed).randn(*shape).astype(np.float32)


def test_indexing_a_sharded_result_returns_the_shard_on_its_device(devices):
    x = _rand(len(devices), 3)
    out = jax.pmap(lambda v: v * 2, devices=devices)(x)
    for i, d in enumerate(devices):
        assert out[i] is out.shards[i] and out[i].device == d
        np.testing.assert_allclose(np.asarray(out[i]), x[i] * 2)
    np.testing.assert_allclose(np.asarray(out[-1, 1:]), x[-1, 1:] * 2)
    np.testing.assert_allclose(np.asarray(out[:, 0]), x[:, 0] * 2)
    with pytest.raises(IndexError, match="out of bounds"):
        out[len(devices)]


def test_sharded_result_works_as_an_array(devices):
    x = _rand(len(devices), 3)
    out = jax.pmap(lambda v: v + 1, devices=devices)(x)
    assert out.shape == x.shape and out.dtype == np.float32 and len(out) == len(devices)
    np.testing.assert_allclose(np.asarray(jnp.sum(out, axis=0)), (x + 1).sum(0), rtol=1e-6)
    np.testing.assert_allclose(np.asarray(out * 2 - 1), (x + 1) * 2 - 1, rtol=1e-6)
    np.testing.assert_allclose(np.asarray(jax.jit(lambda a: a @ a.T)(out)), (x + 1) @ (x + 1).T, rtol=1e-5)
    assert [np.asarray(s).tolist() for s in out] == (x + 1).tolist()
    assert "Array(" in repr(out)


def test_a_further_pmap_uses_the_shards_in_place(four_devices, monkeypatch):
    x = _rand(4, 3)
    first = jax.pmap(lambda v: v * 3)(x)

    def no_host_reads(buffer):
        raise AssertionError("a shard was read back to the host")

    monkeypatch.setattr(four_devices, "get", no_host_reads)
    second = jax.pmap(lambda v: lax.psum(v, "i") + v, "i")(first)
    monkeypatch.undo()
    np.testing.assert_allclose(np.asarray(second), (x * 3).sum(0) + x * 3, rtol=1e-5)


def test_device_put_sharded_and_replicated(devices):
    n = len(devices)
    shards = [{"a": np.full((2,), i, np.float32), "b": np.int32(i)} for i in range(n)]
    put = jax.device_put_sharded(shards, devices)
    assert put["a"].shape == (n, 2) and put["b"].dtype == np.int32
    assert [s.device for s in put["a"].shards] == list(devices)
    np.testing.assert_array_equal(np.asarray(put["b"]), np.arange(n))
    rep = jax.device_put_replicated(jnp.arange(3.0), devices)
    assert rep.shape == (n, 3) and [s.device for s in rep.shards] == list(devices)
    out = jax.pmap(lambda s, r: s["a"] * r[0] + s["b"], devices=devices)(put, rep)
    np.testing.assert_allclose(np.asarray(out), np.arange(n, dtype=np.float32)[:, None] * np.ones((n, 2)))


def test_device_put_errors():
    with pytest.raises(ValueError, match=r"len\(shards\) = 2 must equal len\(devices\) = 4"):
        jax.device_put_sharded([np.zeros(2), np.zeros(2)], jax.devices())
    with pytest.raises(ValueError, match="same shape and dtype"):
        jax.device_put_sharded([np.zeros(2), np.zeros(3)], jax.devices()[:2])
    with pytest.raises(ValueError, match="non-empty sequence"):
        jax.device_put_replicated(np.zeros(2), [])


def test_device_queries():
    assert len(jax.devices()) == 4 == jax.device_count() == len(jax.local_devices())
    assert jax.local_devices(process_index=0) == jax.devices()
    with pytest.raises(ValueError, match="process_index"):
        jax.local_devices(process_index=1)


def test_jaxpr_of_pmap_shows_the_primitives():
    def body(v):
        v = lax.psum(v, "i") + lax.pmax(v, "i") - lax.pmin(v, "i") + lax.axis_index("i")
        v = lax.ppermute(v, "i", [(0, 1), (1, 0)])
        g = lax.all_gather(v, "i")
        return lax.psum_scatter(g, "i") + lax.all_to_all(g, "i", 0, 0)[0]

    text = str(jax.make_jaxpr(jax.pmap(body, "i"))(np.zeros((2, 4), np.float32)))
    for name in ("xla_pmap", "psum", "pmax", "pmin", "axis_index", "ppermute", "all_gather", "reduce_scatter",
                 "all_to_all"):
        assert f" {name}[" in text, name


def _demo():
    path = Path(__file__).parents[2] / "examples" / "pmap_demo.py"
    spec = importlib.util.spec_from_file_location("pmap_demo", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_data_parallel_sgd_demo_matches_single_device_sgd(devices):
    demo = _demo()
    params, losses = demo.train(5, devices, batch=16, lr=0.1)
    x, y = demo.make_data(16)
    ref = demo.init_params(jax.random.PRNGKey(0))
    ref_losses = []
    for _ in range(5):
        value, grads = jax.value_and_grad(demo.loss)(ref, x, y)
        ref = jax.tree_util.tree_map(lambda p, g: p - 0.1 * g, ref, grads)
        ref_losses.append(float(value))
    np.testing.assert_allclose(losses, ref_losses, rtol=1e-5)
    for a, b in zip(jax.tree_util.tree_leaves(params), jax.tree_util.tree_leaves(ref)):
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-5, atol=1e-6)
