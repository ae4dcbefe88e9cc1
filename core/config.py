"""Global configuration flags, updated with ``portax.config.update(name, value)`` as in JAX."""
from __future__ import annotations

import os
from typing import Any


DEFAULT_COMPILE_CACHE_SIZE = 512


class Config:
    """A small flag store; reading a flag is an attribute lookup."""

    def __init__(self) -> None:
        self.enable_x64: bool = os.environ.get("PORTAX_ENABLE_X64", os.environ.get("JAX_ENABLE_X64", "0")).lower() in ("1", "true")
        self.default_backend: str | None = os.environ.get("PORTAX_BACKEND") or None
        self.debug_nans: bool = False
        # Compiled programs kept per jitted function and for eager ops (least recently used dropped first).
        self.compile_cache_size: int = int(os.environ.get("PORTAX_COMPILE_CACHE_SIZE", str(DEFAULT_COMPILE_CACHE_SIZE)))
        self._listeners: list = []

    def update(self, name: str, value: Any) -> None:
        key = name[4:] if name.startswith("jax_") else name
        if not hasattr(self, key) or key.startswith("_"):
            raise AttributeError(f"Unrecognized config option: {name}")
        setattr(self, key, value)
        for listener in self._listeners:
            listener(key)

    def read(self, name: str) -> Any:
        return getattr(self, name[4:] if name.startswith("jax_") else name)

    @property
    def x64_enabled(self) -> bool:
        return self.enable_x64

    def on_change(self, listener) -> None:
        self._listeners.append(listener)


config = Config()
