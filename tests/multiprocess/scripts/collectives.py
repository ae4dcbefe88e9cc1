"""Run under mpirun: pmap collectives across processes against a numpy oracle over every device's input."""
import numpy as np

import portax as jax
import portax.numpy as jnp
from portax import lax
from portax.experimental import multihost_utils

jax.distributed.initialize()
P, p, L = jax.process_count(), jax.process_index(), jax.local_device_count()
N = P * L
assert jax.device_count() == N and len(jax.devices()) == N, jax.devices()
assert [d.process_index for d in jax.devices()] == [q for q in range(P) for _ in range(L)]
assert all(d.process_index == p for d in jax.local_devices())
assert [d.id for d in jax.local_devices()] == list(range(p * L, (p + 1) * L))

every = np.arange(N * N * 2, dtype=np.float32).reshape(N, N, 2) * 1.5 - 7  # device g's input: every[g]
mine = every[p * L:(p + 1) * L]
pm = lambda f: jax.pmap(f, axis_name="i")
check = lambda got, want: np.testing.assert_allclose(np.asarray(got), want, rtol=1e-6)
rows = lambda full: full[p * L:(p + 1) * L]

check(pm(lambda x: lax.psum(x, "i"))(mine), np.broadcast_to(every.sum(0), mine.shape))
check(pm(lambda x: lax.pmean(x, "i"))(mine), np.broadcast_to(every.mean(0), mine.shape))
check(pm(lambda x: lax.pmax(x, "i"))(mine), np.broadcast_to(every.max(0), mine.shape))
check(pm(lambda x: lax.pmin(-x, "i"))(mine), np.broadcast_to((-every).min(0), mine.shape))
nans = every.copy()
nans[-1, 0, 0] = np.nan  # on the last process only: every process's pmax and pmin must be NaN there
for op in (lax.pmax, lax.pmin):
    assert np.isnan(np.asarray(pm(lambda x: op(x, "i"))(rows(nans)))[:, 0, 0]).all()
check(pm(lambda x: lax.axis_index("i"))(mine), np.arange(p * L, (p + 1) * L))
check(pm(lambda x: lax.psum(1, "i"))(mine), np.full(L, N))
check(pm(lambda x: lax.all_gather(x, "i"))(mine), np.broadcast_to(every, (L,) + every.shape))
check(pm(lambda x: lax.all_gather(x, "i", axis=1, tiled=True))(mine),
      np.broadcast_to(np.concatenate(list(every), axis=1), (L, N, 2 * N)))
perm = [(g, (g + 1) % N) for g in range(N)]
check(pm(lambda x: lax.ppermute(x, "i", perm))(mine), rows(np.roll(every, 1, axis=0)))
check(pm(lambda x: lax.all_to_all(x, "i", 0, 0))(mine), rows(np.swapaxes(every, 0, 1)))
check(pm(lambda x: lax.psum_scatter(x, "i"))(mine), rows(every.sum(0)))
check(pm(lambda x: lax.psum_scatter(x, "i", scatter_dimension=0, tiled=True))(mine), rows(every.sum(0))[:, None])
if N % 2 == 0:  # groups of devices g and g + N/2: each group spans processes
    groups = [[g, g + N // 2] for g in range(N // 2)]
    want = np.concatenate([every[:N // 2] + every[N // 2:]] * 2)
    check(pm(lambda x: lax.psum(x, "i", axis_index_groups=groups))(mine), rows(want))
z = (mine + 1j * mine[..., ::-1]).astype(np.complex64)
check(pm(lambda x: lax.psum(x, "i"))(z), np.broadcast_to((every + 1j * every[..., ::-1]).sum(0), z.shape))
ints = (every * 2).astype(np.int32)
check(pm(lambda x: lax.psum(x, "i"))(rows(ints)), np.broadcast_to(ints.sum(0), mine.shape))
halves = (every / 8).astype(np.float16)  # no MPI reduction for float16: gathered, summed by the backend
check(pm(lambda x: lax.psum(x, "i"))(rows(halves)).astype(np.float32),
      np.broadcast_to(halves.astype(np.float32).sum(0), mine.shape))
# ppermute, and all_gather / psum_scatter / all_to_all along any dimension, use MPI's own collectives (each device's
# data sent once), never a gather of every process's buffers: small and large (not in the header)
from portax.core import distributed  # noqa: E402
gathered = []
allgather_many = distributed.allgather_many
distributed.allgather_many = lambda arrays, what: gathered.append(what) or allgather_many(arrays, what)
big = np.arange(N * N * 3 * 40, dtype=np.float32).reshape(N, N * 3, 40) % 11 - 5  # 480 * N bytes per device
for data in (every, big, (every * 2).astype(np.int32), every + 1j * every[..., ::-1]):
    check(pm(lambda x: lax.all_gather(x, "i"))(rows(data)), np.broadcast_to(data, (L,) + data.shape))
    check(pm(lambda x: lax.all_gather(x, "i", tiled=True))(rows(data)),
          np.broadcast_to(np.concatenate(list(data)), (L, N * data.shape[1]) + data.shape[2:]))
    check(pm(lambda x: lax.psum_scatter(x, "i", tiled=True))(rows(data)), rows(np.stack(np.split(data.sum(0), N))))
    check(pm(lambda x: lax.all_gather(x, "i", axis=1, tiled=True))(rows(data)),
          np.broadcast_to(np.concatenate(list(data), axis=1), (L, data.shape[1], N * data.shape[2])))
    check(pm(lambda x: lax.all_gather(x, "i", axis=2))(rows(data)), np.broadcast_to(np.moveaxis(data, 0, 2),
                                                                                      (L,) + data.shape[1:] + (N,)))
    check(pm(lambda x: lax.psum_scatter(x.T, "i", scatter_dimension=1, tiled=True))(rows(data)),
          rows(np.stack(np.split(data.sum(0).T, N, axis=1))))
    check(pm(lambda x: lax.ppermute(x, "i", perm))(rows(data)), rows(np.roll(data, 1, axis=0)))
    half = [(g, N - 1 - g) for g in range(0, N, 2)]  # devices that are no destination get zeros
    want = np.zeros_like(data)
    want[[d for _, d in half]] = data[[s for s, _ in half]]
    check(pm(lambda x: lax.ppermute(x, "i", half))(rows(data)), rows(want))
    blocks = data.reshape(N, N, -1, *data.shape[2:])  # device g's block j: blocks[g, j]
    check(pm(lambda x: lax.all_to_all(x, "i", 0, 0, tiled=True))(rows(data)),
          rows(np.swapaxes(blocks, 0, 1).reshape(data.shape)))
    joined, b = np.concatenate([d.T for d in data]), data.shape[1] // N  # device j: columns j * b...
    check(pm(lambda x: lax.all_to_all(x.T, "i", 1, 0, tiled=True))(rows(data)),
          rows(np.stack([joined[:, j * b:(j + 1) * b] for j in range(N)])))
assert not gathered or P == 1, gathered
distributed.allgather_many = allgather_many

# several collectives in one round share one exchange between processes
several = pm(lambda x, k, c: (lax.psum(x, "i"), lax.pmax(k, "i"), lax.all_gather(c, "i"), lax.ppermute(k, "i", perm)))
s_, k_, c_, q_ = several(mine, rows(ints), z)
check(s_, np.broadcast_to(every.sum(0), mine.shape))
check(k_, np.broadcast_to(ints.max(0), mine.shape))
check(c_, np.broadcast_to(every + 1j * every[..., ::-1], (L,) + every.shape))
check(q_, rows(np.roll(ints, 1, axis=0)))

# grad of a data-parallel loss: the mean over every device's data
loss = lambda w, x: jnp.sum((x * w) ** 2)
grads = jax.pmap(lambda w, x: lax.pmean(jax.grad(loss)(w, x), "i"), axis_name="i", in_axes=(None, 0))(
    np.float32(0.5), mine)
check(grads, np.full(L, np.mean([np.sum(2 * 0.5 * every[g] ** 2) for g in range(N)]), np.float32))

# arrays made from this process's data over its own devices, and over every process's (a global array)
from portax.sharding import Mesh, NamedSharding, PartitionSpec  # noqa: E402
local = NamedSharding(Mesh(np.array(jax.local_devices()), ("d",)), PartitionSpec("d"))
made = jax.make_array_from_process_local_data(local, mine)
assert [s.device for s in made.addressable_shards] == jax.local_devices()
check(made, mine)
pieces = [jax.device_put(mine[k:k + 1], d) for k, d in enumerate(jax.local_devices())]
check(jax.make_array_from_single_device_arrays(mine.shape, local, pieces), mine)
spanning = NamedSharding(Mesh(np.array(jax.devices()), ("d",)), PartitionSpec("d"))
for made in (jax.make_array_from_process_local_data(spanning, mine),
             jax.make_array_from_callback(every.shape, spanning, lambda i: every[i])):
    assert [s.device for s in made.addressable_shards] == jax.local_devices()
    check(multihost_utils.process_allgather(made) if P > 1 else made, every)

# multihost_utils
gathered = multihost_utils.process_allgather(np.array([p, p * 10], np.int32))
check(gathered, np.array([[q, q * 10] for q in range(P)]))
check(multihost_utils.process_allgather(jnp.ones((2,)) * p, tiled=True), np.repeat(np.arange(P), 2))
check(multihost_utils.broadcast_one_to_all(np.float32(p + 3)), 3.0)
check(multihost_utils.broadcast_one_to_all({"a": np.arange(3) + p}, is_source=p == P - 1)["a"], np.arange(3) + P - 1)
multihost_utils.sync_global_devices("end of checks")
multihost_utils.assert_equal(np.arange(4))
jax.distributed.shutdown()
print(f"process {p}: OK", flush=True)
