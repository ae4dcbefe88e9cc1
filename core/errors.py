"""Exceptions with JAX's names and JAX-like messages."""
from __future__ import annotations


class JAXTypeError(TypeError):
    """Base of portax's tracing errors (subclasses TypeError, as JAX's do)."""


class ConcretizationTypeError(JAXTypeError):
    """A traced (abstract) value was used where a concrete Python value is needed."""

    def __init__(self, tracer, context: str = ""):
        self.tracer, self.context = tracer, context
        super().__init__(
            f"Abstract tracer value encountered where concrete value is expected: {_error_repr(tracer)}\n"
            f"{context}\n"
            "The problem arose with a traced value inside a transformed function (jit, vmap, cond, ...): "
            "Python control flow such as `if x:` or `int(x)` needs a concrete value. Use lax.cond / "
            "jnp.where for data-dependent choices, or mark the argument static with "
            "static_argnums / static_argnames.")


def _error_repr(tracer) -> str:
    """JAX's name of a traced value in its errors: ``traced array with shape float32[3]``."""
    aval = getattr(tracer, "aval", None)
    if aval is None:
        return str(tracer)
    return f"traced array with shape {aval.dtype.name}[{','.join(map(str, aval.shape))}]"


class TracerBoolConversionError(ConcretizationTypeError):
    def __init__(self, tracer, context: str = ""):
        self.tracer, self.context = tracer, context
        JAXTypeError.__init__(self, f"Attempted boolean conversion of {_error_repr(tracer)}.\n{context}")


class TracerIntegerConversionError(ConcretizationTypeError):
    def __init__(self, tracer, context: str = ""):
        self.tracer, self.context = tracer, context
        JAXTypeError.__init__(self, f"The __index__() method was called on {_error_repr(tracer)}.\n{context}")


class TracerArrayConversionError(JAXTypeError):
    def __init__(self, tracer):
        super().__init__(
            f"The numpy.ndarray conversion method __array__() was called on traced array {tracer}.\n"
            "Inside a transformed function use portax.numpy (jnp) instead of numpy (np).")


class UnexpectedTracerError(Exception):
    """A tracer escaped the transformation that created it (a leaked tracer)."""


class JaxRuntimeError(RuntimeError):
    """An error raised while running a computation (JAX's ``jax.errors.JaxRuntimeError``)."""


class NonDifferentiableError(TypeError):
    pass


class ShardingTypeError(Exception):
    """JAX's error for a value whose sharding (in its type, on a mesh of Explicit axes) an operation rejects."""


class NonConcreteBooleanIndexError(IndexError):
    def __init__(self, aval):
        super().__init__(f"Array boolean indices must be concrete; got {aval}\n"
                         "A boolean mask selects a data-dependent number of elements, which cannot be traced. "
                         "Use jnp.where(mask, x, fill) or the size= argument of jnp.nonzero/jnp.where instead.")
