"""``portax.dtypes``: dtype utilities, as ``jax.dtypes``."""
from portax.core.dtype_api import (TypePromotionError, canonicalize_dtype, extended, finfo, float0,  # noqa: F401
                                   iinfo, issubdtype, itemsize_bits, prng_key, result_type, scalar_type_of)
