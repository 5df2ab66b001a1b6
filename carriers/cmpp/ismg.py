"""The ISMG's side of a CMPP 2.0 / 3.0 link (used by the simulator), sans-IO.

One :class:`IsmgSession` per connection, with the public interface of SMPP's
:class:`~carriers.smpp.smsc.SmscSession` and the neutral events of
:mod:`carriers.simulator.server_events`.  It checks the SP's CONNECT, answers submits with
Msg_Ids, enforces the ISMG's own TPS and window, sends DELIVERs (MOs and status reports) and
notices their answers.  Choices made here:

* **Login.** CONNECT_RESP Status (docs/wire-formats.md §2.4): the fault ``refuse_binds`` or a
  wrong AuthenticatorSource → 3, an SP code not among the accounts → 2, a Version above
  ``highest_version`` → 4, a Version that is neither 2.x nor 3.x → 5 (other error).  A refused
  login is followed by :class:`CloseClient`; so is anything but a CONNECT before login.
  CONNECT_RESP carries ``highest_version`` as its Version (the spec: the ISMG's highest), and
  AuthenticatorISMG per ``carriers.cmpp.auth`` (all zeros on refusal).
* **Version.** The connection speaks the version the SP asked for, once accepted: it decides
  the layout of everything after the CONNECT (a refused CONNECT is answered in the asked
  layout, or in ``highest_version``'s when the asked one is too high or unknown).
* **Refusing submits.** Above the TPS cap and above the window alike the result is 8 (flow
  control): CMPP has no separate queue-full result.
* **Faults** ``response_delay`` and ``withhold_responses`` apply to SUBMIT_RESP only, as in the
  SMSC; ACTIVE_TEST and TERMINATE are always answered.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Mapping
from datetime import datetime

from carriers.cmpp import auth
from carriers.cmpp.channel import CmppChannel
from carriers.cmpp.msg_id import msg_id_text
from carriers.cmpp.pdus import (
    ActiveTest,
    ActiveTestResp,
    Connect,
    ConnectResp,
    ConnectStatus,
    DeliverResp,
    Pdu,
    Submit,
    SubmitResp,
    SubmitResult,
    Terminate,
    TerminateResp,
)
from carriers.simulator.server_events import (
    BindDenied,
    ClientBound,
    ClientUnbound,
    ServerFaults,
    ServerSettings,
    SubmitReceived,
    SubmitRefused,
)
from carriers.simulator.server_session import LoginFirstSession

__all__ = ["OTHER_CONNECT_ERROR", "IsmgSession", "IsmgState"]

OTHER_CONNECT_ERROR = 5
"""CONNECT_RESP Status for a Version the ISMG cannot speak at all (≥ 5: "other error")."""


class IsmgState(enum.Enum):
    OPEN = "open"
    """Connected; no CONNECT accepted yet."""
    LOGGED_IN = "logged_in"
    CLOSED = "closed"


# Which PDU classes each state accepts from the SP.
_ACCEPTED: dict[IsmgState, frozenset[type]] = {
    IsmgState.OPEN: frozenset({Connect}),
    IsmgState.LOGGED_IN: frozenset({
        Submit, DeliverResp, ActiveTest, ActiveTestResp, Terminate, TerminateResp,
    }),
}


class IsmgSession(LoginFirstSession):
    """One simulated ISMG connection."""

    open_state = IsmgState.OPEN
    closed_state = IsmgState.CLOSED
    login_request = "CONNECT"

    def __init__(
        self,
        *,
        settings: ServerSettings,
        accounts: Mapping[str, str],
        next_message_id: Callable[[], int],
        faults: ServerFaults | None = None,
        highest_version: int = 0x30,
        wall_clock: Callable[[float], datetime] | None = None,
    ) -> None:
        """``accounts``: SP code (Source_Addr) → shared secret.  ``next_message_id`` gives
        each accepted SUBMIT its Msg_Id.  ``wall_clock`` is accepted and not used: the ISMG
        checks the authenticator with the timestamp the SP sent, never against its own
        clock (the simulator stamps Msg_Ids and reports itself)."""
        del wall_clock
        self.highest_version = highest_version
        super().__init__(settings=settings, channel=CmppChannel(highest_version), faults=faults)
        self._accounts = accounts
        self._next_message_id = next_message_id
        self.state = IsmgState.OPEN
        self.login = ""
        """The SP code once logged in."""
        self.version = highest_version
        """The connection's version: the SP's, once its CONNECT is accepted."""

    @property
    def can_receive(self) -> bool:
        return self.state is IsmgState.LOGGED_IN

    def unbind(self) -> None:
        """Ask the SP to end the session (CMPP_TERMINATE)."""
        self._channel.request(Terminate(sequence_id=0))

    # -- internals -------------------------------------------------------------------

    def _handle(self, pdu: Pdu, now: float) -> None:
        if type(pdu) not in _ACCEPTED.get(self.state, frozenset()):
            self._unexpected(pdu)
            return
        if isinstance(pdu, Submit):
            self._on_submit(pdu, now)
        elif isinstance(pdu, Connect):
            self._on_connect(pdu)
        elif isinstance(pdu, DeliverResp):
            self._deliver_answered(pdu.sequence_id, pdu.result)
        elif isinstance(pdu, ActiveTest):
            self._channel.send(ActiveTestResp(sequence_id=pdu.sequence_id))
        elif isinstance(pdu, Terminate):
            self._channel.send(TerminateResp(sequence_id=pdu.sequence_id))
            self._events.append(ClientUnbound())
            self._close("the SP terminated the session")
        elif isinstance(pdu, TerminateResp):
            self._close("TERMINATE answered")
        # ActiveTestResp: nothing to do (the idle clock has already been reset).

    def _connect_status(self, pdu: Connect) -> int:
        secret = self._accounts.get(pdu.source_addr)
        if self.faults.refuse_binds:
            return ConnectStatus.AUTHENTICATION_FAILED
        if secret is None:
            return ConnectStatus.BAD_SOURCE_ADDRESS
        if pdu.version > self.highest_version:
            return ConnectStatus.VERSION_TOO_HIGH
        if pdu.version >> 4 not in (2, 3):
            return OTHER_CONNECT_ERROR
        if not auth.authenticator_source_matches(
            pdu.authenticator_source, pdu.source_addr, secret, pdu.timestamp
        ):
            return ConnectStatus.AUTHENTICATION_FAILED
        return ConnectStatus.OK

    def _on_connect(self, pdu: Connect) -> None:
        status = self._connect_status(pdu)
        speakable = pdu.version <= self.highest_version and pdu.version >> 4 in (2, 3)
        self._channel.version = pdu.version if speakable else self.highest_version
        if status != ConnectStatus.OK:
            self._channel.send(ConnectResp(sequence_id=pdu.sequence_id, status=status,
                                           version=self.highest_version))
            self._events.append(BindDenied(pdu.source_addr, status))
            self._close(f"login refused (CONNECT status {status})")
            return
        secret = self._accounts[pdu.source_addr]
        self._channel.send(ConnectResp(
            sequence_id=pdu.sequence_id, status=status, version=self.highest_version,
            authenticator_ismg=auth.authenticator_ismg(
                status, pdu.authenticator_source, secret, pdu.version),
        ))
        self.state = IsmgState.LOGGED_IN
        self.login = pdu.source_addr
        self.version = pdu.version
        self._events.append(ClientBound(
            pdu.source_addr, f"cmpp{pdu.version >> 4}.{pdu.version & 0x0F}"))

    def _on_submit(self, pdu: Submit, now: float) -> None:
        if self._submit_refusal(now) is not None:  # over the TPS cap or the window alike
            result = SubmitResult.FLOW_CONTROL
            self._events.append(SubmitRefused(pdu, result))
            self._respond(SubmitResp(sequence_id=pdu.sequence_id, msg_id=0, result=result), now)
            return
        msg_id = self._next_message_id()
        self._events.append(SubmitReceived(pdu, msg_id_text(msg_id)))
        self._respond(SubmitResp(sequence_id=pdu.sequence_id, msg_id=msg_id), now)
