"""SMGP on the shared carrier link: the SP client session plus SMGP's words for neutral messages.

:class:`SmgpTranslator` encodes each distinct message content once (a ``SubmitTemplate`` per
part, the DestTermID spliced in per recipient), reads Delivers into MOs and receipts, and
names and classifies Submit_Resp statuses. :class:`SmgpLink` is the shared
:class:`~carriers.link.transport.CarrierLinkService` with an :class:`SmgpClientSession` and that
translator.

Classifying refused submits (docs/protocols.md §4.8): 1 (system busy) and 74 (sending window
closed) that outlasted the session's resends, 12 (duplicate sequence: a resend gets a new
one) and 75 (daily volume exceeded: tomorrow it goes) are TRANSIENT; every other status
(bad fields, routing error, account expired, and codes outside the table) is PERMANENT.
"""

from __future__ import annotations

import random
from datetime import datetime
from zoneinfo import ZoneInfo

from twisted.internet.interfaces import IReactorTime, IStreamClientEndpoint

from carriers.link.api import UnreadableMessage
from carriers.link.templates import TemplateCache
from carriers.link.transport import CarrierLinkService, InboundHandler, ReconnectPolicy
from carriers.messages import DeliveryReceipt, InboundMessage, OutboundMessage, SubmitOutcome
from carriers.smgp import translate
from carriers.smgp.client import SmgpClientSession, SmgpClientSettings, status_name
from carriers.smgp.codec import SubmitTemplate
from carriers.smgp.pdus import Deliver, Status

__all__ = ["TRANSIENT_STATUSES", "ReconnectPolicy", "SmgpLink", "SmgpTranslator"]

TRANSIENT_STATUSES = frozenset({
    Status.SYSTEM_BUSY, Status.DUPLICATE_SEQUENCE, Status.SENDING_WINDOW_CLOSED,
    Status.DAILY_VOLUME_EXCEEDED,
})
"""Submit_Resp statuses worth a later retry (see the module docstring)."""

class SmgpTranslator:
    """SMGP 3.0's words for the neutral messages, for one link's settings."""

    protocol = "smgp"

    def __init__(self, settings: SmgpClientSettings) -> None:
        self.settings = settings
        self._zone = ZoneInfo(settings.timezone)
        self._templates: TemplateCache[SubmitTemplate] = TemplateCache()

    def frames_for(self, message: OutboundMessage) -> list[bytes]:
        destination = translate.destination_of(message)
        return [template.frame(destination) for template in self._templates_for(message)]

    def _templates_for(self, message: OutboundMessage) -> list[SubmitTemplate]:
        """Encoded submits per distinct message content, reused for every recipient."""
        key = (message.source, message.parts, message.want_receipt, message.link_id)
        return self._templates.get(key, lambda: [
            SubmitTemplate(submit) for submit in translate.submits_for(message, self.settings)])

    def read(
        self, pdu: Deliver, *, carrier: str, received_at: datetime
    ) -> InboundMessage | DeliveryReceipt:
        try:
            return translate.inbound_from(pdu, carrier=carrier, received_at=received_at,
                                          zone=self._zone)
        except translate.UnreadableMessage as exc:
            raise UnreadableMessage(str(exc)) from None

    def sender_of(self, pdu: Deliver) -> str:
        return pdu.src_term_id

    def classify(self, status: int) -> SubmitOutcome:
        if status in TRANSIENT_STATUSES:
            return SubmitOutcome.TRANSIENT
        return SubmitOutcome.PERMANENT

    def status_name(self, status: int) -> str:
        return status_name(status)

    def login_status_name(self, status: int) -> str:
        return status_name(status)


class SmgpLink(CarrierLinkService):
    """One SMGP connection from an SP to one China Telecom SMGW, kept up while it runs."""

    session: SmgpClientSession

    def __init__(
        self,
        *,
        carrier: str,
        endpoint: IStreamClientEndpoint,
        settings: SmgpClientSettings,
        clock: IReactorTime,
        on_inbound: InboundHandler,
        reconnect: ReconnectPolicy | None = None,
        rng: random.Random | None = None,
        peer: str = "",
        max_unacknowledged: int = 1000,
    ) -> None:
        super().__init__(
            carrier=carrier, endpoint=endpoint, session=SmgpClientSession(settings),
            translator=SmgpTranslator(settings), clock=clock, on_inbound=on_inbound,
            reconnect=reconnect, rng=rng, peer=peer, max_unacknowledged=max_unacknowledged,
        )
