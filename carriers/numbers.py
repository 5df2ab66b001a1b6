"""Chinese mobile numbers (MSISDNs): normalisation and the MIIT prefix table.

Pure functions:

- :func:`normalise_msisdn` turns what a user or a carrier wrote (``+86 138-0013-8000``,
  ``0086 13800138000``, full-width digits …) into the 11-digit national number, or
  raises :class:`InvalidNumber` saying why it is not one.
- :func:`prefix_carrier` names the carrier that was *assigned* the number's range.
- :func:`mask_msisdn` hides the middle of a number (``138****8000``), the one form a number
  takes where it is shown to someone who need not see it whole: logs, viewers' console pages.

Since number portability (携号转网, 27 Nov 2019) a prefix no longer tells which
carrier serves a subscriber: the carrier whose link delivered the MO is the
serving carrier. Use :func:`prefix_carrier` for reports (a mismatch is worth
recording), never to reject or to route.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Mapping
from types import MappingProxyType

from carriers.rules import CHINA_BROADNET, CHINA_MOBILE, CHINA_TELECOM, CHINA_UNICOM

__all__ = [
    "PREFIX_CARRIERS",
    "VIRTUAL_OPERATOR_PREFIXES",
    "InvalidNumber",
    "is_virtual_operator",
    "mask_msisdn",
    "normalise_msisdn",
    "prefix_carrier",
]


class InvalidNumber(ValueError):
    """The text is not an 11-digit Chinese mobile number.

    ``raw`` is the text as given and ``reason`` a short explanation, so a caller can
    log or show it without parsing the message.
    """

    def __init__(self, raw: str, reason: str) -> None:
        super().__init__(f"{raw!r} is not a Chinese mobile number: {reason}")
        self.raw = raw
        self.reason = reason


# --- the prefix table (MIIT, March 2023; docs/carrier-rules.md §4) -----------------------
#
# Rows are (carrier or None, virtual operator?, prefixes). A prefix "a-b" stands for
# every prefix from a to b inclusive, all of the same length. Four-digit prefixes
# win over three-digit ones (longest prefix wins). ``None`` marks ranges that are
# assigned but belong to no terrestrial mobile carrier (1349 and 174: satellite).
# 148 appears both as China Mobile and as IoT in the sources; it is kept as China
# Mobile here. The 140–144 IoT ranges are rejected by normalise_msisdn.
_PREFIX_ROWS: tuple[tuple[str | None, bool, str], ...] = (
    (
        CHINA_MOBILE,
        False,
        "1340-1348 135-139 147 148 150-152 157-159 172 178 182-184 187 188 195 197 198",
    ),
    (CHINA_MOBILE, True, "165 1703 1705 1706"),
    (CHINA_UNICOM, False, "130-132 145 146 155 156 166 175 176 185 186 196"),
    (CHINA_UNICOM, True, "167 171 1704 1707-1709"),
    (CHINA_TELECOM, False, "133 149 153 173 177 180 181 189-191 193 199"),
    (CHINA_TELECOM, True, "162 1700-1702"),
    (CHINA_BROADNET, False, "192"),
    (None, False, "1349 174"),
)

# Leading three digits of the 13-digit IoT (物联网) ranges.
_IOT_PREFIXES = frozenset({"140", "141", "142", "143", "144"})

_COUNTRY_PREFIXES = ("+86", "0086")
_SEPARATORS = frozenset("-.()")


def _expand(spec: str) -> list[str]:
    prefixes: list[str] = []
    for item in spec.split():
        first, _, last = item.partition("-")
        last = last or first
        if len(first) != len(last) or not (first.isdigit() and last.isdigit()):
            raise ValueError(f"bad prefix range {item!r}")
        width = len(first)
        prefixes.extend(str(n).zfill(width) for n in range(int(first), int(last) + 1))
    return prefixes


def _build_table() -> tuple[Mapping[str, str | None], frozenset[str]]:
    carriers: dict[str, str | None] = {}
    virtual: set[str] = set()
    for carrier, is_virtual, spec in _PREFIX_ROWS:
        for prefix in _expand(spec):
            if prefix in carriers:
                raise ValueError(f"prefix {prefix} appears twice in the prefix table")
            carriers[prefix] = carrier
            if is_virtual:
                virtual.add(prefix)
    return MappingProxyType(carriers), frozenset(virtual)


PREFIX_CARRIERS, VIRTUAL_OPERATOR_PREFIXES = _build_table()
"""``PREFIX_CARRIERS`` maps a 3- or 4-digit prefix to its carrier identifier, or to
``None`` for satellite ranges. ``VIRTUAL_OPERATOR_PREFIXES`` holds the prefixes
assigned to virtual operators (MVNOs, 虚拟运营商) on that carrier's network."""

_LONGEST_PREFIX = max(len(p) for p in PREFIX_CARRIERS)


def normalise_msisdn(raw: str) -> str:
    """Return the 11-digit national form of a Chinese mobile number.

    Accepted noise: any whitespace, invisible format characters, ``-``, ``.``, ``(``
    and ``)``, full-width forms (folded by NFKC), and a ``+86``, ``0086`` or bare
    ``86`` country prefix (bare ``86`` only when 13 digits remain, so an 11-digit
    number is never mangled).

    Raises :class:`InvalidNumber` for empty text, foreign country codes, letters or
    other characters, the 140–144 IoT ranges, a wrong digit count, or a number
    whose second digit is not 3–9 (``10``–``12`` are service and short codes such
    as ``10658000123``, never subscribers).
    """
    text = unicodedata.normalize("NFKC", raw)
    text = "".join(
        ch
        for ch in text
        if not (ch.isspace() or ch in _SEPARATORS or unicodedata.category(ch) == "Cf")
    )
    if not text:
        raise InvalidNumber(raw, "it is empty")

    for country in _COUNTRY_PREFIXES:
        if text.startswith(country):
            text = text[len(country) :]
            break
    else:
        if text.startswith("+"):
            raise InvalidNumber(raw, "only the +86 country code is accepted")
        if text.startswith("86") and len(text) == 13:
            text = text[2:]

    if not (text.isascii() and text.isdigit()):
        bad = sorted({ch for ch in text if not ("0" <= ch <= "9")})
        raise InvalidNumber(raw, f"it contains characters other than digits: {''.join(bad)!r}")
    if text[:3] in _IOT_PREFIXES:
        raise InvalidNumber(raw, f"{text[:3]} is an IoT range, not a mobile subscriber range")
    if len(text) != 11:
        raise InvalidNumber(raw, f"it has {len(text)} digits, expected 11")
    if text[0] != "1":
        raise InvalidNumber(raw, "a mobile number starts with 1")
    if text[1] not in "3456789":
        raise InvalidNumber(raw, f"{text[:2]} is a service or short-code range, not mobile")
    return text


def _matching_prefix(number: str) -> str | None:
    for length in range(_LONGEST_PREFIX, 2, -1):
        if number[:length] in PREFIX_CARRIERS:
            return number[:length]
    return None


def prefix_carrier(msisdn: str) -> str | None:
    """Return the carrier assigned the number's range, or ``None``.

    ``None`` means satellite (1349, 174) or a range not in the table. The number is
    normalised first, so :class:`InvalidNumber` propagates for non-numbers.
    Remember: under number portability this is the *assigned*, not the *serving*,
    carrier.
    """
    prefix = _matching_prefix(normalise_msisdn(msisdn))
    return None if prefix is None else PREFIX_CARRIERS[prefix]


def is_virtual_operator(msisdn: str) -> bool:
    """Whether the number's range was assigned to a virtual operator (MVNO)."""
    return _matching_prefix(normalise_msisdn(msisdn)) in VIRTUAL_OPERATOR_PREFIXES


def mask_msisdn(number: str) -> str:
    """``13800138000`` → ``138****8000``: the first three and the last four characters kept,
    whatever the number's form (``+86****8000``); seven characters or fewer are all hidden,
    and the empty text stays empty. Not normalised first: an invalid number is masked too."""
    if not number:
        return number
    if len(number) <= 7:
        return "*" * len(number)
    return number[:3] + "****" + number[-4:]
