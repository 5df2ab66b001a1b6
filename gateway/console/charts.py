"""Server-side SVG charts for the operator console: pure functions from numbers to markup.

The console must work offline, so a chart is a plain inline ``<svg>`` with no script; the
page's stylesheet colours it through the CSS classes named here (``series-requests``, ``bar``,
``grid``, ``axis``, ``ticks``, ``legend``, …).  Every piece of text that comes from an argument
is XML-escaped, and coordinates are rounded to one decimal, so the output is compact and the same
input always gives the same markup.  Hovering a point or a bar shows its ``<title>``.
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass

from markupsafe import Markup, escape

SVG_NAMESPACE = "http://www.w3.org/2000/svg"
MARKER_LIMIT = 31  # more points than this: no circles, hover bands instead
TICK_LIMIT = 8  # at most this many x tick labels

_FONT_SIZE = 11  # px of tick and legend text (console.css); used to estimate text widths
_TICK_PADDING = 12  # px kept free between neighbouring x tick labels
_TITLE_BASELINE = 18
_PLOT_TOP = 30
_AXIS_LABEL_SPACE = 14
_X_TICK_SPACE = 22
_LEGEND_ROW = 18
_RIGHT_MARGIN = 16
_EDGE = 4  # px kept free at the sides of the svg
_SWATCH = 10
_CSS_CLASS = re.compile(r"-?[A-Za-z_][A-Za-z0-9_-]*\Z")
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")

Number = int | float


@dataclass(frozen=True, slots=True)
class Series:
    """One line of a line chart; ``css_class`` (e.g. ``series-requests``) gives its colour."""

    name: str
    values: Sequence[Number]
    css_class: str


@dataclass(frozen=True, slots=True)
class YAxis:
    """A y scale from 0 to ``top`` in ``intervals`` (4 or 5) steps of 1, 2 or 5 × 10^k."""

    step: float
    intervals: int
    decimals: int

    @property
    def top(self) -> float:
        return self.step * self.intervals

    def ticks(self) -> list[float]:
        return [self.step * index for index in range(self.intervals + 1)]

    def label(self, value: float) -> str:
        return f"{value:,.{self.decimals}f}"


@dataclass(frozen=True, slots=True)
class _Frame:
    """The plot area inside the svg, in svg coordinates (y grows downwards)."""

    left: float
    top: float
    right: float
    bottom: float

    @property
    def width(self) -> float:
        return self.right - self.left

    @property
    def height(self) -> float:
        return self.bottom - self.top

    def y(self, value: float, axis: YAxis) -> float:
        return self.bottom - value / axis.top * self.height


def y_axis(maximum: float, *, integral: bool = True) -> YAxis:
    """The smallest nice scale reaching ``maximum``; whole steps only when ``integral``."""
    if not math.isfinite(maximum) or maximum < 0:
        raise ValueError(f"a chart's maximum must be a finite number ≥ 0, got {maximum!r}")
    exponent = math.floor(math.log10(maximum) - math.log10(5)) - 1 if maximum > 0 else 0
    exponent = max(exponent, -300)  # below that a step would round to zero
    if integral:
        exponent = max(exponent, 0)
    while True:
        for mantissa in (1, 2, 5):
            step = mantissa * 10.0**exponent if exponent >= 0 else mantissa / 10**-exponent
            intervals = max(4, math.ceil(maximum / step))
            if intervals <= 5 and step * intervals >= maximum:
                return YAxis(step=step, intervals=intervals, decimals=max(0, -exponent))
        exponent += 1


def tick_indices(count: int, *, limit: int = TICK_LIMIT, min_gap: int = 1) -> list[int]:
    """Which of ``count`` x labels to print: evenly stepped, always the first and the last.

    At most ``limit`` of them, and no two closer than ``min_gap`` positions.
    """
    if count <= 1:
        return list(range(count))
    step = max(1, min_gap, math.ceil((count - 1) / (max(limit, 2) - 1)))
    picked = list(range(0, count - 1, step))
    if len(picked) > 1 and count - 1 - picked[-1] < min_gap:
        picked.pop()
    return [*picked, count - 1]


def line_chart(
    labels: Sequence[str],
    series: Sequence[Series],
    *,
    title: str,
    width: int = 720,
    height: int = 240,
    y_label: str = "",
) -> Markup:
    """An inline svg with one polyline per series over ``labels`` (e.g. days), and a legend."""
    for one in series:
        _check_values(one.values, len(labels), one.name)
        _check_css_class(one.css_class)
    values = [value for one in series for value in one.values]
    axis = y_axis(max(values, default=0), integral=all(map(_is_integral, values)))
    left = _left_margin(axis)
    legend, rows = _legend_layout(series, left=left, right=width - _RIGHT_MARGIN)
    bottom_space = _X_TICK_SPACE + (rows * _LEGEND_ROW + 4 if rows else 0)
    frame = _frame(width, height, left=left, y_label=y_label, bottom_space=bottom_space)
    count = len(labels)
    xs, unit = _line_xs(frame, count)
    parts = [
        *_opening(width, height, title, "line-chart"),
        *_y_axis_parts(frame, axis, y_label),
        *_x_tick_parts(labels, xs, unit, frame, width),
    ]
    for one in series:
        parts.extend(_series_parts(one, labels, xs, frame, axis))
    if count > MARKER_LIMIT and series:
        parts.extend(_hover_bands(labels, series, xs, unit, frame))
    parts.extend(_legend_parts(legend, frame.bottom + _X_TICK_SPACE))
    parts.append("</svg>")
    return Markup("\n".join(parts))


def bar_chart(
    labels: Sequence[str],
    values: Sequence[Number],
    *,
    title: str,
    width: int = 720,
    height: int = 240,
    css_class: str = "bar",
) -> Markup:
    """An inline svg with one vertical bar per label; hovering a bar shows its value."""
    _check_values(values, len(labels), title)
    _check_css_class(css_class)
    axis = y_axis(max(values, default=0), integral=all(map(_is_integral, values)))
    frame = _frame(width, height, left=_left_margin(axis), y_label="", bottom_space=_X_TICK_SPACE)
    band = frame.width / len(labels) if labels else frame.width
    centres = [frame.left + (index + 0.5) * band for index in range(len(labels))]
    bar_width = band * 0.8 if band >= 4 else band
    parts = [
        *_opening(width, height, title, "bar-chart"),
        *_y_axis_parts(frame, axis, ""),
        *_x_tick_parts(labels, centres, band, frame, width),
        '<g class="bars">',
    ]
    for label, centre, value in zip(labels, centres, values, strict=True):
        top = frame.y(value, axis)
        tip = _text(f"{label}: {_format_value(value)}")
        parts.append(
            f'<rect class="{css_class}" x="{_coord(centre - bar_width / 2)}" y="{_coord(top)}"'
            f' width="{_coord(bar_width)}" height="{_coord(frame.bottom - top)}">'
            f"<title>{tip}</title></rect>"
        )
    parts.extend(["</g>", "</svg>"])
    return Markup("\n".join(parts))


def _series_parts(
    one: Series, labels: Sequence[str], xs: Sequence[float], frame: _Frame, axis: YAxis
) -> list[str]:
    """The polyline of one series and, when there are few points, a circle on each."""
    points = [(x, frame.y(value, axis)) for x, value in zip(xs, one.values, strict=True)]
    if not points:
        return []
    coordinates = " ".join(f"{_coord(x)},{_coord(y)}" for x, y in points)
    parts = [f'<polyline class="{one.css_class}" fill="none" points="{coordinates}"/>']
    if len(points) <= MARKER_LIMIT:
        parts.append(f'<g class="points {one.css_class}">')
        for label, (x, y), value in zip(labels, points, one.values, strict=True):
            tip = _text(f"{label}: {one.name} {_format_value(value)}")
            parts.append(
                f'<circle cx="{_coord(x)}" cy="{_coord(y)}" r="3"><title>{tip}</title></circle>'
            )
        parts.append("</g>")
    return parts


def _line_xs(frame: _Frame, count: int) -> tuple[list[float], float]:
    """x of each point, spread edge to edge (a single point in the middle), and their spacing."""
    if count == 1:
        return [frame.left + frame.width / 2], frame.width
    unit = frame.width / (count - 1) if count else frame.width
    return [frame.left + index * unit for index in range(count)], unit


def _check_values(values: Sequence[Number], count: int, name: str) -> None:
    if len(values) != count:
        raise ValueError(
            f"{name!r} has {len(values)} values for {count} labels; give one value per label"
        )
    for value in values:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ValueError(f"{name!r} holds {value!r}; chart values must be numbers")
        if not math.isfinite(value) or value < 0:
            raise ValueError(f"{name!r} holds {value!r}; chart values must be finite and ≥ 0")


def _check_css_class(css_class: str) -> None:
    if not _CSS_CLASS.match(css_class):
        raise ValueError(f"{css_class!r} is not a CSS class name such as 'series-requests'")


def _is_integral(value: Number) -> bool:
    return isinstance(value, int) or float(value).is_integer()


def _frame(width: int, height: int, *, left: float, y_label: str, bottom_space: float) -> _Frame:
    top = _PLOT_TOP + (_AXIS_LABEL_SPACE if y_label else 0)
    frame = _Frame(left=left, top=top, right=width - _RIGHT_MARGIN, bottom=height - bottom_space)
    if frame.width < 20 or frame.height < 20:
        raise ValueError(f"a {width}×{height} chart leaves no room to plot; make it larger")
    return frame


def _left_margin(axis: YAxis) -> float:
    return max(32.0, max(_text_width(axis.label(tick)) for tick in axis.ticks()) + 10)


def _opening(width: int, height: int, title: str, kind: str) -> list[str]:
    name = _text(title)
    return [
        f'<svg xmlns="{SVG_NAMESPACE}" class="chart {kind}" width="{width}" height="{height}"'
        f' viewBox="0 0 {width} {height}" role="img" aria-label="{name}">',
        f"<title>{name}</title>",
        f'<text class="chart-title" x="{_EDGE}" y="{_TITLE_BASELINE}">{name}</text>',
    ]


def _y_axis_parts(frame: _Frame, axis: YAxis, y_label: str) -> list[str]:
    parts = ['<g class="grid">']
    for tick in axis.ticks()[1:]:
        y = _coord(frame.y(tick, axis))
        parts.append(
            f'<line x1="{_coord(frame.left)}" y1="{y}" x2="{_coord(frame.right)}" y2="{y}"/>'
        )
    parts.append("</g>")
    parts.append('<g class="axis">')
    left, right, top, bottom = map(_coord, (frame.left, frame.right, frame.top, frame.bottom))
    parts.append(f'<line x1="{left}" y1="{bottom}" x2="{right}" y2="{bottom}"/>')
    parts.append(f'<line x1="{left}" y1="{top}" x2="{left}" y2="{bottom}"/>')
    parts.append("</g>")
    parts.append('<g class="ticks y-ticks" text-anchor="end">')
    for tick in axis.ticks():
        y = _coord(frame.y(tick, axis) + 4)
        parts.append(f'<text x="{_coord(frame.left - 6)}" y="{y}">{axis.label(tick)}</text>')
    parts.append("</g>")
    if y_label:
        parts.append(
            f'<text class="axis-label" x="{_EDGE}" y="{_coord(frame.top - 10)}">'
            f"{_text(y_label)}</text>"
        )
    return parts


def _x_tick_parts(
    labels: Sequence[str], xs: Sequence[float], unit: float, frame: _Frame, width: int
) -> list[str]:
    widest = max((_text_width(label) for label in labels), default=0.0)
    min_gap = math.ceil((widest + _TICK_PADDING) / unit)
    baseline = _coord(frame.bottom + _X_TICK_SPACE - 6)
    picked = tick_indices(len(labels), min_gap=min_gap)
    placed = [(index, _inside(xs[index], _text_width(labels[index]), width)) for index in picked]
    parts = ['<g class="ticks x-ticks" text-anchor="middle">']
    for index, x in _apart(placed, widest + _TICK_PADDING):
        parts.append(f'<text x="{_coord(x)}" y="{baseline}">{_text(labels[index])}</text>')
    parts.append("</g>")
    return parts


def _inside(x: float, text_width: float, width: int) -> float:
    """The centre of a label at ``x``, moved inwards so that all of it stays inside the svg."""
    half = text_width / 2
    return min(max(x, _EDGE + half), width - _EDGE - half)


def _apart(placed: Sequence[tuple[int, float]], gap: float) -> list[tuple[int, float]]:
    """The first and last labels, and those between that keep ``gap`` px from their neighbours."""
    if len(placed) <= 2:
        return list(placed)
    kept = [placed[0]]
    last_x = placed[-1][1]
    for index, x in placed[1:-1]:
        if x - kept[-1][1] >= gap and last_x - x >= gap:
            kept.append((index, x))
    return [*kept, placed[-1]]


def _hover_bands(
    labels: Sequence[str], series: Sequence[Series], xs: Sequence[float], unit: float, frame: _Frame
) -> list[str]:
    parts = ['<g class="hover">']
    for index, (label, x) in enumerate(zip(labels, xs, strict=True)):
        start = max(frame.left, x - unit / 2)
        end = min(frame.right, x + unit / 2)
        tip = "\n".join(
            _text(f"{label}: {one.name} {_format_value(one.values[index])}") for one in series
        )
        parts.append(
            f'<rect x="{_coord(start)}" y="{_coord(frame.top)}" width="{_coord(end - start)}"'
            f' height="{_coord(frame.height)}" fill="none" pointer-events="all">'
            f"<title>{tip}</title></rect>"
        )
    parts.append("</g>")
    return parts


def _legend_layout(
    series: Sequence[Series], *, left: float, right: float
) -> tuple[list[tuple[float, int, Series]], int]:
    """Where each legend entry goes: (x, row, series), wrapping rows; and the number of rows."""
    placed: list[tuple[float, int, Series]] = []
    x, row = left, 0
    for one in series:
        entry = _SWATCH + 4 + _text_width(one.name) + 16
        if x > left and x + entry > right:
            x, row = left, row + 1
        placed.append((x, row, one))
        x += entry
    return placed, (row + 1 if series else 0)


def _legend_parts(placed: Sequence[tuple[float, int, Series]], top: float) -> list[str]:
    if not placed:
        return []
    parts = ['<g class="legend">']
    for x, row, one in placed:
        y = top + row * _LEGEND_ROW
        parts.append(
            f'<rect class="swatch {one.css_class}" x="{_coord(x)}" y="{_coord(y)}"'
            f' width="{_SWATCH}" height="{_SWATCH}"/>'
        )
        parts.append(
            f'<text x="{_coord(x + _SWATCH + 4)}" y="{_coord(y + _SWATCH - 1)}">'
            f"{_text(one.name)}</text>"
        )
    parts.append("</g>")
    return parts


def _text(text: str) -> str:
    """Text from an argument, safe inside an element or a double-quoted attribute."""
    return str(escape(_NOT_XML.sub("\ufffd", text)))


def _text_width(text: str) -> float:
    """A rough width in px: CJK and other wide characters are square, the rest about 0.6 em."""
    return sum(
        _FONT_SIZE if unicodedata.east_asian_width(char) in "WF" else _FONT_SIZE * 0.6
        for char in text
    )


def _format_value(value: Number) -> str:
    if _is_integral(value):
        return f"{int(value):,}"
    return f"{value:,.2f}".rstrip("0").rstrip(".")


def _coord(value: float) -> str:
    """A coordinate rounded to one decimal, without a trailing ``.0``."""
    text = f"{value:.1f}".removesuffix(".0")
    return "0" if text == "-0" else text
