"""Host callbacks in jit over arrays laid out over a mesh: as in JAX they run once (on the computation's first
device) with the global values, not once per device on its blocks; inside a shard_map they run per device on
each device's block. An ordered debug.print over several devices is JAX's error."""
import numpy as np
import pytest

import portax as jax
import portax.numpy as jnp
from portax import lax
from portax.experimental import io_callback
from portax.sharding import AxisType, NamedSharding, PartitionSpec as P

X = np.arange(16, dtype=np.float32).reshape(4, 4)
SCALAR = jax.ShapeDtypeStruct((), jnp.float32)


@pytest.fixture(params=[AxisType.Explicit, AxisType.Auto], ids=["explicit", "auto"])
def mesh(request):
    return jax.make_mesh((2, 2), ("x", "y"), axis_types=(request.param,) * 2)


@pytest.mark.parametrize("spec", [P("x", "y"), P("x"), P()], ids=str)
def test_debug_print_runs_once_with_the_global_value(mesh, spec, capsys):
    a = jax.device_put(X, NamedSharding(mesh, spec))
    out = jax.jit(lambda v: jax.debug.print("sum {} columns {}", v.sum(), v.sum(0)) or v + 1)(a)
    np.testing.assert_array_equal(out, X + 1)
    assert capsys.readouterr().out == "sum 120.0 columns [24. 28. 32. 36.]\n"


@pytest.mark.parametrize("in_shardings", [False, True], ids=["device_put", "in_shardings"])
def test_each_callback_kind_runs_once_on_the_whole_array(mesh, in_shardings):
    log = []

    def record(kind):
        def host(v):
            log.append((kind, v.shape, float(v.sum())))
            return np.float32(v.sum())
        return host

    def f(v):
        jax.debug.callback(lambda t: log.append(("debug", t.shape, float(t.sum()))), v)
        p = jax.pure_callback(record("pure"), SCALAR, v)
        i = io_callback(record("io"), SCALAR, v)
        o = io_callback(record("ordered"), SCALAR, v, ordered=True)
        return v + p + i + o

    sharding = NamedSharding(mesh, P("x", "y"))
    if in_shardings:
        out = jax.jit(f, in_shardings=sharding)(X)
    else:
        out = jax.jit(f)(jax.device_put(X, sharding))
    np.testing.assert_array_equal(out, X + 360)
    assert sorted(log) == [(k, (4, 4), 120.0) for k in ("debug", "io", "ordered", "pure")]


def test_callback_results_reach_every_device(mesh):
    # The callback runs on one device: its (whole) result must be sent to the others, not left as zeros there.
    calls = []

    def host(v):
        calls.append(v.shape)
        return v * 2

    a = jax.device_put(X, NamedSharding(mesh, P("x", "y")))
    out = jax.jit(lambda v: jax.pure_callback(host, jax.ShapeDtypeStruct(v.shape, v.dtype), v) + v)(a)
    np.testing.assert_array_equal(out, 3 * X)
    for shard in out.addressable_shards:
        np.testing.assert_array_equal(shard.data, 3 * X[shard.index])
    assert calls == [(4, 4)]


def test_callbacks_in_control_flow_run_once(mesh, capsys):
    a = jax.device_put(X, NamedSharding(mesh, P("x", "y")))

    def f(v):
        v = lax.cond(v.sum() > 0, lambda u: jax.debug.print("cond {}", u.sum()) or u, lambda u: u, v)
        return lax.fori_loop(0, 2, lambda i, u: jax.debug.print("loop {} {}", i, u.sum()) or u + 1, v)

    np.testing.assert_array_equal(jax.jit(f)(a), X + 2)
    # (unordered effects: JAX too may print the cond's line last)
    assert sorted(capsys.readouterr().out.splitlines()) == ["cond 120.0", "loop 0 120.0", "loop 1 136.0"]


def test_ordered_io_callbacks_in_control_flow_keep_program_order(mesh):
    log = []

    def note(*v):
        log.append(tuple(float(t) for t in v))

    def f(v):
        v = lax.cond(v.sum() > 0, lambda u: io_callback(note, None, u.sum(), ordered=True) or u, lambda u: u, v)
        return lax.fori_loop(0, 2, lambda i, u: io_callback(note, None, i, u.sum(), ordered=True) or u + 1, v)

    a = jax.device_put(X, NamedSharding(mesh, P("x", "y")))
    np.testing.assert_array_equal(jax.jit(f)(a), X + 2)
    assert log == [(120.0,), (0.0, 120.0), (1.0, 136.0)]


def test_callbacks_inside_shard_map_run_per_device_on_its_block(mesh):
    sums = []

    def body(v):
        jax.debug.callback(lambda t: sums.append(("debug", float(t.sum()))), v)
        p = jax.pure_callback(lambda t: np.float32(t.sum()), SCALAR, v)
        return v + p

    a = jax.device_put(X, NamedSharding(mesh, P("x", "y")))
    out = jax.jit(jax.shard_map(body, mesh=mesh, in_specs=P("x", "y"), out_specs=P("x", "y")))(a)
    blocks = [X[:2, :2], X[:2, 2:], X[2:, :2], X[2:, 2:]]
    np.testing.assert_array_equal(out, np.block([[b + b.sum() for b in blocks[:2]], [b + b.sum() for b in blocks[2:]]]))
    assert sorted(sums) == sorted(("debug", float(b.sum())) for b in blocks)


def test_ordered_debug_print_over_several_devices_is_an_error(mesh):
    a = jax.device_put(X, NamedSharding(mesh, P("x", "y")))
    with pytest.raises(ValueError, match="The following ordered effects are not supported for more than 1 device"):
        jax.jit(lambda v: jax.debug.print("{}", v.sum(), ordered=True) or v)(a)
