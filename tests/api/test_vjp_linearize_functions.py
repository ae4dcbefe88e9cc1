"""The functions ``vjp`` and ``linearize`` return are pytrees (their residuals are the leaves, as JAX's ``VJP`` and
``tree_util.Partial``): they go in and out of ``jit``; they check their arguments with JAX's errors."""
import numpy as np
import pytest

import portax
import portax.numpy as jnp
from portax import lax
from portax.core.ir import Jaxpr


def test_vjp_function_passes_through_jit():
    @portax.jit
    def h(f_vjp, ct):
        return f_vjp(ct)

    y, f_vjp = portax.vjp(lambda x, y: x * y, 2., 3.)
    assert float(y) == 6.
    assert [float(c) for c in h(f_vjp, 1.)] == [3., 2.]
    returned = portax.jit(lambda x: portax.vjp(lambda v: 2. * v, x)[1])(1.)
    assert [float(c) for c in portax.jit(lambda f, x: f(x))(returned, 3.)] == [6.]


def test_linearized_function_passes_through_jit():
    linearize = portax.jit(lambda f, x: portax.linearize(f, x)[1], static_argnums=0)
    f_jvp = linearize(lambda x: 2. * jnp.sin(x), 1.)
    out = portax.jit(lambda f, t: f(t))(f_jvp, 3.)
    np.testing.assert_allclose(float(out), 6. * np.cos(1.), rtol=1e-6)


def test_linearized_function_holds_its_jaxpr():
    _, f_jvp = portax.linearize(lambda x: jnp.sin(jnp.sin(x)), 2.)
    jaxpr = f_jvp.func.args[0]
    assert isinstance(jaxpr, Jaxpr) and str(jaxpr).count(" mul ") == 2


def test_linearized_function_checks_tangent_avals():
    _, f_jvp = portax.linearize(lambda x: x, 1.)
    with pytest.raises(ValueError, match="linearized function called on tangent values inconsistent with the original "
                       "primal values"):
        f_jvp(1)
    _, f_jvp = portax.linearize(lambda x: x, np.ones(2, np.int32))
    assert f_jvp(np.zeros(2, portax.float0)).dtype == portax.float0
    with pytest.raises(ValueError, match="tangent values inconsistent"):
        f_jvp(np.ones(2, np.int32))


def test_vjp_function_called_with_too_many_arguments():
    def foo(x):
        return x, x
    _, f_vjp = portax.vjp(foo, 1.)
    with pytest.raises(TypeError, match="applied to foo was called with 2 arguments"):
        f_vjp(1., 1.)


def test_primitive_def_impl_replaces_and_restores_eager_evaluation():
    calls = []
    sin_impl = lax.sin_p.impl
    try:
        lax.sin_p.def_impl(lambda x, **params: calls.append(1) or sin_impl(x, **params))
        out = jnp.sin(1.)
    finally:
        lax.sin_p.def_impl(sin_impl)
    assert calls == [1] and float(out) == pytest.approx(np.sin(1.), rel=1e-6)
    jnp.sin(2.)
    assert calls == [1]  # restored: compiled dispatch again
