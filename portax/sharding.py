"""``portax.sharding``: meshes of devices and the shardings that lay arrays out over them (``jax.sharding``)."""
from portax.core.sharded import Shard  # noqa: F401
from portax.core.sharding import (AbstractMesh, AxisType, Mesh, NamedSharding, PartitionSpec, Sharding,  # noqa: F401
                                  SingleDeviceSharding, get_abstract_mesh, get_mesh, set_mesh)
from portax.core.axis_types import auto_axes, explicit_axes  # noqa: F401
from portax.core.explicit_sharding import reshard  # noqa: F401

__all__ = ["AbstractMesh", "AxisType", "Mesh", "NamedSharding", "PartitionSpec", "Sharding", "SingleDeviceSharding",
           "Shard", "auto_axes", "explicit_axes", "get_abstract_mesh", "get_mesh", "reshard", "set_mesh"]
