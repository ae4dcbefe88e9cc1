"""The backend interface: pluggy hook specifications, the Backend protocol and the registry.

A backend plugin is any installed distribution with an entry point in the ``portax`` group whose module
implements ``portax_backends`` (and optionally ``portax_lowerings``) with ``@hookimpl``. The built-in
backends register exactly the same way; the core never imports a backend.
"""
from __future__ import annotations

import dataclasses
import os
import threading
import warnings
from typing import Any, Callable, Protocol, Sequence, runtime_checkable

import numpy as np
import pluggy

from .ir import ClosedJaxpr

hookspec = pluggy.HookspecMarker("portax")
hookimpl = pluggy.HookimplMarker("portax")


@dataclasses.dataclass(frozen=True)
class Capabilities:
    """What a backend declares about itself; shared code reads these, never the backend's name."""

    dtypes: frozenset  # numpy dtypes it computes in
    ieee_specials: bool = True  # keeps NaN/Inf/-0 through arithmetic
    flushes_subnormals: bool = False  # may flush subnormal operands and results to zero (WGSL allows it)
    max_dispatch_elements: int | None = None  # largest array one kernel handles (None: unbounded)
    runtime_calls: tuple = ()  # documented runtime-library calls (e.g. "LAPACK getrf for lu")
    notes: str = ""


class Device:
    """A device of a backend, as ``jax.Device``: ``platform``, ``id``, and a printable name."""

    process_index = 0  # the process holding it (``portax.distributed`` renumbers devices across processes)

    def __init__(self, backend: "Backend", id: int, kind: str = ""):
        self.backend = backend
        self.id = id
        self.device_kind = kind or backend.platform

    platform = property(lambda self: self.backend.platform)

    def memory_stats(self) -> dict | None:
        """``jax.Device.memory_stats``: the backend's optional ``memory_stats(device)`` (bytes_in_use,
        peak_bytes_in_use, num_allocs, largest_alloc_size, bytes_limit where known), else None."""
        stats = getattr(self.backend, "memory_stats", None)
        return None if stats is None else stats(self)

    def __repr__(self) -> str:
        return f"{self.backend.device_class_name}(id={self.id})"


@runtime_checkable
class Executable(Protocol):
    """A compiled jaxpr: call it with device buffers, get device buffers back."""

    def __call__(self, *buffers: Any) -> Sequence[Any]: ...


@runtime_checkable
class Backend(Protocol):
    """What a plugin provides. Buffers are opaque to the core except through ``put``/``get``."""

    name: str
    platform: str
    device_class_name: str
    capabilities: Capabilities

    def devices(self) -> list[Device]: ...

    def compile(self, jaxpr: ClosedJaxpr, device: Device) -> Executable: ...

    def put(self, value: np.ndarray, device: Device) -> Any: ...

    def get(self, buffer: Any) -> np.ndarray: ...

    def add_lowerings(self, rules: dict) -> None: ...


@runtime_checkable
class SupportsCollectives(Protocol):
    """The optional Backend method pmap needs for collectives (without it, pmap bodies that use a
    collective raise NotImplementedError naming the backend; pmap without collectives still works).

    ``collective(name, buffers, devices, **params)`` receives one buffer per device of a group (ordered by
    their index along the axis; ``buffers[k]`` lives on ``devices[k]``) and returns one result buffer per
    device, on that device. It runs inside the backend (device-to-device copies or its own staging).
    ``name`` and ``params`` (``n = len(buffers)``; result for device ``i``):

    - ``psum`` / ``pmax`` / ``pmin``: the elementwise sum / max / min of all buffers.
    - ``all_gather`` (``all_gather_dimension``, ``tiled``): the buffers stacked along a new axis at
      ``all_gather_dimension`` (concatenated along it if ``tiled``).
    - ``reduce_scatter`` (``scatter_dimension``, ``tiled``): block ``i`` of the sum along
      ``scatter_dimension`` (index ``i`` of that axis, removing it, unless ``tiled``: the i-th of n
      equal blocks).
    - ``ppermute`` (``perm``: pairs ``(src, dst)``): device ``dst`` gets buffer ``src``; devices that
      are no destination get zeros.
    - ``all_to_all`` (``split_axis``, ``concat_axis``): the i-th of n equal blocks along ``split_axis``
      of every buffer ``j``, concatenated in order of ``j`` along ``concat_axis``.
    """

    def collective(self, name: str, buffers: list, devices: list, **params: Any) -> list: ...


@dataclasses.dataclass
class BackendSpec:
    """A plugin's offer of a backend: created lazily, the first time it is asked for."""

    name: str
    factory: Callable[[], Backend]
    priority: int = 0  # the highest-priority available backend is the default
    description: str = ""


class PortaxHookSpec:
    @hookspec
    def portax_backends(self) -> list[BackendSpec]:
        """Return the backends this plugin provides."""

    @hookspec
    def portax_lowerings(self, backend_name: str) -> dict | None:
        """Return ``{primitive: lowering rule}`` to add to the named backend (new or existing primitives)."""


class BackendUnavailableError(RuntimeError):
    pass


def device_count_env(backend_name: str) -> str:
    """The environment variable that sets how many devices a backend offers: ``PORTAX_<NAME>_DEVICES``
    (``PORTAX_CPU_DEVICES`` for ``cpu_llvm``). ``python -m portax.conformance --devices N`` sets it."""
    return "PORTAX_CPU_DEVICES" if backend_name == "cpu_llvm" else f"PORTAX_{backend_name.upper()}_DEVICES"


def requested_device_count(backend_name: str, default: int = 1) -> int:
    """How many devices the user asked ``backend_name`` for (see ``device_count_env``), at least 1."""
    env = device_count_env(backend_name)
    text = os.environ.get(env, "").strip()
    if not text:
        return default
    try:
        count = int(text)
    except ValueError:
        raise ValueError(f"{env}={text!r}: expected a positive number of devices") from None
    if count < 1:
        raise ValueError(f"{env}={text!r}: expected a positive number of devices")
    return count


class Registry:
    """Loads ``portax`` entry points, creates backends on demand, remembers the default."""

    def __init__(self) -> None:
        self.pm = pluggy.PluginManager("portax")
        self.pm.add_hookspecs(PortaxHookSpec)
        self._specs: dict[str, BackendSpec] | None = None
        self._backends: dict[str, Backend] = {}
        self._failures: dict[str, str] = {}
        self._lock = threading.RLock()

    def _load(self) -> dict[str, BackendSpec]:
        if self._specs is None:
            with self._lock:
                if self._specs is None:
                    self._load_entry_points()
                    specs: dict[str, BackendSpec] = {}
                    for result in self.pm.hook.portax_backends():
                        for spec in result or []:
                            specs[spec.name] = spec
                    self._specs = specs
        return self._specs

    def _load_entry_points(self) -> None:
        """Import each ``portax`` entry point on its own: one broken plugin must not hide the others."""
        from importlib.metadata import entry_points
        for ep in entry_points(group="portax"):
            if self.pm.get_plugin(ep.name) is not None or self.pm.is_blocked(ep.name):
                continue
            try:
                self.pm.register(ep.load(), name=ep.name)
            except Exception as e:
                self._failures[ep.name] = f"plugin {ep.value} failed to load: {type(e).__name__}: {e}"
                warnings.warn(f"portax: backend plugin '{ep.name}' ({ep.value}) failed to load: {e!r}")

    def register(self, plugin: Any, name: str | None = None) -> None:
        """Register a plugin object or module at runtime (tests, notebooks); its lowerings reach the
        backends already created too."""
        with self._lock:
            self.pm.register(plugin, name)
            self._specs = None
            hook = getattr(plugin, "portax_lowerings", None)
            for backend_name, backend in self._backends.items():
                rules = hook(backend_name=backend_name) if hook is not None else None
                if rules:
                    backend.add_lowerings(rules)

    def unregister(self, plugin: Any) -> None:
        with self._lock:
            self.pm.unregister(plugin)
            self._specs = None
            self._backends.clear()
            self._failures.clear()

    def load_failures(self) -> dict[str, str]:
        """Plugins (by entry-point name) that failed to import or whose backend failed to start."""
        self._load()
        return dict(self._failures)

    def names(self) -> list[str]:
        return sorted(self._load(), key=lambda n: -self._load()[n].priority)

    def specs(self) -> dict[str, BackendSpec]:
        return dict(self._load())

    def created(self) -> list[Backend]:
        """The backends created so far (those that may have work in flight)."""
        with self._lock:
            return list(self._backends.values())

    def get(self, name: str) -> Backend:
        b = self._backends.get(name)
        if b is not None:
            return b
        with self._lock:
            if name in self._backends:
                return self._backends[name]
            specs = self._load()
            if name not in specs:
                raise RuntimeError(f"Unknown backend '{name}'. Available backends: {', '.join(self.names()) or 'none'} "
                                   "(backends are installed plugins with a 'portax' entry point)")
            if name in self._failures:
                raise BackendUnavailableError(f"Backend '{name}' failed to initialize: {self._failures[name]}")
            try:
                backend = specs[name].factory()
            except Exception as e:
                self._failures[name] = f"{type(e).__name__}: {e}"
                raise BackendUnavailableError(f"Backend '{name}' failed to initialize: {self._failures[name]}") from e
            for rules in self.pm.hook.portax_lowerings(backend_name=name):
                if rules:
                    backend.add_lowerings(rules)
            self._backends[name] = backend
            return backend

    def available(self, name: str) -> bool:
        try:
            self.get(name)
            return True
        except (BackendUnavailableError, RuntimeError):
            return False

    def default_name(self) -> str:
        from .config import config
        env = config.default_backend or os.environ.get("PORTAX_BACKEND")
        if env:
            return env
        for name in self.names():
            if self.available(name):
                return name
        raise RuntimeError("No portax backend is available. Install portax (which registers cpu_llvm and wgpu) "
                           "or a backend plugin such as portax-reference.")

    def default(self) -> Backend:
        return self.get(self.default_name())


registry = Registry()


def get_backend(name: str | Backend | None = None) -> Backend:
    if name is None:
        return _default_backend()
    if isinstance(name, str):
        return registry.get(name)
    return name


_default_cache: list = []


def _default_backend() -> Backend:
    if not _default_cache:
        _default_cache.append(registry.default())
    return _default_cache[0]


def reset_default_backend() -> None:
    """Forget the cached default (after ``config.update('default_backend', ...)`` or plugin changes)."""
    _default_cache.clear()


def _on_config_change(key: str) -> None:
    if key in ("default_backend", "enable_x64"):
        reset_default_backend()


from .config import config as _config  # noqa: E402

_config.on_change(_on_config_change)
