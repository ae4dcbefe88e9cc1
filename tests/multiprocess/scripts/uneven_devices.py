"""Run under mpirun with ``--devices 2,1`` (process k gets the k-th count, cycling): a mesh over every process's
devices when processes hold different numbers of them; shard_map collectives, jit, operations outside jit,
resharding and global arrays against numpy."""
import os
import sys

rank = int(os.environ.get("OMPI_COMM_WORLD_RANK", os.environ.get("PMI_RANK", "0")))
counts = [int(c) for c in sys.argv[sys.argv.index("--devices") + 1].split(",")]
from portax.core.backend import device_count_env  # noqa: E402  (the backend is created later, on first use)

os.environ[device_count_env(os.environ.get("PORTAX_BACKEND", "cpu_llvm"))] = str(counts[rank % len(counts)])

import numpy as np  # noqa: E402

import portax as jax  # noqa: E402
import portax.numpy as jnp  # noqa: E402
from portax import lax  # noqa: E402
from portax.experimental import multihost_utils  # noqa: E402
from portax.sharding import Mesh, NamedSharding, PartitionSpec as P  # noqa: E402

jax.distributed.initialize()
p, L, N = jax.process_index(), jax.local_device_count(), jax.device_count()
assert L == counts[p % len(counts)] and N == sum(counts[k % len(counts)] for k in range(jax.process_count()))
mesh = Mesh(np.array(jax.devices()), ("x",))
sharded = NamedSharding(mesh, P("x"))


def check(name, got, want):
    assert got.shape == np.shape(want), (name, got.shape, np.shape(want))
    np.testing.assert_allclose(multihost_utils.process_allgather(got), want, rtol=1e-5, atol=1e-5, err_msg=name)
    for s in getattr(got, "addressable_shards", []):
        np.testing.assert_allclose(np.asarray(s.data), np.asarray(want)[s.index], rtol=1e-5, atol=1e-5, err_msg=name)


def smap(f, in_specs, out_specs, on=mesh):
    return jax.shard_map(f, mesh=on, in_specs=in_specs, out_specs=out_specs)


x = (np.arange(N * 2 * 3, dtype=np.float32).reshape(N * 2, 3) - 7) / 4  # device g's block: rows 2g, 2g + 1
blocks = x.reshape(N, 2, 3)
y = np.arange(N * N * 2, dtype=np.float32).reshape(N * N, 2) / 8
yb = y.reshape(N, N, 2)

check("psum", smap(lambda b: b + lax.psum(b, "x"), P("x"), P("x"))(x), x + np.tile(blocks.sum(0), (N, 1)))
check("pmax", smap(lambda b: lax.pmax(b, "x"), P("x"), P())(x), blocks.max(0))
check("all_gather", smap(lambda b: lax.all_gather(b, "x", tiled=True), P("x"), P())(x), x)
check("ppermute", smap(lambda b: lax.ppermute(b, "x", [(g, (g + 1) % N) for g in range(N)]), P("x"), P("x"))(x),
      np.roll(blocks, 1, axis=0).reshape(x.shape))
check("all_to_all", smap(lambda b: lax.all_to_all(b, "x", 0, 0, tiled=True), P("x"), P("x"))(y),
      np.swapaxes(yb, 0, 1).reshape(y.shape))
check("psum_scatter", smap(lambda b: lax.psum_scatter(b, "x", scatter_dimension=0, tiled=True), P("x"), P("x"))(y),
      yb.sum(0))

# global arrays made from each process's rows (its devices' blocks: as many rows as it has devices, times 2)
first = 2 * sum(counts[k % len(counts)] for k in range(p))
g = jax.make_array_from_process_local_data(sharded, x[first:first + 2 * L], x.shape)
assert [s.device for s in g.addressable_shards] == jax.local_devices()
check("make_array_from_process_local_data", g, x)
pieces = [jax.device_put(x[2 * k:2 * k + 2], d) for k, d in enumerate(jax.devices()) if d.process_index == p]
check("make_array_from_single_device_arrays", jax.make_array_from_single_device_arrays(x.shape, sharded, pieces), x)
check("jit", jax.jit(lambda v: jnp.tanh(v) @ v.T + v.sum(0).max())(g), np.tanh(x) @ x.T + x.sum(0).max())
check("jit with shardings", jax.jit(lambda v: v * 2, in_shardings=sharded, out_shardings=NamedSharding(mesh, P()))(x),
      x * 2)
check("eager", jnp.sum(jnp.exp(g / 8), axis=0) - g[3], np.exp(x / 8).sum(0) - x[3])
check("device_put replicated", jax.device_put(g, NamedSharding(mesh, P())), x)
check("device_put onto columns", jax.device_put(jax.device_put(y[:, :1].repeat(N, 1), sharded),
                                                NamedSharding(mesh, P(None, "x"))), y[:, :1].repeat(N, 1))
check("device_put onto a reversed mesh", jax.device_put(g, NamedSharding(Mesh(np.array(jax.devices()[::-1]), ("y",)),
                                                                          P("y"))), x)
check("grad", jax.grad(lambda v: smap(lambda b: lax.psum(jnp.sum(b * b), "x"), P("x"), P())(v))(g), 2 * x)

multihost_utils.sync_global_devices("end of checks")
jax.distributed.shutdown()
print(f"process {p}: OK", flush=True)
