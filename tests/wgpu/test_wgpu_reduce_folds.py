"""Reductions combine within a workgroup by a tree in workgroup memory or by subgroup operations (where the
adapter has the feature and the reduction has a subgroup op), each invocation folding grid-strided elements or
(``runs``) a contiguous run of them: every variant forced through ``PORTAX_WGPU_REDUCE`` and checked against
the reference backend, one-pass and two-pass, every reduction kind."""
import numpy as np
import pytest

import portax
import portax.numpy as jnp
from portax import lax
from portax.backends.wgpu import renderer
from portax.core import fusion

from wgpu_helpers import caps, check, force_variant, variants_used

R = np.random.RandomState(0)
X = R.randn(3, 5000).astype(np.float32)  # split over workgroups: two passes
SHORT = R.randn(6, 100).astype(np.float32)  # one workgroup per row: one pass
INTS = (R.randn(4, 3000) * 1000).astype(np.int32)
LONG = R.randn(2, 300_001).astype(np.float32)  # split over workgroups under every variant (``runs`` too)

REDUCTIONS = [
    ("sum_all", lambda a: jnp.sum(a), X),
    ("sum_rows", lambda a: jnp.sum(a * 2 + 1, axis=1), X),
    ("sum_short_rows", lambda a: jnp.sum(a, axis=1), SHORT),
    ("sum_negative_zero", lambda a: jnp.sum(a * 0 - 0.0, axis=1), SHORT),
    ("prod", lambda a: jnp.prod(1 + a * 0.001, axis=1), X),
    ("int_sum", lambda a: jnp.sum(a, axis=1), INTS),
    ("int_max", lambda a: jnp.max(a, axis=1), INTS),
    ("int_min", lambda a: jnp.min(a), INTS),
    ("uint_xor", lambda a: lax.reduce_xor(a.astype(jnp.uint32), (1,)), INTS),
    ("any", lambda a: jnp.any(a > 3.2, axis=1), X),
    ("all", lambda a: jnp.all(a > -3.2, axis=1), X),
    ("float_max", lambda a: jnp.max(a.at[1, 7].set(jnp.nan), axis=1), X),
    ("argmax", lambda a: jnp.argmax(a, axis=1), X),
    ("sum_columns", lambda a: jnp.sum(a * 2, axis=0), X.T.copy()),
    ("sum_long_rows", lambda a: jnp.sum(a * a, axis=1), LONG),
    ("max_long_rows", lambda a: jnp.max(a.at[1, 250_000].set(jnp.nan), axis=1), LONG),
    ("argmin_long", lambda a: jnp.argmin(a.at[0, 299_999].set(-9.0), axis=1), LONG),
]


@pytest.fixture(params=["tree", "subgroup", "runs"])
def fold(request, monkeypatch):
    return force_variant(request, monkeypatch, "reduce")


@pytest.mark.parametrize("name,f,x", REDUCTIONS, ids=[r[0] for r in REDUCTIONS])
def test_every_fold_computes_every_reduction(fold, name, f, x):
    check(f, x, tol=1e-4)
    used = variants_used(f, x, kernels="fused reduce")
    subgroup_capable = caps().has_subgroups and name not in ("float_max", "argmax", "max_long_rows", "argmin_long")
    default = "runs" if caps().is_cpu else "tree"  # what a forced variant that does not apply falls back to
    assert used == ({default} if fold == "subgroup" and not subgroup_capable else {fold}), used


def _reduce_kernel(f, x):
    """The fused reduce kernel of ``f`` (its reduction of ``2 * x``)."""
    (k,) = [k for k in fusion.fuse(portax.make_jaxpr(f)(x).jaxpr) if k.kind == "reduce"]
    return k


@pytest.mark.parametrize("has_subgroups", [False, True])
def test_folds_offered_follow_the_adapter_and_the_reduction(has_subgroups):
    device_caps = type("Caps", (), {"has_subgroups": has_subgroups})()
    with_sub = ("tree", "subgroup", "runs") if has_subgroups else ("tree", "runs")
    assert renderer.folds(_reduce_kernel(lambda a: jnp.sum(2 * a, axis=1), X), device_caps) == with_sub
    assert renderer.folds(_reduce_kernel(lambda a: jnp.max(2 * a, axis=1), X), device_caps) == ("tree", "runs")
    # many outputs with short rows: an invocation per output, nothing to combine
    assert renderer.folds(_reduce_kernel(lambda a: jnp.sum(2 * a, axis=0), X), device_caps) == ()
