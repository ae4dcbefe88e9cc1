"""dot_general (every kernel variant, any dimension numbers), sort, top_k, gather and scatter."""
import numpy as np
import pytest

import portax.numpy as jnp
from portax import lax

from wgpu_helpers import check, compiled, force_variant, variants_used

R = np.random.RandomState(3)


@pytest.fixture(params=["blocked", "blocked_square", "tiled"])
def matmul_variant(request, monkeypatch):
    return force_variant(request, monkeypatch, "matmul")


DOTS = [
    ("matmul", lambda a, b: a @ b, (33, 17), (17, 9)),
    ("matmul_aligned", lambda a, b: a @ b, (16, 32), (32, 8)),
    ("transposed", lambda a, b: a.T @ b.T, (17, 33), (9, 17)),
    ("batched", lambda a, b: a @ b, (3, 5, 7), (3, 7, 6)),
    ("batched_blocks", lambda a, b: a @ b, (2, 70, 20), (2, 20, 45)),  # several workgroups along m and n
    ("tall_narrow", lambda a, b: a @ b, (300, 8), (8, 6)),
    ("einsum_out_perm", lambda a, b: jnp.einsum("bmk,bkn->nbm", a, b), (3, 5, 7), (3, 7, 6)),
    ("two_contracting", lambda a, b: lax.dot_general(a, b, (((0, 2), (1, 0)), ((), ()))), (4, 3, 5), (5, 4, 2)),
    ("vector", lambda a, b: jnp.dot(a, b), (19,), (19,)),
    ("matvec", lambda a, b: a @ b, (6, 19), (19,)),
]


@pytest.mark.parametrize("name,f,sa,sb", DOTS, ids=[d[0] for d in DOTS])
def test_dot_general(matmul_variant, name, f, sa, sb):
    a, b = R.randn(*sa).astype(np.float32), R.randn(*sb).astype(np.float32)
    check(f, a, b, tol=1e-4)
    assert variants_used(f, a, b, kernels="dot_general") == {matmul_variant}


def test_dot_integer_bool_and_preferred(matmul_variant):
    a, b = R.randint(-9, 9, (5, 6)).astype(np.int32), R.randint(-9, 9, (6, 4)).astype(np.int32)
    check(lambda x, y: x @ y, a, b)
    check(lambda x, y: lax.dot(x, y, preferred_element_type=jnp.float32), a, b)
    check(lambda x, y: lax.dot(x, y), R.rand(4, 6) > 0.6, R.rand(6, 3) > 0.6)


# fused epilogues: the product's elementwise consumers run in the matmul kernel, before each store
EPILOGUES = [
    ("dense", lambda x, w, b, r: jnp.maximum(x @ w + b, 0.0) * 0.5 + r, [(67, 129), (129, 45), (45,), (67, 45)]),
    ("kept_product", lambda x, w, b: (x @ w + b, jnp.tanh(x @ w + b)), [(33, 17), (17, 9), (9,)]),
    ("batched_column_bias", lambda a, b, c: (a @ b) * c[:, None] - 1.0, [(3, 5, 7), (3, 7, 6), (5,)]),
    ("transposed_operands_cast", lambda a, b: (a.T @ b.T).astype(jnp.int32) + 1, [(17, 33), (9, 17)]),
]


@pytest.mark.parametrize("name,f,shapes", EPILOGUES, ids=[e[0] for e in EPILOGUES])
def test_dot_with_fused_epilogue(matmul_variant, name, f, shapes):
    args = [R.randn(*s).astype(np.float32) for s in shapes]
    check(lambda *a: f(*a), *args, tol=1e-4)
    assert variants_used(f, *args, kernels="dot_general") == {matmul_variant}


def test_dense_layer_is_one_kernel():
    args = [R.randn(*s).astype(np.float32) for s in EPILOGUES[0][2]]
    c = compiled(EPILOGUES[0][1], *args)
    assert c.kernel_count == 1, [k for k in c.kernels]


def test_epilogue_binding_too_many_buffers_splits(monkeypatch):
    """Under WebGPU's default 8 storage buffers a product with many consumers' operands runs as the
    product, then its consumers."""
    def f(x, w, *rs):
        y = x @ w
        return tuple(y * r + i for i, r in enumerate(rs))
    args = [R.randn(20, 12).astype(np.float32), R.randn(12, 10).astype(np.float32)]
    args += [R.randn(20, 10).astype(np.float32) for _ in range(5)]
    check(f, *args, tol=1e-4)


def test_dot_empty_contraction():
    check(lambda x, y: x @ y, np.zeros((3, 0), np.float32), np.zeros((0, 4), np.float32))


@pytest.mark.parametrize("shape,dim", [((37,), 0), ((4, 9), 1), ((9, 4), 0), ((2, 1500), 1), ((5000,), 0)], ids=str)
def test_sort(shape, dim):
    x = R.randn(*shape).astype(np.float32)
    x.flat[:4] = [np.nan, -0.0, 0.0, np.inf]
    check(lambda v: lax.sort(v, dimension=dim), x)


def test_sort_is_stable_with_several_operands_and_keys():
    k1 = R.randint(0, 3, 50).astype(np.int32)
    k2 = R.randint(0, 2, 50).astype(np.uint32)
    v = R.randn(50).astype(np.float32)
    check(lambda a, b, c: lax.sort((a, b, c), num_keys=2), k1, k2, v)
    check(lambda a: jnp.argsort(a), k1)


def test_sort_bool_and_int():
    check(lambda a, b: (jnp.sort(a), jnp.sort(b)), R.rand(20) < 0.5, R.randint(-9, 9, 20).astype(np.int32))


def test_top_k():
    x = R.randn(3, 40).astype(np.float32)
    x[0, :3] = [np.nan, np.inf, -np.inf]
    x[1, 5:8] = 1.0
    check(lambda v: lax.top_k(v, 5), x)


def test_gather_take_and_fancy_indexing():
    x = R.randn(5, 6).astype(np.float32)
    check(lambda v, i: v[i], x, np.array([4, 0, 2, 2], np.int32))
    check(lambda v, i: v[:, i], x, np.array([5, -1, 0, 9], np.int32))
    check(lambda v, i, j: v[i, j], x, np.array([0, 4, 1], np.int32), np.array([5, 0, 3], np.int32))
    check(lambda v, i: jnp.take_along_axis(v, i, axis=1), x, R.randint(0, 6, (5, 3)).astype(np.int32))


@pytest.mark.parametrize("mode", ["clip", "fill"])
def test_gather_out_of_bounds_modes(mode):
    x = R.randn(6, 4).astype(np.float32)
    idx = np.array([[0], [5], [7], [-2], [3]], np.int32)
    dn = lax.GatherDimensionNumbers(offset_dims=(1, 2), collapsed_slice_dims=(), start_index_map=(0,))
    check(lambda v, i: lax.gather(v, i, dn, (2, 4), mode=mode), x, idx)


@pytest.mark.parametrize("how", ["set", "add", "mul", "min", "max"])
@pytest.mark.parametrize("dtype", [np.float32, np.int32])
def test_scatter_with_repeated_indices(how, dtype):
    x = (R.randn(6, 3) * 4).astype(dtype)
    idx = np.array([0, 3, 0, 5, 3, 0], np.int32)
    u = (R.randn(6, 3) * 4).astype(dtype)
    check(lambda v, i, w: getattr(v.at[i], how)(w), x, idx, u, tol=1e-5)


def test_scatter_bool_and_drop_mode():
    x = R.rand(6) < 0.5
    idx = np.array([0, 7, 2, 2], np.int32)
    u = np.array([True, True, False, True])
    check(lambda v, i, w: (v.at[i].add(w, mode="drop"), v.at[i].set(w, mode="drop")), x, idx, u)


def test_scatter_add_float16():
    from wgpu_helpers import needs_dtype
    needs_dtype(np.float16)
    x = np.zeros(5, np.float16)
    check(lambda v, i, w: v.at[i].add(w), x, np.array([1, 1, 3, 1], np.int32),
          np.array([0.5, 0.25, 2, 1], np.float16))


@pytest.mark.parametrize("how", ["add", "mul", "min", "max"])
def test_scatter_64bit_sorts_updates_instead_of_atomics(how):
    from wgpu_helpers import needs_dtype, x64_enabled
    needs_dtype(np.float64)
    with x64_enabled():
        x = R.randn(6, 3)
        idx = np.array([0, 3, 0, 5, 3, 0, 9], np.int64)
        u = R.randn(7, 3)
        check(lambda v, i, w: getattr(v.at[i], how)(w, mode="drop"), x, idx, u)
        check(lambda v, i, w: getattr(v.at[i], how)(w), (x * 100).astype(np.int64), idx % 6, (u * 100).astype(np.int64))


def test_dot_of_negative_zero_is_positive_zero(matmul_variant):
    """The dot accumulator starts from +0.0, so a K=1 product -0.0 * 1 sums to +0.0 as on the other backends."""
    got = check(lambda x, y: x @ y, np.full((3, 1), -0.0, np.float32), np.ones((1, 4), np.float32))
    assert not np.signbit(np.asarray(got)).any()


@pytest.mark.parametrize("n", [0, 4, 64])
def test_dot_of_a_vector_with_itself(matmul_variant, n):
    """One buffer read both as vec4 and as scalars gets a binding per view (it failed shader validation)."""
    check(lambda v: jnp.dot(v, v), R.randn(n).astype(np.float32))
    check(lambda m: m @ m.T, R.randn(3, n).astype(np.float32))
