"""jit's static/donated argument specification and the AOT stages (lower/compile) as JAX 0.10.2."""
import numpy as np
import pytest

import portax as jax
import portax.numpy as jnp


def test_donate_argnames_accepted_and_validated():
    f = jax.jit(lambda a, b, c, d: (a + b + c, a + b + d), static_argnums=(0, 1), donate_argnames=("c", "d"))
    e, g = f(1, 2, jnp.ones(2), jnp.ones(3))
    np.testing.assert_allclose(e, [4.0, 4.0])
    np.testing.assert_allclose(g, [4.0, 4.0, 4.0])
    with pytest.raises(ValueError, match="static_argnames and donate_argnames cannot intersect"):
        jax.jit(lambda x: x, static_argnames="x", donate_argnames="x")
    with pytest.raises(ValueError, match="Function does not take these args"):
        jax.jit(lambda a, b: a, donate_argnames=("b", "nope"))
    with pytest.raises(ValueError, match="only accepts 2 positional arguments"):
        jax.jit(lambda a, b: a, donate_argnums=(0, 2))


def test_argnames_validation_positional_only_and_var_positional():
    def h(a, /, b, c, *args, **kwargs):
        return b

    for kind in ("static_argnames", "donate_argnames"):
        jax.jit(h, **{kind: ("b", "c", "not_defined")})  # **kwargs takes any name
        with pytest.raises(ValueError, match="positional-only"):
            jax.jit(h, **{kind: ("a", "c")})
        with pytest.raises(ValueError, match="positional-only"):
            jax.jit(h, **{kind: ("args", "c")})


def test_donate_argnames_without_signature():
    class NoSignature:
        @property
        def __signature__(self):
            raise TypeError("no signature")

        def __call__(self, *args):
            return None

    with pytest.raises(ValueError, match="Pass donate_argnums instead of donate_argnames"):
        jax.jit(NoSignature(), donate_argnames="a")


def test_not_callable_is_a_type_error():
    with pytest.raises(TypeError, match="Expected a callable value"):
        jax.jit(classmethod(lambda cls, x: x))
    with pytest.raises(TypeError, match="staticmethod arguments are not supported"):
        jax.jit(staticmethod(lambda x: x))


def test_negative_static_argnums_count_from_the_end_of_each_call():
    def g(x, y):
        assert isinstance(y, int)
        return x * y

    f = jax.jit(g, static_argnums=-1)
    assert [int(f(2, i)) for i in range(3)] == [0, 2, 4]


def test_static_arguments_equal_only_with_the_same_type():
    traced = []

    def f(k):
        traced.append(type(k))
        return k

    jf = jax.jit(f, static_argnums=0)
    for x in (1, True, 1.0, 1, True, 1.0):
        assert jf(x) == x
    assert traced == [int, bool, float]


def test_static_argument_whose_eq_raises():
    class HashableWithoutEq:
        def __hash__(self):
            return 1

        def __eq__(self, other):
            raise NotImplementedError("no eq")

    f = jax.jit(lambda x, y: x + 3, static_argnums=1)
    f(1, HashableWithoutEq())
    with pytest.raises(ValueError, match="static arguments should be comparable using __eq__"):
        f(1, HashableWithoutEq())


def test_lowered_args_info_marks_donated_leaves():
    def fn(z, y, x):
        return z, y, x

    for kw in ({"donate_argnames": ("z", "y")}, {"donate_argnums": (0, 1)}):
        args_info, kwargs_info = jax.jit(fn, **kw).lower({"c": 3.0}, y={"b": 2.0}, x={"a": 1.0}).args_info
        assert args_info[0]["c"].donated and kwargs_info["y"]["b"].donated
        assert not kwargs_info["x"]["a"].donated
    lowered = jax.jit(fn, donate_argnums=1).lower(1.0, 2.0, 3.0)
    assert lowered.donate_argnums == lowered.compile().donate_argnums == (1,)


def test_compiled_rejects_other_pytrees_and_types():
    f_exe = jax.jit(lambda x: jnp.sqrt(x ** 2) + 1.0).lower(jnp.float32(1)).compile()
    assert float(f_exe(jnp.float32(-3))) == 4.0
    with pytest.raises(TypeError, match="does not match the input pytree it was called with"):
        f_exe([1.0])
    with pytest.raises(TypeError, match=r"Argument 'x' compiled with float32\[\] and called with int32\[\]"):
        f_exe(jnp.int32(1))


def test_lowered_as_text_dialects():
    lowered = jax.jit(lambda x: x + 4).lower(1.0)
    assert "add" in lowered.as_text() and lowered.as_text(debug_info=True) == lowered.as_text()
    with pytest.raises(NotImplementedError, match="portax lowers to jaxprs"):
        lowered.as_text("hlo")
    with pytest.raises(ValueError, match="unknown dialect: mhlo"):  # as JAX
        lowered.as_text("mhlo")


def test_float0_at_top_level():
    assert jax.float0 is jax.dtypes.float0


def test_compiled_rejects_tracers():
    f_exe = jax.jit(lambda x: x + 1.0).lower(jnp.float32(1)).compile()
    with pytest.raises(TypeError, match="Cannot apply JAX transformations to a function lowered and compiled"):
        jax.vmap(f_exe)(jnp.ones(3))


def test_checkpoint_traces_once_per_signature():
    traced = []

    @jax.checkpoint
    def g(x):
        traced.append(1)
        return jnp.sin(x), 3.0

    for _ in range(5):
        g(2.0)
    assert len(traced) == 1
    np.testing.assert_allclose(jax.grad(lambda x: g(x)[0])(2.0), np.cos(2.0), rtol=1e-6)
    g(jnp.ones(3))
    assert len(traced) == 2  # grad reuses the f32[] trace; the new shape traces again


def test_named_call_scopes_the_traced_equations():
    def double(x):
        return x * 2

    f = jax.named_call(double)
    g = jax.named_call(double, name="twice")
    assert f.__name__ == "double" and float(g(3.0)) == 6.0
    assert jax.make_jaxpr(f)(1.0).jaxpr.eqns[0].source_info.name_stack == "double"
    assert jax.make_jaxpr(g)(1.0).jaxpr.eqns[0].source_info.name_stack == "twice"


def test_python_complex_scalar_argument():
    out = jax.jit(lambda x: x + 1)(1 + 1j)
    assert out == 2 + 1j and out.dtype == np.complex64 and out.weak_type


def test_jit_repr():
    def my_function():
        return None
    assert repr(jax.jit(my_function)) == f"<PjitFunction of {my_function!r}>"

    class BadRepr:
        def __call__(self):
            return None

        def __repr__(self):
            raise ValueError("invalid repr")
    jitted = jax.jit(BadRepr())
    assert repr(jitted) == "<PjitFunction>"
    del jitted.__wrapped__
    assert repr(jitted) == "<PjitFunction>"


def test_jit_returns_float0_outputs_as_numpy_zeros():
    """A jitted vjp's cotangent of a bool argument is float0 zeros (JAX's nn_test attention-bias gradients)."""
    def bwd(x, mask):
        return jax.vjp(lambda x, m: jnp.where(m, x, 0.0).sum(), x, mask)[1](1.0)

    f = jax.jit(bwd)
    for _ in range(2):  # traced, then cached
        dx, dmask = f(jnp.ones(3), jnp.array([True, False, True]))
        np.testing.assert_array_equal(dx, [1.0, 0.0, 1.0])
        assert type(dmask) is np.ndarray and dmask.dtype == jax.dtypes.float0 and dmask.shape == (3,)
    out = jax.jit(lambda: {"z": np.zeros((2, 1), jax.dtypes.float0)})()
    assert out["z"].dtype == jax.dtypes.float0 and out["z"].shape == (2, 1)


def test_cost_analysis_counts_the_jaxpr():
    from portax import lax
    f = jax.jit(lambda x, w: jnp.tanh(x @ w).sum())
    lowered = f.lower(np.ones((4, 8), np.float32), np.ones((8, 16), np.float32))
    # dot: 2 * 4*16 * 8 flops, tanh: 64 (transcendental), sum: 64; bytes: each equation's operands and results
    expected = {"flops": 1024 + 64 + 64, "transcendentals": 64, "bytes accessed": (128 + 512 + 256) + 512 + 260}
    assert lowered.cost_analysis() == expected
    compiled = lowered.compile()
    assert compiled.cost_analysis() == expected
    assert compiled.runtime_executable() is compiled.executable
    loop = jax.jit(lambda x: lax.scan(lambda c, _: (jnp.sin(c), None), x, None, length=5)[0])
    assert loop.lower(1.0).cost_analysis() == {"flops": 5, "transcendentals": 5, "bytes accessed": 40}


def test_device_put_takes_a_tree_prefix_of_devices():
    x = {"a": jnp.arange(2), "b": (jnp.arange(3), 1.0)}
    dev = jax.devices()[0]
    out = jax.device_put(x, {"a": dev, "b": None})
    assert out["a"].devices() == {dev} and float(out["b"][1]) == 1.0
    np.testing.assert_array_equal(out["b"][0], [0, 1, 2])
    with pytest.raises(ValueError, match=r"(?s)device_put device specification must be a tree prefix.*"
                                         r"Mismatch details \(1 found\).*different types.*device\['a'\]"):
        jax.device_put(x, {"a": (None, None), "b": None})  # (a None leaf of the prefix is not a mismatch)
    for bad in (object(), {"a": object(), "b": None}):  # was a RecursionError
        with pytest.raises(ValueError, match="only accepts `None`, `jax.sharding.Sharding`, `jax.Device`"):
            jax.device_put(x, bad)


def test_device_put_without_a_device_leaves_arrays_where_they_are():
    x = jnp.arange(3)
    assert jax.device_put(x) is x
    tree = jax.device_put({"a": x, "b": np.ones(2)})
    assert tree["a"] is x and isinstance(tree["b"], jax.Array)
