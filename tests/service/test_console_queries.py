"""What the console shows: dashboard figures, the message log, one subscriber's record, and the
tables' CSV and text forms, read from a real database (SQLite and PostgreSQL)."""

from __future__ import annotations

import csv
import io
import re
import unicodedata
from collections import Counter
from collections.abc import Iterator
from dataclasses import fields
from datetime import UTC, date, datetime, timedelta
from types import SimpleNamespace

import pytest
from sqlalchemy import Engine, select, update
from sqlalchemy.orm import Session, sessionmaker

from gateway.console.queries import (
    DELIVERY_GROUPS,
    CarrierFigures,
    DayFigures,
    MessageCursor,
    MessageFilter,
    delivery_list,
    dispatch_figures,
    mask_number,
    message_log,
    subscriber_record,
    summary,
)
from gateway.console.rollup import RollupSettings, refresh
from gateway.console.tables import (
    CARRIER_COLUMNS,
    DAY_COLUMNS,
    DISPATCH_COLUMNS,
    csv_text,
    plain_table,
)
from gateway.console.web import _Formatters
from gateway.db.console_models import DailySubscriptionStats, SubscriberCount
from gateway.db.dispatch_models import Delivery
from gateway.db.engine import make_session_factory
from gateway.db.models import InboundMessage, OutboundMessage, OutboundSegment
from gateway.dispatch.store import OPEN_STATUSES, create_dispatch, materialise
from gateway.templating import make_environment
from tests.conftest import REPO_ROOT
from tests.service.dispatch_fixtures import seed_edition, seed_subscribers
from tests.service.test_subscription_engine import Engine_

CARRIERS = ("china_mobile", "china_unicom", "china_telecom")
TODAY = date(2026, 12, 1)
T0 = datetime(2026, 11, 29, 8, 0, tzinfo=UTC)


@pytest.fixture
def sessions(engine: Engine) -> sessionmaker[Session]:
    return make_session_factory(engine)


@pytest.fixture
def session(sessions: sessionmaker[Session]) -> Iterator[Session]:
    with sessions.begin() as session:
        yield session


def strings_of(row: object) -> list[str]:
    return [value for f in fields(row) if isinstance(value := getattr(row, f.name), str)]


# -- dashboard --------------------------------------------------------------------------------

def _seed_summary(session: Session) -> None:
    computed = datetime(2026, 12, 1, 3, 0, tzinfo=UTC)
    for carrier, status, count, mms, minutes in [
            ("china_mobile", "active", 50, 12, 0), ("china_mobile", "pending", 3, 0, 0),
            ("china_mobile", "cancelled", 7, 2, 0), ("china_mobile", "none", 4, 0, 0),
            ("china_unicom", "active", 30, 0, 0), ("china_telecom", "active", 20, 20, 0),
            ("china_telecom", "pending", 2, 0, -5), ("acme", "active", 1, 0, 0)]:
        session.add(SubscriberCount(carrier=carrier, status=status, count=count, mms=mms,
                                    computed_at=computed + timedelta(minutes=minutes)))
    for back, carrier, figures in [
            (0, "china_mobile", (10, 6, 2, 1)), (0, "china_unicom", (5, 4, 0, 1)),
            (29, "china_telecom", (5, 2, 3, 0)),   # first day of 30
            (30, "china_mobile", (20, 10, 5, 4)),  # only in 90
            (89, "china_unicom", (0, 0, 0, 0)),
            (90, "china_mobile", (100, 100, 100, 100)),  # before 90
            (-1, "china_mobile", (100, 100, 100, 100))]:  # tomorrow
        r, c, u, lapsed = figures
        session.add(DailySubscriptionStats(
            day=(TODAY - timedelta(days=back)).isoformat(), carrier=carrier, requests=r,
            confirmations=c, unsubscriptions=u, lapsed=lapsed, computed_at=computed))


def test_summary_of_30_days(session: Session) -> None:
    _seed_summary(session)
    result = summary(session, today=TODAY, days=30, carriers=CARRIERS)

    assert result.as_of == datetime(2026, 12, 1, 2, 55, tzinfo=UTC)
    assert result.carriers == (
        CarrierFigures("china_mobile", "中国移动", active=50, pending=3, cancelled=7,
                       active_sms=38, active_mms=12),
        CarrierFigures("china_unicom", "中国联通", active=30, pending=0, cancelled=0,
                       active_sms=30, active_mms=0),
        CarrierFigures("china_telecom", "中国电信", active=20, pending=2, cancelled=0,
                       active_sms=0, active_mms=20),
        CarrierFigures("acme", "acme", active=1, pending=0, cancelled=0, active_sms=1),
    )
    assert result.total_active == 101
    assert result.total_pending == 5

    period = result.period
    assert (period.days, period.first_day, period.last_day) == (30, "2026-11-02", "2026-12-01")
    assert (period.requests, period.confirmations, period.unsubscriptions, period.lapsed) == (
        20, 12, 5, 2)
    assert period.conversion == pytest.approx(12 / 20)
    assert period.active_at_start == 101 - 12 + 5
    assert period.churn == pytest.approx(5 / 94)
    assert period.net_growth == 7

    assert len(result.daily) == 30
    assert [d.day for d in result.daily] == [
        (TODAY - timedelta(days=back)).isoformat() for back in range(29, -1, -1)]
    assert result.daily[0] == DayFigures("2026-11-02", 5, 2, 3, 0)
    assert result.daily[-1] == DayFigures("2026-12-01", 15, 10, 2, 2)
    assert all(d == DayFigures(d.day, 0, 0, 0, 0) for d in result.daily[1:-1])


def test_summary_of_90_days(session: Session) -> None:
    _seed_summary(session)
    result = summary(session, today=TODAY, days=90, carriers=CARRIERS)
    period = result.period
    assert len(result.daily) == 90
    assert (period.days, period.first_day, period.last_day) == (90, "2026-09-03", "2026-12-01")
    assert (period.requests, period.confirmations, period.unsubscriptions, period.lapsed) == (
        40, 22, 10, 6)
    assert period.conversion == pytest.approx(22 / 40)
    assert period.active_at_start == 101 - 22 + 10
    assert period.churn == pytest.approx(10 / 89)
    assert sum(1 for d in result.daily if d.requests) == 3


def test_summary_of_nothing(session: Session) -> None:
    result = summary(session, today=TODAY, days=30, carriers=CARRIERS)
    assert result.as_of is None
    assert [c.carrier for c in result.carriers] == list(CARRIERS)
    assert all((c.active, c.pending, c.cancelled) == (0, 0, 0) for c in result.carriers)
    assert result.total_active == 0
    assert result.period.conversion is None and result.period.churn is None
    assert len(result.daily) == 30 and not any(d.requests for d in result.daily)


# -- message log ------------------------------------------------------------------------------

def add_mo(session: Session, at: datetime, *, carrier: str = "china_mobile",
           source: str = "13800138000", text: str = "SD", outcome: str | None = "help",
           ident: int | None = None) -> int:
    row = InboundMessage(id=ident, carrier=carrier, source_addr=source, destination_addr="10658000",
                         text=text, received_at=at, outcome=outcome)
    session.add(row)
    session.flush()
    return row.id


def add_mt(session: Session, at: datetime, *, carrier: str = "china_mobile",
           destination: str = "13800138000", status: str = "delivered",
           text: str = "reply", ident: int | None = None) -> int:
    row = OutboundMessage(id=ident, carrier=carrier, kind="reply", source_addr="10658000",
                          destination_addr=destination, text=text, segment_count=1,
                          status=status, created_at=at)
    session.add(row)
    session.flush()
    return row.id


NUMBERS = {"china_mobile": "13800138000", "china_unicom": "13012345678",
           "china_telecom": "13300001111"}


def _seed_log(session: Session) -> dict[str, tuple[str, int]]:
    """An MO and its reply per carrier, a minute apart."""
    ids = {}
    for minute, (carrier, number), outcome, status in zip(
            (0, 1, 2), NUMBERS.items(), ("confirm_prompt", "help", "welcome"),
            ("delivered", "queued", "failed"), strict=True):
        at = T0 + timedelta(minutes=minute)
        raw = "+86" + number if carrier == "china_unicom" else number
        ids[f"mo_{carrier}"] = ("mo", add_mo(session, at, carrier=carrier, source=raw,
                                             outcome=outcome))
        ids[f"mt_{carrier}"] = ("mt", add_mt(session, at + timedelta(seconds=1),
                                             carrier=carrier, destination=raw, status=status))
    return ids


def _ids(session: Session, wanted: MessageFilter, limit: int = 50) -> list[tuple[str, int]]:
    return list(message_log(session, wanted, reveal=True, limit=limit).ids)


def test_message_log_filters_and_order(session: Session) -> None:
    ids = _seed_log(session)
    newest_first = [ids[k] for k in ("mt_china_telecom", "mo_china_telecom", "mt_china_unicom",
                                     "mo_china_unicom", "mt_china_mobile", "mo_china_mobile")]
    assert _ids(session, MessageFilter()) == newest_first
    assert _ids(session, MessageFilter(carrier="china_unicom")) == [
        ids["mt_china_unicom"], ids["mo_china_unicom"]]
    assert _ids(session, MessageFilter(direction="mo")) == [
        item for item in newest_first if item[0] == "mo"]
    assert _ids(session, MessageFilter(direction="mt", carrier="china_telecom")) == [
        ids["mt_china_telecom"]]
    assert _ids(session, MessageFilter(status="queued")) == [ids["mt_china_unicom"]]
    assert _ids(session, MessageFilter(status="welcome")) == [ids["mo_china_telecom"]]
    assert _ids(session, MessageFilter(direction="mt", status="welcome")) == []
    # ``until`` is exclusive, ``since`` inclusive.
    assert _ids(session, MessageFilter(since=T0 + timedelta(minutes=1),
                                       until=T0 + timedelta(minutes=2))) == [
        ids["mt_china_unicom"], ids["mo_china_unicom"]]
    assert _ids(session, MessageFilter(since=T0 + timedelta(minutes=1, seconds=1))) == [
        ids["mt_china_telecom"], ids["mo_china_telecom"], ids["mt_china_unicom"]]
    assert _ids(session, MessageFilter(carrier="china_broadnet")) == []

    page = message_log(session, MessageFilter(), reveal=True, limit=50)
    assert [e.kind for e in page.entries] == [kind for kind, _ in newest_first]
    assert [e.at for e in page.entries] == sorted((e.at for e in page.entries), reverse=True)
    assert page.next_cursor is None


def _all_pages(session: Session, wanted: MessageFilter, limit: int,
               max_pages: int = 100) -> list[list[tuple[str, int]]]:
    pages: list[list[tuple[str, int]]] = []
    cursor: MessageCursor | None = None
    while len(pages) < max_pages:
        page = message_log(session, wanted, reveal=False, limit=limit, cursor=cursor)
        pages.append(list(page.ids))
        if page.next_cursor is None:
            break
        cursor = MessageCursor.parse(page.next_cursor.text())  # as the web pages carry it
    return pages


def _newest_first(session: Session) -> list[tuple[str, int]]:
    """Every message in the log's order, read without the log: newest first; at the same time
    MTs (replies) above MOs; then by id."""
    rows = [(m.received_at, "mo", m.id) for m in session.scalars(select(InboundMessage))]
    rows += [(m.created_at, "mt", m.id) for m in session.scalars(select(OutboundMessage))]
    rows.sort(key=lambda r: (r[0], r[1] == "mt", r[2]), reverse=True)
    return [(kind, ident) for _, kind, ident in rows]


def test_paging_visits_every_message_once(session: Session) -> None:
    for n in range(10):
        add_mo(session, T0 + timedelta(seconds=7 * n))
        add_mt(session, T0 + timedelta(seconds=5 * n + 1))
    add_mt(session, T0 + timedelta(seconds=14))  # ties with the MO at 14 s
    pages = _all_pages(session, MessageFilter(), limit=3)
    seen = [item for page in pages for item in page]
    assert all(len(page) == 3 for page in pages[:-1])
    assert Counter(seen).most_common(1)[0][1] == 1
    assert seen == _newest_first(session)
    assert len(seen) == 21


def test_paging_through_interleaved_messages_with_the_same_timestamp(session: Session) -> None:
    for _ in range(10):  # MO and MT ids in step: every page shows both directions
        add_mo(session, T0)
        add_mt(session, T0)
    pages = _all_pages(session, MessageFilter(), limit=3)
    seen = [item for page in pages for item in page]
    assert seen == _newest_first(session)
    assert len(seen) == 20 and len(set(seen)) == 20


def test_paging_through_messages_with_the_same_timestamp(session: Session) -> None:
    # The two tables have their own id sequences: here the MTs' ids are all larger.
    for n in range(10):
        add_mo(session, T0, ident=1 + n)
        add_mt(session, T0, ident=101 + n)
    pages = _all_pages(session, MessageFilter(), limit=3, max_pages=30)
    seen = [item for page in pages for item in page]
    assert Counter(seen).most_common(1)[0][1] == 1, f"repeated: {seen}"
    assert seen == _newest_first(session)
    assert len(seen) == 20
    assert len(pages) == 7


def test_paging_through_one_timestamp_one_direction_at_a_time(session: Session) -> None:
    # At one instant: MT 3, MO 2, MT 1, MO 1 in (id) order newest first; pages of one.
    mts = [add_mt(session, T0) for _ in range(3)]
    mos = [add_mo(session, T0) for _ in range(2)]
    pages = _all_pages(session, MessageFilter(), limit=1, max_pages=20)
    seen = [item for page in pages for item in page]
    assert sorted(seen) == sorted([("mt", i) for i in mts] + [("mo", i) for i in mos])


def test_paging_with_filters_stays_within_them(session: Session) -> None:
    for n in range(12):
        carrier = CARRIERS[n % 3]
        add_mo(session, T0 + timedelta(minutes=n), carrier=carrier, source=NUMBERS[carrier])
        add_mt(session, T0 + timedelta(minutes=n, seconds=30), carrier=carrier,
               destination=NUMBERS[carrier], status="delivered" if n % 2 else "failed")
    wanted = MessageFilter(carrier="china_mobile", direction="mt",
                           since=T0 + timedelta(minutes=1))
    seen = [item for page in _all_pages(session, wanted, limit=1) for item in page]
    # china_mobile is n = 0, 3, 6, 9; since 1 min leaves 3, 6, 9.
    assert [kind for kind, _ in seen] == ["mt"] * 3
    assert len(set(seen)) == 3


def test_message_log_masks_numbers_unless_revealed(session: Session) -> None:
    _seed_log(session)
    hidden = message_log(session, MessageFilter(), reveal=False, limit=50).entries
    assert len(hidden) == 6
    for entry in hidden:
        for text in strings_of(entry):
            assert not any(number in text for number in NUMBERS.values()), entry
    assert {e.number for e in hidden} == {"138****8000", "+86****5678", "133****1111"}

    shown = message_log(session, MessageFilter(), reveal=True, limit=50).entries
    assert {e.number for e in shown} == {"13800138000", "+8613012345678", "13300001111"}


# -- one subscriber ---------------------------------------------------------------------------

NUMBER = "13800138000"


def _seed_subscriber(engine: Engine) -> tuple[Engine_, datetime]:
    """SD (in the +86 form) and Y through the engine, the welcome's parts answered, and one
    digest delivered; plus another number's messages that must not show."""
    gw = Engine_(engine)
    gw.mo("SD", source="+86" + NUMBER)
    welcome = gw.mo("Y", source=NUMBER)
    confirmed_at = gw.now
    gw.mo("SD", source="13900139000")
    with gw.sessions.begin() as session:
        session.add_all([
            OutboundSegment(outbound_id=welcome.reply.outbound_id, seqnum=1,
                            carrier="china_mobile", smsc_message_id="a1", status="delivered"),
            OutboundSegment(outbound_id=welcome.reply.outbound_id, seqnum=2,
                            carrier="china_mobile", smsc_message_id="a2",
                            status="undeliverable", error="stat UNDELIV err 001"),
        ])
        edition_id = seed_edition(session)
        dispatch_id = create_dispatch(session, edition_id=edition_id, carrier="china_mobile",
                                      cutoff=gw.now, deadline=gw.now + timedelta(hours=6),
                                      now=gw.now)
        materialise(session, dispatch_id)
        session.execute(update(Delivery).values(
            status="delivered", parts_total=2, parts_delivered=2,
            submitted_at=gw.now + timedelta(minutes=1), done_at=gw.now + timedelta(minutes=2)))
    return gw, confirmed_at


def test_subscriber_record_history(engine: Engine, sessions: sessionmaker[Session]) -> None:
    gw, confirmed_at = _seed_subscriber(engine)
    with sessions() as session:
        record = subscriber_record(session, NUMBER, reveal=True)

    figures = record.subscriber
    assert figures is not None
    assert (figures.msisdn, figures.carrier, figures.status) == (NUMBER, "china_mobile", "active")
    assert (figures.service_code, figures.consent_text) == ("10658000", "Y")
    assert figures.activated_at == figures.consent_at == confirmed_at

    history = record.history
    assert Counter(e.kind for e in history) == {"event": 2, "mo": 2, "mt": 2, "digest": 1}
    assert [e.at for e in history] == sorted((e.at for e in history), reverse=True)
    assert history[0].kind == "digest"
    assert history[0].text == "2020-11-18/morning (sms)"
    assert history[0].status == "delivered"
    assert history[0].detail == "parts 2/2 delivered"
    assert history[0].at == gw.now + timedelta(minutes=2)

    events = [e for e in history if e.kind == "event"]
    assert [(e.text, e.status) for e in events] == [
        ("Y", "pending → active"), ("SD", "none → pending")]
    mos = [e for e in history if e.kind == "mo"]
    assert [(e.number, e.text, e.status) for e in mos] == [
        (NUMBER, "Y", "welcome"), ("+86" + NUMBER, "SD", "confirm_prompt")]
    welcome, prompt = [e for e in history if e.kind == "mt"]
    assert welcome.detail == ("reply from 10658000; part 1: delivered; "
                              "part 2: undeliverable (stat UNDELIV err 001)")
    assert prompt.number == "+86" + NUMBER and "回复Y确认" in prompt.text
    assert prompt.detail == "reply from 10658000"


def test_subscriber_record_masked(engine: Engine, sessions: sessionmaker[Session]) -> None:
    _seed_subscriber(engine)
    with sessions() as session:
        record = subscriber_record(session, NUMBER, reveal=False)
    assert record.subscriber is not None and record.subscriber.msisdn == "138****8000"
    assert len(record.history) == 7
    for row in (record.subscriber, *record.history):
        assert not any(NUMBER in text for text in strings_of(row)), row
    assert {e.number for e in record.history} == {"138****8000", "+86****8000"}


def test_subscriber_record_of_an_unknown_number(session: Session) -> None:
    record = subscriber_record(session, "13700000000", reveal=True)
    assert record.subscriber is None
    assert record.history == ()


@pytest.mark.parametrize("texts", [("SD", "Y"), ("sd", "是", "TD")])
def test_the_request_time_outlives_the_request(engine: Engine, sessions: sessionmaker[Session],
                                               texts: tuple[str, ...]) -> None:
    """Confirming (or then leaving) closes the window (``pending_since``); the record and the
    console's page still show when the number asked to subscribe."""
    gw = Engine_(engine)
    gw.mo(texts[0])
    asked = gw.now
    for text in texts[1:]:
        gw.mo(text)
    with sessions() as session:
        record = subscriber_record(session, "13800138000", reveal=True)
    figures = record.subscriber
    assert figures is not None and figures.pending_since is None
    assert figures.status == ("active" if len(texts) == 2 else "cancelled")
    assert figures.requested_at == asked
    page = make_environment(REPO_ROOT / "templates").get_template(
        "console/subscriber.html").render(
        me=SimpleNamespace(name="viewer", role="viewer", is_admin=False), csrf="",
        newspaper="n", path="/subscribers", fmt=_Formatters(UTC), typed="13800138000",
        error="", record=record, msisdn="", flash="")
    shown = re.search(r'id="subscriber-requested">([^<]*)<', page)
    assert shown is not None and shown.group(1) == _Formatters(UTC).time(asked) != "–"



def test_subscriber_record_of_a_number_with_only_messages(session: Session) -> None:
    """A number that only ever sent something invalid has MOs but no subscriber row."""
    add_mo(session, T0, source="13700000000", outcome="unknown_service")
    record = subscriber_record(session, "13700000000", reveal=False)
    assert record.subscriber is None
    assert [(e.kind, e.number, e.status) for e in record.history] == [
        ("mo", "137****0000", "unknown_service")]


# -- masking, CSV and text tables -------------------------------------------------------------

@pytest.mark.parametrize(("number", "reveal", "shown"), [
    ("13800138000", False, "138****8000"),
    ("13800138000", True, "13800138000"),
    ("+8613800138000", False, "+86****8000"),
    ("8613800138000", False, "861****8000"),
    ("12345678", False, "123****5678"),
    ("1234567", False, "*******"),
    ("10086", False, "*****"),
    ("", False, ""),
])
def test_mask_number(number: str, reveal: bool, shown: str) -> None:
    assert mask_number(number, reveal) == shown


def test_csv_text_quotes_formulas() -> None:
    rows = [
        {"a": "=cmd|' /C calc'!A0", "b": "+1", "c": "-2"},
        {"a": "@x", "b": "plain", "c": "a, \"quoted\" cell"},
        {"a": "中国移动", "b": None, "c": 12},
        {"a": "\t=1", "b": "1+1", "c": -3},
    ]
    text = csv_text(("a", "b", "c"), rows)
    assert text == (
        "a,b,c\r\n"
        "'=cmd|' /C calc'!A0,'+1,'-2\r\n"
        "'@x,plain,\"a, \"\"quoted\"\" cell\"\r\n"
        "中国移动,,12\r\n"
        "'\t=1,1+1,-3\r\n")
    parsed = list(csv.reader(io.StringIO(text)))
    assert parsed[1] == ["'=cmd|' /C calc'!A0", "'+1", "'-2"]
    assert csv_text(("a",), [{"a": "x"}], header=False) == "x\r\n"


@pytest.mark.parametrize("text", [
    " =1+2", "\n=1", "\r=1", "\t1", "  @SUM(A1)", "＝1+2", "＋1", "－1", "＠x", "\u3000=1",
    "\u00a0-1",
])
def test_csv_text_neutralises_every_formula_start(text: str) -> None:
    parsed = list(csv.reader(io.StringIO(csv_text(("a",), [{"a": text}], header=False))))
    assert parsed == [["'" + text]]


@pytest.mark.parametrize("text", ["plain", "1+1", "中国移动", "a-b", "e@mail", ""])
def test_csv_text_leaves_ordinary_text_alone(text: str) -> None:
    parsed = list(csv.reader(io.StringIO(csv_text(("a",), [{"a": text}], header=False))))
    assert parsed == [[text]]


def test_csv_text_of_rows() -> None:
    rows = [DayFigures("2026-12-01", 3, 2, 1, 0)]
    assert csv_text(DAY_COLUMNS, rows) == (
        "day,requests,confirmations,unsubscriptions,lapsed\r\n2026-12-01,3,2,1,0\r\n")


def _display_width(text: str) -> int:
    return sum(2 if unicodedata.east_asian_width(ch) in ("W", "F") else 1 for ch in text)


def test_plain_table_aligns_cjk_text() -> None:
    rows = [
        CarrierFigures("china_mobile", "中国移动", active=1234567, pending=5, cancelled=0,
                       active_sms=1234000, active_mms=567),
        CarrierFigures("acme", "acme", active=7, pending=0, cancelled=12, active_sms=7),
        CarrierFigures("china_unicom", "联通", active=0, pending=0, cancelled=0),
    ]
    lines = plain_table(CARRIER_COLUMNS, rows).split("\n")
    assert lines[0].split() == list(CARRIER_COLUMNS)
    assert set(lines[1]) <= {"-", " "}
    starts = [_display_width(lines[0][:lines[0].index(c)]) for c in CARRIER_COLUMNS]
    # Dashes under each column start where the column does.
    assert [_display_width(lines[1][:i]) for i, ch in enumerate(lines[1])
            if ch == "-" and (i == 0 or lines[1][i - 1] == " ")] == starts
    expected_cells = [
        ["china_mobile", "中国移动", "1,234,567", "5", "0", "1,234,000", "567"],
        ["acme", "acme", "7", "0", "12", "7", "0"],
        ["china_unicom", "联通", "0", "0", "0", "0", "0"],
    ]
    for line, cells in zip(lines[2:], expected_cells, strict=True):
        position = 0
        found = []
        for cell in cells:
            index = line.index(cell, position)
            found.append(_display_width(line[:index]))
            position = index + len(cell)
        assert found == starts, line
    assert len(lines) == 5
    assert all(line == line.rstrip() for line in lines)


def test_plain_table_takes_dict_values_by_column() -> None:
    text = plain_table(("day", "requests"), [{"requests": 5, "day": "2026-12-01"}])
    assert text.split("\n")[2].split() == ["2026-12-01", "5"]



# -- one dispatch's deliveries ----------------------------------------------------------------

def _dispatch_with_statuses(session: Session) -> tuple[int, dict[int, str]]:
    edition_id = seed_edition(session)
    seed_subscribers(session, 40)
    dispatch_id = create_dispatch(session, edition_id=edition_id, carrier="china_mobile",
                                  cutoff=T0, deadline=T0 + timedelta(hours=1), now=T0)
    materialise(session, dispatch_id)
    statuses = [status for group in DELIVERY_GROUPS.values() for status in group]
    ids = list(session.scalars(select(Delivery.id).where(Delivery.dispatch_id == dispatch_id)))
    wanted = {ident: statuses[n % len(statuses)] for n, ident in enumerate(ids)}
    for ident, status in wanted.items():
        session.execute(update(Delivery).where(Delivery.id == ident).values(status=status))
    return dispatch_id, wanted


def test_delivery_list_pages_through_every_delivery_once(session: Session) -> None:
    dispatch_id, wanted = _dispatch_with_statuses(session)
    seen: list[int] = []
    after = None
    for _ in range(50):
        page = delivery_list(session, dispatch_id, group=None, reveal=False, limit=7,
                             after=after)
        seen += [row.delivery_id for row in page.rows]
        if page.next_after is None:
            break
        after = page.next_after
    assert seen == sorted(wanted, reverse=True)
    first = delivery_list(session, dispatch_id, group=None, reveal=False, limit=50)
    assert all(mask_number(row.number, False) == row.number and "****" in row.number
               for row in first.rows)
    assert "****" not in delivery_list(session, dispatch_id, group=None, reveal=True,
                                       limit=1).rows[0].number


def test_delivery_list_filters_by_outcome_group(session: Session) -> None:
    dispatch_id, wanted = _dispatch_with_statuses(session)
    for group, statuses in DELIVERY_GROUPS.items():
        page = delivery_list(session, dispatch_id, group=group, reveal=True, limit=100)
        assert [row.delivery_id for row in page.rows] == sorted(
            (i for i, status in wanted.items() if status in statuses), reverse=True)
        assert page.next_after is None


def test_outcome_groups_hold_every_status_once() -> None:
    statuses = [status for group in DELIVERY_GROUPS.values() for status in group]
    assert len(statuses) == len(set(statuses))
    # Not final yet: an uncertain delivery waits for evidence, so it is with the pending ones.
    assert set(DELIVERY_GROUPS["pending"]) == set(OPEN_STATUSES)
    assert "uncertain" in DELIVERY_GROUPS["pending"]
    assert DELIVERY_GROUPS["other"] == ("cancelled", "skipped", "unknown")


def test_dispatch_figures_show_the_recovery_of_uncertain_deliveries(session: Session) -> None:
    """Ever uncertain (``uncertain_at`` set) and how those were resolved, per dispatch, as
    the roll-up counted them; in the rows the pages, API, CSV and ``sdgw report`` show."""
    dispatch_id, wanted = _dispatch_with_statuses(session)
    ids = sorted(wanted)
    plan = {"uncertain": None, "submitted": "reconciled", "delivered": "reconciled",
            "pending": "resent", "failed": "resent", "skipped": "skipped"}
    marked = []
    for status, recovery in plan.items():
        ident = next(i for i in ids if wanted[i] == status and i not in marked)
        marked.append(ident)
        session.execute(update(Delivery).where(Delivery.id == ident).values(
            uncertain_at=T0.timestamp(), recovery=recovery))
    refresh(session, T0, RollupSettings(zone=UTC, carriers=CARRIERS))
    [row] = dispatch_figures(session, now=T0 + timedelta(minutes=1))
    assert row.dispatch_id == dispatch_id
    assert (row.uncertain, row.reconciled, row.resent, row.skipped) == (6, 2, 2, 1)
    groups = Counter(next(g for g, statuses in DELIVERY_GROUPS.items() if status in statuses)
                     for status in wanted.values())
    assert (row.pending, row.other, row.total) == (groups["pending"], groups["other"], 40)
    assert sum(getattr(row, g) for g in DELIVERY_GROUPS) == row.total
    position = DISPATCH_COLUMNS.index("other")
    assert DISPATCH_COLUMNS[position:position + 5] == (
        "other", "uncertain", "reconciled", "resent", "skipped")
    [line] = list(csv.DictReader(io.StringIO(csv_text(DISPATCH_COLUMNS, [row]))))
    assert {name: line[name] for name in ("uncertain", "reconciled", "resent", "skipped")} == {
        "uncertain": "6", "reconciled": "2", "resent": "2", "skipped": "1"}


def test_delivery_list_puts_uncertain_with_pending_and_skipped_with_other(
        session: Session) -> None:
    dispatch_id, _ = _dispatch_with_statuses(session)
    pending = delivery_list(session, dispatch_id, group="pending", reveal=True, limit=100)
    assert "uncertain" in {row.status for row in pending.rows}
    other = delivery_list(session, dispatch_id, group="other", reveal=True, limit=100)
    assert {row.status for row in other.rows} == {"cancelled", "skipped", "unknown"}
