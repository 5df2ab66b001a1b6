"""SVG charts for the console: well-formed, scaled right, escaped, and sane at the edges."""

from __future__ import annotations

import itertools
import math
import re
import xml.etree.ElementTree as ET
from datetime import date, timedelta

import jinja2
import pytest
from hypothesis import given
from hypothesis import strategies as st
from markupsafe import Markup

from gateway.console.charts import (
    MARKER_LIMIT,
    SVG_NAMESPACE,
    Series,
    bar_chart,
    line_chart,
    tick_indices,
    y_axis,
)

NS = {"svg": SVG_NAMESPACE}
HOSTILE = "<script>alert('x') & \"y\"</script>"


def days(count: int) -> list[str]:
    return [(date(2026, 11, 1) + timedelta(days=offset)).isoformat() for offset in range(count)]


def parse(markup: Markup) -> ET.Element:
    return ET.fromstring(str(markup))


def find_all(root: ET.Element, path: str) -> list[ET.Element]:
    return root.findall(path, NS)


def points_of(polyline: ET.Element) -> list[tuple[float, float]]:
    pairs = (pair.split(",") for pair in polyline.attrib["points"].split())
    return [(float(x), float(y)) for x, y in pairs]


def x_tick_labels(root: ET.Element) -> list[str]:
    return [text.text or "" for text in find_all(root, ".//svg:g[@class='ticks x-ticks']/svg:text")]


def y_tick_labels(root: ET.Element) -> list[str]:
    return [text.text or "" for text in find_all(root, ".//svg:g[@class='ticks y-ticks']/svg:text")]


def baseline_and_top(root: ET.Element) -> tuple[float, float]:
    """The y of the x axis (value 0) and of the highest gridline (the axis maximum)."""
    axis = find_all(root, ".//svg:g[@class='axis']/svg:line")[0]
    grid = find_all(root, ".//svg:g[@class='grid']/svg:line")
    return float(axis.attrib["y1"]), min(float(line.attrib["y1"]) for line in grid)


def two_series(count: int) -> list[Series]:
    return [
        Series("requests", [index * 10 for index in range(count)], "series-requests"),
        Series("confirmations", [index for index in range(count)], "series-confirmations"),
    ]


# --- the y scale ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("maximum", "top"),
    [(0, 4), (1, 4), (4, 4), (5, 5), (6, 8), (10, 10), (11, 20), (100, 100), (101, 200),
     (201, 250), (999, 1000), (1_234_567, 2_000_000)],
)  # fmt: skip
def test_y_axis_reaches_a_nice_top(maximum: int, top: int) -> None:
    assert y_axis(maximum).top == top


@given(st.floats(min_value=0, max_value=1e12, allow_nan=False), st.booleans())
def test_y_axis_is_nice_and_covers_the_maximum(maximum: float, integral: bool) -> None:
    axis = y_axis(maximum, integral=integral)
    assert axis.top >= maximum
    assert axis.intervals in (4, 5)
    mantissa = axis.step / 10 ** math.floor(math.log10(axis.step) + 1e-9)
    assert any(math.isclose(mantissa, nice) for nice in (1, 2, 5))
    if integral:
        assert axis.step >= 1


def test_y_axis_allows_fractional_steps_for_fractional_data() -> None:
    axis = y_axis(0.3, integral=False)
    assert [axis.label(tick) for tick in axis.ticks()] == ["0.0", "0.1", "0.2", "0.3", "0.4"]


@pytest.mark.parametrize("maximum", [-1, math.nan, math.inf])
def test_y_axis_refuses_impossible_maxima(maximum: float) -> None:
    with pytest.raises(ValueError):
        y_axis(maximum)


def test_y_tick_labels_have_thousands_separators() -> None:
    root = parse(line_chart(["a", "b"], [Series("n", [0, 1_234_567], "series-active")], title="t"))
    assert y_tick_labels(root) == ["0", "500,000", "1,000,000", "1,500,000", "2,000,000"]


# --- x tick labels -------------------------------------------------------------------------


@pytest.mark.parametrize("count", [0, 1, 2, 7, 8, 9, 12, 30, 31, 89, 90, 91, 365])
def test_tick_indices_keep_first_and_last_and_stay_few(count: int) -> None:
    picked = tick_indices(count, min_gap=2)
    assert picked == sorted(set(picked))
    assert len(picked) <= 8
    if count:
        assert picked[0] == 0
        assert picked[-1] == count - 1
    if count > 2:
        assert all(later - earlier >= 2 for earlier, later in itertools.pairwise(picked))


def test_ninety_days_show_a_readable_subset_of_labels() -> None:
    labels = days(90)
    root = parse(line_chart(labels, two_series(90), title="Ninety days"))
    shown = x_tick_labels(root)
    assert 2 <= len(shown) <= 12
    assert shown[0] == labels[0]
    assert shown[-1] == labels[-1]
    xs = [float(text.attrib["x"]) for text in find_all(root, ".//svg:g[@class='ticks x-ticks']/*")]
    assert all(later - earlier >= 66 for earlier, later in itertools.pairwise(xs))


def test_few_days_show_every_label() -> None:
    labels = days(5)
    root = parse(line_chart(labels, two_series(5), title="Five days"))
    assert x_tick_labels(root) == labels


# --- line charts ---------------------------------------------------------------------------


def test_line_chart_is_an_accessible_svg() -> None:
    markup = line_chart(days(7), two_series(7), title="Daily traffic", y_label="messages")
    assert isinstance(markup, Markup)
    root = parse(markup)
    assert root.tag == f"{{{SVG_NAMESPACE}}}svg"
    assert root.attrib["role"] == "img"
    assert root.attrib["aria-label"] == "Daily traffic"
    assert root.find("svg:title", NS).text == "Daily traffic"  # type: ignore[union-attr]
    assert root.attrib["viewBox"] == "0 0 720 240"


def test_one_polyline_per_series_with_one_point_per_label() -> None:
    root = parse(line_chart(days(10), two_series(10), title="t"))
    polylines = find_all(root, ".//svg:polyline")
    assert [line.attrib["class"] for line in polylines] == [
        "series-requests",
        "series-confirmations",
    ]
    assert all(len(points_of(line)) == 10 for line in polylines)
    legend = [text.text for text in find_all(root, ".//svg:g[@class='legend']/svg:text")]
    assert legend == ["requests", "confirmations"]


def test_points_scale_between_the_axis_and_the_top_gridline() -> None:
    series = Series("n", [0, 50, 100, 25], "series-active")
    root = parse(line_chart(days(4), [series], title="t"))
    assert y_tick_labels(root)[-1] == "100"
    baseline, top = baseline_and_top(root)
    ys = [y for _, y in points_of(find_all(root, ".//svg:polyline")[0])]
    assert ys[0] == baseline
    assert ys[2] == top
    assert ys[1] == pytest.approx((baseline + top) / 2, abs=0.1)
    assert ys[3] == pytest.approx(baseline - (baseline - top) / 4, abs=0.1)


def test_points_spread_from_the_y_axis_to_the_right_edge() -> None:
    root = parse(line_chart(days(3), two_series(3), title="t"))
    y_axis_line = find_all(root, ".//svg:g[@class='axis']/svg:line")[1]
    xs = [x for x, _ in points_of(find_all(root, ".//svg:polyline")[0])]
    assert xs[0] == float(y_axis_line.attrib["x1"])
    assert xs[2] == 720 - 16
    assert xs[1] == pytest.approx((xs[0] + xs[2]) / 2, abs=0.1)


def test_circles_with_titles_only_for_few_points() -> None:
    few = parse(line_chart(days(MARKER_LIMIT), two_series(MARKER_LIMIT), title="t"))
    circles = find_all(few, ".//svg:circle")
    assert len(circles) == 2 * MARKER_LIMIT
    assert circles[1].find("svg:title", NS).text == "2026-11-02: requests 10"  # type: ignore[union-attr]
    many = parse(line_chart(days(MARKER_LIMIT + 1), two_series(MARKER_LIMIT + 1), title="t"))
    assert find_all(many, ".//svg:circle") == []


def test_many_points_hover_by_day() -> None:
    root = parse(line_chart(days(90), two_series(90), title="t"))
    bands = find_all(root, ".//svg:g[@class='hover']/svg:rect")
    assert len(bands) == 90
    assert bands[89].find("svg:title", NS).text == (  # type: ignore[union-attr]
        "2027-01-29: requests 890\n2027-01-29: confirmations 89"
    )


def test_values_in_titles_have_thousands_separators_and_trimmed_decimals() -> None:
    series = Series("n", [1_234_567, 2.5], "series-active")
    root = parse(line_chart(["a", "b"], [series], title="t"))
    titles = [title.text for title in find_all(root, ".//svg:circle/svg:title")]
    assert titles == ["a: n 1,234,567", "b: n 2.5"]


def test_no_labels_draws_empty_axes() -> None:
    root = parse(line_chart([], [Series("n", [], "series-active")], title="Nothing yet"))
    assert find_all(root, ".//svg:polyline") == []
    assert find_all(root, ".//svg:circle") == []
    assert x_tick_labels(root) == []
    assert len(find_all(root, ".//svg:g[@class='axis']/svg:line")) == 2
    assert y_tick_labels(root)[0] == "0"


def test_no_series_draws_empty_axes() -> None:
    root = parse(line_chart(days(3), [], title="t"))
    assert find_all(root, ".//svg:polyline") == []
    assert find_all(root, ".//svg:g[@class='legend']") == []
    assert x_tick_labels(root) == days(3)


def test_all_zeros_lie_on_the_axis() -> None:
    root = parse(line_chart(days(5), [Series("n", [0] * 5, "series-active")], title="t"))
    baseline, _ = baseline_and_top(root)
    assert {y for _, y in points_of(find_all(root, ".//svg:polyline")[0])} == {baseline}
    assert y_tick_labels(root) == ["0", "1", "2", "3", "4"]


def test_single_point_sits_in_the_middle() -> None:
    root = parse(line_chart(["2026-11-01"], [Series("n", [7], "series-active")], title="t"))
    (x, y), *_ = points_of(find_all(root, ".//svg:polyline")[0])
    circle = find_all(root, ".//svg:circle")[0]
    assert (float(circle.attrib["cx"]), float(circle.attrib["cy"])) == (x, y)
    y_axis_line = find_all(root, ".//svg:g[@class='axis']/svg:line")[1]
    assert x == pytest.approx((float(y_axis_line.attrib["x1"]) + 720 - 16) / 2, abs=0.1)
    assert x_tick_labels(root) == ["2026-11-01"]


@pytest.mark.parametrize("values", [[1, -1, 2], [1, math.nan, 2], [1, math.inf, 2], [1, "2", 3]])
def test_line_chart_refuses_values_that_are_not_counts(values: list[object]) -> None:
    with pytest.raises(ValueError):
        line_chart(days(3), [Series("n", values, "series-active")], title="t")  # type: ignore[arg-type]


@pytest.mark.parametrize("count", [2, 4])
def test_line_chart_refuses_series_not_matching_the_labels(count: int) -> None:
    with pytest.raises(ValueError, match="3 labels"):
        line_chart(days(3), [Series("n", [1] * count, "series-active")], title="t")


@pytest.mark.parametrize("css_class", ["", "a b", 'x" onload="y', "1st"])
def test_line_chart_refuses_odd_css_classes(css_class: str) -> None:
    with pytest.raises(ValueError):
        line_chart(days(1), [Series("n", [1], css_class)], title="t")


def test_line_chart_refuses_a_size_with_no_room_to_plot() -> None:
    with pytest.raises(ValueError):
        line_chart(days(3), two_series(3), title="t", width=40, height=40)


# --- escaping and output form --------------------------------------------------------------


def test_text_from_arguments_is_escaped() -> None:
    markup = line_chart(
        [HOSTILE, "b"], [Series(HOSTILE, [1, 2], "series-active")], title=HOSTILE, y_label=HOSTILE
    )
    assert "<script" not in markup
    root = parse(markup)
    assert root.attrib["aria-label"] == HOSTILE
    texts = [element.text for element in root.iter() if element.text]
    assert texts.count(HOSTILE) >= 4  # title, chart title, axis label, legend
    assert x_tick_labels(root)[0] == HOSTILE
    tip = find_all(root, ".//svg:circle/svg:title")[0].text
    assert tip == f"{HOSTILE}: {HOSTILE} 1"


def test_bar_chart_escapes_title_and_labels() -> None:
    markup = bar_chart([HOSTILE], [3], title=HOSTILE)
    assert "<script" not in markup
    root = parse(markup)
    assert root.attrib["aria-label"] == HOSTILE
    assert x_tick_labels(root) == [HOSTILE]


def test_control_characters_cannot_break_the_xml() -> None:
    root = parse(line_chart(["a\x00b"], [Series("c\x1bd", [1], "series-active")], title="e\x07"))
    assert root.attrib["aria-label"] == "e\ufffd"


def test_output_is_compact_and_deterministic() -> None:
    first = line_chart(days(45), two_series(45), title="t", width=700, height=230)
    assert first == line_chart(days(45), two_series(45), title="t", width=700, height=230)
    numbers = re.findall(r' (?:x|y|x1|x2|y1|y2|cx|cy|width|height)="([^"]*)"', str(first))
    points = re.findall(r'points="([^"]*)"', str(first))
    coordinates = numbers + [part for line in points for part in re.split(r"[ ,]", line)]
    assert coordinates
    assert all(re.fullmatch(r"-?\d+(\.\d)?", value) for value in coordinates)


def test_chart_goes_into_an_autoescaping_template_unchanged() -> None:
    chart = line_chart(days(2), two_series(2), title="t")
    environment = jinja2.Environment(autoescape=True)
    page = environment.from_string("<figure>{{ chart }}</figure>").render(chart=chart)
    assert page == f"<figure>{chart}</figure>"


# --- bar charts ----------------------------------------------------------------------------


def test_one_bar_per_label_scaled_to_the_axis() -> None:
    root = parse(bar_chart(days(4), [0, 5, 10, 20], title="Unsubscriptions"))
    bars = find_all(root, ".//svg:g[@class='bars']/svg:rect")
    assert len(bars) == 4
    assert {bar.attrib["class"] for bar in bars} == {"bar"}
    assert y_tick_labels(root)[-1] == "20"
    baseline, top = baseline_and_top(root)
    bottoms = {float(bar.attrib["y"]) + float(bar.attrib["height"]) for bar in bars}
    assert bottoms == {baseline}
    assert float(bars[0].attrib["height"]) == 0
    assert float(bars[3].attrib["y"]) == top
    assert float(bars[2].attrib["height"]) == pytest.approx((baseline - top) / 2, abs=0.1)
    assert bars[1].find("svg:title", NS).text == "2026-11-02: 5"  # type: ignore[union-attr]


def test_bars_do_not_overlap_and_stay_in_the_plot() -> None:
    root = parse(bar_chart(days(90), list(range(90)), title="t", css_class="series-active"))
    bars = find_all(root, ".//svg:g[@class='bars']/svg:rect")
    assert len(bars) == 90
    assert {bar.attrib["class"] for bar in bars} == {"series-active"}
    edges = [
        (float(bar.attrib["x"]), float(bar.attrib["x"]) + float(bar.attrib["width"]))
        for bar in bars
    ]
    assert all(
        left_end <= right_start for (_, left_end), (right_start, _) in itertools.pairwise(edges)
    )
    assert edges[-1][1] <= 720 - 16
    assert len(x_tick_labels(root)) <= 12


def test_bar_chart_edge_cases() -> None:
    empty = parse(bar_chart([], [], title="t"))
    assert find_all(empty, ".//svg:g[@class='bars']/svg:rect") == []
    zeros = parse(bar_chart(["a", "b"], [0, 0], title="t"))
    assert y_tick_labels(zeros)[-1] == "4"
    single = parse(bar_chart(["a"], [3], title="t"))
    assert len(find_all(single, ".//svg:g[@class='bars']/svg:rect")) == 1
    with pytest.raises(ValueError):
        bar_chart(["a", "b"], [1, -2], title="t")
    with pytest.raises(ValueError):
        bar_chart(["a", "b"], [1], title="t")
