"""The Array object's methods and protocols, dtype helpers, the lax composites and the public surface of the
API modules."""
import numpy as np
import pytest

import portax
import portax.numpy as jnp
from portax import lax
from portax.test_util import check_grads

RNG = np.random.RandomState(0)
X = RNG.randn(3, 4).astype(np.float32)


def test_array_protocols():
    x = jnp.asarray(X)
    assert np.asarray(x).dtype == np.float32 and np.array_equal(np.asarray(x), X)
    np.testing.assert_array_equal(np.from_dlpack(x), X)
    assert x.tolist() == X.tolist()
    assert x[1, 2].item() == X[1, 2].item()
    assert repr(jnp.arange(3)) == "Array([0, 1, 2], dtype=int32)"
    assert repr(jnp.asarray(2.0)) == "Array(2., dtype=float32, weak_type=True)"
    assert str(jnp.arange(3)) == "[0 1 2]"
    assert x.shape == (3, 4) and x.ndim == 2 and x.size == 12 and x.dtype == jnp.float32
    assert x.itemsize == 4 and x.nbytes == 48 and len(x) == 3
    assert x.T.shape == (4, 3) and jnp.ones((2, 3, 4)).mT.shape == (2, 4, 3)
    assert [r.shape for r in x] == [(4,)] * 3
    assert float(x[0, 0]) == float(X[0, 0]) and int(jnp.asarray(7)) == 7
    assert f"{jnp.asarray(1.5):.2f}" == "1.50"
    assert x.__array_namespace__() is jnp
    with pytest.raises(TypeError, match="unhashable"):
        hash(x)
    with pytest.raises(TypeError, match="len"):
        len(jnp.asarray(1.0))


@pytest.mark.parametrize("dtype", ["int32", "float32", "uint16", "int8", "bool", "complex64", "bfloat16"])
def test_byteswap_reverses_each_elements_bytes(dtype):
    a = (np.arange(6).reshape(2, 3) * 1000 + 1).astype(dtype)
    out = np.asarray(jnp.asarray(a).byteswap())
    assert out.dtype == a.dtype
    np.testing.assert_array_equal(out.view(np.uint8), a.byteswap().view(np.uint8))


def test_nbytes_of_arrays_and_tracers():
    assert jnp.ones((2, 3)).nbytes == 24
    assert portax.jit(lambda x: x.nbytes)(jnp.ones((2, 3), jnp.int8)) == 6
    assert portax.vmap(lambda x: jnp.asarray(x.nbytes))(jnp.ones((4, 5))).tolist() == [20] * 4


def test_array_methods():
    x = jnp.asarray(X)
    for name in ("sum", "mean", "max", "min", "prod", "std", "var", "argmax", "argmin", "cumsum", "cumprod", "ptp"):
        np.testing.assert_allclose(getattr(x, name)(axis=1), getattr(np, name)(X, axis=1), rtol=1e-5, err_msg=name)
    np.testing.assert_array_equal(x.reshape(2, 6), X.reshape(2, 6))
    np.testing.assert_array_equal(x.reshape((4, 3)), X.reshape((4, 3)))
    np.testing.assert_array_equal(x.transpose(1, 0), X.transpose(1, 0))
    np.testing.assert_array_equal(x.astype(jnp.int32), X.astype(np.int32))
    np.testing.assert_array_equal(x.clip(-0.5, 0.5), X.clip(-0.5, 0.5))
    np.testing.assert_array_equal(x.round(1), X.round(1))
    np.testing.assert_array_equal(x.sort(axis=0), np.sort(X, axis=0))
    np.testing.assert_array_equal(x.argsort(), X.argsort())
    np.testing.assert_array_equal(x.flatten(), X.flatten())
    np.testing.assert_array_equal(x.squeeze(), X.squeeze())
    np.testing.assert_array_equal(x.diagonal(), X.diagonal())
    np.testing.assert_allclose(x.trace(), X.trace(), rtol=1e-6)
    np.testing.assert_array_equal(x.take(np.array([0, 5])), X.take([0, 5]))
    np.testing.assert_array_equal(x.repeat(2, axis=1), X.repeat(2, axis=1))
    s = jnp.sort(x[0])
    np.testing.assert_array_equal(s.searchsorted(0.0), np.searchsorted(np.sort(X[0]), 0.0))
    np.testing.assert_array_equal(x.compress([True, False, True], axis=0), X.compress([True, False, True], axis=0))
    choices = [[1, 2, 3], [4, 5, 6]]
    np.testing.assert_array_equal(jnp.asarray([0, 1, 0]).choose(choices), np.choose([0, 1, 0], choices))
    np.testing.assert_array_equal(x.view(jnp.int32), X.view(np.int32))
    assert round(jnp.asarray(2.6)) == 3.0


def test_operators():
    x, y = jnp.asarray(X), jnp.asarray(X[::-1].copy())
    a, b = X, X[::-1]
    for op in ("__add__", "__sub__", "__mul__", "__truediv__", "__floordiv__", "__mod__", "__pow__", "__lt__",
               "__le__", "__eq__", "__ne__", "__gt__", "__ge__"):
        lhs = np.abs(a) if op == "__pow__" else a
        np.testing.assert_allclose(getattr(jnp.asarray(lhs), op)(y), getattr(lhs, op)(b), rtol=1e-5, err_msg=op)
    np.testing.assert_allclose(x @ y.T, a @ b.T, rtol=1e-5)
    np.testing.assert_allclose(2.0 - x, 2.0 - a)
    np.testing.assert_allclose(-x, -a)
    np.testing.assert_allclose(abs(x), np.abs(a))
    i = jnp.arange(6)
    np.testing.assert_array_equal((i & 3) | (i ^ 5) << 1 >> 1, (np.arange(6) & 3) | (np.arange(6) ^ 5) << 1 >> 1)
    np.testing.assert_array_equal(~i, ~np.arange(6))


def test_dtype_helpers():
    assert jnp.finfo(jnp.float32).eps == np.finfo(np.float32).eps
    assert jnp.iinfo(jnp.int8).max == 127
    assert jnp.promote_types(jnp.int8, jnp.uint8) == jnp.int16
    assert jnp.result_type(jnp.float16, 1.0) == jnp.float16
    assert jnp.can_cast(jnp.int8, jnp.int32) and not jnp.can_cast(jnp.float32, jnp.int32)
    assert jnp.issubdtype(jnp.float32, jnp.floating) and not jnp.issubdtype(jnp.int32, jnp.floating)
    assert jnp.isdtype(jnp.int32, "integral")
    assert jnp.float32(3).dtype == jnp.float32 and jnp.dtype("float32") == jnp.float32
    assert jnp.astype(X, jnp.float16).dtype == jnp.float16
    assert jnp.iscomplexobj(X) is False and jnp.isrealobj(X) is True
    assert jnp.iscomplexobj(jnp.asarray(np.ones(2, np.complex64))) and jnp.iscomplexobj(1j)
    assert jnp.isscalar(1.0) and jnp.isscalar(jnp.asarray(1.0)) and not jnp.isscalar(jnp.ones(2))


def test_lax_composites(x64):
    a, b = RNG.randn(2, 3, 4), RNG.randn(2, 4, 5)
    np.testing.assert_allclose(lax.batch_matmul(a, b), a @ b, rtol=1e-12)
    assert lax.broadcast_shapes((3, 1), (1, 4)) == (3, 4)
    assert lax.broadcast_to_rank(np.ones(3), 3).shape == (1, 1, 3)
    assert lax.collapse(np.ones((2, 3, 4, 5)), 1, 3).shape == (2, 12, 5)
    assert lax.collapse(np.ones((2, 3, 4)), 1).shape == (2, 12)
    x = RNG.randn(6)
    np.testing.assert_allclose(lax.cumlogsumexp(x), np.logaddexp.accumulate(x), rtol=1e-12)
    np.testing.assert_allclose(lax.cumlogsumexp(x, reverse=True), np.logaddexp.accumulate(x[::-1])[::-1], rtol=1e-12)
    parts = lax.split(np.arange(10.0), (3, 0, 7))
    assert [p.shape for p in parts] == [(3,), (0,), (7,)]
    np.testing.assert_array_equal(lax.tile(np.arange(3), (2,)), np.tile(np.arange(3), 2))
    m = RNG.randn(3, 4)
    np.testing.assert_allclose(lax.reduce(m, 0.0, lax.add, (1,)), m.sum(1), rtol=1e-12)
    generic_product = lambda u, v: u * v + 0.0 * u  # not a known monoid: reduced by pairwise halving
    np.testing.assert_allclose(lax.reduce(m, 1.0, generic_product, (0, 1)), np.prod(m), rtol=1e-12)
    vals, idx = lax.reduce((m, np.broadcast_to(np.arange(4), (3, 4))), (-np.inf, 0),
                           lambda p, q: (lax.max(p[0], q[0]), lax.select(p[0] >= q[0], p[1], q[1])), (1,))
    np.testing.assert_allclose(vals, m.max(1))
    np.testing.assert_array_equal(idx, m.argmax(1))
    dn = lax.ScatterDimensionNumbers((), (0,), (0,))
    np.testing.assert_allclose(lax.scatter_sub(np.zeros(3), np.array([[0], [2]]), np.array([1.0, 2.0]), dn),
                               [-1.0, 0.0, -2.0])
    assert lax.optimization_barrier((1.0, np.ones(2)))[1].shape == (2,)
    check_grads(lambda v: lax.cumlogsumexp(v), (x,), order=1)


def test_lax_exports_primitives_and_special_functions(x64):
    assert isinstance(lax.add_p, portax.core.trace.Primitive) and lax.cholesky_p.name == "cholesky"
    assert lax.fft_p.name == "fft" and lax.dot_general_p.name == "dot_general"
    import scipy.special as ss
    np.testing.assert_allclose(lax.bessel_i0e(np.array([0.5, 3.0])), ss.i0e([0.5, 3.0]), rtol=1e-12)
    np.testing.assert_allclose(lax.polygamma(2, np.array([0.5, 3.0])), ss.polygamma(2, [0.5, 3.0]), rtol=1e-10)
    np.testing.assert_allclose(lax.zeta(np.array([2.0, 3.5]), 1.5), ss.zeta([2.0, 3.5], 1.5), rtol=1e-12)


PUBLIC = {
    "numpy": "array asarray zeros ones full empty zeros_like ones_like full_like empty_like arange linspace logspace "
             "eye identity tri meshgrid indices sum prod mean var std min max argmin argmax all any nansum nanmean "
             "median quantile percentile average cumsum cumprod where select clip take take_along_axis reshape ravel "
             "transpose moveaxis swapaxes expand_dims squeeze concatenate stack hstack vstack split array_split tile "
             "repeat flip roll broadcast_to broadcast_arrays pad sort argsort searchsorted unique einsum matmul dot "
             "vdot inner outer tensordot kron trace diag diagonal tril triu isnan isinf isfinite isclose allclose "
             "array_equal finfo iinfo result_type promote_types can_cast astype permute_dims concat matrix_transpose "
             "vecdot unique_values unique_counts unique_inverse unique_all bitwise_left_shift bitwise_invert pow "
             "atan2 asinh cumulative_sum linalg fft",
    "numpy.linalg": "norm inv solve det slogdet cholesky qr svd eigh pinv lstsq matrix_power matrix_rank eigvalsh "
                    "svdvals cond multi_dot tensorinv tensorsolve vector_norm matrix_norm cross outer",
    "numpy.fft": "fft ifft rfft irfft fft2 ifft2 rfft2 irfft2 fftn ifftn rfftn irfftn hfft ihfft fftfreq rfftfreq "
                 "fftshift ifftshift",
    "lax": "cond switch while_loop fori_loop scan map associative_scan reduce_window conv_general_dilated conv "
           "dot_general top_k stop_gradient dot sort gather scatter dynamic_slice dynamic_update_slice pad "
           "broadcast_in_dim reduce_sum cumsum linalg fft",
    "random": "PRNGKey key key_data split fold_in bits uniform normal randint bernoulli categorical choice "
              "permutation truncated_normal gamma beta dirichlet exponential laplace logistic poisson "
              "multivariate_normal orthogonal",
    "nn": "relu relu6 leaky_relu elu celu selu gelu silu swish sigmoid log_sigmoid softplus soft_sign hard_tanh "
          "softmax log_softmax logsumexp one_hot standardize glu initializers",
    "nn.initializers": "zeros ones normal uniform glorot_uniform glorot_normal xavier_uniform xavier_normal "
                       "he_uniform he_normal kaiming_uniform kaiming_normal lecun_uniform lecun_normal orthogonal "
                       "variance_scaling",
    "scipy.special": "erf erfc erfinv expit logit logsumexp gammaln digamma xlogy xlog1py betaln",
    "scipy.stats.norm": "logpdf pdf cdf ppf", "scipy.stats.logistic": "logpdf pdf cdf",
    "scipy.stats.multivariate_normal": "logpdf pdf",
    "scipy.linalg": "solve inv det cholesky cho_solve cho_factor lu lu_factor lu_solve qr svd eigh expm "
                    "solve_triangular",
    "tree_util": "tree_map tree_leaves tree_structure tree_flatten tree_unflatten tree_reduce tree_map_with_path "
                 "register_pytree_node register_pytree_node_class register_dataclass Partial",
}


@pytest.mark.parametrize("module", sorted(PUBLIC))
def test_public_surface(module):
    import importlib
    mod = importlib.import_module(f"portax.{module}")
    missing = [n for n in PUBLIC[module].split() if not hasattr(mod, n)]
    assert not missing, f"portax.{module} lacks {missing}"


def test_tree_util_extras():
    from portax import tree, tree_util as tu
    assert tu.tree_broadcast((1, 2), ([3, 4], {"a": 5})) == ([1, 1], {"a": 2})
    assert tu.treedef_tuple([tu.tree_structure([1, 2]), tu.tree_structure({"a": 1})]) == \
        tu.tree_structure(([0, 0], {"a": 0}))
    assert tu.flatten_one_level({"a": [1], "b": 2}) == ([[1], 2], ("a", "b"))
    assert tu.tree_reduce_associative(lambda a, b: a + b, [1, [2, 3], (4, 5)]) == 15
    assert tu.all_leaves([1, 2.0]) and not tu.all_leaves([[1]])
    assert tree.leaves_with_path({"a": 1}) == [((tu.DictKey("a"),), 1)]

    @tu.register_static
    class Config:
        pass

    cfg = Config()
    assert tu.tree_leaves([cfg, 1.0]) == [1.0] and tu.tree_structure([cfg]) == tu.tree_structure([cfg])

    class Pair:
        def __init__(self, a, b):
            self.a, self.b = a, b

    tu.register_pytree_with_keys(Pair, lambda p: (((tu.GetAttrKey("a"), p.a), (tu.GetAttrKey("b"), p.b)), None),
                                 lambda _, children: Pair(*children))
    (path_a, leaf_a), _ = tu.tree_flatten_with_path(Pair(1, 2))[0]
    assert leaf_a == 1 and tu.keystr(path_a) == ".a"
    assert tu.tree_map(lambda v: v * 10, Pair(1, 2)).b == 20


def test_lax_mul_out_dtype_casts_operands_first():
    x, y = np.array([1.5, 2.0], np.float32), np.array([3, 4], np.int32)
    out = lax.mul(x, y, out_dtype=np.float32)
    assert out.dtype == np.float32
    np.testing.assert_allclose(out, [4.5, 8.0])
    g = portax.grad(lambda a: lax.mul(a, np.float32(2.0), out_dtype=np.float32).sum())(x.astype(np.float16))
    assert g.dtype == np.float16
    np.testing.assert_allclose(g, [2.0, 2.0])


def test_lax_binary_ops_broadcast_size1_dims_of_equal_rank():
    x, y = np.arange(3, dtype=np.float32).reshape(3, 1), np.arange(4, dtype=np.float32).reshape(1, 4)
    np.testing.assert_allclose(lax.add(x, y), x + y)
    np.testing.assert_allclose(lax.atan2(x, y + 1), np.arctan2(x, y + 1), rtol=1e-6)
    g = portax.grad(lambda a, b: lax.mul(a, b).sum(), argnums=(0, 1))(x, y)
    np.testing.assert_allclose(g[0], np.full((3, 1), 6.0))
    np.testing.assert_allclose(g[1], np.full((1, 4), 3.0))
    with pytest.raises(TypeError, match="incompatible shapes for broadcasting"):
        lax.add(np.ones((3, 2), np.float32), np.ones((1, 4), np.float32))
    with pytest.raises(TypeError):
        lax.select(np.ones((3, 4), bool), x, y)


def test_dot_general_keeps_precision_through_jvp_and_transpose():
    x, y = np.ones((2, 3), np.float32), np.ones((3, 4), np.float32)
    f = lambda a, b: lax.dot_general(a, b, (((1,), (0,)), ((), ())), precision=lax.Precision.HIGHEST)
    out, pullback = portax.vjp(f, x, y)
    text = str(portax.make_jaxpr(pullback)(out))
    assert text.count("precision=(Precision.HIGHEST, Precision.HIGHEST)") == 2
    assert lax.Precision("highest") is lax.Precision.HIGHEST and str(lax.Precision.HIGH) == "HIGH"
    np.testing.assert_allclose(f(x, y), x @ y)
    with pytest.raises(ValueError, match="Precision argument must be one of"):
        lax.dot(x, y, precision="bogus")


def test_pow_derivatives_follow_jax_for_float_and_integer_exponents():
    # d2/dxdy x**y at y = 0 is 1/x (JAX issue 12033); an integer exponent 0 has derivative 0 even at x = 0.
    hess = portax.jacfwd(portax.jacfwd(lax.pow, (0, 1)), (0, 1))(4.0, 0.0)
    np.testing.assert_allclose(np.array(hess, dtype=np.float32), [[0.0, 0.25], [0.25, np.log(4.0) ** 2]], rtol=1e-6)
    assert np.isnan(portax.grad(lax.pow)(0.0, 0.0))
    assert float(portax.grad(portax.jit(lambda x, n: x ** n))(0.0, 0)) == 0.0
    assert float(portax.grad(lambda z: jnp.sum(z ** jnp.arange(0, 2)))(0.0)) == 1.0
    np.testing.assert_allclose(lax.pow(np.arange(3.0, dtype=np.float32), np.array([0, 1, 2])), [1.0, 1.0, 4.0])
