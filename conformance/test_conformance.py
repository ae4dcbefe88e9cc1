"""The suite as pytest tests: ``pytest --pyargs portax.conformance --portax-backend NAME``.

One test per primitive x dtype x transform cell and one per group of other checks (PRNG, bad input,
leaks, multi-device, multi-process). A failing cell fails its test with the cell's message; unsupported, no-cases and
skipped cells are skipped with the reason (they fail under ``--portax-strict``). The report card summary
is printed at the end and written with ``--portax-report``.
"""
from __future__ import annotations

import os
import warnings

import pytest

from portax.conformance.pytest_plugin import CARD_KEY
from portax.conformance.report import NEEDS_DEVICES, NO_CASES, SKIP, UNSUPPORTED, Cell, ReportCard
from portax.conformance.runner import (GROUPS, Options, backend_under_test, group_cells, plan_primitives,
                                       run_planned, selected_dtypes, x64)

OTHER_GROUPS = tuple(g for g in GROUPS if g != "primitives")


def _split(value: str | None) -> tuple | None:
    return tuple(v for v in value.split(",") if v) if value else None


def _options(config: pytest.Config) -> Options:
    warnings.filterwarnings("ignore", message="portax: backend plugin")
    from portax.core.backend import registry
    name = config.getoption("--portax-backend") or os.environ.get("PORTAX_BACKEND") or registry.default_name()
    return Options(name, dtypes=_split(config.getoption("--portax-dtypes")),
                   devices=config.getoption("--portax-devices"),
                   processes=config.getoption("--portax-processes"), strict=config.getoption("--portax-strict"),
                   primitives=_split(config.getoption("--portax-primitives")),
                   leak_calls=config.getoption("--portax-leak-calls"))


class Suite:
    """What every test of one session shares: the options, the backend, its dtypes and the card."""

    def __init__(self, config: pytest.Config):
        self.options = _options(config)
        self.backend = backend_under_test(self.options.backend)
        self.dtypes = selected_dtypes(self.backend, self.options.dtypes)
        self.wide = any(d.itemsize == 8 for d in self.dtypes)
        self.card = config.stash.setdefault(CARD_KEY, ReportCard(self.options.backend, [], self.options.strict))

    def record(self, cell: Cell) -> None:
        self.card.cells.append(cell)


SUITE_KEY = pytest.StashKey[Suite]()


def _suite(config: pytest.Config) -> Suite:
    if SUITE_KEY not in config.stash:
        config.stash[SUITE_KEY] = Suite(config)
    return config.stash[SUITE_KEY]


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "planned" in metafunc.fixturenames:
        suite = _suite(metafunc.config)
        with x64(suite.wide):
            plans = list(plan_primitives(suite.backend, suite.dtypes, suite.options))
        metafunc.parametrize("planned", plans, ids=[p.id for p in plans])


@pytest.fixture(scope="session")
def suite(request: pytest.FixtureRequest) -> Suite:
    return _suite(request.config)


def _conclude(suite: Suite, cells: list[Cell]) -> None:
    for cell in cells:
        suite.record(cell)
    failed = [c for c in cells if c.fails(suite.options.strict)]
    if failed:
        pytest.fail("\n\n".join(f"[{c.group} {c.title}] {c.message}" for c in failed), pytrace=False)
    if cells and all(c.status in (UNSUPPORTED, NO_CASES, NEEDS_DEVICES, SKIP) for c in cells):
        pytest.skip("; ".join(f"{c.title}: {c.status}: {c.message.splitlines()[0] if c.message else ''}"
                              for c in cells[:3]) + (" ..." if len(cells) > 3 else ""))


def test_primitive(planned, suite: Suite) -> None:
    with x64(suite.wide):
        cell = run_planned(planned, suite.options.backend, suite.backend.capabilities)
    _conclude(suite, [cell])


@pytest.mark.parametrize("group", OTHER_GROUPS)
def test_group(group: str, suite: Suite) -> None:
    _conclude(suite, list(group_cells(group, suite.options, suite.backend, suite.dtypes)))
