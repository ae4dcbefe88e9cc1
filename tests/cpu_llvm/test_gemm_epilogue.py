"""Fused GEMM epilogues: a dot_general's elementwise consumers (bias, activation, residual, scaling, casts)
run in the packed GEMM's kernel on cpu_llvm, on every block of the product, with the same results as the
reference backend; products the GEMM cannot take an epilogue for fall back to two kernels."""
from __future__ import annotations

import numpy as np
import pytest

import portax
import portax.numpy as jnp
from portax import lax
from portax.core import fusion
from portax.core.primitives import contractions as ct

from cpu_llvm_helpers import assert_matches, compiled, x64_enabled

RNG = np.random.RandomState(5)


def arr(*shape, dtype=np.float32):
    return RNG.standard_normal(shape).astype(dtype)


def dense(x, w, b, r):
    return portax.nn.relu(x @ w + b) * 0.5 + r


# (m, k, n): edge tiles in both directions, one row, one column, blocks split over threads
SHAPES = [(128, 256, 192), (67, 129, 45), (1, 512, 300), (300, 512, 1), (513, 64, 257)]


@pytest.mark.parametrize("m, k, n", SHAPES)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_dense_layer_epilogue_matches_reference(m, k, n, dtype):
    with x64_enabled(dtype == np.float64):
        args = arr(m, k, dtype=dtype), arr(k, n, dtype=dtype), arr(n, dtype=dtype), arr(m, n, dtype=dtype)
        assert_matches(dense, *args, rtol=1e-4 if dtype == np.float32 else 1e-12)


def test_a_dense_layer_is_one_kernel():
    args = arr(128, 256), arr(256, 192), arr(192), arr(128, 192)
    c = compiled(dense, *args)
    assert c.kernel_count == 1, [k.description for k in c.kernels]


def test_product_read_elsewhere_is_written_too():
    """A training step keeps the pre-activation for the backward pass: both results are right."""
    def f(x, w, b):
        z = x @ w + b
        return z, jnp.tanh(z), jnp.sum(z, axis=0)
    assert_matches(f, arr(96, 200), arr(200, 160), arr(160), rtol=1e-4)


def test_epilogue_with_column_bias_casts_and_transposed_operands():
    def f(x, w, c):
        y = x.T @ w.T * c[:, None]
        return y.astype(jnp.float16), jnp.exp(-y) + 1.0
    assert_matches(f, arr(150, 120), arr(130, 150), arr(120), rtol=2e-3)


def test_training_step_gradients_match_reference():
    def loss(w1, b1, w2, b2, x, y):
        h = portax.nn.relu(x @ w1 + b1)
        return jnp.mean((h @ w2 + b2 - y) ** 2)
    args = arr(64, 128) * 0.1, arr(128), arr(128, 96) * 0.1, arr(96), arr(80, 64), arr(80, 96)
    assert_matches(portax.grad(loss, argnums=(0, 1, 2, 3)), *args, rtol=1e-4)


def test_batched_products_take_epilogues():
    def f(a, b, bias):
        return jnp.tanh(jnp.einsum("bij,bjk->bik", a, b) + bias)
    args = arr(4, 64, 80), arr(4, 80, 72), arr(72)
    assert_matches(f, *args, rtol=1e-4)
    assert compiled(f, *args).kernel_count == 1
    # two batch dimensions, a bias varying along one of them
    g = lambda a, b, c: lax.dot_general(a, b, (((3,), (2,)), ((0, 1), (0, 1)))) * \
        lax.broadcast_in_dim(c, (2, 3, 40, 70), (1,))
    args = arr(2, 3, 40, 100), arr(2, 3, 100, 70), arr(3)
    assert_matches(g, *args, rtol=1e-4)
    assert compiled(g, *args).kernel_count == 1


def test_small_and_transposed_results_keep_two_kernels_and_right_answers():
    assert_matches(lambda a, b: a @ b + 1.0, arr(3, 4), arr(4, 5))
    h = lambda a, b: jnp.einsum("mk,nk->nm", a, b) + 2.0  # the GEMM writes C^T = B A^T: no epilogue
    assert_matches(h, arr(70, 90), arr(60, 90), rtol=1e-4)


def test_fusion_pass_makes_contraction_kernels_only_where_the_policy_allows():
    jaxpr = fusion.inline_calls(portax.make_jaxpr(dense)(arr(8, 4), arr(4, 6), arr(6), arr(8, 6)).jaxpr)
    plain = fusion.fuse(jaxpr)
    assert [k.kind for k in plain][:1] == ["opaque"] and "contraction" not in [k.kind for k in plain]
    policy = fusion.FusionPolicy(epilogue_of=lambda eqn: eqn.primitive is ct.dot_general_p)
    kernels = fusion.fuse(jaxpr, policy)
    assert [k.kind for k in kernels] == ["contraction"]
    assert kernels[0].eqns[0].primitive is ct.dot_general_p and len(kernels[0].outputs) == 1
    # a transpose of the product swapping its free dimensions is the product of the swapped operands, which
    # takes the epilogue; one moving a batch dimension is not elementwise work on its blocks: two kernels
    t = portax.make_jaxpr(lambda x, w: (x @ w).T + 1.0)(arr(8, 4), arr(4, 6)).jaxpr
    kernels = fusion.fuse(t, policy)
    assert [k.kind for k in kernels] == ["contraction"]
    assert [x.aval.shape for x in kernels[0].eqns[0].inputs] == [(4, 6), (8, 4)]
    u = portax.make_jaxpr(lambda a, b: jnp.transpose(jnp.einsum("bij,bjk->bik", a, b), (1, 0, 2)) + 1.0)(
        arr(2, 8, 4), arr(2, 4, 6)).jaxpr
    assert [k.kind for k in fusion.fuse(fusion.inline_calls(u), policy)] == ["opaque", "loop"]


def test_contraction_binding_too_many_buffers_splits_into_the_product_and_its_consumers():
    def f(x, w, *rs):
        y = x @ w
        return tuple(y * r + i for i, r in enumerate(rs))
    jaxpr = portax.make_jaxpr(f)(arr(4, 3), arr(3, 5), *[arr(4, 5) for _ in range(5)]).jaxpr
    wide = fusion.FusionPolicy(epilogue_of=lambda eqn: eqn.primitive is ct.dot_general_p)
    assert [k.kind for k in fusion.fuse(jaxpr, wide)] == ["contraction"]
    narrow = fusion.FusionPolicy(epilogue_of=wide.epilogue_of, max_buffers=8)
    kernels = fusion.fuse(jaxpr, narrow)
    assert kernels[0].kind == "opaque" and kernels[0].root.primitive is ct.dot_general_p
    assert all(k.kind == "loop" and len(k.inputs) + len(k.outputs) <= 8 for k in kernels[1:])
    assert {v for k in kernels for v in k.outputs} >= set(jaxpr.outs)


def test_products_without_contracting_dimensions():
    """Outer products (no contracting dimension) and 2-D operands with two free dimensions each."""
    assert_matches(lambda a, b: jnp.outer(a, b) * 2.0 + 1.0, arr(300), arr(300), rtol=1e-5)
    assert_matches(lambda a, b: jnp.einsum("ij,kl->ijkl", a, b) + 1.0, arr(20, 30), arr(20, 30), rtol=1e-5)


def sgd_step(w1, b1, w2, b2, x, y):
    """One SGD step of a two-layer MLP: the weights' updates come after the whole backward pass."""
    def loss(params, x, y):
        w1, b1, w2, b2 = params
        h = portax.nn.relu(x @ w1 + b1)
        return jnp.mean((h @ w2 + b2 - y) ** 2)
    params = (w1, b1, w2, b2)
    grads = portax.grad(loss)(params, x, y)
    return portax.tree_util.tree_map(lambda p, g: p - 0.5 * g, params, grads)


def test_sgd_updates_run_in_the_weight_gradients_gemms():
    """A weight gradient ``transpose(dot(g, x))`` is computed as ``dot(x^T, g)``, and its update (``w - lr * g``,
    far later in the jaxpr) moves next to it: the GEMM's epilogue, no transpose or update kernel of its own."""
    args = arr(64, 128) * 0.1, arr(128), arr(128, 96) * 0.1, arr(96), arr(80, 64), arr(80, 96)
    assert_matches(sgd_step, *args, rtol=1e-4)
    descriptions = [k.description for k in compiled(sgd_step, *args).kernels]
    assert not any("transpose" in d or d.startswith(("loop[64,128]", "loop[128,96]")) for d in descriptions), \
        descriptions


def test_gathered_consumers_keep_their_dependencies():
    """A consumer reading a value computed after the product stays after it (here: in the later product's
    epilogue); a broadcast read by two consumers stays where it is."""
    def f(a, b, c, d):
        p = a @ b
        q = jnp.tanh(c @ d)
        s = jnp.full(p.shape, 3.0)
        return p * q - 1.0, p + s, q * s
    args = arr(70, 90), arr(90, 60), arr(70, 40), arr(40, 60)
    assert_matches(f, *args, rtol=1e-4)
    jaxpr = fusion.inline_calls(portax.make_jaxpr(f)(*args).jaxpr)
    policy = fusion.FusionPolicy(epilogue_of=lambda eqn: eqn.primitive is ct.dot_general_p)
    kernels = fusion.fuse(jaxpr, policy)
    seen = set(jaxpr.in_binders) | set(jaxpr.constvars)
    for k in kernels:
        assert set(k.inputs) <= seen, k.describe()
        seen.update(v for e in k.eqns for v in e.out_binders)
    assert [k.kind for k in kernels][:2] == ["opaque", "contraction"]  # p * q - 1 joins the product of q


def test_swapped_products_keep_precision_and_batch_dimensions():
    """``transpose(dot_general(a, b))`` folded into ``dot_general(b, a)``: with batch dimensions, several free
    dimensions per operand and a per-operand precision."""
    def f(a, b):
        y = lax.dot_general(a, b, (((2,), (1,)), ((0,), (0,))), precision=(lax.Precision.HIGHEST, lax.Precision.DEFAULT))
        return jnp.transpose(y, (0, 2, 1)) * 2.0
    assert_matches(f, arr(3, 50, 70), arr(3, 70, 40), rtol=1e-4)
    g = lambda a, b: jnp.transpose(jnp.einsum("ijk,kl->ijl", a, b), (2, 0, 1)) + 1.0
    assert_matches(g, arr(6, 7, 80), arr(80, 50), rtol=1e-4)


def test_transposed_operands_fold_into_the_product():
    """``x @ w.T`` reads ``w`` in place (no transpose kernel), with batch dimensions and several free
    dimensions; a transpose reordering an operand's free dimensions stays (the result's order depends on it)."""
    f = lambda x, w, b: x @ w.T + b
    args = arr(70, 90), arr(60, 90), arr(60)
    assert_matches(f, *args, rtol=1e-4)
    assert [k.kind for k in compiled(f, *args).kernels] == ["opaque"]  # one GEMM kernel with its epilogue
    g = lambda a, b: jnp.einsum("bij,bjk->bik", jnp.transpose(a, (0, 2, 1)), jnp.transpose(b, (1, 0, 2))) * 2.0
    assert_matches(g, arr(3, 50, 40), arr(50, 3, 30), rtol=1e-4)
    h = lambda a, b: lax.dot_general(jnp.transpose(a, (2, 1, 0)), b, (((2,), (0,)), ((), ()))) + 1.0
    assert_matches(h, arr(20, 10, 40), arr(20, 30), rtol=1e-4)
    assert any("transpose" in k.description for k in compiled(h, arr(20, 10, 40), arr(20, 30)).kernels)


# (m, k, n): products with few columns (logits of a dense layer, weight gradients of a first layer)
NARROW = [(m, k, n) for m, k in ((128, 3136), (300, 784)) for n in (1, 3, 10, 17)]


@pytest.mark.parametrize("m, k, n", NARROW)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_narrow_products_with_epilogues_and_transposed_operands(m, k, n, dtype):
    rtol = 1e-4 if dtype == np.float32 else 1e-12
    with x64_enabled(dtype == np.float64):
        bias = lambda x, w, b: portax.nn.relu(x @ w + b)
        assert_matches(bias, arr(m, k, dtype=dtype), arr(k, n, dtype=dtype), arr(n, dtype=dtype), rtol=rtol)
        both_t = lambda xt, wt, b: (xt.T @ wt.T + b, jnp.tanh(xt.T @ wt.T))
        assert_matches(both_t, arr(k, m, dtype=dtype), arr(n, k, dtype=dtype), arr(n, dtype=dtype), rtol=rtol)


def test_narrow_products_run_transposed_with_their_epilogue():
    """``C^T = B^T A^T`` fills the micro-kernel's tiles with the wide dimension; the epilogue still runs in the
    GEMM's kernel, on the elements of C."""
    args = arr(32, 3136), arr(3136, 10), arr(10)
    f = lambda x, w, b: portax.nn.relu(x @ w + b)
    assert_matches(f, *args, rtol=1e-4)
    descriptions = [k.description for k in compiled(f, *args).kernels]
    assert len(descriptions) == 1 and "narrow" in descriptions[0], descriptions
    wide = [k.description for k in compiled(f, arr(32, 3136), arr(3136, 64), arr(64)).kernels]
    assert len(wide) == 1 and "narrow" not in wide[0], wide


def test_sgd_updates_of_narrow_weight_gradients():
    """The logits layer's weight gradient ``h^T g`` (512 x 10) with its SGD update as the epilogue."""
    args = arr(784, 512) * 0.05, arr(512), arr(512, 10) * 0.05, arr(10), arr(128, 784), arr(128, 10)
    assert_matches(sgd_step, *args, rtol=1e-4)
    descriptions = [k.description for k in compiled(sgd_step, *args).kernels]
    assert not any(d.startswith(("loop[512,10]", "loop[784,512]")) for d in descriptions), descriptions
    assert sum("narrow" in d for d in descriptions) >= 2, descriptions


def test_batched_narrow_products():
    f = lambda a, b, c: jnp.tanh(jnp.einsum("bij,bjk->bik", a, b) + c)
    assert_matches(f, arr(3, 200, 784), arr(3, 784, 10), arr(10), rtol=1e-4)
    g = lambda a, b: jnp.einsum("ij,bjk->bik", a, b) * 2.0
    assert_matches(g, arr(300, 784), arr(2, 784, 3), rtol=1e-4)
