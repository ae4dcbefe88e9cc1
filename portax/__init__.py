"""portax: JAX's programming model (numpy API + composable grad/jit/vmap) on any hardware.

``import portax as jax`` and ``import portax.numpy as jnp`` are drop-in for the supported surface.
"""
from portax import core as _core  # registers primitives and dispatch
from portax.core.api import (Lowered, ShapeDtypeStruct, block_until_ready, checkpoint, default_backend,
                             device_count, device_put, devices, eval_shape, grad, hessian, jacfwd, jacrev, jit, jvp,
                             linearize, local_device_count, make_jaxpr, remat, value_and_grad, vjp,
                             vmap)
from portax.core.array import Array
from portax.core.backend import Device
from portax.core.config import config
from portax.core.primitives.custom_derivatives import custom_jvp, custom_vjp
from portax import errors, lax, nn, numpy, random, scipy, tree, tree_util  # noqa: F401
from portax.core.parallel.pmap import pmap
from portax.core.sharded import device_put_replicated, device_put_sharded, local_devices

__version__ = "0.1.0"

__all__ = ["jit", "grad", "value_and_grad", "vmap", "pmap", "jvp", "vjp", "linearize", "jacfwd", "jacrev", "hessian",
           "make_jaxpr", "eval_shape", "checkpoint", "remat", "custom_jvp", "custom_vjp", "device_put", "device_put_sharded",
           "device_put_replicated", "devices",
           "device_count", "local_devices", "local_device_count", "default_backend", "block_until_ready", "Array",
           "Device", "ShapeDtypeStruct", "Lowered", "config", "numpy", "lax", "random", "nn", "scipy", "tree_util",
           "tree", "errors"]
