"""``portax.numpy``: the numpy API on portax arrays (``import portax.numpy as jnp``)."""
from portax.core.numpy import *  # noqa: F401,F403
from portax.core.numpy import __all__ as _core_all
from portax.core.numpy import __array_api_version__, __array_namespace_info__  # noqa: F401
from portax.numpy import fft, linalg  # noqa: F401,E402  (jnp.fft and jnp.linalg as importable submodules)

__all__ = list(_core_all) + ["fft", "linalg"]


def __getattr__(name: str):
    if name == "fix":  # removed, as in JAX 0.10.2 (whose deprecation message this is)
        raise AttributeError("jax.numpy.fix was deprecated in JAX v0.9.0, and will be removed in JAX v0.10.0. Use "
                             "jax.numpy.trunc instead.")
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
