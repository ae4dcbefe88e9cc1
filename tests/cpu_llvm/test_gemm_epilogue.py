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
    # a transpose of the product is not elementwise work on its blocks: the product stays on its own
    t = portax.make_jaxpr(lambda x, w: (x @ w).T + 1.0)(arr(8, 4), arr(4, 6)).jaxpr
    assert [k.kind for k in fusion.fuse(t, policy)] == ["opaque", "loop"]


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
