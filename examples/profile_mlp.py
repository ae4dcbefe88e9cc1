"""Profile a few SGD steps of a small MLP with named scopes per layer, under ``portax.profiler.trace``.

    python examples/profile_mlp.py LOG_DIR
    python -m portax.profiler LOG_DIR                                      # the per-kernel table
    python -m portax.profiler LOG_DIR --svg step.svg --window train       # the last step's timeline
(or drag LOG_DIR/plugins/profile/*/*.trace.json.gz into https://ui.perfetto.dev)."""
import sys

import numpy as np

import portax as jax
import portax.numpy as jnp
from portax import random


def dense(name, w, b, x, act=True):
    with jax.named_scope(name):
        y = x @ w + b
        return jnp.tanh(y) if act else y


def loss(params, x, y):
    with jax.named_scope("loss"):
        for k, (w, b) in enumerate(params[:-1]):
            x = dense(f"dense{k}", w, b, x)
        return jnp.mean((dense("head", *params[-1], x, act=False) - y) ** 2)


@jax.jit
def step(params, x, y):
    grads = jax.grad(loss)(params, x, y)
    with jax.named_scope("sgd"):
        return [(w - 0.05 * gw, b - 0.05 * gb) for (w, b), (gw, gb) in zip(params, grads)]


def main(log_dir):
    sizes = [64, 256, 256, 1]
    keys = random.split(random.PRNGKey(0), len(sizes) - 1)
    params = [(random.normal(k, (m, n)) / np.sqrt(m), jnp.zeros(n)) for k, m, n in zip(keys, sizes, sizes[1:])]
    x = np.random.RandomState(0).standard_normal((512, 64)).astype(np.float32)
    y = np.sin(x[:, :1])
    with jax.profiler.trace(log_dir):
        for i in range(10):
            with jax.profiler.StepTraceAnnotation("train", step_num=i):
                params = step(params, x, y)
        print(f"loss {float(loss(params, x, y)):.4f} on {jax.default_backend()}")


if __name__ == "__main__":
    main(sys.argv[1])
