"""A trace's timeline as an SVG picture: ``python -m portax.profiler LOG_DIR --svg OUT.svg [--window NAME]``.

One lane per trace-event thread (host threads, device kernel timelines), one box per complete ("X") event
placed by its start and duration, events nested in time stacked one row down, labels cut to their box, a time
axis in ms and a colour per event category. Pure string generation: no plotting dependency.
"""
from __future__ import annotations

import math
from typing import Sequence
from xml.sax.saxutils import escape

# trace category -> (legend name, fill, stroke)
CATEGORIES = {
    "trace": ("tracing", "#c5b0d5", "#9467bd"),
    "compile": ("compile", "#ff9896", "#d62728"),
    "transfer": ("transfer", "#98df8a", "#2ca02c"),
    "execute": ("program", "#aec7e8", "#1f77b4"),
    "kernel": ("kernel", "#ffbb78", "#ff7f0e"),
    "annotation": ("annotation", "#dbdbdb", "#7f7f7f"),
}
_OTHER = ("other", "#f7b6d2", "#e377c2")
_ROW, _LANE_GAP, _LEFT, _RIGHT, _TOP = 18, 10, 230, 20, 50  # px
_FONT, _CHAR = 11, 6.6  # monospace font size and advance (0.6 em), px


def window_span(events: Sequence[dict], name: str, last: int = 1) -> tuple[float, float]:
    """``(start, end)`` (us) of the last ``last`` annotations named ``name`` (e.g. the last training steps)."""
    found = sorted((e for e in events if e.get("ph") == "X" and e.get("cat") == "annotation"
                    and e["name"] == name), key=lambda e: e["ts"])
    if not found:
        names = sorted({e["name"] for e in events if e.get("ph") == "X" and e.get("cat") == "annotation"})
        raise ValueError(f"no annotation named {name!r} in the trace; its annotations: {names or 'none'}")
    if not 1 <= last <= len(found):
        raise ValueError(f"last={last}, but the trace has {len(found)} annotation(s) named {name!r}")
    return found[-last]["ts"], max(e["ts"] + e["dur"] for e in found[-last:])


def _lanes(events: Sequence[dict], start: float, end: float) -> dict[tuple, list[tuple[int, dict]]]:
    """``(pid, tid) -> [(row, event)]`` for the X events overlapping [start, end], each put in the first row
    free at its start (so an event inside another lands one row below it)."""
    lanes: dict[tuple, list[tuple[int, dict]]] = {}
    rows: dict[tuple, list[float]] = {}  # per lane: the end time of each row's last event
    inside = [e for e in events if e.get("ph") == "X" and (min(e["ts"] + e["dur"], end) > max(e["ts"], start)
                                                           or e["dur"] == 0 and start <= e["ts"] <= end)]
    for e in sorted(inside, key=lambda e: (e["ts"], -e["dur"])):
        key = (e["pid"], e["tid"])
        ends = rows.setdefault(key, [])
        row = next((r for r, t in enumerate(ends) if t <= e["ts"] + 1e-3), len(ends))  # 1e-3 us: rounding
        ends[row:row + 1] = [e["ts"] + e["dur"]]
        lanes.setdefault(key, []).append((row, e))
    return dict(sorted(lanes.items()))


def _lane_names(events: Sequence[dict]) -> dict[tuple, str]:
    threads = {(e["pid"], e["tid"]): e["args"]["name"] for e in events
               if e.get("ph") == "M" and e["name"] == "thread_name"}
    return {(p, t): threads.get((p, t), f"thread {t}")
            for p, t in {(e.get("pid"), e.get("tid")) for e in events if e.get("ph") == "X"}}


def _tick_step(span_ms: float, target: int = 10) -> float:
    """A round (1, 2 or 5 times a power of ten) tick spacing giving about ``target`` ticks over ``span_ms``."""
    raw = span_ms / target
    power = 10 ** math.floor(math.log10(raw))
    return next(m * power for m in (1, 2, 5, 10) if m * power >= raw)


def _clip(label: str, width_px: float) -> str:
    """``label`` cut to fit ``width_px`` (with an ellipsis), or '' where not even two characters fit."""
    fit = int((width_px - 4) / _CHAR)
    if fit >= len(label):
        return label
    return label[:fit - 1] + "\u2026" if fit >= 2 else ""


def render_svg(events: Sequence[dict], window: tuple[float, float] | None = None, width: int = 1400,
               title: str = "") -> str:
    """The timeline of ``events`` (Chrome trace events) within ``window`` (us; default: all) as SVG text."""
    xs = [e for e in events if e.get("ph") == "X"]
    if not xs:
        raise ValueError("the trace has no complete ('X') events to draw")
    if width < _LEFT + _RIGHT + 100:
        raise ValueError(f"width={width} px is too narrow for a timeline (at least {_LEFT + _RIGHT + 100})")
    start, end = window or (min(e["ts"] for e in xs), max(e["ts"] + e["dur"] for e in xs))
    span = max(end - start, 1e-3)  # us
    scale = (width - _LEFT - _RIGHT) / span  # px per us
    names = _lane_names(events)
    body, y = [], _TOP
    for key, placed in _lanes(xs, start, end).items():
        nrows = 1 + max(row for row, _ in placed)
        body.append(f'<rect x="0" y="{y - 3}" width="{width}" height="{nrows * _ROW + 6}" fill="#f5f5f5"/>')
        body.append(f'<text x="6" y="{y + 13}" font-weight="bold">{escape(_clip(names[key], _LEFT - 6))}</text>')
        for row, e in placed:
            x0 = _LEFT + (max(e["ts"], start) - start) * scale
            w = max((min(e["ts"] + e["dur"], end) - max(e["ts"], start)) * scale, 0.5)  # a thin line at least
            _, fill, stroke = CATEGORIES.get(e.get("cat"), _OTHER)
            ry = y + row * _ROW
            tip = f'{e["name"]} ({e.get("cat")}, {e["dur"] / 1e3:.3f} ms)'
            body.append(f'<rect class="ev" x="{x0:.2f}" y="{ry}" width="{w:.2f}" height="{_ROW - 2}" fill="{fill}" '
                        f'stroke="{stroke}" stroke-width="0.5"><title>{escape(tip)}</title></rect>')
            label = _clip(e["name"], w)
            if label:
                body.append(f'<text x="{x0 + 2:.2f}" y="{ry + 12}">{escape(label)}</text>')
        y += nrows * _ROW + _LANE_GAP
    height = y + 40
    step = _tick_step(span / 1e3)
    axis = [f'<line x1="{_LEFT}" y1="{_TOP - 8}" x2="{width - _RIGHT}" y2="{_TOP - 8}" stroke="#444"/>']
    for k in range(int(span / 1e3 / step) + 1):
        x = _LEFT + k * step * 1e3 * scale
        axis.append(f'<line x1="{x:.2f}" y1="{_TOP - 12}" x2="{x:.2f}" y2="{y - _LANE_GAP}" stroke="#ccc" '
                    f'stroke-dasharray="2,3"/>')
        axis.append(f'<text x="{x:.2f}" y="{_TOP - 16}" text-anchor="middle">{k * step:g}</text>')
    axis.append(f'<text x="6" y="{_TOP - 16}">time (ms)</text>')
    legend, lx = [], _LEFT
    others = [_OTHER] if any(e.get("cat") not in CATEGORIES for e in xs) else []
    for label, fill, stroke in list(CATEGORIES.values()) + others:
        legend.append(f'<rect x="{lx}" y="{y + 6}" width="14" height="12" fill="{fill}" stroke="{stroke}"/>'
                      f'<text x="{lx + 18}" y="{y + 16}">{label}</text>')
        lx += 24 + len(label) * _CHAR
    head = f'<text x="6" y="14" font-weight="bold">{escape(title)}</text>' if title else ""
    return (f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
            f'viewBox="0 0 {width} {height}" font-family="monospace" font-size="{_FONT}">\n'
            f'<rect width="{width}" height="{height}" fill="white"/>\n{head}\n'
            + "\n".join(axis + body + legend) + "\n</svg>\n")
