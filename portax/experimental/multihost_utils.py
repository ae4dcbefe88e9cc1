"""``jax.experimental.multihost_utils``: exchanges between the processes of a distributed run."""
from portax.core.multihost_utils import assert_equal, broadcast_one_to_all, process_allgather, sync_global_devices

__all__ = ["assert_equal", "broadcast_one_to_all", "process_allgather", "sync_global_devices"]
