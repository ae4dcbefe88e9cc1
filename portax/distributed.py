"""``jax.distributed``: several processes started by ``mpirun``, joined over MPI (``pip install 'portax[mpi]'``)."""
from portax.core.distributed import initialize, is_initialized, shutdown

__all__ = ["initialize", "is_initialized", "shutdown"]
