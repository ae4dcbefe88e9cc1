"""Import every module of the installed portax (run from outside the checkout by .ci/check_wheels.py)."""
import importlib
import pathlib
import pkgutil
import sys

import portax

here = pathlib.Path(portax.__file__).resolve()
if "site-packages" not in here.parts:
    sys.exit(f"portax was imported from {here}, not from an installed wheel")
names = ["portax"] + [m.name for m in pkgutil.walk_packages(portax.__path__, "portax.")
                      if m.name.rsplit(".", 1)[-1] != "__main__"]
failed = []
for name in names:
    try:
        importlib.import_module(name)
    except Exception as e:  # report them all, then fail
        failed.append(f"{name}: {type(e).__name__}: {e}")
print(f"imported {len(names) - len(failed)} of {len(names)} modules of portax {portax.__version__} from {here.parent}")
if failed:
    sys.exit("failed to import:\n  " + "\n  ".join(failed))
