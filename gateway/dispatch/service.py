"""The dispatch side of a running gateway: recovery, resumption, scheduled editions."""

from __future__ import annotations

import logging
from datetime import UTC, date, datetime

from sqlalchemy.orm import Session
from twisted.application import service
from twisted.internet import defer

from gateway.db.threads import DatabaseThreads
from gateway.dispatch.runner import DispatchRunner
from gateway.editions.build import EditionError, EditionSettings, build_edition

log = logging.getLogger(__name__)


class DispatchService(service.MultiService):
    """On start: release a dead predecessor's claims and resume unfinished dispatches."""

    def __init__(
        self, *, runner: DispatchRunner, database: DatabaseThreads,
        edition_settings: EditionSettings,
    ) -> None:
        super().__init__()
        self.setName("dispatch")
        self.runner = runner
        self._database = database
        self._edition_settings = edition_settings
        self.started: defer.Deferred[list[int]] | None = None

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
