"""Regenerate jax_initializers.json with JAX (run in an environment where ``jax`` is installed):

    python tests/api/data/make_jax_initializers.py

Each entry evaluates ``jax.nn.initializers.<expr>`` on a fixed key and shape; the test evaluates the same
expression with ``portax.nn.initializers``.
"""
import json
import pathlib

import jax
import numpy as np

CASES = [
    ("glorot_uniform()", (3, 4)), ("glorot_normal()", (3, 4)), ("xavier_uniform()", (5, 2)),
    ("lecun_uniform()", (4, 6)), ("lecun_normal()", (4, 6)), ("he_uniform()", (2, 3, 4, 5)),
    ("he_normal()", (2, 3, 4, 5)), ("kaiming_normal(in_axis=0, out_axis=1)", (3, 4)),
    ("variance_scaling(0.5, 'fan_out', 'normal')", (3, 7)),
    ("variance_scaling(2.0, 'fan_geo_avg', 'uniform', batch_axis=0)", (2, 3, 4)),
    ("normal(0.5)", (3, 3)), ("uniform(2.0)", (4,)), ("truncated_normal(1.5)", (2, 5)),
    ("constant(-0.25)", (2, 2)), ("orthogonal()", (4, 4)), ("orthogonal(scale=2.0)", (3, 5)),
    ("orthogonal(column_axis=0)", (5, 3)), ("delta_orthogonal()", (3, 3, 2, 4)),
]


def main():
    key = jax.random.PRNGKey(3)
    out = []
    for expr, shape in CASES:
        init = eval(expr, {}, vars(jax.nn.initializers))
        out.append({"init": expr, "shape": list(shape), "value": np.asarray(init(key, shape)).tolist()})
    path = pathlib.Path(__file__).with_name("jax_initializers.json")
    path.write_text(json.dumps({"jax_version": jax.__version__, "key": "PRNGKey(3)", "cases": out}))


if __name__ == "__main__":
    main()
