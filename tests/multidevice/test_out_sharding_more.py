"""``out_sharding=`` of the ``jax.random`` samplers and of the ``.at[...]`` methods, and the types creation
functions give under ``jax.set_mesh`` with Explicit axes.

Every expected type, spec, value and message below is what JAX 0.10.2 gives for the same program (CPU, 4 devices).
"""
import numpy as np
import pytest

import portax as jax
import portax.numpy as jnp
from portax import lax
from portax.core.errors import ShardingTypeError
from portax.sharding import AxisType, NamedSharding, PartitionSpec as P

R = jax.random
S = (8, 4)
X = np.arange(32, dtype=np.float32).reshape(S)
IDX = np.array([0, 2, 5])

# name -> sampler of shape (8, 4) (orthogonal: (8, 4, 4); permutation of 8: (8,)) taking out_sharding=
SAMPLERS = {
    "bits": lambda k, **o: R.bits(k, S, **o),
    "uniform": lambda k, **o: R.uniform(k, S, minval=-1., maxval=3., **o),
    "randint": lambda k, **o: R.randint(k, S, 0, 100, **o),
    "randint_u8": lambda k, **o: R.randint(k, S, 0, 256, "uint8", **o),
    "permutation": lambda k, **o: R.permutation(k, np.arange(32.).reshape(S), **o),
    "normal": lambda k, **o: R.normal(k, S, **o),
    "multivariate_normal": lambda k, **o: R.multivariate_normal(k, np.zeros(4, np.float32), np.eye(4, dtype=np.float32),
                                                                (8,), **o),
    "truncated_normal": lambda k, **o: R.truncated_normal(k, -1., 1., S, **o),
    "bernoulli": lambda k, **o: R.bernoulli(k, 0.3, S, **o),
    "beta": lambda k, **o: R.beta(k, 2., 3., S, **o),
    "cauchy": lambda k, **o: R.cauchy(k, S, **o),
    "dirichlet": lambda k, **o: R.dirichlet(k, np.ones(4, np.float32), (8,), **o),
    "exponential": lambda k, **o: R.exponential(k, S, **o),
    "gamma": lambda k, **o: R.gamma(k, 2., S, **o),
    "loggamma": lambda k, **o: R.loggamma(k, 2., S, **o),
    "poisson": lambda k, **o: R.poisson(k, 3., S, **o),
    "gumbel": lambda k, **o: R.gumbel(k, S, **o),
    "categorical": lambda k, **o: R.categorical(k, np.zeros((8, 4, 5), np.float32), **o),
    "laplace": lambda k, **o: R.laplace(k, S, **o),
    "logistic": lambda k, **o: R.logistic(k, S, **o),
    "pareto": lambda k, **o: R.pareto(k, 2., S, **o),
    "t": lambda k, **o: R.t(k, 3., S, **o),
    "chisquare": lambda k, **o: R.chisquare(k, 3., S, **o),
    "f": lambda k, **o: R.f(k, 3., 4., S, **o),
    "rademacher": lambda k, **o: R.rademacher(k, S, **o),
    "maxwell": lambda k, **o: R.maxwell(k, S, **o),
    "generalized_normal": lambda k, **o: R.generalized_normal(k, 1.5, S, **o),
    "ball": lambda k, **o: R.ball(k, 4, 2, (8,), **o),
    "rayleigh": lambda k, **o: R.rayleigh(k, 2., S, **o),
    "wald": lambda k, **o: R.wald(k, 2., S, **o),
    "geometric": lambda k, **o: R.geometric(k, 0.3, S, **o),
    "triangular": lambda k, **o: R.triangular(k, 0., 0.5, 1., S, **o),
    "lognormal": lambda k, **o: R.lognormal(k, 1., S, **o),
}
DTYPES = {"bits": "uint32", "randint": "int32", "randint_u8": "uint8", "bernoulli": "bool", "poisson": "int32",
          "categorical": "int32", "rademacher": "int32", "geometric": "int32"}


@pytest.fixture
def mesh():
    m = jax.make_mesh((2, 2), ("x", "y"))  # (Explicit axes)
    with jax.set_mesh(m):
        yield m


def _typed(r, expected: str, spec: P) -> None:
    assert str(jax.typeof(r)) == expected
    assert r.sharding.spec == spec


# --- jax.random ------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("name", sorted(SAMPLERS))
def test_sampler_out_sharding_lays_out_the_unsharded_values(name):
    key = R.key(0)
    sampler = SAMPLERS[name]
    expected = np.asarray(sampler(key))
    m = jax.make_mesh((2, 2), ("x", "y"))
    with jax.set_mesh(m):
        r = sampler(key, out_sharding=P("x", "y"))
    _typed(r, f"{DTYPES.get(name, 'float32')}[8@x,4@y]", P("x", "y"))
    assert r.sharding.mesh == m
    if expected.dtype.kind == "f":  # (the same numbers, as JAX gives them; wgpu may round a last bit differently)
        np.testing.assert_allclose(np.asarray(r), expected, rtol=1e-5)
    else:
        np.testing.assert_array_equal(np.asarray(r), expected)


@pytest.mark.parametrize("name", sorted(SAMPLERS))
def test_sampler_default_is_replicated_over_the_mesh(name):
    """Without out_sharding a sample made under a mesh of Explicit axes is typed replicated over it, as in JAX."""
    key = R.key(0)
    expected = np.asarray(SAMPLERS[name](key))
    m = jax.make_mesh((2, 2), ("x", "y"))
    with jax.set_mesh(m):
        r = SAMPLERS[name](key)
    assert str(jax.typeof(r)) == f"{DTYPES.get(name, 'float32')}[8,4]"
    assert r.sharding == NamedSharding(m, P(None, None))
    np.testing.assert_allclose(np.asarray(r), expected, rtol=1e-5)


def test_sampler_out_sharding_other_layouts(mesh):
    key = R.key(0)
    r = R.permutation(key, 8, out_sharding=P("x"))
    _typed(r, "int32[8@x]", P("x"))
    np.testing.assert_array_equal(np.asarray(r), np.asarray(jax.device_get(R.permutation(key, 8))))
    r = R.orthogonal(key, 4, (8,), out_sharding=P("x", "y"))
    _typed(r, "float32[8@x,4@y,4]", P("x", "y", None))
    r = jax.jit(lambda k: R.uniform(k, S, out_sharding=P("y", "x")))(R.key(1))
    _typed(r, "float32[8@y,4@x]", P("y", "x"))
    np.testing.assert_array_equal(np.asarray(r)[0], np.float32([0.4386324882507324, 0.5337529182434082,
                                                                0.44591832160949707, 0.4383963346481323]))
    r = R.uniform(R.key(1), (8,), out_sharding=NamedSharding(mesh, P("x")))
    _typed(r, "float32[8@x]", P("x"))


def test_sampler_scalars_are_replicated_under_an_explicit_mesh(mesh):
    key = R.key(1)
    for r in (R.normal(key), R.bernoulli(key), jax.jit(lambda k: R.uniform(k))(key)):
        assert jax.typeof(r).shape == () and r.sharding == NamedSharding(mesh, P())
    np.testing.assert_allclose(float(R.normal(key)), -0.15443718433380127, rtol=1e-6)


def test_sampler_scalars_without_a_mesh_are_not_on_one():
    assert not isinstance(R.normal(R.key(1)).sharding, NamedSharding)


def test_sampler_without_shape_is_replicated_as_jax_does(mesh):
    """JAX's gamma (and dirichlet, multivariate_normal) take a missing shape as a scalar one when choosing the
    sharding: the samples come back replicated."""
    key = R.key(1)
    a = jax.device_put(np.full(S, 2., np.float32), P("x", None))
    r = R.gamma(key, a)
    _typed(r, "float32[8,4]", P(None, None))
    np.testing.assert_allclose(np.asarray(r).ravel()[:4], [1.1647965908050537, 1.3505915403366089,
                                                          3.7021079063415527, 2.1417391300201416], rtol=1e-6)
    _typed(R.gamma(key, a, out_sharding=P(None, "y")), "float32[8,4@y]", P(None, "y"))


def test_sampler_out_sharding_errors(mesh):
    key = R.key(1)
    with pytest.raises(ValueError, match=r"Sharding spec \('x',\) implies that array axis 0 is partitioned 2 times, "
                                         r"but does not evenly divide the dimension size 3. Got shape: \(3,\)"):
        R.uniform(key, (3,), out_sharding=P("x"))
    with pytest.raises(TypeError, match="`out_sharding` argument of uniform only supports instances of "
                                        "`NamedSharding` or `PartitionSpec`. Got x of type: <class 'str'>"):
        R.uniform(key, (8,), out_sharding="x")


def test_sampler_out_sharding_outside_a_mesh_and_over_auto_axes():
    key = R.key(1)
    with pytest.raises(ValueError, match="Using PartitionSpec when you are not under a mesh context is not allowed"):
        R.uniform(key, (8,), out_sharding=P("x"))
    with jax.set_mesh(jax.make_mesh((2, 2), ("x", "y"), axis_types=(AxisType.Auto,) * 2)):
        with pytest.raises(ValueError, match=r"PartitionSpec passed to normal cannot contain axis names that are of "
                                             r"type Auto or Manual. Got PartitionSpec: P\('x',\) with axis name: x "
                                             r"of type: AxisType.Auto"):
            R.normal(key, (8,), out_sharding=P("x"))
    with jax.set_mesh(jax.make_mesh((2, 2), ("x", "y"), axis_types=(AxisType.Explicit, AxisType.Auto))):
        r = R.normal(key, S, out_sharding=P("x"))
        _typed(r, "float32[8@x,4]", P("x", None))
        np.testing.assert_allclose(np.asarray(r).ravel()[:4], [-0.15443718433380127, 0.08470727503299713,
                                                               -0.135980486869812, -0.15503625571727753], rtol=1e-6)


# --- .at[...] ----------------------------------------------------------------------------------------------------
def _expected_update(method: str, v: float) -> np.ndarray:
    out = X.copy()
    op = {"set": lambda a: np.full_like(a, v), "add": lambda a: a + v, "subtract": lambda a: a - v,
          "multiply": lambda a: a * v, "mul": lambda a: a * v, "divide": lambda a: a / np.float32(v),
          "power": lambda a: a ** v, "min": lambda a: np.minimum(a, v), "max": lambda a: np.maximum(a, v)}[method]
    out[IDX] = op(out[IDX])
    return out


def _spec_of(t: str) -> P:
    return P(*(d.split("@")[1] if "@" in d else None for d in t[t.index("[") + 1:-1].split(",")))


@pytest.mark.parametrize("method, expected", [
    ("set", "float32[8,4@y]"), ("add", "float32[8,4@y]"), ("subtract", "float32[8,4@y]"),
    ("multiply", "float32[8,4@y]"), ("mul", "float32[8,4@y]"), ("min", "float32[8,4@y]"), ("max", "float32[8,4@y]"),
    # (JAX's divide and power: x / (and **) the update of ones_like(x) laid out by out_sharding)
    ("divide", "float32[8@x,4@y]"), ("power", "float32[8@x,4@y]")])
def test_at_update_out_sharding(mesh, method, expected):
    x = jax.device_put(X, P("x", None))
    r = getattr(x.at[IDX], method)(3., out_sharding=P(None, "y"))
    _typed(r, expected, _spec_of(expected))
    np.testing.assert_allclose(np.asarray(r), _expected_update(method, 3.), rtol=1e-6)


def test_at_update_out_sharding_jit_named_and_errors(mesh):
    x = jax.device_put(X, P("x", None))
    r = jax.jit(lambda a: a.at[IDX].set(3., out_sharding=P("y", "x")))(x)
    _typed(r, "float32[8@y,4@x]", P("y", "x"))
    np.testing.assert_array_equal(np.asarray(r), _expected_update("set", 3.))
    _typed(x.at[IDX].set(3., out_sharding=NamedSharding(mesh, P(None, "x"))), "float32[8,4@x]", P(None, "x"))
    _typed(x.at[1:3].set(3., out_sharding=P(None, "y")), "float32[8,4@y]", P(None, "y"))
    _typed(x.at[IDX].set(3., out_sharding=P(None, ("x", "y"))), "float32[8,4@(x,y)]", P(None, ("x", "y")))
    with pytest.raises(AssertionError):
        x.at[IDX].set(3., out_sharding="x")
    with pytest.raises(TypeError, match="got an unexpected keyword argument 'out_sharding'"):
        x.at[IDX].apply(jnp.sin, out_sharding=P())
    with pytest.raises(ShardingTypeError, match=r"Use `.at\[...\].set/add/mul/...\(out_sharding=\)`"):
        x.at[IDX].set(3.)


def test_at_update_out_sharding_outside_a_mesh_and_over_auto_axes():
    with pytest.raises(ValueError, match="Using PartitionSpec when you are not under a mesh context is not allowed"):
        jnp.asarray(X).at[IDX].set(1., out_sharding=P("x"))
    with jax.set_mesh(jax.make_mesh((2, 2), ("x", "y"), axis_types=(AxisType.Auto,) * 2)):
        with pytest.raises(ValueError, match=r"PartitionSpec passed to .set cannot contain axis names that are of "
                                             r"type Auto or Manual"):
            jnp.asarray(X).at[IDX].set(1., out_sharding=P("x"))


def test_at_get_out_sharding(mesh):
    x = jax.device_put(X, P("x", None))
    r = x.at[IDX].get(out_sharding=P(None, "y"))
    _typed(r, "float32[3,4@y]", P(None, "y"))
    np.testing.assert_array_equal(np.asarray(r), X[IDX])
    r = x.at[2:6].get(out_sharding=P(None, "y"))
    _typed(r, "float32[4,4@y]", P(None, "y"))
    np.testing.assert_array_equal(np.asarray(r), X[2:6])
    r = x.at[1].get(out_sharding=P("y"))
    _typed(r, "float32[4@y]", P("y"))
    np.testing.assert_array_equal(np.asarray(r), X[1])
    y = jax.device_put(X, P())
    _typed(y.at[2:6].get(out_sharding=P("x")), "float32[4@x,4]", P("x", None))
    _typed(y.at[1].get(out_sharding=P("x")), "float32[4@x]", P("x"))
    with pytest.raises(ValueError, match=r"Sharding spec \('x',\) implies that array axis 0 is partitioned 2 times, "
                                         r"but does not evenly divide the dimension size 3. Got shape: \(3, 4\)"):
        x.at[IDX].get(out_sharding=P("x", None))
    with pytest.raises(ShardingTypeError, match=r"Use `.at\[...\].get\(out_sharding=\)`"):
        x.at[IDX].get()


# --- creation functions under set_mesh ---------------------------------------------------------------------------
CREATED = {
    "zeros": (lambda: jnp.zeros(S), "float32[8,4]"), "ones": (lambda: jnp.ones(S), "float32[8,4]"),
    "ones scalar": (lambda: jnp.ones(()), "float32[]"), "full": (lambda: jnp.full(S, 2.), "~float32[8,4]"),
    "full dtype": (lambda: jnp.full(S, 2, np.int32), "int32[8,4]"), "empty": (lambda: jnp.empty(S), "float32[8,4]"),
    "arange": (lambda: jnp.arange(8), "int32[8]"), "arange float": (lambda: jnp.arange(0., 4., .5), "float32[8]"),
    "eye": (lambda: jnp.eye(4), "float32[4,4]"), "identity": (lambda: jnp.identity(4), "float32[4,4]"),
    "tri": (lambda: jnp.tri(4), "float32[4,4]"), "linspace": (lambda: jnp.linspace(0, 1, 8), "float32[8]"),
    "logspace": (lambda: jnp.logspace(0, 1, 8), "float32[8]"), "indices": (lambda: jnp.indices((2, 3)), "int32[2,2,3]"),
    "zeros_like": (lambda: jnp.zeros_like(X), "float32[8,4]"), "ones_like": (lambda: jnp.ones_like(X), "float32[8,4]"),
    "full_like": (lambda: jnp.full_like(X, 3.), "float32[8,4]"),
    "empty_like": (lambda: jnp.empty_like(np.ones(3)), "float32[3]"),
    "zeros jit": (jax.jit(lambda: jnp.zeros(S)), "float32[8,4]"), "arange jit": (jax.jit(lambda: jnp.arange(8)), "int32[8]"),
    "eye jit": (jax.jit(lambda: jnp.eye(4)), "float32[4,4]"),
    "array list": (lambda: jnp.array([1., 2.]), "float32[2]"), "array numpy": (lambda: jnp.array(X), "float32[8,4]"),
    "array scalar": (lambda: jnp.array(3.), "~float32[]"),
    "array ndmin": (lambda: jnp.array([1., 2.], ndmin=2), "float32[1,2]"),
    "asarray numpy": (lambda: jnp.asarray(X), "float32[8,4]"),
    "asarray list": (lambda: jnp.asarray([1, 2]), "int32[2]"),
    "asarray bool": (lambda: jnp.asarray(True), "bool[]"), "float32 scalar": (lambda: jnp.float32(3.), "float32[]"),
    "copy numpy": (lambda: jnp.copy(X), "float32[8,4]"),
    "frombuffer": (lambda: jnp.frombuffer(b"\x00\x00\x80?", dtype=np.float32), "float32[1]"),
    "array jit": (jax.jit(lambda: jnp.array([1., 2.])), "float32[2]"),
    "lax.full": (lambda: lax.full(S, 2.), "~float32[8,4]"),
    "lax.full dtype": (lambda: lax.full(S, 2, np.int32), "int32[8,4]"),
    "lax.full array fill": (lambda: lax.full(S, jnp.float32(2.)), "float32[8,4]"),
    "lax.full_like": (lambda: lax.full_like(X, 2.), "float32[8,4]"),
    "lax.iota": (lambda: lax.iota(np.int32, 8), "int32[8]"),
    "lax.broadcasted_iota": (lambda: lax.broadcasted_iota(np.int32, S, 1), "int32[8,4]"),
    "full array fill": (lambda: jnp.full(S, jnp.arange(4.)), "float32[8,4]"),
}


@pytest.mark.parametrize("name", list(CREATED))
def test_creation_functions_are_typed_replicated_over_the_mesh(mesh, name):
    make, expected = CREATED[name]
    r = make()
    assert str(jax.typeof(r)) == expected
    ndim = jax.typeof(r).ndim
    assert jax.typeof(r).sharding.spec == P(*(None,) * ndim) and jax.typeof(r).sharding.mesh == mesh.abstract_mesh
    assert r.sharding == NamedSharding(mesh, P(*(None,) * ndim))


def test_created_values_keep_their_values(mesh):
    np.testing.assert_array_equal(np.asarray(jnp.array(X)), X)
    np.testing.assert_array_equal(np.asarray(jnp.asarray([[1, 2]], dtype=np.float32) + 1), [[2., 3.]])
    np.testing.assert_array_equal(np.asarray(lax.broadcasted_iota(np.int32, S, 1)), np.broadcast_to(np.arange(4), S))
    np.testing.assert_array_equal(np.asarray(lax.full(S, 2.)), np.full(S, 2.))
    x = jax.device_put(X, P("x", None))
    _typed(jnp.asarray(x), "float32[8@x,4]", P("x", None))  # (typed already: as it is)


def test_creation_functions_placed_elsewhere_are_not_typed(mesh):
    d1 = jax.devices()[1]
    assert not isinstance(jnp.zeros(S, device=d1).sharding, NamedSharding)
    c = jax.device_put(np.ones(S, np.float32), d1)
    assert not isinstance(jnp.zeros_like(c).sharding, NamedSharding)
    _typed(jnp.ones_like(jax.device_put(X, P("x", None))), "float32[8@x,4]", P("x", None))
    d1_x = jax.device_put(X, d1)
    for r in (jnp.asarray(d1_x), lax.full_like(d1_x, 1.)):
        assert r.sharding == jax.sharding.SingleDeviceSharding(d1)


def test_creation_functions_without_a_mesh_are_not_typed():
    r = jnp.zeros(S)
    assert jax.typeof(r).sharding is None or jax.typeof(r).sharding.mesh.empty
    assert not isinstance(r.sharding, NamedSharding)


def test_created_values_meet_sharded_ones_as_in_jax(mesh):
    """Typed replicated, created values are cases of another sharding than a sharded one: JAX's errors."""
    a = jax.device_put(X, P("x", None))
    p = jnp.zeros(S, bool)
    for f in (lambda: lax.select_n(p, a, jnp.ones(S)), lambda: jax.jit(lambda a: lax.select_n(p, a, jnp.ones(S)))(a),
              lambda: jnp.where(p, a, jnp.ones(S))):
        with pytest.raises(ShardingTypeError, match="select cases must have the same shardings, got"):
            f()
    with pytest.raises(ShardingTypeError, match="select `which` must be scalar or have the same sharding as cases"):
        lax.select_n(p, a, np.ones(S, np.float32))
    with pytest.raises(ShardingTypeError, match="All operands should have the same sharding"):
        jnp.concatenate([a, jnp.ones(S)])
    with pytest.raises(ShardingTypeError, match=r"dynamic_update_slice operand sharding must be equal to update "
                                                r"sharding, got operand sharding float32\[8@x,4\]"):
        lax.dynamic_update_slice(a, jnp.ones(S), (0, 0))
    r = a + jnp.ones(S)
    _typed(r, "float32[8@x,4]", P("x", None))
    np.testing.assert_array_equal(np.asarray(r), X + 1)
    _typed(jnp.where(p, a, 1.0), "float32[8@x,4]", P("x", None))
