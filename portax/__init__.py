"""portax: JAX's programming model (numpy API + composable grad/jit/vmap) on any hardware.

``import portax as jax`` and ``import portax.numpy as jnp`` are drop-in for the supported surface.
"""
import importlib.util as _importlib_util

if _importlib_util.find_spec("portax.core") is None:  # a source tree on sys.path, not an installed portax
    raise ImportError(
        "portax is not installed: this is its source tree, whose folders (core/, backends/, ...) become "
        "portax.core, portax.backends, ... only when installed. Install it with `pip install .` (or "
        "`pip install -e .` to develop), or run `make demo` from the repository root.")

from portax import core as _core  # registers primitives and dispatch
from portax.core.api import (Lowered, ShapeDtypeStruct, block_until_ready, checkpoint, clear_caches, default_backend,
                             copy_to_host_async, device_count, device_get, device_put, devices, disable_jit,
                             eval_shape, grad, hessian, jacfwd, jacrev, jit, jvp, linearize, local_device_count,
                             make_jaxpr, remat, value_and_grad, vjp, vmap)
from portax.core.api import jacrev as jacobian  # noqa: F401  (JAX's alias of jacrev)
from portax.core.array import Array
from portax.core.dtypes import float0
from portax.core.numpy.indexing import ds
from portax.core.callback import effects_barrier, pure_callback
from portax.core.backend import Device
from portax.core.config import (check_tracer_leaks, checking_leaks, config, debug_infs, debug_key_reuse, debug_nans,
                                default_matmul_precision, default_prng_impl, enable_checks, enable_custom_prng,
                                enable_x64, explain_cache_misses, legacy_prng_key, log_compiles, make_user_context,
                                no_execution, no_tracing,
                                numpy_dtype_promotion, numpy_rank_promotion, transfer_guard,
                                transfer_guard_device_to_device, transfer_guard_device_to_host,
                                transfer_guard_host_to_device, threefry_partitionable)
from portax.core.environment import print_environment_info
from portax.core.source_info import named_call, named_scope
from portax.core.ad_checkpoint import checkpoint_policies
from portax.core.trace import ensure_compile_time_eval, get_aval as typeof
from portax.core.primitives.custom_derivatives import custom_jvp, custom_vjp
from portax import dtypes, errors, flatten_util, lax, nn, numpy, random, scipy, tree, tree_util  # noqa: F401
from portax import debug, experimental, ops  # noqa: F401
from portax import ad_checkpoint, export  # noqa: F401
from portax import profiler  # noqa: F401
from portax.core.linear_transpose import linear_transpose
from portax.core.parallel.pmap import pmap
from portax.core.parallel.shard_map import shard_map
from portax.core.sharding import NamedSharding, PartitionSpec as P, make_mesh, set_mesh
from portax.core.make_array import (make_array_from_callback, make_array_from_process_local_data,
                                    make_array_from_single_device_arrays)
from portax import sharding  # noqa: F401
from portax.core.sharded import device_put_replicated, device_put_sharded, local_devices
from portax.core.distributed import process_count, process_index
from portax import distributed  # noqa: F401

from portax._version import __version__

__all__ = ["jit", "grad", "value_and_grad", "vmap", "pmap", "shard_map", "make_mesh", "P", "NamedSharding", "sharding", "jvp", "vjp", "linearize", "jacfwd", "jacrev", "jacobian", "hessian",
           "make_jaxpr", "eval_shape", "typeof", "checkpoint", "checkpoint_policies", "ensure_compile_time_eval", "remat", "named_call", "named_scope", "profiler", "custom_jvp", "custom_vjp", "copy_to_host_async", "device_get", "disable_jit", "device_put", "device_put_sharded",
           "device_put_replicated", "devices",
           "device_count", "local_devices", "local_device_count", "default_backend", "block_until_ready", "Array",
           "Device", "float0", "ShapeDtypeStruct", "Lowered", "config", "print_environment_info", "numpy", "lax", "random", "nn", "scipy", "tree_util",
           "tree", "errors", "dtypes", "flatten_util", "linear_transpose", "check_tracer_leaks", "checking_leaks",
           "debug_infs", "debug_nans", "default_matmul_precision", "default_prng_impl", "enable_checks", "enable_custom_prng", "enable_x64", "legacy_prng_key",
           "debug_key_reuse", "threefry_partitionable", "explain_cache_misses", "log_compiles", "make_user_context", "no_execution",
           "no_tracing",
           "numpy_dtype_promotion", "numpy_rank_promotion", "transfer_guard", "transfer_guard_device_to_device",
           "transfer_guard_device_to_host", "transfer_guard_host_to_device", "pure_callback", "effects_barrier",
           "debug", "experimental", "distributed", "process_index", "process_count", "set_mesh",
           "make_array_from_callback", "make_array_from_process_local_data", "make_array_from_single_device_arrays"]
