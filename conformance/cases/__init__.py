"""Case generators for the core's primitives, grouped by kind; importing this package registers them."""
from . import (collectives, complex_parts, contractions, control_flow, elementwise, indexing, linalg, prng,  # noqa: F401
               reductions, sorting, structural, windowed)
