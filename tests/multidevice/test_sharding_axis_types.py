"""``jax.sharding.auto_axes`` and ``explicit_axes`` (mesh axes made Auto or Explicit inside a function), and the
sharding rule of ``select_n`` (``lax.select``, ``jnp.where``) on a mesh of Explicit axes.

Every expected type, spec and message below is what JAX 0.10.2 prints for the same program (CPU, 4 devices)."""
import numpy as np
import pytest

import portax as jax
import portax.numpy as jnp
from portax import lax
from portax.core.errors import ShardingTypeError
from portax.sharding import AxisType, NamedSharding, PartitionSpec as P, auto_axes, explicit_axes, reshard

X = np.arange(32, dtype=np.float32).reshape(8, 4)
AUTO, EXPLICIT = AxisType.Auto, AxisType.Explicit


@pytest.fixture
def mesh():
    m = jax.make_mesh((2, 2), ("x", "y"))  # (Explicit axes)
    with jax.set_mesh(m):
        yield m


@pytest.fixture
def auto_mesh():
    m = jax.make_mesh((2, 2), ("x", "y"), axis_types=(AUTO, AUTO))
    with jax.set_mesh(m):
        yield m


def _typed(r, expected: str, spec: P) -> None:
    assert str(jax.typeof(r)) == expected
    assert r.sharding.spec == spec


def _seeing(seen: list, scale: float = 2.0):
    """A function recording the type of its argument and the axis types of the abstract mesh it runs under."""
    def f(a):
        seen.append((str(jax.typeof(a)), jax.sharding.get_abstract_mesh().axis_types))
        return a * scale
    return f


def test_exported_from_jax_sharding_only():
    assert jax.sharding.auto_axes is auto_axes and jax.sharding.explicit_axes is explicit_axes
    assert not hasattr(jax, "auto_axes") and not hasattr(jax, "explicit_axes")


@pytest.mark.parametrize("jit", [False, True], ids=["eager", "jit"])
@pytest.mark.parametrize("axes, out, inside, types, result", [
    ("x", P("x", None), "float32[8,4@y]", (AUTO, EXPLICIT), "float32[8@x,4]"),
    (None, P(None, "y"), "float32[8,4]", (AUTO, AUTO), "float32[8,4@y]"),
    (("x", "y"), P("y", "x"), "float32[8,4]", (AUTO, AUTO), "float32[8@y,4@x]"),
])
def test_auto_axes_types_inside_and_out(mesh, jit, axes, out, inside, types, result):
    x = jax.device_put(X, P("x", "y"))
    seen = []
    g = auto_axes(_seeing(seen), axes=axes, out_sharding=out)
    r = (jax.jit(g) if jit else g)(x)
    assert seen == [(inside, types)]
    _typed(r, result, out)
    assert r.sharding.mesh == mesh and jax.sharding.get_abstract_mesh() == mesh.abstract_mesh
    np.testing.assert_array_equal(np.asarray(r), 2 * X)


def test_auto_axes_out_sharding_from_the_call_and_as_a_decorator(mesh):
    x = jax.device_put(X, P("x", "y"))
    seen = []
    g = auto_axes(_seeing(seen), axes=("x", "y"))
    with pytest.raises(TypeError, match="^Missing required keyword argument: 'out_sharding'$"):
        g(x)
    _typed(g(x, out_sharding=P("y", "x")), "float32[8@y,4@x]", P("y", "x"))
    r = auto_axes(axes="y", out_sharding=P())(_seeing(seen))(x)
    _typed(r, "float32[8,4]", P(None, None))
    r = auto_axes(_seeing(seen), axes="x", out_sharding=NamedSharding(mesh, P("y")))(x)
    _typed(r, "float32[8@y,4]", P("y", None))
    assert seen == [("float32[8,4]", (AUTO, AUTO)), ("float32[8@x,4]", (EXPLICIT, AUTO)),
                    ("float32[8,4@y]", (AUTO, EXPLICIT))]
    np.testing.assert_array_equal(np.asarray(r), 2 * X)
    with pytest.raises(KeyError, match="'z'"):
        auto_axes(_seeing(seen), axes="z", out_sharding=P())(x)


@pytest.mark.parametrize("jit", [False, True], ids=["eager", "jit"])
def test_sharding_rules_do_not_apply_to_auto_axes(mesh, jit):
    a = jax.device_put(np.ones((8, 8), np.float32), P(None, "x"))
    b = jax.device_put(np.arange(64, dtype=np.float32).reshape(8, 8), P("x", None))
    with pytest.raises(ShardingTypeError, match="^Contracting dimensions are sharded and it is ambiguous how the "
                       r"output should be sharded. Please specify the output sharding via the `out_sharding` "
                       r"parameter. Got lhs_contracting_spec=\('x',\) and rhs_contracting_spec=\('x',\)$"):
        jnp.dot(a, b)
    g = auto_axes(jnp.dot, axes="x", out_sharding=P("x", None))
    r = (jax.jit(g) if jit else g)(a, b)
    _typed(r, "float32[8@x,8]", P("x", None))
    np.testing.assert_allclose(np.asarray(r), np.ones((8, 8)) @ np.arange(64.).reshape(8, 8))


def test_auto_axes_under_grad_and_vmap(mesh):
    x = jax.device_put(X, P("x", "y"))
    h = auto_axes(lambda a: a * a, axes="x", out_sharding=P("x", "y"))
    for grad in (jax.grad(lambda a: h(a).sum()), jax.jit(jax.grad(lambda a: h(a).sum()))):
        g = grad(x)
        _typed(g, "float32[8@x,4@y]", P("x", "y"))
        np.testing.assert_array_equal(np.asarray(g), 2 * X)
    r = jax.vmap(auto_axes(lambda row: row * 3, axes="x", out_sharding=P("y")))(x)
    _typed(r, "float32[8@x,4@y]", P("x", "y"))  # (vmap keeps the mapped dimension's mesh axis 'x')
    np.testing.assert_array_equal(np.asarray(r), 3 * X)


def _vmapped(kind: str, axes, spec: P):
    if kind == "auto":
        return jax.vmap(auto_axes(lambda r: r * 3, axes=axes, out_sharding=spec))
    return jax.vmap(explicit_axes(lambda r: r * 3, axes=axes, in_sharding=spec))


@pytest.mark.parametrize("jit", [False, True], ids=["eager", "jit"])
@pytest.mark.parametrize("kind", ["auto", "explicit"])
@pytest.mark.parametrize("axes", ["x", "y", ("x", "y")])
@pytest.mark.parametrize("spec, expected", [(P("y"), "float32[8@x,4@y]"), (P(), "float32[8@x,4]")])
def test_vmap_keeps_the_mapped_mesh_axis_through_auto_and_explicit_axes(mesh, jit, kind, axes, spec, expected):
    x = jax.device_put(X, P("x", "y"))
    f = _vmapped(kind, axes, spec)
    r = (jax.jit(f) if jit else f)(x)
    _typed(r, expected, P("x", "y" if len(spec) else None))
    np.testing.assert_array_equal(np.asarray(r), 3 * X)


def test_vmap_of_auto_axes_over_other_dimensions_nesting_and_grad(mesh):
    x = jax.device_put(X, P("x", "y"))
    r = jax.vmap(auto_axes(lambda c: c * 3, axes="y", out_sharding=P()), in_axes=1)(x)  # (mapped over 'y')
    _typed(r, "float32[4@y,8]", P("y", None))
    np.testing.assert_array_equal(np.asarray(r), 3 * X.T)
    r = jax.vmap(auto_axes(lambda c: c * 3, axes="x", out_sharding=P("x")), in_axes=1, out_axes=1)(x)
    _typed(r, "float32[8@x,4@y]", P("x", "y"))
    r = jax.vmap(jax.vmap(auto_axes(lambda e: e * 2, axes="x", out_sharding=P())))(x)
    _typed(r, "float32[8@x,4@y]", P("x", "y"))
    np.testing.assert_array_equal(np.asarray(r), 2 * X)
    g = jax.vmap(jax.grad(lambda r: auto_axes(lambda b: b * b, axes="x", out_sharding=P("y"))(r).sum()))(x)
    _typed(g, "float32[8@x,4@y]", P("x", "y"))
    np.testing.assert_array_equal(np.asarray(g), 2 * X)
    r = jax.vmap(lambda r: reshard(jnp.zeros(4) + r.sum(), P("y")))(x)  # (a value made batched inside)
    _typed(r, "float32[8@x,4@y]", P("x", "y"))
    np.testing.assert_array_equal(np.asarray(r), np.repeat(X.sum(1, keepdims=True), 4, 1))


def test_vmap_over_dimensions_sharded_differently_or_over_an_unmapped_value_sharded_alike(mesh):
    x = jax.device_put(X, P("x", "y"))
    with pytest.raises(ValueError, match=r"^Mapped away dimension of inputs passed to vmap should be sharded the "
                                         r"same. Got inconsistent axis specs: x vs None$"):
        jax.vmap(lambda a, b: a + b)(x, jax.device_put(X, P(None, "y")))
    with pytest.raises(ValueError, match=r"^Unmapped values passed to vmap cannot be sharded along the mesh axis you "
                                         r"are vmapping over. Got type: f32\[8@x,4@y\], in_axes: None and vmapped "
                                         r"mesh axis: \('x',\)$"):
        jax.vmap(lambda a, b: a + b[0], in_axes=(0, None))(x, x)
    # (JAX raises its DuplicateSpecError: the mapped axis 'x' is named by out_sharding too)
    with pytest.raises(Exception, match=r"but P\('x', 'x'\) has duplicate entries for `x`$"):
        jax.vmap(auto_axes(lambda r: r * 2, axes="y", out_sharding=P("x")))(x)


def _context_error(prim: str, inner: str, shape: str) -> str:
    return (rf"^For primitive {prim}, context mesh AbstractMesh\('x': 2, 'y': 2, axis_types=\({inner}\), .* should "
            rf"match the aval mesh AbstractMesh\('x': 2, 'y': 2, axis_types=\(Explicit, Explicit\), .* for shape "
            rf"{shape}. This error occurs at source: ")


@pytest.mark.parametrize("jit", [False, True], ids=["eager", "jit"])
def test_values_typed_over_the_outer_mesh_used_inside_auto_and_explicit_axes(mesh, jit):
    x = jax.device_put(X, P("x", "y"))
    c = jax.device_put(X, P("x", None))
    run = jax.jit if jit else (lambda f: f)
    with pytest.raises(ValueError, match=_context_error("add", "Auto, Explicit", r"float32\[8@x,4\]")):
        run(auto_axes(lambda a: a + c, axes="x", out_sharding=P()))(x)
    with pytest.raises(ValueError, match=_context_error("sin", "Explicit, Auto", r"float32\[8@x,4\]")):
        run(auto_axes(lambda a: jnp.sin(c), axes="y", out_sharding=P()))(x)
    with pytest.raises(ValueError, match=_context_error("mul", "Auto, Explicit", r"float32\[8@x,4@y\]")):
        run(auto_axes(lambda a, b=None: a * b, axes="x", out_sharding=P()))(x, b=x)  # (keyword arguments: as given)
    r = run(auto_axes(lambda a: a + reshard(c, P()), axes="x", out_sharding=P()))(x)  # (replicated: no axes to type)
    _typed(r, "float32[8,4]", P(None, None))
    np.testing.assert_array_equal(np.asarray(r), 2 * X)
    r = run(explicit_axes(lambda a: a * c, axes="x", in_sharding=P("x")))(x)  # (no axis type changes)
    _typed(r, "float32[8@x,4]", P("x", None))


@pytest.mark.parametrize("jit", [False, True], ids=["eager", "jit"])
def test_grad_through_auto_and_explicit_axes_with_the_input_used_outside_too(mesh, jit):
    x = jax.device_put(X / 10, P("x", "y"))
    xs = np.asarray(x)
    run = jax.jit if jit else (lambda f: f)
    cases = [
        (lambda a: auto_axes(jnp.sin, out_sharding=P("x", "y"))(a), np.cos(xs)),  # (untyped inside)
        (lambda a: auto_axes(jnp.sin, axes="x", out_sharding=P("x", "y"))(a) * a + a,
         np.cos(xs) * xs + np.sin(xs) + 1),
        (lambda a: auto_axes(lambda b: b * b + b, out_sharding=P("x", "y"))(a) * a, 3 * xs ** 2 + 2 * xs),
        (lambda a: explicit_axes(lambda b: b * b + b, axes="x", in_sharding=P("x"))(a) * a, 3 * xs ** 2 + 2 * xs),
        (lambda a: auto_axes(lambda b: explicit_axes(lambda c: c * c, axes="y", in_sharding=P(None, "y"))(b) + b,
                             axes=("x", "y"), out_sharding=P("x"))(a) * a, 3 * xs ** 2 + 2 * xs),
    ]
    for f, expected in cases:
        g = run(jax.grad(lambda a: f(a).sum()))(x)
        _typed(g, "float32[8@x,4@y]", P("x", "y"))
        np.testing.assert_allclose(np.asarray(g), expected, rtol=1e-5, atol=1e-6)


def test_vmap_of_reshard_keeps_the_mapped_dimension_sharding(mesh):
    x = jax.device_put(X, P("x", "y"))
    _typed(jax.vmap(lambda r: reshard(r * 3, P("y")))(x), "float32[8@x,4@y]", P("x", "y"))
    r = jax.jit(jax.vmap(lambda r: reshard(r * 3, P(None))))(x)
    _typed(r, "float32[8@x,4]", P("x", None))
    np.testing.assert_array_equal(np.asarray(r), 3 * X)


def test_reshard_of_a_constant_under_jit(mesh):
    c = jax.device_put(X, P("x", None))
    r = jax.jit(lambda: reshard(c, P(None, "y")))()
    _typed(r, "float32[8,4@y]", P(None, "y"))
    np.testing.assert_array_equal(np.asarray(r), X)


def test_auto_axes_pytrees_nesting_and_mesh_errors(mesh):
    x = jax.device_put(X, P("x", "y"))
    r = auto_axes(lambda d: {"s": d["a"] + d["b"]}, axes="y", out_sharding={"s": P("x")})({"a": x, "b": X})["s"]
    _typed(r, "float32[8@x,4]", P("x", None))
    np.testing.assert_array_equal(np.asarray(r), 2 * X)
    inner = explicit_axes(lambda b: b * 2, axes="x", in_sharding=P("x"))
    r = jax.jit(auto_axes(lambda a: inner(a) + 1, out_sharding=P(None, "y")))(x)
    _typed(r, "float32[8,4@y]", P(None, "y"))
    np.testing.assert_array_equal(np.asarray(r), 2 * X + 1)
    r = jax.jit(lambda b: auto_axes(lambda a: a + 1, axes="x", out_sharding=P("x"))(b))(X)  # (an untyped argument)
    _typed(r, "float32[8@x,4]", P("x", None))
    other = jax.make_mesh((4,), ("z",))
    with pytest.raises(ValueError, match=r"^Context mesh AbstractMesh\('x': 2, 'y': 2, .* must match the mesh passed "
                                         r"to shardings AbstractMesh\('z': 4, .*Recommended approach is to use "
                                         r"`jax.set_mesh` context manager.$"):
        auto_axes(lambda a: a, out_sharding=NamedSharding(other, P("z")))(x)


def test_without_a_mesh():
    r = auto_axes(lambda a: a + 1, out_sharding=P())(jnp.ones(4))  # (no mesh: just the function)
    np.testing.assert_array_equal(np.asarray(r), np.full(4, 2.0))
    with pytest.raises(ValueError, match=r"^Context mesh cannot be empty. Please use `jax.set_mesh` API to enter into "
                                         r"a mesh context when using `explicit_axes` API.$"):
        explicit_axes(lambda a: a + 1, in_sharding=P())(jnp.ones(4))


@pytest.mark.parametrize("jit", [False, True], ids=["eager", "jit"])
@pytest.mark.parametrize("axes, in_sharding, inside, types", [
    (("x", "y"), P("x", "y"), "float32[8@x,4@y]", (EXPLICIT, EXPLICIT)),
    ("x", P("x", None), "float32[8@x,4]", (EXPLICIT, AUTO)),
])
def test_explicit_axes_types_inside_and_out(auto_mesh, jit, axes, in_sharding, inside, types):
    x = jax.device_put(X, P("x", "y"))
    assert str(jax.typeof(x)) == "float32[8,4]"
    seen = []
    e = explicit_axes(_seeing(seen), axes=axes, in_sharding=in_sharding)
    r = (jax.jit(e) if jit else e)(x)
    assert seen == [(inside, types)]
    assert str(jax.typeof(r)) == "float32[8,4]" and jax.typeof(r).sharding is None
    assert r.sharding.mesh == auto_mesh and jax.sharding.get_abstract_mesh() == auto_mesh.abstract_mesh
    np.testing.assert_array_equal(np.asarray(r), 2 * X)


def test_explicit_axes_in_sharding_from_the_call_rules_grad_and_vmap(auto_mesh):
    x = jax.device_put(X, P("x", "y"))
    seen = []
    e = explicit_axes(_seeing(seen))
    with pytest.raises(TypeError, match="^Missing required keyword argument: 'in_sharding'$"):
        e(x)
    r = e(x, in_sharding=P(None, "y"))
    assert seen == [("float32[8,4@y]", (EXPLICIT, EXPLICIT))] and str(jax.typeof(r)) == "float32[8,4]"
    a = jnp.ones((8, 8))
    with pytest.raises(ShardingTypeError, match="^Contracting dimensions are sharded and it is ambiguous"):
        jax.jit(explicit_axes(jnp.dot, in_sharding=(P(None, "x"), P("x", None))))(a, a)
    g = jax.grad(lambda a: explicit_axes(lambda b: b * b, in_sharding=P("x"))(a).sum())(x)
    assert str(jax.typeof(g)) == "float32[8,4]"
    np.testing.assert_array_equal(np.asarray(g), 2 * X)
    r = jax.vmap(explicit_axes(lambda row: row * 3, axes="y", in_sharding=P("y")))(x)
    assert str(jax.typeof(r)) == "float32[8,4]"
    np.testing.assert_array_equal(np.asarray(r), 3 * X)


# --- select_n ---------------------------------------------------------------------------------------------------
def _cases_error(mesh, *specs: str) -> str:
    shown = ", ".join(f"NamedSharding(mesh={mesh.abstract_mesh!r}, spec={s})" for s in specs)
    return f"select cases must have the same shardings, got [{shown}]."


def _which_error(mesh, which: str, case: str) -> str:
    return (f"select `which` must be scalar or have the same sharding as cases, got `which` sharding "
            f"NamedSharding(mesh={mesh.abstract_mesh!r}, spec={which}) but case sharding "
            f"NamedSharding(mesh={mesh.abstract_mesh!r}, spec={case}).")


def _arrays():
    put = jax.device_put
    return dict(a=put(X, P("x", None)), b=put(np.ones((8, 4), np.float32), P(None, None)),
                c=put(np.ones((8, 4), np.float32), P("x", "y")), pa=put(X > 3, P("x", None)),
                pb=put(X > 3, P(None, None)), raw=np.ones((8, 4), np.float32), i=put(np.zeros((8, 4), np.int32), P()))


@pytest.mark.parametrize("jit", [False, True], ids=["eager", "jit"])
@pytest.mark.parametrize("fn, specs", [
    (lambda v: lax.select_n(v["pa"], v["a"], v["b"]), ("P('x', None)", "P(None, None)")),
    (lambda v: lax.select_n(v["pa"], v["a"], v["c"]), ("P('x', None)", "P('x', 'y')")),
    (lambda v: lax.select_n(v["i"], v["a"], v["b"], v["a"]), ("P('x', None)", "P(None, None)", "P('x', None)")),
    (lambda v: jnp.where(v["pa"], v["a"], v["b"]), ("P(None, None)", "P('x', None)")),
    (lambda v: jnp.where(v["a"] > 0, v["a"], v["c"]), ("P('x', 'y')", "P('x', None)")),
    (lambda v: lax.select(v["pa"], v["a"], v["b"]), ("P(None, None)", "P('x', None)")),
], ids=["select_n", "select_n_2d", "select_n_3_cases", "where", "where_2d", "select"])
def test_select_cases_must_have_the_same_shardings(mesh, jit, fn, specs):
    v = _arrays()
    run = (lambda v: jax.jit(fn)(v)) if jit else fn
    with pytest.raises(ShardingTypeError) as e:
        run(v)
    assert str(e.value) == _cases_error(mesh, *specs)


@pytest.mark.parametrize("jit", [False, True], ids=["eager", "jit"])
@pytest.mark.parametrize("fn, which, case", [
    (lambda v: lax.select_n(v["pb"], v["a"], v["a"]), "P(None, None)", "P('x', None)"),
    (lambda v: lax.select_n(v["pb"], v["c"], v["c"]), "P(None, None)", "P('x', 'y')"),
    (lambda v: jnp.where(v["pb"], v["a"], v["a"]), "P(None, None)", "P('x', None)"),
], ids=["select_n", "select_n_2d", "where"])
def test_select_which_must_be_scalar_or_shard_as_the_cases(mesh, jit, fn, which, case):
    v = _arrays()
    run = (lambda v: jax.jit(fn)(v)) if jit else fn
    with pytest.raises(ShardingTypeError) as e:
        run(v)
    assert str(e.value) == _which_error(mesh, which, case)


@pytest.mark.parametrize("jit", [False, True], ids=["eager", "jit"])
@pytest.mark.parametrize("fn, expected", [
    (lambda v: lax.select_n(v["pa"], v["a"], v["a"]), X),
    (lambda v: lax.select_n(True, v["a"], v["a"] * 2), 2 * X),
    (lambda v: lax.select_n(v["pa"], v["a"], v["raw"]), np.where(X > 3, 1, X)),
    (lambda v: lax.select_n(v["raw"] > 0, v["a"], -v["a"]), -X),
    (lambda v: jnp.where(v["a"] > 3, v["a"], 0.0), np.where(X > 3, X, 0)),
    (lambda v: jnp.where(v["pa"], v["a"], v["raw"]), np.where(X > 3, X, 1)),
    (lambda v: jnp.where(v["a"] > 3, v["a"], jnp.ones((4,))), np.where(X > 3, X, 1)),
    (lambda v: jax.nn.relu(v["a"] - 5), np.maximum(X - 5, 0)),
], ids=["same", "scalar_which", "untyped_case", "untyped_which", "where_scalar", "where_untyped", "where_broadcast",
        "relu"])
def test_select_keeps_the_cases_sharding(mesh, jit, fn, expected):
    v = _arrays()
    r = jax.jit(fn)(v) if jit else fn(v)
    _typed(r, "float32[8@x,4]", P("x", None))
    np.testing.assert_array_equal(np.asarray(r), expected)


def test_grad_of_where_keeps_the_type(mesh):
    a = jax.device_put(X, P("x", None))
    for f in (lambda x: jnp.where(x > 3, x * x, 0.0).sum(), jax.jit(lambda x: jnp.where(x > 3, x * x, 0.0).sum())):
        g = jax.grad(f)(a)
        _typed(g, "float32[8@x,4]", P("x", None))
        np.testing.assert_array_equal(np.asarray(g), np.where(X > 3, 2 * X, 0))
    for f in (lambda x: x.sum(), lambda x: x.sum(axis=1).sum(), jnp.mean):  # (the cotangent of a sum: as the operand)
        for grad in (jax.grad(f), jax.jit(jax.grad(f))):
            _typed(grad(a), "float32[8@x,4]", P("x", None))
