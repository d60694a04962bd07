"""Server-rendered SVG charts that read well on a phone.

The functions return geometry only; templates/reports/_charts.html draws it with presentation
attributes and CSS classes (the Content-Security-Policy forbids inline styles).
"""

from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass(frozen=True)
class Bar:
    label: str
    value: float
    x: float
    y: float
    width: float
    height: float


def _nice_max(value: float) -> float:
    """A round axis maximum at or above `value` (1, 2, 2.5, 5 × 10^n)."""
    if value <= 0:
        return 1
    exp = 10 ** math.floor(math.log10(value))
    for step in (1, 2, 2.5, 5, 10):
        if value <= step * exp:
            return step * exp
    return 10 * exp


def column_chart(points: list[tuple[str, float]], width: int = 360, height: int = 180) -> dict:
    """Vertical columns (hours per month): a fixed viewBox that scales to the screen's width."""
    left, bottom, top = 36, 22, 14
    plot_w, plot_h = width - left - 4, height - bottom - top
    top_value = _nice_max(max((v for _l, v in points), default=0))
    n = max(1, len(points))
    slot = plot_w / n
    bars = []
    for i, (label, value) in enumerate(points):
        h = plot_h * value / top_value if top_value else 0
        bars.append(Bar(label, value, left + i * slot + slot * 0.15, top + plot_h - h, slot * 0.7, h))
    ticks = [(top_value * k / 4, top + plot_h - plot_h * k / 4) for k in range(5)]
    every = max(1, math.ceil(n / 12))  # at most 12 labels under the columns
    return {
        "width": width,
        "height": height,
        "bars": bars,
        "ticks": ticks,
        "left": left,
        "baseline": top + plot_h,
        "label_every": every,
        "empty": not any(v for _l, v in points),
    }


def bar_chart(points: list[tuple[str, float]], width: int = 360, row: int = 30) -> dict:
    """Horizontal bars with the label above each bar (people served by category)."""
    top_value = max((v for _l, v in points), default=0) or 1
    label_h, bar_h = 14, 10
    bars = []
    for i, (label, value) in enumerate(points):
        y = i * row
        bars.append(Bar(label, value, 0, y + label_h + 2, (width - 60) * value / top_value, bar_h))
    return {
        "width": width,
        "height": max(row, len(points) * row),
        "bars": bars,
        "value_x": width - 56,
        "empty": not any(v for _l, v in points),
    }
