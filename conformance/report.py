"""The report card: one cell per (group, primitive or check, dtype, transform), written as Markdown, JSON
and JUnit XML."""
from __future__ import annotations

import dataclasses
import json
import xml.etree.ElementTree as ET
from collections import Counter, defaultdict
from typing import Iterable

PASS, FAIL, UNSUPPORTED, RUNTIME_CALL = "pass", "fail", "unsupported", "runtime-call"
NO_CASES, SKIP = "no-cases", "skip"
NEEDS_DEVICES = "needs-devices"  # not run: the backend offers fewer devices than the cell needs
STATUSES = (PASS, RUNTIME_CALL, UNSUPPORTED, NO_CASES, NEEDS_DEVICES, SKIP, FAIL)
_NOT_RUN = (UNSUPPORTED, NO_CASES, NEEDS_DEVICES, SKIP)
_SYMBOL = {PASS: "✓", RUNTIME_CALL: "R", UNSUPPORTED: "U", NO_CASES: "∅", NEEDS_DEVICES: "D", SKIP: "–", FAIL: "✗"}


@dataclasses.dataclass
class Cell:
    group: str  # "primitive", "prng", "bad-input", "leak", "pmap", "processes"
    name: str  # primitive name or check name
    dtype: str  # short dtype name, or "-"
    transform: str
    status: str
    message: str = ""
    cases: int = 0

    def fails(self, strict: bool) -> bool:
        return self.status == FAIL or (strict and self.status in (UNSUPPORTED, NO_CASES, NEEDS_DEVICES))

    @property
    def title(self) -> str:
        return f"{self.name} {self.dtype} {self.transform}"


@dataclasses.dataclass
class ReportCard:
    backend: str
    cells: list
    strict: bool = False
    info: dict = dataclasses.field(default_factory=dict)  # platform, devices, capabilities, seconds

    def counts(self) -> Counter:
        return Counter(c.status for c in self.cells)

    def failures(self) -> list:
        return [c for c in self.cells if c.fails(self.strict)]

    @property
    def passed(self) -> bool:
        return not self.failures()

    @property
    def partial(self) -> bool:
        """Whether cells were left out because the backend offers too few devices."""
        return any(c.status == NEEDS_DEVICES for c in self.cells)

    def exit_code(self) -> int:
        return 0 if self.passed else 1

    def summary_line(self) -> str:
        counts = self.counts()
        parts = ", ".join(f"{counts[s]} {s}" for s in STATUSES if counts[s])
        verdict = "FAILED" if not self.passed else "PASSED (PARTIAL)" if self.partial else "PASSED"
        strict = " (strict)" if self.strict else ""
        secs = self.info.get("seconds")
        took = f" in {secs:.1f}s" if secs is not None else ""
        return f"portax conformance [{self.backend}]{strict}: {verdict}: {parts or 'no cells'}{took}"

    # --- Markdown ---------------------------------------------------------------------------------------
    def to_markdown(self) -> str:
        lines = [f"# portax conformance report: `{self.backend}`", "", self.summary_line(), ""]
        for k, v in self.info.items():
            lines.append(f"- **{k}**: {v}")
        lines.append("")
        legend = ", ".join(f"{sym} {s}" for s, sym in _SYMBOL.items())
        lines += [f"Legend: {legend}. A cell lists the dtypes whose status is not pass.", ""]
        for group, cells in _by_group(self.cells).items():
            transforms = list(dict.fromkeys(c.transform for c in cells))
            lines += [f"## {group}", "", "| name | " + " | ".join(transforms) + " |",
                      "|---" * (len(transforms) + 1) + "|"]
            by_name: dict = defaultdict(dict)
            for c in cells:
                by_name[c.name].setdefault(c.transform, []).append(c)
            for name, row in by_name.items():
                lines.append(f"| {name} | " + " | ".join(_md_cell(row.get(t, [])) for t in transforms) + " |")
            lines.append("")
        for title, status in (("Failures", FAIL), ("Unsupported", UNSUPPORTED), ("Runtime calls", RUNTIME_CALL),
                              ("No cases", NO_CASES), ("Needs more devices", NEEDS_DEVICES), ("Skipped", SKIP)):
            chosen = [c for c in self.cells if c.status == status]
            if chosen:
                lines += [f"## {title}", ""]
                lines += [f"- **{c.group} {c.title}**: {_one_line(c.message)}" for c in chosen]
                lines.append("")
        return "\n".join(lines)

    # --- JSON -------------------------------------------------------------------------------------------
    def to_dict(self) -> dict:
        return {"backend": self.backend, "strict": self.strict, "passed": self.passed, "partial": self.partial,
                "info": self.info,
                "summary": dict(self.counts()), "cells": [dataclasses.asdict(c) for c in self.cells]}

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=1, default=str)

    # --- JUnit XML ----------------------------------------------------------------------------------------
    def to_junit(self) -> str:
        counts = self.counts()
        suite = ET.Element("testsuite", name=f"portax-conformance-{self.backend}", tests=str(len(self.cells)),
                           failures=str(len(self.failures())),
                           skipped=str(sum(counts[s] for s in _NOT_RUN) if not self.strict else counts[SKIP]),
                           time=f"{self.info.get('seconds', 0):.3f}")
        for c in self.cells:
            case = ET.SubElement(suite, "testcase", classname=f"{self.backend}.{c.group}.{c.name}",
                                 name=f"{c.dtype}-{c.transform}")
            if c.fails(self.strict):
                ET.SubElement(case, "failure", message=_one_line(c.message)[:500]).text = c.message
            elif c.status in _NOT_RUN:
                ET.SubElement(case, "skipped", message=f"{c.status}: {_one_line(c.message)[:500]}")
            elif c.status == RUNTIME_CALL:
                ET.SubElement(case, "system-out").text = f"runtime-call: {c.message}"
        return ET.tostring(ET.ElementTree(suite).getroot(), encoding="unicode", xml_declaration=True)

    def write(self, path: str) -> list[str]:
        """Write by extension (.md, .json, .xml); any other path is a stem for all three."""
        writers = {".md": self.to_markdown, ".json": self.to_json, ".xml": self.to_junit}
        for ext, fn in writers.items():
            if path.endswith(ext):
                _write(path, fn())
                return [path]
        for ext, fn in writers.items():
            _write(path + ext, fn())
        return [path + ext for ext in writers]


def _write(path: str, text: str) -> None:
    with open(path, "w", encoding="utf-8") as f:
        f.write(text)


def _by_group(cells: Iterable[Cell]) -> dict:
    out: dict = defaultdict(list)
    for c in cells:
        out[c.group].append(c)
    return out


def _md_cell(cells: list) -> str:
    if not cells:
        return ""
    by_status: dict = defaultdict(list)
    for c in cells:
        by_status[c.status].append(c.dtype)
    if set(by_status) == {PASS}:
        return _SYMBOL[PASS]
    parts = [f"{_SYMBOL[s]} {','.join(ds)}" for s, ds in by_status.items() if s != PASS]
    return "; ".join(parts)


def _one_line(text: str) -> str:
    return " ".join(text.split())
