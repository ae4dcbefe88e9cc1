"""Computation follows data, as in JAX: an Array on a device other than the default backend's first is
committed there; an operation on it runs there (uncommitted operands move to it), and the constants an eager
transformation of it makes (jvp seeds, zeros, literals, ``jnp`` creation functions called in the function)
are placed there too. Operands committed to two different devices are JAX's error."""
from __future__ import annotations

import contextlib
import threading
from typing import Any, ContextManager, Iterable, Iterator, Sequence

from .backend import Device, get_backend


class _Placement(threading.local):
    device: Device | None = None  # where an enclosing eager transformation's committed inputs are


_state = _Placement()


def default_device() -> Device:
    """Where an uncommitted value goes: the device an enclosing eager transformation follows, else the
    default backend's first device."""
    d = _state.device
    return d if d is not None else get_backend().devices()[0]


def _committed(values: Iterable) -> list:
    """The first committed Array on each device among ``values``."""
    from .array import Array  # (``array`` places values with ``default_device``)
    base = get_backend().devices()[0]
    firsts: dict = {}
    for a in values:
        if type(a) is Array and a._device is not base:
            firsts.setdefault(a._device, a)
    return list(firsts.values())


def committed_device(values: Iterable, name: str = "jit") -> Device | None:
    """The device of the committed Arrays among ``values`` (None if there are none); Arrays committed to two
    different devices are JAX's ValueError (``name``: the computation the error names)."""
    committed = _committed(values)
    if len(committed) > 1:
        arg = lambda x: (f"argument of {name} with shape {x.aval.str_short()} and device ids [{x._device.id}] on "
                         f"platform {x._device.platform.upper()}")
        raise ValueError(f"Received incompatible devices for jitted computation. Got {arg(committed[0])} and "
                         f"{arg(committed[1])}")
    return committed[0]._device if committed else None


def check_on_context_mesh(values: Iterable, mesh: Any, name: str = "jit") -> None:
    """JAX's ValueError for a computation under ``set_mesh(mesh)`` given an Array committed to a device (it runs
    over the mesh's devices, as in JAX)."""
    committed = _committed(values)
    if committed:
        x = committed[0]
        raise ValueError(f"Received incompatible devices for jitted computation. Got argument of {name} with shape "
                         f"{x.aval.str_short(short_dtypes=False)} and with device ids [{x._device.id}] on platform "
                         f"{x._device.platform.upper()} and jit's context mesh with device ids "
                         f"{[d.id for d in mesh.devices.flat]} on platform {x._device.platform.upper()}")


def following_like(x: Any, shape: Sequence[int], weak_type: bool) -> ContextManager[None]:
    """``following`` for a value made like ``x`` (JAX's ``full_like``): only a strongly typed value of ``x``'s
    shape goes where ``x`` is committed."""
    aval = getattr(x, "aval", None)
    return following((x,) if aval is not None and not weak_type and tuple(shape) == aval.shape else ())


@contextlib.contextmanager
def following(values: Iterable[Any]) -> Iterator[None]:
    """In the block, uncommitted values (constants) go to the device of the committed Arrays among ``values``
    (flat leaves) if they are all on one (if not, the first operation mixing them is the error)."""
    prev = _state.device
    committed = _committed(values)
    if len(committed) == 1:
        _state.device = committed[0]._device
    try:
        yield
    finally:
        _state.device = prev
