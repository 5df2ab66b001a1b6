"""Readiness: what makes the gateway not ready, on an injected clock."""

from __future__ import annotations

from carriers.link.status import LinkPhase
from gateway.operations.readiness import DatabaseCheck, LinkCheck, assess

HEAD = "0008"


def _database(last_ok: float | None = 100.0, error: str | None = None,
              revision: str | None = HEAD) -> DatabaseCheck:
    return DatabaseCheck(last_ok=last_ok, error=error, schema_revision=revision,
                         head_revision=HEAD)


def _assess(now: float = 100.0, links: list[LinkCheck] | None = None,
            database: DatabaseCheck | None = None, scheduler: bool = True) -> object:
    return assess(now=now, links=links if links is not None else [
        LinkCheck("china_mobile", LinkPhase.BOUND, 50.0)], grace=30.0,
        database=database or _database(), stale_after=20.0, scheduler_expected=True,
        scheduler_running=scheduler)


def test_everything_well_is_ready() -> None:
    readiness = _assess()
    assert readiness.ready and readiness.problems == ()
    assert readiness.checks == {"database": "ok", "schema": "current",
                                "links": {"china_mobile": "bound"}, "scheduler": "running"}


def test_a_link_reconnecting_is_ready_within_its_budget_and_not_after() -> None:
    link = LinkCheck("china_mobile", LinkPhase.CONNECTING, 80.0)
    assert _assess(now=110.0, links=[link], database=_database(105.0)).ready
    late = _assess(now=111.0, links=[link], database=_database(105.0))
    assert not late.ready
    assert late.problems == ("link china_mobile: not bound for 31s (budget 30s)",)


def test_idle_and_throttled_links_are_ready_and_closed_ones_are_not() -> None:
    links = [LinkCheck("china_unicom", LinkPhase.IDLE, 0.0),
             LinkCheck("china_mobile", LinkPhase.THROTTLED, 0.0)]
    assert _assess(links=links).ready
    closed = _assess(links=[LinkCheck("china_telecom", LinkPhase.CLOSED, 99.0)])
    assert not closed.ready and "closed" in closed.problems[0]


def test_the_database_must_have_answered_lately_and_be_at_the_codes_schema() -> None:
    assert "database: not checked yet" in _assess(database=_database(None)).problems
    stale = _assess(now=130.0, database=_database(100.0))
    assert stale.problems == ("database: no answer for 30s",)
    failing = _assess(database=_database(error="connection refused"))
    assert failing.problems == ("database: connection refused",)
    old = _assess(database=_database(revision="0007"))
    assert old.problems == ("schema: at 0007, code needs 0008 (run sdgw db upgrade)",)
    assert old.checks["schema"] == "out of date"


def test_a_stopped_scheduler_is_not_ready_unless_none_is_configured() -> None:
    assert _assess(scheduler=False).problems == ("scheduler: not running",)
    unscheduled = assess(now=100.0, links=[], grace=30.0, database=_database(),
                         stale_after=20.0, scheduler_expected=False, scheduler_running=False)
    assert unscheduled.ready and unscheduled.checks["scheduler"] == "disabled"
