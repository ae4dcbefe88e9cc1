"""``portax.test_util``: derivative checks, as ``jax.test_util``."""
from portax.core.test_util import check_grads, check_jvp, check_vjp  # noqa: F401
