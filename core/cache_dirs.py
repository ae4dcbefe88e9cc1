"""Where backends keep what they cache on disk: ``$PORTAX_CACHE_DIR`` or ``~/.cache/portax``, one subfolder
per backend; ``PORTAX_DISABLE_DISK_CACHE=1`` turns every disk cache off."""
from __future__ import annotations

import os
from pathlib import Path


def backend_cache_dir(name: str) -> Path | None:
    """The folder of backend ``name``'s disk cache, or None when disk caches are disabled."""
    if os.environ.get("PORTAX_DISABLE_DISK_CACHE", "") not in ("", "0"):
        return None
    root = os.environ.get("PORTAX_CACHE_DIR") or os.path.join(os.path.expanduser("~"), ".cache", "portax")
    return Path(root) / name
