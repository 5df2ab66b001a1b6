"""The SMGW's side of an SMGP 3.0 link (China Telecom's ISMG, used by the simulator), sans-IO.

One :class:`SmgwSession` per connection, on the shared
:class:`~carriers.simulator.server_session.ServerSession` like CMPP's
:class:`~carriers.cmpp.ismg.IsmgSession`. It checks the SP's Login, answers submits with
MsgIDs, enforces its own TPS and window, sends Delivers (MOs and status reports) and notices
their answers. Choices made here (Status codes: docs/protocols.md §4.8):

* **Login.** Login_Resp Status: the fault ``refuse_binds``, a ClientID not among the accounts
  or a wrong AuthenticatorClient → 21 (authentication failed: §4.8 has no "unknown account");
  a ClientVersion other than 0x30 → 22 (version too high, the table's only version status;
  ServerVersion 0x30 says which one is spoken); a LoginMode other than 0/1/2 → 10. A refused
  login is followed by :class:`CloseClient`, and so is anything but a Login before login.
  Login_Resp carries AuthenticatorServer per ``carriers.smgp.auth`` (zeros on refusal).
* **Login modes.** 2 (transmit) submits and receives; 0 (send) only submits: no Delivers go to
  it; 1 (receive) only receives: its Submits are answered 11 (bad command word).
* **Refusing submits.** Over the TPS cap → 1 (system busy); over the window of unanswered
  submits → 74 (SP sending window closed). The gateway backs off and resends on both.
* **Faults** ``response_delay`` and ``withhold_responses`` apply to Submit_Resp only;
  Active_Test and Exit are always answered.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Mapping

from carriers.simulator.server_events import (
    BindDenied,
    ClientBound,
    ClientUnbound,
    ServerFaults,
    ServerSettings,
    SubmitReceived,
    SubmitRefused,
)
from carriers.simulator.server_session import THROTTLED, LoginFirstSession
from carriers.smgp import auth
from carriers.smgp.channel import SmgpChannel
from carriers.smgp.msg_id import msg_id_text
from carriers.smgp.pdus import (
    VERSION,
    ActiveTest,
    ActiveTestResp,
    DeliverResp,
    Exit,
    ExitResp,
    Login,
    LoginMode,
    LoginResp,
    Pdu,
    Status,
    Submit,
    SubmitResp,
)

__all__ = ["SmgwSession", "SmgwState"]


class SmgwState(enum.Enum):
    OPEN = "open"
    """Connected; no Login accepted yet."""
    LOGGED_IN = "logged_in"
    CLOSED = "closed"


_ACCEPTED: dict[SmgwState, frozenset[type]] = {
    SmgwState.OPEN: frozenset({Login}),
    SmgwState.LOGGED_IN: frozenset({
        Submit, DeliverResp, ActiveTest, ActiveTestResp, Exit, ExitResp,
    }),
}
_MODE_NAMES = {LoginMode.SEND: "send", LoginMode.RECEIVE: "receive",
               LoginMode.TRANSMIT: "transmit"}


class SmgwSession(LoginFirstSession):
    """One simulated SMGW connection."""

    open_state = SmgwState.OPEN
    closed_state = SmgwState.CLOSED
    login_request = "Login"

    def __init__(
        self,
        *,
        settings: ServerSettings,
        accounts: Mapping[str, str],
        next_message_id: Callable[[], bytes],
        faults: ServerFaults | None = None,
    ) -> None:
        """``accounts``: ClientID → shared secret. ``next_message_id`` gives each accepted
        Submit its MsgID. The authenticator is checked with the TimeStamp the SP sent, never
        against the SMGW's own clock."""
        super().__init__(settings=settings, channel=SmgpChannel(), faults=faults)
        self._accounts = accounts
        self._next_message_id = next_message_id
        self.state = SmgwState.OPEN
        self.login = ""
        """The ClientID once logged in."""
        self.login_mode = LoginMode.TRANSMIT

    @property
    def can_receive(self) -> bool:
        return self.state is SmgwState.LOGGED_IN and self.login_mode != LoginMode.SEND

    def unbind(self) -> None:
        """Ask the SP to end the session (Exit)."""
        self._channel.request(Exit(sequence_id=0))

    # -- internals -------------------------------------------------------------------

    def _handle(self, pdu: Pdu, now: float) -> None:
        if type(pdu) not in _ACCEPTED.get(self.state, frozenset()):
            self._unexpected(pdu)
            return
        if isinstance(pdu, Submit):
            self._on_submit(pdu, now)
        elif isinstance(pdu, Login):
            self._on_login(pdu)
        elif isinstance(pdu, DeliverResp):
            self._deliver_answered(pdu.sequence_id, pdu.status)
        elif isinstance(pdu, ActiveTest):
            self._channel.send(ActiveTestResp(sequence_id=pdu.sequence_id))
        elif isinstance(pdu, Exit):
            self._channel.send(ExitResp(sequence_id=pdu.sequence_id))
            self._events.append(ClientUnbound())
            self._close("the SP exited")
        elif isinstance(pdu, ExitResp):
            self._close("Exit answered")
        # ActiveTestResp: nothing to do (the idle clock has already been reset).

    def _login_status(self, pdu: Login) -> int:
        secret = self._accounts.get(pdu.client_id)
        if self.faults.refuse_binds or secret is None:
            return Status.AUTHENTICATION_FAILED
        if pdu.login_mode not in tuple(LoginMode):
            return Status.BAD_STRUCTURE
        if pdu.client_version != VERSION:
            return Status.VERSION_TOO_HIGH
        if not auth.authenticator_client_matches(
            pdu.authenticator_client, pdu.client_id, secret, pdu.timestamp
        ):
            return Status.AUTHENTICATION_FAILED
        return Status.OK

    def _on_login(self, pdu: Login) -> None:
        status = self._login_status(pdu)
        if status != Status.OK:
            self._channel.send(LoginResp(sequence_id=pdu.sequence_id, status=status))
            self._events.append(BindDenied(pdu.client_id, status))
            self._close(f"login refused (Login status {status})")
            return
        secret = self._accounts[pdu.client_id]
        self._channel.send(LoginResp(
            sequence_id=pdu.sequence_id, status=status,
            authenticator_server=auth.authenticator_server(
                status, pdu.authenticator_client, secret),
        ))
        self.state = SmgwState.LOGGED_IN
        self.login = pdu.client_id
        self.login_mode = LoginMode(pdu.login_mode)
        self._events.append(ClientBound(pdu.client_id, f"smgp3.0 {_MODE_NAMES[self.login_mode]}"))

    def _on_submit(self, pdu: Submit, now: float) -> None:
        if self.login_mode == LoginMode.RECEIVE:
            self._refuse(pdu, Status.BAD_COMMAND, now)
            return
        refusal = self._submit_refusal(now)
        if refusal is not None:
            self._refuse(pdu, Status.SYSTEM_BUSY if refusal == THROTTLED
                         else Status.SENDING_WINDOW_CLOSED, now)
            return
        msg_id = self._next_message_id()
        self._events.append(SubmitReceived(pdu, msg_id_text(msg_id)))
        self._respond(SubmitResp(sequence_id=pdu.sequence_id, msg_id=msg_id), now)

    def _refuse(self, pdu: Submit, status: int, now: float) -> None:
        self._events.append(SubmitRefused(pdu, status))
        self._respond(SubmitResp(sequence_id=pdu.sequence_id, status=status), now)
