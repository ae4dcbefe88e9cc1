"""portax.nn against closed forms and scipy, with derivative checks; initializers against JAX's values."""
import json
import math
import pathlib

import numpy as np
import pytest
import scipy.special as sp

import portax
import portax.numpy as jnp
from portax import nn
from portax.test_util import check_grads

X = np.linspace(-3.0, 3.0, 13).astype(np.float32)
X64 = np.linspace(-2.5, 2.5, 11)


def _softplus(x):
    return np.logaddexp(x, 0.0)


ACTIVATIONS = [
    ("relu", lambda x: np.maximum(x, 0)),
    ("relu6", lambda x: np.minimum(np.maximum(x, 0), 6)),
    ("sigmoid", sp.expit),
    ("log_sigmoid", lambda x: -_softplus(-x)),
    ("softplus", _softplus),
    ("soft_sign", lambda x: x / (1 + np.abs(x))),
    ("silu", lambda x: x * sp.expit(x)),
    ("swish", lambda x: x * sp.expit(x)),
    ("hard_tanh", lambda x: np.clip(x, -1, 1)),
    ("hard_sigmoid", lambda x: np.clip(x + 3, 0, 6) / 6),
    ("hard_silu", lambda x: x * np.clip(x + 3, 0, 6) / 6),
    ("leaky_relu", lambda x: np.where(x >= 0, x, 0.01 * x)),
    ("elu", lambda x: np.where(x > 0, x, np.expm1(x))),
    ("celu", lambda x: np.maximum(x, 0) + np.minimum(0, np.expm1(x))),
    ("selu", lambda x: 1.0507009873554805 * np.where(x > 0, x, 1.6732632423543772 * np.expm1(x))),
    ("gelu", lambda x: 0.5 * x * (1 + np.tanh(math.sqrt(2 / math.pi) * (x + 0.044715 * x ** 3)))),
    ("mish", lambda x: x * np.tanh(_softplus(x))),
    ("squareplus", lambda x: (x + np.sqrt(x * x + 4)) / 2),
    ("sparse_plus", lambda x: np.where(x <= -1, 0, np.where(x >= 1, x, (x + 1) ** 2 / 4))),
    ("sparse_sigmoid", lambda x: np.clip((x + 1) / 2, 0, 1)),
    ("identity", lambda x: x),
    ("tanh", np.tanh),
]


@pytest.mark.parametrize("name,ref", ACTIVATIONS, ids=[a[0] for a in ACTIVATIONS])
def test_activation_values(name, ref):
    out = getattr(nn, name)(X)
    assert out.dtype == jnp.float32
    np.testing.assert_allclose(out, ref(X.astype(np.float64)), rtol=1e-5, atol=1e-6)


def test_gelu_exact_and_integer_input():
    np.testing.assert_allclose(nn.gelu(X64, approximate=False), X64 * sp.ndtr(X64), rtol=1e-6)
    assert nn.relu(np.arange(-2, 3)).dtype == jnp.int32


def test_gelu_exact_keeps_the_float32_negative_tail():
    x = np.array([-12.0, -10.0, -7.5, -5.0, -3.0], np.float32)
    out = nn.gelu(x, approximate=False)
    assert out.dtype == jnp.float32
    np.testing.assert_allclose(out, x.astype(np.float64) * sp.ndtr(x.astype(np.float64)), rtol=1e-5)


SMOOTH = ["sigmoid", "log_sigmoid", "softplus", "silu", "elu", "celu", "selu", "gelu", "mish", "squareplus",
          "soft_sign", "leaky_relu"]


@pytest.mark.parametrize("name", SMOOTH)
def test_activation_gradients(name, x64):
    x = np.array([-1.7, -0.4, 0.3, 1.9])
    check_grads(getattr(nn, name), (x,), order=2)


def test_relu_derivative_is_zero_at_zero():
    assert float(portax.grad(nn.relu)(0.0)) == 0.0
    assert float(portax.grad(nn.relu)(2.0)) == 1.0


# JAX 0.10.2's derivatives at the kinks and ties (jax/_src/nn/functions.py, jax/_src/lax/other.py)
KINK_GRADS = [
    ("softplus", [0.0, -3.0], [0.5, sp.expit(-3.0)]),  # logaddexp(x, 0): a tie splits 1/2, 1/2
    ("log_sigmoid", [0.0], [0.5]),
    ("relu", [0.0, -0.0, 2.0, -1.0], [0.0, 0.0, 1.0, 0.0]),
    ("relu6", [0.0, 6.0, 3.0, -1.0, 7.0], [0.0, 0.0, 1.0, 0.0, 0.0]),  # custom_jvp: 0 at both kinks
    ("hard_sigmoid", [-3.0, 3.0, 0.0], [0.0, 0.0, 1 / 6]),
    ("hard_tanh", [-1.0, 1.0, 0.5, 2.0, -2.0], [1.0, 1.0, 1.0, 0.0, 0.0]),  # where(x > 1, 1, where(x < -1, -1, x))
    ("celu", [0.0], [1.0]),
    ("leaky_relu", [0.0], [1.0]),
    ("elu", [0.0], [1.0]),
    ("sparse_plus", [-1.0, 1.0], [0.0, 1.0]),
    ("sparse_sigmoid", [-1.0, 1.0], [0.25, 0.25]),  # 0.5 * clip(x + 1, 0, 2): maximum/minimum ties split
]


@pytest.mark.parametrize("name,xs,expected", KINK_GRADS, ids=[k[0] for k in KINK_GRADS])
def test_derivatives_at_kinks_match_jax(name, xs, expected):
    f = portax.vmap(portax.grad(getattr(nn, name)))
    np.testing.assert_allclose(f(np.array(xs, np.float32)), np.array(expected, np.float32), rtol=1e-6)
    np.testing.assert_allclose(portax.jit(f)(np.array(xs, np.float32)), np.array(expected, np.float32), rtol=1e-6)


def test_softmax_where_masks_and_renormalises():
    x = np.random.RandomState(4).randn(3, 5).astype(np.float32)
    mask = np.array([[True, False, True, True, False], [False] * 5, [True] + [False] * 4])
    out = np.asarray(nn.softmax(x, where=mask))
    ref = sp.softmax(np.where(mask[:2:2], x[:2:2], -np.inf), axis=-1)
    np.testing.assert_allclose(out[0], ref[0], rtol=1e-6)
    np.testing.assert_array_equal(out[~mask], 0.0)  # masked entries are 0 (JAX), also for an all-false row
    np.testing.assert_allclose(out.sum(-1), [1.0, 0.0, 1.0], rtol=1e-6)
    log_out = np.asarray(nn.log_softmax(x, where=mask))
    np.testing.assert_allclose(log_out[0, mask[0]], np.log(ref[0, mask[0]]), rtol=1e-6, atol=1e-6)
    assert np.all(log_out[~mask] == -np.inf)
    w = np.random.RandomState(5).randn(3, 5).astype(np.float32)
    for f in (nn.softmax, nn.log_softmax):
        loss = lambda v: jnp.sum(jnp.where(mask, f(v, where=mask), 0.0) * w)  # noqa: E731
        g = np.asarray(portax.grad(loss)(x))
        assert np.all(np.isfinite(g)) and np.all(g[~mask] == 0) and np.all(g[1] == 0)
        sub = x[0, mask[0]]  # the unmasked entries alone
        g_sub = portax.grad(lambda v: jnp.sum(f(v) * w[0, mask[0]]))(sub)
        np.testing.assert_allclose(g[0, mask[0]], g_sub, rtol=1e-5, atol=1e-7)


def test_softmax_family():
    x = np.random.RandomState(0).randn(3, 5).astype(np.float32)
    np.testing.assert_allclose(nn.softmax(x), sp.softmax(x, axis=-1), rtol=1e-5)
    np.testing.assert_allclose(nn.softmax(x, axis=0), sp.softmax(x, axis=0), rtol=1e-5)
    np.testing.assert_allclose(nn.log_softmax(x), sp.log_softmax(x, axis=-1), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(nn.logsumexp(x, axis=1), sp.logsumexp(x, axis=1), rtol=1e-6)
    np.testing.assert_allclose(nn.logsumexp(x), sp.logsumexp(x), rtol=1e-6)
    b = np.abs(x) + 0.1
    np.testing.assert_allclose(nn.logsumexp(x, axis=1, b=b), sp.logsumexp(x, axis=1, b=b), rtol=1e-6)
    out, sign = nn.logsumexp(x, axis=0, b=-b, return_sign=True)
    ref, ref_sign = sp.logsumexp(x, axis=0, b=-b, return_sign=True)
    np.testing.assert_allclose(out, ref, rtol=1e-6)
    np.testing.assert_array_equal(sign, ref_sign)
    mask = x > 0
    np.testing.assert_allclose(nn.softmax(x, where=mask)[mask],
                               np.asarray(sp.softmax(np.where(mask, x, -np.inf), axis=-1))[mask], rtol=1e-5)
    np.testing.assert_allclose(nn.logmeanexp(x, axis=1), sp.logsumexp(x, axis=1) - np.log(5), rtol=1e-6)


def test_softmax_gradients(x64):
    x = np.random.RandomState(1).randn(2, 4)
    check_grads(lambda v: nn.softmax(v), (x,), order=2)
    check_grads(lambda v: nn.log_softmax(v, axis=0), (x,), order=1)
    check_grads(lambda v: nn.logsumexp(v, axis=1), (x,), order=2)


def test_log1mexp(x64):
    x = np.array([1e-6, 0.1, 0.6931, 2.0, 30.0])
    ref = np.where(x < np.log(2), np.log(-np.expm1(-x)), np.log1p(-np.exp(-x)))
    np.testing.assert_allclose(nn.log1mexp(x), ref, rtol=1e-12)
    check_grads(nn.log1mexp, (np.array([0.3, 1.5]),), order=1)


def test_one_hot_standardize_glu():
    labels = np.array([0, 2, 1, 5, -1])
    expected = (labels[:, None] == np.arange(3)[None, :]).astype(np.float32)
    np.testing.assert_array_equal(nn.one_hot(labels, 3), expected)
    assert nn.one_hot(labels, 3, axis=0).shape == (3, 5)
    assert nn.one_hot(labels, 3, dtype=jnp.int32).dtype == jnp.int32
    x = np.random.RandomState(2).randn(4, 6)
    z = (x - x.mean(-1, keepdims=True)) / np.sqrt(x.var(-1, keepdims=True) + 1e-5)
    np.testing.assert_allclose(nn.standardize(x), z, rtol=1e-5)
    a, b = x[:, :3], x[:, 3:]
    np.testing.assert_allclose(nn.glu(x), a * sp.expit(b), rtol=1e-6)


def _attention_reference(q, k, v, mask=None, causal=False):
    logits = np.einsum("btnh,bsnh->bnts", q, k) / np.sqrt(q.shape[-1])
    T, S = logits.shape[-2:]
    keep = np.ones((T, S), bool)
    if causal:
        keep = np.tril(keep)
    if mask is not None:
        keep = keep & mask
    logits = np.where(keep, logits, -np.inf)
    return np.einsum("bnts,bsnh->btnh", sp.softmax(logits, axis=-1), v)


def test_dot_product_attention():
    rng = np.random.RandomState(3)
    q, k, v = (rng.randn(2, 4, 3, 8).astype(np.float32) for _ in range(3))
    np.testing.assert_allclose(nn.dot_product_attention(q, k, v), _attention_reference(q, k, v), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(nn.dot_product_attention(q, k, v, is_causal=True),
                               _attention_reference(q, k, v, causal=True), rtol=1e-5, atol=1e-6)
    mask = rng.rand(4, 4) > 0.3
    mask[:, 0] = True
    np.testing.assert_allclose(nn.dot_product_attention(q, k, v, mask=mask),
                               _attention_reference(q, k, v, mask=mask), rtol=1e-5, atol=1e-6)
    k1, v1 = k[:, :, :1], v[:, :, :1]  # grouped-query attention: one key/value head for three query heads
    np.testing.assert_allclose(nn.dot_product_attention(q, k1, v1),
                               _attention_reference(q, np.repeat(k1, 3, 2), np.repeat(v1, 3, 2)), rtol=1e-5, atol=1e-6)
    assert nn.dot_product_attention(q[0], k[0], v[0]).shape == (4, 3, 8)


def test_dot_product_attention_residual_is_the_logsumexp():
    rng = np.random.RandomState(6)
    q, k, v = (rng.randn(2, 4, 3, 8).astype(np.float32) for _ in range(3))
    k1, v1 = k[:, :, :1], v[:, :, :1]
    mask = rng.rand(4, 4) > 0.3
    mask[:, 0] = True
    for kk, vv in ((k, v), (k1, v1)):
        out, lse = nn.dot_product_attention(q, kk, vv, mask=mask, return_residual=True)
        kf = np.repeat(kk, 3 // kk.shape[2], 2)
        logits = np.where(mask, np.einsum("btnh,bsnh->bnts", q, kf) / np.sqrt(8), 0.7 * np.finfo(np.float32).min)
        assert lse.shape == (2, 4, 3) and lse.dtype == jnp.float32  # (B, T, N), as JAX
        np.testing.assert_allclose(lse, np.transpose(sp.logsumexp(logits, axis=-1), (0, 2, 1)), rtol=1e-5)
        np.testing.assert_allclose(out, nn.dot_product_attention(q, kk, vv, mask=mask), rtol=1e-6)
    out, lse = nn.dot_product_attention(q[0], k[0], v[0], return_residual=True)
    assert out.shape == (4, 3, 8) and lse.shape == (4, 3)
    (out, lse), vjp = portax.vjp(lambda a: nn.dot_product_attention(a, k, v, return_residual=True), q)
    (g,) = vjp((np.ones(out.shape, np.float32), np.ones(lse.shape, np.float32)))
    g_out = portax.grad(lambda a: nn.dot_product_attention(a, k, v).sum())(q)
    np.testing.assert_allclose(g, g_out, rtol=1e-6)  # the residual carries no gradient (stop_gradient, as JAX)


def test_dot_product_attention_zeroes_padded_queries():
    rng = np.random.RandomState(7)
    q, k, v = (rng.randn(2, 4, 3, 8).astype(np.float32) for _ in range(3))
    lengths = np.array([2, 4], np.int32)
    out = np.asarray(nn.dot_product_attention(q, k, v, query_seq_lengths=lengths))
    assert np.all(out[0, 2:] == 0)
    np.testing.assert_allclose(out[1], nn.dot_product_attention(q, k, v)[1], rtol=1e-6)
    np.testing.assert_allclose(out[0, :2], nn.dot_product_attention(q, k, v)[0, :2], rtol=1e-6)


def test_dot_product_attention_float64_fully_masked_rows_average_the_values():
    """The masked logits' large negative fits float32, the softmax's dtype (JAX's fix of its issue 37422): a row
    with every key masked averages the values, where float64's -0.7 * max would round to -inf and give NaN."""
    rng = np.random.RandomState(0)
    with portax.enable_x64():
        q, k, v = (jnp.asarray(rng.randn(5, 2, 4)) for _ in range(3))
        out = nn.dot_product_attention(q, k, v, mask=jnp.zeros((5,), bool))
        np.testing.assert_allclose(out, np.broadcast_to(np.asarray(v).mean(0), (5, 2, 4)), rtol=1e-6)



def test_softmax_and_masked_attention_run_under_debug_infs():
    """No -inf intermediate without ``where`` (JAX's test of float64 attention masks under jax_debug_infs)."""
    x = jnp.array([[5.5, 1.3, -4.2, 0.9]])
    with portax.debug_infs(True):
        np.testing.assert_allclose(nn.softmax(x), sp.softmax(np.asarray(x), axis=-1), rtol=1e-6)
        np.testing.assert_allclose(nn.log_softmax(x), sp.log_softmax(np.asarray(x), axis=-1), rtol=1e-6)
        with portax.enable_x64():
            out = nn.dot_product_attention(jnp.zeros((5, 6, 11), jnp.float64), jnp.zeros((7, 3, 11), jnp.float64),
                                           jnp.ones((7, 3, 11), jnp.float64), mask=jnp.arange(7) <= 3)
            np.testing.assert_array_equal(out, np.ones((5, 6, 11)))
    assert nn.softmax(jnp.zeros((0, 3))).shape == (0, 3)


_INIT = json.loads((pathlib.Path(__file__).parent / "data" / "jax_initializers.json").read_text())


@pytest.mark.parametrize("case", _INIT["cases"], ids=[c["init"] for c in _INIT["cases"]])
def test_initializers_match_jax(case):
    init = eval(case["init"], {}, vars(nn.initializers))
    out = init(portax.random.PRNGKey(3), tuple(case["shape"]))
    assert out.shape == tuple(case["shape"]) and out.dtype == jnp.float32
    np.testing.assert_allclose(out, np.asarray(case["value"], np.float32), rtol=2e-6, atol=2e-6)


def test_initializer_helpers():
    key = portax.random.PRNGKey(0)
    assert nn.initializers.zeros(key, (2, 3)).sum() == 0
    assert nn.initializers.ones(key, (2, 3), jnp.float16).dtype == jnp.float16
    with pytest.raises(ValueError, match="invalid mode"):
        nn.initializers.variance_scaling(1.0, "fan_sideways", "normal")(key, (2, 2))
    with pytest.raises(ValueError, match="at least 2D"):
        nn.initializers.glorot_normal()(key, (3,))
    q = nn.initializers.orthogonal()(key, (6, 4))
    np.testing.assert_allclose(np.asarray(q).T @ np.asarray(q), np.eye(4), atol=1e-5)


def test_standardize_algorithms_and_one_hot_checks_match_jax():
    x = np.array([[1.0, 2.0, 4.0], [3.0, 5.0, 9.0]], np.float32)
    want = (x - x.mean(-1, keepdims=True)) / np.sqrt(x.var(-1, keepdims=True) + 1e-5)
    np.testing.assert_allclose(nn.standardize(x, algorithm="stable"), want, rtol=1e-5)
    np.testing.assert_allclose(nn.standardize(x), want, rtol=1e-4)  # "fast": mean(x^2) - mean(x)^2
    with pytest.raises(ValueError, match="Unknown algorithm 'exact'"):
        nn.standardize(x, algorithm="exact")
    with pytest.raises(portax.errors.ConcretizationTypeError, match="in jax.nn.one_hot argument `num_classes`"):
        portax.jit(nn.one_hot)(3, 5)
    with pytest.warns(DeprecationWarning, match="jax.nn.one_hot input should be integer-typed"):
        nn.one_hot(np.array([1.0], np.float32), 3)
