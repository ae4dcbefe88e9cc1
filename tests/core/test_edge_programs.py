"""Programs at the edges, on every backend, under jit and eagerly: scalar literals as operands of opaque
kernels, dead code (unused results of every kind), zero-size dimensions through structural ops and
reductions, and empty scatters/gathers. The reference backend (the oracle) must succeed wherever the
others do; every result is checked against numpy."""
import numpy as np
import pytest

import portax
import portax.numpy as jnp
from portax import lax
from portax.core.backend import registry

BACKENDS = [b for b in ("reference", "cpu_llvm", "wgpu") if registry.available(b)]


def _check(got, want):
    for g, w in zip(portax.tree_util.tree_leaves(got), portax.tree_util.tree_leaves(want)):
        g, w = np.asarray(g), np.asarray(w)
        assert g.shape == w.shape, (g.shape, w.shape)
        np.testing.assert_allclose(g, w, rtol=1e-5, atol=1e-6, equal_nan=True)


def _run(backend, f, *args):
    """``f(*args)`` jitted on ``backend`` and run eagerly on its device (both must agree)."""
    device = portax.devices(backend)[0]
    jitted = portax.jit(f, backend=backend)(*args)
    eager = f(*[portax.device_put(np.asarray(a), device) for a in args])
    return jitted, eager


# --- scalar literals as operands of opaque kernels (issue 12, item 10) -------------------------------
X4 = np.arange(1, 5, dtype=np.float32)
TWO = np.float32(2)  # a captured scalar constant: a literal operand under jit
LITERAL_CASES = {
    "grad_of_dot": (lambda x: portax.grad(lambda u, v: jnp.dot(u, v))(x, x + 1), X4 + 1),
    "grad_of_vdot": (lambda x: portax.grad(lambda u: jnp.vdot(u, u))(x), 2 * X4),
    "dot_with_scalar_rhs": (lambda x: lax.dot_general(x, jnp.float32(3.0), (((), ()), ((), ()))), 3 * X4),
    "dot_with_scalar_lhs": (lambda x: lax.dot_general(jnp.float32(2.0), x, (((), ()), ((), ()))), 2 * X4),
    "jacrev_of_dot": (lambda x: portax.jacrev(lambda u: jnp.dot(u, 2.0 * u))(x), 4 * X4),
    "searchsorted_scalar": (lambda x: jnp.searchsorted(x, 2.5), np.int32(2)),
    "scatter_scalar_update": (lambda x: x.at[1].set(5.0), np.array([1, 5, 3, 4], np.float32)),
    "scatter_add_scalar": (lambda x: x.at[1].add(5.0), np.array([1, 7, 3, 4], np.float32)),
    "dynamic_update_index_scalar": (lambda x: lax.dynamic_update_index_in_dim(x, 7.0, 2, 0),
                                    np.array([1, 2, 7, 4], np.float32)),
    "pad_value": (lambda x: lax.pad(x, 0.5, [(1, 1, 1)]), np.array([.5, 1, .5, 2, .5, 3, .5, 4, .5], np.float32)),
    "fori_literal_carry": (lambda x: lax.fori_loop(0, 3, lambda i, c: c * 2.0, 1.0) + x, X4 + 8),
    "while_literal_carry": (lambda x: lax.while_loop(lambda c: c < 10.0, lambda c: c * 3.0, 1.0) + x, X4 + 27),
    "scan_literal_init": (lambda x: lax.scan(lambda c, y: (c + y, c), 0.5, x)[1], np.array([.5, 1.5, 3.5, 6.5])),
    "cond_literal_operand": (lambda x: lax.cond(x[0] > 0, lambda a: a * 2.0, lambda a: a, 3.0), np.float32(6)),
    "sort_with_literals": (lambda x: jnp.sort(jnp.stack([x[3], 1.5, 0.5])), np.array([.5, 1.5, 4], np.float32)),
    "scatter_into_a_scalar_constant": (
        lambda x: lax.scatter_add(jnp.asarray(TWO), jnp.zeros((0,), jnp.int32), x[0], lax.ScatterDimensionNumbers(
            update_window_dims=(), inserted_window_dims=(), scatter_dims_to_operand_dims=())), np.float32(3)),
    "gather_from_a_scalar_constant": (
        lambda x: lax.gather(jnp.asarray(TWO), jnp.zeros((2, 0), jnp.int32), lax.GatherDimensionNumbers(
            offset_dims=(), collapsed_slice_dims=(), start_index_map=()), ()), np.full(2, 2, np.float32)),
}


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("case", list(LITERAL_CASES))
def test_scalar_literal_operands(backend, case):
    f, want = LITERAL_CASES[case]
    for got in _run(backend, f, X4):
        _check(got, want)


# --- dead code (issue 12, item 11) ------------------------------------------------------------------------
A = np.arange(6, dtype=np.float32).reshape(2, 3)
D = np.arange(12, dtype=np.float32).reshape(3, 4)
DEAD_CASES = {
    "transposed_matmul": lambda a, d: (a @ d).T,
    "matmul": lambda a, d: a @ d,
    "two_transposes_of_one_matmul": lambda a, d: ((a @ d).T, (a @ d).T + 1),
    "einsum_transposed": lambda a, d: jnp.einsum("ij,jk->ki", a, d),
    "gram_transposed": lambda a, d: (a.T @ a).T,
    "nested_jit_transposed": lambda a, d: portax.jit(lambda x: (x @ d).T)(a),
    "sort_transposed": lambda a, d: jnp.sort(a, axis=1).T,
    "top_k_indices": lambda a, d: lax.top_k(a, 2)[1],
    "cumsum_transposed": lambda a, d: jnp.cumsum(a, axis=1).T,
    "reduction": lambda a, d: (jnp.sum(a, axis=0), jnp.argmax(d, axis=1)),
    "gather_transposed": lambda a, d: a[:, jnp.array([2, 0])].T,
    "scatter": lambda a, d: a.at[0, 1].set(9.0),
    "dynamic_slice": lambda a, d: lax.dynamic_slice(d, (1, 1), (2, 2)),
    "concatenate_and_pad": lambda a, d: (jnp.concatenate([a, a]), jnp.pad(a, 1)),
    "while_loop": lambda a, d: lax.while_loop(lambda c: c < 5.0, lambda c: c + 1.0, 0.0),
    "fori_of_matmul": lambda a, d: lax.fori_loop(0, 3, lambda i, c: c @ jnp.eye(3), a),
    "cond_of_matmul": lambda a, d: lax.cond(a[0, 0] > 0, lambda x: x @ d, lambda x: (x @ d).T.T, a),
    "scan": lambda a, d: lax.scan(lambda c, x: (c + x, c * x), jnp.zeros(3), a),
    "solve_and_inverse": lambda a, d: (jnp.linalg.solve(jnp.eye(3) * 2.0, d), jnp.linalg.inv(jnp.eye(3) * 2.0).T),
    "random_and_iota": lambda a, d: (portax.random.normal(portax.random.PRNGKey(1), (3,)), jnp.arange(5)),
    "grad": lambda a, d: portax.grad(lambda x: jnp.sum((x @ d) ** 2))(a),
}


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("case", list(DEAD_CASES))
def test_unused_results_are_harmless(backend, case):
    expr = DEAD_CASES[case]

    def returns_input(a, d):
        expr(a, d)
        return a

    def returns_computed(a, d):
        expr(a, d)
        return a * 2.0

    _check(portax.jit(returns_input, backend=backend)(A, D), A)
    _check(portax.jit(returns_computed, backend=backend)(A, D), 2 * A)


PARTLY_USED = {
    "top_k_values": (lambda a: lax.top_k(a, 2)[0], np.sort(A, axis=1)[:, ::-1][:, :2]),
    "sort_keys_only": (lambda a: lax.sort((a, -a), num_keys=1)[0], A),
    "sort_payload_only": (lambda a: lax.sort((a, -a), num_keys=1)[1], -A),
    "eigenvalues_only": (lambda a: jnp.linalg.eigh(jnp.diag(a[1]))[0], A[1]),
    "qr_r_only": (lambda a: jnp.abs(jnp.linalg.qr(jnp.diag(a[1]))[1]), np.diag(A[1])),
    "while_carry_part": (lambda a: lax.while_loop(lambda c: c[0] < 3, lambda c: (c[0] + 1, c[1] @ D[:, :3], c[2] * 2),
                                                  (0, a, a))[2], 8 * A),
    "scan_carry_only": (lambda a: lax.scan(lambda c, x: (c + x, (c * x).T), jnp.zeros(3), a)[0], A.sum(0)),
}


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("case", list(PARTLY_USED))
def test_partly_used_multiple_results(backend, case):
    f, want = PARTLY_USED[case]
    for got in _run(backend, f, A):
        _check(got, want)


# --- zero-size dimensions through structural ops and reductions (issue 12, item 12) ----------------------------
STRUCTURAL = {
    "flip_first": (lambda x: jnp.flip(x, 0), lambda x: np.flip(x, 0)),
    "flip_last": (lambda x: jnp.flip(x, -1), lambda x: np.flip(x, -1)),
    "flip_all": (jnp.flip, np.flip),
    "rev": (lambda x: lax.rev(x, (0,)), lambda x: np.flip(x, 0)),
    "reverse_slice": (lambda x: x[::-1], lambda x: x[::-1]),
    "strided_slice": (lambda x: x[1::2], lambda x: x[1::2]),
    "pad": (lambda x: jnp.pad(x, ((1, 2),) + ((0, 1),) * (x.ndim - 1)),
            lambda x: np.pad(x, ((1, 2),) + ((0, 1),) * (x.ndim - 1))),
    "interior_pad": (lambda x: lax.pad(x, 1.0, [(1, 1, 2)] * x.ndim),
                     lambda x: np.ones([d + 2 + 2 * max(d - 1, 0) for d in x.shape], np.float32)),
    "concatenate_first": (lambda x: jnp.concatenate([x, x + 1]), lambda x: np.concatenate([x, x + 1])),
    "concatenate_last": (lambda x: jnp.concatenate([x, x], -1), lambda x: np.concatenate([x, x], -1)),
    "transpose": (lambda x: x.T, lambda x: x.T),
    "gather_empty_indices": (lambda x: jnp.take(x, jnp.zeros(0, jnp.int32), axis=0),
                             lambda x: np.take(x, np.zeros(0, int), axis=0)),
    "gather_last_axis": (lambda x: jnp.take(x, jnp.array([1, 0]), axis=-1) if x.shape[-1] else x,
                         lambda x: np.take(x, [1, 0], axis=-1) if x.shape[-1] else x),
    "roll": (lambda x: jnp.roll(x, 1, axis=0), lambda x: np.roll(x, 1, axis=0)),
    "tile": (lambda x: jnp.tile(x, (2,) + (1,) * (x.ndim - 1)), lambda x: np.tile(x, (2,) + (1,) * (x.ndim - 1))),
    "repeat": (lambda x: jnp.repeat(x, 2, axis=0), lambda x: np.repeat(x, 2, axis=0)),
    "rot90": (jnp.rot90, np.rot90),
    "sort": (lambda x: jnp.sort(x, axis=0), lambda x: np.sort(x, axis=0)),
    "reverse_cumsum": (lambda x: lax.cumsum(x, axis=0, reverse=True), lambda x: np.cumsum(x[::-1], 0)[::-1]),
}


def _reductions(y, m):
    """Reductions of every kind (``m`` is jnp or np) over the first, the last and all axes."""
    return (m.sum(y, axis=0), m.sum(y, axis=-1), m.sum(y), m.prod(y, axis=0), m.max(y, axis=0, initial=-1.0),
            m.min(y, axis=-1, initial=7.0), m.any(y > 0, axis=0), m.all(y > 0, axis=-1), m.cumsum(y, axis=0))


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("op", list(STRUCTURAL))
@pytest.mark.parametrize("shape", [(0, 3), (3, 0), (2, 0, 3)], ids=str)
def test_zero_size_dimensions_through_structural_ops_and_reductions(backend, op, shape):
    f, ref = STRUCTURAL[op]
    x = np.zeros(shape, np.float32)
    want = _reductions(ref(x), np)
    for got in _run(backend, lambda x: _reductions(f(x), jnp), x):
        _check(got, want)


ZERO = np.zeros((0, 3), np.float32)
ZERO_SIZE_OPAQUE = {
    "qr_wide": (lambda: jnp.linalg.qr(ZERO)[1], np.zeros((0, 3))),
    "qr_tall": (lambda: jnp.linalg.qr(ZERO.T)[0], np.zeros((3, 0))),
    "qr_complete": (lambda: jnp.linalg.qr(ZERO.T, mode="complete")[0], np.eye(3)),
    "matmul_k0": (lambda: jnp.zeros((2, 0)) @ ZERO, np.zeros((2, 3))),
    "argsort": (lambda: jnp.argsort(ZERO, axis=0), np.zeros((0, 3), np.int32)),
    "reverse_cummax": (lambda: lax.cummax(ZERO, axis=0, reverse=True), np.zeros((0, 3))),
}


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("case", list(ZERO_SIZE_OPAQUE))
def test_zero_size_dimensions_through_opaque_ops(backend, case):
    f, want = ZERO_SIZE_OPAQUE[case]
    _check(portax.jit(f, backend=backend)(), want)


# --- empty scatters and gathers (issue 12, item 13) ------------------------------------------------------------
V = np.arange(4, dtype=np.float32)
M = np.arange(6, dtype=np.float32).reshape(2, 3)
E = np.zeros((3, 0), np.float32)
NO_INDEX = np.zeros(0, np.int32)
EMPTY_INDEXING = {
    "set_empty_slice": (lambda v, m, e: v.at[1:1].set(5.0), V),
    "add_empty_slice": (lambda v, m, e: v.at[1:1].add(5.0), V),
    "multiply_reversed_slice": (lambda v, m, e: v.at[2:1].multiply(5.0), V),
    "min_empty_slice": (lambda v, m, e: v.at[3:3].min(-5.0), V),
    "max_empty_slice": (lambda v, m, e: v.at[0:0].max(50.0), V),
    "set_no_indices": (lambda v, m, e: v.at[NO_INDEX].set(5.0), V),
    "add_no_updates": (lambda v, m, e: v.at[NO_INDEX].add(jnp.zeros(0)), V),
    "set_empty_columns": (lambda v, m, e: m.at[:, 1:1].set(9.0), M),
    "set_empty_rows": (lambda v, m, e: m.at[1:1, :].set(9.0), M),
    "set_row_empty_slice": (lambda v, m, e: m.at[0, 2:2].set(9.0), M),
    "set_into_empty": (lambda v, m, e: e.at[1].set(5.0), E),
    "add_into_empty": (lambda v, m, e: e.at[:, NO_INDEX].add(5.0), E),
    "get_no_indices": (lambda v, m, e: (v[NO_INDEX], m[NO_INDEX], m[:, NO_INDEX]),
                       (V[:0], M[:0], M[:, :0])),
    "get_from_empty": (lambda v, m, e: e[jnp.array([0, 2])], E[[0, 2]]),
    "take_along_no_indices": (lambda v, m, e: jnp.take_along_axis(m, jnp.zeros((2, 0), jnp.int32), axis=1), M[:, :0]),
    "gather_without_index_vector": (
        lambda v, m, e: lax.gather(v, jnp.zeros((2, 0), jnp.int32), lax.GatherDimensionNumbers(
            offset_dims=(1,), collapsed_slice_dims=(), start_index_map=()), (2,)), np.stack([V[:2], V[:2]])),
    "scatter_without_index_vector": (
        lambda v, m, e: lax.scatter_add(v, jnp.zeros((2, 0), jnp.int32), jnp.ones((2, 4)), lax.ScatterDimensionNumbers(
            update_window_dims=(1,), inserted_window_dims=(), scatter_dims_to_operand_dims=())), V + 2),
    "grad_through_empty_scatter": (lambda v, m, e: portax.grad(lambda y: jnp.sum(y.at[1:1].set(5.0) ** 2))(v), 2 * V),
    "vmap_of_empty_scatter": (lambda v, m, e: portax.vmap(lambda r: r.at[1:1].set(5.0))(m), M),
}


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("case", list(EMPTY_INDEXING))
def test_empty_scatters_and_gathers(backend, case):
    f, want = EMPTY_INDEXING[case]
    for got in _run(backend, f, V, M, E):
        _check(got, want)
