"""``portax.extend.core`` (``jax.extend.core``): primitives a user defines (``Primitive`` with ``def_impl``,
``def_abstract_eval`` and ``bind``; rules for transformations go in ``portax.core.trace``'s tables) and the jaxpr
types."""
from portax.core.interpreters.evaluation import eval_jaxpr, jaxpr_as_fun  # noqa: F401
from portax.core.ir import ClosedJaxpr, Jaxpr, JaxprEqn, Literal, Var  # noqa: F401
from portax.core.trace import Primitive, get_aval  # noqa: F401
