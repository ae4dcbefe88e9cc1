"""``portax.nn``: activations, softmax/log_softmax, logsumexp, one_hot, standardize, attention and
``portax.nn.initializers`` (as ``jax.nn``)."""
from portax.core.nn import (celu, dot_product_attention, elu, gelu, glu, hard_sigmoid, hard_silu,  # noqa: F401
                            hard_swish, hard_tanh, identity, leaky_relu, log1mexp, log_sigmoid, log_softmax,
                            logmeanexp, logsumexp, mish, one_hot, relu, relu6, selu, sigmoid, silu, soft_sign, softmax,
                            softplus, sparse_plus, sparse_sigmoid, squareplus, standardize, swish, tanh)
from portax.nn import initializers  # noqa: F401,E402
