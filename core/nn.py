"""``portax.nn``: activation functions and friends, as ``jax.nn`` (composition over portax.numpy)."""
from __future__ import annotations

import math
import operator
import warnings
from typing import Any, Sequence

from . import dtypes, numpy as jnp
from .primitives import elementwise as ew
from .primitives.custom_derivatives import custom_jvp
from .trace import concrete_or_error, get_aval


def _inexact(x):
    (x,) = jnp._util.promote_to_inexact(x)
    return x


@custom_jvp
def relu(x: Any) -> Any:
    """max(x, 0); its derivative at 0 is 0, as in JAX."""
    return jnp.maximum(x, 0)


relu.defjvps(lambda g, ans, x: jnp.where(jnp.asarray(x) > 0, g, jnp.zeros_like(g)))


@custom_jvp
def relu6(x: Any) -> Any:
    """min(max(x, 0), 6); its derivative at 0 and at 6 is 0, as in JAX."""
    return jnp.minimum(jnp.maximum(x, 0), 6.0)


relu6.defjvps(lambda g, ans, x: jnp.where((jnp.asarray(x) > 0) & (jnp.asarray(x) < 6), g, jnp.zeros_like(g)))


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
    """-1 below -1, 1 above 1, else x (derivative 1 at x = +-1, as in JAX)."""
    x = _inexact(x)
    return jnp.where(x > 1, 1.0, jnp.where(x < -1, -1.0, x))


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
    return 0.5 * x * ew.erfc(-x * math.sqrt(0.5))  # erfc keeps the negative tail that 1 + erf rounds to 0


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


def _shifted(x: Any, axis: Any, where: Any) -> Any:
    """``x`` minus its (``where``-selected) max under stop_gradient; entries outside ``where`` are -inf. (Without
    ``where``, a non-empty ``x``'s max needs no -inf initial value, which ``jax_debug_infs`` would flag.)"""
    if where is None and get_aval(x).size:
        x_max = jnp.max(x, axis, keepdims=True)
    else:
        x_max = jnp.max(x, axis, keepdims=True, where=where, initial=-jnp.inf)
    x_safe = x if where is None else jnp.where(where, x, -jnp.inf)
    return x_safe - ew.stop_gradient(x_max)


def log_softmax(x: Any, axis: int | Sequence[int] | None = -1, where: Any = None) -> Any:
    """``x - logsumexp(x)`` over ``axis``; entries outside ``where`` are -inf."""
    shifted = _shifted(_inexact(x), axis, where)
    result = shifted - jnp.log(jnp.sum(jnp.exp(shifted), axis, keepdims=True, where=where))
    return result if where is None else jnp.where(where, result, -jnp.inf)


def softmax(x: Any, axis: int | Sequence[int] | None = -1, where: Any = None) -> Any:
    """``exp(x) / sum(exp(x))`` over ``axis``; entries outside ``where`` are 0 and the rest sum to 1."""
    unnorm = jnp.exp(_shifted(_inexact(x), axis, where))
    result = unnorm / jnp.sum(unnorm, axis, keepdims=True, where=where)
    return result if where is None else jnp.where(where, result, 0.0)


def standardize(x: Any, axis: int | Sequence[int] | None = -1, mean: Any = None, variance: Any = None,
                epsilon: float = 1e-5, where: Any = None, *, algorithm: str = "fast") -> Any:
    """``(x - mean) / sqrt(variance + epsilon)``; ``algorithm``: the variance as ``mean(x^2) - mean(x)^2`` clipped
    at 0 (``"fast"``, JAX's default) or ``mean((x - mean)^2)`` (``"stable"``)."""
    x = _inexact(x)
    if mean is None:
        mean = jnp.mean(x, axis, keepdims=True, where=where)
    if variance is None:
        if algorithm == "stable":
            variance = jnp.mean(jnp.square(x - mean), axis, keepdims=True, where=where)
        elif algorithm == "fast":
            variance = jnp.clip(jnp.mean(jnp.square(x), axis, keepdims=True, where=where) - jnp.square(mean), 0)
        else:
            raise ValueError(f"Unknown algorithm '{algorithm}'. Expected 'fast' or 'stable'.")
    return (x - mean) * ew.rsqrt(variance + epsilon)


def one_hot(x: Any, num_classes: int, *, dtype: Any = None, axis: int = -1) -> Any:
    num_classes = operator.index(concrete_or_error(num_classes,
                                                   "The error arose in jax.nn.one_hot argument `num_classes`."))
    x = jnp.asarray(x)
    if dtypes.kind(get_aval(x).dtype) not in "iu":
        warnings.warn(f"jax.nn.one_hot input should be integer-typed; got dtype={get_aval(x).dtype}",
                      DeprecationWarning, stacklevel=2)
    dt = dtypes.canonicalize(dtype or dtypes.default_float())
    nd = get_aval(x).ndim + 1
    axis = axis % nd
    classes = jnp.reshape(jnp.arange(num_classes), (1,) * axis + (num_classes,) + (1,) * (nd - axis - 1))
    return (jnp.expand_dims(x, axis) == classes).astype(dt)


tanh = jnp.tanh


def identity(x: Any) -> Any:
    return jnp.asarray(x)


def squareplus(x: Any, b: Any = 4) -> Any:
    """``(x + sqrt(x**2 + b)) / 2``."""
    x = _inexact(x)
    return (x + jnp.sqrt(jnp.square(x) + b)) / 2


def sparse_plus(x: Any) -> Any:
    """0 for x <= -1, (x + 1)**2 / 4 in between, x for x >= 1."""
    x = _inexact(x)
    return jnp.where(x <= -1.0, 0.0, jnp.where(x >= 1.0, x, (x + 1.0) ** 2 / 4))


def sparse_sigmoid(x: Any) -> Any:
    """The derivative of sparse_plus: ``clip((x + 1) / 2, 0, 1)``."""
    return 0.5 * jnp.clip(_inexact(x) + 1.0, 0.0, 2.0)


def mish(x: Any) -> Any:
    """``x * tanh(softplus(x))``."""
    x = _inexact(x)
    return x * jnp.tanh(softplus(x))


@custom_jvp
def log1mexp(x: Any) -> Any:
    """``log(1 - exp(-x))`` for x >= 0, accurate near 0 and for large x (Mächler 2012)."""
    x = _inexact(x)
    return jnp.where(x < math.log(2.0), jnp.log(-jnp.expm1(-x)), jnp.log1p(-jnp.exp(-x)))


log1mexp.defjvps(lambda g, ans, x: g / jnp.expm1(x))


def logmeanexp(x: Any, axis: Any = None, where: Any = None, keepdims: bool = False) -> Any:
    """``logsumexp(x) - log(n)`` over the reduced (or ``where``-selected) entries."""
    x = _inexact(x)
    lse = logsumexp(x, axis=axis, where=where, keepdims=keepdims)
    if where is None:
        axes = range(x.ndim) if axis is None else ((axis,) if isinstance(axis, int) else axis)
        count = float(math.prod(x.shape[a] for a in axes))
    else:
        count = jnp.sum(jnp.broadcast_to(where, x.shape), axis=axis, keepdims=keepdims, dtype=lse.dtype)
    return lse - jnp.log(count)


def _attention_mask(T: int, S: int, is_causal: bool, q_lengths: Any, kv_lengths: Any,
                    local_window_size: Any) -> Any:
    """Boolean mask ``[B or 1, 1, T, S]`` combining causality, sequence lengths and a local window."""
    rows = jnp.arange(T)[:, None]
    cols = jnp.arange(S)[None, :]
    mask = jnp.ones((T, S), dtypes.bool_)
    if is_causal:
        mask = mask & (cols <= rows)
    if local_window_size is not None:
        window = local_window_size
        left, right = (window, window) if isinstance(window, int) else window
        mask = mask & (cols >= rows - left) & (cols <= rows + right)
    mask = mask[None, None]
    if q_lengths is not None:
        mask = mask & (jnp.arange(T)[None, None, :, None] < jnp.asarray(q_lengths)[:, None, None, None])
    if kv_lengths is not None:
        mask = mask & (jnp.arange(S)[None, None, None, :] < jnp.asarray(kv_lengths)[:, None, None, None])
    return mask


def dot_product_attention(query: Any, key: Any, value: Any, bias: Any = None, mask: Any = None, *,
                          scale: float | None = None, is_causal: bool = False, query_seq_lengths: Any = None,
                          key_value_seq_lengths: Any = None, local_window_size: Any = None,
                          implementation: str | None = None, return_residual: bool = False) -> Any:
    """Scaled dot-product attention ``softmax(q k^T * scale + bias, masked) v`` on ``[B, T, N, H]`` queries and
    ``[B, S, K, H]`` keys/values (grouped-query attention when K divides N; the batch axis is optional)."""
    if implementation not in (None, "xla"):
        raise NotImplementedError(f"dot_product_attention implementation={implementation!r} is not available in "
                                  "portax; use None or 'xla'")
    query, key, value = jnp.asarray(query), jnp.asarray(key), jnp.asarray(value)
    unbatched = query.ndim == 3
    if unbatched:
        query, key, value = query[None], key[None], value[None]
        bias = None if bias is None else jnp.asarray(bias)[None] if jnp.ndim(bias) == 3 else bias
        mask = None if mask is None else jnp.asarray(mask)[None] if jnp.ndim(mask) == 3 else mask
    if query.ndim != 4 or key.ndim != 4 or value.ndim != 4:
        raise ValueError(f"dot_product_attention expects [B, T, N, H] inputs (or [T, N, H]); got query {query.shape}, "
                         f"key {key.shape}, value {value.shape}")
    B, T, N, H = query.shape
    S, K = key.shape[1], key.shape[2]
    if N % K:
        raise ValueError(f"The number of query heads ({N}) must be a multiple of the number of key/value heads ({K})")
    if K != N:
        key, value = jnp.repeat(key, N // K, axis=2), jnp.repeat(value, N // K, axis=2)
    scale = 1.0 / math.sqrt(H) if scale is None else scale
    logits_dtype = jnp.promote_types(query.dtype, jnp.float32)
    logits = jnp.einsum("BTNH,BSNH->BNTS", query, key).astype(logits_dtype) * scale
    if bias is not None:
        logits = (logits + bias).astype(logits_dtype)
    combined = _attention_mask(T, S, is_causal, query_seq_lengths, key_value_seq_lengths, local_window_size)
    if mask is not None:
        combined = combined & jnp.asarray(mask, dtype=dtypes.bool_)
    # capped at float32's range (the softmax runs in float32): float64 logits' would round to -inf (as JAX)
    large_negative = 0.7 * max(float(jnp.finfo(logits_dtype).min), float(jnp.finfo(jnp.float32).min))
    logits = jnp.where(combined, logits, large_negative).astype(jnp.float32)
    probs = softmax(logits, axis=-1).astype(key.dtype)
    out = jnp.einsum("BNTS,BSNH->BTNH", probs, value)
    if query_seq_lengths is not None:  # padded query rows are 0, as in JAX
        valid = jnp.arange(T)[None, :, None, None] < jnp.asarray(query_seq_lengths)[:, None, None, None]
        out = out * valid.astype(out.dtype)
    if not return_residual:
        return out[0] if unbatched else out
    # JAX's residual: the log-sum-exp of the masked logits, [B, T, N], without gradient
    lse = ew.stop_gradient(jnp.transpose(logsumexp(logits, axis=-1).astype(key.dtype), (0, 2, 1)))
    return (out[0], lse[0]) if unbatched else (out, lse)


from . import initializers  # noqa: E402,F401  (nn.initializers, as jax.nn.initializers)
