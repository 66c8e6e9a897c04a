"""Horizontal bar charts as inline SVG, for the HTML reports: `bars(rows, title=...)` returns one
`<svg>` element as a string, label on the left, bar in the middle, value text on the right; per bar an
optional 95% interval (whiskers), a second marker (a tick, e.g. the claimed value) and a limit (a dashed
line, e.g. a stage's time limit); a linear or a log scale, optional gridlines with labels.

Hand-written rather than drawn with matplotlib (or another plotting library): the reports need a few
bars per chart, a plotting dependency would outweigh all the charts together, and its SVG output brings
fonts, ids and styles of its own that a self-contained, escaped page would have to vet. This is small
enough to read whole: every text goes through `text()` (control characters replaced, XML-escaped), every
number is a finite coordinate, so each chart is well-formed XML and needs no namespace, script or asset.
"""

from __future__ import annotations

import html
import math
from collections.abc import Sequence
from dataclasses import dataclass

TONES = {"good": "#1b7f3b", "warn": "#b86e00", "bad": "#b3261e", "neutral": "#5f6b76"}
"""Bar colours by tone; an unknown tone is drawn as "neutral"."""

_ROW = 26  # px per bar
_BAR = 14  # bar height
_TOP = 6
_AXIS = 20  # room for tick labels
_LEGEND = 22
_FONT = 13
_CHAR = 7.0  # mean glyph width at _FONT px, to shorten labels that would not fit
_INK = "#1f2328"
_MUTED = "#5f6b76"
_TRACK = "#eef1f4"
_LIMIT = "#b3261e"


@dataclass(frozen=True)
class Bar:
    """One row of a chart. `value` None (or NaN) is drawn as missing; `text` replaces the value shown on
    the right (the default is the value with the chart's unit)."""

    label: str
    value: float | None
    tone: str = "neutral"  # "good", "warn", "bad" or "neutral"
    interval: tuple[float, float] | None = None  # whiskers from lo to hi
    marker: float | None = None  # a tick across the bar (the claimed value)
    limit: float | None = None  # a dashed line across the row (the stage's limit)
    text: str | None = None


def text(value: str) -> str:
    """`value` made safe as SVG/HTML text and attribute values: characters that are not printable
    (controls, bidi overrides, lone surrogates; XML forbids most of them even as references) become
    U+FFFD, then &, <, >, " and ' are escaped."""
    cleaned = "".join(c if c.isprintable() else "\ufffd" for c in value)
    return html.escape(cleaned, quote=True)


def number(value: float, unit: str = "") -> str:
    """A value as a chart shows it: three significant digits, thousands grouped, never an exponent."""
    shown = f"{value:,.0f}" if abs(value) >= 1000 else f"{value:.3g}"
    if "e" in shown:  # tiny magnitudes
        shown = f"{value:.6f}".rstrip("0").rstrip(".")
    return shown + (f" {unit}" if unit else "")


def bars(
    rows: Sequence[Bar],
    *,
    title: str,
    maximum: float | None = None,
    unit: str = "",
    width: int = 640,
    log: bool = False,
    ticks: Sequence[tuple[float, str]] = (),
    marker_label: str = "claimed",
    interval_label: str = "95% interval",
    limit_label: str = "limit",
) -> str:
    """A horizontal bar chart. The scale runs from 0 (from the smallest value's decade with `log`) to
    `maximum`, by default the largest of the values, intervals, markers and limits; values beyond it are
    cut at the edge, a scale without a positive finite maximum draws no bars. `ticks` are (value, label)
    gridlines under the bars."""
    width = max(width, 320)
    longest = max((len(row.label) for row in rows), default=0)
    label_width = round(min(max(longest * _CHAR + 16, width * 0.18), width * 0.4))
    value_width = round(width * 0.24)
    plot_x = label_width
    plot_width = width - label_width - value_width
    scale = _Scale(rows, maximum, log, plot_width)
    shown_ticks = scale.ticks(ticks)
    legend = _legend_items(rows, marker_label, interval_label, limit_label)
    height = _TOP + max(len(rows), 1) * _ROW + (_AXIS if shown_ticks else 0) + (_LEGEND if legend else 0) + 4
    parts = [
        f'<svg class="chart" role="img" aria-label="{text(title)}" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" font-family="system-ui, sans-serif" font-size="{_FONT}">',
        f"<title>{text(title)}</title>",
    ]
    plot_bottom = _TOP + max(len(rows), 1) * _ROW
    for at, label in shown_ticks:
        x = plot_x + at
        parts.append(
            f'<line x1="{_c(x)}" y1="{_TOP}" x2="{_c(x)}" y2="{plot_bottom}" stroke="#d0d7de" stroke-width="1"/>'
        )
        parts.append(
            f'<text x="{_c(x)}" y="{plot_bottom + 14}" text-anchor="middle" fill="{_MUTED}" font-size="11">'
            f"{text(label)}</text>"
        )
    if not rows:
        parts.append(f'<text x="{_c(plot_x)}" y="{_TOP + 17}" fill="{_MUTED}" font-style="italic">no data</text>')
    for index, row in enumerate(rows):
        parts.append(_row(row, index, scale, plot_x, plot_width, label_width, unit))
    if legend:
        parts.append(_legend(legend, plot_x, plot_bottom + (_AXIS if shown_ticks else 0) + 16))
    parts.append("</svg>")
    return "\n".join(parts)


class _Scale:
    """Values to x offsets within the plot (0..plot_width)."""

    def __init__(self, rows: Sequence[Bar], maximum: float | None, log: bool, plot_width: int) -> None:
        seen = [v for row in rows for v in _extent(row) if v is not None]
        top = _finite(maximum)
        if top is None:
            top = max(seen, default=0.0)
        self.log = log
        self.width = plot_width
        self.high = top
        positive = [v for v in seen if v > 0]
        self.low = 0.0
        if log and top > 0:
            smallest = min(positive, default=top)
            self.low = max(10 ** math.floor(math.log10(smallest)), top / 1e7)
            if self.low >= top:
                self.low = top / 10

    def x(self, value: float) -> float:
        if not self.high > 0:
            return 0.0
        if self.log:
            if value <= self.low:
                return 0.0
            share = (math.log10(value) - math.log10(self.low)) / (math.log10(self.high) - math.log10(self.low))
        else:
            share = value / self.high
        return min(max(share, 0.0), 1.0) * self.width

    def ticks(self, ticks: Sequence[tuple[float, str]]) -> list[tuple[float, str]]:
        """The gridlines inside the scale, dropping any closer than 36 px to the one before."""
        if not self.high > 0:
            return []
        shown: list[tuple[float, str]] = []
        for value, label in sorted(ticks, key=lambda tick: tick[0]):
            good = _finite(value)
            if good is None or good < self.low or good > self.high or (self.log and good <= 0):
                continue
            at = self.x(good)
            if shown and at - shown[-1][0] < 36:
                continue
            shown.append((at, label))
        return shown


def _row(row: Bar, index: int, scale: _Scale, plot_x: int, plot_width: int, label_width: int, unit: str) -> str:
    top = _TOP + index * _ROW
    bar_y = top + (_ROW - _BAR) / 2
    middle = top + _ROW / 2
    value = _finite(row.value)
    colour = TONES.get(row.tone, TONES["neutral"])
    shown = row.text if row.text is not None else ("missing" if value is None else number(value, unit))
    label = _shorten(row.label, int((label_width - 12) / _CHAR))
    parts = [
        f'<g class="row tone-{text(row.tone if row.tone in TONES else "neutral")}">',
        f"<title>{text(row.label)}: {text(shown)}</title>",
        f'<text x="{label_width - 8}" y="{_c(middle + 4.5)}" text-anchor="end" fill="{_INK}">{text(label)}</text>',
        f'<rect class="track" x="{plot_x}" y="{_c(bar_y)}" width="{plot_width}" height="{_BAR}" fill="{_TRACK}"/>',
    ]
    if value is not None:
        parts.append(
            f'<rect class="bar" x="{plot_x}" y="{_c(bar_y)}" width="{_c(scale.x(value))}" height="{_BAR}" '
            f'fill="{colour}"/>'
        )
    interval = _pair(row.interval)
    if interval is not None:
        lo, hi = (plot_x + scale.x(v) for v in interval)
        parts.append(
            f'<path class="interval" d="M{_c(lo)} {_c(middle)}H{_c(hi)}M{_c(lo)} {_c(middle - 5)}V{_c(middle + 5)}'
            f'M{_c(hi)} {_c(middle - 5)}V{_c(middle + 5)}" stroke="{_INK}" stroke-width="1.5" fill="none"/>'
        )
    marker = _finite(row.marker)
    if marker is not None:
        x = plot_x + scale.x(marker)
        parts.append(
            f'<line class="marker" x1="{_c(x)}" y1="{_c(bar_y - 4)}" x2="{_c(x)}" y2="{_c(bar_y + _BAR + 4)}" '
            f'stroke="{_INK}" stroke-width="3"/>'
        )
    limit = _finite(row.limit)
    if limit is not None:
        x = plot_x + scale.x(limit)
        parts.append(
            f'<line class="limit" x1="{_c(x)}" y1="{top + 1}" x2="{_c(x)}" y2="{top + _ROW - 1}" stroke="{_LIMIT}" '
            f'stroke-width="2" stroke-dasharray="4 3"/>'
        )
    style = f'fill="{_MUTED}" font-style="italic"' if value is None else f'fill="{_INK}"'
    parts.append(
        f'<text class="value" x="{plot_x + plot_width + 8}" y="{_c(middle + 4.5)}" {style}>{text(shown)}</text>'
    )
    parts.append("</g>")
    return "\n".join(parts)


def _legend_items(rows: Sequence[Bar], marker: str, interval: str, limit: str) -> list[tuple[str, str]]:
    items = []
    if any(_finite(row.marker) is not None for row in rows):
        items.append(("marker", marker))
    if any(_pair(row.interval) is not None for row in rows):
        items.append(("interval", interval))
    if any(_finite(row.limit) is not None for row in rows):
        items.append(("limit", limit))
    return items


def _legend(items: list[tuple[str, str]], x: float, y: float) -> str:
    parts = ['<g class="legend" font-size="12">']
    for kind, label in items:
        if kind == "marker":
            parts.append(
                f'<line x1="{_c(x + 6)}" y1="{_c(y - 10)}" x2="{_c(x + 6)}" y2="{_c(y + 2)}" stroke="{_INK}" stroke-width="3"/>'
            )
        elif kind == "interval":
            parts.append(
                f'<path d="M{_c(x)} {_c(y - 4)}H{_c(x + 14)}M{_c(x)} {_c(y - 9)}V{_c(y + 1)}M{_c(x + 14)} {_c(y - 9)}'
                f'V{_c(y + 1)}" stroke="{_INK}" stroke-width="1.5" fill="none"/>'
            )
        else:
            parts.append(
                f'<line x1="{_c(x + 6)}" y1="{_c(y - 10)}" x2="{_c(x + 6)}" y2="{_c(y + 2)}" stroke="{_LIMIT}" '
                f'stroke-width="2" stroke-dasharray="4 3"/>'
            )
        parts.append(f'<text x="{_c(x + 20)}" y="{_c(y)}" fill="{_MUTED}">{text(label)}</text>')
        x += 28 + len(label) * 6.5 + 12
    parts.append("</g>")
    return "\n".join(parts)


def _extent(row: Bar) -> list[float | None]:
    return [_finite(row.value), _finite(row.marker), _finite(row.limit), *(_pair(row.interval) or ())]


def _finite(value: object) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        return None
    return float(value)


def _pair(value: object) -> tuple[float, float] | None:
    if not isinstance(value, tuple | list) or len(value) != 2:
        return None
    lo, hi = _finite(value[0]), _finite(value[1])
    if lo is None or hi is None:
        return None
    return (min(lo, hi), max(lo, hi))


def _shorten(label: str, room: int) -> str:
    room = max(room, 4)
    return label if len(label) <= room else label[: room - 1] + "…"


def _c(value: float) -> str:
    """A coordinate: at most two decimals, no exponent, no "-0"."""
    shown = f"{value:.2f}".rstrip("0").rstrip(".")
    return "0" if shown in ("-0", "") else shown
