"""The primitives conv_general_dilated, reduce_window_sum, reduce_window_max, reduce_window_min and top_k:
values against direct numpy definitions (index arithmetic, scipy.signal.correlate), derivatives (finite
differences and JVP/VJP adjointness), vmap against loops, jit, and JAX's errors."""
import itertools

import numpy as np
import pytest
from scipy.signal import correlate

import portax as jax
import portax.numpy as jnp
from portax import lax
from portax.core.primitives.windowed import identity
from portax.test_util import check_grads, check_jvp, check_vjp


# --- direct definitions ------------------------------------------------------------------------------------------
def naive_conv(x, w, strides, padding, lhs_dil, rhs_dil, fgc=1, bgc=1):
    """Convolution of canonical (N, C, *S) and (O, I, *K) arrays, one output element at a time from the
    coordinates of the dilated, padded input (no padding or dilation is materialised)."""
    (n, c), (o, i), sizes, kernel = x.shape[:2], w.shape[:2], x.shape[2:], w.shape[2:]
    dilated = [(s - 1) * d + 1 if s else 0 for s, d in zip(sizes, lhs_dil)]
    out_sp = [max(0, (ds + lo + hi - ((k - 1) * rd + 1)) // st + 1)
              for ds, (lo, hi), k, rd, st in zip(dilated, padding, kernel, rhs_dil, strides)]
    out = np.zeros((n // bgc, o) + tuple(out_sp))
    per_group = o // (fgc * bgc)
    for oc in range(o):
        gi = oc // per_group
        chans = slice(gi * i, (gi + 1) * i) if fgc > 1 else slice(0, c)
        batch = slice(gi * (n // bgc), (gi + 1) * (n // bgc)) if bgc > 1 else slice(0, n)
        for pos in np.ndindex(*out_sp):
            for koff in np.ndindex(*kernel):
                coords = [p * st + k * rd - lo for p, st, k, rd, (lo, _) in zip(pos, strides, koff, rhs_dil, padding)]
                if any(cd < 0 or cd >= ds or cd % ld for cd, ds, ld in zip(coords, dilated, lhs_dil)):
                    continue
                src = tuple(cd // ld for cd, ld in zip(coords, lhs_dil))
                out[(slice(None), oc) + pos] += x[(batch, chans) + src].astype(np.float64) @ w[(oc, slice(None)) + koff]
    return out


def explicit_pads(padding, in_sizes, kernel, strides, rhs_dil):
    if not isinstance(padding, str):
        return padding
    eff = [(k - 1) * d + 1 for k, d in zip(kernel, rhs_dil)]
    if padding == "VALID":
        return [(0, 0)] * len(in_sizes)
    pads = []
    for n, k, s in zip(in_sizes, eff, strides):
        total = max(0, (-(-n // s) - 1) * s + k - n)
        pads.append((total // 2, total - total // 2) if padding == "SAME" else (total - total // 2, total // 2))
    return pads


def layouts(specs, nsp):
    """Canonical letter orders (lhs 'NC'+spatial, rhs 'OI'+spatial, spatial in rhs order) and the given specs."""
    if specs is None:
        sp = "HWD"[:nsp]
        return ("NC" + sp, "OI" + sp, "NC" + sp), ("NC" + sp, "OI" + sp, "NC" + sp)
    sp = "".join(ch for ch in specs[1] if ch not in "OI")
    return ("NC" + sp, "OI" + sp, "NC" + sp), specs


def relayout(a, src, dst):
    return np.einsum(f"{src}->{dst}", a)


CONV_CASES = [
    dict(x=(2, 3, 6, 5), w=(4, 3, 3, 2), strides=(1, 1), padding="VALID"),
    dict(x=(2, 3, 6, 5), w=(4, 3, 3, 2), strides=(2, 1), padding="SAME", specs=("NHWC", "HWIO", "NHWC")),
    dict(x=(2, 3, 7, 5), w=(2, 3, 2, 3), strides=(2, 2), padding="SAME_LOWER", rhs_dil=(1, 2)),
    dict(x=(2, 3, 6, 5), w=(4, 3, 3, 2), strides=(1, 2), padding=((1, 2), (0, 1)), rhs_dil=(2, 1),
         specs=("NHWC", "OIHW", "NCHW")),
    dict(x=(1, 2, 5, 4), w=(3, 2, 2, 2), strides=(1, 1), padding=((-1, 1), (2, -1)), lhs_dil=(2, 1)),
    dict(x=(2, 2, 4, 3), w=(2, 2, 3, 2), strides=(2, 1), padding=((2, 2), (1, 0)), lhs_dil=(2, 3), rhs_dil=(1, 2)),
    dict(x=(2, 4, 5, 5), w=(6, 2, 3, 3), strides=(1, 1), padding=((1, 1), (1, 1)), fgc=2),
    dict(x=(2, 3, 5, 5), w=(6, 1, 2, 2), strides=(2, 1), padding="VALID", fgc=3, specs=("NHWC", "HWIO", "NHWC")),
    dict(x=(4, 3, 5, 4), w=(6, 3, 2, 2), strides=(1, 1), padding=((0, 1), (1, 0)), bgc=2),
    dict(x=(6, 2, 4, 4), w=(3, 2, 2, 3), strides=(1, 2), padding="VALID", bgc=3, specs=("WCNH", "IWHO", "HWNC")),
    dict(x=(2, 2, 7), w=(3, 2, 3), strides=(2,), padding=((2, 1),), lhs_dil=(2,), rhs_dil=(2,)),
    dict(x=(1, 2, 4, 3, 3), w=(2, 2, 2, 2, 1), strides=(1, 2, 1), padding="SAME"),
    dict(x=(2, 3, 3, 2), w=(2, 3, 4, 1), strides=(1, 1), padding="VALID"),  # kernel larger than input: empty
]


def conv_case_args(case, rng, dtype=np.float32):
    """Portax-layout operands, call kwargs, and the naive result in the output layout."""
    nsp = len(case["x"]) - 2
    canon, specs = layouts(case.get("specs"), nsp)
    x = rng.standard_normal(case["x"]).astype(dtype)
    w = rng.standard_normal(case["w"]).astype(dtype)
    lhs_dil, rhs_dil = case.get("lhs_dil", (1,) * nsp), case.get("rhs_dil", (1,) * nsp)
    kw = dict(window_strides=case["strides"], padding=case["padding"], lhs_dilation=case.get("lhs_dil"),
              rhs_dilation=case.get("rhs_dil"), dimension_numbers=case.get("specs"),
              feature_group_count=case.get("fgc", 1), batch_group_count=case.get("bgc", 1))
    pads = explicit_pads(case["padding"], x.shape[2:], w.shape[2:], case["strides"], rhs_dil)
    ref = naive_conv(x, w, case["strides"], pads, lhs_dil, rhs_dil, case.get("fgc", 1), case.get("bgc", 1))
    return relayout(x, canon[0], specs[0]), relayout(w, canon[1], specs[1]), kw, relayout(ref, canon[2], specs[2])


def case_id(case):
    return "-".join(f"{k}={v}" for k, v in case.items() if k not in ("x", "w")) + f"-x{case['x']}"


# --- conv_general_dilated: values ---------------------------------------------------------------------------------
@pytest.mark.parametrize("case", CONV_CASES, ids=case_id)
def test_conv_matches_direct_definition(case, rng):
    x, w, kw, ref = conv_case_args(case, rng)
    out = lax.conv_general_dilated(x, w, **kw)
    assert out.dtype == np.float32 and out.shape == ref.shape
    np.testing.assert_allclose(np.asarray(out), ref, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("nsp", [1, 2, 3])
def test_conv_valid_matches_scipy_correlate(nsp, rng):
    x = rng.standard_normal((2, 3) + (6, 5, 4)[:nsp]).astype(np.float32)
    w = rng.standard_normal((4, 3) + (3, 2, 2)[:nsp]).astype(np.float32)
    out = lax.conv(x, w, (1,) * nsp, "VALID")
    ref = np.array([[sum(correlate(x[b, c], w[o, c], mode="valid") for c in range(3)) for o in range(4)]
                    for b in range(2)])
    np.testing.assert_allclose(np.asarray(out), ref, rtol=1e-5, atol=1e-5)


def test_conv_same_shape_and_scipy(rng):
    x = rng.standard_normal((1, 1, 7, 6)).astype(np.float32)
    w = rng.standard_normal((1, 1, 3, 3)).astype(np.float32)
    out = lax.conv(x, w, (1, 1), "SAME")
    np.testing.assert_allclose(np.asarray(out)[0, 0], correlate(x[0, 0], w[0, 0], mode="same"), rtol=1e-5, atol=1e-5)
    assert lax.conv(x, w, (2, 3), "SAME").shape == (1, 1, 4, 2)


@pytest.mark.parametrize("dtype,pet", [(np.int8, np.int32), (np.int32, None), (np.float16, np.float32),
                                       (np.int16, np.float32), (np.bool_, None)])
def test_conv_dtypes_and_preferred_element_type(dtype, pet, rng):
    x = rng.randint(-3, 4, (2, 2, 5, 4)).astype(dtype)
    w = rng.randint(-3, 4, (3, 2, 2, 2)).astype(dtype)
    out = lax.conv_general_dilated(x, w, (1, 1), ((1, 0), (0, 1)), preferred_element_type=pet)
    ref = naive_conv(x.astype(np.float64), w.astype(np.float64), (1, 1), ((1, 0), (0, 1)), (1, 1), (1, 1))
    want = np.dtype(pet or dtype)
    assert out.dtype == want
    np.testing.assert_allclose(np.asarray(out).astype(np.float64), (ref != 0) if want == np.bool_ else ref, rtol=1e-3)


def test_conv_with_general_padding_and_dimension_numbers(rng):
    x = rng.standard_normal((2, 3, 5, 6)).astype(np.float32)
    w = rng.standard_normal((4, 3, 2, 3)).astype(np.float32)
    out = lax.conv_with_general_padding(x, w, (1, 2), ((1, 0), (2, 1)), (2, 1), (1, 2))
    ref = naive_conv(x, w, (1, 2), ((1, 0), (2, 1)), (2, 1), (1, 2))
    np.testing.assert_allclose(np.asarray(out), ref, rtol=1e-5, atol=1e-5)
    dn = lax.conv_dimension_numbers((2, 5, 6, 3), (2, 3, 3, 4), ("NHWC", "HWIO", "NHWC"))
    assert dn == lax.ConvDimensionNumbers((0, 3, 1, 2), (3, 2, 0, 1), (0, 3, 1, 2))
    assert lax.conv_dimension_numbers((1, 2, 3), (1, 2, 3), None) == lax.ConvDimensionNumbers(*[(0, 1, 2)] * 3)
    assert lax.padtype_to_pads((7, 6), (3, 2), (2, 1), "SAME") == [(1, 1), (0, 1)]
    assert lax.padtype_to_pads((6,), (4,), (1,), "SAME_LOWER") == [(2, 1)]
    assert lax.conv_shape_tuple((2, 3, 7, 6), (4, 3, 3, 2), (2, 1), "SAME") == (2, 4, 4, 6)
    assert lax.reduce_window_shape_tuple((7, 6), (3, 2), (2, 1), ((1, 1), (0, 0)), (1, 2), (1, 2)) == (4, 9)


def _scatter_transpose_conv(x, w, s):
    """Keras Conv1DTranspose by definition: out[n, i*s + k, o] += x[n, i, c] * w[k, o, c] (kernel (K, O, I))."""
    n, length, _ = x.shape
    k, o, _ = w.shape
    out = np.zeros((n, (length - 1) * s + k, o))
    for i, kk in itertools.product(range(length), range(k)):
        out[:, i * s + kk] += x[:, i].astype(np.float64) @ w[kk].T
    return out


@pytest.mark.parametrize("k,s", [(3, 2), (2, 2), (4, 3), (3, 1)])
def test_conv_transpose_valid_is_scatter_definition(k, s, rng):
    x = rng.standard_normal((2, 5, 3)).astype(np.float32)
    w = rng.standard_normal((k, 4, 3)).astype(np.float32)
    out = lax.conv_transpose(x, w, (s,), "VALID", transpose_kernel=True)
    np.testing.assert_allclose(np.asarray(out), _scatter_transpose_conv(x, w, s), rtol=1e-5, atol=1e-5)
    unflipped = lax.conv_transpose(x, np.ascontiguousarray(np.flip(w, 0).transpose(0, 2, 1)), (s,), "VALID")
    np.testing.assert_allclose(np.asarray(unflipped), np.asarray(out), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("k,s", [(3, 2), (4, 2), (3, 1)])
def test_conv_transpose_same_is_gradient_of_conv(k, s, rng):
    """With transpose_kernel, SAME conv_transpose is the lhs-gradient of the strided SAME convolution."""
    x = rng.standard_normal((2, 8, 3)).astype(np.float32)
    w = rng.standard_normal((k, 3, 4)).astype(np.float32)
    conv = lambda v: lax.conv_general_dilated(v, w, (s,), "SAME", dimension_numbers=("NHC", "HIO", "NHC"))
    y, pullback = jax.vjp(conv, x)
    ct = rng.standard_normal(y.shape).astype(np.float32)
    out = lax.conv_transpose(ct, w, (s,), "SAME", transpose_kernel=True)
    assert out.shape == x.shape
    np.testing.assert_allclose(np.asarray(out), np.asarray(pullback(ct)[0]), rtol=1e-5, atol=1e-5)


# --- conv_general_dilated: derivatives, vmap, jit -----------------------------------------------------------------
@pytest.mark.parametrize("case", CONV_CASES[:-1], ids=case_id)
def test_conv_jvp_and_vjp(case, rng):
    x, w, kw, _ = conv_case_args(case, rng)
    f = lambda a, b: lax.conv_general_dilated(a, b, **kw)
    check_jvp(f, (x, w))
    check_vjp(f, (x, w))


def test_conv_second_order_and_preferred_type_grads(rng):
    x = rng.standard_normal((2, 2, 5, 4)).astype(np.float32)
    w = rng.standard_normal((4, 1, 3, 2)).astype(np.float32)
    f = lambda a, b: jnp.sum(jnp.tanh(lax.conv_general_dilated(a, b, (2, 1), "SAME", feature_group_count=2)))
    check_grads(f, (x, w), order=2, modes=("rev",))
    g = lambda a, b: lax.conv_general_dilated(a, b, (1, 1), "VALID", preferred_element_type=np.float32)
    xh, wh = x.astype(np.float16), rng.standard_normal((3, 2, 2, 2)).astype(np.float16)
    gx, gw = jax.grad(lambda a, b: jnp.sum(g(a, b)), argnums=(0, 1))(xh, wh)
    assert gx.dtype == np.float16 and gw.dtype == np.float16
    ref_gx = jax.grad(lambda a: jnp.sum(g(a, wh.astype(np.float32))))(xh.astype(np.float32))
    np.testing.assert_allclose(np.asarray(gx, np.float32), np.asarray(ref_gx), rtol=1e-2, atol=1e-2)


VMAP_CASES = [c for c in CONV_CASES if c["x"] in ((2, 3, 6, 5), (2, 4, 5, 5), (4, 3, 5, 4), (6, 2, 4, 4), (2, 2, 7))]


@pytest.mark.parametrize("in_axes", [(0, None), (None, 0), (0, 0), (2, 1)])
@pytest.mark.parametrize("case", VMAP_CASES, ids=case_id)
def test_conv_vmap_matches_loop(case, in_axes, rng):
    parts = [conv_case_args(case, rng) for _ in range(3)]
    kw = parts[0][2]
    xs = np.stack([p[0] for p in parts], axis=in_axes[0]) if in_axes[0] is not None else parts[0][0]
    ws = np.stack([p[1] for p in parts], axis=in_axes[1]) if in_axes[1] is not None else parts[0][1]
    out = jax.vmap(lambda a, b: lax.conv_general_dilated(a, b, **kw), in_axes=in_axes)(xs, ws)
    take = lambda arr, ax, i: arr if ax is None else np.take(arr, i, axis=ax)
    ref = np.stack([np.asarray(lax.conv_general_dilated(take(xs, in_axes[0], i), take(ws, in_axes[1], i), **kw))
                    for i in range(3)])
    np.testing.assert_allclose(np.asarray(out), ref, rtol=1e-5, atol=1e-5)


def test_conv_per_example_gradients_and_jit(rng):
    """vmap of grad (the rhs cotangent batches both operands) and jit of the whole thing agree with a loop."""
    xs = rng.standard_normal((3, 1, 2, 6, 5)).astype(np.float32)
    w = rng.standard_normal((4, 2, 3, 3)).astype(np.float32)

    def loss(w, x):
        y = lax.conv_general_dilated(x, w, (2, 1), "SAME", rhs_dilation=(1, 2))
        return jnp.sum(jax.nn.relu(y) ** 2)

    per_ex = jax.vmap(jax.grad(loss), in_axes=(None, 0))(w, xs)
    ref = np.stack([np.asarray(jax.grad(loss)(w, x)) for x in xs])
    np.testing.assert_allclose(np.asarray(per_ex), ref, rtol=1e-4, atol=1e-4)
    jitted = jax.jit(jax.vmap(jax.grad(loss), in_axes=(None, 0)))(w, xs)
    np.testing.assert_allclose(np.asarray(jitted), ref, rtol=1e-4, atol=1e-4)
    assert "conv_general_dilated" in str(jax.make_jaxpr(loss)(w, xs[0]))


@pytest.mark.parametrize("kwargs,err,match", [
    (dict(w=(4, 2, 3, 3)), ValueError, "lhs feature dimension size divided by feature_group_count"),
    (dict(fgc=2), ValueError, "feature_group_count must divide lhs feature dimension size"),
    (dict(bgc=4), ValueError, "batch_group_count must divide lhs batch dimension size"),
    (dict(wdtype=np.float16), TypeError, "requires arguments to have the same dtypes, got float32, float16"),
    (dict(specs=("NHWC", "HWIO")), TypeError, "must be length 3"),
    (dict(specs=("NHWX", "HWIO", "NHWC")), TypeError, "must contain the characters 'N' and 'C'"),
    (dict(padding="SAME", lhs_dil=(2, 1)), ValueError, "String padding is not implemented for transposed"),
    (dict(padding=((1, 1),)), TypeError, "padding must have one entry per spatial dimension"),
    (dict(padding=((-9, 0), (0, 0))), ValueError, "Negative padding is larger than the size"),
    (dict(padding="FULL"), RuntimeError, "Unrecognized padding type"),
    (dict(w=(4, 3, 3)), TypeError, "lhs and rhs ndim to be equal"),
])
def test_conv_errors(kwargs, err, match, rng):
    x = np.zeros((2, 3, 5, 5), np.float32)
    w = np.zeros(kwargs.get("w", (4, 3, 3, 3)), kwargs.get("wdtype", np.float32))
    with pytest.raises(err, match=match):
        lax.conv_general_dilated(x, w, (1, 1), kwargs.get("padding", "VALID"), lhs_dilation=kwargs.get("lhs_dil"),
                                 dimension_numbers=kwargs.get("specs"), feature_group_count=kwargs.get("fgc", 1),
                                 batch_group_count=kwargs.get("bgc", 1))


# --- reduce_window -------------------------------------------------------------------------------------------------
def naive_reduce_window(x, fn, init, dims, strides, padding, base_dil, win_dil):
    """Each output element folds ``fn`` from ``init`` over the window elements that land on operand elements."""
    dilated = [(s - 1) * b + 1 if s else 0 for s, b in zip(x.shape, base_dil)]
    out_shape = [max(0, (d + lo + hi - ((w - 1) * wd + 1)) // st + 1)
                 for d, (lo, hi), w, wd, st in zip(dilated, padding, dims, win_dil, strides)]
    out = np.full(out_shape, init, dtype=x.dtype)
    for pos in np.ndindex(*out_shape):
        acc = init
        for off in np.ndindex(*dims):
            coords = [p * st + o * wd - lo for p, st, o, wd, (lo, _) in zip(pos, strides, off, win_dil, padding)]
            if all(0 <= c < d and c % b == 0 for c, d, b in zip(coords, dilated, base_dil)):
                acc = fn(acc, x[tuple(c // b for c, b in zip(coords, base_dil))])
        out[pos] = acc
    return out


RW_CASES = [
    dict(shape=(5, 6), dims=(2, 3), strides=(1, 1), padding="VALID"),
    dict(shape=(5, 6), dims=(3, 3), strides=(2, 2), padding="SAME"),
    dict(shape=(6, 5), dims=(2, 2), strides=(2, 1), padding="SAME_LOWER", win_dil=(2, 1)),
    dict(shape=(4, 5), dims=(2, 3), strides=(1, 2), padding=((1, 2), (0, 1)), base_dil=(2, 1)),
    dict(shape=(4, 5), dims=(3, 2), strides=(2, 1), padding=((2, -1), (1, 1)), base_dil=(1, 2), win_dil=(1, 2)),
    dict(shape=(2, 3, 4), dims=(1, 2, 2), strides=(1, 1, 2), padding=((0, 0), (1, 0), (0, 1))),
    dict(shape=(7,), dims=(3,), strides=(2,), padding=((1, 1),), base_dil=(3,), win_dil=(2,)),
]
RW_OPS = {"sum": (lax.add, np.add, 0.0), "max": (lax.max, np.maximum, -np.inf), "min": (lax.min, np.minimum, np.inf)}


def rw_call(case):
    return dict(window_dimensions=case["dims"], window_strides=case["strides"], padding=case["padding"],
                base_dilation=case.get("base_dil"), window_dilation=case.get("win_dil"))


def rw_ref(x, case, fn, init):
    n = x.ndim
    pads = case["padding"]
    if isinstance(pads, str):
        eff = [(w - 1) * d + 1 for w, d in zip(case["dims"], case.get("win_dil", (1,) * n))]
        pads = explicit_pads(pads, x.shape, eff, case["strides"], (1,) * n)
    return naive_reduce_window(x, fn, init, case["dims"], case["strides"], pads, case.get("base_dil", (1,) * n),
                               case.get("win_dil", (1,) * n))


def distinct_values(rng, shape):
    """Well separated values, so finite differences never cross a tie of max/min."""
    return (rng.permutation(int(np.prod(shape))).reshape(shape) * 0.25 - 2.0).astype(np.float32)


@pytest.mark.parametrize("op", list(RW_OPS))
@pytest.mark.parametrize("case", RW_CASES, ids=lambda c: "-".join(f"{k}={v}" for k, v in c.items()))
def test_reduce_window_matches_direct_definition(case, op, rng):
    comp, fn, init = RW_OPS[op]
    x = rng.standard_normal(case["shape"]).astype(np.float32)
    out = lax.reduce_window(x, init, comp, **rw_call(case))
    np.testing.assert_allclose(np.asarray(out), rw_ref(x, case, fn, np.float32(init)), rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("op,init", [("sum", 1.5), ("max", 0.0), ("min", 0.25)])
def test_reduce_window_init_value_is_folded_once(op, init, rng):
    """As XLA: padding and dilation holes contribute nothing; init starts every window's fold."""
    comp, fn, _ = RW_OPS[op]
    case = RW_CASES[3]
    x = rng.standard_normal(case["shape"]).astype(np.float32)
    out = lax.reduce_window(x, init, comp, **rw_call(case))
    np.testing.assert_allclose(np.asarray(out), rw_ref(x, case, fn, np.float32(init)), rtol=1e-6, atol=1e-6)
    traced = jax.jit(lambda v, i: lax.reduce_window(v, i, comp, **rw_call(case)))(x, np.float32(init))
    np.testing.assert_allclose(np.asarray(traced), np.asarray(out), rtol=1e-6)


@pytest.mark.parametrize("dtype", [np.int32, np.uint8, np.bool_])
def test_reduce_window_integer_and_bool(dtype, rng):
    x = rng.randint(0, 9, (5, 4)).astype(dtype)
    case = dict(dims=(2, 2), strides=(1, 2), padding=((1, 0), (0, 1)))
    ops = [("max", lax.max, np.maximum), ("min", lax.min, np.minimum)] + \
        ([("sum", lax.add, np.add)] if dtype != np.bool_ else [])
    for name, comp, fn in ops:
        init = np.asarray(identity(name, np.dtype(dtype)))
        out = lax.reduce_window(x, init, comp, **rw_call(case))
        assert out.dtype == dtype
        np.testing.assert_array_equal(np.asarray(out), rw_ref(x, case, fn, init[()]))


@pytest.mark.parametrize("op", list(RW_OPS))
@pytest.mark.parametrize("case", RW_CASES, ids=lambda c: "-".join(f"{k}={v}" for k, v in c.items()))
def test_reduce_window_jvp_and_vjp(case, op, rng):
    """Finite init values (folded in with max/min) keep windows that only cover padding finite."""
    comp, _, _ = RW_OPS[op]
    init = {"sum": 0.0, "max": -10.0, "min": 10.0}[op]
    x = distinct_values(rng, case["shape"])
    f = lambda v: lax.reduce_window(v, init, comp, **rw_call(case))
    check_jvp(f, (x,))
    check_vjp(f, (x,))


def test_reduce_window_max_tangent_is_the_argmax_tangent(rng):
    x = distinct_values(rng, (4, 6))
    t = rng.standard_normal((4, 6)).astype(np.float32)
    case = dict(dims=(2, 3), strides=(2, 3), padding="VALID")
    _, t_out = jax.jvp(lambda v: lax.reduce_window(v, -np.inf, lax.max, **rw_call(case)), (x,), (t,))
    blocks = lambda a: a.reshape(2, 2, 2, 3).transpose(0, 2, 1, 3).reshape(2, 2, 6)
    arg = blocks(x).argmax(-1)
    np.testing.assert_allclose(np.asarray(t_out), np.take_along_axis(blocks(t), arg[..., None], -1)[..., 0])


@pytest.mark.parametrize("select_prim,ref", [(lax.ge_p, np.argmax), (lax.le_p, np.argmin)])
def test_select_and_gather_add_and_scatter_add(select_prim, ref, rng):
    # JAX's _select_and_gather_add/_select_and_scatter_add (lax_vmap_test calls them directly), also under vmap
    from portax.core.primitives.windowed import select_and_gather_add, select_and_scatter_add
    x = distinct_values(rng, (4, 6))
    t = rng.standard_normal((4, 6)).astype(np.float32)
    pads, ones = ((0, 0), (0, 0)), (1, 1)
    blocks = lambda a: a.reshape(2, 2, 2, 3).transpose(0, 2, 1, 3).reshape(2, 2, 6)
    arg = ref(blocks(x), -1)
    gathered = select_and_gather_add(t, x, select_prim, (2, 3), (2, 3), pads, ones, ones)
    np.testing.assert_allclose(np.asarray(gathered), np.take_along_axis(blocks(t), arg[..., None], -1)[..., 0])
    src = rng.standard_normal((2, 2)).astype(np.float32)
    expected = np.zeros((2, 2, 6), np.float32)
    np.put_along_axis(expected, arg[..., None], src[..., None], -1)
    expected = expected.reshape(2, 2, 2, 3).transpose(0, 2, 1, 3).reshape(4, 6)
    scattered = select_and_scatter_add(src, x, select_prim, (2, 3), (2, 3), pads)
    np.testing.assert_allclose(np.asarray(scattered), expected)
    batched = jax.vmap(lambda s, v: select_and_scatter_add(s, v, select_prim, (2, 3), (2, 3), pads),
                       in_axes=(None, 1), out_axes=1)(src, np.stack([x, x], 1))
    np.testing.assert_allclose(np.asarray(batched), np.stack([expected, expected], 1))
    with pytest.raises(ValueError, match="select_prim must be lax.ge_p or lax.le_p"):
        select_and_gather_add(t, x, lax.eq_p, (2, 3), (2, 3), pads, ones, ones)


def test_reduce_window_second_order_and_pooling_net(rng):
    x = distinct_values(rng, (2, 6, 6, 3))
    w = rng.standard_normal((3, 3, 3, 4)).astype(np.float32) * 0.3

    def net(x, w):
        y = jnp.tanh(lax.conv_general_dilated(x, w, (1, 1), "SAME", dimension_numbers=("NHWC", "HWIO", "NHWC")))
        y = lax.reduce_window(y, -jnp.inf, lax.max, (1, 2, 2, 1), (1, 2, 2, 1), "VALID")
        return jnp.sum(lax.reduce_window(y, 0.0, lax.add, (1, 2, 2, 1), (1, 1, 1, 1), "SAME") ** 2)

    check_grads(net, (x, w), order=1)
    check_grads(lambda v: jnp.sum(lax.reduce_window(v, 0.0, lax.add, (2, 2), (1, 2), "SAME") ** 2),
                (x[0, :, :, 0],), order=2)


@pytest.mark.parametrize("op", list(RW_OPS))
@pytest.mark.parametrize("axis", [0, 1, 2])
def test_reduce_window_vmap_matches_loop(op, axis, rng):
    comp, _, init = RW_OPS[op]
    case = RW_CASES[4]
    xs = distinct_values(rng, (3,) + case["shape"])
    xs = np.moveaxis(xs, 0, axis)
    f = lambda v: lax.reduce_window(v, init, comp, **rw_call(case))
    out = jax.vmap(f, in_axes=axis)(xs)
    ref = np.stack([np.asarray(f(np.take(xs, i, axis))) for i in range(3)])
    np.testing.assert_allclose(np.asarray(out), ref, rtol=1e-6)
    grads = jax.vmap(jax.grad(lambda v: jnp.sum(f(v) ** 2)), in_axes=axis)(xs)
    ref_g = np.stack([np.asarray(jax.grad(lambda v: jnp.sum(f(v) ** 2))(np.take(xs, i, axis))) for i in range(3)])
    np.testing.assert_allclose(np.asarray(grads), ref_g, rtol=1e-5, atol=1e-6)


def test_reduce_window_any_computation_and_variadic():
    x = np.arange(10, dtype=np.float32)
    # JAX's docstring example: a windowed product
    np.testing.assert_array_equal(np.asarray(lax.reduce_window(x, np.float32(1), lax.mul, (2,))), x[:-1] * x[1:])
    _, t = jax.jvp(lambda x: lax.reduce_window(x, 1.0, lax.mul, (2,)), (x,), (np.ones(10, np.float32),))
    np.testing.assert_array_equal(np.asarray(t), x[:-1] + x[1:])
    a = np.arange(12.0, dtype=np.float32).reshape(3, 4)
    s, m = lax.reduce_window((a, a), (0.0, -np.inf), lambda p, q: (p[0] + q[0], lax.max(p[1], q[1])), (2, 2),
                             (1, 2), [(0, 1), (1, 0)], base_dilation=(1, 2))
    want_s = lax.reduce_window(a, 0.0, lax.add, (2, 2), (1, 2), [(0, 1), (1, 0)], base_dilation=(1, 2))
    want_m = lax.reduce_window(a, -np.inf, lax.max, (2, 2), (1, 2), [(0, 1), (1, 0)], base_dilation=(1, 2))
    np.testing.assert_array_equal(np.asarray(s), np.asarray(want_s))
    np.testing.assert_array_equal(np.asarray(m), np.asarray(want_m))
    assert float(lax.reduce_window(np.float32(3), 1.0, lax.add, ())) == 4.0  # a scalar's only window


def test_reduce_window_errors():
    x = np.zeros((4, 4), np.float32)
    with pytest.raises(ValueError, match="reduce_window output must have the same tree structure as the operands"):
        lax.reduce_window(x, 0.0, lambda a, b: [a + b], (2, 2))
    with pytest.raises(ValueError, match="Operands must have the same tree structure as init_values"):
        lax.reduce_window((x, x), 0.0, lax.add, (2, 2))
    with pytest.raises(TypeError, match=r"window_dimensions must have every element be strictly positive, got \(0,"):
        lax.reduce_window(x, 0.0, lax.add, (0, 2))
    with pytest.raises(TypeError, match="wrong number of window_dimensions"):
        lax.reduce_window(x, 0.0, lax.add, (2,))
    with pytest.raises(TypeError, match="init_values to be scalars"):
        lax.reduce_window(x, np.zeros(2, np.float32), lax.add, (2, 2))
    with pytest.raises(TypeError, match="inconsistent dtypes"):
        lax.reduce_window(x, np.int32(0), lax.add, (2, 2))
    with pytest.raises(TypeError, match="must have a number dtype"):
        lax.reduce_window(x > 0, False, lax.add, (2, 2))


# --- top_k ---------------------------------------------------------------------------------------------------------
def np_top_k(x, k, axis=-1):
    """Stable descending selection (numpy's stable sort of the negated values)."""
    order = np.argsort(-x, axis=axis, kind="stable")
    idx = np.take(order, np.arange(k), axis=axis)
    return np.take_along_axis(x, idx, axis), idx


@pytest.mark.parametrize("shape,k,axis", [((7,), 3, -1), ((3, 6), 6, -1), ((4, 5, 3), 2, 1), ((2, 5), 0, -1),
                                          ((5, 3), 4, 0)])
@pytest.mark.parametrize("dtype", [np.float32, np.int32, np.uint8])
def test_top_k_matches_stable_sort(shape, k, axis, dtype, rng):
    x = rng.randint(0, 4, shape).astype(dtype)  # many ties: the first occurrence comes first
    values, indices = lax.top_k(x, k, axis=axis)
    ref_v, ref_i = np_top_k(x.astype(np.float64), k, axis)
    assert values.dtype == dtype and indices.dtype == np.int32
    np.testing.assert_array_equal(np.asarray(values), ref_v.astype(dtype))
    np.testing.assert_array_equal(np.asarray(indices), ref_i)


def test_top_k_special_values():
    values, indices = lax.top_k(np.array([1.0, np.nan, 3.0, -np.nan, np.inf, 0.0, -0.0], np.float32), 7)
    np.testing.assert_array_equal(np.asarray(indices), [1, 4, 2, 0, 5, 6, 3])
    np.testing.assert_array_equal(np.signbit(np.asarray(values)[4:6]), [False, True])  # +0 ranks above -0


def test_top_k_derivatives_vmap_jit(rng):
    x = distinct_values(rng, (3, 4, 6))
    f = lambda v: lax.top_k(v, 3)[0]
    check_jvp(f, (x,))
    check_vjp(f, (x,))
    g = jax.grad(lambda v: jnp.sum(lax.top_k(v, 2)[0] * np.array([2.0, 1.0], np.float32)))(x[0, 0])
    ref = np.zeros(6, np.float32)
    order = np.argsort(-x[0, 0])
    ref[order[0]], ref[order[1]] = 2.0, 1.0
    np.testing.assert_array_equal(np.asarray(g), ref)
    for axis in (0, 1, 2):
        vals, idx = jax.vmap(lambda v: lax.top_k(v, 2), in_axes=axis, out_axes=axis)(x)
        ref_v = np.stack([np_top_k(np.take(x, i, axis), 2)[0] for i in range(x.shape[axis])], axis)
        ref_i = np.stack([np_top_k(np.take(x, i, axis), 2)[1] for i in range(x.shape[axis])], axis)
        np.testing.assert_array_equal(np.asarray(vals), ref_v)
        np.testing.assert_array_equal(np.asarray(idx), ref_i)
    vals, idx = jax.jit(lambda v: lax.top_k(v, 4, axis=1))(x)
    np.testing.assert_array_equal(np.asarray(idx), np_top_k(x, 4, 1)[1])


def test_top_k_errors():
    with pytest.raises(ValueError, match="must be nonnegative"):
        lax.top_k(np.ones(3, np.float32), -1)
    with pytest.raises(ValueError, match="no larger than size along axis"):
        lax.top_k(np.ones(3, np.float32), 4)
    with pytest.raises(TypeError, match=">= 1 dimension"):
        lax.top_k(np.float32(1.0), 1)


def test_top_k_refuses_dimensions_beyond_int32_indices():
    x = jax.ShapeDtypeStruct((2 ** 31 + 1,), jnp.bfloat16)
    with pytest.raises(ValueError, match="top_k returns int32 indices, which will overflow"):
        jax.eval_shape(lambda x: lax.top_k(x, 100), x)
