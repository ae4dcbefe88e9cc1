"""Every primitive of ``all_primitives()``: abstract evaluation (and its errors), evaluation against numpy,
JVP against central finite differences, transposition (the VJP/JVP inner-product identity), and
batching over leading, trailing and partially batched arguments against a Python loop."""
import contextlib
import importlib
import pkgutil
from pathlib import Path

import numpy as np
import pytest

import portax as jax
from portax import lax
from portax.core import dtypes, trace
from portax.core.ir import ShapedArray
from portax.core import primitives
from portax.core.complex_lowering import COMPLEX_RULES
from portax.core.decompositions import DECOMPOSITIONS
from portax.core.primitives import all_primitives
from portax.core.primitives import elementwise as ew, indexing as ix, prng, structural as st
from portax.core.test_util import check_grads, check_jvp, check_vjp
from portax_reference.rules import RULES as REFERENCE_RULES

from core_helpers import assert_close, leaves, x64_enabled
from primitive_cases import ACCEPTS_ANY_INPUT, BAD_INPUTS, COVERED_ELSEWHERE, TABLE

B = 3  # batch size of the vmap tests


def _params(select=lambda case: True):
    return [pytest.param(p, c, id=f"{p.name}-{c.name or i}")
            for p, cases in TABLE.items() for i, c in enumerate(cases) if select(c)]


ALL = _params()
DIFF = _params(lambda c: c.diff and c.check_derivatives)
NON_DIFF = _params(lambda c: not c.diff and c.check_derivatives)
BATCHED = [pytest.param(p, c, v, id=f"{p.name}-{c.name or i}-{v}") for p, cases in TABLE.items()
           for i, c in enumerate(cases) if c.gens
           for v in (("leading", "trailing", "some") if len(c.gens) > 1 else ("leading", "trailing"))]


def _x64_if(case):
    return x64_enabled(True) if case.x64 else contextlib.nullcontext()


# --- coverage of the table ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("prim", all_primitives(), ids=str)
def test_every_primitive_has_examples(prim):
    if prim not in TABLE and prim not in COVERED_ELSEWHERE:
        pytest.fail(f"no example inputs for primitive {prim} (add a Case to primitive_cases.TABLE)")


def test_all_primitives_lists_every_primitive_the_modules_define():
    modules = [importlib.import_module(f"{primitives.__name__}.{m.name}")
               for m in pkgutil.iter_modules(primitives.__path__)]
    defined = {v for m in modules for v in vars(m).values() if isinstance(v, trace.Primitive)}
    assert not defined - set(all_primitives()), "primitives missing from all_primitives()"


@pytest.mark.parametrize("prim", all_primitives(), ids=str)
def test_every_primitive_has_all_rules(prim):
    assert prim in trace.abstract_eval_rules
    assert prim in trace.jvp_rules
    if prim is not st.iota_p:  # nullary: nothing to batch
        assert prim in trace.batching_rules
    assert prim in REFERENCE_RULES or prim in trace.impl_rules or prim in COMPLEX_RULES or \
        prim in DECOMPOSITIONS, f"{prim} cannot be evaluated"


def test_primitives_covered_elsewhere_have_test_files():
    here = Path(__file__).parent
    for prim, fname in COVERED_ELSEWHERE.items():
        assert prim.name in (here / fname).read_text(), (prim, fname)


@pytest.mark.parametrize("prim", list(TABLE), ids=str)
def test_every_primitive_has_bad_inputs(prim):
    assert prim in BAD_INPUTS or prim in ACCEPTS_ANY_INPUT


# --- abstract evaluation ------------------------------------------------------------------------------------------
@pytest.mark.parametrize("prim,case", ALL)
def test_abstract_eval_matches_reference(prim, case, rng):
    with _x64_if(case):
        args = case.args(rng)
        out = jax.eval_shape(case.fn, *[jax.ShapeDtypeStruct(a.shape, a.dtype) for a in args])
        for o, e in zip(leaves(out), leaves(case.ref(*args)), strict=True):
            e = np.asarray(e)
            assert (o.shape, o.dtype, o.weak_type) == (e.shape, e.dtype, False)


BAD = [pytest.param(p, *bad, id=f"{p.name}-{i}") for p, bads in BAD_INPUTS.items() for i, bad in enumerate(bads)]


@pytest.mark.parametrize("prim,avals,params,exc,match", BAD)
def test_abstract_eval_rejects_bad_inputs(prim, avals, params, exc, match):
    structs = [jax.ShapeDtypeStruct(a.shape, a.dtype) for a in avals]
    with pytest.raises(exc, match=match):
        jax.eval_shape(lambda *xs: prim.bind(*xs, **params), *structs)


@pytest.mark.parametrize("prim", [p for p in ew.ELEMENTWISE if p in TABLE and p is not ew.convert_element_type_p],
                         ids=str)
def test_elementwise_weak_type_propagation(prim, rng):
    case = TABLE[prim][0]
    avals = [ShapedArray(a.shape, dtypes.canonicalize(a.dtype)) for a in case.args(rng)]
    rule = trace.abstract_eval_rules[prim]
    params = {ew.integer_pow_p: dict(y=3), ew.round_p: dict(rounding_method=0),
              ew.bitcast_convert_type_p: dict(new_dtype=dtypes.int32)}.get(prim, {})
    strong = leaves(rule(*avals, **params))[0]
    weak = leaves(rule(*[a.update(weak_type=True) for a in avals], **params))[0]
    assert not strong.weak_type
    # JAX's standard rule: weak inputs give a weak output, also of a fixed dtype (eq, is_finite, real: JAX's
    # testUnaryWeakTypes); a bitcast's output is never weak (testBitcastConvertWeakType)
    assert weak.weak_type == (prim is not ew.bitcast_convert_type_p)
    if len(avals) > 1:
        mixed = leaves(rule(avals[0].update(weak_type=True), *avals[1:], **params))[0]
        assert not mixed.weak_type


# --- evaluation --------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("prim,case", _params())
def test_evaluation_matches_numpy(prim, case, rng):
    with _x64_if(case):
        args = case.args(rng)
        eager = leaves(case.fn(*args))
        jitted = leaves(jax.jit(case.fn)(*args))
        for o, j, e in zip(eager, jitted, leaves(case.ref(*args)), strict=True):
            assert_close(o, np.asarray(e), case.tol)
            assert_close(j, o, case.tol)
            assert not o.weak_type


@pytest.mark.parametrize("prim,case", _params(lambda c: c.diff and c.upcast))
def test_evaluation_in_float64(prim, case, rng, x64):
    args = [a.astype(np.float64) if a.dtype == np.float32 else a for a in case.args(rng)]
    for o, e in zip(leaves(case.fn(*args)), leaves(case.ref(*args)), strict=True):
        assert_close(o, np.asarray(e), 1e-8)


# --- differentiation ------------------------------------------------------------------------------------------------
def _restricted(case, rng):
    """``f(*diff_args) -> float outputs`` with the other arguments fixed, and the differentiated arguments."""
    args = list(case.args(rng))
    if case.upcast:
        args = [a.astype(np.float64) if a.dtype == np.float32 else a for a in args]

    def f(*d):
        full = list(args)
        for i, v in zip(case.diff, d):
            full[i] = v
        return [o for o in leaves(case.fn(*full)) if o.dtype.kind == "f"]
    return f, [args[i] for i in case.diff]


@pytest.mark.parametrize("prim,case", DIFF)
def test_jvp_matches_finite_differences(prim, case, rng, x64):
    f, d = _restricted(case, rng)
    check_jvp(f, d)


@pytest.mark.parametrize("prim,case", DIFF)
def test_vjp_is_transpose_of_jvp(prim, case, rng, x64):
    f, d = _restricted(case, rng)
    check_vjp(f, d)
    out, pullback = jax.vjp(f, *d)
    cts = pullback([np.ones(np.shape(o), np.asarray(o).dtype) for o in out])
    assert all(np.isfinite(np.asarray(c)).all() for c in cts), "finite inputs must give finite cotangents"


@pytest.mark.parametrize("prim,case", DIFF)
def test_second_order_derivatives(prim, case, rng, x64):
    f, d = _restricted(case, rng)
    check_grads(f, d, order=2)


@pytest.mark.parametrize("prim,case", NON_DIFF)
def test_non_differentiable_outputs_have_zero_tangents(prim, case, rng):
    with _x64_if(case):
        args = case.args(rng)
        tangents = [rng.standard_normal(a.shape).astype(a.dtype) if a.dtype.kind == "f"
                    else np.zeros(a.shape, dtypes.float0) for a in args]
        out, t_out = jax.jvp(case.fn, tuple(args), tuple(tangents))
        for o, t in zip(leaves(out), leaves(t_out), strict=True):
            t = np.asarray(t)
            assert t.shape == o.shape
            if o.dtype.kind == "f":
                assert t.dtype == o.dtype and not t.any()
            else:
                assert t.dtype == dtypes.float0


def test_gather_fill_mode_tangent_is_zero_out_of_bounds():
    x = np.arange(8.0, dtype=np.float32).reshape(4, 2)
    idx = np.array([[1], [7], [-3]], np.int32)
    f = lambda x: jax.lax.gather(x, idx, ix.GatherDimensionNumbers((1,), (0,), (0,)), (1, 2), mode="fill")
    out, t = jax.jvp(f, (x,), (np.ones_like(x),))
    assert np.isnan(np.asarray(out)[1:]).all()
    np.testing.assert_array_equal(t, [[1, 1], [0, 0], [0, 0]])
    np.testing.assert_array_equal(jax.grad(lambda x: jax.numpy.nansum(f(x)))(x), [[0, 0], [1, 1], [0, 0], [0, 0]])


# --- batching ------------------------------------------------------------------------------------------------------
def _batch_specs(n: int, variant: str) -> list:
    if variant == "leading":
        return [((0,) * n, 0)]
    if variant == "trailing":
        return [((-1,) * n, -1)]
    return [(tuple(0 if j == i else None for j in range(n)), 0) for i in range(n)]


def _stack(xs: list, axis: int):
    xs = [np.asarray(x) for x in xs]
    return np.stack(xs, axis=axis if axis >= 0 else xs[0].ndim + 1 + axis)


@pytest.mark.parametrize("prim,case,variant", BATCHED)
def test_batching_matches_loop(prim, case, variant, rng):
    with _x64_if(case):
        n = len(case.gens)
        for in_axes, out_axes in _batch_specs(n, variant):
            draws = [[g(rng) for _ in range(B)] for g in case.gens]
            batched = [d[0] if ax is None else _stack(d, ax) for d, ax in zip(draws, in_axes)]
            per_example = [leaves(case.fn(*[d[b] if ax is not None else d[0] for d, ax in zip(draws, in_axes)]))
                           for b in range(B)]
            expected = [_stack(outs, out_axes) for outs in zip(*per_example)]
            vmapped = jax.vmap(case.fn, in_axes=in_axes, out_axes=out_axes)
            runs = [vmapped, jax.jit(vmapped)] if variant == "leading" else [vmapped]
            for run in runs:
                for got, e in zip(leaves(run(*batched)), expected, strict=True):
                    assert_close(got, e, case.tol)


@pytest.mark.parametrize("prim,case", DIFF)
def test_batched_jvp_and_vjp_match_loop(prim, case, rng, x64):
    """vmap of the derivative: batching rules of the ops that JVP and transpose rules emit."""
    f, d = _restricted(case, rng)
    batch = [np.stack([a] + [np.asarray(case.gens[i](rng), a.dtype) for _ in range(B - 1)])
             for i, a in zip(case.diff, d)]
    out = f(*d)
    cts = [rng.standard_normal(np.shape(o)).astype(np.asarray(o).dtype) for o in out]
    tangents = [rng.standard_normal(a.shape).astype(a.dtype) for a in d]
    derivatives = {"vjp": lambda *x: jax.vjp(f, *x)[1](cts),
                   "jvp": lambda *x: jax.jvp(f, x, tuple(tangents))[1]}
    for g in derivatives.values():
        got = jax.vmap(g)(*batch)
        for b in range(B):
            for gl, el in zip(leaves(got), leaves(g(*[x[b] for x in batch])), strict=True):
                assert_close(np.asarray(gl)[b], el, 1e-9)


# --- primitive-specific facts -------------------------------------------------------------------------------------
def test_constant_folded_conversions_match_the_primitive():
    """lax.convert_element_type folds numpy scalars on the host and jit folds scalar constants while tracing;
    both must agree with the primitive (saturating, NaN to 0)."""
    vals = np.array([np.nan, 1e10, -1e10, 2.7, -2.7], np.float32)
    expected = [0, 2 ** 31 - 1, -2 ** 31, 2, -2]
    assert [int(lax.convert_element_type(v, np.int32)) for v in vals] == expected
    assert [int(jax.jit(lambda: lax.convert_element_type(v, np.int32))()) for v in vals] == expected
    assert np.asarray(jax.jit(lambda x: lax.convert_element_type(x, np.int32))(vals)).tolist() == expected
    assert np.asarray(lax.convert_element_type(vals, np.uint8)).tolist() == [0, 255, 0, 2, 0]


def test_bitcast_of_a_scalar():
    assert int(lax.bitcast_convert_type(np.float32(1), np.int32)) == 0x3F800000


def test_threefry_known_answer():
    """The Random123 known-answer vector for Threefry-2x32 with 20 rounds (also JAX's test)."""
    k = [np.array([v], np.uint32) for v in (0x13198A2E, 0x03707344, 0x243F6A88, 0x85A308D3)]
    out = prng.threefry2x32(*k)
    assert [int(np.asarray(o)[0]) for o in out] == [0xC4923A9C, 0x483DF7A0]
