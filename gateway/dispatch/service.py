"""The dispatch side of a running gateway: recovery, resumption, scheduled editions."""

from __future__ import annotations

import logging
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy.orm import Session
from twisted.application import internet, service
from twisted.internet import defer

from gateway.db.threads import DatabaseThreads
from gateway.dispatch import store
from gateway.dispatch.runner import DispatchRunner
from gateway.editions.build import EditionError, EditionSettings, build_edition

log = logging.getLogger(__name__)


class DispatchService(service.MultiService):
    """On start: release a dead predecessor's claims and resume unfinished dispatches."""

    def __init__(
        self, *, runner: DispatchRunner, database: DatabaseThreads,
        edition_settings: EditionSettings, receipt_timeout: timedelta, clock: Any,
    ) -> None:
        super().__init__()
        self.setName("dispatch")
        self.runner = runner
        self._database = database
        self._edition_settings = edition_settings
        self._receipt_timeout = receipt_timeout
        self.started: defer.Deferred[list[int]] | None = None
        # Deliveries whose receipts never came become "unknown" (checked every 10 minutes).
        expiry = internet.TimerService(600, self.expire_receipts)
        expiry.clock = clock
        expiry.setServiceParent(self)

    def expire_receipts(self) -> defer.Deferred[int]:
        cutoff = datetime.now(UTC) - self._receipt_timeout

        def expire(session: Session) -> int:
            count = store.expire_receipts(session, submitted_before=cutoff)
            if count:
                log.warning("%d delivery(ies) had no receipt after %s: marked unknown", count,
                            self._receipt_timeout)
            return count

        return self._database.transaction(expire)

    def startService(self) -> None:
        super().startService()

        def recovered(counts: dict[str, int]) -> defer.Deferred[list[int]]:
            if any(counts.values()):
                log.warning("recovered after a crash: %d claim(s) released, %d delivery(ies) "
                            "left uncertain (not resent)", counts["released"],
                            counts["uncertain"])
            return self.runner.resume_all()

        self.started = self.runner.recover().addCallback(recovered)
        self.started.addErrback(lambda f: log.error("dispatch recovery failed: %s",
                                                    f.getErrorMessage()))

    def perform_slot(self, slot: str, newspaper_date: date) -> defer.Deferred[str]:
        """Build the edition of ``newspaper_date``/``slot`` and dispatch it."""
        now = datetime.now(UTC)

        def build(session: Session) -> int | None:
            try:
                built = build_edition(session, self._edition_settings,
                                      newspaper_date=newspaper_date, slot=slot, now=now)
            except EditionError as exc:
                log.warning("edition %s/%s not built: %s; nothing is sent", newspaper_date,
                            slot, exc)
                return None
            return built.edition_id

        async def run() -> str:
            edition_id = await self._database.transaction(build)
            if edition_id is None:
                return "nothing to send"
            await self.runner.dispatch(edition_id)
            return f"edition #{edition_id} dispatched"

        return defer.ensureDeferred(run())
