"""pytest plugin (``pytest11`` entry point): the options of ``pytest --pyargs portax.conformance``.

Installed with portax, so it loads in every pytest run: it only declares options and a terminal-summary
hook that does nothing unless the suite's own test module ran. Nothing from portax is imported here.
"""
from __future__ import annotations

import pytest

CARD_KEY = pytest.StashKey[object]()  # the ReportCard that portax.conformance.test_conformance fills


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("portax-conformance", "portax conformance suite (pytest --pyargs portax.conformance)")
    group.addoption("--portax-backend", default=None,
                    help="backend to certify (default: PORTAX_BACKEND or the highest-priority available one)")
    group.addoption("--portax-devices", type=int, default=None, help="devices the multi-device cases may use")
    group.addoption("--portax-processes", type=int, default=None,
                    help="also run the collectives across N processes under mpirun (pip install 'portax[mpi]')")
    group.addoption("--portax-dtypes", default=None, help="comma-separated dtypes (default: all the backend claims)")
    group.addoption("--portax-primitives", default=None, help="comma-separated primitive names (default: all)")
    group.addoption("--portax-report", default=None,
                    help="write the report card: FILE.md, FILE.json or FILE.xml, or a stem for all three")
    group.addoption("--portax-strict", action="store_true", help="unsupported and no-cases cells fail too")
    group.addoption("--portax-leak-calls", type=int, default=10_000, help="calls of the leak check")


def pytest_terminal_summary(terminalreporter, exitstatus, config: pytest.Config) -> None:
    card = config.stash.get(CARD_KEY, None)
    if card is None or not card.cells:
        return
    terminalreporter.write_sep("=", "portax conformance report card")
    terminalreporter.write_line(card.summary_line())
    report = config.getoption("--portax-report")
    if report:
        for path in card.write(report):
            terminalreporter.write_line(f"report card written to {path}")
