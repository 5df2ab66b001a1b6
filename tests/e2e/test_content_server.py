"""The MMS content server over loopback HTTP, reading the stored edition from the database."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest
import pytest_twisted
from sqlalchemy import Engine, text
from sqlalchemy.exc import OperationalError
from twisted.internet import defer, protocol, reactor
from twisted.web.client import Agent
from twisted.web.iweb import UNKNOWN_LENGTH

from gateway.articles.ingest import ingest_file
from gateway.config import GatewayConfig, load_config
from gateway.console.service import read_pool
from gateway.db.engine import make_session_factory
from gateway.editions.build import build_edition, edition_settings
from gateway.editions.content_server import build_content_service, content_site
from gateway.editions.stored import load_edition, load_mms_pdu
from tests.conftest import REPO_ROOT, free_port

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


async def get(url: str) -> tuple[int, dict[bytes, list[bytes]], bytes]:
    """GET ``url``; the status, the headers (Content-Length included) and the body."""
    response = await Agent(reactor).request(b"GET", url.encode())
    done: defer.Deferred[bytes] = defer.Deferred()
    response.deliverBody(_Body(done))
    body = await done
    headers = dict(response.headers.getAllRawHeaders())
    if response.length != UNKNOWN_LENGTH:
        headers[b"Content-Length"] = [str(response.length).encode()]
    return response.code, headers, body


@pytest.fixture
def served(engine: Engine, database_url: str, tmp_path: Path) -> Any:
    """An edition built into the test database and a running content server in front of it,
    reading through the gateway's read-only pool."""
    port = free_port()
    config = write_config(tmp_path, port, database_url)
    sessions = make_session_factory(engine)
    for path in sorted((REPO_ROOT / "data" / "articles").iterdir()):
        with sessions.begin() as session:
            ingest_file(session, path, now=NOW)
    built = build_edition(sessions, edition_settings(config), newspaper_date=date(2020, 11, 18),
                          slot="morning", now=NOW)
    with sessions.begin() as session:
        edition = load_edition(session, date(2020, 11, 18), "morning")
    assert edition is not None
    [render] = [r for r in edition.renders if r.format == "mms"]
    database = read_pool(config, engine, reactor)
    database.startService()
    listener = build_content_service(config, database, reactor)
    listener.startService()
    yield f"http://127.0.0.1:{port}", built.edition_id, render, sessions, database
    pytest_twisted.blockon(defer.maybeDeferred(listener.stopService))
    database.stopService()


@pytest_twisted.ensureDeferred
async def test_the_stored_mms_is_served_at_its_content_location(served: Any) -> None:
    base, edition_id, render, sessions, _ = served
    assert render.content_location == f"{base}/mms/{edition_id}/china_mobile"
    code, headers, body = await get(render.content_location)
    assert code == 200
    assert headers[b"Content-Type"] == [b"application/vnd.wap.mms-message"]
    assert headers[b"Content-Length"] == [str(render.mms_size).encode()]
    assert len(body) == render.mms_size
    assert body.startswith(b"\x8c\x84")  # m-retrieve-conf
    with sessions.begin() as session:
        assert body == load_mms_pdu(session, edition_id, "china_mobile")


@pytest_twisted.ensureDeferred
async def test_the_content_server_pool_cannot_write(served: Any, engine: Engine) -> None:
    if engine.dialect.name != "sqlite":
        pytest.skip("on PostgreSQL the read pool is the writer's engine in other threads")
    *_, database = served
    with pytest.raises(OperationalError, match=r"readonly|read-only|query_only"):
        await database.transaction(lambda session: session.execute(text("DELETE FROM editions")))


@pytest_twisted.ensureDeferred
async def test_anything_else_is_a_plain_404(served: Any) -> None:
    base, edition_id, _, _, _ = served
    for path in (f"/mms/{edition_id + 1}/china_mobile", f"/mms/{edition_id}/china_unicom",
                 f"/mms/{edition_id}/nowhere", "/mms/abc/china_mobile",
                 f"/mms/{edition_id}/china_mobile/more", "/mms", "/", "/favicon.ico"):
        code, headers, body = await get(base + path)
        assert (path, code) == (path, 404)
        assert headers[b"Content-Type"] == [b"text/plain; charset=utf-8"]
        assert body == b"not found\n"


@pytest_twisted.ensureDeferred
async def test_a_failing_database_is_a_500_without_traceback(
    caplog: pytest.LogCaptureFixture,
) -> None:
    class BrokenDatabase:
        def transaction(self, work: Any, *, urgent: bool = False) -> defer.Deferred[Any]:
            return defer.fail(RuntimeError("database is down"))

    port = reactor.listenTCP(0, content_site(BrokenDatabase()),  # type: ignore[arg-type]
                             interface="127.0.0.1")
    try:
        code, _, body = await get(f"http://127.0.0.1:{port.getHost().port}/mms/1/china_mobile")
    finally:
        await port.stopListening()
    assert code == 500 and body == b"internal error\n"
    assert "database is down" in caplog.text

