"""What SMPP brings to the simulated carrier (:mod:`carriers.simulator.carrier_service`).

Sessions are :class:`~carriers.smpp.smsc.SmscSession`; message ids are text, a random
four-hex-digit prefix per simulator and a counter; receipts are deliver_sm with the customary
``id:… stat:…`` text, ``receipted_message_id`` and ``message_state``; MOs are deliver_sm in the
GSM 7-bit alphabet (unpacked) when the text fits it, else UCS2.
"""

from __future__ import annotations

import itertools
import random
from collections.abc import Callable, Mapping
from datetime import UTC, datetime

from carriers.gsm7 import encode_gsm7_unpacked, is_gsm7
from carriers.simulator.carrier_service import (
    ReceiptWanted,
    ReceivedSubmit,
    SamePdu,
    known_coding,
    readable_text,
)
from carriers.simulator.server_events import ServerFaults, ServerSettings
from carriers.smpp.pdus import (
    ESM_CLASS_DELIVERY_RECEIPT,
    ESM_CLASS_UDHI,
    CommandStatus,
    DeliverSm,
    MessageState,
    SubmitSm,
)
from carriers.smpp.receipts import ReceiptText, format_receipt_text
from carriers.smpp.smsc import SmscSession

__all__ = ["SmppDialect"]

_STATE_FOR_STAT: dict[str, int] = {
    "DELIVRD": MessageState.DELIVERED,
    "UNDELIV": MessageState.UNDELIVERABLE,
    "EXPIRED": MessageState.EXPIRED,
    "REJECTD": MessageState.REJECTED,
    "DELETED": MessageState.DELETED,
    "UNKNOWN": MessageState.UNKNOWN,
}
_RECEIPT_WANTED: dict[int, ReceiptWanted] = {
    0: ReceiptWanted.NONE,
    1: ReceiptWanted.ALWAYS,
    2: ReceiptWanted.ON_FAILURE,
    3: ReceiptWanted.ALWAYS,  # reserved by SMPP 3.4; taken as "always", as before
}
_GSM7 = 0x00
_UCS2 = 0x08
_IA5 = 0x01


class SmppDialect:
    """SMPP 3.4 for :class:`~carriers.simulator.carrier_service.SimulatedCarrier`."""

    name = "smpp"

    def __init__(self, *, rng: random.Random) -> None:
        self._ids = itertools.count(1)
        self._id_prefix = f"{rng.randrange(16**4):04X}"

    def new_session(
        self,
        *,
        settings: ServerSettings,
        accounts: Mapping[str, str],
        faults: ServerFaults,
        next_message_id: Callable[[], str],
    ) -> SmscSession:
        def authenticate(system_id: str, password: str) -> int:
            expected = accounts.get(system_id)
            if expected is None or expected != password:
                return CommandStatus.ESME_RBINDFAIL
            return CommandStatus.ESME_ROK

        return SmscSession(
            settings=settings,
            authenticate=authenticate,
            next_message_id=next_message_id,
            faults=faults,
        )

    def next_message_id(self) -> str:
        return f"{self._id_prefix}{next(self._ids):012d}"

    def read_submit(
        self, pdu: SubmitSm, *, login: str, message_id: str, now: float
    ) -> ReceivedSubmit:
        udh, payload = _split_udh(pdu)
        coding = known_coding("smpp", pdu.data_coding)
        return ReceivedSubmit(
            message_id=message_id,
            login=login,
            source=pdu.source_addr,
            destination=pdu.destination_addr,
            text=readable_text(payload, coding),
            coding=coding,
            wire_coding=pdu.data_coding,
            udh=udh,
            received_at=now,
            reference=pdu.user_message_reference,
            receipt_wanted=_RECEIPT_WANTED[pdu.registered_delivery & 0x03],
        )

    def mo_pdu(self, source: str, destination: str, text: str) -> SamePdu:
        if is_gsm7(text):
            payload, coding = encode_gsm7_unpacked(text), _GSM7
        else:
            payload, coding = text.encode("utf-16-be"), _UCS2
        return SamePdu(DeliverSm(
            sequence_number=0,
            source_addr_ton=1,
            source_addr_npi=1,
            source_addr=source,
            dest_addr_ton=0,
            dest_addr_npi=1,
            destination_addr=destination,
            data_coding=coding,
            short_message=payload,
        ))

    def receipt_pdu(
        self, submit: ReceivedSubmit, *, stat: str, done_at: float, echo_reference: bool
    ) -> SamePdu:
        text = format_receipt_text(ReceiptText(
            id=submit.message_id,
            sub=1,
            dlvrd=1 if stat == "DELIVRD" else 0,
            submit_date=datetime.fromtimestamp(submit.received_at, UTC),
            done_date=datetime.fromtimestamp(done_at, UTC),
            stat=stat,
            err="000" if stat == "DELIVRD" else "001",
            text=submit.text[:20],
        ))
        return SamePdu(DeliverSm(
            sequence_number=0,
            source_addr=submit.destination,
            destination_addr=submit.source,
            esm_class=ESM_CLASS_DELIVERY_RECEIPT,
            data_coding=_IA5,
            short_message=text.encode("ascii", "replace"),
            receipted_message_id=submit.message_id,
            message_state=_STATE_FOR_STAT[stat],
            user_message_reference=submit.reference if echo_reference else None,
        ))


def _split_udh(pdu: SubmitSm) -> tuple[bytes, bytes]:
    data = pdu.short_message if pdu.message_payload is None else pdu.message_payload
    if pdu.esm_class & ESM_CLASS_UDHI and data:
        length = data[0] + 1
        return data[:length], data[length:]
    return b"", data
