"""``sdgw ingest`` and ``sdgw edition …`` (articles and editions)."""

from __future__ import annotations

import argparse
import sys
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy.exc import IntegrityError, SQLAlchemyError

from carriers.text_coding import decode_text
from gateway.articles import ArticleError, iter_article_files
from gateway.articles.ingest import DuplicateArticleError, ingest_file
from gateway.cli.common import EXIT_FAILED, EXIT_OK, open_database
from gateway.cli.progress import CommandProgress
from gateway.db.edition_models import EDITION_BUILDING
from gateway.editions.build import build_edition, edition_settings, utc_text
from gateway.editions.selection import SelectionError
from gateway.editions.stored import load_edition
from gateway.errors import GatewayError

# -- sdgw ingest ------------------------------------------------------------------------------


def ingest_command(args: argparse.Namespace) -> int:
    config, sessions = open_database(args)
    now = datetime.now(UTC)
    outcomes: Counter[str] = Counter()
    failed = 0
    found = [(given, list(iter_article_files([given]))) for given in args.paths]
    with CommandProgress() as display:
        progress = display.add("ingest", total=sum(len(files) for _, files in found),
                               unit="files")
        for given, files in found:
            if not files:
                print(f"failed     {given}: no article files in this folder", file=sys.stderr)
                failed += 1
            for path in files:
                results = _ingest_one(sessions, path, now, config.ingest.max_bytes)
                progress.advance()
                if results is None:
                    failed += 1
                    continue
                for result in results:
                    outcomes[result.outcome.value] += 1
                    print(f"{_ingest_line(result)}  [{path}]")
        progress.finish()
    counted = ", ".join(f"{outcomes[name]} {name}" for name in
                        ("new", "updated", "unchanged", "frozen") if outcomes[name])
    print(f"{sum(outcomes.values())} article(s){': ' + counted if counted else ''}; "
          f"{failed} file(s) failed")
    return EXIT_FAILED if failed else EXIT_OK


def _ingest_one(sessions: Any, path: Path, now: datetime, max_bytes: int) -> list[Any] | None:
    """Store one file's articles in a transaction of its own; None (and the reason on
    stderr) when the file failed."""
    try:
        with sessions.begin() as session:
            return list(ingest_file(session, path, now=now, max_bytes=max_bytes))
    except ArticleError as exc:
        print(f"failed     {exc.path}: {exc.reason}", file=sys.stderr)
    except DuplicateArticleError as exc:
        print(f"failed     {path}: {exc}", file=sys.stderr)
    except SQLAlchemyError as exc:
        reason = str(exc.orig if getattr(exc, "orig", None) else exc).splitlines()[0]
        print(f"failed     {path}: the database refused it ({reason})", file=sys.stderr)
    return None


def _ingest_line(result: Any) -> str:
    line = f"{result.outcome.value:<10} #{result.article_id:<5} {result.title}"
    if result.editions_to_rebuild:
        line += f" — rebuild edition {', '.join(result.editions_to_rebuild)}"
    if result.frozen_editions:
        line += (f" — changed, but edition {', '.join(result.frozen_editions)} "
                 "is frozen: kept as sent")
    return line


# -- sdgw edition build -----------------------------------------------------------------------


def build_command(args: argparse.Namespace) -> int:
    config, sessions = open_database(args)
    settings = edition_settings(config)
    try:
        built = build_edition(sessions, settings, newspaper_date=args.date, slot=args.slot,
                              explicit_order=args.order, now=datetime.now(UTC))
    except SelectionError as exc:
        raise GatewayError(f"edition {args.date.isoformat()}/{args.slot}: {exc}") from None
    except IntegrityError:
        raise GatewayError(f"edition {args.date.isoformat()}/{args.slot} was being built by "
                           "another command at the same time; run this one again") from None
    for note in built.skipped_images:
        print(f"note: {note}", file=sys.stderr)
    print(f"edition {built.newspaper_date.isoformat()}/{built.slot} (#{built.edition_id}) "
          f"built: articles {', '.join(f'#{i}' for i in built.article_ids)}")
    for carrier, kind, size in built.renders:
        what = f"{size} segment(s)" if kind == "sms" else f"{size:,} octets"
        print(f"  {carrier:<14} {kind.upper()}  {what}")
    return EXIT_OK


# -- sdgw edition preview ---------------------------------------------------------------------

_CODING_LABELS = {"gsm7": "GSM 7-bit", "ucs2": "UCS2", "ascii": "ASCII", "latin1": "Latin-1",
                  "gbk": "GBK", "binary": "8-bit data"}


def preview_command(args: argparse.Namespace) -> int:
    config, sessions = open_database(args)
    with sessions.begin() as session:
        edition = load_edition(session, args.date, args.slot)
    key = f"{args.date.isoformat()}/{args.slot}"
    rebuild = (f"`sdgw edition build --date {args.date.isoformat()} --slot {args.slot}`")
    if edition is None:
        raise GatewayError(f"there is no edition {key}; build it with {rebuild}")
    if edition.status == EDITION_BUILDING:
        raise GatewayError(f"edition {key} is not built (never built, or an article changed "
                           f"since); build it with {rebuild}")
    slots = config.editions.slots
    label = slots[args.slot].label if args.slot in slots else args.slot
    when = f"built {utc_text(edition.built_at)}"
    if edition.frozen_at:
        when += f", frozen {utc_text(edition.frozen_at)}"
    print(f"edition {key} ({label}) #{edition.edition_id}: {when}; "
          f"{len(edition.articles)} article(s)")
    for article in edition.articles:
        print(f"  {article.position}. #{article.article_id} {article.title}  "
              f"[{' › '.join(article.channel)}]")
    for render in edition.renders:
        if args.carrier and render.carrier != args.carrier:
            continue
        print()
        if render.format == "sms":
            _print_sms(render)
        else:
            _print_mms(render)
    return EXIT_OK


def _print_sms(render: Any) -> None:
    fitting = render.fitting
    total = len(render.segments)
    coding = _CODING_LABELS.get(render.segments[0].coding, "?") if total else "?"
    reference = (f", {fitting['reference_bits']}-bit reference {fitting['reference']}"
                 if total > 1 else "")
    print(f"== {render.carrier}: SMS digest, {total} segment(s), {coding}{reference}; "
          f"limit {fitting['max_segments']} ==")
    for segment in render.segments:
        text = decode_text(segment.payload, segment.coding)
        print(f"--- segment {segment.number}/{total} "
              f"({_CODING_LABELS.get(segment.coding, '?')}, {len(text)} chars) ---")
        print(text)
    print("--- end ---")
    shortened = ", ".join(f"#{i}" for i in fitting["shortened"]) or "none"
    dropped = ", ".join(f"#{i}" for i in fitting["dropped"]) or "none"
    print(f"summaries shortened: {shortened}; articles dropped: {dropped}")


def _print_mms(render: Any) -> None:
    fitting = render.fitting
    pages = render.mms_pages or []
    print(f"== {render.carrier}: MMS edition, {len(pages)} page(s), {render.mms_size:,} octets; "
          f"limit {fitting['max_bytes']:,} ==")
    print(f"content location: {render.content_location} (each subscriber's own token in "
          "place of the zeros)")
    for page in pages:
        title = page["title"] or "(cover)"
        text = f"text {page['text_bytes']:,} B ({page['text_chars']} chars"
        text += ", shortened)" if page["text_shortened"] else ")"
        if page["image_bytes"]:
            kind = page["image_type"].split("/")[-1]
            image = f"image {page['image_bytes']:,} B {kind}"
            if page["image"] == "scaled":
                image += " (scaled)"
        else:
            image = "image dropped" if page["image"] == "dropped" else "no image"
        size = page["text_bytes"] + page["image_bytes"]
        print(f"  page {page['number']:>2}  {size:>8,} B  {text}; {image}  {title}")
    content = sum(page["text_bytes"] + page["image_bytes"] for page in pages)
    print(f"  total {render.mms_size:,} B = pages {content:,} B + SMIL, part and message "
          f"headers {render.mms_size - content:,} B")
    segments = render.segments
    print(f"notification: m-notification-ind in a WAP Push, {len(segments)} binary SMS "
          f"(8-bit data, port 2948), {sum(len(s.short_message) for s in segments)} octets")
