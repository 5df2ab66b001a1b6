"""``sdgw dispatch status``: the printed table, with uncertain deliveries and their recovery
(SQLite and PostgreSQL)."""

from __future__ import annotations

from datetime import timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import Engine, select, update
from sqlalchemy.orm import Session

from gateway.cli.dispatch import print_status
from gateway.db.dispatch_models import Delivery, Dispatch
from gateway.db.engine import make_session_factory
from gateway.dispatch.store import OPEN_STATUSES, create_dispatch, materialise, recovery_counts
from gateway.states import DELIVERY_GROUPS, WAITING_STATUSES, DeliveryGroup
from tests.service.dispatch_fixtures import T0, seed_edition, seed_subscribers

SHANGHAI = ZoneInfo("Asia/Shanghai")

#: China Mobile's deliveries: (status, uncertain, recovery). ``uncertain`` marks one that was
#: ever uncertain (``uncertain_at`` set); ``recovery`` is how it was resolved.
MOBILE = [
    ("pending", True, "resent"),        # resent: its parts go out again
    ("claimed", False, None),
    ("sending", False, None),
    ("uncertain", True, None),          # waiting for evidence
    ("uncertain", True, None),
    ("submitted", True, "reconciled"),  # a receipt echoed its reference
    ("delivered", True, "reconciled"),
    ("delivered", False, None),
    ("delivered", False, None),
    ("failed", True, "resent"),         # resent, then failed
    ("undeliverable", False, None),
    ("skipped", True, "skipped"),       # final: neither delivered nor failed
    ("cancelled", False, None),
]
UNICOM = ["delivered"] * 4 + ["expired"]

#: What ``sdgw dispatch status`` prints for each carrier.
EXPECTED = {
    "china_mobile": {"status": "running", "total": "13", "pending": "5", "waiting": "2",
                     "submitted": "1", "delivered": "3", "failed": "2", "other": "2",
                     "uncertain": "7", "reconciled": "2", "resent": "2", "skipped": "1"},
    "china_unicom": {"status": "done", "total": "5", "pending": "0", "waiting": "0",
                     "submitted": "0", "delivered": "4", "failed": "1", "other": "0",
                     "uncertain": "0", "reconciled": "0", "resent": "0", "skipped": "0",
                     "ETA": "-"},
}


def seed_recovery_dispatches(session: Session) -> tuple[int, dict[str, int]]:
    """An edition sent on China Mobile (running, with uncertain deliveries in every state of
    their recovery, see :data:`MOBILE`) and China Unicom (done, none uncertain). Returns the
    edition's id and each carrier's dispatch id."""
    edition_id = seed_edition(session, carriers=("china_mobile", "china_unicom"))
    seed_subscribers(session, len(MOBILE), carrier="china_mobile")
    seed_subscribers(session, len(UNICOM), carrier="china_unicom", start=len(MOBILE))
    dispatches = {}
    for carrier, plan in (("china_mobile", MOBILE),
                          ("china_unicom", [(status, False, None) for status in UNICOM])):
        dispatch_id = create_dispatch(session, edition_id=edition_id, carrier=carrier,
                                      cutoff=T0, deadline=T0 + timedelta(hours=6), now=T0)
        materialise(session, dispatch_id)
        ids = session.scalars(select(Delivery.id).where(Delivery.dispatch_id == dispatch_id)
                              .order_by(Delivery.id)).all()
        for delivery_id, (status, uncertain, recovery) in zip(ids, plan, strict=True):
            session.execute(update(Delivery).where(Delivery.id == delivery_id).values(
                status=status, recovery=recovery,
                uncertain_at=T0.timestamp() + delivery_id if uncertain else None))
        dispatches[carrier] = dispatch_id
    session.execute(update(Dispatch).where(Dispatch.id == dispatches["china_unicom"])
                    .values(status="done", finished_at=T0 + timedelta(minutes=5)))
    return edition_id, dispatches


def parse_status(text: str) -> tuple[list[str], dict[str, dict[str, str]]]:
    """The header line and the rows of the printed table, by carrier and column."""
    lines = text.splitlines()
    header = lines[0].split()
    rows = {}
    for line in lines[1:]:
        cells = line.split(None, len(header) - 1)  # an ETA may be "1 day, 2:03:04"
        if len(cells) == len(header) and cells[0].isdigit():
            rows[cells[1]] = dict(zip(header, cells, strict=True))
    return header, rows


@pytest.fixture
def seeded(engine: Engine) -> tuple[object, int, dict[str, int]]:
    sessions = make_session_factory(engine)
    with sessions.begin() as session:
        edition_id, dispatches = seed_recovery_dispatches(session)
    return sessions, edition_id, dispatches


def test_the_groups_cover_the_open_statuses() -> None:
    assert set(DELIVERY_GROUPS[DeliveryGroup.PENDING]) == set(OPEN_STATUSES)
    assert set(WAITING_STATUSES) < set(OPEN_STATUSES)
    assert "skipped" in DELIVERY_GROUPS[DeliveryGroup.OTHER]


def test_status_shows_uncertain_deliveries_and_how_they_were_resolved(
        seeded: tuple, capsys: pytest.CaptureFixture[str]) -> None:
    sessions, edition_id, dispatches = seeded
    with sessions() as session:
        assert recovery_counts(session, dispatches["china_mobile"]) == {
            "uncertain": 7, "reconciled": 2, "resent": 2, "skipped": 1}
    print_status(sessions, edition_id, SHANGHAI)
    out = capsys.readouterr().out
    header, rows = parse_status(out)
    assert header == ["edition", "carrier", "status", "total", "pending", "waiting",
                      "submitted", "delivered", "failed", "other", "uncertain",
                      "reconciled", "resent", "skipped", "rate/s", "ETA"]
    assert set(rows) == set(EXPECTED)
    for carrier, expected in EXPECTED.items():
        row = rows[carrier]
        assert row["edition"] == str(edition_id)
        assert {name: row[name] for name in expected} == expected, carrier
    assert rows["china_mobile"]["ETA"] != "-"  # three still to send
    # Every delivery is in exactly one of the groups.
    for carrier, row in rows.items():
        shown = sum(int(row[name]) for name in DeliveryGroup)
        assert shown == int(row["total"]), carrier
    assert "waiting: of the pending, uncertain now" in out.splitlines()[-1]


def test_status_columns_line_up(seeded: tuple, capsys: pytest.CaptureFixture[str]) -> None:
    sessions, _, _ = seeded
    print_status(sessions, None, SHANGHAI)
    lines = capsys.readouterr().out.splitlines()
    header, table = lines[0], lines[1:3]
    assert all(len(line) == len(header) for line in table)
    names = header.split()
    ends = {name: header.index(name) + len(name) for name in names}
    starts = {name: header.index(name) for name in names}
    for line in table:
        cells = line.split(None, len(names) - 1)
        position = 0
        for name, cell in zip(names, cells, strict=True):
            index = line.index(cell, position)
            position = index + len(cell)
            if name in ("carrier", "status"):
                assert index == starts[name], (name, line)  # left-aligned
            else:
                assert position == ends[name], (name, line)  # right-aligned
    assert len(header) < 160


def test_status_without_uncertain_deliveries_has_no_legend(
        engine: Engine, capsys: pytest.CaptureFixture[str]) -> None:
    sessions = make_session_factory(engine)
    print_status(sessions, None, SHANGHAI)
    assert capsys.readouterr().out == "no dispatches yet\n"
    with sessions.begin() as session:
        edition_id = seed_edition(session)
        seed_subscribers(session, 3)
        dispatch_id = create_dispatch(session, edition_id=edition_id, carrier="china_mobile",
                                      cutoff=T0, deadline=T0 + timedelta(hours=6), now=T0)
        materialise(session, dispatch_id)
    print_status(sessions, edition_id, SHANGHAI)
    out = capsys.readouterr().out
    _, rows = parse_status(out)
    assert rows["china_mobile"]["pending"] == "3"
    assert rows["china_mobile"]["uncertain"] == "0"
    assert len(out.splitlines()) == 2
