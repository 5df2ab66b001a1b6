"""What every article parser produces: :class:`ParsedArticle` and :class:`ImageRef`."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import date
from urllib.parse import urlsplit, urlunsplit

from gateway.articles.normalisation import comparable

#: Query parameters that only say how a reader reached the page.  ``utm_*`` is matched as
#: a prefix; the rest by exact (case-insensitive) name.
TRACKING_PARAM_PREFIXES: tuple[str, ...] = ("utm_",)
TRACKING_PARAMS: frozenset[str] = frozenset(
    {
        "fbclid",
        "gclid",
        "dclid",
        "gbraid",
        "wbraid",
        "msclkid",
        "yclid",
        "igshid",
        "mc_cid",
        "mc_eid",
        "spm",
        "isappinstalled",
        "clicktime",
        "enterid",
    }
)

_DEFAULT_PORTS: dict[str, int] = {"http": 80, "https": 443}


@dataclass(frozen=True, slots=True, kw_only=True)
class ImageRef:
    """An image that belongs to an article.

    ``src`` is ``None`` when the source kept only the caption: scraped text pages lose the
    ``<img>`` but keep the line printed under it.
    """

    src: str | None
    caption: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class ParsedArticle:
    """One article as read from a file, before it is stored or edited.

    ``source``/``author``/``editor`` are the page's 来源/作者/责任编辑 (``None`` when the
    page leaves them out or empty); ``channel`` is the breadcrumb below the home page,
    e.g. ``("教育新闻", "教育热点")``; ``origin`` names where the article came from (a
    file name, or a feed item's id).
    """

    title: str
    published: date
    source: str | None = None
    author: str | None = None
    editor: str | None = None
    channel: tuple[str, ...] = ()
    url: str | None = None
    images: tuple[ImageRef, ...] = ()
    paragraphs: tuple[str, ...]
    origin: str

    def __post_init__(self) -> None:
        if not self.title.strip():
            raise ValueError("an article needs a title")
        if not self.paragraphs or not all(p.strip() for p in self.paragraphs):
            raise ValueError("an article needs non-empty paragraphs")

    @property
    def content_hash(self) -> str:
        """SHA-256 (hex) of the normalised title, date and body.

        Whitespace and full-width/half-width differences do not change the hash, so the
        same article scraped twice, or saved once as text and once as HTML, hashes alike.
        Source, author, images and URL are deliberately left out.
        """
        lines = [comparable(self.title), self.published.isoformat()]
        lines.extend(comparable(paragraph) for paragraph in self.paragraphs)
        return hashlib.sha256("\n".join(lines).encode("utf-8")).hexdigest()


def canonical_url(url: str) -> str:
    """Normalise ``url`` so that two links to the same page compare equal.

    Lower-cases the scheme and host, drops a default port, the fragment and tracking
    parameters (``utm_*``, ``fbclid``, ``spm`` …; see :data:`TRACKING_PARAMS`), and gives an
    empty path as ``/``.  The remaining query is kept byte for byte, in order.  Raises
    :class:`ValueError` for an empty URL or an invalid port.
    """
    parts = urlsplit(url.strip())
    if not (parts.scheme or parts.netloc or parts.path):
        raise ValueError(f"not a URL: {url!r}")
    scheme = parts.scheme.lower()
    netloc = _canonical_netloc(scheme, parts.netloc)
    path = parts.path or ("/" if netloc else "")
    query = "&".join(pair for pair in parts.query.split("&") if pair and not _is_tracking(pair))
    return urlunsplit((scheme, netloc, path, query, ""))


def _canonical_netloc(scheme: str, netloc: str) -> str:
    userinfo, _, hostport = netloc.rpartition("@")
    parts = urlsplit(f"//{hostport}")
    host = (parts.hostname or "").rstrip(".")
    if ":" in host:  # an IPv6 literal keeps its brackets
        host = f"[{host}]"
    port = parts.port  # raises ValueError for a port that is not a number in range
    if port is not None and port != _DEFAULT_PORTS.get(scheme):
        host = f"{host}:{port}"
    return f"{userinfo}@{host}" if userinfo else host


def _is_tracking(pair: str) -> bool:
    name = pair.split("=", 1)[0].lower()
    return name in TRACKING_PARAMS or name.startswith(TRACKING_PARAM_PREFIXES)
