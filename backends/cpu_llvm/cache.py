"""On-disk cache of compiled object code, one file per key, written atomically and checksummed.

Location: ``$PORTAX_CACHE_DIR`` or ``~/.cache/portax``, subfolder ``cpu_llvm``; ``PORTAX_DISABLE_DISK_CACHE=1``
turns it off. An entry is ``MAGIC | payload length (u64 LE) | sha256(payload) | payload``; anything that does
not check out (truncated, corrupt, other format) reads as a miss and is rewritten by the next store.
"""
from __future__ import annotations

import hashlib
import os
import struct
import tempfile
from pathlib import Path

MAGIC = b"PTXOBJ\x01\n"
_HEADER = struct.Struct("<8sQ32s")


def cache_dir() -> Path | None:
    """The folder entries live in, or None when the disk cache is disabled."""
    if os.environ.get("PORTAX_DISABLE_DISK_CACHE", "") not in ("", "0"):
        return None
    root = os.environ.get("PORTAX_CACHE_DIR") or os.path.join(os.path.expanduser("~"), ".cache", "portax")
    return Path(root) / "cpu_llvm"


def entry_path(key: str) -> Path | None:
    """Where the entry for ``key`` (a hex digest) is stored, or None when disabled."""
    d = cache_dir()
    return None if d is None else d / f"{key}.o"


def load(key: str) -> bytes | None:
    """The payload stored under ``key``, or None if absent, unreadable or failing its checksum."""
    path = entry_path(key)
    if path is None:
        return None
    try:
        blob = path.read_bytes()
    except OSError:
        return None
    if len(blob) < _HEADER.size:
        return None
    magic, length, digest = _HEADER.unpack_from(blob)
    payload = blob[_HEADER.size:]
    if magic != MAGIC or length != len(payload) or hashlib.sha256(payload).digest() != digest:
        return None
    return payload


def store(key: str, payload: bytes) -> bool:
    """Write ``payload`` under ``key`` atomically (temp file + rename); False if the disk refused."""
    path = entry_path(key)
    if path is None:
        return False
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{key[:16]}.", suffix=".tmp", dir=path.parent)
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(_HEADER.pack(MAGIC, len(payload), hashlib.sha256(payload).digest()))
                f.write(payload)
            os.replace(tmp, path)
        except BaseException:
            os.unlink(tmp)
            raise
    except OSError:
        return False
    return True
