"""``portax.random``: keys of JAX's PRNG implementations and samplers, bit-identical to ``jax.random``."""
from portax.core.random import *  # noqa: F401,F403
from portax.core.random import __all__ as _core_all
from portax.core.random_binomial import binomial, multinomial  # noqa: F401

__all__ = sorted(_core_all + ["binomial", "multinomial"])
