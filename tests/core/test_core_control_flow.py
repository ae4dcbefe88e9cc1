"""Control flow (the cond, while and scan primitives through lax.cond/switch/while_loop/fori_loop/scan/map)
under jit, vmap (including batched predicates), jvp, grad and their compositions; Python control flow on
concrete values; concretization and leaked-tracer errors."""
import numpy as np
import pytest

import portax as jax
import portax.numpy as jnp
from portax import lax
from portax.errors import ConcretizationTypeError, UnexpectedTracerError

from core_helpers import x64_enabled


def _x(*shape, seed=0):
    return np.random.RandomState(seed).uniform(-1, 1, shape).astype(np.float32)


def _allclose(a, b, tol=1e-5):
    np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=tol, atol=tol)


def _fd_grad(f, x, *rest, eps=1e-6):
    """Central finite differences of ``f(x, *rest)`` in ``x``, evaluated in float64."""
    x = np.asarray(x, np.float64)
    rest = [np.asarray(r, np.float64) if np.asarray(r).dtype.kind == "f" else r for r in rest]
    g = np.zeros_like(x)
    with x64_enabled():
        for i in np.ndindex(x.shape):
            e = np.zeros_like(x)
            e[i] = eps
            g[i] = (float(f(x + e, *rest)) - float(f(x - e, *rest))) / (2 * eps)
    return g


# ============================================= cond / switch ====================================================
def branchy(p, x, y):
    return lax.cond(p, lambda a, b: (jnp.sin(a) * b, a + b), lambda a, b: (a * b, a - b), x, y)


def test_cond_selects_branch_with_pytrees():
    x, y = _x(3), _x(3, seed=1)
    t = branchy(True, x, y)
    f = branchy(False, x, y)
    _allclose(t[0], np.sin(x) * y)
    _allclose(f[1], x - y)
    d = lax.cond(1, lambda d: {"s": d["a"] * 2}, lambda d: {"s": d["a"]}, {"a": x})
    _allclose(d["s"], 2 * x)
    assert float(lax.cond(np.float32(0.0), lambda: 1.0, lambda: 2.0)) == 2.0


def test_switch_clamps_index():
    branches = [lambda x: x, lambda x: x * 2, lambda x: x * 3]
    assert [float(lax.switch(i, branches, 1.0)) for i in (-5, 0, 1, 2, 7)] == [1, 1, 2, 3, 3]
    jitted = jax.jit(lambda i, x: lax.switch(i, branches, x))
    assert [float(jitted(i, 1.0)) for i in (-1, 1, 9)] == [1, 2, 3]


def test_cond_under_jit_with_traced_predicate():
    f = jax.jit(lambda x: lax.cond(x.sum() > 0, lambda v: v * 2, lambda v: -v, x))
    _allclose(f(np.ones(3, np.float32)), 2 * np.ones(3))
    _allclose(f(-np.ones(3, np.float32)), np.ones(3))


@pytest.mark.parametrize("batched", ["pred", "operand", "both"])
def test_vmap_of_cond(batched):
    ps = np.array([True, False, True, False])
    xs = _x(4, 3)
    f = lambda p, x: lax.cond(p, lambda v: jnp.sin(v), lambda v: v * 3.0, x)
    in_axes = {"pred": (0, None), "operand": (None, 0), "both": (0, 0)}[batched]
    p_args = ps if in_axes[0] == 0 else ps[0]
    x_args = xs if in_axes[1] == 0 else xs[0]
    out = jax.vmap(f, in_axes=in_axes)(p_args, x_args)
    expected = [f(ps[i] if in_axes[0] == 0 else ps[0], xs[i] if in_axes[1] == 0 else xs[0]) for i in range(4)]
    _allclose(out, np.stack([np.asarray(e) for e in expected]))


def test_vmap_of_switch_with_batched_index():
    idx = np.array([0, 2, 1, 5], np.int32)
    branches = [lambda x: x + 1, lambda x: x * 10, lambda x: -x]
    out = jax.vmap(lambda i, x: lax.switch(i, branches, x))(idx, np.arange(4, dtype=np.float32))
    _allclose(out, [1, -1, 20, -3])


def test_jvp_and_grad_of_cond():
    x, y = _x(3), _x(3, seed=1)
    f = lambda x: jnp.sum(branchy(x[0] > 0, x, y)[0])
    for xv in (np.abs(x), -np.abs(x)):
        _allclose(jax.grad(f)(xv), _fd_grad(f, xv), 1e-3)
    t = _x(3, seed=2)
    _, tan = jax.jvp(lambda x: branchy(True, x, y)[0], (x,), (t,))
    _allclose(tan, np.cos(x) * y * t)


def test_grad_of_cond_with_traced_predicate_under_jit():
    f = jax.jit(jax.grad(lambda x: lax.cond(x > 0, lambda v: v ** 3, lambda v: jnp.sin(v), x)))
    assert float(f(2.0)) == pytest.approx(12.0)
    assert float(f(-1.0)) == pytest.approx(np.cos(-1.0), rel=1e-6)


def test_grad_of_vmap_of_cond_with_batched_predicate():
    xs = _x(5)
    loss = lambda xs: jnp.sum(jax.vmap(lambda x: lax.cond(x > 0, lambda v: v ** 2, lambda v: -v, x))(xs))
    _allclose(jax.grad(loss)(xs), np.where(xs > 0, 2 * xs, -1))


def test_grad_of_vmap_of_cond_ignores_the_branch_not_taken():
    # JAX's testCondGradVmapNan: sqrt's infinite derivative at 0, in the branch not taken, gives no NaN
    safe = lambda x: lax.cond(x < 1e-3, lambda _: 1e-3, lambda _: jnp.sqrt(x), ())
    x = np.array([0.0, 0.0, 4.0], np.float32)
    np.testing.assert_array_equal(np.asarray(jax.grad(lambda x: jax.vmap(safe)(x).sum())(x)), [0.0, 0.0, 0.25])
    f = lambda i, x: lax.switch(i, [jnp.sqrt, jnp.log, lambda v: 2 * v], x)
    g = jax.grad(lambda x: jax.vmap(f)(np.array([0, 1, 2, 7]), x).sum())(np.array([4.0, 0.0, 0.0, 0.0], np.float32))
    np.testing.assert_array_equal(np.asarray(g), [0.25, np.inf, 2.0, 2.0])


def test_grad_of_switch_shares_residual_slots_between_branches():
    # JAX's testSwitchResidualsMerge: residuals of one type share slots (as many as the branch needing most)
    b1 = [jnp.sin, jnp.cos]
    b2 = b1 + [jnp.sinh]
    b3 = b2 + [lambda x: jnp.sin(x) + jnp.cos(x)]
    sizes = []
    for bs in (b1, b2, b3):
        jaxpr = jax.make_jaxpr(jax.grad(lambda x, i: lax.switch(i + 1, bs, x)))(0.0, 0)
        fwd, bwd = [e for e in jaxpr.eqns if e.primitive.name == "cond"]
        sizes.append((len(fwd.params["branches"][0].jaxpr.outvars), len(bwd.params["branches"][0].jaxpr.invars)))
        grads = [float(jax.grad(lambda x: lax.switch(i, bs, x))(0.7)) for i in range(len(bs))]
        _allclose(grads, [np.cos(0.7), -np.sin(0.7), np.cosh(0.7), np.cos(0.7) - np.sin(0.7)][:len(bs)])
    assert sizes[0] == sizes[1] and sizes[2] == (sizes[1][0] + 1, sizes[1][1] + 1)


def test_grad_wrt_value_closed_over_by_cond_branch():
    def f(w):
        return lax.cond(True, lambda x: x * w, lambda x: x, 3.0)
    assert float(jax.grad(f)(2.0)) == 3.0


def test_cond_errors():
    with pytest.raises(TypeError, match="(?s)cond branches must have equal output types.*The output of true_fun has "
                       r"type float32\[\] but the corresponding output of false_fun has type int32\[\], so the dtypes"):
        lax.cond(True, lambda x: x, lambda x: x.astype(jnp.int32), 1.0)
    with pytest.raises(TypeError, match="(?s)cond branch outputs must have the same pytree structure.*true_fun output "
                       "is a <class 'tuple'> but false_fun output is a pytree leaf"):
        lax.cond(True, lambda x: (x, x), lambda x: x, 1.0)
    with pytest.raises(TypeError, match=r"Pred must be a scalar, got \[ True False\] of shape \(2,\)"):
        lax.cond(np.array([True, False]), lambda: 1.0, lambda: 2.0)
    with pytest.raises(TypeError, match="cond predicate is None"):
        lax.cond(None, lambda: 1.0, lambda: 2.0)
    with pytest.raises(TypeError, match="Pred must be a scalar, got foo of type <class 'str'>"):
        lax.cond("foo", lambda: 1.0, lambda: 2.0)
    with pytest.raises(TypeError, match="Pred type must be either boolean or number, got <function"):
        lax.cond(lambda: True, lambda: 1.0, lambda: 2.0)
    with pytest.raises(TypeError, match="lax.cond: true_fun and false_fun arguments should be callable"):
        lax.cond(True, 1, 2)


def test_cond_operand_keyword_and_four_argument_form():
    assert float(lax.cond(True, lambda x: x + 1, lambda x: x, operand=1.0)) == 2.0
    assert float(lax.cond(False, 1.0, lambda x: x + 1, 5.0, lambda x: x * 2)) == 10.0
    with pytest.raises(TypeError, match="if 'operand' keyword is passed"):
        lax.cond(True, lambda x: x, lambda x: x, 1.0, operand=2.0)


def test_switch_errors_and_single_branch():
    with pytest.raises(TypeError, match="Index type must be an integer, got foo."):
        lax.switch("foo", [lambda: 1.0, lambda: 2.0])
    with pytest.raises(TypeError, match=r"Branch index must be scalar, got \(1.0, 1.0\) of shape \(2,\)."):
        lax.switch((1.0, 1.0), [lambda: 1.0, lambda: 2.0])
    with pytest.raises(TypeError, match="Index type must be an integer, got True as bool"):
        lax.switch(True, [lambda: 1.0, lambda: 2.0])
    with pytest.raises(ValueError, match="Empty branch sequence"):
        lax.switch(0, [])
    with pytest.raises(TypeError, match="lax.switch: branches argument should be a sequence of callables"):
        lax.switch(0, [1])
    with pytest.raises(TypeError, match=r"(?s)switch branches must have equal output types.*The output of branch 0 "
                       r"at path \['a'\] has type float32\[1\] but the corresponding output of branch1 has type"):
        lax.switch(1, [lambda: {"a": jnp.ones(1)}, lambda: {"a": jnp.float32(1)}])
    assert float(lax.switch(5, [lambda x: x * 3], 2.0)) == 6.0  # one branch: called directly


# ============================================= while_loop / fori_loop ============================================
def collatz_steps(n):
    def body(c):
        n, k = c
        return lax.select(n % 2 == 0, n // 2, 3 * n + 1), k + 1
    return lax.while_loop(lambda c: c[0] != 1, body, (n, 0))[1]


def test_while_loop_eager_and_jit():
    assert int(collatz_steps(np.int32(6))) == 8
    assert int(jax.jit(collatz_steps)(np.int32(27))) == 111


def test_while_loop_pytree_carry():
    out = lax.while_loop(lambda c: c["i"] < 4, lambda c: {"i": c["i"] + 1, "x": c["x"] * 2.0},
                         {"i": 0, "x": np.ones(2, np.float32)})
    assert int(out["i"]) == 4
    _allclose(out["x"], [16, 16])


def test_vmap_of_while_with_batched_predicate():
    ns = np.array([6, 1, 27, 7], np.int32)
    out = jax.vmap(collatz_steps)(ns)
    assert list(np.asarray(out)) == [int(collatz_steps(n)) for n in ns]
    out = jax.jit(jax.vmap(collatz_steps))(ns)
    assert list(np.asarray(out)) == [8, 0, 111, 16]


def test_vmap_of_while_with_unbatched_predicate_and_batched_carry():
    f = lambda x: lax.while_loop(lambda c: c[0] < 3, lambda c: (c[0] + 1, c[1] * 2.0), (0, x))[1]
    _allclose(jax.vmap(f)(_x(4)), 8 * _x(4))


def test_vmap_of_while_with_batched_bound_in_cond_consts():
    f = lambda x, limit: lax.while_loop(lambda c: c[0] < limit, lambda c: (c[0] + 1, c[1] + x), (0, 0.0))[1]
    out = jax.vmap(f)(np.ones(3, np.float32), np.array([1, 3, 0], np.int32))
    _allclose(out, [1, 3, 0])


def test_while_carry_passed_on_unchanged_stays_unbatched():
    # JAX's test_while_readonly_carry_optimization: w is read-only, so a batched predicate does not batch it
    def foo(w, x, c_max):
        _, x, w = lax.while_loop(lambda v: v[0] < c_max, lambda v: (v[0] + 1, v[1] @ v[2], v[2]), (0, x, w))
        return w, x
    w = np.ones((2, 2), np.float32)
    for f in (jax.vmap(foo, in_axes=(None, 0, 0), out_axes=(None, 0)),
              jax.jit(jax.vmap(foo, in_axes=(None, 0, 0), out_axes=(None, 0)))):
        w_out, x_out = f(w, np.ones((4, 2), np.float32), np.arange(4))
        _allclose(w_out, w)
        _allclose(x_out, np.array([1.0, 2.0, 4.0, 8.0])[:, None] * np.ones(2))
    jaxpr = jax.make_jaxpr(foo)(w, np.ones(2, np.float32), 3)
    assert jaxpr.eqns[0].params["body_nconsts"] == 1 and len(jaxpr.eqns[0].outvars) == 2
    _allclose(jax.jvp(lambda w: foo(w, np.ones(2, np.float32), 2)[1], (w,), (w,))[1], [8.0, 8.0])


def test_scan_output_taken_unchanged_from_xs_is_forwarded():
    # JAX's test_scan_input_to_output_forwarding: the loop does not copy xs to ys
    f = lambda c, x: (c + 1, x)
    jaxpr = jax.make_jaxpr(lambda x: lax.scan(f, 0, x))(jnp.arange(3.0))
    assert len(jaxpr.eqns[0].params["jaxpr"].jaxpr.outvars) == 1
    for reverse in (False, True):
        carry, ys = lax.scan(f, 0, jnp.arange(3.0), reverse=reverse)
        assert int(carry) == 3 and np.asarray(ys).tolist() == [0.0, 1.0, 2.0]
    g = jax.grad(lambda x: lax.scan(lambda c, x: (c * x, (x, c)), 1.0, x)[1][0].sum() +
                 lax.scan(lambda c, x: (c * x, x), 1.0, x)[0])
    _allclose(g(jnp.arange(1.0, 4.0)), [7.0, 4.0, 3.0])


def test_axis_index_inside_control_flow_of_unbatched_values():
    # JAX's testWhileLoopAxisIndexBatched: the loop's values are not batched, its predicate uses the vmapped axis
    fun = lambda x: lax.while_loop(lambda v: v < lax.axis_index("i"), lambda v: v + 2, x)
    for f in (fun, jax.jit(fun)):
        out = jax.vmap(lambda _, x: f(x), axis_name="i", in_axes=(0, None))(np.zeros(4), 0)
        assert np.asarray(out).tolist() == [0, 2, 2, 4]
    cond = lambda _, x: lax.cond(x > 0, lambda: lax.axis_index("i"), lambda: 0)
    assert np.asarray(jax.vmap(cond, axis_name="i", in_axes=(0, None))(np.zeros(3), 1)).tolist() == [0, 1, 2]
    scan = lambda _, x: lax.scan(lambda c, _: (c + lax.axis_index("i"), None), x, None, length=2)[0]
    assert np.asarray(jax.vmap(scan, axis_name="i", in_axes=(0, None))(np.zeros(3), 1)).tolist() == [1, 3, 5]
    # a nested pmap's own axis of the same name is not the vmap's
    inner = jax.jit(lambda v: jax.pmap(lambda w: lax.psum(w, "i"), "i")(v))
    out = jax.vmap(lambda _, x: inner(x), axis_name="i", in_axes=(0, None))(np.zeros(3), np.ones((1, 2)))
    _allclose(out, np.ones((3, 1, 2)))


def test_jvp_of_while_loop():
    f = lambda x: lax.while_loop(lambda c: c[0] < 3, lambda c: (c[0] + 1, jnp.sin(c[1])), (0, x))[1]
    x, t = np.float32(0.7), np.float32(1.0)
    y, ty = jax.jvp(f, (x,), (t,))
    expected = np.cos(x) * np.cos(np.sin(x)) * np.cos(np.sin(np.sin(x)))
    assert float(ty) == pytest.approx(float(expected), rel=1e-5)
    _allclose(jax.jacfwd(f)(x), expected)


def test_reverse_mode_of_while_loop_raises_jax_error():
    f = lambda x: lax.while_loop(lambda c: c[0] < 3, lambda c: (c[0] + 1, c[1] * x), (0, 1.0))[1]
    with pytest.raises(ValueError, match="Reverse-mode differentiation does not work for lax.while_loop"):
        jax.grad(f)(2.0)
    assert float(jax.jacfwd(f)(2.0)) == pytest.approx(12.0)


def test_linearize_of_while_loop_and_grad_through_its_integer_result():
    f = lambda x: lax.while_loop(lambda c: c[0] < 3, lambda c: (c[0] + 1, c[1] * x), (0, 1.0))[1]
    y, f_jvp = jax.linearize(f, 2.0)
    assert float(y) == 8.0 and float(f_jvp(1.0)) == pytest.approx(12.0)
    steps = lambda x: x * lax.while_loop(lambda k: k < 4, lambda k: k + 1, 0)
    assert float(jax.grad(steps)(3.0)) == 4.0
    assert float(jax.grad(jax.jit(steps))(3.0)) == 4.0
    with pytest.raises(ValueError, match="Reverse-mode differentiation does not work"):
        jax.grad(jax.jit(f))(2.0)


def test_fori_loop_static_bounds_is_reverse_differentiable():
    f = lambda x: lax.fori_loop(0, 4, lambda i, v: v * x + i, 1.0)
    x = 1.5
    # v0 = 1; v_{i+1} = v_i x + i  ->  x^4 + x^2 + 2x + 3
    assert float(f(x)) == pytest.approx(x ** 4 + x ** 2 + 2 * x + 3)
    assert float(jax.grad(f)(x)) == pytest.approx(4 * x ** 3 + 2 * x + 2)
    assert float(jax.jit(jax.grad(f))(x)) == pytest.approx(4 * x ** 3 + 2 * x + 2)


def test_fori_loop_dynamic_bounds():
    f = jax.jit(lambda n, x: lax.fori_loop(0, n, lambda i, v: v + x, 0.0))
    assert float(f(5, 2.0)) == 10.0
    assert float(jax.jvp(lambda x: f(3, x), (2.0,), (1.0,))[1]) == 3.0
    with pytest.raises(ValueError, match="Reverse-mode differentiation does not work"):
        jax.grad(lambda x: f(3, x))(2.0)


def test_fori_loop_empty_range_returns_init():
    assert float(lax.fori_loop(3, 1, lambda i, v: v + 1.0, 5.0)) == 5.0


def test_fori_loop_bound_types_and_index_as_jax():
    with pytest.raises(TypeError, match="lower and upper arguments to fori_loop must have equal types, got int16 and "
                       "int32"):
        lax.fori_loop(np.int16(0), jnp.int32(10), lambda i, c: c, jnp.float32(7))
    with pytest.raises(TypeError, match="lax.fori_loop: body_fun argument should be callable."):
        lax.fori_loop(0, 1, 42, 0)
    with pytest.raises(ValueError, match="Can only use `unroll` in `fori_loop` if the loop bounds are statically"):
        jax.jit(lambda n: lax.fori_loop(np.int16(0), n, lambda i, c: c + 1, jnp.float32(10), unroll=3))(10)
    # static bounds: the index is a weakly typed int (the Python lower bound), so it does not promote a float carry
    with jax.numpy_dtype_promotion("strict"):
        out = lax.fori_loop(0, 3, lambda i, x: x * (i + 1), jnp.float32(2.0))
    assert out.dtype == np.float32 and float(out) == 12.0
    assert lax.fori_loop(np.int16(0), np.int16(3), lambda i, x: x + i, 0).dtype == np.int32


def test_while_loop_errors():
    with pytest.raises(TypeError, match=r"while_loop body function carry input and carry output must have equal "
                       r"types, but they differ:\n\nThe input carry c has type float32\[\] but the corresponding "
                       r"output carry component has type float32\[2\], so the shapes do not match."):
        lax.while_loop(lambda c: c < 3, lambda c: jnp.zeros(2), 0.0)
    with pytest.raises(TypeError, match=r"cond_fun must return a boolean scalar, but got output type\(s\) "
                       r"\[ShapedArray\(float32\[\], weak_type=True\)\]."):
        lax.while_loop(lambda c: c, lambda c: c + 1.0, 0.0)
    with pytest.raises(TypeError, match=r"cond_fun must return a boolean scalar, but got pytree "
                       r"PyTreeDef\(\(\*, \*\)\)"):
        lax.while_loop(lambda c: (c, c), lambda c: c, 0.0)
    with pytest.raises(TypeError, match="(?s)same pytree structure.*The input carry c is a <class '.*ShapedArray'> "
                       "but the corresponding component of the carry output is a <class 'tuple'>"):
        lax.while_loop(lambda c: True, lambda c: (1.0, 1.0), 0.0)
    with pytest.raises(TypeError, match="lax.while_loop: body_fun and cond_fun arguments should be callable"):
        lax.while_loop(1, 2, 0)


# ============================================= scan / map ==========================================================
def cumsum_scan(xs, reverse=False):
    return lax.scan(lambda c, x: (c + x, c + x), 0.0, xs, reverse=reverse)


@pytest.mark.parametrize("reverse", [False, True])
def test_scan_matches_cumsum(reverse):
    xs = _x(6)
    carry, ys = cumsum_scan(xs, reverse)
    expected = np.cumsum(xs[::-1])[::-1] if reverse else np.cumsum(xs)
    _allclose(ys, expected)
    _allclose(carry, xs.sum())
    carry_j, ys_j = jax.jit(lambda xs: cumsum_scan(xs, reverse))(xs)
    _allclose(ys_j, expected)


def test_scan_pytrees_length_and_none():
    xs = {"a": _x(4, 2), "b": (_x(4), np.arange(4, dtype=np.int32))}

    def body(c, x):
        s, k = c
        return (s + x["a"] * x["b"][0], k + x["b"][1]), {"y": x["a"].sum()}
    (s, k), ys = lax.scan(body, (np.zeros(2, np.float32), 0), xs)
    _allclose(s, (xs["a"] * xs["b"][0][:, None]).sum(0))
    assert int(k) == 6
    _allclose(ys["y"], xs["a"].sum(1))
    c, ys = lax.scan(lambda c, _: (c * 2, None), 1.0, None, length=5)
    assert float(c) == 32.0 and ys is None


def test_scan_errors():
    with pytest.raises(ValueError, match="scan got values with different leading axis sizes: 3, 4."):
        lax.scan(lambda c, x: (c, x), 0.0, (np.ones(3), np.ones(4)))
    with pytest.raises(TypeError, match=r"The input carry c has type float32\[\] but the corresponding output carry "
                       r"component has type int32\[\], so the dtypes do not match"):
        lax.scan(lambda c, x: (c.astype(jnp.int32), x), 0.0, np.ones(3, np.float32))
    with pytest.raises(TypeError, match=r"(?s)  \* the input carry component x\[0\] is a <class 'dict'> with 1 child "
                       "but the corresponding component of the carry output is a <class 'dict'> with 2 children"):
        lax.scan(lambda x, _: (({"a": x[0]["a"], "b": x[0]["a"]},) * 2, None), ({"a": jnp.int32(0)},) * 2, None,
                 length=1)
    with pytest.raises(TypeError, match=r"with pytree metadata \('t',\).*with pytree metadata \('T',\)"):
        lax.fori_loop(0, 1, lambda i, x: {"T": x["t"]}, {"t": jnp.ones(1)})
    with pytest.raises(TypeError, match=r"scan body output must be a pair, got float32\[\]."):
        lax.scan(lambda c, x: np.float32(0.0), 0, jnp.arange(5.0))
    with pytest.raises(ValueError, match=r"scan got `length` argument of 5 which disagrees with leading axis sizes "
                       r"\[10\]."):
        lax.scan(lambda *args: args, 0, jnp.arange(10), length=5)
    with pytest.raises(ValueError, match="`unroll` must be a `bool` or a non-negative `int`."):
        lax.scan(lambda x, _: (x, x), 0, jnp.arange(5), unroll=-1)
    with pytest.raises(jax.errors.ConcretizationTypeError, match="The `length` argument to `scan` expects a concrete"):
        jax.jit(lambda n: lax.scan(lambda c, z: (c, z), 1.0, (), n))(3)
    with pytest.raises(jax.errors.ConcretizationTypeError, match="The `unroll` argument to `scan` expects a concrete"):
        jax.jit(lambda n: lax.scan(lambda c, z: (c, z), 1.0, (), 10, unroll=n))(True)
    with pytest.raises(TypeError, match="lax.scan: f argument should be a callable."):
        lax.scan(1, 0, 1)


def test_scan_unroll_bool_and_split_transpose():
    xs = _x(5)
    for kw in ({"unroll": True}, {"unroll": False}, {"unroll": 2}, {"_split_transpose": True}):
        c, ys = lax.scan(lambda c, x: (c + x, c * x), 0.0, xs, **kw)
        _allclose(ys, np.concatenate([[0.0], np.cumsum(xs)[:-1]]) * xs)


def rnn(w, h0, xs):
    def step(h, x):
        h = jnp.tanh(w * h + x)
        return h, h * 2.0
    return lax.scan(step, h0, xs)


def test_grad_of_scan_matches_finite_differences():
    xs = _x(5, 3)
    h0 = _x(3, seed=1)
    w = np.float32(0.7)
    loss = lambda w, h0, xs: jnp.sum(rnn(w, h0, xs)[1]) + jnp.sum(rnn(w, h0, xs)[0] ** 2)
    assert float(jax.grad(loss)(w, h0, xs)) == pytest.approx(float(_fd_grad(loss, w, h0, xs)), rel=1e-4)
    g_xs = jax.grad(loss, argnums=2)(w, h0, xs)
    _allclose(g_xs, _fd_grad(lambda xs, w, h0: loss(w, h0, xs), xs, w, h0), 1e-4)


def test_grad_of_reverse_scan_and_jit_of_grad():
    xs = _x(4)
    loss = lambda xs: jnp.sum(lax.scan(lambda c, x: (c * x + 1.0, c), 1.0, xs, reverse=True)[1])
    _allclose(jax.grad(loss)(xs), _fd_grad(loss, xs), 1e-4)
    _allclose(jax.jit(jax.grad(loss))(xs), jax.grad(loss)(xs))


def test_grad_of_scan_of_cond():
    def loss(w, xs):
        def step(c, x):
            c = lax.cond(x > 0, lambda c: c * w, lambda c: c + w, c)
            return c, c
        return jnp.sum(lax.scan(step, 1.0, xs)[1])
    xs = np.array([0.5, -0.2, 0.3, -0.1], np.float32)
    w = np.float32(1.3)
    assert float(jax.grad(loss)(w, xs)) == pytest.approx(float(_fd_grad(loss, w, xs)), rel=1e-5)
    assert float(jax.jit(jax.grad(loss))(w, xs)) == pytest.approx(float(jax.grad(loss)(w, xs)), rel=1e-5)


def test_jacfwd_and_jacrev_of_scan():
    xs = _x(4, 2)
    f = lambda h0: rnn(np.float32(0.5), h0, xs)[1].ravel()
    h0 = _x(2, seed=3)
    J = jax.jacfwd(f)(h0)
    assert J.shape == (8, 2)
    _allclose(J, jax.jacrev(f)(h0), 1e-5)
    eps = 1e-3
    fd = np.stack([(np.asarray(f(h0 + eps * e)) - np.asarray(f(h0 - eps * e))) / (2 * eps)
                   for e in np.eye(2, dtype=np.float32)], 1)
    _allclose(J, fd, 2e-3)


@pytest.mark.parametrize("batched", ["xs", "init", "consts"])
def test_vmap_of_scan(batched):
    ws = np.array([0.1, 0.5, 0.9], np.float32)
    h0s, xss = _x(3, 2, seed=1), _x(3, 4, 2, seed=2)
    in_axes = {"xs": (None, None, 0), "init": (None, 0, None), "consts": (0, None, None)}[batched]
    args = [a if ax == 0 else a[0] for a, ax in zip((ws, h0s, xss), in_axes)]
    out = jax.vmap(rnn, in_axes=in_axes)(*args)
    for i in range(3):
        ref = rnn(*[a[i] if ax == 0 else a for a, ax in zip(args, in_axes)])
        _allclose(out[0][i], ref[0])
        _allclose(out[1][i], ref[1])


def test_vmap_of_grad_of_scan_and_scan_over_non_leading_batch():
    xss = _x(3, 4, 2)
    loss = lambda w, xs: jnp.sum(rnn(w, np.zeros(2, np.float32), xs)[1])
    per_ex = jax.vmap(jax.grad(loss), in_axes=(None, 0))(np.float32(0.4), xss)
    _allclose(per_ex, [jax.grad(loss)(np.float32(0.4), x) for x in xss])
    out = jax.vmap(lambda xs: cumsum_scan(xs)[1], in_axes=1, out_axes=1)(_x(5, 3))
    _allclose(out, np.cumsum(_x(5, 3), 0))


def test_lax_map_and_batch_size():
    xs = _x(6, 2)
    f = lambda x: jnp.sum(x ** 2)
    _allclose(lax.map(f, xs), (xs ** 2).sum(1))
    _allclose(lax.map(f, xs, batch_size=3), (xs ** 2).sum(1))
    for batch_size in (4, 0, 10):  # a remainder, one vmap, a batch larger than the axis
        _allclose(lax.map(f, xs, batch_size=batch_size), (xs ** 2).sum(1))
    _allclose(jax.grad(lambda xs: jnp.sum(lax.map(f, xs)))(xs), 2 * xs)


# ============================================= Python control flow and errors ======================================
def absolute_value(x):
    if x > 0:
        return x
    return -x


def test_python_control_flow_under_grad_and_vmap_error():
    assert float(jax.grad(absolute_value)(-2.0)) == -1.0
    with pytest.raises(TypeError):
        jax.vmap(absolute_value)(np.ones(2, np.float32))


def test_concretization_error_under_jit_names_function_and_argument():
    with pytest.raises(ConcretizationTypeError) as info:
        jax.jit(absolute_value)(1.0)
    assert isinstance(info.value, TypeError)
    msg = str(info.value)
    assert "absolute_value" in msg and "x: f32[]" in msg
    assert msg.startswith("Attempted boolean conversion of traced array with shape bool[].")  # JAX's words


def test_jit_static_argument_allows_python_control_flow():
    f = jax.jit(lambda x, flag: x * 2 if flag else x, static_argnums=1)
    assert float(f(3.0, True)) == 6.0 and float(f(3.0, False)) == 3.0


def test_leaked_tracer_raises_unexpected_tracer_error():
    leaked = []

    @jax.jit
    def f(x):
        leaked.append(x)
        return x + 1
    f(1.0)
    with pytest.raises(UnexpectedTracerError):
        jnp.sin(leaked[0])
    with pytest.raises(UnexpectedTracerError):
        jax.jit(lambda y: y + leaked[0])(1.0)
    grads = []
    jax.grad(lambda x: grads.append(x) or x * 2)(1.0)
    with pytest.raises(UnexpectedTracerError):
        jnp.cos(grads[0])


# ============================================= every control-flow form under every transformation ===============
PROGRAMS = {
    "cond": (lambda x: lax.cond(x[0] > 0, lambda v: jnp.sin(v) * 2.0, lambda v: v ** 3, x), True),
    "switch": (lambda x: lax.switch(lax.argmax(x, 0, np.int32), [jnp.sin, jnp.cos, lambda v: v * v], x), True),
    "while_fixed_trips": (lambda x: lax.while_loop(lambda c: c[0] < 3, lambda c: (c[0] + 1, jnp.sin(c[1]) + x),
                                                   (0, x))[1], False),
    "while_data_dependent": (lambda x: lax.while_loop(lambda c: jnp.sum(c) < 10.0, lambda c: c * 1.5 + 1.0, x), False),
    "fori_static": (lambda x: lax.fori_loop(0, 3, lambda i, v: v * x + i, x), True),
    "scan": (lambda x: lax.scan(lambda c, xi: (c * xi + jnp.sin(c), c ** 2), 1.0, x), True),
    "scan_reverse_pytree": (lambda x: lax.scan(lambda c, xi: ((c[0] + xi, c[1] * xi), {"y": c[0] * c[1]}),
                                               (0.5, 1.0), x, reverse=True), True),
    "map": (lambda x: lax.map(lambda v: jnp.sin(v) * v, x), True),
}


def _total(prog):
    return lambda x: sum(jnp.sum(leaf ** 2) for leaf in jax.tree.leaves(prog(x)))


XS = np.array([[0.3, -0.5, 0.8], [-0.4, 0.9, 0.1], [0.7, 0.2, -0.6]], np.float32)


@pytest.mark.parametrize("name", list(PROGRAMS))
def test_control_flow_under_jit_and_vmap(name):
    prog, _ = PROGRAMS[name]
    for x in XS:
        jax.tree.map(_allclose, jax.jit(prog)(x), prog(x))
    batched = jax.vmap(prog)(XS)
    for i, x in enumerate(XS):
        jax.tree.map(lambda b, e: _allclose(np.asarray(b)[i], e), batched, prog(x))


@pytest.mark.parametrize("name", list(PROGRAMS))
def test_control_flow_under_jvp_and_grad(name):
    prog, reversible = PROGRAMS[name]
    total = _total(prog)
    for x in XS:
        fd = _fd_grad(total, x)
        t = np.float32([1.0, -2.0, 0.5])
        _, tan = jax.jvp(total, (x,), (t,))
        assert float(tan) == pytest.approx(float(fd @ t), rel=1e-4, abs=1e-5)
        if not reversible:
            with pytest.raises(ValueError, match="Reverse-mode differentiation does not work"):
                jax.grad(total)(x)
            continue
        _allclose(jax.grad(total)(x), fd, 1e-4)
        _allclose(jax.jit(jax.grad(total))(x), fd, 1e-4)
    if reversible:
        per_ex = jax.vmap(jax.grad(total))(XS)
        for i, x in enumerate(XS):
            _allclose(per_ex[i], jax.grad(total)(x))


def test_associative_scan_leaves_of_different_rank_and_callable_check():
    ms = np.repeat(np.eye(2, dtype=np.float32)[None], 5, axis=0)
    vs = np.arange(10, dtype=np.float32).reshape(5, 2)
    out_m, out_v = lax.associative_scan(lambda a, b: (a[0] + b[0], a[1] + b[1]), (ms, vs))
    _allclose(out_m, np.cumsum(ms, 0))
    _allclose(out_v, np.cumsum(vs, 0))
    with pytest.raises(TypeError, match="lax.associative_scan: fn argument should be callable."):
        lax.associative_scan(42, 0)


def test_platform_dependent_picks_the_default_backends_platform():
    x = np.arange(3, dtype=np.float32)
    platform = jax.devices()[0].platform
    want = np.sin(x) if platform == "cpu" else np.cos(x)
    _allclose(lax.platform_dependent(x, cpu=jnp.sin, default=jnp.cos), want)
    _allclose(jax.jit(lambda x: lax.platform_dependent(x, cpu=jnp.sin, default=jnp.cos))(x), want)
    _allclose(jax.vmap(lambda x: lax.platform_dependent(x, cpu=jnp.sin, default=jnp.cos))(x), want)
    _allclose(lax.platform_dependent(cpu=lambda: jnp.sin(x), default=lambda: jnp.cos(x)), want)
    with pytest.raises(NotImplementedError, match="translation rule .* not found for platform"):
        lax.platform_dependent(3.0, tpu=lambda x: x + 2.0)
    with pytest.raises(ValueError, match="Use 'cuda' or 'rocm'"):
        lax.platform_dependent(3.0, gpu=lambda x: x)
    with pytest.raises(TypeError, match="the 'cpu' branch must be a callable"):
        lax.platform_dependent(3.0, cpu=1)


def test_cond_forwards_an_operand_every_branch_returns_unchanged():
    def f(x, y):
        return lax.cond(x < 3, lambda x, y: (x * 2, y), lambda x, y: (x * 3, y), x, y)
    x, y = jnp.arange(3), jnp.array(3.0)
    x2, y2 = jax.vmap(f, in_axes=(0, None), out_axes=(0, None))(x, y)  # y stays unbatched
    np.testing.assert_array_equal(np.asarray(x2), [0, 2, 4])
    assert y2 is y
    assert "cond" not in str(jax.make_jaxpr(lambda v: lax.cond(v > 0, lambda a: a, lambda a: a, v))(1.0))


def test_scan_read_only_carry_is_a_constant_of_the_loop():
    def f(x, y):
        def g(_, y):
            return lax.scan(lambda y, _: (y, None), y, None, length=1)[0]
        return lax.cond(x < 0, g, g, x, y)
    assert float(jax.vmap(f, (0, None), None)(jnp.arange(3.0), 3.0)) == 3.0  # y stays unbatched
    step = lambda c, x: ((c[0], c[1] + x * c[0]), c[1])
    (w, acc), ys = lax.scan(step, (2.0, 0.0), jnp.arange(4.0))
    assert float(w) == 2.0 and float(acc) == 12.0
    _allclose(ys, [0.0, 0.0, 2.0, 6.0])
    assert float(jax.grad(lambda w: lax.scan(step, (w, 0.0), jnp.arange(4.0))[0][1])(2.0)) == 6.0
    assert "num_carry=1 num_consts=1" in str(jax.make_jaxpr(lambda w: lax.scan(step, (w, 0.0), jnp.arange(4.0)))(2.0))
