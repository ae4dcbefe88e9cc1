"""Case generators for the core's primitives, grouped by kind; importing this package registers them."""
from . import (contractions, control_flow, elementwise, indexing, linalg, prng, reductions, sorting,  # noqa: F401
               structural, windowed)
