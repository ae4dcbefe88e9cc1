"""portax.export: a jitted function serialized as its IR runs on every backend (one registered after the
export included) with the original's results, differentiates, and refuses what it cannot read clearly."""
import dataclasses
import json
from typing import NamedTuple

import numpy as np
import pytest

import portax as jax
import portax.numpy as jnp
from portax import export, lax
from portax.core.backend import BackendSpec, hookimpl, registry, reset_default_backend
from portax.core.export import MAGIC

S = jax.ShapeDtypeStruct


class Pair(NamedTuple):
    a: object
    b: object


def program(x, params):
    """scan, cond, while, fori, a namedtuple and dict in, a dict of tuples out, constants, integer outputs."""
    table = np.arange(6, dtype=np.float32) / 10  # a constant of the program
    ys = lax.scan(lambda c, v: (c * 0.9 + jnp.sin(v) * params.a, c), 0.0, x + table)[1]
    z = lax.cond(params.b > 0, lambda v: v * 2, lambda v: v - 1, ys)
    n, w = lax.while_loop(lambda c: c[0] < 3, lambda c: (c[0] + 1, c[1] * 1.5 + 0.25), (0, z))
    s = lax.fori_loop(0, 4, lambda i, acc: acc + w[i], 0.0)
    return {"sum": s + jnp.sum(w), "parts": (w, jnp.argmax(w), n)}


def _args():
    return np.linspace(-1, 1, 6).astype(np.float32), Pair(np.float32(0.7), np.int32(1))


SPECS = (S((6,), np.float32), Pair(S((), np.float32), S((), np.int32)))


def _check_same(got, expected):
    gl, gt = jax.tree_util.tree_flatten(got)
    el, et = jax.tree_util.tree_flatten(expected)
    assert gt == et
    for g, e in zip(gl, el):
        assert np.asarray(g).dtype == np.asarray(e).dtype
        np.testing.assert_array_equal(np.asarray(g), np.asarray(e))


def test_exported_attributes():
    exp = export.export(jax.jit(program))(*SPECS)
    assert exp.fun_name == "program" and exp.platforms == ("any",) and exp.nr_devices == 1
    assert [a.str_short() for a in exp.in_avals] == ["f32[6]", "f32[]", "i32[]"]
    assert [a.str_short() for a in exp.out_avals] == ["f32[6]", "i32[]", "i32[]", "f32[]"]
    x, p = _args()
    assert exp.in_tree == jax.tree_util.tree_structure(((x, p), {}))
    assert exp.out_tree == jax.tree_util.tree_structure({"sum": 0, "parts": (0, 0, 0)})
    assert exp.has_vjp() and exp.ordered_effects == () and exp.unordered_effects == ()


@pytest.mark.parametrize("backend", ["reference", "cpu_llvm", "wgpu"])
def test_round_trip_runs_on_every_backend_with_the_original_results(backend):
    if not registry.available(backend):
        pytest.skip(f"backend {backend} is not available")
    blob = export.export(jax.jit(program))(*SPECS).serialize()
    assert isinstance(blob, (bytes, bytearray)) and blob.startswith(MAGIC)
    exp = export.deserialize(blob)
    x, p = _args()
    expected = jax.jit(program, backend=backend)(x, p)
    _check_same(jax.jit(exp.call, backend=backend)(x, p), expected)
    device = jax.devices(backend)[0]
    _check_same(exp.call(jax.device_put(x, device), jax.device_put(p, device)), expected)


def test_call_on_the_default_backend_composes():
    exp = export.deserialize(export.export(jax.jit(program))(*SPECS).serialize())
    x, p = _args()
    _check_same(exp.call(x, p), jax.jit(program)(x, p))
    _check_same(exp.call(x, p), program(x, p))
    batched = jax.vmap(lambda v: exp.call(v, p)["sum"])(np.stack([x, -x]))
    np.testing.assert_allclose(batched, [program(x, p)["sum"], program(-x, p)["sum"]], rtol=1e-6)


def smooth(x, w):
    h = jax.nn.relu(x @ w) + jax.nn.softplus(x)  # custom_jvp rules inside
    ys = lax.scan(lambda c, v: (jnp.tanh(c + v), c * v), jnp.zeros(3), h)[1]
    return jnp.sum(lax.cond(jnp.sum(x) > 0, jnp.sin, jnp.cos, ys) ** 2)


def test_grad_of_deserialized_function():
    rng = np.random.RandomState(0)
    x, w = rng.randn(4, 3).astype(np.float32), rng.randn(3, 3).astype(np.float32)
    exp = export.deserialize(export.export(jax.jit(smooth))(S((4, 3), np.float32),
                                                            S((3, 3), np.float32)).serialize(vjp_order=2))
    for argnums in (0, 1):
        np.testing.assert_allclose(jax.grad(exp.call, argnums)(x, w), jax.grad(smooth, argnums)(x, w), rtol=1e-5,
                                   atol=1e-6)
    np.testing.assert_allclose(jax.jit(jax.grad(exp.call))(x, w), jax.grad(smooth)(x, w), rtol=1e-5, atol=1e-6)
    hess = jax.hessian(lambda v: exp.call(v, w))(x)
    np.testing.assert_allclose(hess, jax.hessian(lambda v: smooth(v, w))(x), rtol=1e-4, atol=1e-5)
    vjp = exp.vjp()
    cts = vjp.call(x, w, np.float32(1.0))
    np.testing.assert_allclose(cts[1], jax.grad(smooth, 1)(x, w), rtol=1e-5, atol=1e-6)


def test_vjp_of_integer_signatures_is_not_supported():
    exp = export.export(jax.jit(lambda n, v: v * n))(S((), np.int32), S((2,), np.float32))
    with pytest.raises(NotImplementedError, match="float0"):
        exp.vjp()
    np.testing.assert_array_equal(jax.grad(lambda v: exp.call(np.int32(3), v).sum())(np.ones(2, np.float32)), [3, 3])


def test_custom_rules_beyond_vjp_order_raise():
    exp = export.export(jax.jit(lambda v: jnp.sum(jax.nn.relu(v))))(S((3,), np.float32))
    x = np.array([-1.0, 0.0, 2.0], np.float32)
    zeroth = export.deserialize(exp.serialize())
    np.testing.assert_array_equal(zeroth.call(x), 2.0)
    with pytest.raises(ValueError, match="vjp_order"):
        jax.grad(zeroth.call)(x)
    first = export.deserialize(exp.serialize(vjp_order=1))
    np.testing.assert_array_equal(jax.grad(first.call)(x), [0.0, 0.0, 1.0])  # relu's rule: 0 at 0


def test_grad_of_programs_without_custom_rules_needs_no_vjp_order():
    f = lambda v: jnp.sum(jnp.sin(v) ** 3)
    exp = export.deserialize(export.export(jax.jit(f))(S((3,), np.float32)).serialize())
    x = np.array([0.1, 0.5, 2.0], np.float32)
    np.testing.assert_allclose(jax.grad(exp.call)(x), jax.grad(f)(x), rtol=1e-6)
    np.testing.assert_allclose(jax.hessian(exp.call)(x), jax.hessian(f)(x), rtol=1e-5, atol=1e-6)


@dataclasses.dataclass
class Config:
    w: object
    scale: float = dataclasses.field(metadata=dict(static=True), default=2.0)


jax.tree_util.register_dataclass(Config)


def test_registered_pytree_nodes_by_name():
    f = lambda c, a: {3: [a * c.scale, None], 7: Config(c.w + a[0], c.scale)}  # keys of one type (JAX sorts them)
    exp = export.deserialize(export.export(jax.jit(f))(Config(S((2,), np.float32), 3.0), S((2,), np.float32))
                             .serialize())
    c, a = Config(np.ones(2, np.float32), 3.0), np.arange(2, dtype=np.float32)
    out = exp.call(c, a)
    assert isinstance(out[7], Config) and out[7].scale == 3.0 and out[3][1] is None
    _check_same(out, jax.jit(f)(c, a))


class Box:
    def __init__(self, value, tag):
        self.value, self.tag = value, tag


jax.tree_util.register_pytree_node(Box, lambda b: ((b.value,), b.tag), lambda tag, c: Box(c[0], tag))
export.register_pytree_node_serialization(Box, serialized_name="tests.Box", serialize_auxdata=str.encode,
                                          deserialize_auxdata=bytes.decode)


def test_pytree_node_serialization_registration():
    exp = export.export(jax.jit(lambda b: Box(b.value * 2, b.tag + "!")))(Box(S((2,), np.float32), "t"))
    blob = exp.serialize()
    assert b'"serialized_node":"tests.Box"' in bytes(blob)
    out = export.deserialize(blob).call(Box(np.ones(2, np.float32), "t"))
    assert isinstance(out, Box) and out.tag == "t!"
    np.testing.assert_array_equal(out.value, [2, 2])
    with pytest.raises(ValueError, match="Duplicate serialization registration"):
        export.register_pytree_node_serialization(Box, serialized_name="other", serialize_auxdata=str.encode,
                                                  deserialize_auxdata=bytes.decode)


# --- a backend that did not exist when the program was exported ------------------------------------------------------
class _TinyBackend:
    """A third-party backend of a handful of numpy rules (as plugins/README.md's minimal backend)."""

    name, platform, device_class_name = "tiny", "cpu", "TinyDevice"

    def __init__(self):
        from portax.core import primitives as P
        from portax.plugins import Capabilities, Device
        ew, rd, st = P.elementwise, P.reductions, P.structural
        self.rules = {ew.add_p: np.add, ew.mul_p: np.multiply, ew.sin_p: np.sin, ew.exp_p: np.exp,
                      rd.reduce_sum_p: lambda x, *, axes, **_: np.sum(x, axis=axes),
                      st.broadcast_in_dim_p: lambda x, *, shape, broadcast_dimensions, **_: np.broadcast_to(
                          np.expand_dims(x, tuple(d for d in range(len(shape)) if d not in broadcast_dimensions)),
                          shape)}
        self.capabilities = Capabilities(dtypes=frozenset({np.dtype(np.float32)}))
        self._devices = [Device(self, 0, "numpy")]

    def devices(self):
        return self._devices

    def compile(self, closed, device):
        missing = sorted({e.primitive.name for e in closed.jaxpr.eqns if e.primitive not in self.rules})
        if missing:
            raise NotImplementedError(f"tiny backend: no lowering for {', '.join(missing)}")
        rules = self.rules

        def run(*buffers):
            from portax.core.ir import Literal
            env = dict(zip(closed.jaxpr.in_binders, buffers))
            read = lambda v: np.asarray(v.val, v.aval.dtype) if type(v) is Literal else env[v]
            for e in closed.jaxpr.eqns:
                env[e.out_binders[0]] = np.asarray(rules[e.primitive](*map(read, e.inputs), **e.params),
                                                   e.out_binders[0].aval.dtype)
            return [read(v) for v in closed.jaxpr.outs]
        return run

    def put(self, value, device):
        return np.array(value, copy=True)

    def get(self, buffer):
        return buffer

    def lowers(self, primitive):
        return primitive in self.rules


class _TinyPlugin:
    @hookimpl
    def portax_backends(self):
        return [BackendSpec("tiny", _TinyBackend, priority=-10, description="a backend made after the export")]


def test_runs_on_a_backend_registered_after_the_export():
    def f(x, y):
        return jnp.sum(jnp.sin(x) * y + jnp.exp(x), axis=0)
    blob = export.export(jax.jit(f))(S((3, 2), np.float32), S((3, 2), np.float32)).serialize()
    plugin = _TinyPlugin()
    registry.register(plugin, "tiny")
    try:
        exp = export.deserialize(blob)
        x = np.arange(6, dtype=np.float32).reshape(3, 2) / 6
        y = np.full((3, 2), 2.0, np.float32)
        expected = np.sum(np.sin(x) * y + np.exp(x), axis=0)
        np.testing.assert_allclose(jax.jit(exp.call, backend="tiny")(x, y), expected, rtol=1e-6)
        tiny = jax.devices("tiny")[0]
        out = exp.call(jax.device_put(x, tiny), jax.device_put(y, tiny))
        assert out.devices() == {tiny}
        np.testing.assert_allclose(out, expected, rtol=1e-6)
    finally:
        registry.unregister(plugin)
        reset_default_backend()


# --- errors ------------------------------------------------------------------------------------------------------
def _blob_with(change) -> bytes:
    blob = export.export(jax.jit(lambda v: jnp.sin(v) + 1))(S((2,), np.float32)).serialize()
    data = json.loads(bytes(blob)[len(MAGIC):])
    change(data)
    return MAGIC + json.dumps(data).encode()


def test_newer_format_version_is_refused():
    with pytest.raises(ValueError, match=r"format version 99, but this portax reads versions 1 to 1; .* newer portax"):
        export.deserialize(_blob_with(lambda d: d.update(version=99)))


def test_unknown_primitive_is_refused():
    def rename(d):
        d["jaxpr"]["eqns"][0]["primitive"] = "fancy_new_op"
    with pytest.raises(ValueError, match="primitive 'fancy_new_op', which this process does not know"):
        export.deserialize(_blob_with(rename))


def test_not_an_export_and_not_a_jit():
    with pytest.raises(ValueError, match="not a serialized portax export"):
        export.deserialize(b"\x00garbage")
    with pytest.raises(ValueError, match="must be the result of `jit`"):
        export.export(lambda v: v)(S((2,), np.float32))


def test_symbolic_shapes_are_not_supported():
    with pytest.raises(NotImplementedError, match="symbolic shapes"):
        export.export(jax.jit(jnp.sin))(_Symbolic())
    with pytest.raises(NotImplementedError, match="symbolic shapes"):
        export.symbolic_shape("b, 3")


class _Symbolic:
    shape, dtype = ("b", 3), np.dtype(np.float32)


def test_call_checks_structure_shapes_and_dtypes():
    exp = export.export(jax.jit(lambda a, b: a * b))(S((2,), np.float32), S((2,), np.float32))
    x = np.ones(2, np.float32)
    with pytest.raises(ValueError, match="same pytree structure"):
        exp.call(x)
    with pytest.raises(ValueError, match=r"Shape mismatch for args\[1\]"):
        exp.call(x, np.ones(3, np.float32))
    with pytest.raises(ValueError, match=r"Dtype mismatch for args\[0\]: expected float32 and called with int32"):
        exp.call(np.ones(2, np.int32), x)
    np.testing.assert_array_equal(exp.call(x, 3.0 * x), 3 * x)


def test_host_callbacks_cannot_be_exported():
    def f(v):
        return jax.pure_callback(lambda a: np.asarray(a) * 2, jax.ShapeDtypeStruct((2,), np.float32), v)
    exp = export.export(jax.jit(f))(S((2,), np.float32))
    with pytest.raises(ValueError, match="cannot serialize the parameter 'callback' of pure_callback"):
        exp.serialize()
