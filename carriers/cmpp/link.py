"""CMPP on the shared carrier link: the SP client session plus CMPP's words for neutral messages.

:class:`CmppTranslator` encodes each distinct message content once (a ``SubmitTemplate`` per
part, the Dest_terminal_Id spliced in per recipient), reads DELIVERs into MOs and receipts,
and names and classifies SUBMIT_RESP results.  :class:`CmppLink` is the shared
:class:`~carriers.link.transport.CarrierLinkService` with a :class:`CmppClientSession` and that
translator.

Classifying refused submits (docs/wire-formats.md §2.5): 8 (flow control that outlasted the
session's resends) and 3 (duplicate Sequence_Id: a resend gets a new one) are TRANSIENT, and
so are the vendor results 100-199: their meanings are undocumented and vary by ISMG (often
"busy" or "over quota"), and retrying one later costs a few submits where calling it
permanent would drop the subscriber's message.  Every other result is PERMANENT.
"""

from __future__ import annotations

import random
from datetime import datetime
from zoneinfo import ZoneInfo

from twisted.internet.interfaces import IReactorTime, IStreamClientEndpoint

from carriers.cmpp import translate
from carriers.cmpp.client import CmppClientSession, CmppClientSettings, connect_status_name
from carriers.cmpp.codec import SubmitTemplate
from carriers.cmpp.pdus import Deliver, SubmitResult
from carriers.link.api import UnreadableMessage
from carriers.link.templates import TemplateCache
from carriers.link.transport import CarrierLinkService, InboundHandler, ReconnectPolicy
from carriers.messages import DeliveryReceipt, InboundMessage, OutboundMessage, SubmitOutcome

__all__ = [
    "TRANSIENT_RESULTS", "VENDOR_RESULTS", "CmppLink", "CmppTranslator", "ReconnectPolicy",
]

VENDOR_RESULTS = range(100, 200)
"""SUBMIT_RESP results the spec leaves to ISMG vendors."""
TRANSIENT_RESULTS = frozenset({SubmitResult.DUPLICATE_SEQUENCE, SubmitResult.FLOW_CONTROL})
"""Protocol results worth a later retry (with the vendor range; see the module docstring)."""

_RESULT_NAMES: dict[int, str] = {
    SubmitResult.OK: "OK",
    SubmitResult.BAD_STRUCTURE: "bad message structure",
    SubmitResult.BAD_COMMAND: "bad command id",
    SubmitResult.DUPLICATE_SEQUENCE: "duplicate sequence number",
    SubmitResult.BAD_LENGTH: "bad message length",
    SubmitResult.BAD_FEE_CODE: "bad fee code",
    SubmitResult.TOO_LONG: "message too long",
    SubmitResult.BAD_SERVICE_ID: "bad service code",
    SubmitResult.FLOW_CONTROL: "flow control",
    SubmitResult.CHARGED_NUMBER_NOT_SERVED: "charged number not served by this gateway",
    SubmitResult.BAD_SRC_ID: "bad Src_Id",
    SubmitResult.BAD_MSG_SRC: "bad Msg_src",
    SubmitResult.BAD_FEE_TERMINAL_ID: "bad Fee_terminal_Id",
    SubmitResult.BAD_DEST_TERMINAL_ID: "bad Dest_terminal_Id",
}

class CmppTranslator:
    """CMPP 2.0 / 3.0's words for the neutral messages, for one link's settings."""

    protocol = "cmpp"

    def __init__(self, settings: CmppClientSettings) -> None:
        self.settings = settings
        self._zone = ZoneInfo(settings.timezone)
        self._templates: TemplateCache[SubmitTemplate] = TemplateCache()

    def frames_for(self, message: OutboundMessage) -> list[bytes]:
        destination = translate.destination_of(message)
        return [template.frame(destination) for template in self._templates_for(message)]

    def _templates_for(self, message: OutboundMessage) -> list[SubmitTemplate]:
        """Encoded submits per distinct message content, reused for every recipient."""
        key = (message.source, message.parts, message.want_receipt, message.link_id)
        version = self.settings.version
        return self._templates.get(key, lambda: [
            SubmitTemplate(submit, version)
            for submit in translate.submits_for(message, self.settings)])

    def read(
        self, pdu: Deliver, *, carrier: str, received_at: datetime
    ) -> InboundMessage | DeliveryReceipt:
        try:
            return translate.inbound_from(pdu, carrier=carrier, received_at=received_at,
                                          zone=self._zone)
        except translate.UnreadableMessage as exc:
            raise UnreadableMessage(str(exc)) from None

    def sender_of(self, pdu: Deliver) -> str:
        return pdu.src_terminal_id

    def classify(self, status: int) -> SubmitOutcome:
        if status in TRANSIENT_RESULTS or status in VENDOR_RESULTS:
            return SubmitOutcome.TRANSIENT
        return SubmitOutcome.PERMANENT

    def status_name(self, status: int) -> str:
        name = _RESULT_NAMES.get(status)
        if name is None:
            name = "vendor-specific" if status in VENDOR_RESULTS else "other error"
        return f"CMPP result {status} ({name})"

    def login_status_name(self, status: int) -> str:
        return connect_status_name(status)


class CmppLink(CarrierLinkService):
    """One CMPP long connection from an SP to one ISMG, kept up while the service runs."""

    session: CmppClientSession

    def __init__(
        self,
        *,
        carrier: str,
        endpoint: IStreamClientEndpoint,
        settings: CmppClientSettings,
        clock: IReactorTime,
        on_inbound: InboundHandler,
        reconnect: ReconnectPolicy | None = None,
        rng: random.Random | None = None,
        peer: str = "",
        max_unacknowledged: int = 1000,
    ) -> None:
        super().__init__(
            carrier=carrier, endpoint=endpoint, session=CmppClientSession(settings),
            translator=CmppTranslator(settings), clock=clock, on_inbound=on_inbound,
            reconnect=reconnect, rng=rng, peer=peer, max_unacknowledged=max_unacknowledged,
        )
