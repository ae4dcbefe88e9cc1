"""Per-file counts from pytest's JUnit XML (portax's run next to real jax's) and failures clustered by cause
(standard library only)."""
from __future__ import annotations

import collections
import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path


@dataclass
class FileResult:
    """Outcome of every test of one file (``failed`` maps test id to its cause); ``crash`` if no XML was written."""
    passed: set = field(default_factory=set)
    failed: dict = field(default_factory=dict)
    skipped: set = field(default_factory=set)
    crash: str = ""

    @property
    def tests(self) -> int:
        return len(self.passed) + len(self.failed) + len(self.skipped)


def _first_error_line(text: str) -> str:
    """The exception line of a traceback: pytest's last ``E   `` line, else the last non-empty line."""
    lines = [l[1:].strip() for l in text.splitlines() if l.startswith("E ")]
    lines = lines or [l.strip() for l in text.splitlines() if l.strip()]
    for line in reversed(lines):
        if re.match(r"^[\w.]+(Error|Exception|Exit|Interrupt|Warning|Failed)\b", line):
            return line
    return lines[-1] if lines else ""


def parse_junit(path: Path) -> FileResult:
    result = FileResult()
    for case in ET.parse(path).getroot().iter("testcase"):
        test_id = f"{case.get('classname', '')}::{case.get('name', '')}"
        bad = case.find("failure")
        if bad is None:
            bad = case.find("error")
        if bad is not None:
            message = bad.get("message") or ""
            if not message or message in ("collection failure",) or message.startswith("failed on setup"):
                message = _first_error_line(bad.text or "") or message
            result.failed[test_id] = message
        elif case.find("skipped") is not None:
            result.skipped.add(test_id)
        else:
            result.passed.add(test_id)
    return result


_NORMALISE = [
    (re.compile(r"0x[0-9a-fA-F]+"), "0x…"),
    (re.compile(r"\[[^\[\]]{40,}\]"), "[…]"),
    (re.compile(r"Array\(.*?\)"), "Array(…)"),
    (re.compile(r"(?<![\w.])[-+]?\d+(\.\d+)?(e[-+]?\d+)?(?![\w])"), "N"),
    (re.compile(r"\s+"), " "),
]


_INTERNALS = re.compile(r"<class 'portax\.[\w.]+'>.*(not a valid JAX type|JAX value)|"
                        r"(not a valid JAX type|as a JAX value).*portax")


def cause(message: str) -> str:
    """A failure message reduced to its cluster key: exception type and normalised first line."""
    line = message.strip().splitlines()[0] if message.strip() else "(no message)"
    if _INTERNALS.search(line):  # real jax refusing a portax array: the test calls jax._src internals
        return "[test calls real jax internals (jax._src) on a portax array] " + line.split(" ", 1)[0]
    for pattern, repl in _NORMALISE:
        line = pattern.sub(repl, line)
    return line[:180]


def kinds(results: dict[str, FileResult]) -> list[tuple[str, int]]:
    """Failures counted by exception type, most frequent first."""
    counts = collections.Counter(cause(m).split(":", 1)[0].split("] ")[-1] for res in results.values()
                                 for m in res.failed.values())
    return counts.most_common()


def causes(results: dict[str, FileResult], baseline: dict[str, FileResult]) -> list[tuple[str, int, list[str], str]]:
    """(cause, count, files, an example test id), most frequent first; an error importing a file counts each test
    JAX runs in it."""
    counts: collections.Counter = collections.Counter()
    files: dict[str, set] = collections.defaultdict(set)
    example: dict[str, str] = {}
    for name, res in results.items():
        for test_id, message in res.failed.items():
            key = cause(message)
            counts[key] += max(1, baseline[name].tests) if test_id.startswith("::") and name in baseline else 1
            files[key].add(name)
            example.setdefault(key, f"{name}.py::{test_id.split('::', 1)[-1]}")
        if res.crash:
            key = cause(res.crash)
            counts[key] += max(1, baseline[name].tests) if name in baseline else 1
            files[key].add(name)
            example.setdefault(key, f"{name}.py (whole file)")
    return [(k, n, sorted(files[k]), example[k]) for k, n in counts.most_common()]


def _pct(a: int, b: int) -> str:
    return f"{100 * a / b:.1f}%" if b else "n/a"


def render(results: dict[str, FileResult], baseline: dict[str, FileResult], header: str,
           top: int = 40) -> tuple[str, float]:
    """The markdown report and the overall ratio (tests passed by both / tests JAX passes)."""
    rows = ["| file | tests | passed | failed | skipped | absent | JAX tests | JAX passed | passed / JAX passed |",
            "|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
    tot = collections.Counter()
    for name in results:
        res, base = results[name], baseline.get(name, FileResult())
        both = len(res.passed & base.passed)
        ran = res.passed | set(res.failed) | res.skipped
        absent = len((base.passed | set(base.failed) | base.skipped) - ran)
        row = dict(tests=res.tests, passed=len(res.passed), failed=len(res.failed), skipped=len(res.skipped),
                   absent=absent, jax_tests=base.tests, jax_passed=len(base.passed), both=both)
        tot.update(row)
        broken = [m for t, m in res.failed.items() if t.startswith("::")]  # pytest's collection error
        note = (f" (crashed: {res.crash[:80]})" if res.crash else
                f" (import failed: {cause(broken[0])[:100]})" if broken else "")
        note = note.replace("|", "\\|").replace("`", "'")
        jax_cols = (f"{absent} | {row['jax_tests']} | {row['jax_passed']} | {_pct(both, row['jax_passed'])}"
                    if name in baseline else "– | – | – | – (no JAX run)")
        rows.append(f"| {name}{note} | {row['tests']} | {row['passed']} | {row['failed']} | {row['skipped']} | "
                    f"{jax_cols} |")
    rows.append(f"| **total** | {tot['tests']} | {tot['passed']} | {tot['failed']} | {tot['skipped']} | "
                f"{tot['absent']} | {tot['jax_tests']} | {tot['jax_passed']} | "
                f"**{_pct(tot['both'], tot['jax_passed'])}** |")
    ratio = tot["both"] / tot["jax_passed"] if tot["jax_passed"] else 0.0
    summary = (f"portax passes {100 * ratio:.1f}% of what JAX passes ({tot['both']} of the {tot['jax_passed']} "
               f"tests JAX passes on this machine; {tot['passed']} passed in all).")
    lines = [header, "", *rows, "", summary, "",
             "`absent`: tests JAX's run has that portax's run did not generate (parameterised over a name portax "
             "lacks). `passed / JAX passed`: tests passing on both over tests JAX passes.", "",
             "Failures by exception type: " + ", ".join(f"{k} {n}" for k, n in kinds(results)) + ".", "",
             f"## Failure causes (top {top}; exception and normalised first line of its message)", "",
             "| count | cause | files | example |", "|---:|---|---|---|"]
    for key, n, files, example in causes(results, baseline)[:top]:
        key = key.replace("|", "\\|").replace("`", "'")
        lines.append(f"| {n} | `{key}` | {', '.join(files)} | {example} |")
    return "\n".join(lines) + "\n", ratio
