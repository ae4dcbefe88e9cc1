"""Decompositions (core/decompositions.py): a primitive without a lowering on a backend runs as its
decomposition into other primitives, at any depth of the program, under every transformation; a backend
that lowers it natively keeps its own lowering."""
import numpy as np
import pytest

import portax
import portax.numpy as jnp
from portax import lax
from portax.core import decompositions
from portax.core.backend import registry
from portax.core.interpreters import batching, jvp as ad
from portax.core.trace import Primitive, abstract_eval_rules

squareplus_p = Primitive("test_squareplus")  # (x + sqrt(x^2 + 4)) / 2: no backend has a lowering for it
abstract_eval_rules[squareplus_p] = lambda x: x
ad.defjvp(squareplus_p, lambda g, x: lax.mul(g, lax.mul(lax.add(lax.div(x, lax.sqrt(lax.add(lax.mul(x, x), 4.0))),
                                                                1.0), 0.5)))
batching.defvectorized(squareplus_p)
decompositions.register_decomposition(
    squareplus_p, lambda x: lax.mul(lax.add(x, lax.sqrt(lax.add(lax.mul(x, x), 4.0))), 0.5))


def squareplus(x):
    return squareplus_p.bind(x)


def expected(x):
    return (x + np.sqrt(x * x + 4)) / 2


BACKENDS = [b for b in ("reference", "cpu_llvm", "wgpu") if registry.available(b)]


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_primitive_without_lowerings_runs_everywhere_through_its_decomposition(backend):
    x = np.linspace(-3, 3, 11, dtype=np.float32)
    xb = portax.device_put(x, portax.devices(backend)[0])
    np.testing.assert_allclose(squareplus(xb), expected(x), rtol=1e-6)
    np.testing.assert_allclose(portax.jit(squareplus, backend=backend)(x), expected(x), rtol=1e-6)
    slope = portax.jit(portax.vmap(portax.grad(squareplus)), backend=backend)(x)
    np.testing.assert_allclose(slope, 0.5 * (x / np.sqrt(x * x + 4) + 1), rtol=1e-5)

    def loop(x):  # the primitive inside nested bodies: scan inside cond
        body = lambda c, _: (squareplus(c) - 1.0, None)
        return lax.cond(x[0] < 10, lambda v: lax.scan(body, v, None, length=3)[0], lambda v: v, x)
    want = x
    for _ in range(3):
        want = expected(want) - 1
    np.testing.assert_allclose(portax.jit(loop, backend=backend)(x), want, rtol=1e-5)


def test_the_decomposition_is_used_only_where_the_backend_has_no_lowering():
    closed = portax.make_jaxpr(lambda x: jnp.sin(squareplus(x)))(np.ones(3, np.float32))

    class Native:
        def lowers(self, p):
            return p is squareplus_p

    class Lacking:
        def lowers(self, p):
            return False

    class Undeclared:  # a backend without ``lowers``: every decomposition is used
        pass

    names = lambda c: [e.primitive.name for e in c.jaxpr.eqns]
    assert decompositions.expand(closed, Native()) is closed
    for backend in (Lacking(), Undeclared()):
        expanded = names(decompositions.expand(closed, backend))
        assert "test_squareplus" not in expanded and {"sqrt", "mul", "sin"} <= set(expanded)


def test_kernels_of_a_backend_show_the_decomposition():
    backend = BACKENDS[0]
    kernels = portax.jit(squareplus, backend=backend).lower(np.ones(3, np.float32)).compile().kernels
    assert "test_squareplus" not in " ".join(map(str, kernels))


def test_expansion_keeps_namedtuple_params():
    """Equations re-bound around an expanded decomposition keep their gather/scatter dimension numbers'
    type (a plain tuple used to reach scatter's shape checks): jvp of tridiagonal_solve under jit."""
    from portax.lax import linalg as la
    rng = np.random.RandomState(0)
    dl, du = rng.randn(2, 5).astype(np.float32)
    d, b = rng.randn(5).astype(np.float32) + 4, rng.randn(5, 2).astype(np.float32)
    args = (dl, d, du, b)
    f = lambda *a: portax.jvp(lambda *x: la.tridiagonal_solve(*x), a, a)[1]
    want = f(*args)
    got = portax.jit(f, backend="reference")(*args)
    np.testing.assert_allclose(np.asarray(got), np.asarray(want), rtol=1e-5)
