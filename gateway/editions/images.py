"""Loading an article's image from a local file for its MMS page (file I/O and Pillow).

Done before an edition's write transaction begins (see ``build``), so reading files and
converting pictures never holds the database's write lock.
"""

from __future__ import annotations

import io
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

from gateway.editions.mms import MmsImage

_IMAGE_SIGNATURES: tuple[tuple[bytes, str], ...] = (
    (b"\xff\xd8\xff", "image/jpeg"),
    (b"\x89PNG\r\n\x1a\n", "image/png"),
    (b"GIF87a", "image/gif"),
    (b"GIF89a", "image/gif"),
)
_REMOTE_SCHEMES = frozenset({"http", "https", "ftp", "data"})


def load_article_image(
    images: Sequence[Mapping[str, Any]], source_file: str | None
) -> tuple[MmsImage | None, list[str]]:
    """The article's first usable image, and a note for each image passed over.

    Only local files are used (a path relative to the article's file, an absolute path or a
    ``file:`` URL); remote images are not fetched. Pictures that are not JPEG, PNG or GIF are
    converted to JPEG; files that are missing or not pictures are passed over.
    """
    notes: list[str] = []
    for image in images:
        src = image.get("src")
        if not src:
            continue
        parts = urlsplit(src)
        if parts.scheme.lower() in _REMOTE_SCHEMES or src.startswith("//"):
            notes.append(f"image {src} is remote; not fetched, the page goes without it")
            continue
        path = Path(unquote(parts.path)) if parts.scheme.lower() == "file" else Path(src)
        if not path.is_absolute():
            if source_file is None:
                notes.append(f"image {src} is relative but the article has no file to resolve "
                             "it against; skipped")
                continue
            path = Path(source_file).parent / path
        try:
            data = path.read_bytes()
        except OSError as exc:
            notes.append(f"image {path} cannot be read ({exc.strerror or exc}); skipped")
            continue
        loaded = _as_mms_image(data)
        if loaded is None:
            notes.append(f"image {path} is not a picture Pillow can read; skipped")
            continue
        return loaded, notes
    return None, notes


def _as_mms_image(data: bytes) -> MmsImage | None:
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(io.BytesIO(data)) as probe:
            probe.verify()
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError):
        return None
    for signature, content_type in _IMAGE_SIGNATURES:
        if data.startswith(signature):
            return MmsImage(data=data, content_type=content_type)
    try:
        with Image.open(io.BytesIO(data)) as picture:
            buffer = io.BytesIO()
            picture.convert("RGB").save(buffer, format="JPEG", quality=85)
    except (OSError, ValueError):
        return None
    return MmsImage(data=buffer.getvalue(), content_type="image/jpeg")
