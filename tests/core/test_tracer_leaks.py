"""Tracers escaping their transformation: jax_check_tracer_leaks finds them when the trace ends, a leaked
tracer used later raises UnexpectedTracerError; ensure_compile_time_eval evaluates concrete ops under jit."""
import numpy as np
import pytest

import portax as jax
import portax.numpy as jnp
from portax import config
from portax.errors import UnexpectedTracerError

leaked = []


def _stash(x):
    y = jnp.sin(x)
    leaked.append(y)
    return x * 2


@pytest.fixture(autouse=True)
def _clear():
    leaked.clear()
    jax.clear_caches()  # each test traces _stash again (jit of a function seen before reuses its trace, as JAX's)
    yield
    leaked.clear()


TRANSFORMS = {"jit": (jax.jit, np.float32(1.0)), "vmap": (jax.vmap, np.ones(2, np.float32)),
              "grad": (jax.grad, np.float32(1.0)), "jit_grad": (lambda f: jax.jit(jax.grad(f)), np.float32(1.0)),
              "make_jaxpr": (jax.make_jaxpr, np.float32(1.0))}


@pytest.mark.parametrize("name", TRANSFORMS)
def test_checking_leaks_finds_a_tracer_stored_in_a_global(name):
    transform, arg = TRANSFORMS[name]
    with jax.checking_leaks():
        with pytest.raises(Exception, match=r"Leaked trace MainTrace\(\d+, \w+\)\. Leaked tracer\(s\):") as e:
            transform(_stash)(arg)
    msg = str(e.value)
    assert f"is referred to by {__name__}.leaked" in msg
    if name in ("jit", "make_jaxpr"):
        assert "The leaked intermediate value was created on line " in msg and "test_tracer_leaks.py:15 (_stash)" in msg


def test_checking_leaks_finds_closures_and_attributes():
    box = []

    def in_closure(x):
        box.append(x + 1)
        return x

    class Holder:
        pass
    holder = Holder()

    def in_attribute(x):
        holder.value = x * 3
        return x

    for f in (in_closure, in_attribute):
        with pytest.raises(Exception, match="Leaked trace"):
            with jax.checking_leaks():
                jax.jit(f)(1.0)
    config.update("jax_check_tracer_leaks", True)
    try:
        with pytest.raises(Exception, match=r"Holder .*\.value"):
            jax.vmap(in_attribute)(np.ones(3, np.float32))
    finally:
        config.update("jax_check_tracer_leaks", False)


def test_checking_leaks_passes_clean_programs():
    def f(x):
        return jnp.sum(jnp.sin(x) * 2)
    x = np.linspace(0, 1, 4).astype(np.float32)
    with jax.checking_leaks():
        expected = np.cos(x) * 2
        np.testing.assert_allclose(jax.grad(f)(x), expected, rtol=1e-6)
        np.testing.assert_allclose(jax.jit(jax.vmap(jax.grad(lambda v: jnp.sin(v) * 2)))(x), expected, rtol=1e-6)
        (value, aux), g = jax.value_and_grad(lambda v: (f(v), v * 2), has_aux=True)(x)
        np.testing.assert_allclose(aux, 2 * x)
        out = jax.lax.scan(lambda c, v: (c + jnp.sin(v), c), 0.0, x)
        np.testing.assert_allclose(out[0], np.sum(np.sin(x)), rtol=1e-6)
        np.testing.assert_allclose(jax.grad(jax.checkpoint(f))(x), expected, rtol=1e-6)


def test_no_leak_check_by_default():
    jax.jit(_stash)(1.0)
    assert len(leaked) == 1


@pytest.mark.parametrize("use", [lambda t: t + 1, lambda t: jnp.sin(t), lambda t: jax.jit(lambda y: y + t)(1.0),
                                 lambda t: jax.jit(lambda y: y * 2)(t), lambda t: jax.grad(lambda y: y * t)(1.0),
                                 lambda t: jax.vmap(lambda y: y * t)(np.ones(2, np.float32))])
def test_using_a_leaked_tracer_raises_unexpected_tracer_error(use):
    jax.jit(_stash)(1.0)
    with pytest.raises(UnexpectedTracerError, match="Encountered an unexpected tracer") as e:
        use(leaked[0])
    msg = str(e.value)
    assert "f32[] wrapped in a DynamicJaxprTracer to escape the scope of the transformation" in msg
    assert "test_tracer_leaks.py:15 (_stash)" in msg and "jax.checking_leaks" in msg


def test_converting_a_leaked_tracer_raises_jax_conversion_errors():
    jax.jit(_stash)(1.0)
    with pytest.raises(jax.errors.TracerArrayConversionError):
        np.asarray(leaked[0])
    with pytest.raises(jax.errors.TracerBoolConversionError):
        bool(leaked[0])


@pytest.mark.parametrize("transform,arg", [(jax.vmap, np.ones(2, np.float32)), (jax.grad, 1.0)])
def test_leaked_tracers_of_other_transformations(transform, arg):
    transform(_stash)(arg)
    with pytest.raises(UnexpectedTracerError, match="Encountered an unexpected tracer"):
        leaked[0] * 2


# --- ensure_compile_time_eval ---------------------------------------------------------------------------------------
def test_ensure_compile_time_eval_under_jit():
    seen = {}

    @jax.jit
    def f(x):
        with jax.ensure_compile_time_eval():
            z = jnp.sin(jnp.sin(3.0)) > 0
            n = jnp.sum(jnp.array([1, 2, 3]))
            r = jnp.arange(n)  # needs a concrete n
            w = x + 1  # x is traced: staged as usual
        seen.update(z=type(z), w=type(w))
        if z:  # Python control flow on a value computed at trace time
            return jnp.sin(x) + r.sum() + w
        return jnp.cos(x)

    np.testing.assert_allclose(f(1.0), np.sin(1.0) + 15 + 2, rtol=1e-6)
    assert seen["z"] is jax.Array and seen["w"] is not jax.Array
    text = str(jax.make_jaxpr(f.fun)(1.0))
    assert "i32[6]" in text and "iota" not in text and "sin b" in text.replace("\n", " ")


def test_ensure_compile_time_eval_without_it_fails_and_elsewhere():
    def f(x):
        n = jnp.sum(jnp.array([1, 2, 3]))
        return x + jnp.arange(n).sum()
    with pytest.raises(jax.errors.ConcretizationTypeError):
        jax.jit(f)(1.0)
    with jax.ensure_compile_time_eval():  # outside any trace: ordinary evaluation
        assert float(jnp.sin(0.0)) == 0.0
        np.testing.assert_allclose(jax.jit(f)(1.0), 16.0)  # jit traced inside it folds constants too (JAX's)

    def g(x):
        with jax.ensure_compile_time_eval():
            k = int(jnp.argmax(jnp.array([1, 5, 2])))
        return x[k]
    xs = np.arange(12.0, dtype=np.float32).reshape(4, 3)
    np.testing.assert_array_equal(jax.vmap(g)(xs), xs[:, 1])
    np.testing.assert_array_equal(jax.jit(jax.vmap(g))(xs), xs[:, 1])
    assert float(jax.grad(lambda v: g(v).sum())(xs)[1].sum()) == 3.0
