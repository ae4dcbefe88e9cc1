"""Edge semantics that docs/primitives.md's generation found to differ from JAX or between backends."""
import numpy as np
import pytest

import portax
import portax.numpy as jnp
from portax import lax
from portax.core.backend import registry

BACKENDS = [b for b in ("reference", "cpu_llvm", "wgpu") if registry.available(b)]


def test_integers_cannot_be_raised_to_negative_powers():
    with pytest.raises(TypeError, match=r"Integers cannot be raised to negative powers, got integer_pow\(i32\[2\], -1\)"):
        lax.integer_pow(jnp.array([0, 2], jnp.int32), -1)
    with pytest.raises(TypeError, match="negative powers"):
        portax.jit(lambda x: lax.integer_pow(x, -2))(np.array([3], np.int32))
    np.testing.assert_allclose(lax.integer_pow(jnp.array([2.0]), -2), [0.25])


@pytest.mark.parametrize("backend", BACKENDS)
def test_sign_keeps_negative_zero_on_every_backend(backend):
    x = np.array([-0.0, 0.0, -2.0, 3.0, np.nan], np.float32)
    got = np.asarray(portax.jit(lax.sign, backend=backend)(x))
    np.testing.assert_array_equal(np.signbit(got[:2]), [True, False])
    np.testing.assert_array_equal(got[2:4], [-1.0, 1.0])
    assert np.isnan(got[4])
