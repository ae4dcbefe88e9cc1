"""A user's primitive through ``portax.extend.core`` (``jax.extend.core``): ``def_impl`` evaluates it outside
transformations, ``def_abstract_eval`` lets it be staged; missing rules raise JAX's NotImplementedErrors."""
import numpy as np
import pytest

import portax
import portax.numpy as jnp
from portax.extend.core import Primitive


def test_user_primitive_impl_and_abstract_eval():
    double_sin_p = Primitive("double_sin")
    double_sin_p.def_impl(lambda x: 2 * jnp.sin(x))
    double_sin_p.def_abstract_eval(lambda aval: aval)
    np.testing.assert_allclose(float(double_sin_p.bind(jnp.float32(1.0))), 2 * np.sin(1.0), rtol=1e-6)
    jaxpr = portax.make_jaxpr(double_sin_p.bind)(jnp.float32(1.0))
    assert "double_sin" in str(jaxpr) and jaxpr.out_avals[0].shape == ()


def test_user_primitive_without_rules():
    foo_p = Primitive("foo")
    with pytest.raises(NotImplementedError, match="Evaluation rule for 'foo' not implemented"):
        foo_p.bind(1.0)
    with pytest.raises(NotImplementedError, match="Abstract evaluation for 'foo' not implemented"):
        portax.jit(foo_p.bind)(1.0)
