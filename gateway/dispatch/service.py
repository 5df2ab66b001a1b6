"""The dispatch side of a running gateway: its lease, recovery, resumption, scheduled
editions, and a clean stop."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy.orm import Session
from twisted.application import internet, service
from twisted.internet import defer

from carriers.deferreds import fire_within
from gateway.db.threads import DatabaseThreads
from gateway.dispatch import leases, store
from gateway.dispatch.runner import DispatchRunner
from gateway.editions.build import EditionError, EditionSettings, build_edition

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True, kw_only=True)
class LeaseSettings:
    """This process's lease (see ``leases.py``) and how it is kept."""

    claim: str
    request: leases.LeaseRequest
    policy: leases.LeasePolicy

    @property
    def interval(self) -> float:
        """Heartbeats (and looks for dead processes) this often: a third of the lease."""
        return max(self.policy.ttl / 3.0, 0.2)


class DispatchService(service.MultiService):
    """Keeps this process's lease alive, takes up dead processes' claims (at start and on
    every heartbeat), resumes unfinished dispatches, and on stop lets the dispatch loops give
    back what they have not sent and wait for what is in flight before the links unbind."""

    def __init__(
        self, *, runner: DispatchRunner, database: DatabaseThreads,
        edition_settings: EditionSettings, receipt_timeout: timedelta, clock: Any,
        lease: LeaseSettings, stop_timeout: float = 10.0,
        unmatched_retention: timedelta = timedelta(days=7),
        on_lease_lost: Callable[[], object] | None = None,
    ) -> None:
        super().__init__()
        self.setName("dispatch")
        self.runner = runner
        self._database = database
        self._edition_settings = edition_settings
        self._receipt_timeout = receipt_timeout
        self._unmatched_retention = unmatched_retention
        self._clock = clock
        self.lease = lease
        self._stop_timeout = stop_timeout
        self._on_lease_lost = on_lease_lost
        self.lease_lost = False
        self.started: defer.Deferred[list[int]] | None = None
        # Deliveries whose receipts never came become "unknown", and receipts that matched
        # nothing are purged after their retention (checked every 10 minutes).
        expiry = internet.TimerService(600, self.expire_receipts)
        expiry.clock = clock
        expiry.setServiceParent(self)
        keeper = internet.TimerService(lease.interval, self.keep_lease)
        keeper.clock = clock
        keeper.setServiceParent(self)
        self._keeper = keeper

    def expire_receipts(self) -> defer.Deferred[int]:
        now = datetime.fromtimestamp(self._clock.seconds(), UTC)
        cutoff = now - self._receipt_timeout

        def expire(session: Session) -> int:
            count = store.expire_receipts(session, submitted_before=cutoff)
            if count:
                log.warning("%d delivery(ies) had no receipt after %s: marked unknown", count,
                            self._receipt_timeout)
            purged = store.purge_unmatched(session,
                                           received_before=now - self._unmatched_retention)
            if purged:
                log.info("%d receipt(s) that matched nothing purged (older than %s)", purged,
                         self._unmatched_retention)
            return count

        return self._database.transaction(expire)

    def keep_lease(self) -> defer.Deferred[None] | None:
        """Heartbeat; recover the claims of processes found dead and resume their work."""
        if self.lease_lost or not self.running:
            return None
        now = self._clock.seconds()
        lease = self.lease

        def beat(session: Session) -> tuple[bool, list[str], dict[str, int]]:
            alive = leases.heartbeat(session, lease.claim, now=now)
            if not alive:
                return False, [], {}
            dead = leases.reap(session, own_claim=lease.claim, host=lease.request.host,
                               pid=lease.request.pid, now=now, policy=lease.policy)
            return True, dead, leases.recover_orphans(session, now=now)

        def done(outcome: tuple[bool, list[str], dict[str, int]]) -> Any:
            alive, dead, counts = outcome
            if not alive:
                self._lose_lease()
                return None
            for node in dead:
                log.warning("dispatch node %r stopped heartbeating: its lease is taken back",
                            node)
            if any(counts.values()):
                self._log_recovered(counts)
            # Also picks up dispatches handed over by `sdgw dispatch` (SQLite, see runtime).
            return self.runner.resume_all()

        return self._database.transaction(beat).addCallback(done).addErrback(
            lambda f: log.error("dispatch lease heartbeat failed: %s", f.getErrorMessage()))

    def _lose_lease(self) -> None:
        self.lease_lost = True
        log.critical("this process's dispatch lease %s is gone: another process found it dead "
                     "and took its deliveries; dispatching stops here", self.lease.claim)
        self.runner.stop()
        if self._on_lease_lost is not None:
            self._on_lease_lost()

    @staticmethod
    def _log_recovered(counts: dict[str, int]) -> None:
        log.warning("taken over from dead process(es): %d claim(s) back to pending, %d "
                    "delivery(ies) uncertain (waiting for evidence of their submit)",
                    counts["released"], counts["uncertain"])

    def startService(self) -> None:
        super().startService()
        now = self._clock.seconds()

        def recover(session: Session) -> dict[str, int]:
            leases.reap(session, own_claim=self.lease.claim, host=self.lease.request.host,
                        pid=self.lease.request.pid, now=now, policy=self.lease.policy)
            return leases.recover_orphans(session, now=now)

        def recovered(counts: dict[str, int]) -> defer.Deferred[list[int]]:
            if any(counts.values()):
                self._log_recovered(counts)
            return self.runner.resume_all()

        self.started = self._database.transaction(recover).addCallback(recovered)
        self.started.addErrback(lambda f: log.error("dispatch recovery failed: %s",
                                                    f.getErrorMessage()))

    def stopService(self) -> defer.Deferred[None]:
        """Stop the loops (they give back what they did not send and wait for what is in
        flight, at most ``stop_timeout``), then let go of the lease."""
        super().stopService()
        stopped = self.runner.stop()
        finished: list[bool] = []
        stopped.addCallback(lambda _: finished.append(True))

        def release(_: object) -> defer.Deferred[None] | None:
            if not finished or self.lease_lost:
                log.warning("dispatch loops still had work in flight after %.0fs; its rows "
                            "are recovered from this lease by the next process",
                            self._stop_timeout)
                return None
            return self._database.transaction(
                lambda session: leases.release(session, self.lease.claim)).addErrback(
                lambda f: log.error("could not release the dispatch lease: %s",
                                    f.getErrorMessage()))

        return fire_within(stopped, self._stop_timeout, self._clock).addCallback(release)

    def perform_slot(self, slot: str, newspaper_date: date) -> defer.Deferred[str]:
        """Build the edition of ``newspaper_date``/``slot`` and dispatch it."""
        now = datetime.fromtimestamp(self._clock.seconds(), UTC)

        def build() -> int | None:
            # Its own transactions, so image files are read with none open (editions.build).
            try:
                built = build_edition(self._database.sessions, self._edition_settings,
                                      newspaper_date=newspaper_date, slot=slot, now=now)
            except EditionError as exc:
                log.warning("edition %s/%s not built: %s; nothing is sent", newspaper_date,
                            slot, exc)
                return None
            return built.edition_id

        async def run() -> str:
            edition_id = await self._database.run(build)
            if edition_id is None:
                return "nothing to send"
            await self.runner.dispatch(edition_id)
            return f"edition #{edition_id} dispatched"

        return defer.ensureDeferred(run())

