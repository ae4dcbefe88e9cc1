"""``portax.numpy``: the numpy API on portax arrays (``import portax.numpy as jnp``)."""
from portax.core.numpy import *  # noqa: F401,F403
from portax.core.numpy import __all__ as _core_all
from portax.core.numpy import __array_api_version__, __array_namespace_info__  # noqa: F401
from portax.numpy import fft, linalg  # noqa: F401,E402  (jnp.fft and jnp.linalg as importable submodules)

__all__ = list(_core_all) + ["fft", "linalg"]
