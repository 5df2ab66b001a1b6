"""SMPP on the shared carrier link: the ESME session plus SMPP's words for neutral messages.

:class:`SmppTranslator` encodes each distinct message content once (a ``SubmitTemplate``
per part, patched per recipient), reads deliver_sm / data_sm into MOs and receipts, and
says which command_status values are worth a retry.  :class:`SmppLink` is the shared
:class:`~carriers.link.transport.CarrierLinkService` with an :class:`EsmeSession` and that
translator.
"""

from __future__ import annotations

import random
from datetime import datetime

from twisted.internet.interfaces import IReactorTime, IStreamClientEndpoint

from carriers.link.api import UnreadableMessage
from carriers.link.templates import TemplateCache
from carriers.link.transport import CarrierLinkService, InboundHandler, ReconnectPolicy
from carriers.messages import DeliveryReceipt, InboundMessage, OutboundMessage, SubmitOutcome
from carriers.smpp import translate
from carriers.smpp.codec import SubmitTemplate
from carriers.smpp.esme import EsmeSession, EsmeSettings
from carriers.smpp.pdus import CommandStatus, DataSm, DeliverSm

__all__ = ["TRANSIENT_STATUSES", "ReconnectPolicy", "SmppLink", "SmppTranslator"]

TRANSIENT_STATUSES = frozenset({
    CommandStatus.ESME_RSYSERR, CommandStatus.ESME_RMSGQFUL, CommandStatus.ESME_RSUBMITFAIL,
    CommandStatus.ESME_RTHROTTLED, CommandStatus.ESME_RX_T_APPN,
})
"""Refusals worth a later retry; every other non-zero command_status is permanent."""

class SmppTranslator:
    """SMPP 3.4's words for the neutral messages."""

    protocol = "smpp"

    def __init__(self) -> None:
        self._templates: TemplateCache[SubmitTemplate] = TemplateCache()

    def frames_for(self, message: OutboundMessage) -> list[bytes]:
        destination = message.destination.lstrip("+")
        references = message.references
        return [template.frame(destination, None if references is None else references[index])
                for index, template in enumerate(self._templates_for(message))]

    def _templates_for(self, message: OutboundMessage) -> list[SubmitTemplate]:
        """Encoded submits per distinct message content, reused for every recipient."""
        key = (message.source, message.parts, message.want_receipt,
               message.destination.startswith("+"))
        return self._templates.get(key, lambda: [
            SubmitTemplate(pdu) for pdu in translate.submits_for(message)])

    def read(
        self, pdu: DeliverSm | DataSm, *, carrier: str, received_at: datetime
    ) -> InboundMessage | DeliveryReceipt:
        try:
            return translate.inbound_from(pdu, carrier=carrier, received_at=received_at)
        except translate.UnreadableMessage as exc:
            raise UnreadableMessage(str(exc)) from None

    def sender_of(self, pdu: DeliverSm | DataSm) -> str:
        return pdu.source_addr

    def classify(self, status: int) -> SubmitOutcome:
        return SubmitOutcome.TRANSIENT if status in TRANSIENT_STATUSES else SubmitOutcome.PERMANENT

    def status_name(self, status: int) -> str:
        try:
            return f"{CommandStatus(status).name} (0x{status:02X})"
        except ValueError:
            return f"status 0x{status:02X}"

    def login_status_name(self, status: int) -> str:
        return self.status_name(status)


class SmppLink(CarrierLinkService):
    """One SMPP transceiver link to one SMSC, kept up for as long as the service runs."""

    session: EsmeSession

    def __init__(
        self,
        *,
        carrier: str,
        endpoint: IStreamClientEndpoint,
        settings: EsmeSettings,
        clock: IReactorTime,
        on_inbound: InboundHandler,
        reconnect: ReconnectPolicy | None = None,
        rng: random.Random | None = None,
        peer: str = "",
        max_unacknowledged: int = 1000,
    ) -> None:
        super().__init__(
            carrier=carrier, endpoint=endpoint, session=EsmeSession(settings),
            translator=SmppTranslator(), clock=clock, on_inbound=on_inbound,
            reconnect=reconnect, rng=rng, peer=peer, max_unacknowledged=max_unacknowledged,
        )
