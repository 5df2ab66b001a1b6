"""The one exception the article parsers raise."""

from __future__ import annotations

import os

from gateway.errors import GatewayError


class ArticleError(GatewayError):
    """An article file that cannot be ingested.

    ``path`` names the file as the user gave it and ``reason`` says what is wrong with it,
    so the message reads ``articles/foo.txt: no title found``.
    """

    def __init__(self, path: str | os.PathLike[str], reason: str) -> None:
        self.path = os.fspath(path)
        self.reason = reason
        super().__init__(self.path, reason)

    def __str__(self) -> str:
        return f"{self.path}: {self.reason}"
