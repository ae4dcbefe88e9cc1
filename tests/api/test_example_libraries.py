"""example_libraries.stax and .optimizers: layer shapes and values, combinators, optimizer updates against
their closed forms, jit-compatibility of optimizer state, and a small training run."""
import numpy as np
import pytest

import portax
import portax.numpy as jnp
from portax import random
from portax.example_libraries import optimizers, stax

KEY = random.PRNGKey(0)


def test_dense_relu_logsoftmax_serial():
    init_fun, apply_fun = stax.serial(stax.Dense(8), stax.Relu, stax.Dense(3), stax.LogSoftmax)
    out_shape, params = init_fun(KEY, (-1, 5))
    assert out_shape == (-1, 3)
    assert [p[0].shape for p in params if p] == [(5, 8), (8, 3)]
    x = np.random.RandomState(0).randn(4, 5).astype(np.float32)
    (w1, b1), _, (w2, b2), _ = params
    h = np.maximum(x @ np.asarray(w1) + np.asarray(b1), 0) @ np.asarray(w2) + np.asarray(b2)
    ref = h - np.log(np.exp(h).sum(-1, keepdims=True))
    np.testing.assert_allclose(apply_fun(params, x), ref, rtol=1e-5, atol=1e-5)


def test_conv_flatten_pooling_shapes():
    init_fun, apply_fun = stax.serial(stax.Conv(4, (3, 3), padding="SAME"), stax.Tanh, stax.MaxPool((2, 2), (2, 2)),
                                      stax.Conv(2, (2, 2), strides=(1, 1)), stax.AvgPool((2, 2)), stax.Flatten,
                                      stax.Dense(5))
    out_shape, params = init_fun(KEY, (2, 8, 8, 3))
    x = np.random.RandomState(1).randn(2, 8, 8, 3).astype(np.float32)
    y = apply_fun(params, x)
    assert out_shape == (2, 5) and y.shape == (2, 5)
    conv_init, conv_apply = stax.Conv(1, (2, 2))
    shape, (w, b) = conv_init(KEY, (1, 3, 3, 1))
    assert shape == (1, 2, 2, 1)
    img = np.arange(9.0, dtype=np.float32).reshape(1, 3, 3, 1)
    k = np.asarray(w)[:, :, 0, 0]
    ref = np.array([[(img[0, i:i + 2, j:j + 2, 0] * k).sum() for j in range(2)] for i in range(2)])
    ref = ref + float(b.ravel()[0])
    np.testing.assert_allclose(conv_apply((w, b), img)[0, :, :, 0], ref, rtol=1e-5)
    _, sum_apply = stax.SumPool((2, 2), (1, 1))
    np.testing.assert_allclose(sum_apply((), img)[0, :, :, 0], [[8, 12], [20, 24]])
    _, avg_apply = stax.AvgPool((2, 2), (1, 1))
    np.testing.assert_allclose(avg_apply((), img)[0, :, :, 0], [[2, 3], [5, 6]])


def test_parallel_fanout_fanin_batchnorm_dropout():
    init_fun, apply_fun = stax.serial(stax.FanOut(2), stax.parallel(stax.Dense(3), stax.Identity), stax.FanInConcat())
    out_shape, params = init_fun(KEY, (4, 3))
    assert out_shape == (4, 6)
    x = np.ones((4, 3), np.float32)
    assert apply_fun(params, x).shape == (4, 6)
    init_fun, apply_fun = stax.serial(stax.FanOut(2), stax.parallel(stax.Identity, stax.Identity), stax.FanInSum)
    np.testing.assert_allclose(apply_fun(init_fun(KEY, (2,))[1], np.array([1.0, 2.0])), [2.0, 4.0])
    bn_init, bn_apply = stax.BatchNorm(axis=(0,))
    _, bn_params = bn_init(KEY, (5, 3))
    z = np.random.RandomState(2).randn(5, 3).astype(np.float32)
    ref = (z - z.mean(0)) / np.sqrt(z.var(0) + 1e-5)
    np.testing.assert_allclose(bn_apply(bn_params, z), ref, rtol=1e-4, atol=1e-5)
    _, drop = stax.Dropout(0.5)
    out = np.asarray(drop((), np.ones((100,), np.float32), rng=KEY))
    assert set(np.unique(out)) <= {0.0, 2.0} and 20 < (out > 0).sum() < 80
    with pytest.raises(ValueError, match="PRNG key"):
        drop((), np.ones(3))
    _, eval_drop = stax.Dropout(0.5, mode="test")
    np.testing.assert_array_equal(eval_drop((), np.ones(3), rng=KEY), np.ones(3))


OPTIMIZERS = [
    ("sgd", optimizers.sgd(0.1)), ("momentum", optimizers.momentum(0.1, 0.9)),
    ("nesterov", optimizers.nesterov(0.1, 0.9)), ("adagrad", optimizers.adagrad(0.1)),
    ("rmsprop", optimizers.rmsprop(0.1)), ("rmsprop_momentum", optimizers.rmsprop_momentum(0.1)),
    ("adam", optimizers.adam(0.1)), ("adamax", optimizers.adamax(0.1)), ("sm3", optimizers.sm3(0.1)),
]


@pytest.mark.parametrize("name,opt", OPTIMIZERS, ids=[o[0] for o in OPTIMIZERS])
def test_optimizers_minimise_a_quadratic(name, opt):
    opt_init, opt_update, get_params = opt
    target = {"w": np.array([1.0, -2.0], np.float32), "b": np.float32(0.5)}
    loss = lambda p: jnp.sum((p["w"] - target["w"]) ** 2) + (p["b"] - target["b"]) ** 2
    state = opt_init({"w": jnp.zeros(2), "b": jnp.asarray(0.0)})
    step = portax.jit(lambda i, s: opt_update(i, portax.grad(loss)(get_params(s)), s))
    first = float(loss(get_params(state)))
    for i in range(100):
        state = step(i, state)
    assert float(loss(get_params(state))) < 0.1 * first


def test_adam_matches_its_update_rule():
    opt_init, opt_update, get_params = optimizers.adam(0.01, b1=0.8, b2=0.95, eps=1e-6)
    x, m, v = np.array([1.0, -1.0]), np.zeros(2), np.zeros(2)
    state = opt_init(jnp.asarray(x, jnp.float32))
    for i, g in enumerate([np.array([0.5, 0.1]), np.array([-0.2, 0.3])]):
        state = opt_update(i, jnp.asarray(g, jnp.float32), state)
        m = 0.2 * g + 0.8 * m
        v = 0.05 * g * g + 0.95 * v
        x = x - 0.01 * (m / (1 - 0.8 ** (i + 1))) / (np.sqrt(v / (1 - 0.95 ** (i + 1))) + 1e-6)
    np.testing.assert_allclose(get_params(state), x, rtol=1e-5)


def test_schedules_and_utilities():
    assert optimizers.constant(0.3)(10) == 0.3
    np.testing.assert_allclose(optimizers.exponential_decay(1.0, 10, 0.5)(20), 0.25)
    np.testing.assert_allclose(optimizers.inverse_time_decay(1.0, 10, 1.0, staircase=True)(15), 0.5)
    np.testing.assert_allclose(optimizers.polynomial_decay(1.0, 10, 0.1)(5), 0.55)
    sched = optimizers.piecewise_constant([5, 10], [1.0, 0.5, 0.1])
    np.testing.assert_allclose([float(sched(i)) for i in (0, 7, 20)], [1.0, 0.5, 0.1], rtol=1e-7)
    grads = {"a": jnp.ones(4) * 3.0}
    np.testing.assert_allclose(optimizers.l2_norm(grads), 6.0)
    np.testing.assert_allclose(optimizers.clip_grads(grads, 3.0)["a"], np.ones(4) * 1.5)
    opt_init, _, get_params = optimizers.momentum(0.1, 0.9)
    state = opt_init({"x": jnp.ones(2)})
    restored = optimizers.pack_optimizer_state(optimizers.unpack_optimizer_state(state))
    np.testing.assert_array_equal(get_params(restored)["x"], np.ones(2))


def test_training_a_classifier():
    rng = np.random.RandomState(0)
    xs = rng.randn(64, 2).astype(np.float32)
    labels = (xs[:, 0] * xs[:, 1] > 0).astype(np.int32)
    init_fun, predict = stax.serial(stax.Dense(16), stax.Tanh, stax.Dense(2), stax.LogSoftmax)
    _, params = init_fun(KEY, (-1, 2))
    onehot = portax.nn.one_hot(labels, 2)
    loss = lambda p: -jnp.mean(jnp.sum(predict(p, xs) * onehot, axis=1))
    opt_init, opt_update, get_params = optimizers.adam(0.05)
    step = portax.jit(lambda i, s: opt_update(i, portax.grad(loss)(get_params(s)), s))
    state = opt_init(params)
    start = float(loss(params))
    for i in range(60):
        state = step(i, state)
    assert float(loss(get_params(state))) < 0.5 * start
