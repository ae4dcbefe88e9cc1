"""Programs LLVM has miscompiled for this backend's host (the workarounds live in llvm_build.py)."""
import numpy as np

import portax
import portax.numpy as jnp
from portax.backends.cpu_llvm import llvm_build

RNG = np.random.default_rng(0)


def test_floor_division_of_a_difference_by_a_positive_divisor():
    # found by tests/differential: with AVX-512DQ on znver4, LLVM 22 read the sign-fix mask from an unset k register
    g = lambda a, b: jnp.reshape((b - a) // (jnp.abs(b) + 1), (2, 1))
    out = portax.jit(g, backend="cpu_llvm")(np.array([-1, -1], np.int32), np.array([0, -4], np.int32))
    np.testing.assert_array_equal(out, [[1], [-1]])
    for n in (2, 3, 8, 17, 64, 1000):
        a, b = (RNG.integers(-50, 50, n).astype(np.int32) for _ in range(2))
        got = portax.jit(lambda a, b: (b - a) // (jnp.abs(b) + 1) + (b - a) % (jnp.abs(a) + 2), backend="cpu_llvm")(a, b)
        np.testing.assert_array_equal(got, (b - a) // (np.abs(b) + 1) + (b - a) % (np.abs(a) + 2))


def test_the_disabled_features_are_off_in_generated_code():
    features = llvm_build.host_target_info().features.split(",")
    for feature in llvm_build.DISABLED_FEATURES:
        assert f"+{feature}" not in features
