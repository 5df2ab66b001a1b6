"""Articles for ``sdgw ingest``: parsers for scraped text, HTML pages, RSS/Atom feeds and JSON.

The parsers are pure: bytes or text in, :class:`ParsedArticle` values out, no database and no
network; their public surface is re-exported below.  ``loading`` also reads article files
from disk (``parse_path``, ``iter_article_files``), and :mod:`gateway.articles.ingest`, not
re-exported here, stores parsed articles in the database.
"""

from gateway.articles.errors import ArticleError
from gateway.articles.feeds import parse_feed
from gateway.articles.html_page import parse_html_page
from gateway.articles.json_articles import parse_json_articles
from gateway.articles.loading import (
    ArticleFormat,
    decode_article_bytes,
    detect_format,
    iter_article_files,
    parse_bytes,
    parse_path,
)
from gateway.articles.model import ImageRef, ParsedArticle, canonical_url
from gateway.articles.scraped_text import parse_scraped_text

__all__ = [
    "ArticleError",
    "ArticleFormat",
    "ImageRef",
    "ParsedArticle",
    "canonical_url",
    "decode_article_bytes",
    "detect_format",
    "iter_article_files",
    "parse_bytes",
    "parse_feed",
    "parse_html_page",
    "parse_json_articles",
    "parse_path",
    "parse_scraped_text",
]
