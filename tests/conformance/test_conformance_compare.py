"""Comparison with the reference: ulp distances, tolerances, IEEE specials and the failure messages."""
import numpy as np
import pytest

from portax.conformance.tolerances import BITWISE, EXACT, Tolerance, compare, tolerance_for, ulp_distance


@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.float64])
def test_ulp_distance_counts_representable_steps(dtype):
    x = np.array([1.0, -1.0, 0.0, 1e-3], dtype)
    assert ulp_distance(x, x).tolist() == [0, 0, 0, 0]
    up = np.nextafter(x, np.array(np.inf, dtype))
    assert ulp_distance(np.nextafter(up, np.array(np.inf, dtype)), x).tolist() == [2, 2, 2, 2]
    assert ulp_distance(np.array([-0.0], dtype), np.array([0.0], dtype)).tolist() == [0]
    tiny = np.array([np.finfo(dtype).smallest_subnormal], dtype)
    assert ulp_distance(tiny, -tiny).tolist() == [2]  # across zero


def test_within_ulps_or_scaled_absolute_tolerance():
    want = np.array([1.0, 0.0, 2.0], np.float32)
    got = want.copy()
    got[0] = np.nextafter(got[0], np.float32(2))
    assert compare(got, want, Tolerance(1, 0)) is None
    assert compare(got, want, EXACT) is not None
    near_zero = np.array([1e-7, 0.0, 2.0], np.float32)  # sin(pi)-like cancellation: huge ulps, tiny error
    assert compare(near_zero, np.array([0.0, 0.0, 2.0], np.float32), Tolerance(4, 4)) is None
    summed = np.array([3e-6], np.float32)
    assert compare(summed, np.zeros(1, np.float32), Tolerance(2, 2)) is not None
    assert compare(summed, np.zeros(1, np.float32), Tolerance(2, 2), accum=32) is None


def test_nan_and_inf_must_match_only_with_ieee_specials():
    want = np.array([np.nan, np.inf, -np.inf, 1.0], np.float32)
    assert compare(want.copy(), want, EXACT) is None
    swapped = np.array([np.inf, np.nan, np.inf, 1.0], np.float32)
    assert compare(swapped, want, EXACT) is not None
    assert compare(swapped, want, EXACT, ieee_specials=False) is None
    nan_where_finite = np.array([np.nan, np.inf, -np.inf, np.nan], np.float32)
    assert compare(nan_where_finite, want, EXACT, ieee_specials=False) is not None


def test_integers_bools_and_bit_level_ops_compare_exactly():
    assert compare(np.array([1, 2], np.int8), np.array([1, 3], np.int8), Tolerance(100, 100)) is not None
    assert compare(np.array([True]), np.array([True]), EXACT) is None
    nan_a = np.array([0x7FC00000], np.uint32).view(np.float32)
    nan_b = np.array([0x7FC00001], np.uint32).view(np.float32)
    assert compare(nan_a, nan_b, EXACT) is None and compare(nan_a, nan_b, BITWISE) is not None


def test_shape_and_dtype_mismatches_are_failures():
    m = compare(np.zeros(3, np.float32), np.zeros(4, np.float32), EXACT)
    assert "float32[3]" in str(m) and "float32[4]" in str(m)
    assert compare(np.zeros(3, np.float64), np.zeros(3, np.float32), EXACT) is not None


def test_message_shows_max_error_against_tolerance():
    want = np.ones(5, np.float32)
    got = want.copy()
    got[3] += np.float32(1e-3)
    m = compare(got, want, Tolerance(4, 4))
    assert m.max_ulps > 4 and "1 of 5 elements" in str(m) and "vs tolerance 4 ulp" in str(m)
    assert "index (3,)" in str(m)


def test_tolerance_table():
    assert tolerance_for("add", np.float32) == Tolerance(1, 1)
    assert tolerance_for("sin", np.float32).ulps > tolerance_for("sin", np.float16).ulps
    assert tolerance_for("transpose", np.float32) == EXACT
    assert tolerance_for("bitcast_convert_type", np.float32) is BITWISE
    assert tolerance_for("sin", np.float32).for_transform("jvp").ulps > tolerance_for("sin", np.float32).ulps
