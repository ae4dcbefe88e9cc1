"""``portax.scipy.signal`` (``jax.scipy.signal``): convolution, correlation and spectral estimation."""
from portax.core.scipy.signal import *  # noqa: F401,F403
from portax.core.scipy.signal import __all__  # noqa: F401
