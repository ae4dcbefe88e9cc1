"""``portax.nn``: activations, softmax/log_softmax, logsumexp, one_hot, standardize (as ``jax.nn``)."""
from portax.core.nn import (celu, elu, gelu, glu, hard_sigmoid, hard_silu, hard_swish, hard_tanh, leaky_relu,  # noqa: F401
                            log_sigmoid, log_softmax, logsumexp, one_hot, relu, relu6, selu, sigmoid, silu,
                            soft_sign, softmax, softplus, standardize, swish, tanh)
