"""The differential fuzzer: N random programs per backend and mode, counts, and minimised repros.

    python -m tests.differential --n 500 [--seed S] [--backends cpu_llvm wgpu] [--modes eager jit]
"""
from __future__ import annotations

import argparse
import collections
import dataclasses
import os
import sys
import time
import warnings

from portax.core.backend import registry

from .generator import generate
from .minimize import minimize, repro
from .runner import DISAGREE, EXCEPTION, MODES, NA, OK, REFERENCE, UNSUPPORTED, Outcome, check


@dataclasses.dataclass
class Failure:
    seed: int
    backend: str
    mode: str
    outcome: Outcome


@dataclasses.dataclass
class Tally:
    counts: dict  # (backend, mode) -> Counter of statuses
    failures: list
    unsupported: collections.Counter  # first line of each NotImplementedError message -> count
    generator_errors: list = dataclasses.field(default_factory=list)  # bugs of the generator itself


def available_backends() -> list[str]:
    warnings.filterwarnings("ignore", message="portax: backend plugin")
    return [n for n in registry.names() if registry.available(n)]


def run(seeds, backends: list[str], modes=MODES, progress=None) -> Tally:
    """Every program of ``seeds`` in every mode on every backend."""
    tally = Tally(collections.defaultdict(collections.Counter), [], collections.Counter())
    for seed in seeds:
        try:
            prog = generate(seed)
        except Exception as e:  # a bug of the tester itself: reported, never skipped silently
            tally.generator_errors.append(f"seed {seed}: {type(e).__name__}: {e}")
            continue
        cache: dict = {}
        for backend in backends:
            for mode in modes:
                outcome = check(prog, backend, mode, cache)
                tally.counts[backend, mode][outcome.status] += 1
                if outcome.status in (DISAGREE, EXCEPTION):
                    tally.failures.append(Failure(seed, backend, mode, outcome))
                elif outcome.status == UNSUPPORTED:
                    tally.unsupported[f"{backend}: {outcome.message.splitlines()[0][:160]}"] += 1
        if progress is not None:
            progress(seed, tally)
    return tally


def table(tally: Tally) -> str:
    statuses = ("programs", OK, DISAGREE, EXCEPTION, UNSUPPORTED, NA)
    rows = [f"{'backend':10} {'mode':6} " + " ".join(f"{s:>11}" for s in statuses)]
    for (backend, mode), c in sorted(tally.counts.items()):
        rows.append(f"{backend:10} {mode:6} " + " ".join(f"{(sum(c.values()) if s == 'programs' else c[s]):>11}"
                                                          for s in statuses))
    return "\n".join(rows)


def report(tally: Tally, minimize_seconds: float, max_repros: int) -> str:
    """The counts, the unsupported features seen, and a minimised repro per distinct failure."""
    out = [table(tally)] + [f"generator error: {e}" for e in tally.generator_errors]
    if tally.unsupported:
        out.append("\nunsupported (NotImplementedError, not failures):")
        out += [f"  {n:5} x {m}" for m, n in tally.unsupported.most_common(20)]
    seen = set()
    shown = 0
    for fail in tally.failures:
        key = (fail.backend, fail.mode, fail.outcome.status, fail.outcome.message[:60])
        if key in seen:
            continue
        seen.add(key)
        if shown >= max_repros:
            out.append(f"\n(seed {fail.seed}, {fail.backend} {fail.mode}: {fail.outcome.message[:200]}; not minimised)")
            continue
        shown += 1
        prog = generate(fail.seed)
        small = minimize(prog, fail.backend, fail.mode, fail.outcome, minimize_seconds)
        outcome = check(small, fail.backend, fail.mode)
        if outcome.status not in (DISAGREE, EXCEPTION):  # shrinking ran out of time mid-way: show the original
            small, outcome = prog, fail.outcome
        out.append(f"\n--- seed {fail.seed}: {fail.backend} {fail.mode} {outcome.status} "
                   f"({len(prog.ops)} -> {len(small.ops)} equations)\n{repro(small, fail.backend, fail.mode, outcome)}")
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m tests.differential", description=__doc__.splitlines()[0])
    p.add_argument("--n", type=int, default=500, help="programs per backend")
    p.add_argument("--seed", type=int, default=None, help="first seed (default: fresh from the clock)")
    p.add_argument("--backends", nargs="*", default=None, help="default: every available backend")
    p.add_argument("--modes", nargs="*", default=list(MODES), choices=MODES)
    p.add_argument("--minimize-seconds", type=float, default=60.0)
    p.add_argument("--max-repros", type=int, default=25)
    args = p.parse_args(argv)
    seed = args.seed if args.seed is not None else int.from_bytes(os.urandom(4), "little") >> 2  # below 2**30
    backends = args.backends or available_backends()
    if REFERENCE not in available_backends():
        print("the differential tester needs the reference backend (pip install -e plugins/reference)")
        return 2
    print(f"differential fuzz: seeds {seed}..{seed + args.n - 1} on {', '.join(backends)} "
          f"({', '.join(args.modes)})", flush=True)
    start = time.monotonic()

    def progress(s, tally):
        done = s - seed + 1
        if done % 50 == 0:
            bad = len(tally.failures)
            print(f"  {done}/{args.n} programs, {bad} failures, {time.monotonic() - start:.0f} s", flush=True)
    tally = run(range(seed, seed + args.n), backends, tuple(args.modes), progress)
    print(report(tally, args.minimize_seconds, args.max_repros))
    print(f"\nseeds {seed}..{seed + args.n - 1}: {len(tally.failures)} disagreements or exceptions, "
          f"{len(tally.generator_errors)} generator errors ({time.monotonic() - start:.0f} s)")
    return 1 if tally.failures or tally.generator_errors else 0


if __name__ == "__main__":
    sys.exit(main())
