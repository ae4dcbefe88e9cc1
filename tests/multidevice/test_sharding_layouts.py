"""The layouts JAX gives the outputs of operations along (and across) split dimensions -- concatenate, cumulative
ops, sort, argsort -- and of control flow over split operands (cond, while_loop, fori_loop, scan), under jit with
and without out_shardings and eagerly. The expected specs are those JAX 0.10.2 gives (run on 4 CPU devices, Auto
mesh axes); the values are those of the unsharded computation, and no array is gathered onto one device."""
import numpy as np
import pytest

import portax as jax
import portax.numpy as jnp
from portax import lax
from portax.core.sharded import MeshArray
from portax.sharding import Mesh, NamedSharding, PartitionSpec as P


def _mesh(shape, names):
    return Mesh(np.array(jax.devices()[:4]).reshape(shape), names)


def _no_gather(monkeypatch):
    def fail(self):
        raise AssertionError("a sharded array was gathered onto one device")
    monkeypatch.setattr(MeshArray, "_gather", fail)


def _scan_ys(a):
    return lax.scan(lambda c, x: (c + x, x * 2.0), jnp.zeros(a.shape[1:], a.dtype), a)[1]


def _scan_xs_carry(a):
    return lax.scan(lambda c, x: (c + x, x * 2.0), jnp.zeros(a.shape[1:], a.dtype), a)[0]


OPS = {
    "concat0": lambda a: jnp.concatenate([a, a], axis=0),
    "concat1": lambda a: jnp.concatenate([a, a], axis=1),
    "cumsum0": lambda a: jnp.cumsum(a, axis=0),
    "cumsum1": lambda a: jnp.cumsum(a, axis=1),
    "cumprod1": lambda a: jnp.cumprod(a, axis=1),
    "cummax0": lambda a: lax.cummax(a, 0),
    "cummin1_reverse": lambda a: lax.cummin(a, 1, reverse=True),
    "cumlogsumexp0": lambda a: lax.cumlogsumexp(a, 0),
    "cumlogsumexp1_reverse": lambda a: lax.cumlogsumexp(a, 1, reverse=True),
    "sort0": lambda a: jnp.sort(a, axis=0),
    "sort1": lambda a: jnp.sort(a, axis=1),
    "argsort0": lambda a: jnp.argsort(a, axis=0),
    "argsort1": lambda a: jnp.argsort(a, axis=1),
    "cond": lambda a: lax.cond(a.sum() > 0, lambda v: v * 2.0, lambda v: v - 1.0, a),
    "while_loop": lambda a: lax.while_loop(lambda c: c[0] < 3, lambda c: (c[0] + 1, c[1] * 2.0), (0, a))[1],
    "fori_loop": lambda a: lax.fori_loop(0, 3, lambda i, c: c + 1.0, a),
    "scan_carry": lambda a: lax.scan(lambda c, _: (c + 1.0, None), a, None, length=3)[0],
    "scan_ys": _scan_ys,
    "scan_xs_carry": _scan_xs_carry,
}
LAYOUTS = {"1d:x": ((4,), ("x",), P("x")), "1d:None,x": ((4,), ("x",), P(None, "x")),
           "2d:x,y": ((2, 2), ("x", "y"), P("x", "y")), "2d:y,None": ((2, 2), ("x", "y"), P("y", None)),
           "2d:xy": ((2, 2), ("x", "y"), P(("x", "y")))}
# JAX 0.10.2's output specs where they are not the input's (under jit; eagerly, EAGER's where given): a scan makes
# its xs whole along the scanned dimension; eagerly the first operand of while (the counter) and cond (the
# predicate) is a scalar, so the spec is written without trailing Nones.
JIT = {("scan_ys", "1d:x"): P(), ("scan_ys", "2d:x,y"): P(None, "y"), ("scan_ys", "2d:y,None"): P(),
       ("scan_ys", "2d:xy"): P(), ("scan_xs_carry", "1d:x"): P(), ("scan_xs_carry", "1d:None,x"): P("x"),
       ("scan_xs_carry", "2d:x,y"): P("y"), ("scan_xs_carry", "2d:y,None"): P(), ("scan_xs_carry", "2d:xy"): P()}
EAGER = {("cond", "2d:y,None"): P("y"), ("while_loop", "2d:y,None"): P("y"), ("fori_loop", "2d:y,None"): P("y")}


def _data(shape, seed=0):
    return ((np.arange(np.prod(shape)).reshape(shape) * 37 + seed) % 11 * 0.25 - 1.0).astype(np.float32)


@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("op", OPS)
def test_output_layouts_match_jax(op, layout, monkeypatch):
    shape, names, spec = LAYOUTS[layout]
    s = NamedSharding(_mesh(shape, names), spec)
    f, x = OPS[op], _data((8, 8))
    want = np.asarray(jax.jit(f)(x))
    a = jax.device_put(x, s)
    _no_gather(monkeypatch)
    outs = {"jit": jax.jit(f)(a), "eager": f(a)}
    monkeypatch.undo()
    expected = JIT.get((op, layout), spec)
    assert outs["jit"].sharding == NamedSharding(s.mesh, expected)
    assert outs["eager"].sharding == NamedSharding(s.mesh, EAGER.get((op, layout), expected))
    if expected == spec:
        outs["out_shardings"] = jax.jit(f, out_shardings=s)(a)
        assert outs["out_shardings"].sharding == s
    for out in outs.values():
        np.testing.assert_array_equal(np.asarray(out), want)


@pytest.mark.parametrize("op, expected", [("concatenate", P("x")), ("cumsum", P("x")), ("cumprod", P("x")),
                                          ("cummax", P("x")), ("cumlogsumexp", P("x")), ("sort", P()),
                                          ("argsort", P())])
def test_one_dimensional_layouts_match_jax(op, expected, monkeypatch):
    """(JAX 0.10.2: a 1-D sort along its split dimension is whole, the others stay split.)"""
    f = {"concatenate": lambda a: jnp.concatenate([a, a]), "cumsum": jnp.cumsum, "cumprod": jnp.cumprod,
         "cummax": lambda a: lax.cummax(a, 0), "cumlogsumexp": lax.cumlogsumexp, "sort": jnp.sort,
         "argsort": jnp.argsort}[op]
    x = _data((8,))
    a = jax.device_put(x, NamedSharding(_mesh((4,), ("x",)), P("x")))
    _no_gather(monkeypatch)
    outs = [jax.jit(f)(a), f(a)]
    monkeypatch.undo()
    for out in outs:
        assert out.sharding.spec == expected
        np.testing.assert_array_equal(np.asarray(out), np.asarray(f(x)))


def _pair():
    mesh = _mesh((4,), ("x",))
    x, y = _data((8, 8)), _data((8, 8), seed=3)
    return x, y, jax.device_put(x, NamedSharding(mesh, P("x"))), jax.device_put(y, NamedSharding(mesh, P(None, "x")))


CASES = {  # f(a, b) for a laid out by P('x'), b by P(None, 'x'), and JAX 0.10.2's output specs
    # concatenate and sort: the operand splitting a dimension they do not work along leads
    "concat (a, b)": (lambda a, b: jnp.concatenate([a, b]), [P(None, "x")]),
    "concat (b, a)": (lambda a, b: jnp.concatenate([b, a]), [P(None, "x")]),
    "concat 8+4": (lambda a, b: jnp.concatenate([a, b[:4]]), [P(None, "x")]),
    "concat 8+4 whole": (lambda a, b: jnp.concatenate([a, jnp.ones((4, 8))]), [P("x")]),
    "concat 8+6 whole (not divisible)": (lambda a, b: jnp.concatenate([a, jnp.ones((6, 8))]), [P()]),
    "sort (a, b)": (lambda a, b: lax.sort((a, b), dimension=0, num_keys=1), [P(None, "x"), P(None, "x")]),
    "sort (a, a*2)": (lambda a, b: lax.sort((a, a * 2), dimension=0, num_keys=1), [P("x"), P("x")]),
    "cumsum reverse": (lambda a, b: lax.cumsum(a, 0, reverse=True), [P("x")]),
    # cond: the layout most branches give through elementwise operations, ties to the earlier (false) branch
    "cond a|b": (lambda a, b: lax.cond(a.sum() > 0, lambda v, w: v, lambda v, w: w, a, b), [P(None, "x")]),
    "cond b|a": (lambda a, b: lax.cond(a.sum() > 0, lambda v, w: w, lambda v, w: v, a, b), [P("x")]),
    "cond T|v": (lambda a, b: lax.cond(a.sum() > 0, lambda v: v.T, lambda v: v, a), [P("x")]),
    "cond v|T": (lambda a, b: lax.cond(a.sum() > 0, lambda v: v, lambda v: v.T, a), [P("x")]),
    "cond T|T": (lambda a, b: lax.cond(a.sum() > 0, lambda v: v.T, lambda v: v.T * 2, a), [P(None, "x")]),
    "cond zeros|v": (lambda a, b: lax.cond(a.sum() > 0, lambda v: v, jnp.zeros_like, a), [P("x")]),
    "switch": (lambda a, b: lax.switch(1, [lambda v, w: w, lambda v, w: v, lambda v, w: v * 0], a, b), [P("x")]),
    "cond scalar out": (lambda a, b: lax.cond(a[0, 0] > 0, lambda v: v.sum(), lambda v: v.max(), a), [P()]),
    # loops: a split carry keeps its layout, a whole one takes the body's
    "fori transposing": (lambda a, b: lax.fori_loop(0, 3, lambda i, v: v.T, a), [P("x")]),
    "fori to zeros": (lambda a, b: lax.fori_loop(0, 3, lambda i, c: jnp.zeros_like(c), a), [P("x")]),
    "fori replicated init": (lambda a, b: lax.fori_loop(0, 3, lambda i, c: c + b, jnp.ones((8, 8))), [P(None, "x")]),
    "fori two carries": (lambda a, b: lax.fori_loop(0, 3, lambda i, c: (c[0] + b, c[1] + a),
                                                    (jnp.ones((8, 8)), jnp.ones((8, 8)))), [P(None, "x"), P("x")]),
    "scan replicated carry": (lambda a, b: lax.scan(lambda c, _: (c + b, None), jnp.ones((8, 8)), None, length=3)[0],
                              [P(None, "x")]),
    "scan ys": (lambda a, b: lax.scan(lambda c, x: (c, c * x), a, jnp.ones(3))[1], [P(None, "x")]),
    "scan xs forwarded": (lambda a, b: lax.scan(lambda c, x: (c + x, x), jnp.zeros(8), b), [P("x"), P(None, "x")]),
}


@pytest.mark.parametrize("case", CASES)
def test_combined_layouts_match_jax(case, monkeypatch):
    f, expected = CASES[case]
    x, y, a, b = _pair()
    want = jax.jit(f)(x, y)
    _no_gather(monkeypatch)
    out = jax.jit(f)(a, b)
    monkeypatch.undo()
    outs, wants = (out, want) if isinstance(out, (tuple, list)) else ([out], [want])
    assert [o.sharding.spec for o in outs] == expected
    for o, w in zip(outs, wants):
        np.testing.assert_allclose(np.asarray(o), np.asarray(w), rtol=1e-6)


def test_spec_written_as_the_first_arguments():
    """JAX 0.10.2: an output laid out as the first argument takes its spec as written (P('y', None)); the others'
    end at their last split dimension."""
    mesh = _mesh((2, 2), ("x", "y"))
    a = jax.device_put(_data((8, 8)), NamedSharding(mesh, P("y", None)))
    c = jax.device_put(_data((8, 8)), NamedSharding(mesh, P("x", None)))
    assert (a + 1).sharding.spec == P("y", None) and jax.jit(lambda v: v.T.T)(a).sharding.spec == P("y", None)
    assert jax.jit(lambda v: v.sum(1))(a).sharding.spec == P("y")
    assert [o.sharding.spec for o in jax.jit(lambda c, a: (a * 2, c * 2, c[:, :4]))(c, a)] == \
        [P("y"), P("x", None), P("x", None)]
    assert [o.sharding.spec for o in jax.jit(lambda s, a: (a * 2, s * a))(np.float32(2), a)] == [P("y"), P("y")]
