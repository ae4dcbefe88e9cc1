"""Assembling one WGSL compute shader: bindings in binding order, an optional uniform block of
parameters, workgroup memory, helper functions and ``main`` over a tiled 1-D grid of workgroups."""
from __future__ import annotations

import math
import re
from typing import Hashable, Sequence

import numpy as np

from .runtime import WORKGROUP_LINEAR_INDEX_WGSL
from .wgsl_ops import helpers_for
from .wgsl_types import wtype

MAX_INDEX = 2 ** 31 - 1  # kernels index with u32 arithmetic; larger arrays are refused


class KernelWriter:
    """Collects the parts of a shader; ``source()`` renders it.

    ``buffer(key, dtype)`` declares a storage binding once per key and returns its name; the launch
    binds buffers in declaration order (``keys``). ``main`` sees ``lid`` (local invocation index),
    ``wg`` (the linear workgroup index, tiled past 65535) and ``gid = wg * workgroup_size + lid``.
    """

    def __init__(self, name: str, workgroup_size: int = 256):
        self.name = name
        self.workgroup_size = workgroup_size
        self.keys: list[Hashable] = []
        self._decls: list[str] = []
        self._names: dict[Hashable, str] = {}
        self._writable: dict[Hashable, bool] = {}
        self.params: list[tuple[str, str]] = []  # (field, WGSL scalar type) of the uniform block
        self.shared: list[str] = []
        self.builtins: dict[str, str] = {}  # more inputs of ``main``: builtin -> "name: type"
        self.lines: list[str] = []
        self.dtypes: set = set()
        self.trips = 0  # at most this many loop iterations per invocation (``loops``), checked at launch

    def loops(self, trips: int) -> None:
        """Count ``trips`` more loop iterations (all nesting levels) an invocation may run: a device whose
        driver stops loops after ``loop_trip_limit`` iterations refuses the kernel rather than cut them."""
        self.trips += int(trips)

    def buffer(self, key: Hashable, dtype, *, write: bool = False, atomic: bool = False,
               element: str | None = None) -> str:
        """The name of the storage binding for ``key`` (declared on first use; a read with another
        ``element`` type, e.g. ``dot(x, x)`` reading x as vec4 and as scalars, gets a binding of its own)."""
        view = key if element is None else (key, element)
        if view in self._names:
            if write and not self._writable[view]:
                raise AssertionError(f"{self.name}: buffer {key} declared read-only, then written")
            return self._names[view]
        dtype = np.dtype(dtype)
        self.dtypes.add(dtype)
        elem = element or wtype(dtype).storage
        if atomic:
            elem = f"atomic<{elem}>"
        name = f"b{len(self.keys)}"
        access = "read_write" if write or atomic else "read"
        self._decls.append(f"@group(0) @binding({len(self.keys)}) var<storage, {access}> {name}: array<{elem}>;")
        self.keys.append(key)
        self._names[view] = name
        self._writable[view] = write or atomic
        return name

    def param(self, field: str, wgsl_type: str = "u32") -> str:
        """A per-dispatch scalar parameter (passed in the uniform block); returns its expression."""
        if all(f != field for f, _ in self.params):
            self.params.append((field, wgsl_type))
        return f"params.{field}"

    def line(self, text: str) -> None:
        self.lines.append(text)

    def source(self) -> str:
        parts = list(self._decls)
        if self.params:
            fields = "".join(f"  {f}: {t},\n" for f, t in self.params)
            parts.append(f"struct Params {{\n{fields}}}")
            parts.append(f"@group(0) @binding({len(self.keys)}) var<uniform> params: Params;")
        parts.extend(self.shared)
        body = "\n".join("  " + ln for ln in self.lines)
        extra = "".join(f",\n        @builtin({b}) {decl}" for b, decl in self.builtins.items())
        main = (f"@compute @workgroup_size({self.workgroup_size})\n"
                "fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,\n"
                f"        @builtin(local_invocation_index) lid: u32{extra}) {{\n"
                f"  {WORKGROUP_LINEAR_INDEX_WGSL}\n"
                "  let wg = wg_linear;\n"
                f"  let gid = wg * {self.workgroup_size}u + lid;\n"
                f"{body}\n}}")
        helpers = helpers_for("\n".join(parts) + main)
        text = "\n".join(parts) + "\n" + (helpers + "\n" if helpers else "") + main + "\n"
        return ("enable f16;\n" if _F16_RE.search(text) else "") + text

    def pack_params(self, values: dict) -> bytes | None:
        """The uniform block's bytes for ``values`` (field -> number)."""
        if not self.params:
            return None
        fmt = {"u32": np.uint32, "i32": np.int32, "f32": np.float32}
        return b"".join(np.asarray(values[f], fmt[t]).tobytes() for f, t in self.params)


_F16_RE = re.compile(r"\bf16\b")


def workgroups_for(n: int, workgroup_size: int) -> int:
    return max(1, -(-n // workgroup_size))


def check_size(shape: Sequence[int], context: str) -> int:
    """The element count of ``shape``, refused when u32 index arithmetic could overflow."""
    n = math.prod(shape)
    if n > MAX_INDEX:
        from .errors import LimitExceededError
        raise LimitExceededError(f"{n} elements (shape {tuple(shape)}) exceed the 2**31 - 1 elements the wgpu "
                                 "backend's u32 index arithmetic supports", context)
    return n


def strides(shape: Sequence[int]) -> list[int]:
    """Row-major strides in elements."""
    out, acc = [], 1
    for d in reversed(shape):
        out.append(acc)
        acc *= d
    return out[::-1]


def u32(n: int) -> str:
    return f"{int(n)}u"


def coord_exprs(flat: str, shape: Sequence[int]) -> list[str]:
    """The row-major coordinates of the linear index ``flat`` in ``shape``."""
    st = strides(shape)
    out = []
    for j, (d, s) in enumerate(zip(shape, st)):
        e = flat if s == 1 else f"({flat} / {u32(s)})"
        if j > 0 and d != 1:
            e = f"({e} % {u32(d)})"
        out.append("0u" if d == 1 else e)
    return out


def linear_expr(coords: Sequence[str], shape: Sequence[int]) -> str:
    """The linear index of ``coords`` in row-major ``shape``."""
    terms = [c if s == 1 else f"{c} * {u32(s)}" for c, s, d in zip(coords, strides(shape), shape) if d != 1]
    return " + ".join(terms) if terms else "0u"
