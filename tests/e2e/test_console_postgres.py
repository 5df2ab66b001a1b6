"""The console of a gateway on PostgreSQL: every page and table answers, figures equal the
database (the browser and security tests run the same gateway on SQLite)."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator

import pytest
from sqlalchemy import create_engine, func, select, text

from gateway.db.dispatch_models import Delivery
from gateway.db.models import Subscriber
from tests.e2e.console_gateway import ADMIN, HTML_NUMBER, RunningGateway, populated_gateway
from tests.e2e.test_console_security import TABLES, Browserless


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory, postgres_server_url: str | None
            ) -> Iterator[RunningGateway]:
    if postgres_server_url is None:
        pytest.skip("set SDGW_TEST_POSTGRES_URL to run the console on PostgreSQL")
    admin = create_engine(postgres_server_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:  # our own test database (conftest made it)
        connection.execute(text("DROP SCHEMA IF EXISTS public CASCADE"))
        connection.execute(text("CREATE SCHEMA public"))
    admin.dispose()
    with populated_gateway(tmp_path_factory.mktemp("console-pg"), postgres_server_url) as gw:
        yield gw


def test_every_page_and_table_answers_on_postgresql(gateway: RunningGateway) -> None:
    assert gateway.database_url.startswith("postgresql")
    client = Browserless(gateway.url)
    assert client.login(*ADMIN).status == 303
    edition = gateway.edition_id
    pages = ["/", "/?days=90", "/editions", f"/editions/{edition}",
             f"/editions/{edition}/deliveries?carrier=china_unicom&status=delivered",
             f"/subscribers?number={HTML_NUMBER}", "/messages",
             "/messages?direction=mt&status=delivered", "/audit"]
    arguments = {"subscriber": f"?number={HTML_NUMBER}",
                 "deliveries": f"?edition={edition}&carrier=china_mobile"}
    for name in TABLES:
        pages += [f"/api/{name}{arguments.get(name, '')}",
                  f"/export/{name}.csv{arguments.get(name, '')}"]
    for page in pages:
        answer = client.get(page)
        assert answer.status == 200, (page, answer.text[:300])


def test_figures_equal_the_postgresql_database(gateway: RunningGateway) -> None:
    client = Browserless(gateway.url)
    assert client.login(*ADMIN).status == 303
    active = gateway.read(lambda s: dict(s.execute(
        select(Subscriber.carrier, func.count()).where(Subscriber.status == "active")
        .group_by(Subscriber.carrier)).all()))
    delivered = gateway.read(lambda s: dict(s.execute(
        select(Delivery.carrier, func.count()).where(Delivery.status == "delivered")
        .group_by(Delivery.carrier)).all()))
    for _ in range(50):  # the figures are refreshed every STATS_INTERVAL seconds
        carriers = json.loads(client.get("/api/carriers").body)
        editions = json.loads(client.get("/api/editions").body)["rows"]
        shown_active = {row["carrier"]: row["active"] for row in carriers["rows"]}
        # A carrier whose few deliveries all drew UNDELIV/EXPIRED from the simulators' mix
        # shows 0 on the page and has no row in the database's GROUP BY.
        shown_delivered = {row["carrier"]: row["delivered"] for row in editions
                           if row["delivered"]}
        if shown_active == active and shown_delivered == delivered:
            break
        time.sleep(0.2)
    assert shown_active == active
    statuses = gateway.read(lambda s: s.execute(
        select(Delivery.carrier, Delivery.status, func.count())
        .group_by(Delivery.carrier, Delivery.status)).all())
    assert shown_delivered == delivered, statuses
