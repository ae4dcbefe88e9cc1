"""On-disk cache of compiled object code: one authenticated file per key, private to the user.

Location: ``$PORTAX_CACHE_DIR`` or ``~/.cache/portax``, subfolder ``cpu_llvm``; ``PORTAX_DISABLE_DISK_CACHE=1``
turns it off. Entries are native code this process will run, so the cache trusts nothing others can write:

- both folders are created 0700; a folder writable by group or others, or owned by another user, is refused
  (one warning naming it and why) and the process runs without the disk cache;
- an entry is ``MAGIC | key length (u16 LE) | payload length (u64 LE) | HMAC | key | payload``, the HMAC-SHA256
  taken over everything else with a per-user secret (``$XDG_CONFIG_HOME/portax/cache.key`` or
  ``~/.config/portax/cache.key``: 32 random bytes, 0600, created atomically; a key file others can access is
  refused like a bad folder). The HMAC is checked before anything in the entry is used;
- an entry that does not check out (owned by another user, not a regular file, truncated, another format, another
  key, a wrong HMAC) reads as a miss and is replaced atomically (temp file + rename) by the next store.
"""
from __future__ import annotations

import hashlib
import hmac
import os
import secrets
import stat
import struct
import tempfile
import threading
import warnings
from pathlib import Path

from portax.core.cache_dirs import backend_cache_dir

MAGIC = b"PTXOBJ\x02\n"
_HEADER = struct.Struct("<8sHQ")  # magic, key length, payload length
_MAC_BYTES = 32
SECRET_BYTES = 32
_OPEN_FLAGS = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0)

_lock = threading.Lock()
_secrets: dict[Path, bytes | None] = {}  # key file -> its secret, None when refused
_warned: set[str] = set()


class _Refused(Exception):
    """A file or folder the cache does not trust; the message says why."""


def _warn_once(message: str) -> None:
    with _lock:
        if message in _warned:
            return
        _warned.add(message)
    warnings.warn(message, RuntimeWarning, stacklevel=3)


def cache_dir() -> Path | None:
    """The folder entries live in, or None when the disk cache is disabled."""
    return backend_cache_dir("cpu_llvm")


def entry_path(key: str) -> Path | None:
    """Where the entry for ``key`` (a hex digest) is stored, or None when disabled."""
    d = cache_dir()
    return None if d is None else d / f"{key}.o"


def key_path() -> Path:
    """The per-user secret authenticating entries: ``$XDG_CONFIG_HOME/portax/cache.key`` or
    ``~/.config/portax/cache.key``."""
    base = os.environ.get("XDG_CONFIG_HOME", "")
    if not os.path.isabs(base):
        base = os.path.join(os.path.expanduser("~"), ".config")
    return Path(base) / "portax" / "cache.key"


def usage() -> tuple[Path | None, int, int]:
    """(entry folder, total bytes, entry count) of the disk cache; the folder is None when it is disabled."""
    d = cache_dir()
    if d is None:
        return None, 0, 0
    total = count = 0
    try:
        with os.scandir(d) as entries:
            for e in entries:
                if e.name.endswith(".o") and e.is_file(follow_symlinks=False):
                    total += e.stat(follow_symlinks=False).st_size
                    count += 1
    except OSError:
        pass
    return d, total, count


def _trust_problem(st: os.stat_result, forbidden_mode: int) -> str | None:
    """Why a file or folder with status ``st`` may hold other users' writes, or None when it cannot."""
    if st.st_uid != os.geteuid():
        return f"owned by uid {st.st_uid}, not by this user (uid {os.geteuid()})"
    if st.st_mode & forbidden_mode:
        return f"open to other users (mode {stat.S_IMODE(st.st_mode):#o})"
    return None


def _trusted_dir(create: bool) -> Path | None:
    """The entry folder if no other user can write it or the root above it (both made 0700 first when
    ``create``), else None; an untrusted folder is reported once."""
    d = cache_dir()
    if d is None:
        return None
    for folder in (d.parent, d):
        try:
            if create:
                folder.mkdir(mode=0o700, parents=True, exist_ok=True)
            problem = _trust_problem(os.stat(folder), 0o022)
        except OSError:
            return None
        if problem:
            _warn_once(f"portax: not using the disk compile cache {d}: folder {folder} is {problem}; "
                       "entries are native code, so only a folder no other user can write is used")
            return None
    return d


def _read_regular(path: Path) -> tuple[bytes, os.stat_result]:
    """Contents and status of ``path`` if it is a regular file (a symlink is never followed)."""
    with os.fdopen(os.open(path, _OPEN_FLAGS), "rb") as f:
        st = os.fstat(f.fileno())
        if not stat.S_ISREG(st.st_mode):
            raise _Refused("not a regular file")
        return f.read(), st


def _read_secret(path: Path) -> bytes:
    data, st = _read_regular(path)
    problem = _trust_problem(st, 0o077)
    if problem:
        raise _Refused(f"{problem}; it must be 0600 and this user's")
    if len(data) != SECRET_BYTES:
        raise _Refused(f"not a {SECRET_BYTES}-byte key")
    return data


def _load_or_create_secret(path: Path) -> bytes:
    try:
        return _read_secret(path)
    except FileNotFoundError:
        pass
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".cache.key.", dir=path.parent)  # O_EXCL, 0600
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(secrets.token_bytes(SECRET_BYTES))
        try:
            os.link(tmp, path)  # the key appears whole or not at all and never replaces another process's
        except FileExistsError:
            pass
    finally:
        os.unlink(tmp)
    return _read_secret(path)


def _secret() -> bytes | None:
    """This user's secret (created on first use), or None when its file cannot be trusted (reported once)."""
    path = key_path()
    with _lock:
        if path in _secrets:
            return _secrets[path]
        try:
            secret, problem = _load_or_create_secret(path), None
        except (OSError, _Refused) as e:
            secret, problem = None, e
        _secrets[path] = secret
    if problem is not None:
        _warn_once(f"portax: not using the disk compile cache: key file {path}: {problem}")
    return secret


def _mac(secret: bytes, *parts: bytes) -> bytes:
    mac = hmac.new(secret, digestmod=hashlib.sha256)
    for part in parts:
        mac.update(part)
    return mac.digest()


def pack_entry(secret: bytes, key: str, payload: bytes) -> bytes:
    """The bytes of an entry holding ``payload`` under ``key``, authenticated with ``secret``."""
    name = key.encode()
    head = _HEADER.pack(MAGIC, len(name), len(payload))
    return head + _mac(secret, head, name, payload) + name + payload


def unpack_entry(secret: bytes, key: str, blob: bytes) -> bytes | None:
    """The payload of ``blob`` if its HMAC checks out under ``secret`` (tested first) and it holds ``key``."""
    start = _HEADER.size + _MAC_BYTES
    if len(blob) < start:
        return None
    head, mac, body = blob[:_HEADER.size], blob[_HEADER.size:start], blob[start:]
    if not hmac.compare_digest(mac, _mac(secret, head, body)):
        return None
    magic, key_len, length = _HEADER.unpack(head)
    name = key.encode()
    if magic != MAGIC or key_len != len(name) or length != len(body) - key_len or body[:key_len] != name:
        return None
    return body[key_len:]


def load(key: str) -> bytes | None:
    """The payload stored under ``key``, or None if absent, untrusted, or not an authentic entry for ``key``."""
    secret = _secret() if _trusted_dir(create=False) is not None else None
    if secret is None:
        return None
    try:
        blob, st = _read_regular(entry_path(key))
    except (OSError, _Refused):
        return None
    if _trust_problem(st, 0o022):
        return None
    return unpack_entry(secret, key, blob)


def store(key: str, payload: bytes) -> bool:
    """Write ``payload`` under ``key`` atomically (temp file + rename); False if disabled, untrusted or the
    disk refused."""
    secret = _secret() if _trusted_dir(create=True) is not None else None
    if secret is None:
        return False
    path = entry_path(key)
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{key[:16]}.", suffix=".tmp", dir=path.parent)
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(pack_entry(secret, key, payload))
            os.replace(tmp, path)
        except BaseException:
            os.unlink(tmp)
            raise
    except OSError:
        return False
    return True
