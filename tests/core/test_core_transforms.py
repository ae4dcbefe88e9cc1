"""Transformations and their compositions: grad, value_and_grad, jvp, vjp, linearize, jacfwd, jacrev,
hessian, vmap, jit (static arguments, retracing, caching, lowering) and make_jaxpr. Nested jit calls stage
the ``pjit`` primitive, which is checked here under every transformation."""
import numpy as np
import pytest

import portax as jax
import portax.numpy as jnp
from portax import lax
from portax.core import dtypes

from core_helpers import assert_close, x64_enabled


def f_scalar(x, y):
    return jnp.sum(jnp.sin(x) * y ** 2)


def _x(*shape, seed=0):
    return np.random.RandomState(seed).uniform(-1, 1, shape).astype(np.float32)


def _allclose(a, b, tol=1e-5):
    np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=tol, atol=tol)


# --- grad ---------------------------------------------------------------------------------------------------
def test_grad_of_sin_is_cos():
    _allclose(jax.grad(jnp.sin)(0.3), np.cos(np.float32(0.3)))


def test_grad_argnums_tuple_and_int():
    x, y = _x(3), _x(3, seed=1)
    gx, gy = jax.grad(f_scalar, argnums=(0, 1))(x, y)
    _allclose(gx, np.cos(x) * y ** 2)
    _allclose(gy, 2 * np.sin(x) * y)
    _allclose(jax.grad(f_scalar, argnums=1)(x, y), gy)
    assert isinstance(jax.grad(f_scalar, argnums=(1,))(x, y), tuple)


def test_grad_has_aux():
    def f(x):
        return jnp.sum(x ** 2), {"mean": jnp.mean(x)}
    g, aux = jax.grad(f, has_aux=True)(_x(4))
    _allclose(g, 2 * _x(4))
    _allclose(aux["mean"], _x(4).mean())


def test_value_and_grad_with_and_without_aux():
    x = _x(3)
    v, g = jax.value_and_grad(lambda x: jnp.sum(x ** 3))(x)
    _allclose(v, np.sum(x ** 3))
    _allclose(g, 3 * x ** 2)
    (v, aux), g = jax.value_and_grad(lambda x: (jnp.sum(x), x * 2), has_aux=True)(x)
    _allclose(aux, 2 * x)
    _allclose(g, np.ones(3))


def test_grad_of_pytree_input_and_kwargs():
    params = {"w": _x(3, 2), "b": _x(2)}

    def loss(p, x, scale=1.0):
        return scale * jnp.sum(jnp.tanh(x @ p["w"] + p["b"]))
    x = _x(4, 3)
    g = jax.grad(loss)(params, x, scale=2.0)
    assert set(g) == {"w", "b"}
    t = np.tanh(x @ params["w"] + params["b"])
    _allclose(g["b"], 2 * (1 - t ** 2).sum(0))
    _allclose(g["w"], 2 * x.T @ (1 - t ** 2))


def test_grad_of_python_control_flow_on_concrete_values():
    def absolute_value(x):
        if x > 0:
            return x
        return -x
    assert float(jax.grad(absolute_value)(3.0)) == 1.0
    assert float(jax.grad(absolute_value)(-3.0)) == -1.0

    def clipped_power(x, n):
        for _ in range(n):
            x = x * x if x < 10 else x
        return x
    assert float(jax.grad(clipped_power)(2.0, 3)) == pytest.approx(32.0)


def test_third_derivative_of_tanh_matches_jax():
    assert float(jax.grad(jax.grad(jax.grad(jnp.tanh)))(1.0)) == pytest.approx(0.6216267347335815, rel=1e-6)


def test_grad_of_integer_valued_closure_is_zero():
    idx = jnp.arange(3)
    _allclose(jax.grad(lambda x: jnp.sum(x[idx] * 2.0))(_x(5)), [2, 2, 2, 0, 0])


def test_higher_order_derivatives_of_a_polynomial(x64):
    f = lambda x: x ** 5
    d = f
    expected = [5 * 2.0 ** 4, 20 * 2.0 ** 3, 60 * 2.0 ** 2, 120 * 2.0, 120.0, 0.0]
    for e in expected:
        d = jax.grad(d)
        assert float(d(2.0)) == pytest.approx(e)


# --- jvp, vjp, linearize ----------------------------------------------------------------------------------------------
def test_jvp_pytrees_and_linearity():
    x, t = {"a": _x(3), "b": _x(2)}, {"a": _x(3, seed=1), "b": _x(2, seed=2)}
    f = lambda d: (jnp.sin(d["a"]), jnp.sum(d["b"] ** 2))
    out, t_out = jax.jvp(f, (x,), (t,))
    _allclose(out[0], np.sin(x["a"]))
    _allclose(t_out[0], np.cos(x["a"]) * t["a"])
    _allclose(t_out[1], np.sum(2 * x["b"] * t["b"]))


def test_jvp_of_integer_input_takes_float0_tangent():
    f = lambda x, n: x * n
    out, t = jax.jvp(f, (2.0, 3), (1.0, np.zeros((), dtypes.float0)))
    assert float(out) == 6.0 and float(t) == 3.0
    _, t_int = jax.jvp(lambda n: n * 2, (np.int32(3),), (np.zeros((), dtypes.float0),))
    assert np.asarray(t_int).dtype == dtypes.float0


def test_vjp_multiple_inputs_and_outputs():
    x, y = _x(3), _x(3, seed=1)
    out, pullback = jax.vjp(lambda a, b: (a * b, jnp.sum(a)), x, y)
    ga, gb = pullback((np.ones(3, np.float32), np.float32(2.0)))
    _allclose(ga, y + 2)
    _allclose(gb, x)


def test_vjp_has_aux():
    out, pullback, aux = jax.vjp(lambda x: (x * 2, "aux"), _x(2), has_aux=True)
    assert aux == "aux"
    _allclose(pullback(np.ones(2, np.float32))[0], [2, 2])


def test_linearize_agrees_with_jvp():
    f = lambda x: jnp.sin(x) * jnp.exp(x)
    x, t = _x(4), _x(4, seed=3)
    y, f_jvp = jax.linearize(f, x)
    _allclose(y, f(x))
    _allclose(f_jvp(t), jax.jvp(f, (x,), (t,))[1])
    _allclose(f_jvp(2 * t), 2 * np.asarray(f_jvp(t)))


# --- jacobians ---------------------------------------------------------------------------------------------------
A = _x(4, 6, seed=7)


def f_matrix(x):
    """R^{2x3} -> R^4: A @ tanh(x).ravel()."""
    return jnp.asarray(A) @ jnp.tanh(jnp.reshape(x, (6,)))


def jac_f_matrix(x):
    return (A * (1 - np.tanh(x.ravel()) ** 2)).reshape(4, 2, 3)


@pytest.mark.parametrize("jac", [jax.jacfwd, jax.jacrev, jax.jacobian], ids=["jacfwd", "jacrev", "jacobian"])
def test_jacobian_shape_and_value(jac):
    x = _x(2, 3)
    J = jac(f_matrix)(x)
    assert J.shape == (4, 2, 3)
    _allclose(J, jac_f_matrix(x))


@pytest.mark.parametrize("jac", [jax.jacfwd, jax.jacrev], ids=["jacfwd", "jacrev"])
def test_jacobian_argnums_and_aux(jac):
    f = lambda x, y: (x * y[0], x.sum())
    x, y = _x(3), _x(2)
    (jx, jy), aux = jac(f, argnums=(0, 1), has_aux=True)(x, y)
    assert jx.shape == (3, 3) and jy.shape == (3, 2)
    _allclose(jx, np.eye(3) * y[0])
    _allclose(jy, np.stack([x, np.zeros(3)], 1))
    _allclose(aux, x.sum())


def test_hessian_of_quadratic_form_and_cubic():
    M = _x(3, 3, seed=4)
    H = jax.hessian(lambda x: x @ jnp.asarray(M) @ x)(_x(3))
    _allclose(H, M + M.T)
    x = _x(3)
    _allclose(jax.hessian(lambda x: jnp.sum(x ** 3))(x), np.diag(6 * x), 1e-4)


def test_jacfwd_of_jacrev_is_hessian():
    f = lambda x: jnp.sum(jnp.sin(x) * x[::-1])
    x = _x(4)
    _allclose(jax.jacfwd(jax.jacrev(f))(x), jax.hessian(f)(x))
    _allclose(jax.jacrev(jax.jacfwd(f))(x), jax.hessian(f)(x))


# --- vmap --------------------------------------------------------------------------------------------------------
def test_vmap_in_axes_none_negative_and_out_axes():
    x, y = _x(3, 4), _x(3)
    out = jax.vmap(lambda a, b: a * b, in_axes=(-1, None), out_axes=1)(x, y)
    assert out.shape == (3, 4)
    _allclose(out, x * y[:, None])
    out = jax.vmap(lambda a, b: a * b, in_axes=(-1, None), out_axes=-2)(x, y)
    _allclose(out, (x * y[:, None]).T)
    out = jax.vmap(lambda a: a.sum(), in_axes=1)(x)
    _allclose(out, x.sum(0))


def test_vmap_dict_in_axes_and_pytree_outputs():
    d = {"a": _x(5, 2), "b": _x(2)}
    f = lambda d: {"s": d["a"] + d["b"], "t": (d["a"].sum(), d["b"])}
    out = jax.vmap(f, in_axes=({"a": 0, "b": None},), out_axes={"s": 0, "t": (0, None)})(d)
    _allclose(out["s"], d["a"] + d["b"])
    _allclose(out["t"][0], d["a"].sum(1))
    _allclose(out["t"][1], d["b"])


def test_vmap_axis_size_with_unbatched_inputs():
    out = jax.vmap(lambda x: x * 2, in_axes=None, axis_size=3)(np.float32(1.5))
    _allclose(out, [3, 3, 3])
    out = jax.vmap(lambda: jnp.ones(2), axis_size=4)()
    assert out.shape == (4, 2)


def test_vmap_unbatched_output_with_out_axes_none():
    out = jax.vmap(lambda x, c: (x + 1, c), in_axes=(0, None), out_axes=(0, None))(_x(3), np.float32(7))
    _allclose(out[1], 7)
    with pytest.raises(ValueError, match="out_axes"):
        jax.vmap(lambda x: x, out_axes=None)(_x(3))


def test_vmap_maps_keyword_arguments_over_axis_0():
    x, y = _x(3), _x(3, seed=1)
    _allclose(jax.vmap(lambda a, b: a * b)(x, b=y), x * y)
    _allclose(jax.vmap(lambda a, b: a * b, in_axes=(None,))(np.float32(2), b=y), 2 * y)


def test_vmap_passes_unmapped_values_through_unchanged():
    seen = []
    out = jax.vmap(lambda a, n, s: seen.append((type(n), s)) or a * n, in_axes=(0, None, None))(_x(3), 3, "tag")
    assert seen == [(int, "tag")]
    _allclose(out, 3 * _x(3))
    scaled = jax.jit(lambda a, n: a * n, static_argnums=1)
    _allclose(jax.vmap(scaled, in_axes=(0, None))(_x(3), 2), 2 * _x(3))


def test_vmap_in_axes_as_custom_pytree_prefix():
    from typing import NamedTuple

    class Pair(NamedTuple):
        a: object
        b: object
    p = Pair(_x(4, 2), _x(2))
    out = jax.vmap(lambda p: p.a + p.b, in_axes=(Pair(0, None),))(p)
    _allclose(out, p.a + p.b)


def test_nested_vmap_outer_product():
    x, y = _x(3), _x(4)
    out = jax.vmap(jax.vmap(lambda a, b: a * b, in_axes=(None, 0)), in_axes=(0, None))(x, y)
    _allclose(out, np.outer(x, y))
    mm = jax.vmap(jax.vmap(jnp.dot, in_axes=(None, 1), out_axes=0), in_axes=(0, None), out_axes=1)
    a, b = _x(2, 5), _x(5, 3)
    _allclose(mm(a, b), (a @ b).T)


def test_vmap_of_grad_gives_per_example_gradients():
    w = _x(3)
    xs = _x(5, 3)
    loss = lambda w, x: jnp.tanh(jnp.dot(w, x)) ** 2
    per_ex = jax.vmap(jax.grad(loss), in_axes=(None, 0))(w, xs)
    expected = np.stack([np.asarray(jax.grad(loss)(w, x)) for x in xs])
    _allclose(per_ex, expected)


def test_grad_of_vmap_and_jit_of_grad_of_vmap():
    f = lambda x: jnp.sin(x) * x
    g = jax.jit(jax.grad(lambda x: jnp.sum(jax.vmap(f)(x))))
    x = _x(6)
    _allclose(g(x), np.cos(x) * x + np.sin(x))


# --- jit ---------------------------------------------------------------------------------------------------------
def test_jit_static_argnums_and_argnames():
    calls = []

    def f(x, n, *, mode="sum"):
        calls.append(n)
        y = x ** n
        return jnp.sum(y) if mode == "sum" else -jnp.sum(y)
    jf = jax.jit(f, static_argnums=1, static_argnames="mode")
    x = _x(4)
    _allclose(jf(x, 2), np.sum(x ** 2))
    _allclose(jf(x, 3, mode="neg"), -np.sum(x ** 3))
    jf(x, 2)
    assert calls == [2, 3]
    assert jf._cache_size() == 2
    jg = jax.jit(f, static_argnames=("n",))
    _allclose(jg(x, n=2), np.sum(x ** 2))


def test_jit_retraces_on_new_shapes_and_weak_types():
    traces = []

    def f(x):
        traces.append((x.shape, x.dtype, x.weak_type))
        return x * 2
    jf = jax.jit(f)
    jf(np.ones(3, np.float32))
    jf(np.ones(3, np.float32) * 5)
    assert jf._cache_size() == 1
    jf(np.ones(4, np.float32))
    assert jf._cache_size() == 2
    jf(1.0)
    r = jf(jnp.float32(1.0))
    assert jf._cache_size() == 4, "a weakly typed Python float and a strong float32 trace separately"
    assert not r.weak_type and jf(1.0).weak_type
    jf(np.ones(3, np.int32))
    assert jf._cache_size() == 5 and len(traces) == 5


def test_jit_retraces_when_x64_changes():
    f = jax.jit(lambda x: x + jnp.ones(()))
    x = jnp.asarray(np.float32(1))
    assert f(x).dtype == np.float32 and f(x).dtype == np.float32
    with x64_enabled(True):
        assert f(x).dtype == np.float64 and f(np.float32(1)).dtype == np.float64
    assert f(x).dtype == np.float32


def test_jit_lower_as_text_and_compile():
    jf = jax.jit(lambda x: jnp.sin(x) + 1.0)
    x = _x(3)
    lowered = jf.lower(x)
    text = lowered.as_text()
    assert "sin" in text and "f32[3]" in text
    compiled = lowered.compile()
    _allclose(compiled(x), np.sin(x) + 1)


def test_jit_pytree_outputs_constants_and_python_scalar_results():
    big = _x(10)
    jf = jax.jit(lambda d: {"y": d["x"] + jnp.asarray(big).sum(), "c": 1.0})
    out = jf({"x": _x(2)})
    _allclose(out["y"], _x(2) + big.sum(), 1e-4)
    assert float(out["c"]) == 1.0


def test_jit_of_jit_vmap_of_jit_and_grad_of_jit_stage_pjit():
    inner = jax.jit(lambda x: jnp.sin(x) * 2)
    outer = jax.jit(lambda x: inner(x) + 1)
    x = _x(4)
    _allclose(outer(x), np.sin(x) * 2 + 1)
    assert "pjit" in str(jax.make_jaxpr(outer)(x))
    _allclose(jax.vmap(inner)(_x(3, 4)), np.sin(_x(3, 4)) * 2)
    _allclose(jax.grad(lambda x: jnp.sum(inner(x)))(x), 2 * np.cos(x))
    _allclose(jax.jit(jax.grad(lambda x: jnp.sum(outer(x) ** 2)))(x), 2 * (np.sin(x) * 2 + 1) * 2 * np.cos(x), 1e-4)
    twice = jax.jit(lambda x, y: inner(x) + 10 * inner(y))  # one body inlined twice into the compiled program
    _allclose(twice(x, x + 1), np.sin(x) * 2 + 20 * np.sin(x + 1))


def test_pjit_under_every_transformation():
    inner = jax.jit(lambda x, y: (x * y, jnp.sin(x)))
    x, y, t = _x(3), _x(3, seed=1), _x(3, seed=2)
    (a, b), (ta, tb) = jax.jvp(inner, (x, y), (t, t))
    _allclose(ta, t * y + x * t)
    _allclose(tb, np.cos(x) * t)
    ct_x, ct_y = jax.vjp(inner, x, y)[1]((np.ones(3, np.float32), np.ones(3, np.float32)))
    _allclose(ct_x, y + np.cos(x))
    _allclose(ct_y, x)
    bx, by = jax.vmap(inner, in_axes=(0, None))(_x(2, 3), y)
    _allclose(bx, _x(2, 3) * y)
    y_lin, f_jvp = jax.linearize(lambda x: inner(x, y)[1], x)
    _allclose(f_jvp(t), np.cos(x) * t)
    _allclose(jax.hessian(lambda x: jnp.sum(inner(x, x)[0]))(x), 2 * np.eye(3))


def test_eval_shape():
    out = jax.eval_shape(lambda x, y: (x @ y, x.sum()), jax.ShapeDtypeStruct((3, 4), np.float32), _x(4, 2))
    assert out[0].shape == (3, 2) and out[0].dtype == np.float32
    assert out[1].shape == ()


# --- make_jaxpr --------------------------------------------------------------------------------------------------
def _one_line(text: str) -> str:
    return " ".join(text.split())


def test_make_jaxpr_prints_like_jax():
    text = str(jax.make_jaxpr(lambda x: jnp.sin(x))(jnp.ones(3)))
    assert _one_line(text) == "{ lambda ; a:f32[3]. let b:f32[3] = sin a in (b,) }"
    text = _one_line(str(jax.make_jaxpr(lambda x, y: (lax.mul(x, y), lax.neg(y)))(np.float32(1), np.float32(2))))
    assert text == "{ lambda ; a:f32[] b:f32[]. let c:f32[] = mul a b d:f32[] = neg b in (c, d) }"


def test_make_jaxpr_shows_literals_params_and_nested_jaxprs():
    text = str(jax.make_jaxpr(lambda x: lax.reduce_sum(x * 2.0, (0,)))(np.ones((2, 3), np.float32)))
    assert "reduce_sum[axes=(0,)]" in text
    text = str(jax.make_jaxpr(lambda x: lax.cond(x > 0, jnp.sin, jnp.cos, x))(1.0))
    assert "cond[" in text and "sin" in text and "cos" in text


def test_make_jaxpr_of_grad_is_staged_eagerly():
    text = str(jax.make_jaxpr(jax.grad(jnp.sin))(1.0))
    assert "cos" in text and text.startswith("{ lambda ; a:f32[]. let")


def test_jit_results_match_eager_for_weak_scalars():
    r = jax.jit(lambda x: x * 2)(3)
    assert r.dtype == dtypes.default_int() and r.weak_type
    assert_close(jax.jit(lambda x: x + 1.5)(np.float32(1)), np.float32(2.5))


def test_vmap_of_dot_with_one_batched_side_needs_no_transpose():
    # JAX's testNestedBatchingMatMat: the batch axis stays a free dimension of dot_general.
    matvec = jax.vmap(jnp.vdot, in_axes=(0, None))
    matmat = jax.vmap(matvec, in_axes=(None, 1), out_axes=1)
    a, b = np.random.RandomState(0).randn(4, 3), np.random.RandomState(1).randn(3, 2)
    np.testing.assert_allclose(matmat(a, b), a @ b, rtol=1e-5)
    assert len(jax.make_jaxpr(matmat)(a, b).jaxpr.eqns) == 1
    c = np.random.RandomState(2).randn(3, 2, 4).astype(np.float32)
    f = jax.vmap(lambda x: lax.dot_general(x, c, (((0,), (0,)), ((), ()))), in_axes=1, out_axes=-1)
    x = np.random.RandomState(3).randn(3, 5, 2).astype(np.float32)
    np.testing.assert_allclose(f(x), np.stack([np.tensordot(x[:, k], c, (0, 0)) for k in range(5)], -1),
                               rtol=1e-5, atol=1e-5)


def test_eval_shape_shares_jits_trace_and_takes_duck_typed_arrays():
    import types
    traces = []

    def f(x):
        traces.append(1)
        return x * 2

    x = np.arange(8)
    jax.eval_shape(f, x)
    jax.eval_shape(f, x)
    jax.jit(f)(x)
    assert len(traces) == 1  # one trace, for eval_shape and jit alike

    class Duck:
        shape, dtype = (3, 4), np.dtype(np.float32)

    assert jax.eval_shape(lambda a: a.sum(0), Duck()).shape == (4,)
    closed = jax.make_jaxpr(lambda v: v + 2.0)(types.SimpleNamespace(shape=(2,), dtype=np.dtype(np.int32)))
    assert closed.in_avals[0].shape == (2,) and closed.in_avals[0].dtype == np.int32
    assert jax.jit(lambda a: a @ a.T).lower(Duck()).compile()(np.ones((3, 4), np.float32)).shape == (3, 3)
    with pytest.raises(TypeError):
        jax.eval_shape(lambda a: a, object())


@pytest.mark.parametrize("transform", [jax.grad, jax.jacfwd, jax.jacrev])
def test_derivative_wrappers_keep_the_signature_for_static_argnames(transform):
    @jax.jit(static_argnames=["flag"])  # `flag` passed by position must still be static
    @transform
    def f(x, flag):
        return x if flag else jnp.zeros_like(x)

    assert float(f(1.0, False)) == 0.0 and float(f(1.0, True)) == 1.0
    assert transform(f.__wrapped__).__name__ == "f"


@pytest.mark.parametrize("transform", [jax.grad, jax.jacfwd, jax.jacrev])
def test_derivatives_of_weakly_typed_inputs_are_weakly_typed(transform):
    assert transform(lambda x: x)(1.0).weak_type  # the seed/basis is as weak as the value it differentiates
    assert transform(lambda x: x * 2)(1.0).weak_type
    assert not transform(lambda x: x)(jnp.float32(1.0)).weak_type


def test_jit_trace_cache_depends_on_the_named_axes_in_scope():
    g = jax.jit(lambda: lax.axis_size("i"))
    for n in (2, 3):  # the second vmap must not reuse the trace made under an axis of size 2
        assert int(jax.vmap(g, axis_name="i", axis_size=n, out_axes=None)()) == n
    h = jax.jit(lambda x: lax.psum(x, "i"))
    np.testing.assert_array_equal(jax.vmap(h, axis_name="i")(np.ones(2)), [2, 2])
    np.testing.assert_array_equal(jax.vmap(h, axis_name="i")(np.ones(3)), [3, 3, 3])


def test_operations_on_float0_arrays_raise_jaxs_error():
    zeros = jax.grad(lambda x: x + 0.0, allow_int=True)(1)
    assert zeros.dtype == jax.dtypes.float0
    for op in (lambda: zeros + jnp.zeros(()), lambda: lax.add(zeros, jnp.zeros(())), lambda: jnp.sin(zeros)):
        with pytest.raises(TypeError, match="float0s do not support any operations by design"):
            op()
    assert zeros.reshape((1,)).dtype == jax.dtypes.float0  # dtype-agnostic numpy methods still work


def test_inner_jit_traced_inside_another_is_reused_at_top_level():
    traces = []
    inner = jax.jit(lambda s: traces.append(1) or 2 * s)
    outer = jax.jit(lambda x: inner(inner(x)) + x)
    state = jnp.arange(5, dtype=jnp.uint32)
    outer(state)
    outer(state)
    inner(state)
    assert len(traces) == 1


def test_numpy_on_a_tracer_is_an_error_even_with_a_known_value():
    from portax.errors import TracerArrayConversionError
    with pytest.raises(TracerArrayConversionError):  # (np.exp of the primal would give a zero gradient)
        jax.grad(lambda x: np.exp(x).sum())(np.zeros(3))
    with pytest.raises(TracerArrayConversionError):
        jax.jvp(lambda x: np.sin(x), (1.0,), (1.0,))


def test_grad_through_a_jit_with_complex_outputs():
    f = lambda x: jax.jit(lambda a, b: (a, b))(x, lax.conj(x))[0]  # noqa: E731  (an unused complex output)
    assert float(jax.grad(f)(3.0)) == 1.0
    g = lambda x: jax.jit(lambda a: (a * 2, lax.complex(a, 3 * a)))(x)[1].imag  # noqa: E731
    assert float(jax.grad(g)(3.0)) == 3.0


def test_constants_made_under_jit_are_staged_not_placed_on_a_device():
    """As in JAX, constants created while jit traces (jnp.zeros, jnp.asarray of numpy, lax.full, the seed and zeros
    of grad) are tracers of the jaxpr, not Arrays on the default device: they go where the computation runs."""
    seen = []

    def f(x):
        seen.extend([jnp.zeros(3), jnp.asarray(np.ones(2)), lax.full((), 1.0), jnp.array(2.0)])
        return x * 2.0

    jax.jit(f)(1.0)
    assert all(isinstance(v, jax.core.trace.Tracer) for v in seen), [type(v) for v in seen]
    closed = jax.make_jaxpr(jax.grad(lambda x: jnp.sum(jnp.sin(x) * jnp.ones(3))))(np.ones(3, np.float32))
    assert not any(hasattr(c, "_buf") for c in closed.consts), [type(c) for c in closed.consts]
    g = jax.jit(jax.grad(lambda x: jnp.sum(jnp.sin(x) * jnp.ones(3))))
    _allclose(g(np.ones(3, np.float32)), np.cos(np.ones(3)))
