"""What CMPP brings to the simulated carrier (:mod:`carriers.simulator.carrier_service`).

Sessions are :class:`~carriers.cmpp.ismg.IsmgSession`; message ids are 64-bit Msg_Ids
(:class:`~carriers.cmpp.msg_id.MsgIdGenerator`: the ISMG's local time, its gateway code and a
wrapping counter), recorded as their 16-hex-digit text.  The ISMG's clock is China Standard
Time (UTC+8), as real ones are: Msg_Ids and report times are stamped in it.

* An MO is a DELIVER with Registered_Delivery 0 from the handset (Src_terminal_Id) to the
  number it texted, short code plus any extension (Dest_Id); Msg_Fmt 0 for ASCII text, else
  8 (UCS2).
* A receipt is a DELIVER with Registered_Delivery 1 whose Msg_Content is the status report
  (Msg_Id = the submit's Msg_Id); Src_terminal_Id is the handset.  The report's layout depends
  on the version the receiving connection logged in with (60 octets for 2.0, 71 for 3.0), so
  it is encoded for that connection when it is delivered (:class:`ReportDeliver`).
"""

from __future__ import annotations

import random
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from datetime import datetime, timedelta, timezone
from typing import Any

from twisted.internet.interfaces import IReactorTime

from carriers.cmpp.ismg import IsmgSession
from carriers.cmpp.msg_id import MAX_SEQUENCE, MsgIdGenerator, msg_id_text, parse_msg_id_text
from carriers.cmpp.pdus import Deliver, Submit
from carriers.cmpp.reports import CmppReport, encode_report
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

__all__ = ["ISMG_TIME", "CmppDialect", "ReportDeliver"]

ISMG_TIME = timezone(timedelta(hours=8), "CST")
"""The simulated ISMG's local time, in which Msg_Ids and report times are written."""
DEFAULT_GATEWAY_CODE = 10_001
"""The ISMG gateway code written into the simulator's Msg_Ids (22 bits)."""
_ASCII = wire_number("cmpp", TextCoding.ASCII)
_WITH_REPORT = 1
"""Registered_Delivery 1: a SUBMIT asks for a status report; a DELIVER is one (0: an MO)."""


@dataclass(frozen=True, slots=True)
class ReportDeliver:
    """A status report DELIVER whose Msg_Content is encoded for the connection it goes to."""

    deliver: Deliver
    report: CmppReport

    def pdu_for(self, session: Any) -> Deliver:
        """``session`` is an :class:`IsmgSession`: its ``version`` picks the report layout."""
        return replace(self.deliver, msg_content=encode_report(self.report, session.version))


class CmppDialect:
    """CMPP 2.0 / 3.0 for :class:`~carriers.simulator.carrier_service.SimulatedCarrier`."""

    name = "cmpp"

    def __init__(
        self,
        *,
        clock: IReactorTime,
        rng: random.Random,
        gateway_code: int = DEFAULT_GATEWAY_CODE,
    ) -> None:
        self._clock = clock
        # A random start keeps a restarted simulator from repeating the Msg_Ids of the second
        # it stopped in.
        self._ids = MsgIdGenerator(gateway_code, start=rng.randrange(MAX_SEQUENCE + 1))
        self._smsc_sequence = 0
        self._stamp_second = -1
        self._stamp = self._local_time(0)

    def new_session(
        self,
        *,
        settings: ServerSettings,
        accounts: Mapping[str, str],
        faults: ServerFaults,
        next_message_id: Callable[[], int],
    ) -> IsmgSession:
        return IsmgSession(settings=settings, accounts=accounts,
                           next_message_id=next_message_id, faults=faults)

    def next_message_id(self) -> int:
        second = int(self._clock.seconds())
        if second != self._stamp_second:  # one datetime per second, not per id
            self._stamp_second, self._stamp = second, self._local_time(second)
        return self._ids.next(self._stamp)

    def read_submit(
        self, pdu: Submit, *, login: str, message_id: int | str, now: float
    ) -> ReceivedSubmit:
        """The first Dest_terminal_Id stands for the submit (the gateway sends one number per
        SUBMIT); a 2.0 Registered_Delivery 2 (SMC bill) asks for no report."""
        content = pdu.msg_content
        udh = b""
        if pdu.tp_udhi and content:
            udh, content = content[: content[0] + 1], content[content[0] + 1 :]
        coding = known_coding("cmpp", pdu.msg_fmt)
        return ReceivedSubmit(
            message_id=message_id if isinstance(message_id, str) else msg_id_text(message_id),
            login=login,
            source=pdu.src_id,
            destination=pdu.dest_terminal_ids[0] if pdu.dest_terminal_ids else "",
            text=readable_text(content, coding),
            coding=coding,
            wire_coding=pdu.msg_fmt,
            udh=udh,
            received_at=now,
            receipt_wanted=(ReceiptWanted.ALWAYS if pdu.registered_delivery == _WITH_REPORT
                            else ReceiptWanted.NONE),
            link_id=pdu.link_id,
        )

    def mo_pdu(self, source: str, destination: str, text: str) -> SamePdu:
        """ValueError when a number is not ASCII or too long for CMPP 2.0, or the text does not
        fit one SM (the simulator does not split MOs)."""
        payload, msg_fmt = mo_payload("cmpp", source, destination, text)
        msg_id = self.next_message_id()
        return SamePdu(Deliver(
            sequence_id=0,
            msg_id=msg_id,
            dest_id=destination,
            msg_fmt=msg_fmt,
            src_terminal_id=source,
            registered_delivery=0,
            msg_content=payload,
            # An on-demand MO opens a session the SP's reply names (3.0; 2.0 drops it).
            link_id=f"LK{msg_id & 0xFFFFFFFF:010d}",
        ))

    def receipt_pdu(
        self, submit: ReceivedSubmit, *, stat: str, done_at: float, echo_reference: bool
    ) -> ReportDeliver:
        """``echo_reference`` does not apply: a CMPP SUBMIT carries no reference of its own."""
        self._smsc_sequence = (self._smsc_sequence + 1) & 0xFFFFFFFF
        report = CmppReport(
            msg_id=parse_msg_id_text(submit.message_id),
            stat=stat,
            submit_time=self._report_time(submit.received_at),
            done_time=self._report_time(done_at),
            dest_terminal_id=submit.destination,
            smsc_sequence=self._smsc_sequence,
        )
        deliver = Deliver(
            sequence_id=0,
            msg_id=self.next_message_id(),
            dest_id=submit.source,
            msg_fmt=_ASCII,
            src_terminal_id=submit.destination,
            registered_delivery=_WITH_REPORT,
        )
        return ReportDeliver(deliver, report)

    @staticmethod
    def _local_time(seconds: float) -> datetime:
        return datetime.fromtimestamp(seconds, ISMG_TIME)

    def _report_time(self, seconds: float) -> str:
        return self._local_time(seconds).strftime("%y%m%d%H%M")
