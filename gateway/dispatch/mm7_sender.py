"""MMS deliveries of a carrier in MM7 mode: each one a SubmitReq to the carrier's MMSC.

The dispatch runner hands a claimed ``mms`` delivery of such a carrier here instead of to
the carrier's SMS link. The edition's MMS is the m-retrieve-conf stored at build time, read
back into MIME parts once per edition (:mod:`gateway.editions.mms_content`), so both modes
send the same edition. Each delivery is one "part" for dispatch: one SubmitReq whose
result (the MMSC's MessageID, stored as ``mm7:<id>`` on the delivery's part) the same
batched result writing as the SMS path records, and whose DeliveryReportReq later arrives
at the gateway's MM7 endpoint as a receipt for that message id.
"""

from __future__ import annotations

import hashlib
import itertools
import logging
import os
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from twisted.internet import defer

from carriers.messages import MessagePart, OutboundMessage, SubmitOutcome, SubmitResult, TextCoding
from carriers.mm7.client import Mm7Client
from carriers.mm7.codec import SubmitRequest
from carriers.mm7.mime import RequestTemplate, content_message
from gateway.db.threads import DatabaseThreads
from gateway.editions.mms_content import MmsContentError, read_retrieve_conf
from gateway.editions.stored import load_mms_pdu

log = logging.getLogger(__name__)

MM7_PART = (MessagePart(payload=b"", coding=TextCoding.BINARY),)
"""What an MMS delivery in MM7 mode counts as for dispatch: one part, the whole MMS."""
_MAX_STORED_ID = 80
STORED_ID_PREFIX = "mm7"
"""What every stored MM7 message id starts with (``mm7:`` or ``mm7#``)."""


def stored_message_id(mmsc_message_id: str) -> str:
    """The MMSC's MessageID as delivery parts and receipts store it: ``mm7:<id>`` (apart from
    the carrier's SMSC ids), or ``mm7#<sha1>`` when that would not fit the column."""
    stored = f"{STORED_ID_PREFIX}:{mmsc_message_id}"
    if len(stored) <= _MAX_STORED_ID:
        return stored
    return f"{STORED_ID_PREFIX}#" + hashlib.sha1(mmsc_message_id.encode("utf-8")).hexdigest()


@dataclass(frozen=True, slots=True, kw_only=True)
class Mm7SenderSettings:
    carrier: str
    release: str
    vasp_id: str
    vas_id: str = ""
    service_code: str = ""
    sender_address: str
    expiry: timedelta = timedelta(hours=72)


@dataclass(frozen=True, slots=True)
class _Edition:
    subject: str
    content: RequestTemplate


class Mm7Sender:
    """Submits one carrier's MMS deliveries over MM7."""

    def __init__(self, settings: Mm7SenderSettings, *, client: Mm7Client,
                 database: DatabaseThreads, clock: Any) -> None:
        self.settings = settings
        self._client = client
        self._database = database
        self._clock = clock
        self._editions: dict[int, _Edition] = {}
        self._transactions = itertools.count(1)
        self._prefix = f"{os.getpid():x}-{int(clock.seconds()):x}"

    async def prepare(self, edition_id: int) -> bool:
        """Load the edition's MMS for this carrier; False when it has none (or none that can
        be read), and its MMS subscribers then get what dispatch sends without it."""
        if edition_id in self._editions:
            return True
        carrier = self.settings.carrier
        pdu = await self._database.transaction(
            lambda session: load_mms_pdu(session, edition_id, carrier))
        if pdu is None:
            log.warning("edition #%d has no MMS for %s: nothing to submit over MM7",
                        edition_id, carrier)
            return False
        try:
            content = read_retrieve_conf(pdu)
        except MmsContentError as exc:
            log.error("edition #%d: the stored MMS for %s cannot be read: %s", edition_id,
                      carrier, exc)
            return False
        if len(self._editions) >= 4:
            self._editions.pop(next(iter(self._editions)))
        self._editions[edition_id] = _Edition(content.subject,
                                             RequestTemplate(content_message(content)))
        log.info("edition #%d: %s's MMS over MM7 (%d parts, %d octets)", edition_id, carrier,
                 len(content.parts), content.size)
        return True

    def submit(self, edition_id: int, message: OutboundMessage
               ) -> defer.Deferred[list[SubmitResult]]:
        """One SubmitReq for ``message.destination``; fires with one result (never fails)."""
        edition = self._editions.get(edition_id)
        if edition is None:
            return defer.succeed([SubmitResult(outcome=SubmitOutcome.NOT_SENT,
                                               reason="edition's MMS not loaded")])
        settings = self.settings
        now = datetime.fromtimestamp(self._clock.seconds(), UTC)
        request = SubmitRequest(
            transaction_id=f"sdgw-{self._prefix}-{next(self._transactions)}",
            release=settings.release, vasp_id=settings.vasp_id, vas_id=settings.vas_id,
            service_code=settings.service_code,
            sender_address=settings.sender_address or message.source,
            recipients=(message.destination,), subject=edition.subject,
            delivery_report=message.want_receipt, timestamp=now,
            expiry=now + settings.expiry)
        return self._client.submit(request, edition.content).addCallback(_stored)

    def abandon_queued(self) -> None:
        self._client.abandon_queued()

    def close(self) -> defer.Deferred[None]:
        return self._client.close()


def _stored(result: SubmitResult) -> list[SubmitResult]:
    if result.message_id is None:
        return [result]
    return [SubmitResult(outcome=result.outcome, message_id=stored_message_id(result.message_id),
                         status=result.status, reason=result.reason)]
