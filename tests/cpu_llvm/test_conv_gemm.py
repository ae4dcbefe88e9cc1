"""Float convolutions on cpu_llvm (the implicit GEMM and the direct depthwise task) and their gradients, against
the reference backend: layouts, 1-3 spatial dimensions, strides, padding, lhs and rhs dilation, feature and
batch groups, sizes with partial tiles, several KC blocks and column blocks."""
from __future__ import annotations

import numpy as np
import pytest

import portax
from portax import lax
from portax.backends.cpu_llvm import conv_gemm, gemm, threads

from cpu_llvm_helpers import assert_matches, compiled, x64_enabled

RNG = np.random.RandomState(7)
LAYOUTS = {1: [("NCH", "OIH", "NCH"), ("NHC", "HIO", "NHC")],
           2: [("NCHW", "OIHW", "NCHW"), ("NHWC", "HWIO", "NHWC"), ("NHWC", "OIHW", "NCHW")],
           3: [("NCHWD", "OIHWD", "NCHWD"), ("NHWDC", "HWDIO", "NHWDC")]}


def operands(dn, n, c, spatial, o, kernel, groups=1, dtype="float32"):
    """lhs and rhs of canonical sizes (batch n, features c, spatial...; o x c/groups x kernel) laid out as ``dn``."""
    letters = [ch for ch in dn[1] if ch not in "OI"]
    lhs = dict(zip("NC", (n, c)), **dict(zip(letters, spatial)))
    rhs = dict(zip("OI", (o, c // groups)), **dict(zip(letters, kernel)))
    x = RNG.standard_normal([lhs[ch] for ch in dn[0]]).astype(dtype)
    w = RNG.standard_normal([rhs[ch] for ch in dn[1]]).astype(dtype)
    return x, w


def conv_fn(dn, strides, padding, lhs_dil=None, rhs_dil=None, groups=1, batch_groups=1):
    return lambda x, w: lax.conv_general_dilated(x, w, strides, padding, lhs_dil, rhs_dil, dn,
                                                 feature_group_count=groups, batch_group_count=batch_groups)


def check(fn, x, w, grads=True, rtol=1e-4):
    assert_matches(fn, x, w, rtol=rtol)
    if grads:
        y = np.asarray(portax.jit(fn, backend="reference")(x, w))
        g = RNG.standard_normal(y.shape).astype(y.dtype)
        assert_matches(lambda x, w, g: portax.vjp(fn, x, w)[1](g), x, w, g, rtol=rtol)


CASES = [  # (spatial dims, n, c, spatial, o, kernel, strides, padding, lhs dil, rhs dil, groups, batch groups)
    (2, 2, 5, (9, 8), 7, (3, 3), (1, 1), "SAME", None, None, 1, 1),
    (2, 3, 4, (11, 10), 6, (1, 1), (1, 1), "VALID", None, None, 1, 1),
    (2, 1, 3, (13, 12), 5, (5, 5), (2, 2), "SAME", None, None, 1, 1),
    (2, 2, 4, (10, 9), 6, (3, 2), (2, 1), ((1, 0), (2, 1)), None, (2, 1), 1, 1),
    (2, 2, 4, (7, 6), 6, (3, 2), (1, 2), ((0, 1), (1, 0)), (2, 1), None, 1, 1),
    (2, 2, 3, (5, 6), 4, (3, 3), (1, 1), ((2, 2), (1, 2)), (3, 2), (1, 2), 1, 1),
    (2, 2, 6, (9, 7), 9, (3, 3), (1, 1), "SAME", None, None, 3, 1),
    (2, 2, 6, (9, 7), 6, (3, 3), (2, 2), "SAME", None, None, 6, 1),
    (2, 3, 6, (9, 7), 12, (3, 3), (1, 1), "SAME", None, None, 6, 1),
    (2, 4, 3, (8, 7), 6, (2, 3), (1, 1), "VALID", None, None, 1, 2),
    (2, 4, 3, (8, 7), 2, (2, 3), (1, 1), "VALID", None, None, 1, 2),
    (1, 3, 5, (17,), 7, (4,), (3,), ((2, 1),), (2,), (2,), 1, 1),
    (3, 2, 3, (5, 6, 4), 4, (3, 2, 2), (1, 2, 1), "SAME", None, None, 1, 1),
    (3, 2, 4, (5, 4, 6), 4, (2, 3, 3), (1, 1, 2), ((1, 1), (0, 2), (1, 0)), (1, 2, 1), (2, 1, 1), 4, 1),
]


@pytest.mark.parametrize("layout", [0, 1])
@pytest.mark.parametrize("case", range(len(CASES)))
def test_conv_general(case, layout):
    nsp, n, c, spatial, o, kernel, strides, padding, ld, rd, g, bg = CASES[case]
    dn = LAYOUTS[nsp][layout]
    x, w = operands(dn, n, c, spatial, o, kernel, g)
    check(conv_fn(dn, strides, padding, ld, rd, g, bg), x, w)


@pytest.mark.parametrize("dn", LAYOUTS[2])
def test_conv_blocks(dn):
    """K past one KC block, positions past one column block, features past one row panel, odd edges."""
    x, w = operands(dn, 3, 70, (29, 27), 37, (3, 3))
    check(conv_fn(dn, (1, 1), "SAME"), x, w, grads=False)
    assert any("implicit gemm" in k.description for k in compiled(conv_fn(dn, (1, 1), "SAME"), x, w).kernels)


@pytest.mark.parametrize("dn", LAYOUTS[2][:2])
@pytest.mark.parametrize("stride", [1, 2])
def test_depthwise(dn, stride):
    x, w = operands(dn, 2, 19, (13, 11), 19, (3, 3), 19)
    fn = conv_fn(dn, (stride, stride), "SAME", groups=19)
    check(fn, x, w)
    assert any("direct" in k.description for k in compiled(fn, x, w).kernels)


@pytest.mark.parametrize("dtype, rtol", [("float16", 2e-2), ("float64", 1e-12)])
def test_conv_dtypes(dtype, rtol):
    dn = LAYOUTS[2][0]
    with x64_enabled(True):
        for g, o in ((1, 5), (4, 4)):
            x, w = operands(dn, 2, 4, (7, 6), o, (3, 3), g, dtype)
            check(conv_fn(dn, (2, 1), "SAME", rhs_dil=(1, 2), groups=g), x, w, grads=dtype == "float64", rtol=rtol)


@pytest.mark.parametrize("dtype", ["float16", "float32"])
@pytest.mark.parametrize("o", [4, 1])
def test_conv_preferred_element_type(dtype, o):
    """A float64 result is computed in float64 (as exactly as the reference), on both tasks."""
    dn = LAYOUTS[2][1]
    x, w = operands(dn, 2, 3, (6, 5), o, (3, 3), dtype=dtype)
    with x64_enabled(True):
        assert_matches(lambda x, w: lax.conv_general_dilated(x, w, (1, 1), "SAME", dimension_numbers=dn,
                                                             preferred_element_type=np.float64), x, w, rtol=1e-12)


@pytest.mark.parametrize("dn", LAYOUTS[2][:2])
def test_gradients_stay_fast(dn):
    """Both gradients of a strided (lhs-dilated transpose) and a grouped convolution (batch-grouped rhs gradient)
    run on the GEMM or direct tasks, never the scalar loop nest."""
    for g, o in ((1, 8), (2, 8), (8, 8)):
        x, w = operands(dn, 4, 8, (9, 9), o, (3, 3), g)
        fn = conv_fn(dn, (2, 2), "SAME", groups=g)
        y = np.asarray(portax.jit(fn, backend="reference")(x, w))
        grads = lambda x, w, gy: portax.vjp(fn, x, w)[1](gy)
        kernels = [k.description for k in compiled(grads, x, w, y).kernels if "conv_general_dilated" in k.description]
        assert len(kernels) == 2 and all("implicit gemm" in k or "direct" in k for k in kernels), kernels


def test_empty_and_tapless():
    """Zero-size features and sub-convolutions that no tap reaches (lhs dilation past the kernel) are zeros."""
    dn = LAYOUTS[2][0]
    x, w = operands(dn, 2, 3, (4, 5), 4, (1, 1))
    assert_matches(lambda x, w: lax.conv_general_dilated(x, w, (1, 1), ((0, 1), (1, 1)), (2, 3)), x, w)
    x, w = operands(dn, 2, 0, (4, 5), 4, (2, 2))
    assert_matches(lambda x, w: lax.conv_general_dilated(x, w, (1, 1), "SAME"), x, w)


@pytest.mark.parametrize("dn", LAYOUTS[2][:2])
def test_strided_layer_gradients(dn):
    """Gradients of a stride-2 3x3 layer with enough features for two KC blocks in a phase of the lhs gradient
    (scattered output tiles accumulated over K blocks) and filter-gradient column blocks split for balance."""
    x, w = operands(dn, 4, 40, (14, 13), 70, (3, 3))
    check(conv_fn(dn, (2, 2), "SAME"), x, w)


@pytest.mark.parametrize("dn", LAYOUTS[2][:2])
@pytest.mark.parametrize("cores", [2, 3])
def test_first_layer_filter_gradient_splits_k(dn, cores, monkeypatch):
    """The filter gradient of a 1-channel stride-2 first layer (a 3x3 output, K = batch x positions over several
    KC blocks: a single work item) splits K over the cores, unevenly too; the splits' sums are added up."""
    monkeypatch.setattr(threads, "num_cores", lambda: cores)
    x, w = operands(dn, 8, 1, (28 + cores, 28), 16, (3, 3))
    fn = conv_fn(dn, (2, 2), "SAME")
    check(fn, x, w)
    y = np.asarray(portax.jit(fn, backend="reference")(x, w))
    grads = lambda x, w, gy: portax.vjp(fn, x, w)[1](gy)
    kernels = [k.description for k in compiled(grads, x, w, y).kernels if "conv_general_dilated" in k.description]
    assert any("K in" in k for k in kernels), kernels


def test_column_blocks_split_evenly(monkeypatch):
    """Column blocks of the implicit GEMM split evenly over the cores: 9 column panels (the filter gradient of a
    32 -> 64 3x3 layer) run as 2 items on 2 cores, not 3; 49 panels keep 4 items of 13."""
    monkeypatch.setattr(threads, "num_cores", lambda: 2)
    bk = gemm.blocking(np.float32)
    assert conv_gemm._even_columns(3 * bk.nr, 9 * bk.nr, bk, 1) == 5 * bk.nr
    assert conv_gemm._even_columns(13 * bk.nr, 49 * bk.nr, bk, 1) == 13 * bk.nr


@pytest.mark.parametrize("dtype, rtol", [("float32", 1e-4), ("float64", 1e-12)])
@pytest.mark.parametrize("dn", LAYOUTS[2][:2])
def test_small_images_filter_gradient_k_split(dn, dtype, rtol, monkeypatch):
    """A stride-2 layer on small images (7x7 outputs: output tiles across images fall into a few contiguous runs,
    13 features leave partial row panels), weights packed through in-register transposes (runs of the
    contraction, broken at image ends for the filter gradient), and its filter gradient (a small output beside
    a long K) split over K evenly although there are as many column blocks as cores."""
    monkeypatch.setattr(threads, "num_cores", lambda: 2)
    with x64_enabled(dtype == "float64"):
        x, w = operands(dn, 6, 32, (14, 13), 13, (3, 3), dtype=dtype)
        fn = conv_fn(dn, (2, 2), "SAME")
        check(fn, x, w, rtol=rtol)
        y = np.asarray(portax.jit(fn, backend="reference")(x, w))
        filter_grad = lambda x, w, gy: portax.vjp(fn, x, w)[1](gy)[1]
        kernels = [k.description for k in compiled(filter_grad, x, w, y).kernels if "conv_general" in k.description]
        assert len(kernels) == 1 and ("K in 2 splits" if dtype == "float32" else "K in") in kernels[0], kernels


def test_huge_spatial_extent_not_implemented():
    """Coordinates are checked in int32 by the packing: spatial extents of 2**30 or more are refused."""
    p = dict(dimension_numbers=((0, 1, 2), (0, 1, 2), (0, 1, 2)), feature_group_count=1, batch_group_count=1,
             window_strides=(1,), padding=((1, 1),), lhs_dilation=(1,), rhs_dilation=(1,))
    with pytest.raises(NotImplementedError, match="2\\*\\*30"):
        conv_gemm._records((1, 1, 2 ** 30), (1, 1, 3), (1, 1, 2 ** 30), p, np.dtype(np.float32), False)
    assert conv_gemm._records((1, 1, 2 ** 20), (1, 1, 3), (1, 1, 2 ** 20), p, np.dtype(np.float32), False)[1] > 0


def test_grouped_filter_gradient_k_split(monkeypatch):
    """The filter gradient of a grouped layer (3 batch groups on 2 cores) with a long K: one item per group and
    K split, every split summing all groups into its own copy of the output."""
    monkeypatch.setattr(threads, "num_cores", lambda: 2)
    dn = LAYOUTS[2][0]
    x, w = operands(dn, 8, 6, (24, 23), 12, (3, 3), 3)
    fn = conv_fn(dn, (1, 1), "SAME", groups=3)
    y = np.asarray(portax.jit(fn, backend="reference")(x, w))
    g = RNG.standard_normal(y.shape).astype(y.dtype)
    filter_grad = lambda x, w, gy: portax.vjp(fn, x, w)[1](gy)[1]
    assert_matches(filter_grad, x, w, g, rtol=1e-4)
    kernels = [k.description for k in compiled(filter_grad, x, w, g).kernels if "conv_general" in k.description]
    assert len(kernels) == 1 and "K in 2 splits" in kernels[0], kernels


NHWC_CASES = [  # (n, c, spatial, o, kernel, strides, padding, rhs dil, groups, forward and lhs gradient by rows
    # with AVX-512 tiles)
    (3, 90, (9, 8), 37, (3, 3), (1, 1), "SAME", None, 1, (False, True)),  # K = 810: 2 K blocks of patch rows
    (4, 32, (11, 10), 20, (3, 3), (2, 2), "SAME", (2, 1), 1, (True, True)),  # phases of the lhs gradient
    (2, 12, (7, 9), 40, (3, 2), (1, 2), ((1, 0), (2, 1)), None, 2, (True, False)),
    (5, 3, (6, 13), 26, (2, 3), (2, 1), "VALID", (1, 2), 1, (True, False)),  # runs of 3 features: gathers
]


@pytest.mark.parametrize("case", range(len(NHWC_CASES)))
def test_nhwc_contiguous_packing(case):
    """NHWC: the patches (features innermost in the contraction) are packed a row at a time, in K blocks past
    KC, and the filter gradient runs output positions over its batch (the input features) innermost; odd
    sizes, strides (lhs-dilated phases in the input gradient), dilations, asymmetric padding and groups."""
    n, c, spatial, o, kernel, strides, padding, rd, g, by_rows = NHWC_CASES[case]
    dn = LAYOUTS[2][1]
    x, w = operands(dn, n, c, spatial, o, kernel, g)
    fn = conv_fn(dn, strides, padding, rhs_dil=rd, groups=g)
    check(fn, x, w)
    y = np.asarray(portax.jit(fn, backend="reference")(x, w))
    programs = [(fn, (x, w))] + [(lambda x, w, gy, i=i: portax.vjp(fn, x, w)[1](gy)[i], (x, w, y)) for i in (0, 1)]
    labels = []
    for f, args in programs:
        kernels = [k.description for k in compiled(f, *args).kernels if "conv_general" in k.description]
        assert len(kernels) == 1, kernels
        labels.append(kernels[0])
    if gemm.blocking(np.float32).lanes == 16:  # which products are swapped depends on the tile sizes
        assert ["patches by rows" in k for k in labels[:2]] == list(by_rows), labels
    assert "batch innermost" in labels[2], labels


@pytest.mark.parametrize("dtype, rtol", [("float16", 2e-2), ("float64", 1e-12)])
def test_nhwc_patch_rows_dtypes(dtype, rtol):
    """Patches packed by rows from float16 inputs (widened while packing) and in float64 (8 lanes a vector)."""
    dn = LAYOUTS[2][1]
    with x64_enabled(True):
        x, w = operands(dn, 2, 20, (7, 6), 9, (3, 3), dtype=dtype)
        check(conv_fn(dn, (1, 1), "SAME"), x, w, grads=dtype == "float64", rtol=rtol)


def test_nhwc_filter_gradient_packs_rows_once(monkeypatch):
    """The filter gradient of an NHWC 64 -> 64 3x3 layer: its 576 output positions (input features innermost)
    split into one row block per core, each over all 64 columns, so no core packs the same patches twice."""
    monkeypatch.setattr(threads, "num_cores", lambda: 2)
    p = dict(dimension_numbers=((3, 0, 1, 2), (3, 0, 1, 2), (2, 3, 0, 1)), feature_group_count=1,
             batch_group_count=1, window_strides=(1, 1), padding=((1, 1), (1, 1)), lhs_dilation=(1, 1),
             rhs_dilation=(1, 1))
    (r,), items = conv_gemm._records((8, 56, 56, 64), (8, 56, 56, 64), (3, 3, 64, 64), p, np.dtype(np.float32), False)
    assert (r["swap"], r["nminor"], r["n_mb"], r["n_nb"], items) == (1, 1, 2, 1, 2)
