"""Exceptions of the wgpu backend, and the translation of wgpu-py's errors into them."""
from __future__ import annotations

import contextlib
from typing import Iterator

import wgpu


class WgpuBackendError(RuntimeError):
    """Any failure of the wgpu backend; ``context`` names the operation (op name, shapes)."""

    def __init__(self, message: str, context: str = ""):
        self.context = context
        super().__init__(f"[{context}] {message}" if context else message)


class ShaderCompileError(WgpuBackendError):
    """WGSL that naga or the driver rejected, or a pipeline that failed validation."""


class DeviceLostError(WgpuBackendError):
    """The device was lost or destroyed; it cannot be used any more (other devices can)."""


class OutOfDeviceMemoryError(WgpuBackendError, MemoryError):
    """An allocation failed for lack of device memory."""


class LimitExceededError(WgpuBackendError, ValueError):
    """A request exceeds a device limit (storage buffers per stage, binding or buffer size,
    workgroup count); the caller can split the work and retry."""


class BindingAliasError(WgpuBackendError, ValueError):
    """One buffer bound twice in a dispatch with at least one binding writable."""


@contextlib.contextmanager
def translate_errors(context: str, *, compiling: bool = False) -> Iterator[None]:
    """Re-raise wgpu-py errors raised in the block as ``WgpuBackendError`` subclasses."""
    try:
        yield
    except WgpuBackendError:
        raise
    except wgpu.GPUOutOfMemoryError as e:
        raise OutOfDeviceMemoryError(str(e), context) from e
    except (wgpu.GPUError, wgpu.GPUPipelineError) as e:
        message = str(e)
        if "device is lost" in message.lower():
            raise DeviceLostError(message, context) from e
        if compiling:
            raise ShaderCompileError(message, context) from e
        raise WgpuBackendError(message, context) from e
