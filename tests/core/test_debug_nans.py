"""jax_debug_nans / jax_debug_infs on jitted calls: the jaxpr re-runs primitive by primitive on the same
backend and the FloatingPointError names the primitive and the user's line that staged it."""
import re

import numpy as np
import pytest

import portax as jax
import portax.numpy as jnp
from portax import lax

HERE = re.escape(__file__)


def _log_of_shifted(x):
    y = x * 2
    return jnp.log(y - 3) + 1


def _scan_body(c, x):
    return c + jnp.sqrt(x - 2.0), c


def _cond_branch(x):
    return jnp.arcsin(x * 4)


def _while_body(c):
    i, v = c
    return i + 1, jnp.sqrt(v - i)


def _line(fn, offset):
    return fn.__code__.co_firstlineno + offset


def _expect(prim, fn, offset):
    return rf"invalid value \(nan\) encountered in {prim} at {HERE}:{_line(fn, offset)} \({fn.__name__}\)$"


def test_jit_names_the_primitive_and_the_line(capsys):
    f = jax.jit(_log_of_shifted)
    with jax.debug_nans(True), pytest.raises(FloatingPointError, match=_expect("log", _log_of_shifted, 2)):
        f(jnp.arange(3.0))
    assert "Calling the de-optimized version" in capsys.readouterr().out
    np.testing.assert_allclose(f(jnp.arange(3.0) + 2), np.log(2 * np.arange(2.0, 5.0) - 3) + 1, rtol=1e-6)


def test_inside_nested_jit_scan_cond_and_while():
    outer = jax.jit(lambda x: jax.jit(_log_of_shifted)(x) * 2)
    scanned = jax.jit(lambda xs: lax.scan(_scan_body, 0.0, xs)[0])
    branched = jax.jit(lambda p, x: lax.cond(p, _cond_branch, jnp.cos, x))
    looped = jax.jit(lambda v: lax.while_loop(lambda c: c[0] < 3, _while_body, (0, v))[1])
    with jax.debug_nans(True):
        with pytest.raises(FloatingPointError, match=_expect("log", _log_of_shifted, 2)):
            outer(jnp.arange(3.0))
        with pytest.raises(FloatingPointError, match=_expect("sqrt", _scan_body, 1)):
            scanned(jnp.arange(4.0))
        with pytest.raises(FloatingPointError, match=_expect("asin", _cond_branch, 1)):
            branched(True, jnp.ones(2))
        np.testing.assert_allclose(branched(False, jnp.ones(2)), np.cos(np.ones(2)), rtol=1e-6)
        with pytest.raises(FloatingPointError, match=_expect("sqrt", _while_body, 2)):
            looped(jnp.full((2,), 1.5))


def test_debug_infs_names_div():
    def f(x):
        return 1.0 / x

    with jax.debug_infs(True):
        with pytest.raises(FloatingPointError,
                           match=rf"invalid value \(inf\) encountered in div at {HERE}:{_line(f, 1)} \(f\)$"):
            jax.jit(f)(jnp.array([0.0, 1.0]))


def test_nan_from_a_grad_names_the_primitive():
    def f(x):
        return jnp.sum(jnp.sqrt(x))

    with jax.debug_nans(True), pytest.raises(FloatingPointError,
                                             match=rf"encountered in sqrt at {HERE}:{_line(f, 1)} \(f\)$"):
        jax.jit(jax.grad(f))(jnp.array([-1.0, 1.0]))
