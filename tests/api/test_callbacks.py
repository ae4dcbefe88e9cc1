"""Host callbacks on the backend under test: debug.print/debug.callback, pure_callback (each vmap_method),
io_callback (ordered), effects_barrier; under jit, vmap, grad, scan, cond, while and fori_loop; errors."""
import numpy as np
import pytest

import portax as jax
import portax.numpy as jnp
from portax import lax
from portax.core import fusion
from portax.core.interpreters.evaluation import dce_jaxpr
from portax.core.primitives import callbacks as cb
from portax.errors import JaxRuntimeError
from portax.experimental import io_callback


def _sds(x):
    return jax.ShapeDtypeStruct(x.shape, x.dtype)


# --- debug.print ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("transform", [lambda f: f, jax.jit], ids=["eager", "jit"])
def test_debug_print_formats_positional_keyword_and_specs(transform, capsys):
    def f(x, y):
        jax.debug.print("x={} y={y} sum={s:.2f}", x, y=y, s=jnp.sum(x))
        jax.debug.print("no placeholders", y, skip_format_check=True)
        return x * 2

    transform(f)(jnp.arange(3.0), jnp.int32(7))
    assert capsys.readouterr().out == "x=[0. 1. 2.] y=7 sum=3.00\nno placeholders 7\n"


def test_debug_print_static_arguments_and_two_call_form(capsys):
    @jax.jit
    def f(x):
        jax.debug.print("{name}: {}", x, name="value")
        jax.debug.print(ordered=True)("ordered {}", x + 1)
        return x

    f(jnp.float32(1.5))
    assert capsys.readouterr().out == "value: 1.5\nordered 2.5\n"


def test_debug_print_checks_the_format_string():
    with pytest.raises(ValueError, match="Unused positional arguments"):
        jax.debug.print("{}", 1, 2)
    with pytest.raises(ValueError, match="f-string"):
        jax.debug.print("hi", x=1)
    with pytest.raises(TypeError, match="two-call form"):
        jax.debug.print(None, 1)


def test_debug_print_under_grad_prints_primal_values(capsys):
    def f(x):
        jax.debug.print("x {}", x)
        y = jnp.sin(x) * x
        jax.debug.print("y {:.4f}", y)
        return y

    g = jax.grad(f)(2.0)
    assert np.allclose(g, np.sin(2.0) + 2.0 * np.cos(2.0))
    assert capsys.readouterr().out == f"x 2.0\ny {np.sin(2.0) * 2.0:.4f}\n"
    jax.jit(jax.grad(f))(2.0)
    assert capsys.readouterr().out == f"x 2.0\ny {np.sin(2.0) * 2.0:.4f}\n"


def test_debug_print_under_vmap_prints_each_element(capsys):
    jax.jit(jax.vmap(lambda x, c: jax.debug.print("{} {}", x, c)))(jnp.arange(3), jnp.int32(5) + jnp.zeros(3, "int32"))
    assert capsys.readouterr().out == "0 5\n1 5\n2 5\n"


def test_debug_callback_gets_numpy_values_and_kwargs():
    seen = []
    f = jax.jit(lambda x: jax.debug.callback(lambda a, *, tag: seen.append((tag, a.copy())), x * 2, tag="t") or x)
    f(jnp.arange(3.0))
    assert seen[0][0] == "t" and np.array_equal(seen[0][1], [0.0, 2.0, 4.0])
    with pytest.raises(TypeError, match="must be callable"):
        jax.debug.callback(1, 2)


# --- effects: never dropped, in program order ------------------------------------------------------------------
def test_effectful_callbacks_survive_dead_code_elimination():
    calls = []

    @jax.jit
    def f(x):
        io_callback(lambda a: calls.append("io") or np.float32(0), jax.ShapeDtypeStruct((), np.float32), x)
        jax.debug.callback(lambda a: calls.append("debug"), x)
        return x + 1

    assert float(f(jnp.float32(1.0))) == 2.0
    assert calls == ["io", "debug"]
    jaxpr = jax.make_jaxpr(f)(1.0).jaxpr
    inner = jaxpr.eqns[0].params["jaxpr"].jaxpr if jaxpr.eqns[0].primitive.name == "pjit" else jaxpr
    assert {str(e) for e in inner.effects} == {"IO", "Debug"}
    assert [e.primitive for e in dce_jaxpr(inner)[0].eqns if e.primitive in cb.CALLBACKS] == \
        [cb.io_callback_p, cb.debug_callback_p]


def test_unused_pure_callback_is_not_effectful():
    jaxpr = jax.make_jaxpr(lambda x: (jax.pure_callback(np.sin, _sds(x), x), x)[1])(jnp.ones(2)).jaxpr
    assert not jaxpr.effects and not dce_jaxpr(jaxpr)[0].eqns


def test_effects_propagate_into_control_flow_jaxprs():
    def body(c, x):
        jax.debug.print("{}", x, ordered=True)
        return c, x
    closed = jax.make_jaxpr(lambda xs: lax.scan(body, 0.0, xs)[0])(jnp.ones(2))
    jaxpr = closed.jaxpr
    assert {str(e) for e in closed.effects} == {"OrderedDebug"} and jaxpr.effects == closed.effects
    assert len(dce_jaxpr(jaxpr, [False])[0].eqns) == 1  # the scan stays although its result is unused


def test_callbacks_are_fusion_barriers():
    def f(x):
        y = jnp.sin(x) + 1
        jax.debug.callback(lambda a: None, x)
        return y * 2
    kernels = fusion.fuse(jax.make_jaxpr(f)(jnp.ones(4)).jaxpr)
    assert [k.kind for k in kernels] == ["loop", "opaque", "loop"]
    assert kernels[1].root.primitive is cb.debug_callback_p


def test_ordered_io_callbacks_keep_program_order_in_loops():
    log = []

    def record(tag):
        return lambda v: log.append((tag, int(v))) or np.int32(v)

    def step(i, c):
        c = io_callback(record("fori"), jax.ShapeDtypeStruct((), np.int32), c + i, ordered=True)
        return c

    def scan_body(c, x):
        io_callback(record("scan"), jax.ShapeDtypeStruct((), np.int32), x, ordered=True)
        return c + x, c

    def while_body(c):
        io_callback(lambda v: log.append(("while", int(v))), None, c, ordered=True)
        return c + 1

    @jax.jit
    def f(n, xs):
        a = lax.fori_loop(0, 3, step, 0)
        b = lax.scan(scan_body, 0, xs)[0]
        c = lax.while_loop(lambda c: c < n, while_body, 0)
        return a + b + c

    assert int(f(2, jnp.arange(10, 13))) == 3 + 33 + 2
    assert log == [("fori", 0), ("fori", 1), ("fori", 3), ("scan", 10), ("scan", 11), ("scan", 12),
                   ("while", 0), ("while", 1)]


def test_callbacks_in_cond_run_only_in_the_taken_branch(capsys):
    f = jax.jit(lambda p, x: lax.cond(p, lambda x: jax.debug.print("true {}", x) or x + 1,
                                      lambda x: jax.debug.print("false {}", x) or x - 1, x))
    assert float(f(True, 1.0)) == 2.0 and float(f(False, 1.0)) == 0.0
    assert capsys.readouterr().out == "true 1.0\nfalse 1.0\n"


@pytest.mark.parametrize("transform", [lambda f: f, jax.jit], ids=["eager", "jit"])
def test_callback_in_cond_whose_outputs_are_all_forwarded_still_runs(transform, capsys):
    # Every branch returns its operand unchanged: the cond is not dropped, its print runs (as in JAX).
    f = transform(lambda x: lax.cond(x.sum() > 0, lambda u: jax.debug.print("c {}", u.sum()) or u, lambda u: u, x))
    np.testing.assert_array_equal(f(jnp.ones(3)), np.ones(3))
    np.testing.assert_array_equal(f(-jnp.ones(3)), -np.ones(3))
    assert capsys.readouterr().out == "c 3.0\n"


def test_effects_barrier_returns_after_callbacks_ran():
    calls = []
    jax.jit(lambda x: io_callback(lambda v: calls.append(int(v)), None, x))(3)
    assert jax.effects_barrier() is None and calls == [3]


# --- pure_callback ------------------------------------------------------------------------------------------------
def test_pure_callback_under_jit_with_pytrees_and_kwargs():
    def host(a, *, b):
        return {"s": np.sin(a), "n": np.asarray(b["k"] * 2, np.int32)}
    f = jax.jit(lambda x, k: jax.pure_callback(host, {"s": _sds(x), "n": jax.ShapeDtypeStruct((), np.int32)}, x,
                                               b={"k": k}))
    out = f(jnp.arange(4.0), 5)
    np.testing.assert_allclose(out["s"], np.sin(np.arange(4.0)), rtol=1e-6)
    assert int(out["n"]) == 10


def test_pure_callback_inputs_are_read_only_views():
    def host(a):
        with pytest.raises(ValueError):
            a[0] = 1
        return a + 1
    x = jnp.arange(3.0)
    np.testing.assert_array_equal(jax.jit(lambda x: jax.pure_callback(host, _sds(x), x))(x), [1.0, 2.0, 3.0])
    np.testing.assert_array_equal(x, [0.0, 1.0, 2.0])


@jax.custom_jvp
def _host_sin(x):
    return jax.pure_callback(np.sin, _sds(x), x, vmap_method="sequential")


@_host_sin.defjvp
def _host_sin_jvp(primals, tangents):
    (x,), (t,) = primals, tangents
    return _host_sin(x), jax.pure_callback(np.cos, _sds(x), x, vmap_method="expand_dims") * t


def test_pure_callback_through_custom_jvp_under_jit_vmap_grad():
    xs = jnp.linspace(-1.0, 2.0, 5)
    np.testing.assert_allclose(jax.jit(jax.vmap(jax.grad(_host_sin)))(xs), np.cos(np.asarray(xs)), rtol=1e-6)
    np.testing.assert_allclose(jax.grad(lambda x: jnp.sum(_host_sin(x) ** 2))(xs),
                               2 * np.sin(xs) * np.cos(xs), rtol=1e-5)


def test_pure_callback_through_custom_vjp():
    @jax.custom_vjp
    def f(x):
        return jax.pure_callback(np.exp, _sds(x), x)
    f.defvjp(lambda x: (f(x), x), lambda x, g: (jax.pure_callback(np.exp, _sds(x), x) * g,))
    np.testing.assert_allclose(jax.jit(jax.grad(lambda x: jnp.sum(f(x))))(jnp.ones(3)), np.full(3, np.e), rtol=1e-6)


def test_grad_of_bare_pure_callback_errors_as_jax():
    f = lambda x: jax.pure_callback(np.sin, _sds(x), x)
    with pytest.raises(ValueError, match="Pure callbacks do not support JVP"):
        jax.grad(f)(1.0)
    with pytest.raises(ValueError, match="IO callbacks do not support JVP"):
        jax.grad(lambda x: io_callback(np.sin, _sds(x), x))(1.0)
    assert float(jax.jit(lambda x: f(jax.lax.stop_gradient(x)))(0.0)) == 0.0  # zero tangents: just runs


def _shapes_seen(method, transform):
    shapes = []

    def host(a, b):
        shapes.append((a.shape, b.shape))
        return (a + b).astype(np.float32)

    def f(x, y):
        return jax.pure_callback(host, jax.ShapeDtypeStruct(jnp.broadcast_shapes(x.shape, y.shape), np.float32),
                                 x, y, vmap_method=method)
    out = transform(jax.vmap(f, in_axes=(0, None)))(jnp.arange(4.0), jnp.float32(1.0))
    np.testing.assert_array_equal(out, [1.0, 2.0, 3.0, 4.0])
    return shapes


@pytest.mark.parametrize("transform", [lambda f: f, jax.jit], ids=["eager", "jit"])
@pytest.mark.parametrize("method, expected", [
    ("sequential", [((), ())] * 4), ("sequential_unrolled", [((), ())] * 4),
    ("expand_dims", [((4,), (1,))]), ("broadcast_all", [((4,), (4,))]), ("legacy_vectorized", [((4,), ())])])
def test_pure_callback_vmap_methods(method, expected, transform):
    assert _shapes_seen(method, transform) == expected


def test_pure_callback_vmap_without_method_raises_as_jax_0_10_2():
    with pytest.raises(NotImplementedError, match="vmap_method=None"):
        _shapes_seen(None, jax.jit)
    with pytest.raises(ValueError, match="vmap_method must be"):
        jax.pure_callback(np.sin, jax.ShapeDtypeStruct((), np.float32), 1.0, vmap_method="bogus")


def test_io_callback_under_vmap():
    seen = []
    out = jax.jit(jax.vmap(lambda x: io_callback(lambda v: seen.append(int(v)) or v * 2, _sds(x), x)))(jnp.arange(3))
    np.testing.assert_array_equal(out, [0, 2, 4])
    assert seen == [0, 1, 2]
    with pytest.raises(ValueError, match="Cannot `vmap` ordered IO callback"):
        jax.vmap(lambda x: io_callback(lambda v: v, _sds(x), x, ordered=True))(jnp.arange(3))


# --- errors --------------------------------------------------------------------------------------------------------
def test_callback_exception_surfaces_and_the_backend_stays_usable():
    calls = []

    def fail(v):
        calls.append(int(v))
        raise KeyError("boom")

    def body(c, x):
        io_callback(fail, None, x, ordered=True)
        return c + x, x

    f = jax.jit(lambda xs: lax.scan(body, 0, xs)[0])
    with pytest.raises(JaxRuntimeError, match="'fail' raised KeyError") as info:
        f(jnp.arange(5))
    assert isinstance(info.value.__cause__, KeyError) and isinstance(info.value, RuntimeError)
    assert calls == [0]  # the run stopped at the first failure
    ok = jax.jit(lambda x: jax.pure_callback(lambda a: a * 3, _sds(x), x) + 1)
    np.testing.assert_array_equal(ok(jnp.arange(3)), [1, 4, 7])
    np.testing.assert_array_equal(jax.jit(lambda x: x * 2)(jnp.arange(3)), [0, 2, 4])
    with pytest.raises(JaxRuntimeError):
        jax.debug.callback(lambda: 1 / 0)


@pytest.mark.parametrize("returned, message", [
    (lambda a: np.zeros(3, np.float32),
     r"'wrong': .*output shape for return value #0: Expected: \(2,\), Actual: \(3,\)"),
    (lambda a: np.zeros(2, np.int32), r"'wrong': .*output dtype for return value #0: Expected: float32, Actual: int32"),
    (lambda a: (a, a), r"'wrong': .*number of outputs from callback. Expected: 1, Actual: 2")])
def test_wrong_results_name_the_callback_and_the_mismatch(returned, message):
    def wrong(a):
        return returned(a)
    x = jnp.ones(2)
    with pytest.raises(JaxRuntimeError, match=message):
        jax.jit(lambda x: jax.pure_callback(wrong, _sds(x), x))(x)
    np.testing.assert_array_equal(jax.jit(lambda x: x + 1)(x), [2.0, 2.0])


def test_float64_results_are_canonicalised_as_jax():
    out = jax.jit(lambda x: jax.pure_callback(lambda a: np.float64(2.5), jax.ShapeDtypeStruct((), np.float32), x))(1.0)
    assert float(out) == 2.5 and out.dtype == np.float32


@pytest.mark.parametrize("dtype", ["bfloat16", "float8_e4m3fn"])
def test_narrow_float_operands_and_results_keep_their_dtype(dtype):
    seen = []

    def host(a):
        seen.append(a.dtype)
        return (a.astype(np.float32) * 2).astype(a.dtype)

    x = jnp.asarray(np.array([1.0, 1.5, -2.0], np.float32)).astype(dtype)
    out = jax.jit(lambda x: jax.pure_callback(host, _sds(x), x) + 1)(x)
    assert out.dtype == x.dtype and seen == [x.dtype]
    np.testing.assert_array_equal(np.asarray(out).astype(np.float32), [3.0, 4.0, -3.0])


def test_non_array_results_are_a_clear_error():
    with pytest.raises(JaxRuntimeError, match="'<lambda>': incorrect output dtype .* Expected: float32, Actual: obj"):
        jax.jit(lambda x: jax.pure_callback(lambda a: object(), jax.ShapeDtypeStruct((), np.float32), x))(1.0)


def test_complex_operands_and_results_keep_their_dtype(capsys):
    x = jnp.asarray(np.array([1 + 2j, 3 - 1j], np.complex64))
    seen = []
    out = jax.jit(lambda x: jax.pure_callback(lambda a: seen.append(a.dtype) or a * 2j, _sds(x), x) + 1)(x)
    assert seen == [np.complex64] and out.dtype == np.complex64
    np.testing.assert_allclose(out, np.array([1 + 2j, 3 - 1j]) * 2j + 1, rtol=1e-6)
    jax.jit(lambda x: jax.debug.print("{}", x))(x)
    assert capsys.readouterr().out == "[1.+2.j 3.-1.j]\n"


def test_a_callback_may_run_portax_computations():
    inner = jax.jit(lambda a: jnp.cumsum(a) * 2)
    f = jax.jit(lambda x: jax.pure_callback(lambda a: np.asarray(inner(a)), _sds(x), x) + 1)
    np.testing.assert_array_equal(f(jnp.arange(4.0)), [1.0, 3.0, 7.0, 13.0])


@jax.custom_jvp
def _prints_tangent(x):
    return jnp.sin(x)


@_prints_tangent.defjvp
def _prints_tangent_jvp(primals, tangents):
    jax.debug.print("tangent {}", tangents[0])
    return _prints_tangent(primals[0]), jnp.cos(primals[0]) * tangents[0]


@pytest.mark.parametrize("transform", [lambda f: f, jax.jit], ids=["eager", "jit"])
def test_a_staged_debug_callback_of_tangents_is_kept_by_linearize(transform, capsys):
    _, lin = jax.linearize(transform(_prints_tangent), 1.0)
    assert capsys.readouterr().out == ""
    np.testing.assert_allclose(lin(2.0), 2 * np.cos(1.0), rtol=1e-6)
    assert capsys.readouterr().out == "tangent 2.0\n"
    np.testing.assert_allclose(jax.grad(_prints_tangent)(1.0), np.cos(1.0), rtol=1e-6)  # transposed: no print
    assert capsys.readouterr().out == ""


def test_a_failing_callback_in_a_while_condition_does_not_hang():
    def cond(c):
        return io_callback(lambda v: 1 / 0, jax.ShapeDtypeStruct((), np.bool_), c)
    with pytest.raises(JaxRuntimeError, match="ZeroDivisionError"):
        jax.jit(lambda x: lax.while_loop(cond, lambda c: c + 1, x))(0)
