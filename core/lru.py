"""A thread-safe LRU mapping for compiled programs, bounded by ``config.compile_cache_size``.

``get_or_create(key, make)`` runs ``make`` outside the lock, so threads compiling different keys don't wait
for each other, while threads asking for the same key wait for the one compiling it: a key is never
compiled twice at once. A re-entrant request for a key this thread is already creating computes it
uncached instead of waiting for itself.
"""
from __future__ import annotations

import collections
import threading
from typing import Any, Callable, Hashable

from .config import config


class _Pending:
    __slots__ = ("done", "value", "ok", "thread")

    def __init__(self) -> None:
        self.done = threading.Event()
        self.value: Any = None
        self.ok = False
        self.thread = threading.get_ident()


class LRUCache:
    """At most ``maxsize`` entries (default: ``config.compile_cache_size``, read on every insertion); the
    least recently used entry is dropped first."""

    def __init__(self, maxsize: int | None = None) -> None:
        self._maxsize = maxsize
        self._data: collections.OrderedDict = collections.OrderedDict()
        self._pending: dict[Hashable, _Pending] = {}
        self._lock = threading.RLock()  # re-entrant: a finalizer may drop an entry while the lock is held
        # ``peek(key)``: the value under ``key``, or None, leaving the order as it is: one dict read, no lock (for a
        # cache in front of another, where an entry dropped early only costs a lookup in the one behind). The
        # dict's own method (no Python frame per call): ``_data`` is never replaced, only cleared.
        self.peek: Callable[[Hashable], Any] = self._data.get

    @property
    def maxsize(self) -> int:
        return self._maxsize if self._maxsize is not None else config.compile_cache_size

    def get(self, key: Hashable) -> Any:
        """The value under ``key`` (now the most recently used), or None."""
        with self._lock:
            value = self._data.get(key)
            if value is not None:
                self._data.move_to_end(key)
            return value

    def put(self, key: Hashable, value: Any) -> Any:
        """Store ``value`` unless another thread stored one first; returns the value kept."""
        with self._lock:
            kept = self._data.setdefault(key, value)
            self._data.move_to_end(key)
            limit = max(self.maxsize, 0)
            while len(self._data) > limit:
                self._data.popitem(last=False)
            return kept

    def get_or_create(self, key: Hashable, make: Callable[[], Any]) -> Any:
        """The value under ``key``, made by ``make()`` (once, even when threads ask at the same time)."""
        with self._lock:
            value = self._data.get(key)
            if value is not None:
                self._data.move_to_end(key)
                return value
            pending = self._pending.get(key)
            owner = pending is None
            if owner:
                pending = self._pending[key] = _Pending()
        if not owner:
            if pending.thread == threading.get_ident():
                return make()
            pending.done.wait()
            return pending.value if pending.ok else self.get_or_create(key, make)
        try:
            value = make()
            pending.value, pending.ok = self.put(key, value), True
            return pending.value
        finally:
            with self._lock:
                del self._pending[key]
            pending.done.set()

    def clear(self) -> None:
        with self._lock:
            self._data.clear()

    def keys(self) -> list:
        with self._lock:
            return list(self._data)

    def __len__(self) -> int:
        return len(self._data)

    def __contains__(self, key: Hashable) -> bool:
        return key in self._data
