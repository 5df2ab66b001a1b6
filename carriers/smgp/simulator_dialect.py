"""What SMGP brings to the simulated carrier (:mod:`carriers.simulator.carrier_service`).

Sessions are :class:`~carriers.smgp.ismg.SmgwSession`; message ids are 10-octet BCD MsgIDs
(:class:`~carriers.smgp.msg_id.MsgIdGenerator`: the SMGW code, its local time to the minute
and a wrapping 6-digit counter), recorded as their 20-hex-digit text. The SMGW's clock is
China Standard Time (UTC+8): MsgIDs, RecvTime and report times are stamped in it.

* An MO is a Deliver with IsReport 0 from the handset (SrcTermID) to the number it texted
  (DestTermID); MsgFormat 0 for ASCII text, else 8 (UCS2); a LinkID TLV names the on-demand
  session the SP's reply may echo. RecvTime is YYYYMMDDHHMMSS (§4.5 gives only its length).
* A receipt is a Deliver with IsReport 1 whose MsgContent is the 122-octet report (``id`` =
  the submit's MsgID, lower-case labels), from the handset to the submit's source.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta, timezone

from twisted.internet.interfaces import IReactorTime

from carriers.codings import wire_number
from carriers.messages import TextCoding
from carriers.simulator.carrier_service import (
    ReceiptWanted,
    ReceivedSubmit,
    SamePdu,
    known_coding,
    mo_payload,
    readable_text,
)
from carriers.simulator.server_events import ServerFaults, ServerSettings
from carriers.smgp.ismg import SmgwSession
from carriers.smgp.msg_id import MAX_SEQUENCE, MsgIdGenerator, msg_id_text, parse_msg_id_text
from carriers.smgp.pdus import Deliver, Submit
from carriers.smgp.reports import SmgpReport, encode_report

__all__ = ["DEFAULT_GATEWAY", "SMGW_TIME", "SmgpDialect"]

SMGW_TIME = timezone(timedelta(hours=8), "CST")
"""The simulated SMGW's local time."""
DEFAULT_GATEWAY = "010061"
"""The SMGW code written into the simulator's MsgIDs (§4.6's example: Beijing, index 1)."""
_ASCII = wire_number("smgp", TextCoding.ASCII)
_REPORT_TEXT = 20


class SmgpDialect:
    """SMGP 3.0 for :class:`~carriers.simulator.carrier_service.SimulatedCarrier`."""

    name = "smgp"

    def __init__(self, *, clock: IReactorTime, rng: random.Random,
                 gateway: str = DEFAULT_GATEWAY) -> None:
        self._clock = clock
        # A random start keeps a restarted simulator from repeating the MsgIDs of its minute.
        self._ids = MsgIdGenerator(gateway, start=rng.randrange(MAX_SEQUENCE + 1))
        self._stamp_second = -1
        self._stamp = self._local_time(0)

    def new_session(
        self,
        *,
        settings: ServerSettings,
        accounts: Mapping[str, str],
        faults: ServerFaults,
        next_message_id: Callable[[], bytes],
    ) -> SmgwSession:
        return SmgwSession(settings=settings, accounts=accounts,
                           next_message_id=next_message_id, faults=faults)

    def next_message_id(self) -> bytes:
        return self._ids.next(self._now())

    def read_submit(
        self, pdu: Submit, *, login: str, message_id: bytes | str, now: float
    ) -> ReceivedSubmit:
        """The first DestTermID stands for the submit (the gateway sends one number per
        Submit)."""
        content = pdu.msg_content
        udh = b""
        if pdu.tp_udhi and content:
            udh, content = content[: content[0] + 1], content[content[0] + 1:]
        coding = known_coding("smgp", pdu.msg_format)
        return ReceivedSubmit(
            message_id=message_id if isinstance(message_id, str) else msg_id_text(message_id),
            login=login,
            source=pdu.src_term_id,
            destination=pdu.dest_term_ids[0] if pdu.dest_term_ids else "",
            text=readable_text(content, coding),
            coding=coding,
            wire_coding=pdu.msg_format,
            udh=udh,
            received_at=now,
            receipt_wanted=ReceiptWanted.ALWAYS if pdu.need_report == 1 else ReceiptWanted.NONE,
            link_id=pdu.link_id or "",
        )

    def mo_pdu(self, source: str, destination: str, text: str) -> SamePdu:
        """ValueError when a number is not ASCII or over 21 characters, or the text does not
        fit one SM (the simulator does not split MOs)."""
        payload, msg_format = mo_payload("smgp", source, destination, text)
        msg_id = self.next_message_id()
        return SamePdu(Deliver(
            sequence_id=0, msg_id=msg_id, is_report=0, msg_format=msg_format,
            recv_time=self._now().strftime("%Y%m%d%H%M%S"), src_term_id=source,
            dest_term_id=destination, msg_content=payload,
            link_id=f"LK{msg_id_text(msg_id)[-10:]}",
        ))

    def receipt_pdu(
        self, submit: ReceivedSubmit, *, stat: str, done_at: float, echo_reference: bool
    ) -> SamePdu:
        """``echo_reference`` does not apply: an SMGP Submit carries no reference of its own."""
        text = submit.text[:_REPORT_TEXT] if submit.text.isascii() else ""
        report = SmgpReport(
            msg_id=parse_msg_id_text(submit.message_id), stat=stat,
            submit_date=self._report_time(submit.received_at),
            done_date=self._report_time(done_at),
            err="000" if stat == "DELIVRD" else "001", text=text,
        )
        return SamePdu(Deliver(
            sequence_id=0, msg_id=self.next_message_id(), is_report=1, msg_format=_ASCII,
            recv_time=self._local_time(done_at).strftime("%Y%m%d%H%M%S"),
            src_term_id=submit.destination, dest_term_id=submit.source,
            msg_content=encode_report(report),
        ))

    def _now(self) -> datetime:
        second = int(self._clock.seconds())
        if second != self._stamp_second:  # one datetime per second, not per id
            self._stamp_second, self._stamp = second, self._local_time(second)
        return self._stamp

    @staticmethod
    def _local_time(seconds: float) -> datetime:
        return datetime.fromtimestamp(seconds, SMGW_TIME)

    def _report_time(self, seconds: float) -> str:
        return self._local_time(seconds).strftime("%y%m%d%H%M")
