"""Train a small MLP with grad + jit + vmap + random on the default backend (``make demo``)."""
import time

import portax as jax
import portax.numpy as jnp
from portax import grad, jit, random, vmap


def init_params(key, sizes):
    params = []
    for n_in, n_out in zip(sizes[:-1], sizes[1:]):
        key, wk = random.split(key)
        params.append((random.normal(wk, (n_in, n_out)) * jnp.sqrt(2.0 / n_in), jnp.zeros(n_out)))
    return params


def predict(params, x):  # one example; vmap adds the batch
    for w, b in params[:-1]:
        x = jax.nn.relu(x @ w + b)
    w, b = params[-1]
    return x @ w + b


def loss(params, xs, ys):
    preds = vmap(predict, in_axes=(None, 0))(params, xs)
    return jnp.mean((preds - ys) ** 2)


@jit
def step(params, xs, ys, lr=0.05):
    grads = grad(loss)(params, xs, ys)
    return jax.tree_util.tree_map(lambda p, g: p - lr * g, params, grads)


def main():
    key = random.PRNGKey(0)
    key, xk, pk = random.split(key, 3)
    xs = random.uniform(xk, (256, 2), minval=-2.0, maxval=2.0)
    ys = jnp.sin(xs[:, :1] * 1.5) * jnp.cos(xs[:, 1:] * 1.5)  # a smooth target to fit
    params = init_params(pk, [2, 32, 32, 1])
    print(f"backend: {jax.default_backend()}  devices: {jax.devices()}")
    t0 = time.perf_counter()
    for i in range(301):
        params = step(params, xs, ys)
        if i % 50 == 0:
            print(f"step {i:4d}  loss {float(loss(params, xs, ys)):.5f}")
    print(f"300 jitted training steps in {time.perf_counter() - t0:.2f}s")


if __name__ == "__main__":
    main()
