"""``portax.numpy``: the numpy API on portax arrays (``import portax.numpy as jnp``)."""
from portax.core.numpy import *  # noqa: F401,F403
from portax.core.numpy import (_ScalarType, bool_, float16, float32, float64, int8, int16, int32, int64,  # noqa: F401
                               uint8, uint16, uint32, uint64, pi, e, inf, nan, newaxis, ndarray, finfo, iinfo,
                               promote_types, result_type, issubdtype, can_cast, dtype, isscalar, float_, int_, uint,
                               inexact, floating, integer, signedinteger, unsignedinteger, number, generic,
                               iscomplexobj, isrealobj, euler_gamma, broadcast_shapes, broadcast_to)
from portax.core.nn import logsumexp as _logsumexp  # noqa: F401
