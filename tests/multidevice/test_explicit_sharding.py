"""Explicit sharding (sharding in types) on a mesh of Explicit axes: ``jax.typeof`` shows the sharding, each
operation's sharding rule gives its result's (JAX's ShardingTypeError for the layouts JAX rejects), ``reshard`` and
``out_sharding=`` change it, and the arrays computed are laid out as their types say.

Every expected type, spec and message below is what JAX 0.10.2 prints for the same program (CPU, 4 devices)."""
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
    assert str(jax.typeof(x)) == "float32[8@x,4]" and repr(jax.typeof(x)) == "ShapedArray(f32[8@x,4])"
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
    x = _put(P("x", None))
    with pytest.raises(NotImplementedError, match="explicit sharding: the sharding rule of 'gather' is not implemented"):
        jnp.take(x, jnp.array([0, 1]), axis=1)
    r = jnp.take(jax.sharding.reshard(x, P()), jnp.array([0, 1]), axis=1)  # (the way out the message gives)
    np.testing.assert_array_equal(np.asarray(r), X[:, :2])
