"""PRNG checks: Threefry-2x32 known answers, the values ``jax.random`` produces (shipped in
``prng_vectors``), and equality with the reference backend of random.bits/uniform/normal under jit and vmap."""
from __future__ import annotations

from typing import Callable, Iterator

import numpy as np

import portax
from portax import random
from portax.core.dtypes import kind, short_name
from portax.core.primitives import prng

from . import transforms
from .prng_vectors import JAX_VALUES, THREEFRY_KAT
from .registry import Case
from .report import FAIL, PASS, UNSUPPORTED, Cell
from .runner import aggregate, check
from .tolerances import BITWISE, Tolerance, compare

U32 = np.dtype(np.uint32)
NORMAL_TOLERANCE = Tolerance(4, 4)  # normal goes through erf_inv, which backends may approximate differently
KEY0, KEY1 = np.array([0, 0], U32), np.array([0, 1], U32)

# name in JAX_VALUES -> (function, arguments, output dtype, tolerance)
JAX_CALLS: dict[str, tuple[Callable, list, np.dtype, Tolerance]] = {
    "PRNGKey(0)": (random.PRNGKey, [np.int32(0)], U32, BITWISE),
    "PRNGKey(42)": (random.PRNGKey, [np.int32(42)], U32, BITWISE),
    "split(PRNGKey(0))": (random.split, [KEY0], U32, BITWISE),
    "split(PRNGKey(0), 3)": (lambda k: random.split(k, 3), [KEY0], U32, BITWISE),
    "fold_in(PRNGKey(0), 7)": (lambda k: random.fold_in(k, 7), [KEY0], U32, BITWISE),
    "bits(PRNGKey(0), (8,), uint32)": (lambda k: random.bits(k, (8,), U32), [KEY0], U32, BITWISE),
    "uniform(PRNGKey(0), (8,))": (lambda k: random.uniform(k, (8,), np.float32), [KEY0], np.dtype(np.float32), BITWISE),
    "normal(PRNGKey(0), (10,))": (lambda k: random.normal(k, (10,), np.float32), [KEY0], np.dtype(np.float32),
                                  NORMAL_TOLERANCE),
    "normal(PRNGKey(1), (2, 3))": (lambda k: random.normal(k, (2, 3), np.float32), [KEY1], np.dtype(np.float32),
                                   NORMAL_TOLERANCE),
    "randint(PRNGKey(0), (6,), 0, 10)": (lambda k: random.randint(k, (6,), 0, 10, np.int32), [KEY0],
                                         np.dtype(np.int32), BITWISE),
    "bernoulli(PRNGKey(0), 0.3, (8,))": (lambda k: random.bernoulli(k, 0.3, (8,)), [KEY0], np.dtype(np.bool_), BITWISE),
    "permutation(PRNGKey(0), 8)": (lambda k: random.permutation(k, 8), [KEY0], np.dtype(np.int32), BITWISE),
}


def known_answers(backend_name: str) -> Iterator[Cell]:
    """threefry2x32 on the Random123 vectors, as one equation and under jit."""
    k1, k2, x1, x2 = (np.array(col, U32) for col in zip(*[(k[0], k[1], x[0], x[1]) for k, x, _ in THREEFRY_KAT]))
    expected = [np.array([e[0] for _, _, e in THREEFRY_KAT], U32), np.array([e[1] for _, _, e in THREEFRY_KAT], U32)]
    case = Case(prng.threefry2x32_p, U32, [k1, k2, x1, x2], label="Random123 known-answer vectors")
    for transform in ("eval", "jit"):
        yield _expect("threefry2x32 known answers", "u32", transform,
                      lambda t=transform: transforms.run(case, t, "contiguous", backend_name), expected, BITWISE)


def jax_values(backend_name: str) -> Iterator[Cell]:
    """portax.random under jit on the backend reproduces jax.random's values."""
    for name, (fn, args, dtype, tol) in JAX_CALLS.items():
        expected = [np.asarray(JAX_VALUES[name], dtype)]
        f = portax.jit(fn, backend=backend_name)
        yield _expect(f"random.{name}", short_name(dtype), "jax-values",
                      lambda f=f, args=args: [np.asarray(f(*args))], expected, tol)


def _expect(name: str, dtype: str, transform: str, compute: Callable, expected: list, tol: Tolerance) -> Cell:
    try:
        got = compute()
    except NotImplementedError as e:
        return Cell("prng", name, dtype, transform, UNSUPPORTED, str(e), 1)
    except Exception as e:
        return Cell("prng", name, dtype, transform, FAIL,
                    f"{name} under {transform}: raised {type(e).__name__}: {e}", 1)
    for g, w in zip(got, expected):
        mismatch = compare(g, w, tol)
        if mismatch is not None:
            return Cell("prng", name, dtype, transform, FAIL, f"{name} {dtype} under {transform}: {mismatch}", 1)
    return Cell("prng", name, dtype, transform, PASS, "", 1)


def _sampler_cases(dtypes: tuple) -> Iterator[tuple[str, Case]]:
    """random.bits/uniform/normal over a key, shapes with odd sizes, as cases for the reference comparison."""
    key = np.array([7, 1234567], U32)
    for dt in dtypes:
        if kind(dt) == "u":
            yield "random.bits", Case(prng.threefry2x32_p, dt, [key], fn=lambda k, dt=dt: random.bits(k, (3, 257), dt),
                                      tolerance=BITWISE, label=f"random.bits(key, (3, 257), {dt.name})")
        if kind(dt) == "f":
            yield "random.uniform", Case(prng.threefry2x32_p, dt, [key], tolerance=BITWISE,
                                         fn=lambda k, dt=dt: random.uniform(k, (3, 257), dt),
                                         label=f"random.uniform(key, (3, 257), {dt.name})")
            yield "random.normal", Case(prng.threefry2x32_p, dt, [key], tolerance=NORMAL_TOLERANCE,
                                        fn=lambda k, dt=dt: random.normal(k, (5, 33), dt),
                                        label=f"random.normal(key, (5, 33), {dt.name})")


def against_reference(backend_name: str, dtypes: tuple) -> Iterator[Cell]:
    for name, case in _sampler_cases(dtypes):
        for transform in ("jit", "vmap"):
            outcome = check(case, transform, "contiguous", backend_name, True)
            yield aggregate("prng", name, short_name(case.dtype), transform, [outcome], ())
