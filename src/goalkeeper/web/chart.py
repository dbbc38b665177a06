"""The dashboard's time-series chart, drawn on the server as SVG (no script, no download).

Bars are fulfillments per day (left axis), the line is value per day (right axis).
Colours come from presentation attributes, so a strict Content-Security-Policy that
forbids inline styles still lets the chart render.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import math
from collections.abc import Sequence
from xml.sax.saxutils import escape, quoteattr

WIDTH, HEIGHT = 720, 260
LEFT, RIGHT, TOP, BOTTOM = 48, 64, 16, 36
BAR = "#3b6fd8"
LINE = "#d8843b"
GRID = "#d9dde3"
TEXT = "#4a5260"


@dataclasses.dataclass(frozen=True)
class Point:
    day: dt.date
    fulfillments: int
    value: int


def _nice_max(value: int) -> int:
    """A round axis maximum at or above ``value`` (1, 2 or 5 times a power of ten)."""
    if value <= 5:
        return 5  # five grid steps of whole numbers
    power: int = 10 ** math.floor(math.log10(value))
    for step in (1, 2, 5, 10):
        if value <= step * power:
            return step * power
    return 10 * power


def _short(number: int) -> str:
    for size, suffix in ((1_000_000_000, "G"), (1_000_000, "M"), (1_000, "k")):
        if abs(number) >= size:
            text = f"{number / size:.1f}".rstrip("0").rstrip(".")
            return f"{text}{suffix}"
    return str(number)


def series_svg(points: Sequence[Point], title: str) -> str:
    """One SVG document (inline in the page): bars of fulfillments, a line of value."""
    inner_w = WIDTH - LEFT - RIGHT
    inner_h = HEIGHT - TOP - BOTTOM
    count_max = _nice_max(max((p.fulfillments for p in points), default=0))
    value_max = _nice_max(max((p.value for p in points), default=0))
    slot = inner_w / max(len(points), 1)
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {HEIGHT}"'
        f' role="img" aria-label={quoteattr(title)} class="chart">',
        f"<title>{escape(title)}</title>",
    ]
    for i in range(6):
        y = TOP + inner_h * i / 5
        parts.append(
            f'<line x1="{LEFT}" y1="{y:.1f}" x2="{WIDTH - RIGHT}" y2="{y:.1f}" stroke="{GRID}"/>'
        )
        left_label = _short(round(count_max * (5 - i) / 5))
        right_label = _short(round(value_max * (5 - i) / 5))
        parts.append(
            f'<text x="{LEFT - 6}" y="{y + 4:.1f}" text-anchor="end" font-size="11"'
            f' fill="{BAR}">{left_label}</text>'
            f'<text x="{WIDTH - RIGHT + 6}" y="{y + 4:.1f}" font-size="11"'
            f' fill="{LINE}">{right_label}</text>'
        )
    line: list[str] = []
    label_every = max(1, math.ceil(len(points) / 8))
    for i, p in enumerate(points):
        x = LEFT + slot * i
        h = inner_h * p.fulfillments / count_max
        tip = f"{p.day.isoformat()}: {p.fulfillments} fulfillments, value {p.value}"
        parts.append(
            f'<rect x="{x + slot * 0.15:.1f}" y="{TOP + inner_h - h:.1f}"'
            f' width="{max(slot * 0.7, 1):.1f}" height="{h:.1f}" fill="{BAR}"'
            f' data-day="{p.day.isoformat()}" data-fulfillments="{p.fulfillments}"'
            f' data-value="{p.value}"><title>{escape(tip)}</title></rect>'
        )
        vy = TOP + inner_h - inner_h * max(p.value, 0) / value_max
        line.append(f"{x + slot / 2:.1f},{vy:.1f}")
        if i % label_every == 0:
            parts.append(
                f'<text x="{x + slot / 2:.1f}" y="{HEIGHT - BOTTOM + 16}" text-anchor="middle"'
                f' font-size="11" fill="{TEXT}">{p.day.strftime("%b %d")}</text>'
            )
    if len(line) > 1:
        parts.append(
            f'<polyline points="{" ".join(line)}" fill="none" stroke="{LINE}" stroke-width="2"/>'
        )
    elif line:
        cx, cy = line[0].split(",")
        parts.append(f'<circle cx="{cx}" cy="{cy}" r="3" fill="{LINE}"/>')
    parts.append(
        f'<text x="{LEFT}" y="{HEIGHT - 4}" font-size="11" fill="{BAR}">■ fulfillments</text>'
        f'<text x="{LEFT + 110}" y="{HEIGHT - 4}" font-size="11" fill="{LINE}">— value</text>'
    )
    parts.append("</svg>")
    return "".join(parts)
