"""The console's tables as rows and columns: one definition serves the HTML pages, the CSV
exports, the JSON API and ``sdgw report``."""

from __future__ import annotations

import csv
import io
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import fields
from datetime import UTC, date, datetime, tzinfo
from typing import Any

from gateway.console.queries import (
    CarrierFigures,
    DayFigures,
    DispatchFigures,
    PeriodFigures,
    as_dict,
)
from gateway.db.times import local_text

#: Columns of each row type, in the order the exports write them.
CARRIER_COLUMNS = tuple(f.name for f in fields(CarrierFigures))
DAY_COLUMNS = tuple(f.name for f in fields(DayFigures))
DISPATCH_COLUMNS = tuple(f.name for f in fields(DispatchFigures))
PERIOD_COLUMNS = tuple(f.name for f in fields(PeriodFigures))


def columns_of(row_type: Any) -> tuple[str, ...]:
    return tuple(f.name for f in fields(row_type))


def csv_text(columns: Sequence[str], rows: Iterable[Any], *, header: bool = True) -> str:
    """Rows (dataclasses or dicts) as CSV text; ``header=False`` for the next chunk of a
    streamed export. Cells that a spreadsheet would run as a formula are quoted with a
    leading apostrophe (CSV injection)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    if header:
        writer.writerow(columns)
    for row in rows:
        values = row if isinstance(row, dict) else as_dict(row)
        writer.writerow([_cell(values.get(column)) for column in columns])
    return out.getvalue()


_FORMULA_STARTS = ("=", "+", "-", "@")


def _cell(value: Any) -> Any:
    """A cell as written to CSV: a text a spreadsheet could run as a formula gets a leading
    apostrophe. That is any text starting with a control character (tab, CR, LF), or whose
    first non-blank character, with full-width forms folded (＝＋－＠ → =+-@), starts a
    formula: a spreadsheet may trim the blanks first."""
    if value is None:
        return ""
    if isinstance(value, str) and value:
        folded = unicodedata.normalize("NFKC", value)
        if value[0] in "\t\r\n" or folded.lstrip()[:1] in _FORMULA_STARTS:
            return "'" + value
    return value


def plain_table(columns: Sequence[str], rows: Iterable[Any], *, zone: tzinfo = UTC) -> str:
    """Rows as an aligned text table for the terminal (``sdgw report``): times in ``zone``,
    ratios (columns ending in ``rate``, ``conversion``, ``churn``) as percentages."""
    cells = [[_text(column, getattr(row, column) if not isinstance(row, dict) else row[column],
                    zone) for column in columns] for row in rows]
    widths = [max([len(c)] + [_width(r[i]) for r in cells]) for i, c in enumerate(columns)]
    lines = ["  ".join(c.ljust(w) for c, w in zip(columns, widths, strict=True)).rstrip()]
    lines.append("  ".join("-" * w for w in widths))
    for r in cells:
        lines.append("  ".join(_pad(v, w) for v, w in zip(r, widths, strict=True)).rstrip())
    return "\n".join(lines)


def _text(column: str, value: Any, zone: tzinfo) -> str:
    if value is None:
        return "-"
    if isinstance(value, datetime):
        return local_text(value, zone)
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, float):
        if column.endswith(("rate", "conversion", "churn")):
            return f"{value * 100:.1f}%"
        return f"{value:,.1f}"
    if isinstance(value, int) and not isinstance(value, bool):
        return f"{value:,}"
    return str(value)


def _width(text: str) -> int:
    """Display width: CJK characters take two columns."""
    return sum(2 if ord(ch) > 0x2E80 else 1 for ch in text)


def _pad(text: str, width: int) -> str:
    return text + " " * (width - _width(text))
