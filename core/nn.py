"""``portax.nn``: activation functions and friends, as ``jax.nn`` (composition over portax.numpy)."""
from __future__ import annotations

import math
from typing import Any, Sequence

from . import dtypes, numpy as jnp
from .primitives import elementwise as ew
from .primitives.custom_derivatives import custom_jvp
from .trace import get_aval


def _inexact(x):
    (x,) = jnp._util.promote_to_inexact(x)
    return x


@custom_jvp
def relu(x: Any) -> Any:
    """max(x, 0); its derivative at 0 is 0, as in JAX."""
    return jnp.maximum(x, 0)


relu.defjvps(lambda g, ans, x: jnp.where(jnp.asarray(x) > 0, g, jnp.zeros_like(g)))


def relu6(x: Any) -> Any:
    return jnp.minimum(jnp.maximum(x, 0), 6.0)


def sigmoid(x: Any) -> Any:
    return ew.logistic(_inexact(x))


def log_sigmoid(x: Any) -> Any:
    x = _inexact(x)
    return ew.neg(softplus(ew.neg(x)))


def softplus(x: Any) -> Any:
    return jnp.logaddexp(_inexact(x), 0.0)


def soft_sign(x: Any) -> Any:
    x = _inexact(x)
    return x / (jnp.abs(x) + 1)


def silu(x: Any) -> Any:
    x = _inexact(x)
    return x * sigmoid(x)


swish = silu


def hard_tanh(x: Any) -> Any:
    return jnp.clip(_inexact(x), -1.0, 1.0)


def hard_sigmoid(x: Any) -> Any:
    return relu6(_inexact(x) + 3.0) / 6.0


def hard_silu(x: Any) -> Any:
    x = _inexact(x)
    return x * hard_sigmoid(x)


hard_swish = hard_silu


def leaky_relu(x: Any, negative_slope: float = 1e-2) -> Any:
    x = _inexact(x)
    return jnp.where(x >= 0, x, negative_slope * x)


def elu(x: Any, alpha: float = 1.0) -> Any:
    x = _inexact(x)
    safe = jnp.where(x > 0, 0.0, x)
    return jnp.where(x > 0, x, alpha * jnp.expm1(safe))


def celu(x: Any, alpha: float = 1.0) -> Any:
    x = _inexact(x)
    return jnp.maximum(x, 0.0) + alpha * jnp.expm1(jnp.minimum(x, 0.0) / alpha)


def selu(x: Any) -> Any:
    alpha = 1.6732632423543772848170429916717
    scale = 1.0507009873554804934193349852946
    return scale * elu(x, alpha)


def gelu(x: Any, approximate: bool = True) -> Any:
    x = _inexact(x)
    if approximate:
        c = math.sqrt(2 / math.pi)
        return 0.5 * x * (1 + jnp.tanh(c * (x + 0.044715 * (x ** 3))))
    return 0.5 * x * (1 + ew.erf(x / math.sqrt(2)))


def glu(x: Any, axis: int = -1) -> Any:
    a, b = jnp.split(x, 2, axis)
    return a * sigmoid(b)


def logsumexp(a: Any, axis: Any = None, b: Any = None, keepdims: bool = False, return_sign: bool = False,
              where: Any = None) -> Any:
    """log(sum(b * exp(a))) computed stably (the max is subtracted under stop_gradient)."""
    a = _inexact(a)
    if b is not None:
        a, b = jnp._util.promote_args_inexact("logsumexp", a, b)
        a = jnp.where(b != 0, a, -jnp.inf)
    amax = jnp.max(a, axis=axis, keepdims=True, where=where, initial=-jnp.inf)
    amax = ew.stop_gradient(jnp.where(jnp.isfinite(amax), amax, 0.0))
    e = jnp.exp(a - amax)
    if b is not None:
        e = e * b
    s = jnp.sum(e, axis=axis, keepdims=True, where=where)
    sign = jnp.sign(s)
    out = jnp.log(jnp.abs(s)) + amax
    if not keepdims:
        out = jnp.squeeze(out, axis=axis if axis is not None else None) if axis is not None else jnp.reshape(out, ())
        sign = jnp.squeeze(sign, axis=axis) if axis is not None else jnp.reshape(sign, ())
    return (out, sign) if return_sign else out


def log_softmax(x: Any, axis: int | Sequence[int] | None = -1, where: Any = None) -> Any:
    x = _inexact(x)
    shifted = x - ew.stop_gradient(jnp.max(x, axis, keepdims=True, where=where, initial=-jnp.inf))
    return shifted - jnp.log(jnp.sum(jnp.exp(shifted), axis, keepdims=True, where=where))


def softmax(x: Any, axis: int | Sequence[int] | None = -1, where: Any = None) -> Any:
    x = _inexact(x)
    unnorm = jnp.exp(x - ew.stop_gradient(jnp.max(x, axis, keepdims=True, where=where, initial=-jnp.inf)))
    return unnorm / jnp.sum(unnorm, axis, keepdims=True, where=where)


def standardize(x: Any, axis: int | Sequence[int] | None = -1, mean: Any = None, variance: Any = None,
                epsilon: float = 1e-5, where: Any = None) -> Any:
    x = _inexact(x)
    if mean is None:
        mean = jnp.mean(x, axis, keepdims=True, where=where)
    if variance is None:
        variance = jnp.mean(jnp.square(x - mean), axis, keepdims=True, where=where)
    return (x - mean) * ew.rsqrt(variance + epsilon)


def one_hot(x: Any, num_classes: int, *, dtype: Any = None, axis: int = -1) -> Any:
    x = jnp.asarray(x)
    dt = dtypes.canonicalize(dtype or dtypes.default_float())
    nd = get_aval(x).ndim + 1
    axis = axis % nd
    classes = jnp.reshape(jnp.arange(num_classes), (1,) * axis + (num_classes,) + (1,) * (nd - axis - 1))
    return (jnp.expand_dims(x, axis) == classes).astype(dt)


tanh = jnp.tanh
