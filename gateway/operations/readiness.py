"""Whether the gateway is ready to serve, and what is wrong when it is not. Pure.

Ready means: the schema is at the code's revision, the database answered the last
refresh (no older than ``stale_after``), every enabled link is bound — or idle (SGIP without
work), or reconnecting for no longer than its reconnect budget (``grace``) — and the edition
scheduler runs (when it is configured to).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from carriers.link.status import LinkPhase

HEALTHY_PHASES = (LinkPhase.BOUND, LinkPhase.THROTTLED, LinkPhase.IDLE)


@dataclass(frozen=True, slots=True)
class LinkCheck:
    carrier: str
    phase: LinkPhase
    since: float


@dataclass(frozen=True, slots=True)
class DatabaseCheck:
    last_ok: float | None
    """When the database last answered a refresh (None: not yet)."""
    error: str | None
    """The last refresh's error, when it failed."""
    schema_revision: str | None
    head_revision: str | None


@dataclass(frozen=True, slots=True)
class Readiness:
    ready: bool
    problems: tuple[str, ...]
    checks: dict[str, object] = field(default_factory=dict)

    def as_json(self) -> dict[str, object]:
        return {"status": "ready" if self.ready else "not ready",
                "problems": list(self.problems), "checks": self.checks}


def assess(*, now: float, links: Sequence[LinkCheck], grace: float, database: DatabaseCheck,
           stale_after: float, scheduler_expected: bool, scheduler_running: bool
           ) -> Readiness:
    problems: list[str] = []
    checks: dict[str, object] = {}

    if database.last_ok is None:
        problems.append("database: not checked yet"
                        + (f" ({database.error})" if database.error else ""))
        checks["database"] = "unknown"
    elif database.error is not None:
        problems.append(f"database: {database.error}")
        checks["database"] = "failing"
    elif now - database.last_ok > stale_after:
        problems.append(f"database: no answer for {now - database.last_ok:.0f}s")
        checks["database"] = "not answering"
    else:
        checks["database"] = "ok"

    if database.last_ok is None:
        checks["schema"] = "unknown"
    elif database.schema_revision != database.head_revision:
        problems.append(f"schema: at {database.schema_revision or 'nothing'}, code needs "
                        f"{database.head_revision} (run sdgw db upgrade)")
        checks["schema"] = "out of date"
    else:
        checks["schema"] = "current"

    link_checks: dict[str, str] = {}
    for link in links:
        away = now - link.since
        if link.phase in HEALTHY_PHASES:
            link_checks[link.carrier] = link.phase.value
        elif link.phase is LinkPhase.CONNECTING and away <= grace:
            link_checks[link.carrier] = "reconnecting (within budget)"
        else:
            state = "not bound" if link.phase is LinkPhase.CONNECTING else link.phase.value
            link_checks[link.carrier] = state
            problems.append(f"link {link.carrier}: {state} for {away:.0f}s "
                            f"(budget {grace:.0f}s)")
    checks["links"] = link_checks

    if scheduler_expected:
        checks["scheduler"] = "running" if scheduler_running else "stopped"
        if not scheduler_running:
            problems.append("scheduler: not running")
    else:
        checks["scheduler"] = "disabled"

    return Readiness(ready=not problems, problems=tuple(problems), checks=checks)
