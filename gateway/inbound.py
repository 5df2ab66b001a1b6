"""What the gateway does with everything the carrier links hand up.

MOs go through the subscription engine in one database transaction (off the
reactor); when it has committed, the link acknowledges the MO and the reply is
submitted on the interactive lane of the same carrier's link, from the short
code and extension the MO came to.  Delivery receipts update the message log.
Replies queued before a crash are sent when the link is next bound.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any, Protocol

from sqlalchemy import select
from sqlalchemy.orm import Session
from twisted.internet import defer
from twisted.internet.interfaces import IReactorTime

from carriers.codings import sending_codings
from carriers.messages import (
    DeliveryReceipt,
    InboundMessage,
    Lane,
    MessagePart,
    OutboundMessage,
    SubmitOutcome,
    SubmitResult,
    TextCoding,
)
from carriers.numbers import InvalidNumber, mask_msisdn, normalise_msisdn
from gateway.db.batch_writer import BatchWriter
from gateway.db.models import OutboundMessage as OutboundRow
from gateway.db.threads import DatabaseThreads
from gateway.editions.segmentation import DEFAULT_CODINGS, segment_text
from gateway.log_format import fields
from gateway.message_log import SubmittedMessage, record_submitted
from gateway.subscriptions.service import (
    MoResult,
    QueuedReply,
    ReplyRenderer,
    SubscriptionSettings,
    handle_mos,
)

log = logging.getLogger(__name__)

MO_BATCH = 200
"""MOs applied in one transaction at most (see :func:`handle_mos`)."""

_REFUSED = frozenset({"invalid_number", "unknown_service"})
"""MO outcomes logged as warnings: the MO reached no subscriber."""


class Link(Protocol):
    def submit(self, message: OutboundMessage) -> defer.Deferred[list[SubmitResult]]: ...

    def when_bound(self) -> defer.Deferred[None]: ...


def sms_parts(
    text: str, reference: int, codings: frozenset[TextCoding] = DEFAULT_CODINGS
) -> tuple[MessagePart, ...]:
    """The text as SMS parts in a coding from ``codings`` (GSM 7-bit when carried and the text
    allows, else ASCII when carried and the text allows, else UCS2), UDH where concatenated."""
    segmented = segment_text(text, reference=reference % 256, codings=codings)
    return tuple(
        MessagePart(payload=segment.short_message, coding=segmented.coding,
                    has_udh=bool(segment.udh))
        for segment in segmented.segments
    )


def _number_of(message: InboundMessage) -> str:
    """What an MO's order is kept within: its number, however the carrier wrote it."""
    try:
        return normalise_msisdn(message.source)
    except InvalidNumber:
        return message.source


class InboundProcessor:
    """The handler every link calls with its MOs and receipts."""

    def __init__(
        self,
        *,
        database: DatabaseThreads,
        links: Mapping[str, Link],
        settings: SubscriptionSettings,
        render: ReplyRenderer,
        clock: IReactorTime,
        receipts: Callable[[DeliveryReceipt], defer.Deferred[None]],
        submitted: Callable[[SubmittedMessage], defer.Deferred[Any]] | None = None,
        link_protocols: Mapping[str, str] | None = None,
    ) -> None:
        """``receipts`` stores a receipt and fires once it is committed: the dispatch
        runner's batch writer, which matches digest parts and replies alike. ``submitted``
        stores a reply's submit results: the same writer, so the receipts that follow find
        them (without it, each reply's results get a transaction of their own).
        ``link_protocols`` (carrier → its link's protocol) picks the codings a reply may be
        sent in; a carrier not in it gets GSM 7-bit or UCS2."""
        self._database = database
        self._links = links
        self._settings = settings
        self._render = render
        self._clock = clock
        self._receipts = receipts
        self._submitted = submitted or self._record_submitted
        # MOs go to the database at once, ahead of a dispatch's batches (a subscriber waits
        # for the reply), beside a batch still being applied unless it has their number: a
        # number's MOs are applied in the order they came.
        self._mos = BatchWriter(database, clock, self._handle_batch, interval=1.0,
                                size=MO_BATCH, urgent=True, alone_on_failure=True,
                                key=_number_of)
        self._reply_codings = {carrier: sending_codings(protocol)
                               for carrier, protocol in (link_protocols or {}).items()}
        self.on_mo_handled: Callable[[MoResult], None] | None = None
        self.observe_mo: Callable[[str, str], None] | None = None
        """Told (carrier, outcome) of every MO handled (the metrics count them)."""
        self.observe_reply: Callable[[str, str], None] | None = None
        """Told (carrier, outcome) of every reply submitted: ``accepted`` when every part
        was, else the first other part's outcome."""

    def _now(self) -> datetime:
        return datetime.fromtimestamp(self._clock.seconds(), UTC)

    def __call__(self, message: InboundMessage | DeliveryReceipt) -> defer.Deferred[Any]:
        if isinstance(message, DeliveryReceipt):
            return self._receipts(message)
        stored = self._mos.add(message)
        stored.addCallback(self._after_commit, message.carrier)
        return stored

    def _handle_batch(self, session: Session, messages: list[InboundMessage]) -> list[MoResult]:
        return handle_mos(session, messages, settings=self._settings, render=self._render,
                          now=self._now())

    def _after_commit(self, result: MoResult, carrier: str) -> MoResult:
        log.log(logging.WARNING if result.outcome in _REFUSED else logging.INFO,
                "MO #%d on %s from %s: %s%s", result.inbound_id, result.carrier,
                mask_msisdn(result.number), result.outcome,
                f" ({result.detail})" if result.detail else "",
                extra=fields("mo", carrier=result.carrier, number=result.number,
                             message_id=result.inbound_id, subscriber_id=result.subscriber_id,
                             carrier_message_id=result.carrier_message_id or None,
                             outcome=result.outcome,
                             reply_id=result.reply.outbound_id if result.reply else None))
        if self.observe_mo is not None:
            self.observe_mo(carrier, result.outcome)
        if result.reply is not None:
            # Not chained: the MO is acknowledged now; the reply goes out on its own.
            self.send_reply(result.reply)
        if self.on_mo_handled is not None:
            self.on_mo_handled(result)
        return result

    def send_reply(self, reply: QueuedReply) -> defer.Deferred[str]:
        link = self._links.get(reply.carrier)
        if link is None:
            log.error("no link for %s; reply #%d stays queued", reply.carrier, reply.outbound_id,
                      extra=self._reply_fields(reply, "queued"))
            return defer.succeed("queued")
        message = OutboundMessage(
            source=reply.source,
            destination=reply.destination,
            parts=sms_parts(reply.text, reply.outbound_id,
                            self._reply_codings.get(reply.carrier, DEFAULT_CODINGS)),
            lane=Lane.INTERACTIVE,
            link_id=reply.link_id,
        )
        sent = link.submit(message)

        def record(results: list[SubmitResult]) -> defer.Deferred[str]:
            status = ", ".join(sorted({r.outcome.value for r in results}))
            if self.observe_reply is not None:
                refused = [r.outcome.value for r in results
                           if r.outcome is not SubmitOutcome.ACCEPTED]
                self.observe_reply(reply.carrier, refused[0] if refused else "accepted")
            stored = self._submitted(SubmittedMessage(reply.outbound_id, reply.carrier,
                                                      tuple(results)))
            return stored.addCallback(lambda _: status)

        def report(status: str) -> str:
            log.info("reply #%d on %s to %s: %s", reply.outbound_id, reply.carrier,
                     mask_msisdn(reply.destination), status,
                     extra=self._reply_fields(reply, status, parts=len(message.parts)))
            return status

        def failed(failure: Any) -> str:
            log.error("reply #%d on %s to %s could not be recorded: %s", reply.outbound_id,
                      reply.carrier, mask_msisdn(reply.destination), failure.getErrorMessage(),
                      extra=self._reply_fields(reply, "error"))
            return "error"

        return sent.addCallback(record).addCallback(report).addErrback(failed)

    @staticmethod
    def _reply_fields(reply: QueuedReply, outcome: str, **more: Any) -> dict[str, Any]:
        return fields("reply", carrier=reply.carrier, number=reply.destination,
                      message_id=reply.outbound_id, subscriber_id=reply.subscriber_id,
                      in_reply_to=reply.in_reply_to, outcome=outcome, **more)

    def _record_submitted(self, submitted: SubmittedMessage) -> defer.Deferred[list[str]]:
        now = self._now()
        return self._database.transaction(
            lambda session: record_submitted(session, [submitted], now))

    def resend_queued(self, carrier: str, before: datetime) -> defer.Deferred[int]:
        """Send replies a previous run committed but never submitted (crash after commit).

        Only replies created ``before`` this run started: newer ones are this run's own.
        """

        def load(session: Session) -> list[QueuedReply]:
            rows = session.scalars(select(OutboundRow).where(
                OutboundRow.carrier == carrier, OutboundRow.kind == "reply",
                OutboundRow.status == "queued", OutboundRow.created_at < before,
            ).order_by(OutboundRow.id)).all()
            return [QueuedReply(outbound_id=r.id, carrier=r.carrier, source=r.source_addr,
                                destination=r.destination_addr, text=r.text,
                                in_reply_to=r.in_reply_to) for r in rows]

        def send_all(replies: list[QueuedReply]) -> int:
            for reply in replies:
                self.send_reply(reply)
            if replies:
                log.info("%s: re-sending %d reply(ies) queued before a restart", carrier,
                         len(replies))
            return len(replies)

        return self._database.transaction(load).addCallback(send_all)

