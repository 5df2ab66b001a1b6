"""Building, storing and freezing editions on SQLite and (in CI) PostgreSQL.

The stored octets are checked the way a handset would see them: SMS segments by their UDH and
reassembled; the MMS and its WAP Push notification by Wireshark's dissectors (an independent
decoder), which must find the SMIL start part and every page's parts.
"""

from __future__ import annotations

import io
import json
import random
from collections import Counter
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import jinja2
import pytest
from sqlalchemy import Engine, event, insert, select

from carriers.messages import TextCoding
from gateway.articles.ingest import ingest_file
from gateway.db.edition_models import Edition
from gateway.db.engine import make_session_factory
from gateway.db.models import Subscriber
from gateway.editions import build as build_module
from gateway.editions.build import (
    EditionFrozenError,
    EditionSettings,
    build_edition,
    freeze_edition,
    load_images,
    plan_edition,
    store_edition,
)
from gateway.editions.rendering import CarrierTarget, EditionError
from gateway.editions.selection import SelectionError
from gateway.editions.stored import StoredEdition, load_edition, load_mms_pdu
from gateway.editions.wsp import decode_uintvar, encode_uintvar
from tests.conftest import REPO_ROOT

try:  # tests/unit has no __init__.py: importable by either name depending on rootdir handling
    from tshark_decoder import dissect, smpp_packets, udp_packet
except ImportError:  # pragma: no cover
    from tests.unit.tshark_decoder import dissect, smpp_packets, udp_packet

NOW = datetime(2020, 11, 17, 22, 30, tzinfo=UTC)
DAY = date(2020, 11, 18)
SAMPLES = REPO_ROOT / "data" / "articles"
CARRIERS = {"china_mobile": "10658000", "china_unicom": "106558000678",
            "china_telecom": "106597009"}


def settings(**changes: Any) -> EditionSettings:
    values: dict[str, Any] = {
        "newspaper": {"name": "山东手机报", "signature": "山东手机报", "price": "3元/月"},
        "slot_labels": {"morning": "早报", "evening": "晚报"},
        "targets": tuple(
            CarrierTarget(carrier=c, short_code=code, max_sms_segments=8,
                          max_mms_bytes=100 * 1024)
            for c, code in CARRIERS.items()),
        "channel_weights": {"教育新闻/教育热点": 2.0, "教育新闻": 1.0},
        "configured_orders": {},
        "max_articles": 8,
        "base_url": "http://127.0.0.1:8081",
        "mms_expiry_seconds": 72 * 3600,
        "sms_reference_bits": 8,
        "templates_path": REPO_ROOT / "templates",
    }
    values.update(changes)
    return EditionSettings(**values)


def ingest_samples(engine: Engine, paths: list[Path] | None = None) -> None:
    sessions = make_session_factory(engine)
    for path in paths or sorted(SAMPLES.iterdir()):
        with sessions.begin() as session:
            ingest_file(session, path, now=NOW)


def build(engine: Engine, **kwargs: Any) -> Any:
    options: dict[str, Any] = {"newspaper_date": DAY, "slot": "morning", "now": NOW}
    options.update(kwargs)
    edition_settings = options.pop("settings", settings())
    return build_edition(make_session_factory(engine), edition_settings, **options)


def stored(engine: Engine, slot: str = "morning") -> StoredEdition:
    with make_session_factory(engine).begin() as session:
        edition = load_edition(session, DAY, slot)
    assert edition is not None
    return edition


def render_of(edition: StoredEdition, carrier: str, kind: str) -> Any:
    [render] = [r for r in edition.renders if r.carrier == carrier and r.format == kind]
    return render


# --- building ------------------------------------------------------------------------------------


def test_build_selects_the_days_articles_and_renders_every_carrier_once(engine: Engine) -> None:
    ingest_samples(engine)
    built = build(engine)
    edition = stored(engine)
    assert edition.status == "built" and edition.edition_id == built.edition_id
    # 教育热点 (weight 2) first, then the rest of 教育新闻 (1); by id within a weight.
    channels = [a.channel for a in edition.articles]
    assert channels[:3] == [("教育新闻", "教育热点")] * 3
    assert [a.position for a in edition.articles] == [1, 2, 3, 4, 5, 6]
    assert [a.priority for a in edition.articles] == [6, 5, 4, 3, 2, 1]
    assert sorted((r.carrier, r.format) for r in edition.renders) == sorted(
        (c, f) for c in CARRIERS for f in ("sms", "mms"))
    assert [c for c, _, _ in built.renders] == [c for c in CARRIERS for _ in range(2)]
    assert len(built.skipped_images) == 4  # the samples' images are all remote URLs


def test_articles_of_other_days_are_left_out(engine: Engine, tmp_path: Path) -> None:
    other = tmp_path / "other-day.json"
    other.write_text(json.dumps({"title": "别的日子", "date": "2020-11-19", "body": "正文。"},
                                ensure_ascii=False), encoding="utf-8")
    ingest_samples(engine, [*sorted(SAMPLES.iterdir()), other])
    build(engine)
    assert "别的日子" not in [a.title for a in stored(engine).articles]
    with pytest.raises(EditionError, match="no articles dated 2020-11-20"):
        build(engine, newspaper_date=date(2020, 11, 20))


def test_explicit_order_from_the_caller_or_the_configuration(engine: Engine) -> None:
    ingest_samples(engine)
    build(engine, explicit_order=[5, 2])
    edition = stored(engine)
    assert [a.article_id for a in edition.articles][:2] == [5, 2]
    with make_session_factory(engine).begin() as session:
        assert session.scalar(select(Edition.article_order)) == [5, 2]
    build(engine, settings=settings(configured_orders={"2020-11-18/morning": (3,)}))
    assert stored(engine).articles[0].article_id == 3
    with pytest.raises(SelectionError, match="article 99"):
        build(engine, explicit_order=[99])


def test_unknown_slot_is_refused(engine: Engine) -> None:
    ingest_samples(engine)
    with pytest.raises(EditionError, match=r"unknown slot 'noon'; editions\.slots has morning, "
                                           r"evening"):
        build(engine, slot="noon")


def test_rebuild_replaces_the_renders_of_the_same_edition(engine: Engine) -> None:
    ingest_samples(engine)
    first = build(engine)
    second = build(engine, explicit_order=[6])
    assert second.edition_id == first.edition_id
    edition = stored(engine)
    assert len(edition.renders) == 6 and edition.articles[0].article_id == 6


def test_a_frozen_edition_is_never_rebuilt(engine: Engine) -> None:
    ingest_samples(engine)
    built = build(engine)
    sessions = make_session_factory(engine)
    with sessions.begin() as session:
        edition = freeze_edition(session, built.edition_id, now=NOW + timedelta(hours=9))
        assert edition.status == "frozen"
    with sessions.begin() as session:  # again: nothing changes
        again = freeze_edition(session, built.edition_id, now=NOW + timedelta(hours=10))
        assert again.frozen_at is not None
        frozen_at = again.frozen_at
    before = stored(engine)
    with pytest.raises(EditionFrozenError, match=r"2020-11-18/morning \(#1\) is frozen since "
                                                 r"2020-11-18 07:30"):
        build(engine)
    assert stored(engine) == before
    assert (frozen_at if frozen_at.tzinfo else frozen_at.replace(tzinfo=UTC)) == (
        NOW + timedelta(hours=9))


def test_an_edition_frozen_after_it_was_planned_is_not_stored(engine: Engine) -> None:
    ingest_samples(engine)
    built = build(engine)
    sessions = make_session_factory(engine)
    with sessions.begin() as session:
        plan = plan_edition(session, settings(), newspaper_date=DAY, slot="morning")
    images = load_images(plan)
    with sessions.begin() as session:  # dispatch starts meanwhile
        freeze_edition(session, built.edition_id, now=NOW)
    before = stored(engine)
    with sessions.begin() as session, pytest.raises(EditionFrozenError, match="is frozen"):
        store_edition(session, settings(), plan, images, now=NOW)
    assert stored(engine) == before


def test_image_files_are_read_with_no_transaction_open(
    engine: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Reading and converting pictures never holds the write lock (SQLite: BEGIN IMMEDIATE)."""
    articles = [article_with_image(tmp_path, f"pic{n}", f"图片新闻{n}", noisy_jpeg(60, 40, n))
                for n in range(1, 3)]
    ingest_samples(engine, articles)
    open_transactions: list[object] = []
    event.listen(engine, "begin", open_transactions.append)
    event.listen(engine, "commit", lambda connection: open_transactions.pop())
    event.listen(engine, "rollback", lambda connection: open_transactions.pop())
    seen: list[int] = []
    real = build_module.load_article_image

    def spy(images: Any, source_file: str | None) -> Any:
        seen.append(len(open_transactions))
        return real(images, source_file)

    monkeypatch.setattr(build_module, "load_article_image", spy)
    build(engine)
    assert seen == [0, 0]
    assert [p["image"] for p in render_of(stored(engine), "china_mobile", "mms").mms_pages] == [
        None, "original", "original"]


def test_only_a_built_edition_can_be_frozen(engine: Engine) -> None:
    with make_session_factory(engine).begin() as session, \
            pytest.raises(EditionError, match="no edition #42"):
        freeze_edition(session, 42, now=NOW)
    with make_session_factory(engine).begin() as session:
        session.add(Edition(newspaper_date=DAY, slot="evening", status="building",
                            created_at=NOW))
    with make_session_factory(engine).begin() as session, \
            pytest.raises(EditionError, match="not built"):
        freeze_edition(session, 1, now=NOW)


# --- the stored SMS ----------------------------------------------------------------------------


def test_stored_sms_segments_have_correct_udh_and_reassemble(engine: Engine) -> None:
    ingest_samples(engine)
    built = build(engine)
    for carrier in CARRIERS:
        render = render_of(stored(engine), carrier, "sms")
        segments = render.segments
        total = len(segments)
        assert 1 < total <= 8
        assert render.fitting["reference"] == built.edition_id % 256
        text = ""
        for number, segment in enumerate(segments, start=1):
            sm = segment.short_message
            assert segment.udhi and segment.coding == TextCoding.UCS2
            assert sm[:6] == bytes((0x05, 0x00, 0x03, built.edition_id % 256, total, number))
            assert len(sm) <= 140
            payload = sm[6:]
            assert len(payload) % 2 == 0
            assert not 0xD8 <= payload[-2] <= 0xDB  # never ends on a high surrogate
            text += payload.decode("utf-16-be")
        assert text == render.sms_text
        assert text.startswith("【山东手机报】11月18日早报\n1.")
        assert text.endswith("\n回复TD退订")


def test_sixteen_bit_references_when_configured(engine: Engine) -> None:
    ingest_samples(engine)
    build(engine, settings=settings(sms_reference_bits=16))
    render = render_of(stored(engine), "china_mobile", "sms")
    first = render.segments[0].short_message
    assert first[:5] == bytes((0x06, 0x08, 0x04, 0x00, 0x01))
    assert all(len(s.short_message) <= 140 for s in render.segments)


def test_wireshark_reassembles_the_stored_sms(engine: Engine, tmp_path: Path) -> None:
    ingest_samples(engine)
    build(engine)
    render = render_of(stored(engine), "china_unicom", "sms")
    total = len(render.segments)
    frames = smpp_packets([s.short_message for s in render.segments], esm_class=0x40,
                          data_coding=0x08)
    dissection = dissect(tmp_path, frames, decode_as=["tcp.port==2775,smpp"])
    assert dissection.shows("gsm_sms.udh.mm.msg_parts") == [str(total)] * total
    assert dissection.shows("gsm_sms.udh.mm.msg_part") == [str(n) for n in range(1, total + 1)]
    assert dissection.first("gsm_sms_ud.fragment.count") == str(total)


# --- the stored MMS and its notification -------------------------------------------------------


def noisy_jpeg(width: int, height: int, seed: int) -> bytes:
    from PIL import Image

    rng = random.Random(seed)
    picture = Image.frombytes("RGB", (width, height), rng.randbytes(width * height * 3))
    buffer = io.BytesIO()
    picture.save(buffer, format="JPEG", quality=90)
    return buffer.getvalue()


def article_with_image(tmp_path: Path, name: str, title: str, image: bytes) -> Path:
    (tmp_path / "images").mkdir(exist_ok=True)
    (tmp_path / "images" / f"{name}.jpg").write_bytes(image)
    path = tmp_path / f"{name}.json"
    path.write_text(json.dumps({
        "title": title, "date": "2020-11-18", "channel": "教育新闻 > 教育热点",
        "url": f"http://edu.dzwww.com/{name}.htm",
        "images": [{"src": f"images/{name}.jpg", "caption": "图"}],
        "body": f"{title}的第一段。\n\n第二段正文内容。",
    }, ensure_ascii=False), encoding="utf-8")
    return path


def test_local_images_go_into_the_mms_and_are_scaled_to_the_carrier_limit(
    engine: Engine, tmp_path: Path
) -> None:
    articles = [article_with_image(tmp_path, f"pic{n}", f"图片新闻{n}", noisy_jpeg(200, 150, n))
                for n in range(1, 3)]
    ingest_samples(engine, [*articles, SAMPLES / "dzwww-2020-11-18-shapingba.txt"])
    limits = settings(targets=(
        CarrierTarget(carrier="china_mobile", short_code="10658000", max_sms_segments=8,
                      max_mms_bytes=300 * 1024),
        CarrierTarget(carrier="china_telecom", short_code="106597009", max_sms_segments=8,
                      max_mms_bytes=20 * 1024),
    ))
    build(engine, settings=limits)
    edition = stored(engine)
    roomy = render_of(edition, "china_mobile", "mms")
    tight = render_of(edition, "china_telecom", "mms")
    assert [p["image"] for p in roomy.mms_pages] == [None, "original", "original", None]
    assert roomy.mms_size <= 300 * 1024 and tight.mms_size <= 20 * 1024
    assert any(p["image"] in ("scaled", "dropped") for p in tight.mms_pages)
    assert sum(p["image_bytes"] for p in tight.mms_pages) < sum(
        p["image_bytes"] for p in roomy.mms_pages)


def test_wireshark_finds_the_smil_start_and_every_pages_parts(
    engine: Engine, tmp_path: Path
) -> None:
    article = article_with_image(tmp_path, "pic1", "图片新闻", noisy_jpeg(64, 48, 1))
    ingest_samples(engine, [article, *sorted(SAMPLES.iterdir())])
    built = build(engine)
    render = render_of(stored(engine), "china_mobile", "mms")
    with make_session_factory(engine).begin() as session:
        pdu = load_mms_pdu(session, built.edition_id, "china_mobile")
    assert pdu is not None and len(pdu) == render.mms_size
    # As fetched by the handset: a connectionless WSP Reply carrying the m-retrieve-conf.
    reply = b"\x01\x04\x20" + encode_uintvar(1) + b"\xbe" + pdu
    dissection = dissect(tmp_path, [udp_packet(reply, src_port=9200, dst_port=40000)])
    assert dissection.first("mmse.message_type") == "0x84"
    assert dissection.first("mmse.transaction_id") == f"sdgw-{built.edition_id}-china_mobile"
    assert dissection.first("mmse.from") == "10658000/TYPE=PLMN"
    assert dissection.first("wsp.parameter.upart.type") == "application/smil"
    assert dissection.first("wsp.parameter.start") == "<smil>"
    content_ids = dissection.shows("wsp.header.content_id")
    assert content_ids[0] == '"<smil>"'
    pages = render.mms_pages
    assert len(pages) == 8  # the cover and seven articles
    expected = ['"<smil>"']
    for page in pages:
        if page["image_bytes"]:
            expected.append(f'"<image{page["number"]}>"')
        expected.append(f'"<text{page["number"]}>"')
    assert content_ids == expected
    assert len(dissection.fields("smil.par")) == len(pages)
    image_pages = [p["number"] for p in pages if p["image_bytes"]]
    assert image_pages == [2]  # the article with a local image leads (weight, then id)
    assert dissection.shows("smil.img.src") == ["cid:image2"]
    assert dissection.shows("smil.text.src") == [f"cid:text{p['number']}" for p in pages]
    # Each part's data, located by Wireshark, is what the page list says it is.
    parts = dissection.fields("wsp.multipart")
    datas = [dissection.span(next(iter(part.iter("proto")))) for part in parts]
    texts = [d for d, cid in zip(datas[1:], content_ids[1:], strict=True) if "text" in cid]
    assert [len(t) for t in texts] == [p["text_bytes"] for p in pages]
    assert texts[0].decode().startswith("【山东手机报】2020年11月18日早报\n回复TD退订\n")


def test_wireshark_decodes_the_stored_wap_push(engine: Engine, tmp_path: Path) -> None:
    ingest_samples(engine)
    built = build(engine)
    render = render_of(stored(engine), "china_telecom", "mms")
    segments = render.segments
    assert all(s.udhi and s.coding == TextCoding.BINARY for s in segments)
    for segment in segments:
        udh = segment.short_message[: 1 + segment.short_message[0]]
        assert bytes.fromhex("05040b8423f0") in udh
    frames = smpp_packets([s.short_message for s in segments], esm_class=0x40,
                          data_coding=0x04)
    dissection = dissect(tmp_path, frames, decode_as=["tcp.port==2775,smpp"])
    # The stored push is a specimen of every subscriber's (its own token and transaction id
    # in place of the zeros; see tests/e2e/test_mms_subscribers_wireshark.py).
    location = "http://127.0.0.1:8081/mms/" + "0" * 24
    assert render.content_location == location
    assert dissection.first("wsp.header.content_type") == "application/vnd.wap.mms-message"
    assert dissection.first("wsp.header.x_wap_application_id") == "x-wap-application:mms.ua"
    assert dissection.first("mmse.message_type") == "0x82"
    assert dissection.first("mmse.transaction_id") == "0" * 24
    served_size = render.mms_size - len(f"sdgw-{built.edition_id}-china_telecom") + 24
    assert dissection.first("mmse.message_size") == str(served_size)
    # Expires 72 hours after the build (the specimen's date), as an absolute date.
    assert dissection.first("mmse.expiry.abs").startswith("Nov 20, 2020 22:30:00")
    assert dissection.first("mmse.content_location") == location
    # Reassembled by hand too: WSP push header, then the notification.
    push = b"".join(s.short_message[1 + s.short_message[0]:] for s in segments)
    length, offset = decode_uintvar(push, 2)
    assert push[offset + length:].startswith(b"\x8c\x82")


def test_only_built_or_frozen_editions_are_served(engine: Engine) -> None:
    ingest_samples(engine)
    built = build(engine)
    sessions = make_session_factory(engine)
    with sessions.begin() as session:
        assert load_mms_pdu(session, built.edition_id, "china_mobile") is not None
        assert load_mms_pdu(session, built.edition_id + 1, "china_mobile") is None
        session.get(Edition, built.edition_id).status = "building"  # type: ignore[union-attr]
    with sessions.begin() as session:
        assert load_mms_pdu(session, built.edition_id, "china_mobile") is None


# --- cost independent of subscribers ------------------------------------------------------------


def seed_subscribers(engine: Engine, count: int, start: int = 0) -> None:
    when = NOW - timedelta(days=1)
    with make_session_factory(engine).begin() as session:
        session.execute(insert(Subscriber), [{
            "msisdn": f"138{n:08d}", "carrier": list(CARRIERS)[n % 3], "short_code": "10658000",
            "extension": "", "status": "active", "activated_at": when, "message_format": "sms",
            "created_at": when, "updated_at": when,
        } for n in range(start, start + count)])


def measured_build(
    engine: Engine, monkeypatch: pytest.MonkeyPatch, slot: str
) -> tuple[Counter[str], int, list[bytes]]:
    statements: list[str] = []
    renders: Counter[str] = Counter()
    original = jinja2.Template.render

    def counting_render(self: jinja2.Template, *args: Any, **kwargs: Any) -> str:
        renders[self.name or "?"] += 1
        return original(self, *args, **kwargs)

    def record(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        statements.append(statement)

    monkeypatch.setattr(jinja2.Template, "render", counting_render)
    event.listen(engine, "before_cursor_execute", record)
    try:
        build(engine, slot=slot)
    finally:
        event.remove(engine, "before_cursor_execute", record)
        monkeypatch.setattr(jinja2.Template, "render", original)
    assert not [s for s in statements if "subscribers" in s.lower()]
    edition = stored(engine, slot)
    octets = [s.short_message for r in edition.renders for s in r.segments]
    return renders, len(statements), octets


def test_build_cost_does_not_depend_on_the_number_of_subscribers(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    ingest_samples(engine)
    seed_subscribers(engine, 1)
    one_renders, one_statements, one_octets = measured_build(engine, monkeypatch, "morning")
    seed_subscribers(engine, 20_000, start=1)
    many_renders, many_statements, _ = measured_build(engine, monkeypatch, "evening")
    assert many_renders == one_renders
    assert many_statements == one_statements
    # Rebuilt with 20,001 subscribers present, the morning edition is the same octets.
    _, _, again = measured_build(engine, monkeypatch, "morning")
    assert again == one_octets
    # Once per carrier and format: the digest template is rendered only while fitting.
    assert one_renders["mms/subject.txt.j2"] == len(CARRIERS)
    assert one_renders["sms/digest_header.txt.j2"] == len(CARRIERS)
