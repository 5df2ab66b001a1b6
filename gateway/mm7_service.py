"""The MM7 side of the gateway, composed: a client and a sender per carrier in MM7 mode,
the gateway's MM7 endpoint, and what it does with what the MMSCs post.

A DeliveryReportReq becomes a :class:`DeliveryReceipt` for the message id the SubmitRsp
gave (``mm7:<id>``), stored through the dispatch runner's ordered batch writer like an SMS
receipt (a report that arrives before its submit's result is stored is kept and applied
when it is). A DeliverReq (an MO MMS) becomes an :class:`InboundMessage` whose text is its
text parts (else its Subject), handled by the same MO path as an SMS: so a subscriber can
text ``SD`` as an MMS. The endpoint answers once either is committed.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from twisted.application import service, strports
from twisted.internet import defer

from carriers.messages import DeliveryReceipt, InboundMessage, ReceiptState
from carriers.mm7.client import Mm7Client, Mm7ClientSettings
from carriers.mm7.codec import DeliveryReportRequest, MmStatus
from carriers.mm7.endpoint import EndpointHandlers, ReceivedMo, endpoint_site
from carriers.mm7.http_guard import RequestGuard
from carriers.simulator.mmsc import MmscSettings, SimulatedMmsc
from gateway.config import CarrierConfig, GatewayConfig
from gateway.db.threads import DatabaseThreads
from gateway.dispatch.mm7_sender import Mm7Sender, Mm7SenderSettings, stored_message_id

log = logging.getLogger(__name__)

REPORT_STATES: dict[MmStatus, ReceiptState] = {
    MmStatus.RETRIEVED: ReceiptState.DELIVERED,
    MmStatus.EXPIRED: ReceiptState.EXPIRED,
    MmStatus.REJECTED: ReceiptState.REJECTED,
    MmStatus.UNREACHABLE: ReceiptState.UNDELIVERABLE,
    MmStatus.UNRECOGNISED: ReceiptState.UNDELIVERABLE,
    MmStatus.INDETERMINATE: ReceiptState.UNKNOWN,
    MmStatus.FORWARDED: ReceiptState.UNKNOWN,
    MmStatus.DEFERRED: ReceiptState.ENROUTE,
}
"""A report's MMStatus → the receipt state dispatch knows (Deferred is not final)."""


def receipt_of(carrier: str, report: DeliveryReportRequest, received_at: datetime
               ) -> DeliveryReceipt:
    return DeliveryReceipt(
        carrier=carrier, message_id=stored_message_id(report.message_id),
        state=REPORT_STATES[report.status], stat=report.status.value[:16],
        error=report.status_text[:100], received_at=received_at,
        subscriber=_number(report.recipient))


def inbound_of(carrier: str, mo: ReceivedMo, received_at: datetime) -> InboundMessage:
    request = mo.request
    text = " ".join(t.strip() for t in mo.texts if t.strip()) or request.subject
    return InboundMessage(
        carrier=carrier, source=_number(request.sender), destination=_number(
            request.recipients[0]), text=text, received_at=received_at,
        carrier_message_id=f"mm7:{request.transaction_id}"[:80])


def _number(address: str) -> str:
    """``+8613912345678/TYPE=PLMN`` → ``+8613912345678`` (the MO path normalises the rest)."""
    return address.split("/", 1)[0].strip()


def endpoint_handlers(
    *, store_receipt: Callable[[DeliveryReceipt], defer.Deferred[Any]],
    handle_mo: Callable[[InboundMessage], defer.Deferred[Any]], clock: Any,
) -> EndpointHandlers:
    def now() -> datetime:
        return datetime.fromtimestamp(clock.seconds(), UTC)

    def report(carrier: str, request: DeliveryReportRequest) -> defer.Deferred[Any]:
        log.debug("MM7 report from %s: %s %s", carrier, request.message_id,
                  request.status.value)
        return store_receipt(receipt_of(carrier, request, now()))

    def deliver(carrier: str, mo: ReceivedMo) -> defer.Deferred[Any]:
        log.info("MM7 MO MMS from %s on %s (%d text part(s))", mo.request.sender, carrier,
                 len(mo.texts))
        return handle_mo(inbound_of(carrier, mo, now()))

    return EndpointHandlers(delivery_report=report, deliver=deliver)


def mm7_carriers(config: GatewayConfig) -> dict[str, CarrierConfig]:
    return {name: c for name, c in config.carriers.items() if c.mm7 is not None}


def endpoint_url(config: GatewayConfig, carrier: str, *, port: int | None = None) -> str:
    endpoint = config.mm7_endpoint
    host = endpoint.host if endpoint.host not in ("0.0.0.0", "::") else "127.0.0.1"
    return (f"http://{host}:{endpoint.port if port is None else port}"
            f"{endpoint.path.rstrip('/')}/{carrier}")


def build_senders(config: GatewayConfig, *, database: DatabaseThreads, reactor: Any
                  ) -> dict[str, Mm7Sender]:
    senders = {}
    for carrier, carrier_config in mm7_carriers(config).items():
        mm7 = carrier_config.mm7
        assert mm7 is not None
        client = Mm7Client(Mm7ClientSettings(
            url=mm7.url, username=mm7.username, password=carrier_config.mm7_password(),
            timeout=mm7.timeout, rate=mm7.rate / config.dispatch.cluster_size,
            window=mm7.window), reactor=reactor)
        senders[carrier] = Mm7Sender(Mm7SenderSettings(
            carrier=carrier, release=mm7.release, vasp_id=mm7.vasp_id, vas_id=mm7.vas_id,
            service_code=mm7.service_code,
            sender_address=mm7.sender_address or carrier_config.short_code,
            expiry=timedelta(hours=config.editions.mms_expiry_hours)),
            client=client, database=database, clock=reactor)
    return senders


class _ClosingSenders(service.Service):
    """Closes the MM7 clients' connection pools when the gateway stops."""

    def __init__(self, senders: Mapping[str, Mm7Sender]) -> None:
        self._senders = senders

    def stopService(self) -> defer.Deferred[None]:
        super().stopService()
        return defer.gatherResults([s.close() for s in self._senders.values()],
                                   consumeErrors=True).addCallback(lambda _: None)


def build_endpoint(config: GatewayConfig, handlers: EndpointHandlers, *,
                   senders: Mapping[str, Mm7Sender], port: int | None = None
                   ) -> service.MultiService:
    """The gateway's MM7 endpoint (and the closing of the MM7 clients), as one service."""
    endpoint = config.mm7_endpoint
    guard = RequestGuard(
        name="MM7 endpoint", max_body_bytes=endpoint.max_body_bytes,
        accounts={endpoint.username: endpoint.resolved_password()} if endpoint.username
        else {},
        allowed_addresses=frozenset(endpoint.allowed_addresses), realm="sdgw-mm7")
    site = endpoint_site(endpoint.path, mm7_carriers(config), handlers, guard)
    parent = service.MultiService()
    _ClosingSenders(senders).setServiceParent(parent)
    listener = strports.service(
        f"tcp:{endpoint.port if port is None else port}:interface={endpoint.host}", site)
    listener.setName("mm7-endpoint")
    listener.setServiceParent(parent)
    return parent


def build_mmsc(carrier: str, config: GatewayConfig, *, reactor: Any, endpoint_port: int | None
               = None, port: int | None = None, control_port: int | None = None,
               ) -> SimulatedMmsc:
    """The simulated MMSC of ``carrier``: accepts the gateway's MM7 account, posts to the
    gateway's endpoint with the endpoint's account."""
    carrier_config = config.carriers[carrier]
    mm7 = carrier_config.mm7
    assert mm7 is not None and mm7.simulator is not None
    sim = mm7.simulator
    endpoint = config.mm7_endpoint
    return SimulatedMmsc(MmscSettings(
        carrier=carrier, accounts={mm7.username: carrier_config.mm7_password()},
        gateway_url=endpoint_url(config, carrier, port=endpoint_port),
        gateway_username=endpoint.username, gateway_password=endpoint.resolved_password(),
        release=mm7.release, tps=sim.tps, report_delay=sim.report_delay,
        report_mix=dict(sim.report_mix), timeout_rate=sim.timeout_rate,
        error_rate=sim.error_rate, malformed_rate=sim.malformed_rate),
        reactor=reactor, host=sim.host, port=sim.port if port is None else port,
        control_port=sim.control_port if control_port is None else control_port,
        rng=random.Random(sim.seed))
