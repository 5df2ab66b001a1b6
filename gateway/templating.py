"""Jinja2 set-up: every message and page the gateway shows is a template.

StrictUndefined everywhere (a missing value is an error, not an empty string);
autoescaping for HTML templates only.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import jinja2


def make_environment(directory: Path, *, auto_reload: bool = True) -> jinja2.Environment:
    """``auto_reload=False``: a template is read once (no file check on every use)."""
    return jinja2.Environment(
        auto_reload=auto_reload,
        loader=jinja2.FileSystemLoader(str(directory)),
        undefined=jinja2.StrictUndefined,
        autoescape=jinja2.select_autoescape(enabled_extensions=("html", "htm", "xml")),
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=False,
    )


def render_text(environment: jinja2.Environment, name: str, **context: Any) -> str:
    """Render a plain-text template into one message: lines joined, outer space stripped."""
    rendered = environment.get_template(name).render(**context)
    return "".join(line.strip() for line in rendered.splitlines()).strip()
