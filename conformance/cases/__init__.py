"""Case generators for the core's primitives, grouped by kind; importing this package registers them."""
from . import (collectives, contractions, control_flow, elementwise, indexing, linalg, prng, reductions,  # noqa: F401
               sorting, structural, windowed)
