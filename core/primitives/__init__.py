"""The primitive set, at the level of ``jax.lax``; importing this package registers every rule."""
from . import elementwise, structural, reductions, indexing, contractions, sorting, call, control_flow  # noqa: F401
from . import custom_derivatives, prng  # noqa: F401
from . import convolution, windowed  # noqa: F401
from . import linalg  # noqa: F401
from . import fft  # noqa: F401
from . import collectives  # noqa: F401
from . import solves  # noqa: F401


def all_primitives() -> list:
    """Every primitive of the core, grouped as the modules define them (the conformance suite's source)."""
    return list(elementwise.ELEMENTWISE + structural.STRUCTURAL + reductions.REDUCTIONS + indexing.INDEXING +
                contractions.CONTRACTIONS + sorting.SORTING + call.CALLS + control_flow.CONTROL_FLOW +
                custom_derivatives.CUSTOM + prng.PRNG + convolution.CONVOLUTION + windowed.WINDOWED +
                linalg.LINALG +
                fft.FFT + collectives.COLLECTIVES + solves.SOLVES)
