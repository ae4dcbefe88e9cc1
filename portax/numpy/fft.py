"""``portax.numpy.fft`` (``jax.numpy.fft``): real-output transforms; complex-output ones raise
NotImplementedError until portax has a complex dtype."""
from portax.core.numpy.fft import *  # noqa: F401,F403
from portax.core.numpy.fft import __all__  # noqa: F401
