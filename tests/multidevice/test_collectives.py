"""Every collective inside pmap on 1, 2 and 4 devices against numpy and against the single-device
result (vmap with the same axis_name); their derivatives (JVP and transpose, against finite
differences and against vmap) and their batching (vmap of a pmap)."""
import numpy as np
import pytest

import portax as jax
from portax import lax
from portax.test_util import check_grads


def _roll(x):
    return np.roll(x, 1, axis=0)


def _first_to_last(x):
    out = np.zeros_like(x)
    out[-1] = x[0]
    return out


def _tiled_all_to_all(x):
    n = x.shape[0]
    return np.stack([np.concatenate([x[j][:, 2 * i:2 * i + 2] for j in range(n)], 0) for i in range(n)])


# name: (per-device function, per-device shape for n devices, numpy result from the stacked input)
CASES = {
    "psum": (lambda v: lax.psum(v, "i"), lambda n: (3,), lambda x: np.broadcast_to(x.sum(0), x.shape)),
    "psum_tuple_axes": (lambda v: lax.psum(v, ("i",)), lambda n: (2, 2), lambda x: np.broadcast_to(x.sum(0), x.shape)),
    "pmean": (lambda v: lax.pmean(v, "i"), lambda n: (3,), lambda x: np.broadcast_to(x.mean(0), x.shape)),
    "pmax": (lambda v: lax.pmax(v, "i"), lambda n: (3,), lambda x: np.broadcast_to(x.max(0), x.shape)),
    "pmin": (lambda v: lax.pmin(v, "i"), lambda n: (3,), lambda x: np.broadcast_to(x.min(0), x.shape)),
    "all_gather": (lambda v: lax.all_gather(v, "i"), lambda n: (3,),
                   lambda x: np.broadcast_to(x, (len(x),) + x.shape)),
    "all_gather_axis1": (lambda v: lax.all_gather(v, "i", axis=1), lambda n: (3,),
                         lambda x: np.broadcast_to(x.T, (len(x),) + x.T.shape)),
    "all_gather_tiled": (lambda v: lax.all_gather(v, "i", tiled=True), lambda n: (2, 3),
                         lambda x: np.broadcast_to(x.reshape(-1, 3), (len(x), 2 * len(x), 3))),
    "psum_scatter": (lambda v: lax.psum_scatter(v, "i"), lambda n: (n, 2), lambda x: x.sum(0)),
    "psum_scatter_tiled": (lambda v: lax.psum_scatter(v, "i", scatter_dimension=0, tiled=True),
                           lambda n: (2 * n, 3), lambda x: x.sum(0).reshape(len(x), 2, 3)),
    "ppermute_ring": (lambda v: lax.ppermute(v, "i", [(j, (j + 1) % lax.axis_size("i"))
                                                      for j in range(lax.axis_size("i"))]),
                      lambda n: (3,), _roll),
    "ppermute_partial": (lambda v: lax.ppermute(v, "i", [(0, lax.axis_size("i") - 1)]), lambda n: (3,),
                         _first_to_last),
    "pshuffle": (lambda v: lax.pshuffle(v, "i", [(j - 1) % lax.axis_size("i") for j in range(lax.axis_size("i"))]),
                 lambda n: (3,), _roll),
    "all_to_all": (lambda v: lax.all_to_all(v, "i", 0, 0), lambda n: (n, 3), lambda x: x.transpose(1, 0, 2)),
    "all_to_all_new_axis": (lambda v: lax.all_to_all(v, "i", 0, 1), lambda n: (n, 3),
                            lambda x: x.transpose(1, 2, 0)),
    "all_to_all_tiled": (lambda v: lax.all_to_all(v, "i", 1, 0, tiled=True), lambda n: (2, 2 * n),
                         _tiled_all_to_all),
    "axis_index": (lambda v: v + lax.axis_index("i"), lambda n: (2,),
                   lambda x: x + np.arange(len(x), dtype=np.float32)[:, None]),
    "axis_size": (lambda v: v * lax.axis_size("i"), lambda n: (2,), lambda x: x * len(x)),
}
DIFFERENTIABLE = [k for k in CASES if k != "axis_size"]


def _input(name, n, seed=0):
    shape = (n,) + CASES[name][1](n)
    return np.random.RandomState(seed).randn(*shape).astype(np.float32)


@pytest.mark.parametrize("name", list(CASES))
def test_collective_matches_numpy_and_vmap(name, devices):
    fn, _, expected = CASES[name]
    x = _input(name, len(devices))
    out = jax.pmap(fn, "i", devices=devices)(x)
    np.testing.assert_allclose(np.asarray(out), expected(x), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(np.asarray(out), np.asarray(jax.vmap(fn, axis_name="i")(x)), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("name", DIFFERENTIABLE)
def test_collective_derivatives(name, devices):
    fn = CASES[name][0]
    x = _input(name, len(devices), seed=1)
    check_grads(jax.pmap(fn, "i", devices=devices), (x,), order=1, modes=("fwd", "rev"), atol=2e-2)
    ct = np.random.RandomState(2).randn(*np.shape(jax.vmap(fn, axis_name="i")(x))).astype(np.float32)
    pmapped = jax.vjp(jax.pmap(fn, "i", devices=devices), x)[1](ct)[0]
    vmapped = jax.vjp(jax.vmap(fn, axis_name="i"), x)[1](ct)[0]
    np.testing.assert_allclose(np.asarray(pmapped), np.asarray(vmapped), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("name", ["psum", "pmax", "all_gather", "psum_scatter", "ppermute_ring", "all_to_all",
                                  "axis_index"])
def test_vmap_of_pmap_with_collective(name, devices):
    fn = CASES[name][0]
    xs = np.stack([_input(name, len(devices), seed=s) for s in range(3)])
    out = jax.vmap(jax.pmap(fn, "i", devices=devices))(xs)
    ref = jax.vmap(jax.vmap(fn, axis_name="i"))(xs)
    np.testing.assert_allclose(np.asarray(out), np.asarray(ref), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("name", ["psum", "all_gather", "all_to_all"])
def test_vmap_over_a_trailing_axis_of_pmap(name, devices):
    fn = CASES[name][0]
    xs = np.stack([_input(name, len(devices), seed=s) for s in range(3)], axis=-1)
    out = jax.vmap(jax.pmap(fn, "i", devices=devices), in_axes=-1, out_axes=-1)(xs)
    ref = jax.vmap(jax.vmap(fn, axis_name="i"), in_axes=-1, out_axes=-1)(xs)
    np.testing.assert_allclose(np.asarray(out), np.asarray(ref), rtol=1e-5, atol=1e-6)


def test_psum_of_integers_and_pytrees(devices):
    n = len(devices)
    x = np.arange(2 * n, dtype=np.int32).reshape(n, 2)
    a, b = jax.pmap(lambda v: lax.psum((v, v > 1), "i"), "i", devices=devices)(x)
    np.testing.assert_array_equal(np.asarray(a), np.broadcast_to(x.sum(0), x.shape))
    assert a.dtype == np.int32 and b.dtype == np.int32
    np.testing.assert_array_equal(np.asarray(b), np.broadcast_to((x > 1).sum(0), x.shape))


def test_psum_of_a_constant_is_the_axis_size(devices):
    out = jax.pmap(lambda v: lax.psum(1, "i"), "i", devices=devices)(np.zeros(len(devices)))
    np.testing.assert_array_equal(np.asarray(out), [len(devices)] * len(devices))


def test_pmax_gradient_splits_ties():
    x = np.array([1.0, 3.0, 3.0, 0.0], np.float32)
    g = jax.grad(lambda v: jax.pmap(lambda w: lax.pmax(w, "i"), "i")(v).sum())(x)
    np.testing.assert_allclose(np.asarray(g), [0.0, 2.0, 2.0, 0.0])


def test_collective_transposes_follow_jax():
    """psum transposes to psum: the gradient of a per-device psum counts every device's cotangent."""
    x = np.arange(4.0, dtype=np.float32)
    g = jax.pmap(jax.grad(lambda w: lax.psum(w * w, "i")), "i")(x)
    np.testing.assert_allclose(np.asarray(g), 2 * 4 * x)
    g = jax.vmap(jax.grad(lambda w: lax.psum(w * w, "i")), axis_name="i")(x)
    np.testing.assert_allclose(np.asarray(g), 2 * 4 * x)


@pytest.mark.parametrize("call,message", [
    (lambda x: lax.psum_scatter(x, "i"), "must equal the axis size"),
    (lambda x: lax.psum_scatter(x, "i", tiled=True), "divisible by the axis size"),
    (lambda x: lax.all_to_all(x, "i", 0, 0, tiled=True), "divisible by the axis size"),
    (lambda x: lax.ppermute(x, "i", [(0, 1), (1, 1)]), "unique"),
    (lambda x: lax.ppermute(x, "i", [(0, 9)]), "outside the axis"),
    (lambda x: lax.all_gather(x, "i", axis=3), "out of bounds"),
])
def test_collective_argument_errors(call, message):
    with pytest.raises(ValueError, match=message):
        jax.pmap(call, "i")(np.zeros((4, 3), np.float32))


def test_collective_outside_its_axis_is_a_name_error():
    with pytest.raises(NameError, match="unbound axis name: i"):
        lax.psum(np.ones(3), "i")
    with pytest.raises(NameError, match="unbound axis name: j"):
        jax.pmap(lambda v: lax.psum(v, "j"), "i")(np.ones((2, 3)))
    with pytest.raises(NameError, match="unbound axis name: i"):
        jax.jit(lambda v: lax.pmean(v, "i"))(np.ones(3))


def _in_groups(x, groups, per_group):
    """numpy: ``per_group`` applied to the rows of each group, scattered back to the group's devices."""
    outs = [None] * len(x)
    for g in groups:
        res = per_group(x[list(g)])
        for k, i in enumerate(g):
            outs[i] = res[k]
    return np.stack(outs)


GROUPED = {
    "psum": (lambda g: lambda v: lax.psum(v, "i", axis_index_groups=g), (3,),
             lambda x: np.broadcast_to(x.sum(0), x.shape)),
    "pmean": (lambda g: lambda v: lax.pmean(v, "i", axis_index_groups=g), (3,),
              lambda x: np.broadcast_to(x.mean(0), x.shape)),
    "pmax": (lambda g: lambda v: lax.pmax(v, "i", axis_index_groups=g), (3,),
             lambda x: np.broadcast_to(x.max(0), x.shape)),
    "pmin": (lambda g: lambda v: lax.pmin(v, "i", axis_index_groups=g), (3,),
             lambda x: np.broadcast_to(x.min(0), x.shape)),
    "all_gather": (lambda g: lambda v: lax.all_gather(v, "i", axis_index_groups=g), (3,),
                   lambda x: np.broadcast_to(x, (len(x),) + x.shape)),
    "psum_scatter": (lambda g: lambda v: lax.psum_scatter(v, "i", axis_index_groups=g), (2, 3),
                     lambda x: x.sum(0)),
    "all_to_all": (lambda g: lambda v: lax.all_to_all(v, "i", 0, 0, axis_index_groups=g), (2, 3),
                   lambda x: x.transpose(1, 0, 2)),
}
GROUPINGS = {2: [[[0], [1]], [[1], [0]]], 4: [[[0, 1], [2, 3]], [[0, 2], [1, 3]], [[3, 0], [2, 1]]]}


@pytest.mark.parametrize("name", list(GROUPED))
def test_collectives_with_axis_index_groups(name, devices):
    """axis_index_groups (JAX's semantics): each group of devices, listed by axis index, combines apart; the
    order within a group is the order of its members in all_gather/psum_scatter/all_to_all."""
    make, shape, per_group = GROUPED[name]
    n = len(devices)
    for groups in GROUPINGS.get(n, []):
        size = len(groups[0])
        if name in ("psum_scatter", "all_to_all") and shape[0] != size:
            continue
        x = np.random.RandomState(n).randn(n, *shape).astype(np.float32)
        out = jax.pmap(make(groups), "i", devices=devices)(x)
        np.testing.assert_allclose(np.asarray(out), _in_groups(x, groups, per_group), rtol=1e-5, atol=1e-6)
    if n == 4 and name in ("psum", "all_gather", "psum_scatter"):
        groups = [[1, 2], [0, 3]]
        x = np.random.RandomState(7).randn(4, 2, 3).astype(np.float32)
        f = jax.pmap(make(groups), "i", devices=devices)
        ct = np.random.RandomState(8).randn(*np.shape(f(x))).astype(np.float32)
        grad = jax.vjp(f, x)[1](ct)[0]
        # the grouped collective is linear: its transpose is checked against the transposed matrix
        basis = np.eye(x.size, dtype=np.float32).reshape((x.size,) + x.shape)
        matrix = np.stack([np.asarray(f(b)).ravel() for b in basis])
        np.testing.assert_allclose(np.asarray(grad).ravel(), matrix @ ct.ravel(), rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("groups,message", [([[0, 1], [2]], "same size"), ([[0, 1], [1, 2]], "exactly once"),
                                            ([[0, 1]], "exactly once")])
def test_axis_index_groups_errors(groups, message):
    with pytest.raises(ValueError, match=message):
        jax.pmap(lambda v: lax.psum(v, "i", axis_index_groups=groups), "i")(np.zeros((4, 3), np.float32))
    with pytest.raises(NotImplementedError, match="not supported in vmap"):
        jax.vmap(lambda v: lax.psum(v, "i", axis_index_groups=[[0, 1], [2, 3]]), axis_name="i")(np.zeros((4, 3)))


def test_complex_values_in_pmap_and_collectives(devices):
    n = len(devices)
    x = (np.random.RandomState(3).randn(n, 3) + 1j * np.random.RandomState(4).randn(n, 3)).astype(np.complex64)
    out = jax.pmap(lambda v: lax.psum(v * 1j, "i") + lax.all_gather(v, "i")[0], "i", devices=devices)(x)
    assert out.dtype == np.complex64
    np.testing.assert_allclose(np.asarray(out), np.broadcast_to((x * 1j).sum(0) + x[0], x.shape), rtol=1e-5, atol=1e-5)


def test_collectives_of_bfloat16(devices):
    """bfloat16 (stored as integers on backends without it) is summed in float32 and rounded, not summed as bits."""
    from portax.core import dtypes
    n = len(devices)
    x = (np.arange(n * 5).reshape(n, 5) / 3 - 2).astype(dtypes.bfloat16)
    f = jax.pmap(lambda v: (lax.psum(v, "i"), lax.pmax(v, "i"), lax.all_gather(v, "i")), axis_name="i",
                 devices=devices)
    s, m, g = f(x)
    assert s.dtype == dtypes.bfloat16
    np.testing.assert_array_equal(np.asarray(s[0]), x.astype(np.float32).sum(0).astype(dtypes.bfloat16))
    np.testing.assert_array_equal(np.asarray(m[-1]), x.max(0))
    np.testing.assert_array_equal(np.asarray(g[0]), x)


@pytest.mark.parametrize("split_axis,concat_axis,vmap_axis", [(0, 0, 0), (0, 1, 1), (1, 0, 2), (1, 1, 0)])
def test_all_to_all_over_two_vmapped_axes_is_row_major_over_names(split_axis, concat_axis, vmap_axis):
    # JAX's batching_test testAllToAllSplitAxis: devices (i, j) form one axis of size 4, i major.
    shape = (4, 4, 4)
    x = np.arange(np.prod(shape)).reshape(shape)
    f = jax.vmap(jax.vmap(lambda v: lax.all_to_all(v, ("i", "j"), split_axis, concat_axis), in_axes=vmap_axis,
                          axis_name="j"), in_axes=vmap_axis, axis_name="i")
    unroll = list(shape)
    unroll[vmap_axis:vmap_axis + 1] = (2, 2)
    y = np.asarray(f(x.reshape(unroll))).reshape(shape)
    if vmap_axis <= split_axis:
        split_axis += 1
    ref = np.moveaxis(x, (vmap_axis, split_axis), (concat_axis + 1, 0))
    np.testing.assert_array_equal(y, ref)


@pytest.mark.parametrize("dtype", [np.float32, np.int32])
def test_pargmax_pargmin_match_argmax_argmin(dtype, devices):
    # JAX's batching_test testArgAllReduce (jax._src.lax.parallel.pargmax/pargmin): ties give the first position.
    from portax.core.primitives.collectives import pargmax, pargmin
    x = np.array([[3, 1, 7], [5, 1, 2], [5, 0, 7], [1, 4, 2]], dtype)[:len(devices)]
    for ax in (0, 1):
        for parg, ref in ((pargmax, np.argmax), (pargmin, np.argmin)):
            out = jax.vmap(lambda v: parg(v, "i"), in_axes=ax, out_axes=None, axis_name="i")(x)
            np.testing.assert_array_equal(np.asarray(out), ref(x, ax))
    out = jax.pmap(lambda v: pargmax(v, "i"), "i", devices=devices)(x)
    np.testing.assert_array_equal(np.asarray(out), np.broadcast_to(np.argmax(x, 0), x.shape))
    with pytest.raises(TypeError, match="only accepts a single axis"):
        jax.vmap(lambda v: pargmax(v, ("i",)), axis_name="i")(x)


# Collectives over two axes (i, j) of size 2: JAX orders devices row-major over the names as given for
# all_gather and psum_scatter, and over the mesh's axes (outer first) for ppermute, whatever the names' order.
def _by_names(x, names):
    """The (2, 2, ...) per-device values as (4, ...), in row-major order over ``names``."""
    return (x if names == ("i", "j") else x.swapaxes(0, 1)).reshape((4,) + x.shape[2:])


def _per_device(rows, names):
    """The inverse of ``_by_names``."""
    x = np.stack(rows).reshape((2, 2) + np.shape(rows[0]))
    return x if names == ("i", "j") else x.swapaxes(0, 1)


_PERM = [(0, 3), (3, 1), (1, 2), (2, 0)]
SEVERAL_AXES = {  # name: (per-device function of names, per-device shape, numpy result from the (2, 2, ...) input)
    "all_gather": (lambda nm: lambda v: lax.all_gather(v, nm), (3,),
                   lambda x, nm: _per_device([_by_names(x, nm)] * 4, nm)),
    "all_gather_axis1_tiled": (lambda nm: lambda v: lax.all_gather(v, nm, axis=1, tiled=True), (2, 3),
                               lambda x, nm: _per_device([np.concatenate(list(_by_names(x, nm)), 1)] * 4, nm)),
    "psum_scatter_dim1": (lambda nm: lambda v: lax.psum_scatter(v, nm, scatter_dimension=1), (3, 4),
                          lambda x, nm: _per_device([x.sum((0, 1))[:, f] for f in range(4)], nm)),
    "psum_scatter_tiled": (lambda nm: lambda v: lax.psum_scatter(v, nm, tiled=True), (8, 3),
                           lambda x, nm: _per_device(np.split(x.sum((0, 1)), 4), nm)),
    "ppermute": (lambda nm: lambda v: lax.ppermute(v, nm, _PERM), (3,),
                 lambda x, nm: x.reshape(4, 3)[[2, 3, 1, 0]].reshape(x.shape)),
    "ppermute_partial": (lambda nm: lambda v: lax.ppermute(v, nm, [(0, 2), (1, 3)]), (3,),
                         lambda x, nm: np.concatenate([np.zeros_like(x[:1]), x[:1]])),
}
NESTINGS = {
    "pmap_pmap": lambda f: jax.pmap(jax.pmap(f, axis_name="j"), axis_name="i"),
    "vmap_vmap": lambda f: jax.vmap(jax.vmap(f, axis_name="j"), axis_name="i"),
    "pmap_vmap": lambda f: jax.pmap(jax.vmap(f, axis_name="j"), axis_name="i"),
    "vmap_pmap": lambda f: jax.vmap(jax.pmap(f, axis_name="j"), axis_name="i"),
}


@pytest.mark.parametrize("names", [("i", "j"), ("j", "i")], ids="".join)
@pytest.mark.parametrize("nesting", list(NESTINGS))
@pytest.mark.parametrize("name", list(SEVERAL_AXES))
def test_collectives_over_several_axes(name, nesting, names):
    fn, shape, expected = SEVERAL_AXES[name]
    x = np.random.RandomState(0).randn(2, 2, *shape).astype(np.float32)
    f = NESTINGS[nesting](fn(names))
    np.testing.assert_allclose(np.asarray(f(x)), expected(x, names), rtol=1e-5, atol=1e-6)
    if nesting in ("pmap_pmap", "vmap_pmap"):
        check_grads(f, (x,), order=1, modes=("fwd", "rev"), atol=2e-2)


@pytest.mark.parametrize("names", [("i", "j"), ("j", "i")], ids="".join)
@pytest.mark.parametrize("name", list(SEVERAL_AXES))
def test_collectives_over_several_axes_in_shard_map(name, names):
    from portax.sharding import AxisType, PartitionSpec as P
    fn, shape, expected = SEVERAL_AXES[name]
    mesh = jax.make_mesh((2, 2), ("i", "j"), axis_types=(AxisType.Auto,) * 2)
    x = np.random.RandomState(1).randn(2, 2, *shape).astype(np.float32)
    f = jax.jit(jax.shard_map(lambda b: fn(names)(b[0, 0])[None, None], mesh=mesh, in_specs=P("i", "j"),
                              out_specs=P("i", "j")))
    np.testing.assert_allclose(np.asarray(f(x)), expected(x, names), rtol=1e-5, atol=1e-6)
    w = np.random.RandomState(2).randn(*np.shape(expected(x, names))).astype(np.float32)
    grad = jax.grad(lambda v: (f(v) * w).sum())(x)
    ref = jax.grad(lambda v: (NESTINGS["vmap_vmap"](fn(names))(v) * w).sum())(x)
    np.testing.assert_allclose(np.asarray(grad), np.asarray(ref), rtol=1e-5, atol=1e-5)
