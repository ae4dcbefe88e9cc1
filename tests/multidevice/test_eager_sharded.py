"""Operations outside jit on arrays laid out over a mesh of several devices stay laid out there, as JAX's: each runs
as a jitted computation over its operands' layouts, the sharding pass lays out the results (MeshArrays; the layouts
asserted are those JAX 0.10.2 gives), never gathered onto one device; values equal the unsharded computation's.
Arguments over meshes of the same devices in the same order but other shapes are laid out over the first one's."""
import numpy as np
import pytest

import portax as jax
import portax.numpy as jnp
from portax.core.sharded import MeshArray
from portax.sharding import Mesh, NamedSharding, PartitionSpec as P

H = np.arange(16, dtype=np.float32).reshape(8, 2) - 5


@pytest.fixture
def mesh():
    return Mesh(np.array(jax.devices()[:4]), ("x",))


@pytest.fixture
def x(mesh, monkeypatch):
    """H split by rows over the 4 devices; a gather onto one device fails the test."""
    a = jax.device_put(H, NamedSharding(mesh, P("x")))
    monkeypatch.setattr(MeshArray, "_gather", lambda self: pytest.fail("a sharded array was gathered onto one device"))
    return a


def _check(got, want, sharding):
    """``got`` laid out by ``sharding``, each device's block the matching block of ``want`` (an unsharded Array)."""
    assert type(got) is MeshArray and got.sharding == sharding, (type(got), getattr(got, "sharding", None))
    assert got.is_fully_replicated == sharding.is_fully_replicated
    want = np.asarray(want)
    assert [s.device for s in got.addressable_shards] == list(sharding.mesh.devices.flat)
    for s in got.addressable_shards:
        np.testing.assert_array_equal(np.asarray(s.data), want[s.index])


OPS = [  # name, operation, the result's spec (JAX's, for rows split over "x")
    ("add", lambda a: a + 1, P("x")),
    ("radd", lambda a: 1 + a, P("x")),
    ("exp", jnp.exp, P("x")),
    ("astype", lambda a: a.astype(jnp.int32), P("x")),
    ("sum", jnp.sum, P()),
    ("sum over the split axis", lambda a: jnp.sum(a, axis=0), P()),
    ("sum over the other axis", lambda a: jnp.sum(a, axis=1), P("x")),
    ("mean", jnp.mean, P()),
    ("max", lambda a: a.max(), P()),
    ("argmax", lambda a: jnp.argmax(a, axis=0), P()),
    ("matmul", lambda a: a @ a.T, P("x")),
    ("contracting the split axis", lambda a: a.T @ a, P()),
    ("transpose", lambda a: a.T, P(None, "x")),
    ("reshape merging the split axis", lambda a: a.reshape(16), P("x")),
    ("column", lambda a: a[:, 1], P("x")),
    ("slice", lambda a: a[1:3], P()),
    ("index", lambda a: a[0], P()),
    ("cumsum", lambda a: jnp.cumsum(a, axis=1), P("x")),
    ("concatenate", lambda a: jnp.concatenate([a, a], axis=1), P("x")),
    ("with an unsharded array", lambda a: jnp.ones((8, 2)) + a, P("x")),
    ("broadcast", lambda a: a[:, None, :] * jnp.ones((8, 3, 2)), P("x")),
    ("where", lambda a: jnp.where(a > 0, a, -a), P("x")),
]


@pytest.mark.parametrize("name, op, spec", OPS, ids=[o[0] for o in OPS])
def test_eager_operations_stay_sharded(x, mesh, name, op, spec):
    _check(op(x), op(jnp.asarray(H)), NamedSharding(mesh, spec))


def test_results_print_convert_index_and_iterate(x, mesh):
    y = jnp.exp(x / 4)
    want = np.asarray(jnp.exp(jnp.asarray(H) / 4))
    np.testing.assert_array_equal(np.asarray(y), want)
    assert str(y) == str(want) and repr(jnp.sum(x)) == "Array(40., dtype=float32)"
    assert float(jnp.sum(x)) == H.sum() and int(jnp.argmax(x[:, 1])) == 7
    assert float(y[3, 1]) == want[3, 1]
    rows = list(y)  # (JAX's: the rows of a split array as single-device arrays)
    assert len(rows) == 8 and all(type(r) is jax.Array for r in rows)
    np.testing.assert_array_equal(np.asarray(rows[5]), want[5])
    replicated = jax.device_put(H, NamedSharding(mesh, P()))
    first = next(iter(replicated))  # (replicated: rows stay replicated over the mesh)
    _check(first, H[0], NamedSharding(mesh, P()))


def test_grad_and_vmap_of_eager_code(x, mesh):
    g = jax.grad(lambda a: jnp.sum(jnp.sin(a) * a))(x)
    _check(g, jax.grad(lambda a: jnp.sum(jnp.sin(a) * a))(jnp.asarray(H)), NamedSharding(mesh, P("x")))
    v = jax.vmap(lambda r: jnp.dot(r, r))(x)
    _check(v, jax.vmap(lambda r: jnp.dot(r, r))(jnp.asarray(H)), NamedSharding(mesh, P("x")))


def test_eager_operations_on_a_2d_mesh(monkeypatch):
    grid = jax.make_mesh((2, 2), ("a", "b"))
    a = jax.device_put(H, NamedSharding(grid, P("a", "b")))
    monkeypatch.setattr(MeshArray, "_gather", lambda self: pytest.fail("gathered onto one device"))
    _check(jnp.tanh(a) * 2, jnp.tanh(jnp.asarray(H)) * 2, NamedSharding(grid, P("a", "b")))
    _check(a.sum(), H.sum(), NamedSharding(grid, P()))


@pytest.mark.parametrize("spec", [P("a"), P("b"), P(("a", "b")), P(("b", "a")), P(None, "a"), P("a", "b"),
                                  P(None, None, "b")], ids=str)
def test_reshapes_of_split_arrays(spec):
    """Each device's block is the block of the reshaped array its layout says (the first changed dimension keeps its
    split when the mesh divides the new size; else the value is made whole first)."""
    grid = Mesh(np.array(jax.devices()[:4]).reshape(2, 2), ("a", "b"))
    h = np.arange(48, dtype=np.float32).reshape(4, 2, 6)
    a = jax.device_put(h, NamedSharding(grid, spec))
    for shape in [(48,), (8, 6), (4, 12), (2, 24), (4, 2, 3, 2), (24, 2), (6, 8), (4, 2, 6, 1), (1, 48)]:
        y = a.reshape(shape)
        assert type(y) is MeshArray and y.sharding.mesh == grid
        for s in y.addressable_shards:
            np.testing.assert_array_equal(np.asarray(s.data), h.reshape(shape)[s.index], err_msg=str(shape))


def test_one_function_over_meshes_of_one_layout_runs_on_each_mesh():
    """The partitioned program is cached per mesh, not only per layout (axis names)."""
    double = jax.jit(lambda a: a * 2)
    for devices in (jax.devices()[:4], jax.devices()[:4][::-1], jax.devices()[:2]):
        mesh = Mesh(np.array(devices), ("x",))
        _check(double(jax.device_put(H, NamedSharding(mesh, P("x")))), 2 * H, NamedSharding(mesh, P("x")))
        _check(jnp.sum(jax.device_put(H, NamedSharding(mesh, P("x")))), H.sum(), NamedSharding(mesh, P()))


def test_plain_arrays_stay_on_their_device():
    a = jax.device_put(H, jax.devices()[2])
    assert type(a + 1) is jax.Array and (a + 1).device == jax.devices()[2]
    assert type(jnp.sum(a)) is jax.Array


def test_jit_over_meshes_of_the_same_devices_of_other_shapes(x, mesh):
    """As JAX's (Auto axes): laid out over the first argument's mesh, a layout re-expressed there when it can be
    (rows over ("a", "b") are rows over "x"), else resharded."""
    grid = Mesh(np.array(jax.devices()[:4]).reshape(2, 2), ("a", "b"))
    rows_on_grid = jax.device_put(H, NamedSharding(grid, P(("a", "b"))))
    blocks_on_grid = jax.device_put(H, NamedSharding(grid, P("a", "b")))
    add = jax.jit(lambda a, b: a + b)
    _check(add(x, blocks_on_grid), 2 * H, NamedSharding(mesh, P("x")))
    _check(add(blocks_on_grid, x), 2 * H, NamedSharding(grid, P("a", "b")))
    _check(add(x, rows_on_grid), 2 * H, NamedSharding(mesh, P("x")))
    _check(x * rows_on_grid, H * H, NamedSharding(mesh, P("x")))
    _check(jax.jit(lambda a, b: jnp.sum(a) + jnp.sum(b))(x, blocks_on_grid), 2 * H.sum(), NamedSharding(mesh, P()))


def test_explicit_meshes_of_other_shapes_do_not_mix():
    """JAX's error when an operation takes values over different meshes with Explicit axes (make_mesh's)."""
    line, grid = jax.make_mesh((4,), ("x",)), jax.make_mesh((2, 2), ("a", "b"))
    a = jax.device_put(H, NamedSharding(line, P("x")))
    b = jax.device_put(H, NamedSharding(grid, P("a", "b")))
    with pytest.raises(ValueError, match=r"Mesh for all inputs should be equal. Got one mesh: AbstractMesh\('x': 4, "
                                         r"axis_types=\(Explicit,\).* and another mesh: AbstractMesh\('a': 2, 'b': 2"):
        a + b
    with pytest.raises(ValueError, match="Mesh for all inputs should be equal"):
        jax.jit(lambda u, v: jnp.sum(u) + jnp.sum(v))(a, b)
    doubled = jax.jit(lambda u, v: (u * 2, v * 2))(a, b)  # (no operation takes both)
    np.testing.assert_array_equal(np.asarray(doubled[1]), 2 * H)
