"""The translators' cache of encoded submits per distinct message content."""

from __future__ import annotations

from carriers.link.templates import TemplateCache


def test_built_once_per_content_and_the_oldest_dropped_first() -> None:
    built: list[str] = []

    def build(key: str) -> list[str]:
        built.append(key)
        return [f"{key}-part"]

    cache: TemplateCache[str] = TemplateCache(size=2)
    assert cache.get("a", lambda: build("a")) == ["a-part"]
    assert cache.get("a", lambda: build("a")) == ["a-part"]
    cache.get("b", lambda: build("b"))
    cache.get("c", lambda: build("c"))  # "a" goes: two contents are kept
    assert len(cache) == 2
    cache.get("a", lambda: build("a"))
    assert built == ["a", "b", "c", "a"]
