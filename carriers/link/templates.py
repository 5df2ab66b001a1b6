"""Encoded submits kept per distinct message content, for every protocol's translator. Pure.

An edition's digest is the same octets for every subscriber of a carrier: each translator
encodes a message's submits once (a protocol's ``SubmitTemplate`` per part) and only patches
the recipient in per subscriber.  :class:`TemplateCache` keeps the last few contents' templates.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

Template = TypeVar("Template")

TEMPLATE_CACHE = 64
"""Distinct message contents whose encoded submits are kept (digests: one per edition)."""


class TemplateCache(Generic[Template]):
    """The templates of the last ``size`` distinct contents, oldest dropped first."""

    def __init__(self, size: int = TEMPLATE_CACHE) -> None:
        self._size = size
        self._templates: dict[Hashable, list[Template]] = {}

    def __len__(self) -> int:
        """How many contents' templates are kept."""
        return len(self._templates)

    def get(self, key: Hashable, build: Callable[[], list[Template]]) -> list[Template]:
        """The templates for ``key``, built by ``build`` the first time it is asked for."""
        templates = self._templates.get(key)
        if templates is None:
            templates = build()
            if len(self._templates) >= self._size:
                self._templates.pop(next(iter(self._templates)))
            self._templates[key] = templates
        return templates
