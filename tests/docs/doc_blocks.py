"""The fenced code blocks of a Markdown file: ``(language, text)`` in order; a block whose first line is
``# file: NAME`` is a file of the example it belongs to (see ``files``)."""
from __future__ import annotations

import pathlib
import re

_FENCE = re.compile(r"^```([\w-]*)\n(.*?)^```", re.S | re.M)


def blocks(path: pathlib.Path) -> list[tuple[str, str]]:
    return [(m.group(1), m.group(2)) for m in _FENCE.finditer(path.read_text())]


def files(path: pathlib.Path) -> dict[str, str]:
    """``{NAME: text}`` of the blocks that start with ``# file: NAME``."""
    out = {}
    for _, text in blocks(path):
        first, _, rest = text.partition("\n")
        if first.startswith("# file: "):
            out[first[len("# file: "):].strip()] = rest
    return out


def write_files(path: pathlib.Path, folder: pathlib.Path) -> list[str]:
    folder.mkdir(parents=True, exist_ok=True)
    for name, text in files(path).items():
        (folder / name).write_text(text)
    return sorted(files(path))
