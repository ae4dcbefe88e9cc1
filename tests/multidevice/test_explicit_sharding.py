"""Explicit sharding (sharding in types) on a mesh of Explicit axes: ``jax.typeof`` shows the sharding, each
operation's sharding rule gives its result's (JAX's ShardingTypeError for the layouts JAX rejects), ``reshard`` and
``out_sharding=`` change it, and the arrays computed are laid out as their types say.

Every expected type, spec and message below is what JAX 0.10.2 prints for the same program (CPU, 4 devices)."""
import re

import numpy as np
import pytest

import portax as jax
import portax.numpy as jnp
from portax import lax
from portax.core.errors import ShardingTypeError
from portax.sharding import AxisType, NamedSharding, PartitionSpec as P

X = np.arange(32, dtype=np.float32).reshape(8, 4)


@pytest.fixture
def mesh():
    m = jax.make_mesh((2, 2), ("x", "y"))  # (Explicit axes: make_mesh's default)
    with jax.set_mesh(m):
        yield m


def _put(spec, value=X):
    return jax.device_put(value, spec)


def _typed(r, expected: str, spec: P) -> None:
    """``r``'s type prints as ``expected``, and ``r`` is laid out as its type says."""
    assert str(jax.typeof(r)) == expected
    assert jax.typeof(r).sharding.spec == spec
    assert r.sharding.spec == spec


def test_typeof_and_the_abstract_mesh(mesh):
    x, y = _put(P("x", None)), _put(P("x", "y"))
    assert str(jax.typeof(x)) == "float32[8@x,4]" and repr(jax.typeof(x)) == "ShapedArray(float32[8@x,4])"
    assert str(jax.typeof(y)) == "float32[8@x,4@y]" and str(jax.typeof(jnp.ones((8, 4)))) == "float32[8,4]"
    s = jax.typeof(x).sharding
    assert s.spec == P("x", None) and s.mesh == mesh.abstract_mesh
    am = jax.sharding.get_abstract_mesh()
    assert am == mesh.abstract_mesh and am.axis_names == ("x", "y") and am.shape == {"x": 2, "y": 2}
    assert am.axis_types == (AxisType.Explicit, AxisType.Explicit)
    assert repr(am).startswith("AbstractMesh('x': 2, 'y': 2, axis_types=(Explicit, Explicit), device_kind=")
    assert x.sharding == NamedSharding(mesh, P("x", None))
    seen = []

    @jax.jit
    def f(a):
        seen.append((str(jax.typeof(a)), jax.sharding.get_abstract_mesh()))
        return a * 2

    _typed(f(x), "float32[8@x,4]", P("x", None))
    assert seen == [("float32[8@x,4]", mesh.abstract_mesh)]
    assert "a:f32[8@x,4]. let\n    b:f32[8@x,4] = sin a" in str(jax.make_jaxpr(jnp.sin)(x))


def test_set_mesh_context_and_auto_meshes():
    assert repr(jax.sharding.get_abstract_mesh()) == "AbstractMesh((), axis_types=())"
    auto = jax.make_mesh((2, 2), ("x", "y"), axis_types=(AxisType.Auto,) * 2)
    xa = jax.device_put(X, NamedSharding(auto, P("x", "y")))
    assert str(jax.typeof(xa)) == "float32[8,4]" and jax.typeof(xa).sharding is None  # Auto axes: not in types
    np.testing.assert_allclose(np.asarray(xa @ xa.T), X @ X.T)  # (no ShardingTypeError on Auto axes)
    with jax.set_mesh(jax.make_mesh((4,), ("i",))):
        assert jax.sharding.get_abstract_mesh().axis_names == ("i",)
    assert jax.sharding.get_abstract_mesh().empty


def _no_mesh_context(message: str) -> str:
    return (f"Length of device assignment 1 is not equal to the size of the mesh 4 of aval {message}. Please enter "
            "your `jit` into a mesh context via `jax.set_mesh`.")


def test_jit_of_closed_over_sharded_arrays():
    """A jitted function with no array argument, computing from a closed-over global array: over a mesh of Explicit
    axes, its results' types need the mesh's devices (JAX's error outside ``set_mesh``, the typed layout inside it);
    over Auto axes it runs on the default device (as JAX does outside a mesh context)."""
    m = jax.make_mesh((4,), ("x",))
    x = jax.device_put(jnp.arange(8.), NamedSharding(m, P("x")))
    y = jax.device_put(X, NamedSharding(jax.make_mesh((2, 2), ("a", "b")), P("a", "b")))
    for f, aval in [(lambda: x, "f32[8@x]"), (lambda: x * 2, "f32[8@x]"), (lambda: x.sum(), "f32[]"),
                    (lambda: (jnp.ones(3), x + 1), "f32[8@x]"), (lambda: y.T, "f32[4@b,8@a]")]:
        with pytest.raises(ValueError) as e:
            jax.jit(f)()
        axes = "('a', 'b')" if "@a" in aval else "('x',)"
        assert str(e.value) == _no_mesh_context(f"{aval}({{Explicit: {axes}}})")
    f = jax.jit(lambda: x * 2)
    with jax.set_mesh(m):
        r = f()
        assert r.sharding == NamedSharding(m, P("x")) and not r.is_fully_replicated
        assert str(jax.typeof(r)) == "float32[8@x]"
        np.testing.assert_array_equal(np.asarray(r), np.arange(8.) * 2)
    with pytest.raises(ValueError, match="Please enter your `jit` into a mesh context"):
        f()  # (traced again outside the mesh context, as in JAX)
    r = jax.jit(lambda: jnp.ones(3))()
    assert isinstance(r.sharding, jax.sharding.SingleDeviceSharding)
    auto = jax.make_mesh((4,), ("x",), axis_types=(AxisType.Auto,))
    xa = jax.device_put(jnp.arange(8.), NamedSharding(auto, P("x")))
    for f, want in [(lambda: xa, np.arange(8.)), (lambda: xa * 2, np.arange(8.) * 2), (lambda: xa.sum(), 28.)]:
        r = jax.jit(f)()
        assert r.sharding == jax.sharding.SingleDeviceSharding(jax.devices()[0]) and r.is_fully_replicated
        np.testing.assert_array_equal(np.asarray(r), want)


@pytest.mark.parametrize("name, fn, expected, spec", [
    ("x*y", lambda x, y, yx, x2, v: x * y, "float32[8@x,4@y]", P("x", "y")),
    ("x+row", lambda x, y, yx, x2, v: x + jnp.ones(4), "float32[8@x,4]", P("x", None)),
    ("x+col", lambda x, y, yx, x2, v: x + jnp.ones((8, 1)), "float32[8@x,4]", P("x", None)),
    ("x+v", lambda x, y, yx, x2, v: x + v, "float32[8@x,4@y]", P("x", "y")),
    ("sin", lambda x, y, yx, x2, v: jnp.sin(y), "float32[8@x,4@y]", P("x", "y")),
    ("where", lambda x, y, yx, x2, v: jnp.where(x > 0, x, 0.), "float32[8@x,4]", P("x", None)),
    ("astype", lambda x, y, yx, x2, v: x.astype(jnp.int32), "int32[8@x,4]", P("x", None)),
    ("T", lambda x, y, yx, x2, v: x.T, "float32[4,8@x]", P(None, "x")),
    ("transpose", lambda x, y, yx, x2, v: jnp.transpose(y), "float32[4@y,8@x]", P("y", "x")),
    ("sum0", lambda x, y, yx, x2, v: jnp.sum(y, axis=0), "float32[4@y]", P("y")),
    ("max1", lambda x, y, yx, x2, v: jnp.max(y, axis=1), "float32[8@x]", P("x")),
    ("mean", lambda x, y, yx, x2, v: jnp.mean(y), "float32[]", P()),
    ("argmax", lambda x, y, yx, x2, v: jnp.argmax(y, axis=0), "int32[4@y]", P("y")),
    ("sum1 keep", lambda x, y, yx, x2, v: jnp.sum(x, axis=1, keepdims=True), "float32[8@x,1]", P("x", None)),
    ("sum0 keep", lambda x, y, yx, x2, v: jnp.sum(x, axis=0, keepdims=True), "float32[1,4]", P(None, None)),
    ("slice", lambda x, y, yx, x2, v: x[:, 1:3], "float32[8@x,2]", P("x", None)),
    ("concat", lambda x, y, yx, x2, v: jnp.concatenate([x, x], axis=1), "float32[8@x,8]", P("x", None)),
    ("expand", lambda x, y, yx, x2, v: x[None], "float32[1,8@x,4]", P(None, "x", None)),
    ("squeeze", lambda x, y, yx, x2, v: jnp.squeeze(x[None], 0), "float32[8@x,4]", P("x", None)),
    ("zeros_like", lambda x, y, yx, x2, v: jnp.zeros_like(x), "float32[8@x,4]", P("x", None)),
    ("mat vec", lambda x, y, yx, x2, v: x @ jnp.ones(4), "float32[8@x]", P("x")),
    ("vec mat", lambda x, y, yx, x2, v: jnp.ones(8) @ x, "float32[4]", P(None)),
    ("outer", lambda x, y, yx, x2, v: jnp.outer(v, _put(P("x"), np.ones(4, np.float32))), "float32[4@y,4@x]",
     P("y", "x")),
    ("reshape 2,4,4", lambda x, y, yx, x2, v: x.reshape(2, 4, 4), "float32[2@x,4,4]", P("x", None, None)),
    ("reshape 4,2,4", lambda x, y, yx, x2, v: x.reshape(4, 2, 4), "float32[4@x,2,4]", P("x", None, None)),
    ("reshape 32", lambda x, y, yx, x2, v: x.reshape(32), "float32[32@x]", P("x")),
    ("reshape y 32", lambda x, y, yx, x2, v: y.reshape(32), "float32[32@(x,y)]", P(("x", "y"))),
    ("pad", lambda x, y, yx, x2, v: jnp.pad(x, ((0, 0), (1, 1))), "float32[8@x,6]", P("x", None)),
    ("flip0", lambda x, y, yx, x2, v: jnp.flip(x, 0), "float32[8@x,4]", P("x", None)),
    ("dynamic_slice", lambda x, y, yx, x2, v: lax.dynamic_slice_in_dim(x, 1, 2, axis=1), "float32[8@x,2]",
     P("x", None)),
    ("sort1", lambda x, y, yx, x2, v: jnp.sort(-x, axis=1), "float32[8@x,4]", P("x", None)),
    ("softmax", lambda x, y, yx, x2, v: jax.nn.softmax(x, axis=1), "float32[8@x,4]", P("x", None)),
    ("x - mean0", lambda x, y, yx, x2, v: x - jnp.mean(x, axis=0, keepdims=True), "float32[8@x,4]", P("x", None)),
    ("fori", lambda x, y, yx, x2, v: lax.fori_loop(0, 3, lambda i, a: a * 2, x), "float32[8@x,4]", P("x", None)),
    ("cond", lambda x, y, yx, x2, v: lax.cond(True, lambda a: a * 2, lambda a: a, x), "float32[8@x,4]",
     P("x", None)),
    ("scan carry", lambda x, y, yx, x2, v: lax.scan(lambda c, r: (c * 2, r), x, jnp.arange(3.))[0],
     "float32[8@x,4]", P("x", None)),
    ("scan ys", lambda x, y, yx, x2, v: lax.scan(lambda c, r: (c, c * r), x, jnp.arange(3.))[1],
     "float32[3,8@x,4]", P(None, "x", None)),
], ids=lambda v: v if isinstance(v, str) and "[" not in v else "")
def test_sharding_rules(mesh, name, fn, expected, spec):
    args = [_put(s) for s in (P("x", None), P("x", "y"), P("y", "x"), P(None, "x"))] + \
        [_put(P("y"), np.arange(4, dtype=np.float32))]
    host = [np.asarray(a) for a in args]
    r = fn(*args)
    _typed(r, expected, spec)
    np.testing.assert_allclose(np.asarray(r), np.asarray(fn(*map(jnp.asarray, host))), rtol=1e-6)
    _typed(jax.jit(fn)(*args), expected, spec)


@pytest.mark.parametrize("fn, message", [
    (lambda x, y, yx, x2, v: x * yx, "mul got incompatible shardings for broadcasting: ('x', None), ('y', 'x')."),
    (lambda x, y, yx, x2, v: x * x2,
     "mul operation with inputs: f32[8@x,4], f32[8,4@x] produces an illegally sharded result: f32[8@x,4@x]"),
    (lambda x, y, yx, x2, v: x2 + v, "add got incompatible shardings for broadcasting: (None, 'x'), (None, 'y')."),
    (lambda x, y, yx, x2, v: jnp.cumsum(x, axis=0),
     "Input should be unsharded over the axis being reduced. Got input type=float32[8@x,4] and axis=0"),
    (lambda x, y, yx, x2, v: lax.cumlogsumexp(y, axis=1, reverse=True),
     "Input should be unsharded over the axis being reduced. Got input type=float32[8@x,4@y] and axis=1"),
    (lambda x, y, yx, x2, v: lax.cumlogsumexp(v),
     "Input should be unsharded over the axis being reduced. Got input type=float32[4@y] and axis=0"),
    (lambda x, y, yx, x2, v: x.reshape(16, 2),
     "This reshape is not supported. Please specify the sharding of the output via the `out_sharding` argument of "
     "jax.lax.reshape. Got operand type: float32[8@x,4], new sizes: (16, 2)"),
    (lambda x, y, yx, x2, v: x.reshape(2, 16),
     "This reshape is not supported. Please specify the sharding of the output via the `out_sharding` argument of "
     "jax.lax.reshape. Got operand type: float32[8@x,4], new sizes: (2, 16)"),
])
def test_sharding_type_errors(mesh, fn, message):
    args = [_put(s) for s in (P("x", None), P("x", "y"), P("y", "x"), P(None, "x"))] + \
        [_put(P("y"), np.arange(4, dtype=np.float32))]
    with pytest.raises(ShardingTypeError) as eager:
        fn(*args)
    assert str(eager.value) == message
    with pytest.raises(ShardingTypeError) as traced:
        jax.jit(fn)(*args)
    assert str(traced.value) == message


AMBIGUOUS = ("Contracting dimensions are sharded and it is ambiguous how the output should be sharded. Please specify "
             "the output sharding via the `out_sharding` parameter. Got lhs_contracting_spec=('y',) and "
             "rhs_contracting_spec=('y',)")


@pytest.mark.parametrize("lhs, rhs, expected, spec", [
    (((8, 4), P("x", None)), ((4, 6), P(None, "y")), "float32[8@x,6@y]", P("x", "y")),
    (((8, 4), P("x", None)), ((4, 6), P(None, None)), "float32[8@x,6]", P("x", None)),
    (((8, 4), P(None, "y")), ((4, 6), P(None, "y")), "float32[8,6@y]", P(None, "y")),
    (((2, 8, 4), P("x")), ((2, 4, 3), P(None)), "float32[2@x,8,3]", P("x", None, None)),
])
def test_dot_general_keeps_batch_and_free_dimensions(mesh, lhs, rhs, expected, spec):
    (ls, lspec), (rs, rspec) = lhs, rhs
    a = _put(lspec, np.random.RandomState(0).randn(*ls).astype(np.float32))
    b = _put(rspec, np.random.RandomState(1).randn(*rs).astype(np.float32))
    r = jnp.matmul(a, b)
    _typed(r, expected, spec)
    np.testing.assert_allclose(np.asarray(r), np.asarray(a) @ np.asarray(b), rtol=1e-5, atol=1e-5)
    _typed(jax.jit(jnp.matmul)(a, b), expected, spec)


@pytest.mark.parametrize("lhs, rhs, message", [
    (((8, 4), P(None, "y")), ((4, 6), P("y", None)), AMBIGUOUS),
    (((4,), P("y")), ((4,), P("y")), AMBIGUOUS),
    (((8, 4), P("x", "y")), ((4, 6), P("x", None)),
     "dot_general requires contracting dimensions to have consistent sharding, got ('y',) and ('x',)."),
    (((8, 4), P("x", None)), ((4, 6), P(None, "x")),
     "dot_general operation with inputs: f32[8@x,4], f32[4,6@x] produces an illegally sharded result: f32[8@x,6@x]"),
    (((2, 8, 4), P("x")), ((2, 4, 3), P("y")),
     "dot_general requires lhs batch dimensions and rhs batch dimensions to have the consistent sharding, got ('x',) "
     "and ('y',)."),
])
def test_dot_general_errors(mesh, lhs, rhs, message):
    (ls, lspec), (rs, rspec) = lhs, rhs
    a, b = _put(lspec, np.ones(ls, np.float32)), _put(rspec, np.ones(rs, np.float32))
    with pytest.raises(ShardingTypeError) as e:
        jnp.matmul(a, b)
    assert str(e.value) == message


def test_out_sharding_of_contractions_and_reshapes(mesh):
    a = _put(P(None, "y"), np.random.RandomState(0).randn(8, 4).astype(np.float32))
    b = _put(P("y", None), np.random.RandomState(1).randn(4, 6).astype(np.float32))
    want = np.asarray(a) @ np.asarray(b)
    for fn, expected, spec in [
            (lambda u, v: jnp.dot(u, v, out_sharding=P("x", None)), "float32[8@x,6]", P("x", None)),
            (lambda u, v: jnp.dot(u, v, out_sharding=P("x")), "float32[8@x,6]", P("x", None)),
            (lambda u, v: jnp.dot(u, v, out_sharding=P(None, None)), "float32[8,6]", P(None, None)),
            (lambda u, v: jnp.matmul(u, v, out_sharding=P(None, "x")), "float32[8,6@x]", P(None, "x")),
            (lambda u, v: jnp.einsum("ij,jk->ik", u, v, out_sharding=P("y")), "float32[8@y,6]", P("y", None)),
            (lambda u, v: jnp.tensordot(u, v, axes=1, out_sharding=P("x")), "float32[8@x,6]", P("x", None))]:
        for r in (fn(a, b), jax.jit(fn)(a, b)):
            _typed(r, expected, spec)
            np.testing.assert_allclose(np.asarray(r), want, rtol=1e-5, atol=1e-5)
    bb = _put(P("x", None, "y"), np.random.RandomState(2).randn(2, 8, 4).astype(np.float32))
    cc = _put(P("x", "y", None), np.random.RandomState(3).randn(2, 4, 3).astype(np.float32))
    with pytest.raises(ShardingTypeError, match="Contracting dimensions are sharded"):
        jnp.einsum("bij,bjk->bik", bb, cc)
    r = jnp.einsum("bij,bjk->bik", bb, cc, out_sharding=P("x"))
    _typed(r, "float32[2@x,8,3]", P("x", None, None))
    np.testing.assert_allclose(np.asarray(r), np.asarray(bb) @ np.asarray(cc), rtol=1e-5, atol=1e-5)
    x = _put(P("x", None))
    for r in (x.reshape(2, 16, out_sharding=P("x", None)), jnp.reshape(x, (2, 16), out_sharding=P("x", None)),
              lax.reshape(x, (2, 16), out_sharding=P("x", None))):
        _typed(r, "float32[2@x,16]", P("x", None))
        np.testing.assert_array_equal(np.asarray(r), X.reshape(2, 16))


def test_out_sharding_of_lax_dot_general(mesh):
    """``lax.dot_general(..., out_sharding=)``: the output typed and laid out by it (the operands' sharding rule
    is not consulted: sharded contracting dimensions and differently sharded batch dimensions are accepted)."""
    rng = np.random.RandomState(0)
    a = _put(P("x", "y"), rng.randn(4, 8).astype(np.float32))
    b = _put(P("y", None), rng.randn(8, 4).astype(np.float32))
    dn = (((1,), (0,)), ((), ()))
    want = np.asarray(a) @ np.asarray(b)
    for fn, expected, spec in [
            (lambda u, v: lax.dot_general(u, v, dn, out_sharding=P("x", "y")), "float32[4@x,4@y]", P("x", "y")),
            (lambda u, v: lax.dot_general(u, v, dn, out_sharding=P("y")), "float32[4@y,4]", P("y", None)),
            (lambda u, v: lax.dot_general(u, v, dn, out_sharding=P()), "float32[4,4]", P(None, None)),
            (lambda u, v: lax.dot_general(u, v, dn, out_sharding=NamedSharding(mesh, P(None, "x"))),
             "float32[4,4@x]", P(None, "x")),
            (lambda u, v: lax.dot(u, v, out_sharding=P(None, "y")), "float32[4,4@y]", P(None, "y"))]:
        for r in (fn(a, b), jax.jit(fn)(a, b)):
            _typed(r, expected, spec)
            np.testing.assert_allclose(np.asarray(r), want, rtol=1e-5, atol=1e-5)
    r = lax.dot_general(a, b, dn, preferred_element_type=jnp.float16, out_sharding=P("y"))
    _typed(r, "float16[4@y,4]", P("y", None))
    r = lax.dot_general(jnp.ones((4, 8)), jnp.ones((8, 4)), dn, out_sharding=P("x", "y"))  # (unsharded operands)
    _typed(r, "float32[4@x,4@y]", P("x", "y"))
    np.testing.assert_array_equal(np.asarray(r), np.full((4, 4), 8.))
    bl, br = _put(P("x"), np.ones((4, 2, 2), np.float32)), _put(P("y"), np.ones((4, 2, 2), np.float32))
    bdn = (((2,), (1,)), ((0,), (0,)))
    with pytest.raises(ShardingTypeError, match="lhs batch dimensions and rhs batch dimensions"):
        lax.dot_general(bl, br, bdn)
    _typed(lax.dot_general(bl, br, bdn, out_sharding=P("x")), "float32[4@x,2,2]", P("x", None, None))
    grads = jax.grad(lambda u, v: lax.dot_general(u, v, dn, out_sharding=P("x", "y")).sum(), argnums=(0, 1))(a, b)
    assert [str(jax.typeof(g)) for g in grads] == ["float32[4@x,8@y]", "float32[8@y,4]"]
    np.testing.assert_allclose(np.asarray(grads[0]), np.ones((4, 4)) @ np.asarray(b).T, rtol=1e-5)


def test_out_sharding_of_lax_dot_general_errors(mesh):
    a, b = _put(P("x", "y"), np.ones((4, 8), np.float32)), _put(P("y", None), np.ones((8, 4), np.float32))
    dn = (((1,), (0,)), ((), ()))
    with pytest.raises(TypeError, match=r"^`out_sharding` argument of dot_general only supports instances of "
                                        r"`NamedSharding` or `PartitionSpec`. Got x of type: <class 'str'>$"):
        lax.dot_general(a, b, dn, out_sharding="x")
    with pytest.raises(ValueError, match=r"^Resource axis: z of P\('z',\) is not found in mesh: \('x', 'y'\).$"):
        lax.dot_general(a, b, dn, out_sharding=P("z"))
    other = jax.make_mesh((4,), ("q",))
    with pytest.raises(ValueError, match=r"^Context mesh AbstractMesh\('x': 2, 'y': 2, .* should match the mesh of "
                                         r"sharding AbstractMesh\('q': 4, .* passed to dot_general. This error occurs "
                                         "at source: "):
        lax.dot_general(a, b, dn, out_sharding=NamedSharding(other, P("q")))
    with pytest.raises(ValueError, match=r"^Sharding spec \('x', 'y'\) implies that array axis 1 is partitioned 4 "
                                         r"times, but does not evenly divide the dimension size 6"):
        lax.dot_general(jnp.ones((3, 3)), jnp.ones((3, 6)), dn, out_sharding=P(None, ("x", "y")))
    with jax.set_mesh(jax.make_mesh((2, 2), ("x", "y"), axis_types=(AxisType.Auto,) * 2)):
        with pytest.raises(ValueError, match=r"^PartitionSpec passed to dot_general cannot contain axis names that "
                                             r"are of type Auto or Manual. Got PartitionSpec: P\('x', 'y'\) with axis "
                                             "name: x of type: AxisType.Auto. This error occurs at source: "):
            lax.dot_general(jnp.ones((4, 8)), jnp.ones((8, 4)), dn, out_sharding=P("x", "y"))


def test_out_sharding_of_lax_dot_general_outside_a_mesh_context():
    m = jax.make_mesh((2, 2), ("x", "y"))
    a = jax.device_put(np.ones((4, 8), np.float32), NamedSharding(m, P("x", "y")))
    b = jax.device_put(np.ones((8, 4), np.float32), NamedSharding(m, P("y", None)))
    dn = (((1,), (0,)), ((), ()))
    for f in (lambda u, v: lax.dot_general(u, v, dn, out_sharding=P("x")),
              jax.jit(lambda u, v: lax.dot_general(u, v, dn, out_sharding=P()))):
        with pytest.raises(ValueError, match=r"^Using PartitionSpec when you are not under a mesh context is not "
                                             r"allowed. Please pass a NamedSharding instance or enter into a mesh "
                                             r"context via `jax.set_mesh`. Got P\((\'x\',)?\)$"):
            f(a, b)
    for f in (lambda u, v: lax.dot_general(u, v, dn, out_sharding=NamedSharding(m, P(None, "x"))),
              jax.jit(lambda u, v: lax.dot_general(u, v, dn, out_sharding=NamedSharding(m, P(None, "x"))))):
        r = f(a, b)
        assert str(jax.typeof(r)) == "float32[4,4@x]" and r.sharding == NamedSharding(m, P(None, "x"))
        np.testing.assert_array_equal(np.asarray(r), np.full((4, 4), 8.))


def test_out_sharding_of_creation_functions(mesh):
    _typed(jnp.zeros((8, 4), out_sharding=P("x")), "float32[8@x,4]", P("x", None))
    _typed(jnp.ones((8, 4), out_sharding=P("x", "y")), "float32[8@x,4@y]", P("x", "y"))
    _typed(jnp.zeros_like(_put(P("x")), out_sharding=P(None, "y")), "float32[8,4@y]", P(None, "y"))
    _typed(jnp.full_like(_put(P("x", "y")), 2.), "float32[8@x,4@y]", P("x", "y"))
    full = jnp.full((8, 4), 3., out_sharding=P(None, "y"))
    assert full.sharding.spec == P(None, "y") and jax.typeof(full).sharding.spec == P(None, "y")
    np.testing.assert_array_equal(np.asarray(full), np.full((8, 4), 3.))
    r = jax.jit(lambda: jnp.zeros((8, 4), out_sharding=P("x")))()  # (no sharded argument: laid out all the same)
    _typed(r, "float32[8@x,4]", P("x", None))
    r = jax.jit(lambda a: jnp.ones((8, 4), out_sharding=P("x")) + a)(X)
    _typed(r, "float32[8@x,4]", P("x", None))
    np.testing.assert_array_equal(np.asarray(r), X + 1)


def test_reshard(mesh):
    x = _put(P("x", None))
    for r, expected, spec in [(jax.sharding.reshard(x, P(None, "x")), "float32[8,4@x]", P(None, "x")),
                              (jax.sharding.reshard(x, NamedSharding(mesh, P("y", "x"))), "float32[8@y,4@x]",
                               P("y", "x")),
                              (jax.jit(lambda a: jax.sharding.reshard(a, P(None, "x")))(x), "float32[8,4@x]",
                               P(None, "x")),
                              (jax.sharding.reshard(X, P("y")), "float32[8@y,4]", P("y", None))]:
        _typed(r, expected, spec)
        np.testing.assert_array_equal(np.asarray(r), X)
    line = jax.make_mesh((4,), ("i",))
    r = jax.sharding.reshard(_put(P("x")), NamedSharding(line, P("i")))  # (onto another mesh)
    _typed(r, "float32[8@i,4]", P("i", None))
    assert r.sharding.mesh == line
    np.testing.assert_array_equal(np.asarray(r), X)
    with pytest.raises(ValueError, match=r"Resource axis: z of P\('z',\) is not found in mesh: \('x', 'y'\)."):
        jax.sharding.reshard(x, P("z"))
    g = jax.grad(lambda a: jnp.sum(jax.sharding.reshard(a, P(None, "y")) ** 2))(x)
    _typed(g, "float32[8@x,4]", P("x", None))
    np.testing.assert_allclose(np.asarray(g), 2 * X)


def test_reshard_checks_its_shardings_as_jax(mesh):
    """``reshard``'s out_shardings go through ``canonicalize_sharding``; a spec longer than the rank loses its
    trailing Nones."""
    x = _put(P("x", None))
    trimmed = lambda a: jax.sharding.reshard(a, P("x", None, None))
    for r in (trimmed(X), jax.jit(trimmed)(X)):
        _typed(r, "float32[8@x,4]", P("x", None))
        np.testing.assert_array_equal(np.asarray(r), X)
    with pytest.raises(ValueError, match="only valid for values of rank at least 3"):  # (JAX: an AssertionError)
        jax.sharding.reshard(x, P("x", None, "y"))
    for f in (jax.sharding.reshard, jax.jit(jax.sharding.reshard, static_argnums=1)):
        with pytest.raises(ValueError, match=r"Sharding spec \('x',\) implies that array axis 0 is partitioned 2 "
                                             r"times, but does not evenly divide the dimension size 3. Got shape: "
                                             r"\(3, 4\) and sharding NamedSharding\(mesh=AbstractMesh\('x': 2, "
                                             r"'y': 2.*spec=P\('x', None\)\)"):
            f(jnp.ones((3, 4)), P("x"))
    with pytest.raises(TypeError, match="`out_sharding` argument of reshard only supports instances of `NamedSharding` "
                                        "or `PartitionSpec`. Got 3 of type: <class 'int'>"):
        jax.sharding.reshard(x, 3)
    for s in (None, NamedSharding(jax.sharding.AbstractMesh((), ()), P())):
        with pytest.raises(ValueError, match="Reshard should only be used with out_shardings which are non-None and "
                                             "have a non-empty mesh. Got sharding"):
            jax.sharding.reshard(x, s)
    with pytest.raises(ValueError, match=r"reshard out_shardings specification must be a tree prefix of the positional "
                                         r"arguments tuple. In particular, reshard out_shardings must either be a "
                                         r"Sharding, a PartitionSpec, or a tuple of length equal to the number of "
                                         r"positional arguments. But reshard out_shardings is the wrong length: got a "
                                         r"tuple or list of length 1 for an args tuple of length 2."):
        jax.sharding.reshard((x, x), (P("x"),))
    auto = jax.make_mesh((2, 2), ("x", "y"), axis_types=(AxisType.Explicit, AxisType.Auto))
    for s in (NamedSharding(auto, P(None, "y")), P("x", "y")):
        with jax.set_mesh(auto), pytest.raises(
                ValueError, match=r"PartitionSpec passed to reshard cannot contain axis names that are of type Auto or "
                                  r"Manual. Got PartitionSpec: P\((None|'x'), 'y'\) with axis name: y of type: "
                                  r"AxisType.Auto. This error occurs at source:"):
            jax.sharding.reshard(X, s)


def test_reshard_to_a_partition_spec_needs_a_mesh_set():
    x = jax.device_put(X, NamedSharding(jax.make_mesh((2, 2), ("x", "y")), P("x")))
    with pytest.raises(ValueError, match=r"Using PartitionSpec when you are not under a mesh context is not allowed. "
                                         r"Please pass a NamedSharding instance or enter into a mesh context via "
                                         r"`jax.set_mesh`. Got P\('y',\)"):
        jax.sharding.reshard(x, P("y"))  # (not the mesh of x's type, as JAX)



def test_device_put_under_jit_checks_the_sharding_as_jax():
    mesh = jax.make_mesh((2,), ("x",))
    put = lambda s: jax.jit(lambda v: jax.device_put(v, NamedSharding(mesh, s)))
    with pytest.raises(ValueError, match=r"Sharding spec \('x',\) implies that array axis 0 is partitioned 2 times, "
                                         r"but does not evenly divide the dimension size 5"):
        put(P("x"))(np.ones(5, np.float32))
    with pytest.raises(ValueError, match="only valid for values of rank at least 2"):
        put(P(None, "x"))(np.ones(4, np.float32))


def test_lax_full_like_follows_the_sharding_as_jax():
    mesh = jax.make_mesh((2,), ("x",))
    x = jax.device_put(X, NamedSharding(mesh, P("x")))
    assert jax.typeof(lax.full_like(x, 3.0)) == jax.typeof(x) and lax.full_like(x, 3.0).sharding == x.sharding
    assert str(jax.typeof(lax.full_like(x, 3.0, shape=(3,)))) == "float32[3]"  # (another shape: not laid out so)
    other = lax.full_like(x, 1, sharding=NamedSharding(mesh, P(None, "x")))
    assert str(jax.typeof(other)) == "float32[8,4@x]"
    np.testing.assert_array_equal(other, np.ones((8, 4), np.float32))


def test_lax_empty_out_sharding():
    mesh = jax.make_mesh((2,), ("x",))
    assert str(jax.typeof(lax.empty((4, 2), jnp.float32, out_sharding=NamedSharding(mesh, P("x"))))) == "float32[4@x,2]"
    with jax.set_mesh(mesh):
        out = lax.empty((4, 2), jnp.float32, out_sharding=P(None, "x"))
    assert str(jax.typeof(out)) == "float32[4,2@x]" and out.shape == (4, 2)
    with pytest.raises(ValueError, match="Using PartitionSpec when you are not under a mesh context is not allowed"):
        lax.empty((4,), jnp.float32, out_sharding=P("x"))

def test_grad_keeps_the_type(mesh):
    x = _put(P("x", None))
    for g in (jax.grad(lambda a: jnp.sum(jnp.sin(a) * 2.))(x), jax.jit(jax.grad(lambda a: jnp.sum(jnp.sin(a) * 2.)))(x)):
        _typed(g, "float32[8@x,4]", P("x", None))
        np.testing.assert_allclose(np.asarray(g), 2 * np.cos(X), rtol=1e-6)
    # The weights' cotangent contracts the batch dimension split over 'x': typed as the weights, as in JAX.
    w = np.random.RandomState(0).randn(4, 3).astype(np.float32)
    loss = lambda w: jnp.mean((x @ w) ** 2)
    for g in (jax.grad(loss)(jnp.asarray(w)), jax.jit(jax.grad(loss))(jnp.asarray(w))):
        assert str(jax.typeof(g)) == "float32[4,3]"
        np.testing.assert_allclose(np.asarray(g), 2 * X.T @ (X @ w) / (8 * 3), rtol=1e-5)


def test_training_step_types_match_jax(mesh):
    """A two-layer MLP's gradients (custom_jvp relu, out_sharding on the second product), and a custom_vjp's."""
    x = _put(P("x", None), np.random.RandomState(0).randn(8, 4).astype(np.float32))
    w1 = _put(P(None, "y"), np.random.RandomState(1).randn(4, 16).astype(np.float32))
    w2 = _put(P("y", None), np.random.RandomState(2).randn(16, 2).astype(np.float32))
    loss = lambda w1, w2: jnp.mean(jnp.dot(jax.nn.relu(x @ w1), w2, out_sharding=P("x")) ** 2)
    g1, g2 = jax.jit(jax.grad(loss, argnums=(0, 1)))(w1, w2)
    _typed(g1, "float32[4,16@y]", P(None, "y"))
    _typed(g2, "float32[16@y,2]", P("y", None))
    h = np.maximum(np.asarray(x) @ np.asarray(w1), 0)
    out = h @ np.asarray(w2)
    np.testing.assert_allclose(np.asarray(g2), h.T @ (2 * out / out.size), rtol=1e-4, atol=1e-5)

    @jax.custom_vjp
    def f(a):
        return jnp.sin(a)

    f.defvjp(lambda a: (jnp.sin(a), a), lambda a, g: (g * jnp.cos(a),))
    g = jax.grad(lambda a: f(a).sum())(x)
    _typed(g, "float32[8@x,4]", P("x", None))
    np.testing.assert_allclose(np.asarray(g), np.cos(np.asarray(x)), rtol=1e-6)


def test_vmap_drops_the_mapped_dimension_from_the_type(mesh):
    y = _put(P("x", "y"))
    seen = []
    r = jax.vmap(lambda r: (seen.append(str(jax.typeof(r))), r * 2)[1])(y)
    _typed(r, "float32[8@x,4@y]", P("x", "y"))
    r = jax.jit(jax.vmap(lambda r: (seen.append(str(jax.typeof(r))), r * 2)[1], in_axes=1))(y)
    _typed(r, "float32[4@y,8@x]", P("y", "x"))
    assert seen == ["float32[4@y]", "float32[8@x]"]
    np.testing.assert_array_equal(np.asarray(r), 2 * X.T)


def test_vmap_spmd_axis_name_must_be_the_explicit_mapped_axes(mesh):
    x, xy = _put(P("x", None)), _put(P(("x", "y"), None))
    for r in (jax.vmap(lambda r: r * 2, spmd_axis_name="x")(x),
              jax.jit(jax.vmap(lambda r: r * 2, spmd_axis_name=("x",)))(x)):
        _typed(r, "float32[8@x,4]", P("x", None))
        np.testing.assert_array_equal(np.asarray(r), 2 * X)
    _typed(jax.vmap(lambda r: r * 2, spmd_axis_name=("x", "y"))(xy), "float32[8@(x,y),4]", P(("x", "y"), None))
    _typed(jax.vmap(lambda r: r * 2, in_axes=1, spmd_axis_name="y")(x), "float32[4,8@x]", P(None, "x"))  # (unsplit)
    for f, a, got in [(jax.vmap(lambda r: r, spmd_axis_name="y"), x, "('y',)"),
                      (jax.jit(jax.vmap(lambda r: r, spmd_axis_name="y")), x, "('y',)"),
                      (jax.vmap(lambda r: r, spmd_axis_name=("y", "x")), xy, "('y', 'x')")]:
        ema = "('x',)" if a is x else "('x', 'y')"
        with pytest.raises(ValueError, match=re.escape(
                "Only one of spmd_axis_name or arrays sharded on `Explicit` mesh axis type is allowed. Got "
                f"spmd_axis_name={got} and arrays sharded on explicit_mesh_axis={ema}")):
            f(a)


def test_control_flow_type_errors(mesh):
    x = _put(P("x", None))
    with pytest.raises(TypeError, match=r"cond branches must have equal output types but they differ.\n\nThe output of "
                                        r"true_fun has type float32\[8@x,4\] but the corresponding output of false_fun "
                                        r"has type float32\[8@y,4\]"):
        lax.cond(True, lambda a: a, lambda a: jax.sharding.reshard(a, P("y")), x)
    with pytest.raises(TypeError, match="carry input and carry output must have equal types"):
        lax.fori_loop(0, 2, lambda i, a: jax.sharding.reshard(a, P("y")), x)
    with pytest.raises(ValueError, match=r"0th dimension of all xs should be replicated. Got P\('x', 'y'\)"):
        lax.scan(lambda c, r: (c + r, r), jnp.zeros(4), _put(P("x", "y")))


def test_operations_without_a_sharding_rule_are_not_implemented(mesh):
    # (tridiagonal_solve: a primitive without a sharding rule that every backend lowers)
    dl, d, du = np.zeros(8, np.float32), np.full(8, 2.0, np.float32), np.zeros(8, np.float32)
    b = _put(P("x", None), np.ones((8, 4), np.float32))
    with pytest.raises(NotImplementedError,
                       match="explicit sharding: the sharding rule of 'tridiagonal_solve' is not implemented"):
        lax.linalg.tridiagonal_solve(dl, d, du, b)
    r = lax.linalg.tridiagonal_solve(dl, d, du, jax.sharding.reshard(b, P()))  # (the way out the message gives)
    np.testing.assert_allclose(np.asarray(r), np.full((8, 4), 0.5))


def _gather_error(operand: str, indices: str) -> str:
    return ("Use `.at[...].get(out_sharding=)` to provide output PartitionSpec for the gather indexing as out sharding "
            "could not be resolved unambiguously (or would require collectives on inputs). Got "
            f"operand=ShapedArray({operand}), indices=ShapedArray({indices})")


def _scatter_error(operand: str, indices: str, updates: str) -> str:
    return ("Use `.at[...].set/add/mul/...(out_sharding=)` to provide output PartitionSpec for the scatter update as "
            "out sharding could not be resolved unambiguously (or would require collectives on inputs). Got "
            f"operand=ShapedArray({operand}), indices=ShapedArray({indices}), updates=ShapedArray({updates})")


IDX = np.array([0, 2, 1], np.int32)


# Types and messages as JAX 0.10.2 gives them (CPU, 4 devices), eagerly on arrays laid out over the mesh: there JAX
# lowers indexing with partial slices or integers to a gather (under jit, to a slice: see the next test).
@pytest.mark.parametrize("name, fn, expected", [
    ("x[:,1:3]", lambda x, x2, y: x[:, 1:3], ("float32[8@x,2]", P("x", None))),
    ("x2[2:6]", lambda x, x2, y: x2[2:6], ("float32[4,4@x]", P(None, "x"))),
    ("x[:,1]", lambda x, x2, y: x[:, 1], ("float32[8@x]", P("x"))),
    ("x2[1]", lambda x, x2, y: x2[1], ("float32[4@x]", P("x"))),
    ("x[:,::2]", lambda x, x2, y: x[:, ::2], ("float32[8@x,2]", P("x", None))),
    ("x[:,idx]", lambda x, x2, y: x[:, IDX], ("float32[8@x,3]", P("x", None))),
    ("x2[idx]", lambda x, x2, y: x2[jnp.asarray(IDX)], ("float32[3,4@x]", P(None, "x"))),
    ("take 1", lambda x, x2, y: jnp.take(x, IDX, axis=1), ("float32[8@x,3]", P("x", None))),
    ("take_along 1", lambda x, x2, y: jnp.take_along_axis(x, jnp.asarray(IDX[:2] + np.zeros((8, 1), np.int32)), axis=1),
     ("float32[8@x,2]", P("x", None))),
    ("take_along 1 typed", lambda x, x2, y, i, t: jnp.take_along_axis(x, t, axis=1),
     ("float32[8@x,2]", P("x", None))),
    ("at get", lambda x, x2, y: x.at[:, IDX].get(), ("float32[8@x,3]", P("x", None))),
    ("x[...,None]", lambda x, x2, y: x[..., None], ("float32[8@x,4,1]", P("x", None, None))),
    ("x[2:6]", lambda x, x2, y: x[2:6], _gather_error("float32[8@x,4]", "int32[1]")),
    ("x[1]", lambda x, x2, y: x[1], _gather_error("float32[8@x,4]", "int32[1]")),
    ("x[-1]", lambda x, x2, y: x[-1], _gather_error("float32[8@x,4]", "int32[1]")),
    ("x[::2]", lambda x, x2, y: x[::2], _gather_error("float32[8@x,4]", "int32[4,1]")),
    ("x[2:6,1]", lambda x, x2, y: x[2:6, 1], _gather_error("float32[8@x,4]", "int32[2]")),
    ("x[idx]", lambda x, x2, y: x[IDX], _gather_error("float32[8@x,4]", "int32[3,1]")),
    ("y[:,idx]", lambda x, x2, y: y[:, IDX], _gather_error("float32[8@x,4@y]", "int32[3,1]")),
    ("x[idx,1:3]", lambda x, x2, y: x[IDX[:2], 1:3], _gather_error("float32[8@x,4]", "int32[2,2]")),
    ("x[:,idx typed]", lambda x, x2, y, i: x[:, i], _gather_error("float32[8@x,4]", "int32[2@y,1]")),
    ("take 0", lambda x, x2, y: jnp.take(x, IDX, axis=0), _gather_error("float32[8@x,4]", "int32[3,1]")),
    ("take_along 0", lambda x, x2, y: jnp.take_along_axis(x, jnp.zeros((2, 4), jnp.int32), axis=0),
     _gather_error("float32[8@x,4]", "int32[2,4,1]")),
    ("at get fill", lambda x, x2, y: x.at[IDX].get(mode="fill", fill_value=0), _gather_error("float32[8@x,4]",
                                                                                              "int32[3,1]")),
], ids=lambda v: v if isinstance(v, str) and "[" in v[:2] or isinstance(v, str) and " " in v[:12] else "")
def test_gather_sharding_rule(mesh, name, fn, expected):
    args = [_put(s) for s in (P("x", None), P(None, "x"), P("x", "y"))]
    if fn.__code__.co_argcount > 3:  # (and indices typed int32[2@y], int32[8@x,2])
        typed = [_put(P("y"), IDX[:2]), _put(P("x", None), IDX[:2] + np.zeros((8, 1), np.int32))]
        args += typed[:fn.__code__.co_argcount - 3]
    if isinstance(expected, str):
        with pytest.raises(ShardingTypeError) as e:
            fn(*args)
        assert str(e.value) == expected
        if name not in ("x[2:6]", "x[1]", "x[-1]", "x[::2]", "x[2:6,1]"):  # (under jit: the same gather)
            with pytest.raises(ShardingTypeError) as e:
                jax.jit(fn)(*args)
            assert str(e.value) == expected
        return
    r = fn(*args)
    _typed(r, *expected)
    np.testing.assert_array_equal(np.asarray(r), np.asarray(fn(*(jnp.asarray(np.asarray(a)) for a in args))))
    _typed(jax.jit(fn)(*args), *expected)


def test_indexing_under_jit_slices_as_jax(mesh):
    """Under jit JAX indexes with static integers and slices by ``lax.slice`` (``slice``'s rule), and with a traced
    integer by ``lax.dynamic_slice`` (JAX 0.10.2's types and messages)."""
    x = _put(P("x", None))
    for fn, expected, spec, want in [(lambda a: a[2:6], "float32[4@x,4]", P("x", None), X[2:6]),
                                     (lambda a: a[::2], "float32[4@x,4]", P("x", None), X[::2])]:
        r = jax.jit(fn)(x)
        _typed(r, expected, spec)
        np.testing.assert_array_equal(np.asarray(r), want)
    with pytest.raises(ShardingTypeError) as e:
        jax.jit(lambda a: a[1])(x)
    assert str(e.value) == ("slicing on sharded dims where out dim (1) is not divisible by mesh axes (2) with spec (x) "
                            "is not implemented. Got input type=f32[8@x,4] and output shape=(1, 4)")
    with pytest.raises(ShardingTypeError) as e:
        jax.jit(lambda a, i: a[i])(x, 3)
    assert str(e.value) == ("dynamic_slice on sharded dims where out dim (1) is not divisible by mesh axes (2) with "
                            "spec (x) is not implemented. Got input type=f32[8@x,4] and output shape=(1, 4)")
    r = jax.jit(lambda a, i: a[:, i])(x, 3)
    _typed(r, "float32[8@x]", P("x"))
    np.testing.assert_array_equal(np.asarray(r), X[:, 3])


# JAX 0.10.2's types, sums and messages for the same updates (eager and under jit alike).
@pytest.mark.parametrize("name, fn, expected", [
    ("x[:,1:3].set(1.)", lambda a: a.at[:, 1:3].set(1.), ("float32[8@x,4]", P("x", None))),
    ("x[:,1].set(5.)", lambda a: a.at[:, 1].set(5.), ("float32[8@x,4]", P("x", None))),
    ("x[:,1:3].set(ones)", lambda a: a.at[:, 1:3].set(jnp.ones((8, 2))), ("float32[8@x,4]", P("x", None))),
    ("x[:,1].set(typed)", lambda a: a.at[:, 1].set(jax.sharding.reshard(jnp.arange(8.), P("x"))),
     ("float32[8@x,4]", P("x", None))),
    ("x[:,idx].add", lambda a: a.at[:, IDX[:2]].add(jnp.ones((8, 2))), ("float32[8@x,4]", P("x", None))),
    ("x[:,idx].max", lambda a: a.at[:, IDX].max(7.), ("float32[8@x,4]", P("x", None))),
    ("x[:,1].multiply", lambda a: a.at[:, 1].multiply(2.), ("float32[8@x,4]", P("x", None))),
    ("x[...,None,1:3].set", lambda a: a.at[..., None, 1:3].set(0.), ("float32[8@x,4]", P("x", None))),
    ("x[:,1].apply", lambda a: a.at[:, 1].apply(jnp.sin), _scatter_error("float32[8@x,4]", "int32[1]", "float32[8]")),
    ("x2[1].set", lambda a: jax.sharding.reshard(a, P(None, "x")).at[1].set(jnp.ones(4)),
     ("float32[8,4@x]", P(None, "x"))),
    ("x[1].set", lambda a: a.at[1].set(jnp.ones(4)),
     _scatter_error("float32[8@x,4]", "int32[1]", "float32[4]")),
    ("x[idx].add", lambda a: a.at[IDX].add(1.), _scatter_error("float32[8@x,4]", "int32[3,1]", "float32[3,4]")),
    ("x2[:,1:3].set", lambda a: jax.sharding.reshard(a, P(None, "x")).at[:, 1:3].set(1.),
     _scatter_error("float32[8,4@x]", "int32[1]", "float32[8,2@x]")),
    ("x2[:,idx].add", lambda a: jax.sharding.reshard(a, P(None, "x")).at[:, IDX[:2]].add(jnp.ones((8, 2))),
     _scatter_error("float32[8,4@x]", "int32[2,1]", "float32[8,2]")),
], ids=lambda v: v if isinstance(v, str) and "." in v and "[" in v[:3] else "")
def test_scatter_sharding_rule(mesh, name, fn, expected):
    x = _put(P("x", None))
    for f in (fn, jax.jit(fn)):
        if isinstance(expected, str):
            with pytest.raises(ShardingTypeError) as e:
                f(x)
            assert str(e.value) == expected
            continue
        r = f(x)
        _typed(r, *expected)
        np.testing.assert_array_equal(np.asarray(r), np.asarray(fn(jnp.asarray(X))))


def test_dynamic_slices(mesh):
    x = _put(P("x", None))
    r = lax.dynamic_slice(x, (2, 0), (4, 4))
    _typed(r, "float32[4@x,4]", P("x", None))
    np.testing.assert_array_equal(np.asarray(r), X[2:6])
    u = _put(P("x", None), np.ones((8, 2), np.float32))
    r = lax.dynamic_update_slice(x, u, (0, 1))
    _typed(r, "float32[8@x,4]", P("x", None))
    np.testing.assert_array_equal(np.asarray(r), np.concatenate([X[:, :1], np.ones((8, 2)), X[:, 3:]], 1))
    with pytest.raises(ShardingTypeError) as e:  # (JAX 0.10.2's message)
        lax.dynamic_update_slice(x, jnp.ones((8, 2)), (0, 1))
    assert str(e.value) == ("dynamic_update_slice operand sharding must be equal to update sharding, got operand "
                            "sharding float32[8@x,4]({Explicit: ('x', 'y')}) and update sharding "
                            "float32[8,2]({Explicit: ('x', 'y')}).")


def test_scan_over_xs_sharded_along_another_dimension():
    """JAX 0.10.2: the body sees the slices typed ``float32[4@y]``; the stacked ys keep the xs' type."""
    a = jax.device_put(X, NamedSharding(jax.make_mesh((2, 2), ("x", "y")), P(None, "y")))
    seen = []
    fn = lambda v: lax.scan(lambda c, r: (seen.append(str(jax.typeof(r))) or (c + r.sum(), r * 2)), 0., v)
    for f in (fn, jax.jit(fn)):
        c, ys = f(a)
        assert str(jax.typeof(c)) == "float32[]" and float(c) == X.sum()
        _typed(ys, "float32[8,4@y]", P(None, "y"))
        np.testing.assert_array_equal(np.asarray(ys), 2 * X)
    assert set(seen) == {"float32[4@y]"}


def test_scan_over_sharded_xs_under_grad_and_vmap(mesh):
    """JAX 0.10.2: the gradient is typed as the xs, ``float32[8,4@y]``; vmapped over a new leading dimension, the ys
    are ``float32[2,8,4@y]``."""
    a = _put(P(None, "y"))
    f = lambda v: lax.scan(lambda c, r: (c + jnp.sin(r).sum(), r * c), 0., v)
    loss = lambda v: f(v)[1].sum()
    batched = lambda v: jax.vmap(lambda w: f(w)[1])(jnp.stack([v, 2 * v]))
    for fn, expected, spec in [(jax.grad(loss), "float32[8,4@y]", P(None, "y")),
                               (batched, "float32[2,8,4@y]", P(None, None, "y"))]:
        want = np.asarray(fn(jnp.asarray(X)))
        for g in (fn, jax.jit(fn)):
            r = g(a)
            _typed(r, expected, spec)  # (sums over the split dimension add per-device partial sums: to rounding)
            np.testing.assert_allclose(np.asarray(r), want, rtol=1e-5, atol=1e-5)


SPD = np.random.RandomState(0).randn(4, 4, 4).astype(np.float32)
SPD = SPD @ SPD.transpose(0, 2, 1) + 3 * np.eye(4, dtype=np.float32)


def _typed_as(a, v):
    """``v`` typed as ``a`` (as it is if ``a`` is untyped)."""
    return v if jax.typeof(a).sharding is None else jax.sharding.reshard(v, jax.typeof(a).sharding.spec)


# JAX 0.10.2's output types for the same operations (CPU, 4 devices); values: exactly the unsharded computation's.
@pytest.mark.parametrize("name, fn, expected", [
    ("top_k", lambda x, a: lax.top_k(x, 2), ["float32[8@x,2]", "int32[8@x,2]"]),
    ("argsort", lambda x, a: jnp.argsort(x, axis=1), ["int32[8@x,4]"]),
    ("reduce_precision", lambda x, a: lax.reduce_precision(x, exponent_bits=5, mantissa_bits=10), ["float32[8@x,4]"]),
    ("fft", lambda x, a: jnp.fft.fft(x, axis=1), ["complex64[8@x,4]"]),
    ("fft along x", lambda x, a: jnp.fft.fft(x, axis=0), ["complex64[8@x,4]"]),
    ("rfft", lambda x, a: jnp.fft.rfft(x, axis=1), ["complex64[8@x,3]"]),
    ("reduce_window sum", lambda x, a: lax.reduce_window(x, 0., lax.add, (1, 2), (1, 1), "VALID"), ["float32[8@x,3]"]),
    ("reduce_window max", lambda x, a: lax.reduce_window(x, -jnp.inf, lax.max, (2, 1), (2, 1), "VALID"),
     ["float32[4@x,4]"]),
    ("reduce_window max 3", lambda x, a: lax.reduce_window(x, -jnp.inf, lax.max, (3, 1), (1, 1), "VALID"),
     ["float32[6@x,4]"]),
    ("conv", lambda x, a: lax.conv_general_dilated(jax.sharding.reshard(x.reshape(4, 2, 4), P("x")),
                                                   jnp.ones((3, 2, 3)), (1,), "SAME"), ["float32[4@x,3,4]"]),
    ("cholesky", lambda x, a: jnp.linalg.cholesky(a), ["float32[4@x,4,4]"]),
    ("eigh", lambda x, a: jnp.linalg.eigh(a), ["float32[4@x,4]", "float32[4@x,4,4]"]),
    ("svd", lambda x, a: jnp.linalg.svd(a), ["float32[4@x,4,4]", "float32[4@x,4]", "float32[4@x,4,4]"]),
    ("lu", lambda x, a: lax.linalg.lu(a), ["float32[4@x,4,4]", "int32[4@x,4]", "int32[4@x,4]"]),
    ("solve", lambda x, a: jnp.linalg.solve(a, _typed_as(a, jnp.ones((4, 4, 1)))), ["float32[4@x,4,1]"]),
    ("triangular_solve", lambda x, a: lax.linalg.triangular_solve(a, _typed_as(a, jnp.ones((4, 4, 2))), left_side=True,
                                                                  lower=True), ["float32[4@x,4,2]"]),
    ("clip", lambda x, a: jnp.clip(x, 2., 5.), ["float32[8@x,4]"]),
    ("clamp", lambda x, a: lax.clamp(jnp.ones((8, 4)), x, jax.sharding.reshard(x, P(None, "x"))), ["float32[8@x,4]"]),
], ids=lambda v: v if isinstance(v, str) else "")
def test_more_sharding_rules(mesh, name, fn, expected):
    x, a = _put(P("x", None)), _put(P("x"), SPD)
    want = jax.tree.leaves(fn(jnp.asarray(X), jnp.asarray(SPD)))
    for f in (fn, jax.jit(fn)):
        got = jax.tree.leaves(f(x, a))
        assert [str(jax.typeof(r)) for r in got] == expected
        for r, w in zip(got, want):
            assert r.sharding.spec == jax.typeof(r).sharding.spec
            np.testing.assert_array_equal(np.asarray(r), np.asarray(w))


CONV_OUT = "Please specify the output sharding via `out_sharding` parameter of `conv_general_dilated`"


# JAX 0.10.2's messages for the same operations.
@pytest.mark.parametrize("fn, message", [
    (lambda x, a: lax.top_k(jax.sharding.reshard(x, P(None, "x")), 2),
     "The input should be unsharded over the axis along which to compute the top_k values. Got input "
     "type=float32[8,4@x] and axis=1"),
    (lambda x, a: lax.reduce_window(x, -jnp.inf, lax.max, (2, 1), (3, 1), "VALID"),
     "reduce_window on sharded dims where out dim (3) is not divisible by mesh axes (2) with spec (x) is not "
     "implemented. Got input type=f32[8@x,4] and output shape=(3, 4)"),
    (lambda x, a: lax.conv_general_dilated(jax.sharding.reshard(x.reshape(4, 2, 4), P("x")),
                                           jax.sharding.reshard(jnp.ones((4, 2, 3)), P("x")), (1,), "SAME"), CONV_OUT),
    (lambda x, a: lax.conv_general_dilated(jax.sharding.reshard(x.reshape(4, 2, 4), P(None, "x")), jnp.ones((3, 2, 3)),
                                           (1,), "SAME"), CONV_OUT),
    (lambda x, a: lax.linalg.eigh(jax.sharding.reshard(a, P(None, "x")), symmetrize_input=False),
     "Input 0 to eigh must be unsharded on non-batch dimensions, but got P(None, 'x', None)."),
    (lambda x, a: lax.linalg.cholesky(jax.sharding.reshard(a, P(None, None, "y")), symmetrize_input=False),
     "Input 0 to cholesky must be unsharded on non-batch dimensions, but got P(None, None, 'y')."),
    (lambda x, a: lax.linalg.qr(jax.sharding.reshard(a, P(None, None, "y"))),
     "Input 0 to qr must be unsharded on non-batch dimensions, but got P(None, None, 'y')."),
    (lambda x, a: lax.linalg.triangular_solve(a, jax.sharding.reshard(jnp.ones((4, 4, 2)), P("x", "y")),
                                              left_side=True),
     "triangular solve input `b` must be unsharded on the contracting axis, but got P('x', 'y', None) with "
     "left_side=True and transpose_a=False."),
    (lambda x, a: lax.linalg.triangular_solve(a, jax.sharding.reshard(jnp.ones((4, 4, 2)), P("y")), left_side=True),
     "All inputs to triangular_solve must have the same batch sharding, but got ('x',) and ('y',)."),
])
def test_more_sharding_type_errors(mesh, fn, message):
    x, a = _put(P("x", None)), _put(P("x"), SPD)
    for f in (fn, jax.jit(fn)):
        with pytest.raises(ShardingTypeError) as e:
            f(x, a)
        assert str(e.value) == message


def test_device_put_inside_jit(mesh):
    """JAX 0.10.2: ``device_put`` inside jit of a host value or of a traced one gives ``float32[8@x]``. A global
    array constant returned as it is came back twice as long (each device's block was the whole array)."""
    v = np.arange(8, dtype=np.float32)
    for f in (lambda: jax.device_put(v, P("x")), lambda: jax.device_put(jnp.asarray(v), P("x")),
              lambda: jax.device_put(v, NamedSharding(mesh, P("x")))):
        r = jax.jit(f)()
        _typed(r, "float32[8@x]", P("x"))
        np.testing.assert_array_equal(np.asarray(r), v)
    a = _put(P("x", None))
    r = jax.jit(lambda: a)()
    _typed(r, "float32[8@x,4]", P("x", None))
    np.testing.assert_array_equal(np.asarray(r), X)


JNP_OUT_SHARDING = [("dot_general", lambda u, v, s: jnp.dot(u, v, out_sharding=s)),
                    ("dot_general", lambda u, v, s: jnp.matmul(u, v, out_sharding=s)),
                    ("dot_general", lambda u, v, s: jnp.tensordot(u, v, axes=1, out_sharding=s)),
                    ("einsum", lambda u, v, s: jnp.einsum("ij,jk->ik", u, v, out_sharding=s)),
                    ("reshape", lambda u, v, s: jnp.reshape(u, (32,), out_sharding=s)),
                    ("reshape", lambda u, v, s: lax.reshape(u, (32,), out_sharding=s))]


@pytest.mark.parametrize("api, fn", JNP_OUT_SHARDING)
def test_out_sharding_of_jnp_functions_is_canonicalized_as_jax(api, fn):
    """JAX's ``canonicalize_sharding`` errors for ``out_sharding=`` of jnp's contractions and reshapes."""
    m = jax.make_mesh((2, 2), ("x", "y"))
    a = jax.device_put(X, NamedSharding(m, P("x", None)))
    b = jax.device_put(np.ones((4, 6), np.float32), NamedSharding(m, P(None, "y")))
    with pytest.raises(ValueError, match=r"^Using PartitionSpec when you are not under a mesh context is not allowed. "
                                         r"Please pass a NamedSharding instance or enter into a mesh context via "
                                         r"`jax.set_mesh`. Got P\('x',\)$"):
        fn(a, b, P("x"))
    with pytest.raises(TypeError, match=rf"^`out_sharding` argument of {api} only supports instances of "
                                        r"`NamedSharding` or `PartitionSpec`. Got x of type: <class 'str'>$"):
        fn(a, b, "x")
    with jax.set_mesh(m):
        with pytest.raises(ValueError, match=r"^Context mesh AbstractMesh\('x': 2, 'y': 2, .* should match the mesh of "
                                             rf"sharding AbstractMesh\('q': 4, .* passed to {api}. This error occurs "):
            fn(a, b, NamedSharding(jax.make_mesh((4,), ("q",)), P("q")))
        with pytest.raises(ValueError, match=r"^Resource axis: z of P\('z',\) is not found in mesh: \('x', 'y'\).$"):
            fn(a, b, P("z"))
        r = fn(a, b, P("x"))
        assert jax.typeof(r).sharding.spec[0] == "x" and r.sharding.spec[0] == "x"
    with jax.set_mesh(jax.make_mesh((2, 2), ("x", "y"), axis_types=(AxisType.Auto,) * 2)):
        with pytest.raises(ValueError, match=rf"^PartitionSpec passed to {api} cannot contain axis names that are of "
                                             r"type Auto or Manual. Got PartitionSpec: P\('x',\) with axis name: x of "
                                             "type: AxisType.Auto. This error occurs at source: "):
            fn(np.ones((8, 4), np.float32), np.ones((4, 6), np.float32), P("x"))
    r = fn(a, b, NamedSharding(m, P("x")))  # (a NamedSharding needs no mesh context)
    assert r.sharding.mesh == m and r.sharding.spec[0] == "x"


@pytest.mark.parametrize("types", [(AxisType.Auto,) * 2, (AxisType.Explicit,) * 2, (AxisType.Auto, AxisType.Explicit)],
                         ids=["auto", "explicit", "mixed"])
def test_jit_under_set_mesh_without_sharded_arguments_runs_over_the_mesh(types):
    """As in JAX: under ``set_mesh``, a jitted call whose arguments are not committed (NumPy arrays, scalars,
    uncommitted Arrays, none at all) runs over the mesh's devices, its results replicated over it
    (``NamedSharding(mesh, P())``; its spec written out per dimension when typed, if the mesh has Explicit axes),
    weak types kept."""
    m = jax.make_mesh((2, 2), ("x", "y"), axis_types=types)
    explicit = AxisType.Explicit in types
    with jax.set_mesh(m):
        for f, args, want, expected in [(lambda: jnp.ones(3) * 2, (), np.full(3, 2.), "float32[3]"),
                                        (lambda a: a * 2, (X,), X * 2, "float32[8,4]"),
                                        (lambda a: a * 2, (3.,), 6., "~float32[]"),
                                        (lambda: jnp.asarray(X) + 1, (), X + 1, "float32[8,4]")]:
            r = jax.jit(f)(*args)
            assert r.sharding == NamedSharding(m, P(*(None,) * r.ndim) if explicit else P()) and r.is_fully_replicated
            assert sorted(s.device.id for s in r.addressable_shards) == [0, 1, 2, 3]
            assert str(jax.typeof(r)) == expected
            assert (jax.typeof(r).sharding is not None) == explicit
            np.testing.assert_array_equal(np.asarray(r), want)
        r = jax.jit(lambda: jnp.ones(4), out_shardings=P("x"))()
        assert r.sharding == NamedSharding(m, P("x")) and not r.is_fully_replicated
    r = jax.jit(lambda a: a * 2)(X)  # (outside the mesh context: on the default device)
    assert r.sharding == jax.sharding.SingleDeviceSharding(jax.devices()[0])
