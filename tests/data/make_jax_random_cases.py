"""Add JAX's values for the samplers below to ``jax_prng_reference.json`` (run with JAX installed, e.g.
``bench/.venv-jax/bin/python tests/data/make_jax_random_cases.py``; JAX 0.10.2 on CPU made the stored values).

Each case is a call expression evaluated by JAX here and by portax in ``tests/api/test_random_reference.py``;
a case already in the file (same call and x64 flag) is replaced. ``rtol`` (optional) overrides the test's
float tolerance: 0 asks for equal values, larger values allow for the amplified rounding of derivatives.
"""
from __future__ import annotations

import json
import pathlib

import numpy as np

K = "jax.random.PRNGKey"
SHAPES = "jnp.array([0.05, 0.3, 1.0, 2.5, 7.0, 40.0, 1000.0])"
GRAD_RTOL = {False: 3e-5, True: 1e-12}

# (call, x64, rtol or None)
CASES: list[tuple[str, bool, float | None]] = []

# binomial: inversion (n q <= 10) and BTRS, p on both sides of 1/2, fractional, zero, invalid and float16/64 counts
for seed in (0, 3, 11):
    CASES += [
        (f"jax.random.binomial({K}({seed}), jnp.array([1., 4., 9., 15., 30., 60., 250., 2000., 1e5, 7.7]), "
         "jnp.array([0.5, 0.9, 0.3, 0.65, 0.33, 0.1, 0.5, 0.75, 0.001, 0.2]))", False, 0),
        (f"jax.random.binomial({K}({seed}), 40., 0.7, (3, 4))", False, 0),
        (f"jax.random.binomial({K}({seed}), jnp.array([[5.], [500.]]), jnp.array([0.2, 0.5, 0.97]), (2, 2, 3))",
         False, 0),
    ]
CASES += [
    (f"jax.random.binomial({K}(2), jnp.array([3., 3., 3., 3., 0.]), jnp.array([0., 1., -0.1, 1.5, 0.3]))", False, 0),
    (f"jax.random.binomial({K}(2), 10, 0.5, (4,))", False, 0),
    (f"jax.random.binomial({K}(5), jnp.array([20., 300.]), jnp.array([0.4, 0.6]), dtype=jnp.float16)", False, 0),
    (f"jax.random.binomial({K}(5), jnp.array([20., 300.]), jnp.array([0.4, 0.6]), dtype=jnp.float64)", True, 0),
    (f"jax.random.binomial({K}(8), jnp.arange(1., 200., 9.), 0.45)", True, 0),
]
# multinomial: sequential binomials over the categories, batched counts, shape, unroll, unnormalised p
for seed in (0, 4):
    CASES += [
        (f"jax.random.multinomial({K}({seed}), jnp.array([7., 1000.]), "
         "jnp.array([[0.1, 0.2, 0.3, 0.4], [0.25, 0.25, 0.25, 0.25]]))", False, 0),
        (f"jax.random.multinomial({K}({seed}), 50., jnp.array([0.5, 0.2, 0.3]), shape=(2, 3, 3))", False, 0),
    ]
CASES += [
    (f"jax.random.multinomial({K}(1), 20., jnp.array([0.3, 0.7]), dtype=jnp.float64, unroll=2)", True, 0),
    (f"jax.random.multinomial({K}(1), 12., jnp.array([2., 1., 1.]))", False, 0),
]
# derivatives with respect to shape parameters (implicit reparameterization through random_gamma_grad)
for x64 in (False, True):
    CASES += [
        ("jax.lax.random_gamma_grad(jnp.array([0.01, 0.5, 0.5, 3.0, 3.0, 50.0, 300.0, 1000.0, 2.0]), "
         "jnp.array([1e-30, 0.01, 4.0, 0.2, 9.0, 49.0, 280.0, 1040.0, 1e-30]))", x64, GRAD_RTOL[x64]),
        (f"jax.grad(lambda a: jax.random.gamma({K}(3), a).sum())({SHAPES})", x64, GRAD_RTOL[x64]),
    ]
CASES += [
    ("jax.lax.random_gamma_grad(jnp.array([0.5, 2.0, 30.0], jnp.float16), jnp.array([0.3, 1.0, 33.0], jnp.float16))",
     False, None),
    (f"jax.grad(lambda a: jax.random.gamma({K}(0), a, dtype=jnp.float16).sum())(jnp.array([1.5, 3.0], jnp.float16))",
     False, None),
]
CASES += [(call, False, GRAD_RTOL[False]) for call in (
    f"jax.grad(lambda a: jax.random.loggamma({K}(4), a).sum())({SHAPES})",
    f"jax.grad(lambda a: jax.random.gamma({K}(5), a, (3, 7)).sum())({SHAPES})",
    f"jax.vmap(jax.grad(lambda a: jax.random.gamma({K}(6), a)))({SHAPES})",
    f"jax.grad(lambda a: jax.random.beta({K}(7), a, 2.0).sum())({SHAPES})",
    f"jax.grad(lambda b: jax.random.beta({K}(7), 0.7, b).sum())({SHAPES})",
    f"jax.grad(lambda a: jax.random.dirichlet({K}(8), a)[..., 0].sum())(jnp.array([[0.2, 1.0, 5.0], [3.0, 3.0, 0.5]]))",
    f"jax.grad(lambda d: jax.random.chisquare({K}(9), d).sum())(jnp.array([0.5, 1.0, 4.0, 30.0]))",
    f"jax.grad(lambda d: jax.random.t({K}(9), d).sum())(jnp.array([0.5, 1.0, 4.0, 30.0]))",
    f"jax.grad(lambda d: jax.random.f({K}(9), d, 3.0).sum())(jnp.array([0.5, 1.0, 4.0, 30.0]))",
)]
# samplers built on uniform, normal and gamma draws, with array parameters and other dtypes
for seed in (0, 1):
    k = f"{K}({seed})"
    CASES += [(call, False, None) for call in (
        f"jax.random.generalized_normal({k}, 0.7, (2, 3))",
        f"jax.random.t({k}, jnp.array([0.5, 2.0, 10.0]), (2, 3))",
        f"jax.random.chisquare({k}, jnp.array([0.5, 2.0, 10.0]))",
        f"jax.random.f({k}, jnp.array([1.0, 5.0]), jnp.array([2.0, 20.0]))",
        f"jax.random.rademacher({k}, (3,), jnp.float32)",
        f"jax.random.double_sided_maxwell({k}, jnp.array([0., 1.]), 2.0, (3,))",
        f"jax.random.weibull_min({k}, jnp.array([1.0, 2.0]), jnp.array([0.5, 3.0]), (3, 2))",
        f"jax.random.pareto({k}, jnp.array([0.5, 3.0]), (2, 2))",
        f"jax.random.gumbel({k}, (6,), mode='high')",
        f"jax.random.loggamma({k}, jnp.array([0.01, 0.5, 20.0]))",
        f"jax.random.ball({k}, 3, 1.0, (2,))",
        f"jax.random.rayleigh({k}, jnp.array([0.5, 2.0]), (3, 2))",
        f"jax.random.geometric({k}, jnp.array([0.01, 0.3, 0.9]), (2, 3))",
        f"jax.random.triangular({k}, 0.0, jnp.array([0.2, 0.9]), 1.0, (3, 2))",
        f"jax.random.lognormal({k}, jnp.array([0.5, 2.0]), (2, 2))",
        f"jax.random.weibull_min({k}, 2.0, 1.5, (4,), jnp.float16)",
        f"jax.random.maxwell({k}, (4,), jnp.float16)",
        f"jax.random.dirichlet({k}, jnp.array([0.1, 1.0, 10.0]), (2,))",
        f"jax.random.beta({k}, jnp.array([0.01, 1.0]), 0.02)",
        f"jax.random.key_data(jax.random.clone({k}))",
    )]
    CASES += [(f"jax.random.wald({k}, jnp.array([0.5, 2.0, 8.0]))", False, 1e-5)]
    CASES += [(call, True, None) for call in (
        f"jax.random.laplace({k}, (4,), jnp.float64)",
        f"jax.random.t({k}, 3.0, (4,), jnp.float64)",
        f"jax.random.wald({k}, 2.0, (4,), jnp.float64)",
    )]

# the other PRNG implementations (keys, split, fold_in, bits, uniform) and lax.rng_bit_generator as XLA:CPU runs it
for impl in ("threefry4x32", "philox2x32", "philox4x32", "rbg", "unsafe_rbg"):
    k = f"jax.random.key({{}}, impl='{impl}')"
    for x64 in (False, True):
        CASES += [(call, x64, 0) for call in (
            f"jax.random.PRNGKey(-3, impl='{impl}')",
            f"jax.random.key_data({k.format(2 ** 40 + 5 if x64 else 1701)})",
            f"jax.random.key_data(jax.random.split({k.format(7)}, (2, 3)))",
            f"jax.random.key_data(jax.random.fold_in({k.format(7)}, 2 ** 32 - 3))",
            f"jax.random.bits({k.format(3)}, (2, 5), jnp.uint8)",
            f"jax.random.bits({k.format(3)}, (7,), jnp.uint16)",
            f"jax.random.bits({k.format(3)}, (3, 3))",
            f"jax.random.uniform({k.format(5)}, (6,))",
        )]
    CASES += [(f"jax.random.bits({k.format(3)}, (5,), jnp.uint64)", True, 0)]
for algorithm in ("RNG_DEFAULT", "RNG_PHILOX", "RNG_THREE_FRY"):
    for words in ("[1, 2, 3, 4]", "[5, 6, 4294967295, 4294967295]", "[7, 8, 4294967294, 9]"):
        for part in (0, 1):
            key = f"jnp.array({words}, jnp.uint32)"
            alg = f"jax.lax.RandomAlgorithm.{algorithm}"
            shapes = ((7,), (6,)) if algorithm == "RNG_THREE_FRY" else ((3, 5), (2, 3))  # portax: 1-d threefry
            CASES += [(f"jax.lax.rng_bit_generator({key}, {shapes[0]}, jnp.uint32, {alg})[{part}]", False, 0),
                      (f"jax.lax.rng_bit_generator({key}, (9,), jnp.uint8, {alg})[{part}]", False, 0),
                      (f"jax.lax.rng_bit_generator({key}, {shapes[1]}, jnp.uint16, {alg})[{part}]", False, 0),
                      (f"jax.lax.rng_bit_generator({key}, (5,), jnp.uint64, {alg})[{part}]", True, 0)]

FORMAT_NOTE = (" rtol (optional) = the float tolerance of that case (0: equal values), else 64 eps relative and"
               " absolute.")


def _evaluate(call: str, x64: bool, rtol: float | None) -> dict:
    import jax
    import jax.numpy as jnp
    jax.config.update("jax_enable_x64", x64)
    value = np.asarray(eval(call, {"jax": jax, "jnp": jnp, "np": np}))
    case = {"call": call, "x64": x64, "dtype": str(value.dtype), "shape": list(value.shape),
            "value": value.astype(np.float64).tolist() if value.dtype.kind == "f" else value.tolist()}
    return case if rtol is None else {**case, "rtol": rtol}


def main() -> None:
    path = pathlib.Path(__file__).with_name("jax_prng_reference.json")
    data = json.loads(path.read_text())
    new = [_evaluate(*case) for case in CASES]
    replaced = {(c["call"], c["x64"]) for c in new}
    data["cases"] = [c for c in data["cases"] if (c["call"], c["x64"]) not in replaced] + new
    if FORMAT_NOTE not in data["format"]:
        data["format"] += FORMAT_NOTE
    head = json.dumps({k: v for k, v in data.items() if k != "cases"}, indent=1)[:-2]
    cases = ",\n".join("  " + json.dumps(c, separators=(",", ":")) for c in data["cases"])
    path.write_text(f'{head},\n "cases": [\n{cases}\n ]\n}}\n')


if __name__ == "__main__":
    main()
