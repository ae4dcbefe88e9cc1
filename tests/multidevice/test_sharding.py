"""portax.sharding (Mesh, NamedSharding, PartitionSpec), device_put with shardings and resharding,
shard_map over a 2x2 mesh with collectives over one and two axes (eager, under jit, grad and vmap),
jit with in_shardings/out_shardings against the unsharded results, with_sharding_constraint and
visualize_array_sharding; shard_map under jit, grad and vmap giving each device its block (no gather);
make_array_from_single_device_arrays/_callback/_process_local_data, set_mesh, uneven shardings."""
import re

import numpy as np
import pytest

import portax as jax
import portax.numpy as jnp
from portax import lax
from portax.core.sharded import MeshArray
from portax.sharding import AxisType, Mesh, NamedSharding, PartitionSpec, SingleDeviceSharding

P = PartitionSpec


def _rand(*shape, seed=0):
    return np.random.RandomState(seed).randn(*shape).astype(np.float32)


@pytest.fixture
def mesh():
    """Auto axes: the sharding pass lays values out (Explicit axes put shardings in types:
    test_explicit_sharding.py)."""
    return jax.make_mesh((2, 2), ("x", "y"), axis_types=(AxisType.Auto,) * 2)


def _no_gather(monkeypatch):
    """Fail if any sharded array is gathered onto one device."""
    def fail(self):
        raise AssertionError("a sharded array was gathered onto one device")
    monkeypatch.setattr(MeshArray, "_gather", fail)


def test_mesh_and_make_mesh():
    devs = jax.devices()[:4]
    mesh = jax.make_mesh((2, 2), ("x", "y"))
    assert mesh.shape == {"x": 2, "y": 2} and mesh.axis_names == ("x", "y") and mesh.size == 4
    assert mesh.axis_types == (AxisType.Explicit, AxisType.Explicit)
    assert [d.id for d in mesh.devices.flat] == [d.id for d in devs]
    manual = Mesh(np.array(devs).reshape(4), ("i",))
    assert manual.axis_types == (AxisType.Auto,) and manual.axis_sizes == (4,)
    assert jax.P is P and P("x", ("y",)) == P("x", "y") and repr(P("x", None)) == "P('x', None)"
    with pytest.raises(ValueError, match="must be >= the product of mesh_shape"):
        jax.make_mesh((4, 4), ("x", "y"))
    with pytest.raises(ValueError, match="ndim of its first argument"):
        Mesh(np.array(devs), ("x", "y"))


@pytest.mark.parametrize("spec", [P("x", "y"), P(("x", "y")), P(None, "x"), P("y"), P(), P(("y", "x"), None)],
                         ids=str)
def test_device_put_blocks_and_addressable_shards(mesh, spec):
    x = np.arange(32, dtype=np.float32).reshape(4, 8)
    s = NamedSharding(mesh, spec)
    a = jax.device_put(x, s)
    assert a.sharding == s and a.shape == x.shape and a.dtype == x.dtype
    np.testing.assert_array_equal(np.asarray(a), x)
    shards = a.addressable_shards
    assert [sh.device for sh in shards] == list(mesh.devices.flat)
    for sh, (dev, index) in zip(shards, s.devices_indices_map(x.shape).items()):
        assert sh.index == index and sh.data.device == dev and sh.data.shape == s.shard_shape(x.shape)
        np.testing.assert_array_equal(np.asarray(sh.data), x[sh.index])
    assert a.is_fully_replicated == (spec == P())


def test_addressable_shard_indices_of_a_2x2_sharding(mesh):
    a = jax.device_put(np.zeros((4, 6), np.float32), NamedSharding(mesh, P("x", "y")))
    assert [sh.index for sh in a.addressable_shards] == [
        (slice(0, 2), slice(0, 3)), (slice(0, 2), slice(3, 6)), (slice(2, 4), slice(0, 3)), (slice(2, 4), slice(3, 6))]


def test_single_device_arrays_have_a_single_device_sharding():
    a = jnp.arange(6.0)
    assert a.sharding == SingleDeviceSharding(a.device) and a.is_fully_replicated
    (shard,) = a.addressable_shards
    assert shard.device == a.device and shard.index == (slice(None),) and shard.data is a
    assert jax.device_put(a, SingleDeviceSharding(jax.devices()[1])).device == jax.devices()[1]


def test_device_put_errors(mesh):
    with pytest.raises(ValueError, match=r"implies that array axis 0 is partitioned 2 times, but the dimension size "
                                         r"is 5 \(full shape: \(5,\), per-dimension tiling factors: \[2\] should"):
        jax.device_put(np.zeros(5), NamedSharding(mesh, P("x")))
    with pytest.raises(ValueError, match=r"partitioned 4 times, but the dimension size is 6"):
        jax.device_put(np.zeros((6, 2)), NamedSharding(mesh, P(("x", "y"))))
    with pytest.raises(ValueError, match=r"Resource axis: z of P\('z',\) is not found in mesh: \('x', 'y'\)"):
        NamedSharding(mesh, P("z"))
    with pytest.raises(ValueError, match="duplicate entries for `x`"):
        NamedSharding(mesh, P("x", "x"))
    with pytest.raises(ValueError, match=r"One of device_put args is incompatible with its sharding annotation "
                                         r".*only valid for values of rank at least 2, but was applied to a value of "
                                         r"rank 1"):
        jax.device_put(np.zeros(4), NamedSharding(mesh, P("x", "y")))


@pytest.mark.parametrize("src,dst", [(P("x", "y"), P("y", "x")), (P("x", "y"), P()), (P(), P("x", "y")),
                                     (P(("x", "y")), P("x")), (P("x"), P(None, ("x", "y")))], ids=str)
def test_resharding_by_device_put(mesh, src, dst):
    x = _rand(4, 8)
    a = jax.device_put(x, NamedSharding(mesh, src))
    b = jax.device_put(a, NamedSharding(mesh, dst))
    assert b.sharding.spec == dst
    np.testing.assert_array_equal(np.asarray(b), x)
    for sh in b.addressable_shards:
        assert sh.data.device == sh.device
        np.testing.assert_array_equal(np.asarray(sh.data), x[sh.index])


def test_resharding_to_a_finer_layout_stays_on_the_devices(mesh, monkeypatch):
    a = jax.device_put(_rand(4, 8), NamedSharding(mesh, P("x")))
    _no_gather(monkeypatch)
    b = jax.device_put(a, NamedSharding(mesh, P("x", "y")))
    np.testing.assert_array_equal(np.asarray(b), np.asarray(a))


def test_shard_map_psum_over_two_axes(mesh):
    x = _rand(4, 8)
    f = jax.shard_map(lambda b: lax.psum(b, ("x", "y")), mesh=mesh, in_specs=P("x", "y"), out_specs=P())
    out = f(x)
    np.testing.assert_allclose(np.asarray(out), x.reshape(2, 2, 2, 4).sum((0, 2)), rtol=1e-6)
    assert out.sharding == NamedSharding(mesh, P()) and out.shape == (2, 4)
    g = jax.shard_map(lambda b: lax.psum(b, "y"), mesh=mesh, in_specs=P("x", "y"), out_specs=P("x"))
    np.testing.assert_allclose(np.asarray(g(x)), x.reshape(4, 2, 4).sum(1), rtol=1e-6)


def test_shard_map_blocks_and_axis_index(mesh):
    x = np.zeros((4, 6), np.float32)
    f = jax.shard_map(lambda b: b + 10 * lax.axis_index("x") + lax.axis_index("y") + 100 * lax.axis_index(("x", "y")),
                      mesh=mesh, in_specs=P("x", "y"), out_specs=P("x", "y"))
    out = np.asarray(f(x))
    expected = np.kron(np.array([[0, 101], [210, 311]], np.float32), np.ones((2, 3), np.float32))
    np.testing.assert_array_equal(out, expected)


COLLECTIVE_CASES = {
    "all_gather_two_axes_tiled": (lambda b: lax.all_gather(b, ("x", "y"), tiled=True), P(("x", "y")), P(),
                                  lambda x: x),
    "all_gather_two_axes": (lambda b: lax.all_gather(b, ("x", "y"), axis=1), P(("x", "y")), P(),
                            lambda x: x.reshape(4, 1, 6).transpose(1, 0, 2)),
    "psum_scatter_two_axes": (lambda b: lax.psum_scatter(b, ("x", "y"), tiled=True), P(), P(("x", "y")),
                              lambda x: 4 * x),
    "pmean_pmax": (lambda b: lax.pmean(b, "x") + lax.pmax(b, ("x", "y")), P("x", "y"), P(None, "y"),
                   lambda x: x.reshape(2, 2, 2, 3).mean(0).reshape(2, 6)
                   + np.tile(x.reshape(2, 2, 2, 3).max((0, 2)), (2, 1, 1)).transpose(1, 0, 2).reshape(2, 6)),
    "ppermute_over_y": (lambda b: lax.ppermute(b, "y", [(0, 1), (1, 0)]), P("x", "y"), P("x", "y"),
                        lambda x: np.concatenate([x[:, 3:], x[:, :3]], 1)),
    "all_to_all_over_x": (lambda b: lax.all_to_all(b, "x", 0, 0, tiled=True), P("x"), P("x"),
                          lambda x: x.reshape(2, 2, 1, 6).transpose(1, 0, 2, 3).reshape(4, 6)),
}


@pytest.mark.parametrize("name", list(COLLECTIVE_CASES))
def test_shard_map_collectives(mesh, name):
    body, in_spec, out_spec, expected = COLLECTIVE_CASES[name]
    x = _rand(4, 6)
    f = jax.shard_map(body, mesh=mesh, in_specs=in_spec, out_specs=out_spec)
    np.testing.assert_allclose(np.asarray(f(x)), expected(x), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(np.asarray(jax.jit(f)(x)), expected(x), rtol=1e-5, atol=1e-6)


def _loss_sharded(mesh):
    def body(w, xb):
        return lax.psum(jnp.sum(jnp.tanh(xb @ w) ** 2), ("x", "y"))
    sm = jax.shard_map(body, mesh=mesh, in_specs=(P(), P(("x", "y"))), out_specs=P())
    return lambda w, x: sm(w, x)


def test_shard_map_grad_jit_vmap_match_unsharded(mesh):
    w, x = _rand(3, 2), _rand(8, 3, seed=1)
    loss = _loss_sharded(mesh)
    plain = lambda w, x: jnp.sum(jnp.tanh(x @ w) ** 2)
    np.testing.assert_allclose(np.asarray(loss(w, x)), np.asarray(plain(w, x)), rtol=1e-5)
    np.testing.assert_allclose(np.asarray(jax.jit(loss)(w, x)), np.asarray(plain(w, x)), rtol=1e-5)
    g, g_ref = jax.grad(loss, argnums=(0, 1))(w, x), jax.grad(plain, argnums=(0, 1))(w, x)
    for a, b in zip(g, g_ref):
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(np.asarray(jax.jit(jax.grad(loss))(w, x)), np.asarray(g_ref[0]), rtol=1e-4, atol=1e-6)
    ws = np.stack([w, 2 * w])
    np.testing.assert_allclose(np.asarray(jax.vmap(loss, (0, None))(ws, x)),
                               np.asarray(jax.vmap(plain, (0, None))(ws, x)), rtol=1e-5)


def test_shard_map_runs_on_sharded_inputs_in_place(mesh, monkeypatch):
    x = jax.device_put(_rand(4, 8), NamedSharding(mesh, P("x", "y")))
    f = jax.shard_map(lambda b: jnp.sin(b) * 2, mesh=mesh, in_specs=P("x", "y"), out_specs=P("x", "y"))
    expected = np.sin(np.asarray(x)) * 2
    _no_gather(monkeypatch)
    out = f(x)
    for sh, src in zip(out.addressable_shards, x.addressable_shards):
        assert sh.device == src.device and sh.index == src.index
    monkeypatch.undo()
    np.testing.assert_allclose(np.asarray(out), expected, rtol=1e-6)


def test_shard_map_errors(mesh):
    with pytest.raises(ValueError, match=r"(?s)not evenly divisible.*maps array axis 0 \(of size 3\) to mesh axis 'x'"):
        jax.shard_map(lambda b: b, mesh=mesh, in_specs=P("x"), out_specs=P("x"))(np.zeros(3, np.float32))
    with pytest.raises(ValueError, match=r"Resource axis: z"):
        jax.shard_map(lambda b: b, mesh=mesh, in_specs=P("z"), out_specs=P())(np.zeros(4, np.float32))
    varying = jax.shard_map(lambda b: b * 2, mesh=mesh, in_specs=P("x"), out_specs=P())
    with pytest.raises(ValueError, match=r"(?s)replicated across mesh axes \('x',\).*check_vma=False"):
        varying(np.zeros(4, np.float32))
    too_long = jax.shard_map(lambda b: (b, jnp.sum(b)), mesh=mesh, in_specs=P("x"), out_specs=(P("x"), P("x")))
    with pytest.raises(ValueError, match=r"(?s)out_specs entry which is too long.*out_specs\[1\] is P\('x',\) which "
                                         r"has length 1, but <lambda>\(\*args\)\[1\] has shape f32\[\], which has "
                                         r"rank 0"):
        jax.jit(too_long)(np.zeros((4, 2), np.float32))
    unchecked = jax.shard_map(lambda b: b * 2, mesh=mesh, in_specs=P("x"), out_specs=P(), check_vma=False)
    np.testing.assert_array_equal(np.asarray(unchecked(np.arange(4.0, dtype=np.float32))), [0.0, 2.0])


def test_experimental_shard_map(mesh):
    from portax.experimental.shard_map import shard_map
    f = shard_map(lambda b: lax.psum(b, "x"), mesh, in_specs=P("x"), out_specs=P(), check_rep=True)
    np.testing.assert_allclose(np.asarray(f(np.arange(4.0, dtype=np.float32))), [2.0, 4.0])


def _mlp(x, w1, w2):
    h = jnp.maximum(x @ w1, 0.0)
    y = h @ w2
    return y, jnp.sum(y ** 2), jnp.max(h, axis=0), x.T @ x, jnp.cumsum(x, axis=0)


@pytest.mark.parametrize("xs,w1s", [(P("x"), P()), (P(("x", "y")), P()), (P("x", "y"), P("y")),
                                    (P(None, "y"), P("y", "x")), (P(), P(None, ("x", "y")))], ids=str)
def test_jit_with_shardings_matches_unsharded(mesh, xs, w1s):
    x, w1, w2 = _rand(8, 4), _rand(4, 8, seed=1), _rand(8, 2, seed=2)
    f = jax.jit(_mlp, in_shardings=(NamedSharding(mesh, xs), NamedSharding(mesh, w1s), NamedSharding(mesh, P())))
    for out, ref in zip(f(x, w1, w2), _mlp(x, w1, w2)):
        np.testing.assert_allclose(np.asarray(out), np.asarray(ref), rtol=1e-5, atol=1e-5)


def test_jit_keeps_batch_sharded_work_local(mesh, monkeypatch):
    x, w1, w2 = _rand(8, 4), _rand(4, 8, seed=1), _rand(8, 2, seed=2)
    f = jax.jit(lambda x, w1, w2: _mlp(x, w1, w2)[:2],
                in_shardings=(NamedSharding(mesh, P(("x", "y"))), NamedSharding(mesh, P()), NamedSharding(mesh, P())))
    _no_gather(monkeypatch)
    y, loss = f(x, w1, w2)
    assert y.sharding.spec == P(("x", "y")) and loss.sharding.spec == P()
    monkeypatch.undo()
    ry, rloss = _mlp(x, w1, w2)[:2]
    np.testing.assert_allclose(np.asarray(y), np.asarray(ry), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(np.asarray(loss), np.asarray(rloss), rtol=1e-5)


def test_jit_out_shardings_and_grad(mesh):
    x, w1, w2 = _rand(8, 4), _rand(4, 8, seed=1), _rand(8, 2, seed=2)
    f = jax.jit(lambda x, w1, w2: _mlp(x, w1, w2)[0], in_shardings=NamedSharding(mesh, P("x")),
                out_shardings=NamedSharding(mesh, P(None, "y")))
    y = f(x, w1, w2)
    assert y.sharding == NamedSharding(mesh, P(None, "y"))
    np.testing.assert_allclose(np.asarray(y), np.asarray(_mlp(x, w1, w2)[0]), rtol=1e-5, atol=1e-5)
    g = jax.grad(lambda w1: jnp.sum(f(x, w1, w2)))(w1)
    g_ref = jax.grad(lambda w1: jnp.sum(_mlp(x, w1, w2)[0]))(w1)
    np.testing.assert_allclose(np.asarray(g), np.asarray(g_ref), rtol=1e-4, atol=1e-5)


def test_with_sharding_constraint(mesh):
    x = _rand(4, 4)
    s = NamedSharding(mesh, P("x", "y"))
    a = lax.with_sharding_constraint(x, s)
    assert a.sharding == s
    np.testing.assert_array_equal(np.asarray(a), x)
    out = jax.jit(lambda v: lax.with_sharding_constraint(v * 2, s) + 1)(x)
    np.testing.assert_allclose(np.asarray(out), x * 2 + 1)


def test_visualize_array_sharding(mesh, capsys):
    name = jax.devices()[0].platform.upper()
    jax.debug.visualize_array_sharding(jax.device_put(np.zeros((4, 4)), NamedSharding(mesh, P("x", "y"))))
    table = capsys.readouterr().out.splitlines()
    assert len(table) == 5 and table[1].split("│")[1:3] == [f" {name} 0 ", f" {name} 1 "]
    assert table[3].split("│")[1:3] == [f" {name} 2 ", f" {name} 3 "]
    jax.debug.visualize_array_sharding(jax.device_put(np.zeros(4), NamedSharding(mesh, P("y"))))
    assert f"{name} 0,2" in capsys.readouterr().out
    with pytest.raises(ValueError, match="only works for shapes with 1 and 2 dimensions"):
        jax.debug.visualize_array_sharding(jnp.zeros((2, 2, 2)))


def test_pmap_results_have_addressable_shards():
    out = jax.pmap(lambda v: v * 2)(np.arange(8.0, dtype=np.float32).reshape(4, 2))
    assert [sh.index for sh in out.addressable_shards] == [(0,), (1,), (2,), (3,)]
    assert [sh.device for sh in out.addressable_shards] == jax.devices()[:4]
    np.testing.assert_array_equal(np.asarray(out.addressable_shards[2].data), [8.0, 10.0])


def test_jit_in_shardings_skip_static_arguments(mesh):
    x = _rand(4, 4)
    f = jax.jit(lambda x, k: x * k, static_argnums=1, in_shardings=NamedSharding(mesh, P("x", "y")))
    out = f(x, 3)
    assert out.sharding.spec == P("x", "y")
    np.testing.assert_allclose(np.asarray(out), x * 3)


def test_sharding_equivalence(mesh):
    assert NamedSharding(mesh, P("x")).is_equivalent_to(NamedSharding(mesh, P("x", None)), 2)
    assert not NamedSharding(mesh, P("x")).is_equivalent_to(NamedSharding(mesh, P("y")), 2)
    one = jax.make_mesh((1, 4), ("a", "b"))
    assert NamedSharding(one, P("a")).is_equivalent_to(NamedSharding(one, P()), 1)
    assert NamedSharding(mesh, P("x", "y")).shard_shape((4, 6)) == (2, 3)


def test_sharded_arrays_work_as_arrays(mesh):
    x = _rand(4, 6)
    a = jax.device_put(x, NamedSharding(mesh, P("x", "y")))
    np.testing.assert_allclose(np.asarray(jnp.sum(a * 2, axis=0)), (x * 2).sum(0), rtol=1e-6)
    np.testing.assert_allclose(np.asarray(jax.jit(lambda v: v @ v.T)(a)), x @ x.T, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(np.asarray(jax.pmap(lambda v: v + 1)(a)), x + 1)
    np.testing.assert_allclose(np.asarray(a[1:3, 2]), x[1:3, 2])
    assert len(a) == 4 and a.ndim == 2 and a.size == 24 and "Array(" in repr(a)


def test_jit_with_shardings_inlines_nested_calls(mesh, monkeypatch):
    inner = jax.jit(lambda v, w: jax.nn.relu(v @ w) * 2.0)
    x, w = _rand(8, 4), _rand(4, 3, seed=1)
    f = jax.jit(lambda v, w: jnp.sum(inner(v, w), axis=1), in_shardings=(NamedSharding(mesh, P(("x", "y"))),
                                                                        NamedSharding(mesh, P())))
    _no_gather(monkeypatch)
    out = f(x, w)
    assert out.sharding.spec == P(("x", "y"))
    monkeypatch.undo()
    np.testing.assert_allclose(np.asarray(out), np.sum(np.maximum(x @ w, 0) * 2, 1), rtol=1e-5)


def test_plain_jit_runs_over_the_mesh_of_its_arguments(mesh, monkeypatch):
    x = jax.device_put(_rand(8, 4), NamedSharding(mesh, P("x", "y")))
    f = jax.jit(lambda v: jnp.tanh(v) * 3.0 + 1.0)
    expected = np.tanh(np.asarray(x)) * 3 + 1
    _no_gather(monkeypatch)
    out = f(x)
    assert out.sharding == x.sharding
    monkeypatch.undo()
    np.testing.assert_allclose(np.asarray(out), expected, rtol=1e-6)
    other = jax.device_put(_rand(8, 4), NamedSharding(jax.make_mesh((4,), ("i",)), P("i")))
    with pytest.raises(ValueError, match="Mesh for all inputs should be equal"):  # (JAX's, for Explicit mesh axes)
        jax.jit(jnp.add)(x, other)


def test_jit_over_a_mesh_follows_each_call_s_layouts_and_clear_cache(mesh):
    """A call runs the program partitioned for its arguments' layouts (cached per layout); clear_cache
    drops the partitioned programs too, so the function is traced again."""
    data, scale = _rand(8, 4), [2.0]
    f = jax.jit(lambda v: v.sum(0) * scale[0] + v)
    for spec in (P("x", "y"), P("y"), P(), P("x", "y")):
        out = f(jax.device_put(data, NamedSharding(mesh, spec)))
        np.testing.assert_allclose(np.asarray(out), data.sum(0) * 2 + data, rtol=1e-5)
    scale[0] = 3.0
    f.clear_cache()
    np.testing.assert_allclose(np.asarray(f(jax.device_put(data, NamedSharding(mesh, P("x", "y"))))),
                               data.sum(0) * 3 + data, rtol=1e-5)


def test_jit_fast_path_over_a_mesh_is_keyed_by_shardings_shapes_and_dtypes(mesh, monkeypatch):
    """A repeated call on arrays laid out over a mesh takes jit's fast path; a call with another sharding, mesh,
    shape or dtype, or after clear_cache, never runs a program cached for another signature."""
    from portax.core import api
    calls = []
    monkeypatch.setattr(api, "on_jit_general_path", lambda: calls.append(1))
    scale = [2]
    summed = jax.shard_map(lambda b: lax.psum(b, "x"), mesh=mesh, in_specs=P("x"), out_specs=P())
    f = jax.jit(lambda v: summed(v) * scale[0])

    def check(arg, value, times=2):
        out = f(arg)
        assert out.dtype == value.dtype and out.shape == (2, value.shape[1]) and out.sharding == NamedSharding(mesh, P())
        np.testing.assert_allclose(np.asarray(out), (value[:2] + value[2:]) * times, rtol=1e-5)

    data = _rand(4, 6)
    x = _put(mesh, data, P("x"))
    for _ in range(3):
        check(x, data)
    assert len(calls) == 1  # the repeated calls hit the fast path
    ints = (data * 10).astype(np.int32)
    cases = [(_put(mesh, data, P("x", "y")), data), (_put(mesh, data[:, :4], P("x")), data[:, :4]),
             (_put(mesh, ints, P("x")), ints)]
    for arg, value in cases * 2:
        check(arg, value)
    assert len(calls) == 1 + len(cases)  # each signature missed once, then hit
    flipped = Mesh(mesh.devices[::-1], ("x", "y"), axis_types=mesh.axis_types)  # another sharding, same spec
    check(_put(flipped, data, P("x")), data)
    check(x, data)
    scale[0] = 3
    f.clear_cache()
    check(x, data, 3)


def test_jit_of_shard_map_on_sharded_arguments(mesh):
    x = jax.device_put(np.arange(8.0, dtype=np.float32).reshape(4, 2), NamedSharding(mesh, P("x")))
    g = jax.jit(jax.shard_map(lambda b: lax.psum(b, "y") * 2, mesh=mesh, in_specs=P("x"), out_specs=P("x")))
    np.testing.assert_allclose(np.asarray(g(x)), np.asarray(x) * 4)


def _put(mesh, x, spec):
    return jax.device_put(x, NamedSharding(mesh, spec))


def test_jit_of_shard_map_gives_each_device_its_block(mesh, monkeypatch):
    x, w = _rand(8, 3), _rand(3, 4, seed=1)
    seen = []

    def body(xb, wb):
        seen.append((xb.shape, wb.shape))
        return jnp.tanh(xb @ wb)

    f = jax.shard_map(body, mesh=mesh, in_specs=(P("x"), P(None, "y")), out_specs=P("x", "y"))
    xs, ws = _put(mesh, x, P("x")), _put(mesh, w, P(None, "y"))
    _no_gather(monkeypatch)
    out = jax.jit(f)(xs, ws)
    assert out.sharding == NamedSharding(mesh, P("x", "y"))
    assert [(s.device, s.data.device, s.data.shape) for s in out.addressable_shards] == \
        [(d, d, (4, 2)) for d in mesh.devices.flat]
    assert seen == [((4, 3), (3, 2))]
    monkeypatch.undo()
    np.testing.assert_allclose(np.asarray(out), np.tanh(x @ w), rtol=1e-5)
    host = jax.jit(f)(x, w)  # unsharded inputs are cut per device; the result is sharded all the same
    assert host.sharding == out.sharding
    np.testing.assert_allclose(np.asarray(host), np.tanh(x @ w), rtol=1e-5)


def test_jit_runs_the_work_around_a_shard_map_over_its_mesh(mesh, monkeypatch):
    x, w = _rand(8, 3), _rand(3, 4, seed=1)
    f = jax.shard_map(lambda xb, wb: jnp.tanh(xb @ wb), mesh=mesh, in_specs=(P("x"), P(None, "y")),
                      out_specs=P("x", "y"))
    g = jax.jit(lambda x, w: f(x, w) * 2 + 1)
    loss = jax.jit(jax.value_and_grad(lambda w, x: jnp.sum(f(x, w) ** 2)))
    _no_gather(monkeypatch)  # unsharded arguments: cut per device, the shard_map's results never gathered
    out, (value, gw) = g(x, w), loss(w, x)
    assert out.sharding == NamedSharding(mesh, P("x", "y")) and gw.sharding == NamedSharding(mesh, P(None, "y"))
    monkeypatch.undo()
    np.testing.assert_allclose(np.asarray(out), np.tanh(x @ w) * 2 + 1, rtol=1e-5)
    ref_value, ref_gw = jax.value_and_grad(lambda w, x: jnp.sum(jnp.tanh(x @ w) ** 2))(w, x)
    np.testing.assert_allclose(np.asarray(value), np.asarray(ref_value), rtol=1e-5)
    np.testing.assert_allclose(np.asarray(gw), np.asarray(ref_gw), rtol=1e-4, atol=1e-6)


def test_jit_grad_of_shard_map_keeps_gradients_sharded(mesh, monkeypatch):
    x, w, s = _rand(8, 3), _rand(3, 4, seed=1), np.float32(0.7)
    body = lambda xb, wb, sb: lax.psum(jnp.sum(jnp.tanh(sb * (xb @ wb)) ** 2), ("x", "y"))
    loss = jax.shard_map(body, mesh=mesh, in_specs=(P("x"), P(None, "y"), P()), out_specs=P())
    args = (_put(mesh, x, P("x")), _put(mesh, w, P(None, "y")), _put(mesh, s, P()))
    _no_gather(monkeypatch)
    grads = jax.jit(jax.grad(loss, argnums=(0, 1, 2)))(*args)
    assert [g.sharding for g in grads] == [a.sharding for a in args]
    monkeypatch.undo()
    ref = jax.grad(lambda x, w, s: jnp.sum(jnp.tanh(s * (x @ w)) ** 2), argnums=(0, 1, 2))(x, w, s)
    for g in (grads, jax.grad(loss, argnums=(0, 1, 2))(x, w, s)):
        for a, b in zip(g, ref):
            np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-4, atol=1e-6)


def test_derivatives_of_shard_map_with_values_replicated_over_some_axes(mesh):
    x, w, b = _rand(4, 6), _rand(4, 6, seed=1), _rand(3, seed=2)
    f = jax.shard_map(lambda xb, wb, bb: lax.psum(jnp.sin(xb * wb), "y") + bb, mesh=mesh,
                      in_specs=(P("x", "y"), P("x", "y"), P()), out_specs=P("x"))  # output replicated over y
    ref = lambda x, w, b: jnp.sin(x * w).reshape(4, 2, 3).sum(1) + b
    loss = lambda fn: (lambda x, w, b: jnp.sum(fn(x, w, b) ** 2))
    want = jax.grad(loss(ref), argnums=(0, 1, 2))(x, w, b)
    for grads in (jax.grad(loss(f), argnums=(0, 1, 2))(x, w, b), jax.jit(jax.grad(loss(f), argnums=(0, 1, 2)))(
            _put(mesh, x, P("x", "y")), w, b)):
        for got, ref_grad in zip(grads, want):
            np.testing.assert_allclose(np.asarray(got), np.asarray(ref_grad), rtol=1e-4, atol=1e-5)
    tangent, ref_tangent = (jax.jvp(lambda v: fn(v, w, b), (x,), (np.ones_like(x),))[1] for fn in (f, ref))
    np.testing.assert_allclose(np.asarray(tangent), np.asarray(ref_tangent), rtol=1e-5)
    xs = np.stack([x, 2 * x])
    np.testing.assert_allclose(np.asarray(jax.vmap(jax.grad(loss(f)), (0, None, None))(xs, w, b)),
                               np.asarray(jax.vmap(jax.grad(loss(ref)), (0, None, None))(xs, w, b)), rtol=1e-4,
                               atol=1e-5)


def test_vmap_of_shard_map_keeps_the_blocks_in_place(mesh, monkeypatch):
    x = _rand(3, 4, 8)
    xs = _put(mesh, x, P(None, "x", "y"))
    f = jax.shard_map(lambda b: jnp.sin(b) * lax.axis_index("y"), mesh=mesh, in_specs=P("x", "y"),
                      out_specs=P("x", "y"))
    _no_gather(monkeypatch)
    outs = [jax.vmap(f)(xs), jax.jit(jax.vmap(f))(xs)]
    assert [o.sharding for o in outs] == [xs.sharding] * 2
    monkeypatch.undo()
    for o in outs:
        np.testing.assert_allclose(np.asarray(o), np.sin(x) * np.repeat([0.0, 1.0], 4), rtol=1e-6)


def test_shard_map_over_some_mesh_axes(mesh):
    x = np.arange(8.0, dtype=np.float32).reshape(4, 2)
    f = jax.shard_map(lambda b: lax.psum(b, "x"), mesh=mesh, in_specs=P("x"), out_specs=P(), axis_names={"x"})
    np.testing.assert_allclose(np.asarray(f(x)), x[:2] + x[2:])
    with pytest.raises(ValueError, match="outside axis_names"):
        jax.shard_map(lambda b: b, mesh=mesh, in_specs=P("y"), out_specs=P("y"), axis_names={"x"})(x)


def test_shard_map_over_some_mesh_axes_under_jit_and_grad(mesh, monkeypatch):
    x = _rand(4, 6)
    f = jax.shard_map(lambda b: lax.psum(jnp.sin(b), "x"), mesh=mesh, in_specs=P("x"), out_specs=P(),
                      axis_names={"x"})
    xs = _put(mesh, x, P("x"))
    _no_gather(monkeypatch)
    out = jax.jit(f)(xs)
    grad = jax.jit(jax.grad(lambda v: jnp.sum(f(v) ** 2)))(xs)
    assert out.sharding == NamedSharding(mesh, P()) and grad.sharding == xs.sharding
    monkeypatch.undo()
    total = np.sin(x[:2]) + np.sin(x[2:])
    np.testing.assert_allclose(np.asarray(out), total, rtol=1e-5)
    np.testing.assert_allclose(np.asarray(grad), 2 * np.tile(total, (2, 1)) * np.cos(x), rtol=1e-4, atol=1e-6)


def test_device_put_of_a_sharded_array_to_one_device(mesh):
    x = _rand(4, 4)
    a = jax.device_put(jax.device_put(x, NamedSharding(mesh, P("x", "y"))), jax.devices()[3])
    assert type(a) is jax.Array and a.device == jax.devices()[3]
    np.testing.assert_array_equal(np.asarray(a), x)


@pytest.mark.parametrize("use_shard_map", [False, True], ids=["jit_in_shardings", "shard_map"])
def test_sharding_demo_matches_single_device_training(mesh, use_shard_map):
    import importlib.util
    from pathlib import Path
    path = Path(__file__).parents[2] / "examples" / "sharding_demo.py"
    spec = importlib.util.spec_from_file_location("sharding_demo", path)
    demo = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(demo)
    w, losses = demo.train(mesh, steps=3, use_shard_map=use_shard_map)
    ref, x, y = demo.make_problem()
    ref_losses = []
    for _ in range(3):
        ref, value = demo.step(ref, x, y)
        ref_losses.append(float(value))
    np.testing.assert_allclose(losses, ref_losses, rtol=1e-5)
    for a, b in zip(jax.tree_util.tree_leaves(w), jax.tree_util.tree_leaves(ref)):
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-4, atol=1e-6)


def test_jit_keeps_the_split_of_dimensions_an_operation_does_not_touch(mesh, monkeypatch):
    x = _rand(8, 6)
    f = jax.jit(lambda v: (jnp.cumsum(v, 1), jnp.argmax(v, 1), jnp.concatenate([v, v * 2], 1), v.reshape(8, 2, 3),
                           v[:, 1:4], lax.cummax(v, 0)), in_shardings=NamedSharding(mesh, P(("x", "y"))))
    _no_gather(monkeypatch)
    outs = f(x)
    # (the scan along the split dimension runs on it whole, then is split again: JAX 0.10.2 keeps the layout)
    assert [o.sharding.spec for o in outs] == [P(("x", "y"))] * 6
    monkeypatch.undo()
    expected = (np.cumsum(x, 1), np.argmax(x, 1), np.concatenate([x, x * 2], 1), x.reshape(8, 2, 3), x[:, 1:4],
                np.maximum.accumulate(x, 0))
    for o, e in zip(outs, expected):
        np.testing.assert_allclose(np.asarray(o), e, rtol=1e-5)


def test_arithmetic_on_sharded_arrays_stays_sharded(mesh, monkeypatch):
    x, y = _rand(4, 6), _rand(4, 6, seed=1)
    a = jax.device_put(x, NamedSharding(mesh, P("x", "y")))
    b = jax.device_put(y, NamedSharding(mesh, P("x", "y")))
    _no_gather(monkeypatch)
    out = (a * 2 + 1) / (b ** 2 + 1) - (a > b)
    assert out.sharding == a.sharding
    monkeypatch.undo()
    np.testing.assert_allclose(np.asarray(out), (x * 2 + 1) / (y ** 2 + 1) - (x > y), rtol=1e-5)
    np.testing.assert_allclose(np.asarray(2.0 - a), 2.0 - x)
    np.testing.assert_allclose(np.asarray(a @ b.T), x @ y.T, rtol=1e-5, atol=1e-5)


def test_make_array_from_single_device_arrays(mesh):
    s, data = NamedSharding(mesh, P("x", "y")), np.arange(32.0, dtype=np.float32).reshape(4, 8)
    pieces = [jax.device_put(data[i], d) for d, i in s.addressable_devices_indices_map(data.shape).items()]
    a = jax.make_array_from_single_device_arrays(data.shape, s, pieces[::-1])  # any order: matched by device
    assert a.sharding == s and a.shape == (4, 8) and a.dtype == np.float32
    for shard, piece in zip(a.addressable_shards, pieces):
        assert shard.data is piece and shard.device == piece.device
    np.testing.assert_array_equal(np.asarray(a), data)
    one = jax.make_array_from_single_device_arrays((4, 8), SingleDeviceSharding(jax.devices()[2]),
                                                   [jax.device_put(data, jax.devices()[2])])
    assert one.device == jax.devices()[2]
    np.testing.assert_array_equal(np.asarray(one), data)
    for bad, err, msg in [
            ((data.shape, s, pieces[:3]), ValueError, "Expected 4 per-device arrays"),
            ((data.shape, s, [pieces[0]] * 4), ValueError, r"must be from distinct devices, but got device IDs"),
            (((4, 4), s, pieces), ValueError, r"Expected shard shape \(2, 2\) doesn't match the single device array "
                                              r"shape \(2, 4\)"),
            ((data.shape, s, np.array(pieces, dtype=object)), TypeError, "must be a list or tuple"),
            ((data.shape, s, [a] * 4), ValueError, "single-device")]:
        with pytest.raises(err, match=msg):
            jax.make_array_from_single_device_arrays(*bad)
    with pytest.raises(ValueError, match="must match the dtype of the addressable shards"):
        jax.make_array_from_single_device_arrays(data.shape, s, pieces, dtype=np.int32)
    with pytest.raises(ValueError, match=r"Sharding contains devices \{1\} that are not present in per-device arrays. "
                                         r"Per-device arrays contain devices \{2\} that are not present"):
        jax.make_array_from_single_device_arrays(data.shape[1:], NamedSharding(jax.make_mesh((2,), ("x",)), P("x")),
                                                 [jax.device_put(data[0, :4], jax.devices()[k]) for k in (0, 2)])


def test_make_array_from_callback(mesh):
    data = _rand(4, 6)
    calls = []

    def fetch(index):
        calls.append(index)
        return data[index]

    a = jax.make_array_from_callback(data.shape, NamedSharding(mesh, P(None, "y")), fetch)
    assert a.sharding.spec == P(None, "y") and [s.data.shape for s in a.addressable_shards] == [(4, 3)] * 4
    assert calls == [(slice(None), slice(0, 3)), (slice(None), slice(3, 6))] * 2
    np.testing.assert_array_equal(np.asarray(a), data)
    calls.clear()
    r = jax.make_array_from_callback(data.shape, NamedSharding(mesh, P()), fetch)
    assert len(calls) == 1 and r.is_fully_replicated
    np.testing.assert_array_equal(np.asarray(r), data)
    with pytest.raises(ValueError, match=r"implies that array axis 0 is partitioned 2 times, but the dimension size "
                                         r"is 3"):
        jax.make_array_from_callback((3, 6), NamedSharding(mesh, P("x")), fetch)
    with pytest.raises(ValueError, match=r"Expected shard shape \(2, 6\) doesn't match"):
        jax.make_array_from_callback(data.shape, NamedSharding(mesh, P("x")), lambda i: data)
    with pytest.raises(ValueError, match="must match the dtype"):
        jax.make_array_from_callback(data.shape, NamedSharding(mesh, P("x")), fetch, dtype=np.int32)
    with pytest.raises(TypeError, match="sharding should be an instance of `jax.sharding`"):
        jax.make_array_from_callback(data.shape, P("x"), fetch)
    with pytest.raises(jax.errors.UnexpectedTracerError, match="cannot be called within a traced context"):
        jax.jit(lambda v: jax.make_array_from_callback((4,), NamedSharding(mesh, P("x")), lambda i: v[i]))(data[0, :4])


def test_make_array_from_process_local_data(mesh):
    x, y = _rand(4, 6), _rand(8, seed=1)
    s = NamedSharding(mesh, P("x"))
    out = jax.make_array_from_process_local_data(s, {"x": x, "y": y})  # one process: the local data is the array
    assert out["x"].sharding == s and out["y"].sharding == s
    np.testing.assert_array_equal(np.asarray(out["x"]), x)
    np.testing.assert_array_equal(np.asarray(out["y"]), y)
    same = jax.make_array_from_process_local_data(s, [x, y], [(4, 6), None])
    np.testing.assert_array_equal(np.asarray(same[0]), x)
    with pytest.raises(ValueError, match=r"global_shape should be None or equal to local_data.shape.Got "
                                         r"global_shape=\(8, 6\) and local_data.shape=\(4, 6\)"):
        jax.make_array_from_process_local_data(s, x, (8, 6))
    with pytest.raises(ValueError, match="Please set a mesh via `jax.set_mesh` if a PartitionSpec is passed to "
                                         "make_array_from_process_local_data"):
        jax.make_array_from_process_local_data(P("x"), x)
    with jax.set_mesh(mesh):
        assert jax.make_array_from_process_local_data(P(None, "y"), x).sharding == NamedSharding(mesh, P(None, "y"))


def test_set_mesh_makes_partition_specs_shardings(mesh):
    x = _rand(4, 8)
    assert jax.sharding.get_mesh().empty
    with pytest.raises(ValueError, match="Please set a mesh via `jax.set_mesh` if a PartitionSpec is passed to "
                                         "device_put"):
        jax.device_put(x, P("x"))
    with pytest.raises(ValueError, match="The context mesh cannot be empty"):
        jax.shard_map(lambda b: b, in_specs=P("x"), out_specs=P("x"))
    with jax.set_mesh(mesh):
        assert jax.sharding.get_mesh() is mesh
        assert jax.device_put(x, P("x", "y")).sharding == NamedSharding(mesh, P("x", "y"))
        f = jax.shard_map(lambda b: lax.psum(b, "y"), in_specs=P("x", "y"), out_specs=P("x"))
        np.testing.assert_allclose(np.asarray(f(x)), x[:, :4] + x[:, 4:], rtol=1e-6)
        g = jax.jit(lambda v: v * 2, in_shardings=P("x"), out_shardings=P(None, "y"))(x)
        assert g.sharding == NamedSharding(mesh, P(None, "y"))
        np.testing.assert_allclose(np.asarray(g), x * 2)
        assert lax.with_sharding_constraint(x, P("y")).sharding == NamedSharding(mesh, P("y"))
        other = jax.make_mesh((4,), ("i",))
        with pytest.raises(ValueError, match="should match the mesh passed to shard_map"):
            jax.shard_map(lambda b: b, mesh=other, in_specs=P("i"), out_specs=P("i"))
        a = _put(other, x, P("i"))  # (typed over another mesh than the one set: JAX 0.10.2 refuses to compute)
        for f, prim in ((lambda v: v + 1, "add"), (jax.jit(lambda v: v * 2), "mul")):
            with pytest.raises(ValueError, match=rf"^For primitive {prim}, context mesh AbstractMesh\('x': 2, 'y': 2, "
                                                 r".* should match the aval mesh AbstractMesh\('i': 4, .* for shape "
                                                 r"float32\[4@i,8\]"):
                f(a)
        with pytest.raises(ValueError, match="can only be used outside of `jax.jit`"):
            jax.jit(lambda v: jax.set_mesh(None) or v)(x)
    assert jax.sharding.get_mesh().empty
    jax.set_mesh(mesh)  # a global setter too
    try:
        assert jax.sharding.get_mesh() is mesh
    finally:
        jax.set_mesh(None)
    assert jax.sharding.get_mesh().empty
    with pytest.raises(ValueError, match="Expected mesh of type `jax.sharding.Mesh`"):
        jax.set_mesh("x")


def _auto_meshes():
    """Meshes of Auto axes as JAX makes them: make_mesh's, Mesh's default, and one over the last two devices."""
    return {"make_mesh": jax.make_mesh((2, 2), ("x", "y"), axis_types=(AxisType.Auto,) * 2),
            "Mesh": Mesh(np.array(jax.devices()), ("x",)),
            "last_two": jax.make_mesh((2,), ("x",), axis_types=(AxisType.Auto,), devices=jax.devices()[2:])}


@pytest.mark.parametrize("name", ["make_mesh", "Mesh", "last_two"])
def test_values_made_under_set_mesh_of_auto_axes_are_replicated_over_it(name):
    """As in JAX 0.10.2: under ``set_mesh`` of a mesh of Auto axes, creation functions and eager operations on host
    values give arrays replicated over the mesh (``NamedSharding(mesh, P())``, on all its devices), their types
    unsharded; outside it, on the default device."""
    m = _auto_meshes()[name]
    x = np.arange(4, dtype=np.float32)
    cases = [(lambda: jnp.ones(4), np.ones(4), "float32[4]"), (lambda: jnp.zeros((2, 3)), np.zeros((2, 3)), "float32[2,3]"),
             (lambda: jnp.full(4, 2.), np.full(4, 2.), "~float32[4]"), (lambda: jnp.array(x), x, "float32[4]"),
             (lambda: jnp.array([1, 2, 3]), [1, 2, 3], "int32[3]"), (lambda: jnp.asarray(x), x, "float32[4]"),
             (lambda: jnp.arange(4), np.arange(4), "int32[4]"), (lambda: jnp.eye(3), np.eye(3), "float32[3,3]"),
             (lambda: jnp.linspace(0, 1, 5), np.linspace(0, 1, 5), "float32[5]"),
             (lambda: jnp.ones_like(x), np.ones(4), "float32[4]"), (lambda: lax.iota(np.int32, 4), np.arange(4), "int32[4]"),
             (lambda: lax.full((2,), 1.), np.ones(2), "~float32[2]"), (lambda: jnp.sin(x), np.sin(x), "float32[4]"),
             (lambda: jnp.sum(x), 6., "float32[]"), (lambda: jnp.add(x, 1.), x + 1, "float32[4]"),
             (lambda: lax.add(x, x), 2 * x, "float32[4]"), (lambda: jnp.ones(4)[1], 1., "float32[]"),
             (lambda: jax.random.normal(jax.random.key(0), (4,)), None, "float32[4]")]
    with jax.set_mesh(m):
        for f, want, expected in cases:
            r = f()
            assert r.sharding == NamedSharding(m, P()), expected
            assert sorted(d.id for d in r.devices()) == sorted(d.id for d in m.devices.flat)
            assert str(jax.typeof(r)) == expected
            if want is not None:
                np.testing.assert_allclose(np.asarray(r), want, rtol=1e-6)
        d1 = jax.devices()[1]
        assert jnp.zeros(4, device=d1).sharding == SingleDeviceSharding(d1)  # (a device given: there)
    for f, _, _ in cases:
        assert f().sharding == SingleDeviceSharding(jax.devices()[0])


def test_jit_without_arguments_runs_over_the_mesh_set_at_each_call():
    f = jax.jit(lambda: jnp.ones(3))
    m1, m2 = _auto_meshes()["make_mesh"], _auto_meshes()["last_two"]
    for m in (m1, m2, m1):
        with jax.set_mesh(m):
            assert f().sharding == NamedSharding(m, P())


@pytest.mark.parametrize("name", ["make_mesh", "last_two"])
def test_arrays_committed_to_a_device_under_set_mesh_as_jax(name):
    """JAX 0.10.2's errors under ``set_mesh``: a jitted call given an Array committed to a device, a copy of one
    (``jnp.array``), ``jnp.array(..., device=d)``; ``jnp.asarray`` of one and ``zeros_like`` stay on its device."""
    m = _auto_meshes()[name]
    ids, d1 = [d.id for d in m.devices.flat], jax.devices()[1]
    cpu = d1.platform.upper()
    x = jax.device_put(np.ones(4, np.float32), d1)
    with jax.set_mesh(m):
        with pytest.raises(ValueError, match=re.escape(
                "Received incompatible devices for jitted computation. Got argument of <lambda> with shape float32[4] "
                f"and with device ids [1] on platform {cpu} and jit's context mesh with device ids {ids} on platform {cpu}")):
            jax.jit(lambda a: a * 2)(x)
        with pytest.raises(ValueError, match=re.escape(
                f"Got argument of copy with shape float32[4] and with device ids [1] on platform {cpu} and jit's context "
                f"mesh with device ids {ids}")):
            jnp.array(x)
        for device in (d1, jax.devices()[0], SingleDeviceSharding(d1)):
            with pytest.raises(ValueError, match=re.escape(
                    f"Received incompatible devices for jitted computation. Got jit's context mesh with device ids {ids} "
                    f"on platform {cpu} and sharding_constraint inside jit with device ids [{getattr(device, 'id', 1)}] on "
                    f"platform {cpu} at ")):
                jnp.array(np.ones(4), device=device)
        assert jnp.asarray(x) is x and jnp.zeros_like(x).sharding == SingleDeviceSharding(d1)
    assert jax.jit(lambda a: a * 2)(x).sharding == SingleDeviceSharding(d1)  # (outside the mesh context: there)
    assert jnp.array(np.ones(4), device=d1).sharding == SingleDeviceSharding(d1)


def test_uneven_shardings_are_errors(mesh):
    uneven = r"implies that array axis 0 is partitioned 2 times, but the dimension size is 3"
    x = np.zeros(3, np.float32)
    with pytest.raises(ValueError, match=uneven):
        jax.jit(lambda v: v * 2, in_shardings=NamedSharding(mesh, P("x")))(x)
    with pytest.raises(ValueError, match=uneven):
        jax.jit(lambda v: v[:3], out_shardings=NamedSharding(mesh, P("y")))(np.zeros(4, np.float32))
    with pytest.raises(ValueError, match=uneven):
        lax.with_sharding_constraint(x, NamedSharding(mesh, P("y")))
    with pytest.raises(ValueError, match=uneven):
        NamedSharding(mesh, P("x")).shard_shape((3, 4))
    assert NamedSharding(mesh, P("x", "y")).shard_shape((4, 6)) == (2, 3)


def test_make_single_device_sharding_places_jnp_creation_and_is_each_result_sharding():
    from portax.core.sharding import SingleDeviceSharding, make_single_device_sharding
    s = make_single_device_sharding(jax.devices()[-1])
    assert isinstance(s, SingleDeviceSharding)
    out = jnp.full_like(jnp.ones(3), 2, device=s)
    assert out.sharding == s and jnp.zeros_like(out).devices() == out.devices()
