"""The operator console in headless Chromium against a real `sdgw run` (a subprocess),
filled through the real paths (see :mod:`tests.e2e.console_gateway`): every page renders
without errors, the figures shown are the database's, exports download, numbers are masked
for viewers, text from handsets is shown as text, and admin actions are audited."""

from __future__ import annotations

import csv
import io
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, quote, urlsplit

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from gateway.console.rollup import classify_transition
from gateway.db.console_models import AuditEntry, Operator
from gateway.db.dispatch_models import Delivery, Dispatch
from gateway.db.mms_models import MmsNotification
from gateway.db.models import InboundMessage, OutboundMessage, Subscriber, SubscriptionEvent
from gateway.states import DELIVERY_GROUPS, DeliveryGroup
from tests.e2e.console_gateway import (
    ADMIN,
    HTML_NUMBER,
    HTML_TEXT,
    MASKED_HTML_NUMBER,
    MMS,
    SUBSCRIBED,
    TO_UNSUBSCRIBE,
    VIEWER,
    RunningGateway,
    populated_gateway,
)

CARRIERS = tuple(SUBSCRIBED)
LABELS = {"china_mobile": "中国移动", "china_unicom": "中国联通", "china_telecom": "中国电信"}
FAILED = DELIVERY_GROUPS[DeliveryGroup.FAILED]
"""Delivery statuses the console counts as failed (expired included)."""
SETTLE_SECONDS = 10.0
"""How long the figures may lag the database (the refresh runs every 0.5 s here)."""
SQL_LOOKING = ("' OR 1=1 --", "13800138000'; DROP TABLE subscribers; --",
               "1 UNION SELECT password_hash FROM operators")
REASON = "hotline call 2020-11-18, ref. <HL-4711>"


@dataclass
class Tab:
    """A logged-in page and what its console reported."""

    page: Any
    errors: list[str] = field(default_factory=list)


def _open_tab(browser: Any, gateway: RunningGateway) -> Tab:
    context = browser.new_context(base_url=gateway.url, accept_downloads=True,
                                  viewport={"width": 1280, "height": 900}, locale="zh-CN")
    context.set_default_timeout(10_000)
    tab = Tab(page=context.new_page())
    tab.page.on("console", lambda message: tab.errors.append(
        f"console {message.type}: {message.text}") if message.type == "error" else None)
    tab.page.on("pageerror", lambda error: tab.errors.append(f"page error: {error}"))
    return tab


def _follow(tab: Tab, action: Callable[[], Any]) -> Any:
    """Runs ``action`` (a click) and returns the response of the navigation it causes."""
    with tab.page.expect_navigation() as navigation:
        action()
    return navigation.value


def _log_in(browser: Any, gateway: RunningGateway, name: str, password: str) -> Tab:
    tab = _open_tab(browser, gateway)
    tab.page.goto("/login")
    tab.page.fill("#name", name)
    tab.page.fill("#password", password)
    response = _follow(tab, lambda: tab.page.click("#login"))
    assert response.status == 200 and urlsplit(tab.page.url).path == "/", tab.page.url
    return tab


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory, chromium_available: None
            ) -> Iterator[RunningGateway]:
    with populated_gateway(tmp_path_factory.mktemp("console-browser")) as running:
        yield running


@pytest.fixture(scope="module")
def admin(browser: Any, gateway: RunningGateway) -> Iterator[Tab]:
    tab = _log_in(browser, gateway, *ADMIN)
    yield tab
    tab.page.context.close()


@pytest.fixture(scope="module")
def viewer(browser: Any, gateway: RunningGateway) -> Iterator[Tab]:
    tab = _log_in(browser, gateway, *VIEWER)
    yield tab
    tab.page.context.close()


def _n(value: int) -> str:
    return f"{value:,}"


def _percent(numerator: int, denominator: int) -> str:
    return f"{numerator / denominator * 100:.1f}%" if denominator else "–"


def _settled(tab: Tab, path: str, expected: Callable[[], dict[str, str]]) -> dict[str, str]:
    """Reloads ``path`` until every selector of ``expected()`` shows its text (the summary
    tables are refreshed in the background); fails with the difference after a while."""
    deadline = time.monotonic() + SETTLE_SECONDS
    while True:
        tab.page.goto(path)
        wanted = expected()
        shown = {selector: tab.page.inner_text(selector).strip() for selector in wanted}
        if shown == wanted or time.monotonic() > deadline:
            assert shown == wanted
            return shown
        time.sleep(0.25)


# -- what the database says ---------------------------------------------------------------------

def _subscriber_counts(session: Session) -> dict[tuple[str, str], int]:
    return {(carrier, status): count for carrier, status, count in session.execute(
        select(Subscriber.carrier, Subscriber.status, func.count())
        .group_by(Subscriber.carrier, Subscriber.status))}


def _active_mms(session: Session) -> dict[str, int]:
    return {carrier: count for carrier, count in session.execute(
        select(Subscriber.carrier, func.count())
        .where(Subscriber.status == "active", Subscriber.message_format == "mms")
        .group_by(Subscriber.carrier))}


def _dashboard_in_database(session: Session) -> dict[str, str]:
    counts = _subscriber_counts(session)
    figures = Counter()
    for old, new in session.execute(select(SubscriptionEvent.old_status,
                                           SubscriptionEvent.new_status)):
        kind = classify_transition(old, new)
        if kind is not None:
            figures[kind] += 1
    active = sum(counts.get((c, "active"), 0) for c in CARRIERS)
    at_start = max(active - figures["confirmations"] + figures["unsubscriptions"], 0)
    texts = {
        "#total-active": _n(active),
        "#period-requests": _n(figures["requests"]),
        "#period-confirmations": _n(figures["confirmations"]),
        "#period-unsubscriptions": _n(figures["unsubscriptions"]),
        "#conversion": _percent(figures["confirmations"], figures["requests"]),
        "#churn": _percent(figures["unsubscriptions"], at_start),
    }
    for carrier in CARRIERS:
        texts[f"#active-{carrier}"] = _n(counts.get((carrier, "active"), 0))
        for status in ("active", "pending", "cancelled"):
            texts[f'table#carriers tr[data-carrier="{carrier}"] td.{status}'] = _n(
                counts.get((carrier, status), 0))
    return texts


def _deliveries_in_database(session: Session) -> dict[int, dict[str, Any]]:
    """Per dispatch: its carrier and its deliveries' total, delivered and failed."""
    found: dict[int, dict[str, Any]] = {}
    for dispatch_id, carrier in session.execute(select(Dispatch.id, Dispatch.carrier)):
        found[dispatch_id] = {"carrier": carrier, "total": 0, "delivered": 0, "failed": 0,
                              "mms": 0}
    for dispatch_id, count in session.execute(
            select(MmsNotification.dispatch_id, func.count())
            .group_by(MmsNotification.dispatch_id)):
        found[dispatch_id]["mms"] = count
    for dispatch_id, status, count in session.execute(
            select(Delivery.dispatch_id, Delivery.status, func.count())
            .group_by(Delivery.dispatch_id, Delivery.status)):
        figures = found[dispatch_id]
        figures["total"] += count
        if status == "delivered":
            figures["delivered"] += count
        elif status in FAILED:
            figures["failed"] += count
    return found


def _dispatch_texts(gateway: RunningGateway, table: str) -> dict[str, str]:
    texts = {}
    for dispatch_id, figures in gateway.read(_deliveries_in_database).items():
        row = (f'table#{table} tr[data-dispatch="{dispatch_id}"]'
               f'[data-carrier="{figures["carrier"]}"]')
        for column in ("total", "delivered", "failed"):
            texts[f"{row} td.{column}"] = _n(figures[column])
        texts[f"{row} td.rate"] = _percent(figures["delivered"], figures["total"])
        # MMS subscribers: each got a notification of its own (none fetched it here).
        texts[f"{row} td.mms-notifications"] = _n(figures["mms"])
        texts[f"{row} td.mms-retrieved"] = _n(0)
    return texts


# -- tests -------------------------------------------------------------------------------------

def test_a_wrong_password_shows_the_generic_error(browser: Any, gateway: RunningGateway
                                                   ) -> None:
    tab = _open_tab(browser, gateway)
    try:
        for name in (ADMIN[0], "nobody-of-that-name"):
            tab.page.goto("/login")
            tab.page.fill("#name", name)
            tab.page.fill("#password", "not-the-password")
            response = _follow(tab, lambda: tab.page.click("#login"))
            assert response.status == 401
            assert tab.page.inner_text("#login-message") == "Wrong name or password."
            assert urlsplit(tab.page.url).path == "/login"
        assert not [c for c in tab.page.context.cookies() if c["name"] == "sdgw_session"]
    finally:
        tab.page.context.close()


def test_every_page_renders_without_errors(admin: Tab, gateway: RunningGateway,
                                           screenshots: Path) -> None:
    page = admin.page
    shots: list[str] = []

    def shown(response: Any, name: str) -> None:
        assert response is not None and response.status == 200, (name, response)
        assert page.locator("#error-message").count() == 0, name
        assert "internal error" not in page.content(), name
        shots.append(name)
        page.screenshot(path=str(screenshots / f"console-{len(shots):02d}-{name}.png"),
                        full_page=True)
        assert admin.errors == [], (name, admin.errors)

    def nav(label: str) -> Any:
        return _follow(admin, lambda: page.click(f"header.nav a:text-is('{label}')"))

    shown(page.goto("/"), "dashboard-30-days")
    assert page.locator("#daily-chart svg").count() == 1
    assert page.locator("table#latest-dispatches tr[data-dispatch]").count() == 3
    shown(_follow(admin, lambda: page.click("#days-90")), "dashboard-90-days")
    assert "90 days" in page.inner_text("table#period")
    assert page.locator("#daily-chart svg").is_visible()

    shown(nav("Editions"), "editions")
    assert page.locator("table#dispatches tr[data-dispatch]").count() == 3
    shown(_follow(admin, lambda: page.click(
        f'table#dispatches a[href="/editions/{gateway.edition_id}"] >> nth=0')), "edition")
    for carrier in CARRIERS:
        parts = page.locator(f"section#preview-{carrier}-sms pre.sms").all_inner_texts()
        assert parts and all(part.strip() for part in parts), carrier

    shown(_follow(admin, lambda: page.click(
        'table#dispatches tr[data-carrier="china_mobile"] a[href*="/deliveries"]')),
        "edition-deliveries")
    delivered = gateway.read(lambda s: s.scalar(
        select(func.count()).select_from(Delivery).where(Delivery.carrier == "china_mobile")))
    assert page.locator("table#deliveries tbody tr").count() == delivered > 0

    shown(nav("Subscribers"), "subscriber-lookup-empty")
    page.fill("#number", HTML_NUMBER)
    shown(_follow(admin, lambda: page.click("#lookup")), "subscriber-lookup")
    assert page.inner_text("#subscriber-number") == HTML_NUMBER

    shown(nav("Messages"), "messages")
    first = page.locator("table#history tbody tr").count()
    total = gateway.read(lambda s: sum(s.scalar(select(func.count()).select_from(model))
                                       for model in (InboundMessage, OutboundMessage)))
    assert page.locator("#older").count() == (1 if total > first else 0)
    seen = first
    while page.locator("#older").count():
        shown(_follow(admin, lambda: page.click("#older")), f"messages-older-{seen}")
        seen += page.locator("table#history tbody tr").count()
    assert seen == total

    shown(nav("Messages"), "messages-again")
    page.select_option("#carrier", "china_telecom")
    page.select_option("#direction", "mt")
    page.fill("#status", "delivered")
    shown(_follow(admin, lambda: page.click("#filter")), "messages-filtered")
    wanted = gateway.read(lambda s: s.scalar(
        select(func.count()).select_from(OutboundMessage).where(
            OutboundMessage.carrier == "china_telecom", OutboundMessage.status == "delivered")))
    rows = page.locator("table#history tbody tr.kind-mt")
    assert rows.count() == wanted > 0
    assert set(page.locator("table#history tbody tr td:nth-child(3)").all_inner_texts()) == {
        LABELS["china_telecom"]}
    assert parse_qs(urlsplit(page.url).query) == {
        "carrier": ["china_telecom"], "direction": ["mt"], "status": ["delivered"]}

    shown(nav("Audit log"), "audit")
    assert page.locator("table#audit tbody tr").count() >= 1
    assert set(shots) >= {"dashboard-30-days", "dashboard-90-days", "editions", "edition",
                          "subscriber-lookup", "messages", "messages-filtered", "audit"}


def test_the_figures_shown_are_the_databases(admin: Tab, gateway: RunningGateway) -> None:
    _settled(admin, "/?days=30", lambda: gateway.read(_dashboard_in_database))
    _settled(admin, "/", lambda: _dispatch_texts(gateway, "latest-dispatches"))
    _settled(admin, "/editions", lambda: _dispatch_texts(gateway, "dispatches"))
    assert gateway.read(lambda s: s.scalar(select(func.count()).select_from(Delivery))) > 0
    counts = gateway.read(_subscriber_counts)
    active = [counts.get((carrier, "active"), 0) for carrier in CARRIERS]
    assert len(set(active)) == len(CARRIERS), f"the counts should tell carriers apart: {active}"


def _download(tab: Tab, selector: str) -> tuple[Any, list[list[str]]]:
    with tab.page.expect_download() as started:
        tab.page.click(selector)
    download = started.value
    data = Path(download.path()).read_bytes()
    assert data.startswith(b"\xef\xbb\xbf"), data[:20]
    return download, list(csv.reader(io.StringIO(data.decode("utf-8")[1:])))


def test_csv_exports_download_what_the_pages_show(admin: Tab, gateway: RunningGateway) -> None:
    _settled(admin, "/", lambda: gateway.read(_dashboard_in_database))
    download, rows = _download(admin, "#export-carriers")
    assert download.suggested_filename == "sdgw-carriers.csv"
    assert rows[0] == ["carrier", "label", "active", "pending", "cancelled", "active_sms",
                       "active_mms"]
    counts = gateway.read(_subscriber_counts)
    mms = gateway.read(_active_mms)
    assert sum(mms.values()) == len(MMS)
    assert rows[1:] == [[c, LABELS[c], *(str(counts.get((c, s), 0))
                                          for s in ("active", "pending", "cancelled")),
                         str(counts.get((c, "active"), 0) - mms.get(c, 0)), str(mms.get(c, 0))]
                        for c in CARRIERS]
    for carrier, _, active, pending, cancelled, active_sms, active_mms in rows[1:]:
        row = admin.page.locator(f'table#carriers tr[data-carrier="{carrier}"]')
        columns = ("active", "pending", "cancelled", "active-sms", "active-mms")
        assert [row.locator(f"td.{c}").inner_text() for c in columns] == [
            _n(int(v)) for v in (active, pending, cancelled, active_sms, active_mms)]

    _settled(admin, "/editions", lambda: _dispatch_texts(gateway, "dispatches"))
    download, rows = _download(admin, "#export-editions")
    assert download.suggested_filename == "sdgw-editions.csv"
    header = rows[0]
    assert {"dispatch_id", "carrier", "total", "delivered", "failed"} <= set(header)
    exported = {int(row[header.index("dispatch_id")]): {
        name: row[header.index(name)] for name in ("carrier", "total", "delivered", "failed")}
        | {"mms": row[header.index("mms_notifications")]}
        for row in rows[1:]}
    assert exported == {dispatch_id: {k: str(v) for k, v in figures.items()}
                        for dispatch_id, figures in gateway.read(_deliveries_in_database).items()}


def _history(tab: Tab) -> list[dict[str, str]]:
    names = ("time", "kind", "carrier", "number", "text", "status", "detail")
    return [dict(zip(names, row.locator("td").all_inner_texts(), strict=True))
            for row in tab.page.locator("table#history tbody tr").all()]


def _look_up(tab: Tab, number: str) -> Any:
    tab.page.goto("/subscribers")
    tab.page.fill("#number", number)
    return _follow(tab, lambda: tab.page.click("#lookup"))


def test_an_admin_looks_up_a_subscriber_with_the_whole_history(
    admin: Tab, gateway: RunningGateway
) -> None:
    assert _look_up(admin, HTML_NUMBER).status == 200
    assert admin.page.inner_text("#subscriber-number") == HTML_NUMBER
    status = gateway.read(lambda s: s.scalar(
        select(Subscriber.status).where(Subscriber.msisdn == HTML_NUMBER)))
    assert admin.page.inner_text("#subscriber-status") == status == "active"
    history = _history(admin)
    assert {row["number"] for row in history} == {HTML_NUMBER}
    mos = gateway.read(lambda s: s.execute(
        select(InboundMessage.text, InboundMessage.outcome)
        .where(InboundMessage.source_addr == HTML_NUMBER)).all())
    assert Counter((r["text"], r["status"]) for r in history if r["kind"] == "MO") == Counter(
        (text, outcome or "unprocessed") for text, outcome in mos)
    assert {"SD", "Y", HTML_TEXT} <= {text for text, _ in mos}
    mts = gateway.read(lambda s: s.scalars(
        select(OutboundMessage.status).where(OutboundMessage.destination_addr == HTML_NUMBER)
    ).all())
    assert Counter(r["status"] for r in history if r["kind"] == "MT") == Counter(mts)
    assert len(mts) >= 3 and "delivered" in mts
    digests = gateway.read(lambda s: s.scalars(
        select(Delivery.status).where(Delivery.msisdn == HTML_NUMBER)).all())
    assert Counter(r["status"] for r in history if r["kind"] == "DIGEST") == Counter(digests)
    assert len(digests) == 1
    assert admin.page.locator("#unsubscribe").count() == 1


def test_a_viewer_sees_masked_numbers_and_no_admin_controls(
    viewer: Tab, gateway: RunningGateway
) -> None:
    page = viewer.page
    assert _look_up(viewer, HTML_NUMBER).status == 200
    assert page.inner_text("#subscriber-number") == MASKED_HTML_NUMBER
    history = _history(viewer)
    assert len(history) > 3 and {row["number"] for row in history} == {MASKED_HTML_NUMBER}
    assert page.locator("#unsubscribe").count() == 0
    assert page.locator("#reason").count() == 0
    assert page.locator('form[action="/subscribers/unsubscribe"]').count() == 0
    assert page.locator('header.nav a[href="/audit"]').count() == 0
    # What the viewer typed is echoed in the lookup field and the export link; nothing else.
    echoed = page.content().replace(f'value="{HTML_NUMBER}"', "").replace(
        f"number={HTML_NUMBER}", "")
    assert HTML_NUMBER not in echoed

    everyone = [n for numbers in SUBSCRIBED.values() for n in numbers]
    assert page.goto("/messages").status == 200
    assert page.locator("table#history tbody tr").count() > 10
    html = page.content()
    assert not [n for n in everyone if n in html]
    assert page.goto("/").status == 200 and page.goto("/editions").status == 200

    audit = page.goto("/audit")
    assert audit.status == 403
    assert "admin role" in page.inner_text("#error-message")
    assert page.locator("table#audit").count() == 0


def test_a_viewers_lookup_page_never_holds_the_whole_number(viewer: Tab) -> None:
    assert _look_up(viewer, HTML_NUMBER).status == 200
    assert viewer.page.inner_text("#subscriber-number") == MASKED_HTML_NUMBER
    assert HTML_NUMBER not in viewer.page.content()


def test_html_in_an_mo_is_shown_as_text(admin: Tab) -> None:
    page = admin.page
    for path in (f"/subscribers?number={HTML_NUMBER}",
                 "/messages?carrier=china_mobile&direction=mo"):
        assert page.goto(path).status == 200
        texts = page.locator("table#history td.text").all_inner_texts()
        assert HTML_TEXT in texts, path
        assert page.evaluate("window.__pwned") is None, path
        assert page.locator("table#history b", has_text="bold").count() == 0, path
        assert page.locator("table#history script").count() == 0, path
    assert admin.errors == []


def test_sql_looking_input_is_not_a_number(admin: Tab, gateway: RunningGateway) -> None:
    def tables(session: Session) -> tuple[int, int, int]:
        return tuple(session.scalar(select(func.count()).select_from(model))
                     for model in (Subscriber, Operator, InboundMessage))

    before = gateway.read(tables)
    for text in SQL_LOOKING:
        response = _look_up(admin, text)
        assert response.status == 200, text
        assert admin.page.inner_text("#lookup-error").startswith("Not a mobile number"), text
        assert admin.page.locator("table#subscriber").count() == 0
        assert admin.page.locator("table#history").count() == 0
        assert admin.page.input_value("#number") == text.strip()
        api = admin.page.request.get(f"/api/subscriber?number={quote(text)}")
        assert api.status == 400 and "Not a mobile number" in api.json()["error"]
    assert gateway.read(tables) == before


def test_an_admin_unsubscribes_a_number_with_a_reason(
    admin: Tab, gateway: RunningGateway, screenshots: Path
) -> None:
    page = admin.page
    assert _look_up(admin, TO_UNSUBSCRIBE).status == 200
    assert page.inner_text("#subscriber-status") == "active"
    page.fill("#reason", REASON)
    response = _follow(admin, lambda: page.click("#unsubscribe"))
    assert response.status == 200
    assert urlsplit(page.url).path == "/subscribers"
    assert "active → cancelled" in page.inner_text("#flash")
    assert page.inner_text("#subscriber-status") == "cancelled"
    assert page.locator("#unsubscribe").count() == 0
    page.screenshot(path=str(screenshots / "console-unsubscribed.png"), full_page=True)

    assert gateway.read(lambda s: s.scalar(
        select(Subscriber.status).where(Subscriber.msisdn == TO_UNSUBSCRIBE))) == "cancelled"
    entries = gateway.read(lambda s: s.execute(
        select(AuditEntry.operator, AuditEntry.target, AuditEntry.reason)
        .where(AuditEntry.action == "unsubscribe")).all())
    assert entries == [(ADMIN[0], f"subscriber {TO_UNSUBSCRIBE}", REASON)]

    assert page.goto("/audit").status == 200
    rows = [row.locator("td").all_inner_texts()
            for row in page.locator("table#audit tbody tr").all()]
    assert [ADMIN[0], "unsubscribe", f"subscriber {TO_UNSUBSCRIBE}", REASON] in [
        row[1:5] for row in rows]
    page.screenshot(path=str(screenshots / "console-audit-after-unsubscribe.png"),
                    full_page=True)
    # The dashboard catches up with the console's own change too.
    _settled(admin, "/", lambda: gateway.read(_dashboard_in_database))
    assert admin.errors == []


def test_after_logging_out_the_dashboard_asks_for_a_login(browser: Any,
                                                          gateway: RunningGateway) -> None:
    tab = _log_in(browser, gateway, *ADMIN)
    try:
        cookies = tab.page.context.cookies()
        response = _follow(tab, lambda: tab.page.click("#logout"))
        assert response.status == 200 and urlsplit(tab.page.url).path == "/login"
        tab.page.goto("/")
        assert urlsplit(tab.page.url).path == "/login"
        assert tab.page.locator("#login").count() == 1
        # The old session cookie, replayed, is dead on the server too.
        replay = browser.new_context(base_url=gateway.url)
        try:
            replay.add_cookies(cookies)
            page = replay.new_page()
            page.goto("/")
            assert urlsplit(page.url).path == "/login"
        finally:
            replay.close()
    finally:
        tab.page.context.close()
