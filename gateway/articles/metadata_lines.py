"""Lines that carry an article's metadata rather than its text.

Two kinds are recognised: byline lines (``来源:大众报业·大众网``, ``作者:``,
``责任编辑:刘佳琦``, or several on one line after a date) and breadcrumbs
(``首页 >教育新闻 >教育热点``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from typing import Literal

from gateway.articles.dates import DATE_FRAGMENT
from gateway.articles.furniture import match_furniture
from gateway.articles.normalisation import comparable

BylineField = Literal["source", "author", "editor", "published"]

#: Which article field each label fills.  ``None``: a label we recognise (so the line is
#: not body text) but whose value the newspaper does not keep.
BYLINE_LABELS: dict[str, BylineField | None] = {
    "发布时间": "published",
    "发布日期": "published",
    "时间": "published",
    "日期": "published",
    "来源": "source",
    "稿源": "source",
    "作者": "author",
    "责任编辑": "editor",
    "责编": "editor",
    "编辑": "editor",
    "初审编辑": None,
    "复审编辑": None,
    "终审编辑": None,
    "审核": None,
    "校对": None,
    "签发": None,
}

#: A byline line is short; a body sentence that happens to start with "来源:" is not.
MAX_BYLINE_LENGTH = 80

_LABEL = re.compile(
    r"(?:^|(?<=[\s|(\[【]))("
    + "|".join(sorted(map(re.escape, BYLINE_LABELS), key=len, reverse=True))
    + r")\s*:"
)
_VALUE_TRIM = " \t|()[]【】/-"

_BREADCRUMB = re.compile(r"(?:当前位置\s*:?\s*)?(?:\S{0,8}首页|主页)\s*[>›»]\s*(?P<rest>.+)")
_BREADCRUMB_SEPARATOR = re.compile(r"\s*[>›»]\s*")
#: Breadcrumb tails that name the page type rather than a channel.
_BREADCRUMB_LEAVES = frozenset({"正文", "内容", "详情", "正文内容"})


@dataclass(frozen=True, slots=True)
class Bylines:
    """The 来源/作者/责任编辑 values gathered so far; the first value found wins."""

    source: str | None = None
    author: str | None = None
    editor: str | None = None

    def with_label(self, label: str, value: str) -> Bylines:
        """Record ``value`` under the field that ``label`` fills, unless already known."""
        field = BYLINE_LABELS[label]
        if field in (None, "published") or not value or getattr(self, field) is not None:
            return self
        return replace(self, **{field: value})

    def or_else(self, other: Bylines) -> Bylines:
        """Fill the fields this one lacks from ``other``."""
        return Bylines(
            source=self.source or other.source,
            author=self.author or other.author,
            editor=self.editor or other.editor,
        )


@dataclass(frozen=True, slots=True)
class BylineLine:
    """A recognised byline line.

    ``values`` pairs each label with its value ('' when the line leaves it empty);
    ``prefix`` is whatever stood before the first label (usually a date or nothing).
    """

    values: tuple[tuple[str, str], ...]
    prefix: str

    @property
    def date_texts(self) -> tuple[str, ...]:
        """The date-bearing parts of the line: its prefix and any 发布时间-like value."""
        texts = [value for label, value in self.values if BYLINE_LABELS[label] == "published"]
        return tuple(text for text in (self.prefix, *texts) if text)

    @property
    def dangling_label(self) -> str | None:
        """A trailing label left empty, whose value may be printed on the next line."""
        label, value = self.values[-1]
        return None if value else label

    def apply_to(self, bylines: Bylines) -> Bylines:
        for label, value in self.values:
            bylines = bylines.with_label(label, value)
        return bylines


def parse_byline_line(text: str) -> BylineLine | None:
    """Recognise ``text`` as a byline line, or return ``None`` for anything else.

    The line must start with a label, or with a date followed by one, and be at most
    :data:`MAX_BYLINE_LENGTH` characters long.
    """
    line = comparable(text)
    if len(line) > MAX_BYLINE_LENGTH:
        return None
    matches = list(_LABEL.finditer(line))
    if not matches:
        return None
    prefix = line[: matches[0].start()].strip(_VALUE_TRIM)
    if prefix and not DATE_FRAGMENT.fullmatch(prefix):
        return None
    values: list[tuple[str, str]] = []
    for match, following in zip(matches, [*matches[1:], None], strict=True):
        end = following.start() if following is not None else len(line)
        values.append((match.group(1), _trim_value(line[match.end() : end])))
    return BylineLine(values=tuple(values), prefix=prefix)


def _trim_value(value: str) -> str:
    """The value without surrounding separators and without trailing page furniture.

    ``作者: 王晓 手机查看`` (a header flattened into one line) gives ``王晓``.
    """
    words = value.strip(_VALUE_TRIM).split(" ")
    for index, word in enumerate(words):
        rule = match_furniture(word)
        if rule is not None and not rule.names_outlet:
            words = words[:index]
            break
    return " ".join(words).strip(_VALUE_TRIM)


def looks_like_byline_value(text: str) -> bool:
    """Whether a line could be the value of a label printed on the line before it.

    Names and outlets are short and carry no sentence punctuation or quotation marks.
    """
    line = comparable(text)
    return 0 < len(line) <= 24 and not re.search(r"[。!?;:,“”\"「」]", line)


def parse_breadcrumb(text: str) -> tuple[str, ...] | None:
    """The channel path of a breadcrumb line, or ``None`` when ``text`` is not one.

    ``首页 >教育新闻 >教育热点`` gives ``("教育新闻", "教育热点")``.
    """
    line = comparable(text)
    if len(line) > MAX_BYLINE_LENGTH:
        return None
    match = _BREADCRUMB.fullmatch(line)
    if match is None:
        return None
    parts = [part for part in _BREADCRUMB_SEPARATOR.split(match["rest"]) if part]
    while parts and parts[-1] in _BREADCRUMB_LEAVES:
        parts.pop()
    return tuple(parts)
