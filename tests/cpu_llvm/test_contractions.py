"""dot_general (loops and the packed GEMM), convolutions, window reductions and linear algebra on cpu_llvm
against the reference backend."""
from __future__ import annotations

import numpy as np
import pytest

import portax.numpy as jnp
from portax import lax

from cpu_llvm_helpers import assert_matches, compiled, x64_enabled

RNG = np.random.RandomState(2)


@pytest.fixture(autouse=True)
def x64():
    with x64_enabled(True):
        yield


def arr(dtype, *shape):
    if np.dtype(dtype).kind == "b":
        return RNG.rand(*shape) < 0.5
    if np.dtype(dtype).kind in "iu":
        return RNG.randint(0, 5, shape).astype(dtype)
    return RNG.standard_normal(shape).astype(dtype)


DIMS = [  # (lhs shape, rhs shape, dimension numbers)
    ((3, 4), (4, 5), (((1,), (0,)), ((), ()))),
    ((4, 3), (4, 5), (((0,), (0,)), ((), ()))),
    ((3, 4), (5, 4), (((1,), (1,)), ((), ()))),
    ((2, 3, 4), (2, 4, 5), (((2,), (1,)), ((0,), (0,)))),
    ((3, 2, 4), (4, 3, 5), (((2,), (0,)), ((0,), (1,)))),
    ((5,), (5,), (((0,), (0,)), ((), ()))),
    ((3, 4, 2), (4, 2, 6), (((1, 2), (0, 1)), ((), ()))),
    ((3, 4), (5,), (((), ()), ((), ()))),
    ((0, 4), (4, 3), (((1,), (0,)), ((), ()))),
]


@pytest.mark.parametrize("dtype", ["float32", "float64", "float16", "int32", "int8", "bool"])
@pytest.mark.parametrize("k", range(len(DIMS)))
def test_dot_general_small(dtype, k):
    ls, rs, dn = DIMS[k]
    assert_matches(lambda a, b: lax.dot_general(a, b, dn), arr(dtype, *ls), arr(dtype, *rs),
                   rtol=1e-2 if dtype == "float16" else None)


def test_dot_general_preferred_type():
    a, b = arr("int8", 3, 4), arr("int8", 4, 2)
    assert_matches(lambda x, y: lax.dot_general(x, y, (((1,), (0,)), ((), ())), preferred_element_type=np.int32), a, b)
    a, b = arr("float16", 3, 4), arr("float16", 4, 2)
    assert_matches(lambda x, y: lax.dot_general(x, y, (((1,), (0,)), ((), ())),
                                                preferred_element_type=np.float32), a, b)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("shapes", [((67, 130), (130, 45)), ((130, 67), (130, 45), "tn"), ((67, 130), (45, 130), "nt"),
                                    ((3, 40, 50), (3, 50, 70), "batch"), ((200, 300), (300, 260)),
                                    ((67, 130, 2), (2, 130, 45), "strided"), ((67, 300), (45, 300), "nt_dims")])
def test_gemm(dtype, shapes):
    """Sizes past the packed GEMM's threshold, with edge tiles, transposed operands and batches."""
    ls, rs, *kind = shapes
    kind = kind[0] if kind else "nn"
    a, b = arr(dtype, *ls), arr(dtype, *rs)
    fn = {"nn": lambda x, y: x @ y, "tn": lambda x, y: x.T @ y, "nt": lambda x, y: x @ y.T,
          "batch": lambda x, y: jnp.einsum("bij,bjk->bik", x, y),
          "strided": lambda x, y: jnp.einsum("mkb,bkn->bmn", x, y),  # no unit stride in the lhs
          "nt_dims": lambda x, y: lax.dot_general(x, y, (((1,), (1,)), ((), ())))}[kind]  # both contiguous in k
    assert_matches(fn, a, b, rtol=1e-4 if dtype == "float32" else 1e-12)
    assert any("gemm" in k.description for k in compiled(fn, a, b).kernels)


@pytest.mark.parametrize("dtype", ["float32", "int32", "float16"])
@pytest.mark.parametrize("params", [
    dict(window_strides=(1, 1), padding="SAME"),
    dict(window_strides=(2, 1), padding=((1, 0), (2, 1)), rhs_dilation=(1, 2)),
    dict(window_strides=(1, 2), padding=((0, 1), (1, 0)), lhs_dilation=(2, 1)),
    dict(window_strides=(1, 1), padding="SAME", feature_group_count=2),
    dict(window_strides=(1, 1), padding="VALID", batch_group_count=2),
])
def test_conv(dtype, params):
    lhs = arr(dtype, 4, 4, 7, 6)
    cin = 4 // params.get("feature_group_count", 1)
    rhs = arr(dtype, 6, cin, 3, 2)
    assert_matches(lambda x, w: lax.conv_general_dilated(x, w, **params), lhs, rhs,
                   rtol=2e-2 if dtype == "float16" else None)


def test_conv_dimension_numbers():
    lhs, rhs = arr("float32", 2, 7, 6, 3), arr("float32", 3, 2, 3, 5)
    assert_matches(lambda x, w: lax.conv_general_dilated(x, w, (1, 1), "SAME",
                                                         dimension_numbers=("NHWC", "HWIO", "NHWC")), lhs, rhs)


@pytest.mark.parametrize("dtype, op", [(d, o) for d in ("float32", "int16", "bool") for o in ("sum", "max", "min")
                                       if (d, o) != ("bool", "sum")])
def test_reduce_window(dtype, op):
    x = arr(dtype, 5, 7)
    fn = {"sum": lax.add, "max": lax.max, "min": lax.min}[op]
    init = {"sum": 0, "max": -np.inf, "min": np.inf}[op]
    if dtype != "float32":
        init = {"sum": 0, "max": np.iinfo(dtype).min, "min": np.iinfo(dtype).max}[op] if dtype != "bool" else \
            op == "min"
    init = np.asarray(init, dtype)
    assert_matches(lambda v: lax.reduce_window(v, init, fn, (2, 3), (1, 2), ((1, 0), (0, 2))), x)
    assert_matches(lambda v: lax.reduce_window(v, init, fn, (2, 2), (2, 1), "VALID", base_dilation=(2, 1),
                                               window_dilation=(1, 2)), x)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_linalg_generated(dtype):
    a = arr(dtype, 3, 5, 5)
    spd = np.einsum("bij,bkj->bik", a, a) + 5 * np.eye(5, dtype=dtype)
    rtol = 1e-4 if dtype == "float32" else 1e-10
    assert_matches(lambda m: lax.linalg.cholesky(m), spd, rtol=rtol)
    assert_matches(lambda m: lax.linalg.cholesky(m), -spd, rtol=rtol)  # not positive definite: NaN
    assert_matches(lambda m: lax.linalg.lu(m), a, rtol=rtol)
    assert_matches(lambda m: lax.linalg.lu(m), arr(dtype, 4, 6), rtol=rtol)
    b = arr(dtype, 3, 5, 2)
    for left in (True, False):
        for lower in (True, False):
            for trans in (False, True):
                rhs = b if left else np.swapaxes(b, 1, 2).copy()
                assert_matches(lambda t, r: lax.linalg.triangular_solve(t, r, left_side=left, lower=lower,
                                                                        transpose_a=trans), spd, rhs, rtol=rtol)
    assert_matches(lambda t, r: lax.linalg.triangular_solve(t, r, left_side=True, lower=True, unit_diagonal=True),
                   spd, b, rtol=rtol)


def test_linalg_runtime_calls_are_documented():
    a = arr("float32", 4, 3)
    sym = a @ a.T
    assert_matches(lambda m: jnp.linalg.qr(m), a, rtol=1e-4)
    assert_matches(lambda m: jnp.linalg.svd(m, full_matrices=False), a, rtol=1e-4)
    assert_matches(lambda m: jnp.linalg.eigh(m), sym, rtol=1e-3)
    assert_matches(lambda m: lax.fft_split((m,), "RFFT", (3,)), a, rtol=1e-5)
    c = compiled(lambda m: jnp.linalg.qr(m), a)
    assert [rc.primitive for rc in c.executable.runtime_calls] == ["qr"]


@pytest.mark.parametrize("dtype", ["float32", "float64", "int32"])
@pytest.mark.parametrize("size", [6, 70])
def test_transposed_product_written_directly(dtype, size):
    """A transpose that is the only reader of a dot_general's result is folded into it (C^T = B^T A^T)."""
    a, b = arr(dtype, size, size + 3), arr(dtype, size + 3, size - 2)
    fn = lambda x, y: (x @ y).T
    assert_matches(fn, a, b, rtol=1e-4 if dtype == "float32" else None)
    assert not any(k.description.endswith("(transpose)") for k in compiled(fn, a, b).kernels)
    assert_matches(lambda x, y: jnp.transpose(jnp.einsum("bij,bjk->bik", x, y), (2, 0, 1)),
                   arr(dtype, 2, size, 5), arr(dtype, 2, 5, size), rtol=1e-4 if dtype == "float32" else None)
