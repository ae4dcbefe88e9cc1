"""Case generators for the core's primitives, grouped by kind; importing this package registers them."""
from . import (callbacks, collectives, complex_parts, contractions, control_flow, elementwise, indexing,  # noqa: F401
               linalg, prng, reductions, sorting, structural, windowed)
