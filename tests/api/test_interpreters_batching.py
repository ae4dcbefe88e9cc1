"""``portax.interpreters.batching`` (``jax.interpreters.batching``): batching rules for a user's primitive and
custom types vmap maps over (``register_vmappable``)."""
import numpy as np
import pytest

import portax
import portax.numpy as jnp
from portax import lax
from portax.extend.core import Primitive
from portax.interpreters import batching


def _rowsum_primitive(name: str) -> Primitive:
    p = Primitive(name)
    p.def_impl(lambda x: jnp.sum(x, axis=-1))
    p.def_abstract_eval(lambda aval: aval.update(shape=aval.shape[:-1]))
    return p


def test_primitive_batchers_rule_is_used_by_vmap():
    rowsum_p = _rowsum_primitive("rowsum_plain")
    calls = []

    def rule(vals, dims):
        calls.append(dims)
        x, = vals
        return jnp.sum(x, axis=-1 if dims[0] != x.ndim - 1 else -2), 0 if dims[0] != x.ndim - 1 else x.ndim - 2

    with pytest.raises(NotImplementedError, match="Batching rule for 'rowsum_plain' not implemented"):
        portax.vmap(rowsum_p.bind)(np.ones((2, 3), np.float32))
    batching.primitive_batchers[rowsum_p] = rule
    x = np.arange(24, dtype=np.float32).reshape(2, 3, 4)
    np.testing.assert_allclose(portax.vmap(rowsum_p.bind)(x), x.sum(-1))
    np.testing.assert_allclose(portax.vmap(rowsum_p.bind, in_axes=2)(x), x.sum(1).T)
    assert [list(d) for d in calls] == [[0], [2]]
    del batching.primitive_batchers[rowsum_p]
    with pytest.raises(NotImplementedError):
        portax.vmap(rowsum_p.bind)(x)


def test_fancy_and_axis_primitive_batchers_get_the_axis():
    rowsum_p = _rowsum_primitive("rowsum_fancy")
    seen = []

    def fancy(axis_data, vals, dims):
        seen.append((axis_data.size, axis_data.name))
        return jnp.sum(batching.bdim_at_front(vals[0], dims[0], axis_data.size), axis=-1), 0

    batching.fancy_primitive_batchers[rowsum_p] = fancy
    x = np.ones((5, 2, 3), np.float32)
    np.testing.assert_allclose(portax.vmap(rowsum_p.bind, in_axes=1, axis_name="i")(x), np.full((2, 5), 3.0))
    batching.axis_primitive_batchers[rowsum_p] = lambda size, name, _, vals, dims: (
        seen.append((size, name)) or jnp.sum(vals[0], axis=-1), dims[0])
    np.testing.assert_allclose(portax.vmap(rowsum_p.bind, axis_name="j")(x), np.full((5, 2), 3.0))
    assert seen == [(2, "i"), (5, "j")]


class Named:
    """An array with names for its axes (a pytree for jit; vmap treats it as a leaf once registered)."""

    def __init__(self, names, data):
        self.names, self.data = list(names), data


portax.tree_util.register_pytree_node(Named, lambda x: ((x.data,), x.names), lambda names, xs: Named(names, xs[0]))


class NamedSpec:
    def __init__(self, name, axis):
        self.name, self.axis = name, axis


def _to_elt(cont, _, val, spec):
    names = list(val.names)
    assert names.pop(spec.axis) == spec.name
    return Named(names, cont(val.data, spec.axis))


def _from_elt(cont, axis_size, elt, spec):
    names = list(elt.names)
    names.insert(spec.axis, spec.name)
    return Named(names, cont(axis_size, elt.data, spec.axis))


@pytest.fixture
def named_vmappable():
    batching.register_vmappable(Named, NamedSpec, int, _to_elt, _from_elt, None)
    yield
    batching.unregister_vmappable(Named)


@pytest.mark.parametrize("jit", [False, True])
def test_register_vmappable_maps_custom_types(named_vmappable, jit):
    f = lambda x: Named(x.names, lax.mul(x.data, x.data))
    f = portax.jit(f) if jit else f
    x = Named(["i", "j"], jnp.arange(12.0).reshape(3, 4))
    out = portax.vmap(f, in_axes=NamedSpec("i", 0), out_axes=NamedSpec("i", 1), axis_size=3)(x)
    assert out.names == ["j", "i"]
    np.testing.assert_allclose(out.data, (np.arange(12.0).reshape(3, 4) ** 2).T)


def test_vmappable_handlers_may_compute_and_get_positions(named_vmappable):
    class Shifted:
        def __init__(self, data):
            self.data = data

    def to_elt(cont, get_idx, val, spec):  # adds each element's mapped position
        return cont(val.data, spec) + get_idx()

    batching.register_vmappable(Shifted, int, int, to_elt, lambda cont, n, elt, spec: Shifted(cont(n, elt, spec)),
                                None)
    try:
        out = portax.jit(lambda: portax.vmap(lambda x: x * 2, axis_size=3)(Shifted(jnp.zeros(3))))()
    finally:
        batching.unregister_vmappable(Shifted)
    np.testing.assert_allclose(out, [0.0, 2.0, 4.0])


def test_unregister_vmappable_keeps_a_shared_spec_type(named_vmappable):
    class Other:
        pass

    batching.register_vmappable(Other, NamedSpec, int, _to_elt, _from_elt, None)
    batching.unregister_vmappable(Other)
    batching.unregister_vmappable(Other)  # a second time is harmless, as JAX
    x = Named(["i"], jnp.arange(3.0))
    out = portax.vmap(lambda e: Named(e.names, e.data + 1), in_axes=NamedSpec("i", 0),
                      out_axes=NamedSpec("i", 0), axis_size=3)(x)
    np.testing.assert_allclose(out.data, [1.0, 2.0, 3.0])


def test_spec_objects_need_registration():
    with pytest.raises(TypeError, match="vmap in_axes must be an int, None, or"):
        portax.vmap(lambda x: x, in_axes=NamedSpec("i", 0))
