"""The MMS content server over loopback HTTP: each subscriber's token, what handsets post back,
and the records, against a built edition dispatched to MMS subscribers."""

from __future__ import annotations

import threading
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import pytest_twisted
from sqlalchemy import Engine, select, text, update
from sqlalchemy.exc import OperationalError
from twisted.internet import defer, protocol, reactor, task
from twisted.web.client import Agent, FileBodyProducer
from twisted.web.http_headers import Headers
from twisted.web.iweb import UNKNOWN_LENGTH

from gateway.articles.ingest import ingest_file
from gateway.config import GatewayConfig, load_config
from gateway.console.service import read_pool
from gateway.db.engine import make_session_factory
from gateway.db.mms_models import MmsNotification
from gateway.db.threads import DatabaseThreads
from gateway.dispatch import mms_notifications, store
from gateway.editions.build import build_edition, edition_settings, freeze_edition
from gateway.editions.content_server import build_content_service, content_site
from gateway.editions.handset_records import HandsetRecorder
from gateway.editions.mms_headers import decode_headers
from gateway.editions.stored import load_mms_pdu
from tests.conftest import REPO_ROOT, free_port
from tests.service.dispatch_fixtures import seed_subscribers

NOW = datetime(2020, 11, 17, 22, 0, tzinfo=UTC)


def write_config(tmp_path: Path, port: int, database_url: str) -> GatewayConfig:
    path = tmp_path / "gw.toml"
    path.write_text(f"""
[database]
url = "{database_url}"
[console]
port = {free_port()}
[metrics]
port = {free_port()}
[newspaper]
name = "山东手机报"
price = "3元/月"
signature = "山东手机报"
[carriers.china_mobile]
short_code = "10658000"
[carriers.china_mobile.link]
port = 2775
system_id = "gw"
password = "pw"
[content]
port = {port}
base_url = "http://127.0.0.1:{port}"
""", encoding="utf-8")
    return load_config(path)


class _Body(protocol.Protocol):
    def __init__(self, done: defer.Deferred[bytes]) -> None:
        self.done = done
        self.chunks: list[bytes] = []

    def dataReceived(self, data: bytes) -> None:
        self.chunks.append(data)

    def connectionLost(self, reason: Any = None) -> None:
        self.done.callback(b"".join(self.chunks))


async def request(method: bytes, url: str, body: bytes | None = None,
                  headers: dict[bytes, list[bytes]] | None = None,
                  ) -> tuple[int, dict[bytes, list[bytes]], bytes]:
    """One request; the status, the headers (Content-Length included) and the body."""
    import io

    producer = FileBodyProducer(io.BytesIO(body)) if body is not None else None
    response = await Agent(reactor).request(method, url.encode(), Headers(headers or {}),
                                            producer)
    done: defer.Deferred[bytes] = defer.Deferred()
    response.deliverBody(_Body(done))
    data = await done
    found = dict(response.headers.getAllRawHeaders())
    if response.length != UNKNOWN_LENGTH:
        found[b"Content-Length"] = [str(response.length).encode()]
    return response.code, found, data


async def get(url: str, agent: bytes = b"TestPhone/1.0 MMS") -> tuple[int, dict, bytes]:
    return await request(b"GET", url, headers={b"User-Agent": [agent]})


def notifyresp(transaction_id: str, status: int = 0x81) -> bytes:
    """An m-notifyresp-ind written out by hand (OMA MMS 1.2 §6.2): type, id, version, status."""
    return b"\x8c\x83\x98" + transaction_id.encode() + b"\x00\x8d\x92\x95" + bytes((status,))


def acknowledge(transaction_id: str) -> bytes:
    """An m-acknowledge-ind (§6.4): type, id, version, report allowed."""
    return b"\x8c\x85\x98" + transaction_id.encode() + b"\x00\x8d\x92\x91\x80"


def rows(sessions: Any) -> dict[str, MmsNotification]:
    with sessions() as session:
        return {row.token: row for row in session.scalars(select(MmsNotification))}


@pytest.fixture
def served(engine: Engine, database_url: str, tmp_path: Path) -> Any:
    """An edition built into the test database, dispatched to three MMS subscribers (their
    notifications made as the runner makes them), and a running content server reading
    through the gateway's read-only pool and recording through its writer."""
    port = free_port()
    config = write_config(tmp_path, port, database_url)
    sessions = make_session_factory(engine)
    for path in sorted((REPO_ROOT / "data" / "articles").iterdir()):
        with sessions.begin() as session:
            ingest_file(session, path, now=NOW)
    built = build_edition(sessions, edition_settings(config), newspaper_date=date(2020, 11, 18),
                          slot="morning", now=NOW)
    now = datetime.now(UTC)
    with sessions.begin() as session:
        seed_subscribers(session, 3, message_format="mms")
        freeze_edition(session, built.edition_id, now=now)
        dispatch_id = store.create_dispatch(session, edition_id=built.edition_id,
                                            carrier="china_mobile", cutoff=now,
                                            deadline=now + timedelta(hours=1), now=now)
        store.materialise(session, dispatch_id, now=now)
        settings = mms_notifications.MmsNotificationSettings(
            base_url=config.content.base_url, expiry=timedelta(hours=72))
        announcer = mms_notifications.load_announcer(
            session, dispatch_id=dispatch_id, edition_id=built.edition_id,
            carrier="china_mobile", settings=settings, now=now)
        assert announcer is not None
        ids = [d for (d,) in session.execute(text("SELECT id FROM deliveries ORDER BY id"))]
        mms_notifications.prepare(session, announcer, ids, now=now)
    reader = read_pool(config, engine, reactor)
    reader.startService()
    writer = DatabaseThreads(sessions, reactor=reactor, threads=1)
    writer.startService()
    content = build_content_service(config, reader, writer, reactor)
    content.startService()
    recorder = content.getServiceNamed("mms-handset-records")
    yield (f"http://127.0.0.1:{port}", built.edition_id, sessions, reader, writer, recorder)
    pytest_twisted.blockon(defer.maybeDeferred(content.stopService))
    reader.stopService()
    writer.stopService()


@pytest_twisted.ensureDeferred
async def test_each_token_serves_the_edition_with_its_own_transaction_id(served: Any) -> None:
    base, edition_id, sessions, _, _, recorder = served
    notifications = rows(sessions)
    assert len(notifications) == 3
    with sessions() as session:
        stored = load_mms_pdu(session, edition_id, "china_mobile")
    assert stored is not None
    bodies = []
    for token, row in notifications.items():
        code, headers, body = await get(f"{base}/mms/{token}", agent=f"Phone-{token[:4]}".encode())
        assert code == 200
        assert headers[b"Content-Type"] == [b"application/vnd.wap.mms-message"]
        assert headers[b"Content-Length"] == [str(len(body)).encode()]
        fields = decode_headers(body)
        assert fields.message_type_name == "m-retrieve-conf"
        assert fields.transaction_id == row.transaction_id
        # Apart from the transaction id, the stored edition, octet for octet.
        start, end = fields.transaction_id_span  # type: ignore[misc]
        stored_fields = decode_headers(stored)
        s_start, s_end = stored_fields.transaction_id_span  # type: ignore[misc]
        assert body[:start] == stored[:s_start] and body[end:] == stored[s_end:]
        bodies.append(body)
    assert len(set(bodies)) == 3
    first_token = next(iter(notifications))
    await get(f"{base}/mms/{first_token}", agent=b"Other/2.0")
    await recorder.flush()
    after = rows(sessions)
    assert after[first_token].retrievals == 2
    assert after[first_token].user_agent == "Other/2.0"
    assert after[first_token].first_retrieved_at is not None
    assert after[first_token].last_retrieved_at >= after[first_token].first_retrieved_at
    for token, row in after.items():
        if token != first_token:
            assert row.retrievals == 1 and row.user_agent == f"Phone-{token[:4]}"


@pytest_twisted.ensureDeferred
async def test_expired_unknown_and_enumerating_requests_are_a_plain_404(served: Any) -> None:
    base, edition_id, sessions, _, _, recorder = served
    expired, *_ = rows(sessions)
    with sessions.begin() as session:
        session.execute(update(MmsNotification).where(MmsNotification.token == expired)
                        .values(expires_at=datetime.now(UTC) - timedelta(seconds=1)))
    for path in (f"/mms/{expired}", "/mms/" + "A" * 24, "/mms/" + "0" * 24,
                 f"/mms/{edition_id}/china_mobile", f"/mms/{edition_id}", "/mms/abc",
                 f"/mms/{expired}/more", f"/mms/{expired[:-1]}", "/mms", "/", "/favicon.ico"):
        code, headers, body = await get(base + path)
        assert (path, code) == (path, 404)
        assert headers[b"Content-Type"] == [b"text/plain; charset=utf-8"]
        assert body == b"not found\n"
    await recorder.flush()
    assert all(row.retrievals == 0 for row in rows(sessions).values())


@pytest_twisted.ensureDeferred
async def test_handset_reports_are_matched_by_transaction_id_and_recorded(served: Any) -> None:
    base, _, sessions, _, _, recorder = served
    (t1, r1), (t2, r2), (t3, _) = rows(sessions).items()
    kind = {b"Content-Type": [b"application/vnd.wap.mms-message"]}
    code, _, body = await request(b"POST", f"{base}/mms", notifyresp(r1.transaction_id), kind)
    assert (code, body) == (204, b"")
    code, _, _ = await request(b"POST", f"{base}/mms", notifyresp(r2.transaction_id, 0x83), kind)
    assert code == 204  # deferred: not retrieved yet
    code, _, _ = await request(b"POST", f"{base}/mms", acknowledge(r2.transaction_id), kind)
    assert code == 204
    code, _, body = await request(b"POST", f"{base}/mms", notifyresp("f" * 24), kind)
    assert (code, body) == (404, b"unknown transaction\n")
    await recorder.flush()
    after = rows(sessions)
    assert after[t1].response_status == "retrieved" and after[t1].acknowledged_at is not None
    assert after[t2].response_status == "deferred" and after[t2].acknowledged_at is not None
    assert after[t2].responded_at is not None
    assert after[t3].response_status is None and after[t3].acknowledged_at is None


@pytest.mark.parametrize("body", [
    b"", b"\x00", b"hello", b"\x8c\x83", b"\x8c\x83\x98abc",  # truncated transaction id
    b"\x8c\x83\x98abc\x00\x8d\x92",  # notifyresp without its status
    b"\x8c\x85\x8d\x92",  # acknowledge without a transaction id
    b"\x8c\x82\x98abc\x00\x8d\x92",  # a notification, not a handset report
    b"\x8c\x83\x98abc\x00\x8d\x92\x95\x81\x89\x1f",  # a value length cut off
])
@pytest_twisted.ensureDeferred
async def test_a_malformed_report_is_400_logged_and_changes_nothing(
        served: Any, body: bytes, caplog: pytest.LogCaptureFixture) -> None:
    base, _, sessions, _, _, recorder = served
    before = {t: (r.response_status, r.acknowledged_at) for t, r in rows(sessions).items()}
    code, _, answer = await request(b"POST", f"{base}/mms", body)
    assert code == 400 and answer.startswith(b"bad request: ")
    assert "malformed MMS handset report" in caplog.text
    await recorder.flush()
    assert {t: (r.response_status, r.acknowledged_at) for t, r in rows(sessions).items()} == before


@pytest_twisted.ensureDeferred
async def test_an_oversized_report_is_refused(served: Any) -> None:
    base, _, sessions, _, _, _ = served
    (_, row), *_ = rows(sessions).items()
    code, _, _ = await request(b"POST", f"{base}/mms",
                               notifyresp(row.transaction_id) + b"\x00" * 5000)
    assert code == 413
    code, _, _ = await request(b"POST", f"{base}/mms/{'A' * 24}", notifyresp(row.transaction_id))
    assert code == 404


@pytest_twisted.ensureDeferred
async def test_a_fetch_never_waits_for_the_writer(served: Any, engine: Engine) -> None:
    """While the writer is busy (holding SQLite's write lock, or a PostgreSQL row lock on the
    notifications), fetches are answered at once; their records are written afterwards."""
    base, _, sessions, _, writer, recorder = served
    (token, _), *_ = rows(sessions).items()
    held = threading.Event()
    release = threading.Event()

    def busy(session: Any) -> None:
        session.execute(update(MmsNotification).values(user_agent="writer"))
        held.set()
        release.wait(20)

    blocking = writer.transaction(busy)
    while not held.is_set():
        await task.deferLater(reactor, 0.01, lambda: None)
    try:
        started = time.monotonic()
        for _ in range(3):
            code, _, _ = await get(f"{base}/mms/{token}", agent=b"Waiting/1")
            assert code == 200
        assert time.monotonic() - started < 5
    finally:
        release.set()
    await blocking
    await recorder.flush()
    assert rows(sessions)[token].retrievals == 3
    assert rows(sessions)[token].user_agent == "Waiting/1"


@pytest_twisted.ensureDeferred
async def test_the_content_server_pool_cannot_write(served: Any, engine: Engine) -> None:
    if engine.dialect.name != "sqlite":
        pytest.skip("on PostgreSQL the read pool is the writer's engine in other threads")
    _, _, _, reader, _, _ = served
    with pytest.raises(OperationalError, match=r"readonly|read-only|query_only"):
        await reader.transaction(lambda session: session.execute(text("DELETE FROM editions")))


@pytest_twisted.ensureDeferred
async def test_a_failing_database_is_a_500_without_traceback(
    caplog: pytest.LogCaptureFixture,
) -> None:
    class BrokenDatabase:
        def transaction(self, work: Any, *, urgent: bool = False) -> defer.Deferred[Any]:
            return defer.fail(RuntimeError("database is down"))

    recorder = HandsetRecorder(BrokenDatabase(), reactor)  # type: ignore[arg-type]
    site = content_site(BrokenDatabase(), recorder,  # type: ignore[arg-type]
                        lambda: datetime.now(UTC))
    port = reactor.listenTCP(0, site, interface="127.0.0.1")
    try:
        code, _, body = await get(f"http://127.0.0.1:{port.getHost().port}/mms/{'A' * 24}")
        post, _, _ = await request(b"POST", f"http://127.0.0.1:{port.getHost().port}/mms",
                                   notifyresp("a" * 24))
    finally:
        await port.stopListening()
    assert code == 500 and body == b"internal error\n"
    assert post == 500
    assert "database is down" in caplog.text
