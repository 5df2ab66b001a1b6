"""Routing an MO's destination number to one of our service codes.

An SP owns a service code in the 106 block and may append an *extension*: an MO
sent to ``10658000123`` reaches the SP owning ``10658000`` and belongs to that
service, with extension ``123`` (docs/carrier-rules.md §1). :class:`ServiceCodeRouter`
does the longest-prefix match, so when both ``10658000`` and ``106580001`` are
configured, ``1065800012`` goes to the second.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

__all__ = ["Route", "ServiceCodeRouter"]

_SEPARATORS = frozenset("-")
# Country prefixes some links put in front of the destination. They are removed
# only when what follows starts with "106", the SP service-code block, so no
# configured code is ever shortened by mistake.
_COUNTRY_PREFIXES = ("0086", "86")
_SP_BLOCK = "106"


@dataclass(frozen=True, slots=True, kw_only=True)
class Route:
    """Where an MO belongs: the configured short code, its service, the extension."""

    short_code: str
    service: str
    extension: str


def _normalise(destination: str) -> str:
    text = unicodedata.normalize("NFKC", destination)
    text = "".join(
        ch
        for ch in text
        if not (ch.isspace() or ch in _SEPARATORS or unicodedata.category(ch) == "Cf")
    )
    text = text.removeprefix("+")
    for country in _COUNTRY_PREFIXES:
        rest = text.removeprefix(country)
        if rest != text and rest.startswith(_SP_BLOCK):
            return rest
    return text


def _is_digits(text: str) -> bool:
    return text.isascii() and text.isdigit()


class ServiceCodeRouter:
    """Longest-prefix router from destination numbers to configured short codes.

    Built from ``{short_code: service_name}``. Short codes must be non-empty ASCII
    digits; a code given twice after normalisation is a :class:`ValueError`.
    The router is immutable and holds no I/O.
    """

    __slots__ = ("_codes", "_lengths")

    def __init__(self, codes: Mapping[str, str]) -> None:
        table: dict[str, str] = {}
        for raw_code, service in codes.items():
            code = _normalise(raw_code)
            if not _is_digits(code):
                raise ValueError(f"short code {raw_code!r} must be digits")
            if code in table:
                raise ValueError(f"short code {code} is configured twice")
            if not service:
                raise ValueError(f"short code {code} has an empty service name")
            table[code] = service
        self._codes: Mapping[str, str] = MappingProxyType(table)
        self._lengths: tuple[int, ...] = tuple(sorted({len(c) for c in table}, reverse=True))

    @property
    def codes(self) -> Mapping[str, str]:
        """The configured ``{short_code: service_name}``, normalised."""
        return self._codes

    def route(self, destination: str) -> Route | None:
        """Return the route for an MO destination, or ``None`` if it is not ours.

        The destination is normalised (NFKC, whitespace, dashes and a leading ``+``
        removed; a ``86``/``0086`` country prefix dropped before a 106 code). Text
        that is not all digits afterwards is never ours.
        """
        number = _normalise(destination)
        if not _is_digits(number):
            return None
        for length in self._lengths:
            if length > len(number):
                continue
            code = number[:length]
            service = self._codes.get(code)
            if service is not None:
                return Route(short_code=code, service=service, extension=number[length:])
        return None

    def __repr__(self) -> str:
        return f"ServiceCodeRouter({dict(self._codes)!r})"
