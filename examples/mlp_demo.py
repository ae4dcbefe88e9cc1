"""Train a small MLP with ``example_libraries.stax`` and ``optimizers.adam`` (grad + jit + vmap + random) on the
default backend (``make demo``): the classic JAX example, with ``import portax as jax``."""
import time

import portax as jax
import portax.numpy as jnp
from portax import grad, jit, random, vmap
from portax.example_libraries import optimizers, stax


def main():
    key = random.PRNGKey(0)
    key, xk, init_key = random.split(key, 3)
    xs = random.uniform(xk, (256, 2), minval=-2.0, maxval=2.0)
    ys = jnp.sin(xs[:, :1] * 1.5) * jnp.cos(xs[:, 1:] * 1.5)  # a smooth target to fit

    init_fun, predict = stax.serial(stax.Dense(32), stax.Relu, stax.Dense(32), stax.Relu, stax.Dense(1))
    _, params = init_fun(init_key, (-1, 2))

    def example_loss(params, x, y):  # one example; vmap maps it over the batch
        return jnp.sum((predict(params, x[None]) - y) ** 2)

    def loss(params, xs, ys):
        return jnp.mean(vmap(example_loss, in_axes=(None, 0, 0))(params, xs, ys))

    opt_init, opt_update, get_params = optimizers.adam(step_size=1e-2)

    @jit
    def step(i, opt_state, xs, ys):
        grads = grad(loss)(get_params(opt_state), xs, ys)
        return opt_update(i, grads, opt_state)

    opt_state = opt_init(params)
    print(f"backend: {jax.default_backend()}  devices: {jax.devices()}")
    t0 = time.perf_counter()
    for i in range(301):
        opt_state = step(i, opt_state, xs, ys)
        if i % 50 == 0:
            print(f"step {i:4d}  loss {float(loss(get_params(opt_state), xs, ys)):.5f}")
    print(f"300 jitted adam steps in {time.perf_counter() - t0:.2f}s")


if __name__ == "__main__":
    main()
