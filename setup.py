"""Package discovery for the folder mapping in pyproject.toml (``[tool.setuptools.package-dir]``).

setuptools' own discovery cannot rename folders (``core/`` is ``portax.core``), so every importable folder
under each mapped root is found here; folders that are distributions of their own (a ``pyproject.toml``,
as ``plugins/reference``) are left to their own wheels. Nothing is listed by hand.
"""
import pathlib

from setuptools import setup

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib

ROOT = pathlib.Path(__file__).parent


def _packages(package_dir: dict) -> list:
    found = []
    for name, folder in package_dir.items():
        stack = [(name, ROOT / folder)]
        while stack:
            pkg, path = stack.pop()
            if not (path / "__init__.py").is_file() or (pkg != name and (path / "pyproject.toml").exists()):
                continue
            found.append(pkg)
            stack += [(f"{pkg}.{child.name}", child) for child in sorted(path.iterdir()) if child.is_dir()]
    return sorted(found)


_mapping = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["package-dir"]
setup(packages=_packages(_mapping))
