"""The primitive set, at the level of ``jax.lax``; importing this package registers every rule."""
from . import elementwise, structural, reductions, indexing, contractions, sorting, call, control_flow  # noqa: F401
from . import custom_derivatives, prng  # noqa: F401
from . import convolution, windowed  # noqa: F401
from . import linalg  # noqa: F401
from . import fft  # noqa: F401
from . import collectives  # noqa: F401
from . import solves  # noqa: F401
from . import callbacks  # noqa: F401


def primitive_groups() -> dict:
    """The core's primitives by the module that defines them, in the table's order (``{"elementwise": (...)}``)."""
    return {"elementwise": elementwise.ELEMENTWISE, "structural": structural.STRUCTURAL,
            "reductions": reductions.REDUCTIONS, "indexing": indexing.INDEXING,
            "contractions": contractions.CONTRACTIONS, "sorting": sorting.SORTING, "call": call.CALLS,
            "control_flow": control_flow.CONTROL_FLOW, "custom_derivatives": custom_derivatives.CUSTOM,
            "prng": prng.PRNG, "convolution": convolution.CONVOLUTION, "windowed": windowed.WINDOWED,
            "linalg": linalg.LINALG, "fft": fft.FFT, "collectives": collectives.COLLECTIVES, "solves": solves.SOLVES,
            "callbacks": callbacks.CALLBACKS}


def all_primitives() -> list:
    """Every primitive of the core, grouped as the modules define them (the conformance suite's source)."""
    return [p for group in primitive_groups().values() for p in group]
