"""Whitespace and Unicode normalisation shared by the article parsers."""

from __future__ import annotations

import re
import unicodedata

# str.split() already treats U+3000 (ideographic space) and U+00A0 as whitespace; the
# zero-width characters below are not whitespace to Python but are invisible noise in
# scraped pages.
_INVISIBLE = re.compile("[\u200b\u200c\u200d\u2060\ufeff]")


def tidy(text: str) -> str:
    """Collapse every run of whitespace to one space and strip both ends.

    The characters themselves are kept (full-width punctuation stays full-width), so the
    result is what a reader should see.
    """
    return " ".join(_INVISIBLE.sub("", text).split())


def comparable(text: str) -> str:
    """Fold ``text`` for matching and hashing: NFKC, then :func:`tidy`.

    NFKC maps full-width ASCII (``：``, ``！``, ``１``) to its plain form, so patterns only
    need to spell the ASCII variant.
    """
    return tidy(unicodedata.normalize("NFKC", text))
