"""``portax.dtypes``: dtype utilities, as ``jax.dtypes``."""
from portax.core.dtype_api import (TypePromotionError, bfloat16, canonicalize_dtype, extended, finfo,  # noqa: F401
                                   float0, float8_e3m4, float8_e4m3, float8_e4m3b11fnuz, float8_e4m3fn,
                                   float8_e4m3fnuz, float8_e5m2, float8_e5m2fnuz, float8_e8m0fnu, iinfo, issubdtype,
                                   itemsize_bits, prng_key, result_type, scalar_type_of)
