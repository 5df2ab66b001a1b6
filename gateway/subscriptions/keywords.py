"""Parsing MO text into a subscription command.

:func:`parse_command` is pure: text in, :class:`Command` out. The keyword table is
data (:data:`KEYWORDS`); each keyword says what may follow it.

Normalisation, in order:

1. Unicode NFKC, so full-width letters, digits, spaces and punctuation fold to
   ASCII (``ＳＤ`` → ``SD``, ``００００`` → ``0000``).
2. Trimming, at both ends, of whitespace, control and invisible format characters
   and punctuation of any script (Unicode category ``P*``: ``.,!?`` and ``。，！？、``
   and brackets such as ``【】``). Symbols (``~``, ``+``, emoji) are *not* trimmed.
3. Upper-casing.

What may follow a keyword (the documented decisions):

- ``Trailing.NOTHING`` — the keyword must be the whole message after trimming.
  Used for the confirmations ``Y`` and ``是``: a confirmation starts a monthly
  charge, so ``Y 不要``, ``YES``, ``是的`` or ``是不是收费`` are *not* consent and
  parse as HELP. Also used for the Chinese format words ``彩信`` / ``彩信版`` (MMS edition)
  and ``短信`` / ``短信版`` (SMS edition): ordinary sentences start with them (``短信退订``,
  ``短信怎么收费``), and such a message must not switch what a subscriber receives.
- ``Trailing.TEXT`` — the keyword alone, or followed by other text after a
  boundary. For a keyword ending in an ASCII letter or digit the boundary is any
  character that is not an ASCII letter or digit: ``SD 手机报``, ``SD,手机报`` and
  ``SD手机报`` subscribe, but ``SDXYZ`` and ``SD1`` are HELP. A keyword ending in a
  CJK character has a boundary everywhere. The text after the keyword, minus
  leading separators, is kept in :attr:`Command.argument`.
- ``Trailing.SERVICE_CODE`` — like ``TEXT``, and the keyword may also be followed
  by a service code, glued or separated: ``TD10658000``, ``td 10658000``,
  ``退订10658000``. When ``service_codes`` is given, the named digits must be one of
  them or one of them plus an extension (``TD10658000123`` names ``10658000``);
  digits naming no code of ours parse as HELP rather than cancelling a service the
  user did not name (the help reply says how to unsubscribe). When
  ``service_codes`` is empty, any digits are taken as the code, unchecked. Digits
  glued to letters (``TD12AB``) are HELP.

Anything that matches no keyword, including empty text, is HELP.
"""

from __future__ import annotations

import enum
import unicodedata
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from types import MappingProxyType

__all__ = ["KEYWORDS", "Command", "CommandKind", "Keyword", "Trailing", "parse_command"]


class CommandKind(enum.Enum):
    """What an MO asks for."""

    SUBSCRIBE = "subscribe"
    CONFIRM = "confirm"
    UNSUBSCRIBE = "unsubscribe"
    UNSUBSCRIBE_ALL = "unsubscribe_all"
    QUERY = "query"
    CHOOSE_MMS = "choose_mms"
    """Switch an active subscription to the MMS edition (彩信版)."""
    CHOOSE_SMS = "choose_sms"
    """Switch an active subscription back to the SMS edition (短信版)."""
    HELP = "help"


class Trailing(enum.Enum):
    """What a keyword accepts after it (see the module docstring)."""

    NOTHING = "nothing"
    TEXT = "text"
    SERVICE_CODE = "service_code"


@dataclass(frozen=True, slots=True, kw_only=True)
class Keyword:
    kind: CommandKind
    trailing: Trailing


KEYWORDS: Mapping[str, Keyword] = MappingProxyType(
    {
        "SD": Keyword(kind=CommandKind.SUBSCRIBE, trailing=Trailing.TEXT),
        "Y": Keyword(kind=CommandKind.CONFIRM, trailing=Trailing.NOTHING),
        "是": Keyword(kind=CommandKind.CONFIRM, trailing=Trailing.NOTHING),
        "TD": Keyword(kind=CommandKind.UNSUBSCRIBE, trailing=Trailing.SERVICE_CODE),
        "QX": Keyword(kind=CommandKind.UNSUBSCRIBE, trailing=Trailing.SERVICE_CODE),
        "退订": Keyword(kind=CommandKind.UNSUBSCRIBE, trailing=Trailing.SERVICE_CODE),
        "00000": Keyword(kind=CommandKind.UNSUBSCRIBE_ALL, trailing=Trailing.TEXT),
        "0000": Keyword(kind=CommandKind.QUERY, trailing=Trailing.TEXT),
        "CX": Keyword(kind=CommandKind.CHOOSE_MMS, trailing=Trailing.TEXT),
        "彩信": Keyword(kind=CommandKind.CHOOSE_MMS, trailing=Trailing.NOTHING),
        "彩信版": Keyword(kind=CommandKind.CHOOSE_MMS, trailing=Trailing.NOTHING),
        "DX": Keyword(kind=CommandKind.CHOOSE_SMS, trailing=Trailing.TEXT),
        "短信": Keyword(kind=CommandKind.CHOOSE_SMS, trailing=Trailing.NOTHING),
        "短信版": Keyword(kind=CommandKind.CHOOSE_SMS, trailing=Trailing.NOTHING),
    }
)
"""Keywords in normalised form (NFKC, upper case) and what may follow them."""

# Longest first, so a longer keyword is tried before any keyword it starts with.
_BY_LENGTH = tuple(sorted(KEYWORDS.items(), key=lambda item: len(item[0]), reverse=True))


@dataclass(frozen=True, slots=True, kw_only=True)
class Command:
    """A parsed MO.

    ``keyword`` is the matched keyword in normalised form (empty for HELP).
    ``service_code`` is the code named after an unsubscribe keyword, if any.
    ``argument`` is the normalised text after the keyword (and after the service
    code); for HELP it is the whole normalised message.
    """

    kind: CommandKind
    keyword: str = ""
    service_code: str | None = None
    argument: str = ""


def _is_separator(ch: str) -> bool:
    category = unicodedata.category(ch)
    return ch.isspace() or category[0] in "PZ" or category in ("Cc", "Cf")


def _strip_start(text: str) -> str:
    index = 0
    while index < len(text) and _is_separator(text[index]):
        index += 1
    return text[index:]


def _trim(text: str) -> str:
    end = len(text)
    while end > 0 and _is_separator(text[end - 1]):
        end -= 1
    return _strip_start(text[:end])


def _is_ascii_alnum(ch: str) -> bool:
    return ch.isascii() and ch.isalnum()


def _is_ascii_digit(ch: str) -> bool:
    return "0" <= ch <= "9"


def _normalise(text: str) -> str:
    return _trim(unicodedata.normalize("NFKC", text)).upper()


def _known_code(digits: str, service_codes: Collection[str]) -> str | None:
    matches = [code for code in service_codes if code and digits.startswith(code)]
    return max(matches, key=len) if matches else None


def _match(
    keyword: str, spec: Keyword, text: str, service_codes: Collection[str]
) -> Command | None:
    """The command if ``text`` starts with ``keyword`` as ``spec`` allows, else None."""
    if not text.startswith(keyword):
        return None
    rest = text[len(keyword) :]
    if spec.trailing is Trailing.NOTHING:
        return Command(kind=spec.kind, keyword=keyword) if not rest else None

    glued = bool(rest) and _is_ascii_alnum(keyword[-1]) and _is_ascii_alnum(rest[0])
    if glued and not (spec.trailing is Trailing.SERVICE_CODE and _is_ascii_digit(rest[0])):
        return None
    rest = _strip_start(rest)
    if spec.trailing is Trailing.TEXT or not rest or not _is_ascii_digit(rest[0]):
        return Command(kind=spec.kind, keyword=keyword, argument=rest)

    # Trailing.SERVICE_CODE with digits after the keyword.
    end = 0
    while end < len(rest) and _is_ascii_digit(rest[end]):
        end += 1
    digits, after = rest[:end], rest[end:]
    if after and _is_ascii_alnum(after[0]):
        return None
    code = _known_code(digits, service_codes) if service_codes else digits
    if code is None:
        return None
    return Command(kind=spec.kind, keyword=keyword, service_code=code, argument=_strip_start(after))


def parse_command(text: str, service_codes: Collection[str] = ()) -> Command:
    """Parse an MO's text; never raises for any input string.

    ``service_codes`` are our short codes (ASCII digits), used to check a code
    named after ``TD``/``QX``/``退订``. See the module docstring for the rules.
    """
    normalised = _normalise(text)
    for keyword, spec in _BY_LENGTH:
        command = _match(keyword, spec, normalised, service_codes)
        if command is not None:
            return command
    return Command(kind=CommandKind.HELP, argument=normalised)
