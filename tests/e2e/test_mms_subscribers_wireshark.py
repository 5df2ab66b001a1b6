"""Independent check with Wireshark: two MMS subscribers of one dispatch, each decoded by
tshark's MMSE dissector — the WAP Push each one's SMPP submits carry, and the m-retrieve-conf
each one's handset fetches from the content location its own notification names."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest_twisted
from sqlalchemy import Engine, select
from twisted.internet import defer, reactor

from carriers.codings import wire_number
from gateway.articles.ingest import ingest_file
from gateway.console.service import read_pool
from gateway.db.engine import make_session_factory
from gateway.db.mms_models import MmsNotification
from gateway.db.threads import DatabaseThreads
from gateway.dispatch.mms_notifications import MmsNotificationSettings
from gateway.dispatch.runner import DispatchRunner, DispatchSettings
from gateway.editions.build import build_edition, edition_settings
from gateway.editions.content_server import build_content_service
from gateway.editions.wap_push import WAP_PUSH_CODING
from gateway.editions.wsp import encode_uintvar
from tests.conftest import REPO_ROOT, free_port
from tests.e2e.test_content_server import get, write_config
from tests.service.dispatch_fixtures import FakeLink, seed_subscribers
from tests.unit.tshark_decoder import dissect, require_tshark, smpp_packets, udp_packet

NOW = datetime(2020, 11, 17, 22, 0, tzinfo=UTC)
EXPIRY = timedelta(hours=72)


@pytest_twisted.ensureDeferred
async def test_two_subscribers_notifications_and_fetches_as_wireshark_reads_them(
        engine: Engine, database_url: str, tmp_path: Path) -> None:
    require_tshark()
    port = free_port()
    config = write_config(tmp_path, port, database_url)
    sessions = make_session_factory(engine)
    for path in sorted((REPO_ROOT / "data" / "articles").iterdir()):
        with sessions.begin() as session:
            ingest_file(session, path, now=NOW)
    built = build_edition(sessions, edition_settings(config), newspaper_date=date(2020, 11, 18),
                          slot="morning", now=NOW)
    with sessions.begin() as session:
        numbers = seed_subscribers(session, 2, message_format="mms")
    writer = DatabaseThreads(sessions, reactor=reactor, threads=1)
    writer.startService()
    reader = read_pool(config, engine, reactor)
    reader.startService()
    content = build_content_service(config, reader, writer, reactor)
    content.startService()
    try:
        link = FakeLink()
        runner = DispatchRunner(database=writer, links={"china_mobile": link}, clock=reactor,
                                settings=DispatchSettings(
                                    node="n", flush_interval=0.01, quiet={},
                                    mms=MmsNotificationSettings(
                                        base_url=config.content.base_url, expiry=EXPIRY)))
        await runner.dispatch(built.edition_id)
        with sessions() as session:
            stored = {row.transaction_id: row for row in session.scalars(select(MmsNotification))}
        assert len(stored) == 2

        seen: dict[str, dict[str, Any]] = {}
        for number in numbers:
            [message] = [m for m in link.sent if m.destination == number]
            frames = smpp_packets([p.payload for p in message.parts], esm_class=0x40,
                                  data_coding=wire_number("smpp", WAP_PUSH_CODING))
            push = dissect(tmp_path, frames, decode_as=["tcp.port==2775,smpp"])
            assert push.first("wsp.header.x_wap_application_id") == "x-wap-application:mms.ua"
            assert push.first("mmse.message_type") == "0x82"
            transaction_id = push.first("mmse.transaction_id")
            location = push.first("mmse.content_location")
            row = stored[transaction_id]
            assert location == f"{config.content.base_url}/mms/{row.token}"
            expires_at = row.expires_at if row.expires_at.tzinfo else row.expires_at.replace(
                tzinfo=UTC)
            # The absolute expiry: the moment this token's content location stops answering.
            [expiry_field] = push.fields("mmse.expiry.abs")
            assert expiry_field.get("show", "").startswith(
                expires_at.strftime("%b %e, %Y %H:%M:%S.000000000 UTC"))
            assert expiry_field.get("value", "").endswith(f"{int(expires_at.timestamp()):08x}")

            # The handset fetches the content location its notification names.
            code, _, body = await get(location)
            assert code == 200
            assert push.first("mmse.message_size") == str(len(body))
            reply = b"\x01\x04\x20" + encode_uintvar(1) + b"\xbe" + body
            fetched = dissect(tmp_path, [udp_packet(reply, src_port=9200, dst_port=40000)])
            assert fetched.first("mmse.message_type") == "0x84"
            assert fetched.first("mmse.transaction_id") == transaction_id
            assert fetched.first("wsp.parameter.upart.type") == "application/smil"
            assert fetched.first("wsp.parameter.start") == "<smil>"
            assert fetched.shows("wsp.header.content_id")[0] == '"<smil>"'
            seen[number] = {"transaction_id": transaction_id, "location": location}
        first, second = (seen[n] for n in numbers)
        assert first["transaction_id"] != second["transaction_id"]
        assert first["location"] != second["location"]
    finally:
        await defer.maybeDeferred(content.stopService)
        reader.stopService()
        writer.stopService()
