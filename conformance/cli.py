"""``python -m portax.conformance``: certify one backend, every available backend, or list them."""
from __future__ import annotations

import argparse
import os
import sys
import warnings
from typing import Sequence

from portax.core.dtypes import short_name

from .registry import TRANSFORMS
from .report import Cell
from .runner import GROUPS, Options, backend_under_test, parse_dtype, run_suite, selected_dtypes


def _names(values: Sequence[str] | None) -> tuple | None:
    """Accept ``--x a b`` and ``--x a,b``."""
    if not values:
        return None
    return tuple(v for item in values for v in item.split(",") if v)


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m portax.conformance",
                                description="Run the portax conformance suite on a backend and print its report card.")
    which = p.add_mutually_exclusive_group()
    which.add_argument("--backend", help="backend to certify (default: PORTAX_BACKEND or the default backend)")
    which.add_argument("--all-available", action="store_true", help="certify every backend available on this machine")
    which.add_argument("--list-backends", action="store_true", help="list the backends found through entry points")
    p.add_argument("--devices", type=int, help="devices the multi-device (pmap) cases may use; also the device count "
                   "asked of each backend (PORTAX_<NAME>_DEVICES) where the environment does not set it")
    p.add_argument("--processes", type=int, help="also run pmap and every collective across N processes: the suite "
                   "starts itself under mpirun -n N (needs pip install 'portax[mpi]')")
    p.add_argument("--dtypes", nargs="+", help="dtypes to test (default: all the backend claims), e.g. f32 int8")
    p.add_argument("--report", action="append", default=[],
                   help="write the report card to FILE.md, FILE.json or FILE.xml (JUnit); any other FILE is a "
                        "stem for all three. Repeatable. With --all-available the backend name is appended.")
    p.add_argument("--strict", action="store_true", help="unsupported and no-cases cells fail too")
    p.add_argument("--primitives", nargs="+", help="only these primitives (default: all)")
    p.add_argument("--transforms", nargs="+", choices=TRANSFORMS, help="only these transforms")
    p.add_argument("--groups", nargs="+", choices=GROUPS, help="only these groups of checks")
    p.add_argument("--leak-calls", type=int, default=10_000, help="calls of the leak check (default 10000)")
    p.add_argument("--seed", type=int, default=0, help="seed of the random operands")
    p.add_argument("-q", "--quiet", action="store_true", help="print only the summary lines")
    p.add_argument("-j", "--jobs", type=int, default=1, help="with --all-available, certify this many backends at "
                   "once, each in its own process (0: one per core); each backend's output is printed when it ends")
    return p


class UsageError(Exception):
    """A bad command line or a backend that cannot be certified: one line on stderr, exit status 2."""


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    warnings.filterwarnings("ignore", message="portax: backend plugin")
    if args.list_backends:
        return list_backends()
    try:
        return _certify(args)
    except UsageError as e:
        print(f"portax conformance: {e}", file=sys.stderr)
        return 2


def _certify(args: argparse.Namespace) -> int:
    from portax.core.backend import BackendUnavailableError, device_count_env, registry
    if args.devices is not None:
        if args.devices < 1:
            raise UsageError(f"--devices {args.devices}: expected a positive number")
        for name in registry.names():  # before any backend is created: it reads its device count once
            if not os.environ.get(device_count_env(name), "").strip():
                os.environ[device_count_env(name)] = str(args.devices)
    if args.processes is not None:
        from .process_checks import missing_requirement
        if args.processes < 1:
            raise UsageError(f"--processes {args.processes}: expected a positive number")
        if missing_requirement():
            raise UsageError(missing_requirement())
    dtype_names = _names(args.dtypes)
    for dtype in dtype_names or ():
        try:
            parse_dtype(dtype)
        except ValueError as e:
            raise UsageError(e) from None
    if args.primitives:
        from .registry import tested_primitives
        unknown = sorted(set(_names(args.primitives)) - {p.name for p in tested_primitives()})
        if unknown:
            raise UsageError(f"unknown primitive(s) {', '.join(unknown)} (is the plugin that defines them installed?)")
    if args.jobs < 0:
        raise UsageError(f"--jobs {args.jobs}: expected 0 (one per core) or a positive number")
    if args.all_available:
        names = [n for n in registry.names() if _available(n)]
        if args.jobs != 1 and len(names) > 1:
            return _certify_concurrently(args, names)
    else:
        names = [args.backend or os.environ.get("PORTAX_BACKEND") or registry.default_name()]
    cards = []
    for name in names:
        options = Options(name, dtypes=dtype_names, devices=args.devices, processes=args.processes,
                          strict=args.strict,
                          primitives=_names(args.primitives), transforms=tuple(args.transforms or TRANSFORMS),
                          groups=tuple(args.groups or GROUPS), leak_calls=args.leak_calls, seed=args.seed)
        try:
            backend = backend_under_test(name)
        except (BackendUnavailableError, RuntimeError) as e:
            raise UsageError(str(e).splitlines()[0]) from None
        if dtype_names and not selected_dtypes(backend, dtype_names):
            claimed = " ".join(short_name(d) for d in selected_dtypes(backend, None))
            raise UsageError(f"backend '{name}' computes in none of --dtypes {' '.join(dtype_names)}; it claims {claimed}")
        card = run_suite(options, on_cell=None if args.quiet else _print_cell(args.strict))
        for report in args.report:
            for path in card.write(_per_backend(report, name) if args.all_available else report):
                print(f"report card written to {path}")
        print(card.summary_line())
        if card.partial:
            print(f"  partial: multi-device cells need more devices than '{name}' offers; set "
                  f"{device_count_env(name)}=4 or pass --devices 4 to run them")
        cards.append(card)
    return max((c.exit_code() for c in cards), default=0)


def _certify_concurrently(args: argparse.Namespace, names: list[str]) -> int:
    """``--all-available --jobs N``: one ``--backend`` run per backend, N at a time; the worst exit status."""
    import subprocess
    from concurrent.futures import ThreadPoolExecutor, as_completed

    def certify(name: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "portax.conformance", *_backend_argv(args, name)],
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)

    codes = []
    with ThreadPoolExecutor(args.jobs or os.cpu_count() or 1) as pool:
        for done in as_completed([pool.submit(certify, name) for name in names]):
            result = done.result()
            print(result.stdout, end="", flush=True)
            codes.append(result.returncode)
    return max(codes)


def _backend_argv(args: argparse.Namespace, name: str) -> list[str]:
    """The command line certifying ``name`` alone with the options of ``args`` (reports named per backend)."""
    argv = ["--backend", name, "--leak-calls", str(args.leak_calls), "--seed", str(args.seed)]
    for flag, value in (("--devices", args.devices), ("--processes", args.processes)):
        if value is not None:
            argv += [flag, str(value)]
    for flag, values in (("--dtypes", args.dtypes), ("--primitives", args.primitives),
                         ("--transforms", args.transforms), ("--groups", args.groups)):
        if values:
            argv += [flag, *values]
    for report in args.report:
        argv += ["--report", _per_backend(report, name)]
    return argv + ["--strict"] * args.strict + ["--quiet"] * args.quiet


def _print_cell(strict: bool):
    def show(cell: Cell) -> None:
        if cell.fails(strict):
            print(f"FAIL {cell.group} {cell.title}: {cell.message}", flush=True)
    return show


def _per_backend(path: str, backend: str) -> str:
    for ext in (".md", ".json", ".xml"):
        if path.endswith(ext):
            return f"{path[:-len(ext)]}-{backend}{ext}"
    return f"{path}-{backend}"


def _available(name: str) -> bool:
    from portax.core.backend import registry
    if registry.available(name):
        return True
    print(f"backend '{name}' is not available on this machine; not certified")
    return False


def list_backends() -> int:
    """Every backend offered through the ``portax`` entry points, highest priority first, the default
    marked, with availability and what it declares."""
    from portax.core.backend import BackendUnavailableError, registry
    from portax.core.dtypes import SUPPORTED
    specs = registry.specs()
    try:
        default = registry.default_name()
    except RuntimeError:
        default = None
    for name in registry.names():
        spec, mark = specs[name], " (default)" if name == default else ""
        try:
            b = registry.get(name)
        except (BackendUnavailableError, RuntimeError) as e:
            print(f"{name}{mark}: unavailable ({e})")
            continue
        dts = " ".join(short_name(d) for d in SUPPORTED if d in b.capabilities.dtypes)
        print(f"{name}{mark}: {spec.description or b.platform} [platform {b.platform}, {len(b.devices())} "
              f"device(s), priority {spec.priority}, dtypes {dts}]")
    for name, why in registry.load_failures().items():
        if name not in specs:
            print(f"{name}: plugin not loaded ({why})")
    return 0
