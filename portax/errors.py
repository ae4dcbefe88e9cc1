"""``portax.errors``: the exception types JAX users catch."""
from portax.core.errors import (ConcretizationTypeError, NonConcreteBooleanIndexError, TracerArrayConversionError,  # noqa: F401
                                JaxRuntimeError, TracerBoolConversionError, TracerIntegerConversionError,
                                UnexpectedTracerError)
