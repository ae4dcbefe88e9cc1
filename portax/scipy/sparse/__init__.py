"""``portax.scipy.sparse`` (``jax.scipy.sparse``)."""
from portax.scipy.sparse import linalg  # noqa: F401
