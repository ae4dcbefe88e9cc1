"""Both forms of conv_general_dilated on wgpu (``direct``; ``gemm`` = im2col + a matmul kernel), forced through
``PORTAX_WGPU_CONV``, against the reference backend: layouts, strides, dilations, padding, 1-3 spatial dims,
gradients (convolutions with other dimension numbers), and the cases ``gemm`` leaves to ``direct``."""
import numpy as np
import pytest

import portax
import portax.numpy as jnp
from portax import lax

from wgpu_helpers import check, force_variant, variants_used

R = np.random.RandomState(3)

CONVS = [
    ("nchw_same", (2, 3, 9, 8), (4, 3, 3, 3), dict(window_strides=(1, 1), padding="SAME"), "gemm"),
    ("nchw_strided_dilated", (2, 3, 11, 10), (5, 3, 3, 2),
     dict(window_strides=(2, 1), padding=((1, 2), (0, 1)), rhs_dilation=(2, 1)), "gemm"),
    ("lhs_dilated", (1, 2, 5, 5), (3, 2, 3, 3), dict(window_strides=(1, 1), padding=((2, 2), (2, 2)),
                                                     lhs_dilation=(2, 2)), "gemm"),
    ("nhwc_hwio", (2, 9, 7, 3), (3, 3, 3, 4), dict(window_strides=(2, 2), padding="SAME",
                                                   dimension_numbers=("NHWC", "HWIO", "NHWC")), "gemm"),
    ("conv1d", (2, 3, 17), (4, 3, 5), dict(window_strides=(2,), padding="SAME"), "gemm"),
    ("conv3d", (1, 2, 5, 6, 4), (3, 2, 2, 3, 2), dict(window_strides=(1, 2, 1), padding="SAME"), "gemm"),
    ("pointwise", (2, 8, 5, 5), (6, 8, 1, 1), dict(window_strides=(1, 1), padding="VALID"), "gemm"),
    ("grouped", (2, 4, 8, 8), (6, 2, 3, 3), dict(window_strides=(1, 1), padding="SAME", feature_group_count=2),
     "direct"),
    ("out_chwn", (2, 3, 6, 6), (4, 3, 3, 3), dict(window_strides=(1, 1), padding="SAME",
                                                  dimension_numbers=("NCHW", "OIHW", "CHWN")), "direct"),
]


@pytest.fixture(params=["direct", "gemm"])
def form(request, monkeypatch):
    return force_variant(request, monkeypatch, "conv")


@pytest.mark.parametrize("name,xs,ws,kw,gemm_form", CONVS, ids=[c[0] for c in CONVS])
def test_every_form_computes_every_convolution(form, name, xs, ws, kw, gemm_form):
    x, w = R.randn(*xs).astype(np.float32), R.randn(*ws).astype(np.float32)
    f = lambda a, b: lax.conv_general_dilated(a, b, **kw)
    check(f, x, w, tol=1e-4)
    assert variants_used(f, x, w) == {gemm_form if form == "gemm" else "direct"}


def test_gradients_of_a_strided_conv(form):
    x, w = R.randn(2, 3, 10, 9).astype(np.float32), R.randn(4, 3, 3, 3).astype(np.float32)

    def loss(a, b):
        y = lax.conv_general_dilated(a, b, (2, 2), ((1, 1), (0, 1)), rhs_dilation=(1, 2))
        return jnp.sum(jnp.tanh(y) * jnp.arange(y.size, dtype=y.dtype).reshape(y.shape) / y.size)
    check(portax.grad(loss, argnums=(0, 1)), x, w, tol=1e-4)


def test_an_integer_conv_stays_direct(form):
    x, w = R.randint(-5, 5, (2, 3, 6, 6)).astype(np.int32), R.randint(-3, 3, (2, 3, 3, 3)).astype(np.int32)
    f = lambda a, b: lax.conv_general_dilated(a, b, (1, 1), "SAME")
    check(f, x, w)
    assert variants_used(f, x, w) == {"direct"}
