"""A simulated China Telecom SMGW speaking SMGP 3.0: :class:`SimulatedSmgpIsmg`.

The shared :class:`~carriers.simulator.carrier_service.SimulatedCarrier` (logins against its
accounts, unique MsgIDs, reports after a delay with the configured mix, store and forward of
MOs and receipts, its own TPS and window, faults: drop, delay, refuse, garbage) with the SMGP
dialect (:mod:`carriers.smgp.simulator_dialect`).
"""

from __future__ import annotations

import random

from twisted.internet.interfaces import IReactorTCP, IReactorTime

from carriers.simulator.carrier_service import SimulatedCarrier, SimulatorSettings
from carriers.smgp.simulator_dialect import SmgpDialect

__all__ = ["IDLE_TIMEOUT", "SimulatedSmgpIsmg"]

IDLE_TIMEOUT = 600.0
"""Seconds a real-like SMGW keeps a silent connection: the gateway sends Active_Test only
after three idle minutes, so a 120 s idle timeout would cut healthy links (set it in
``settings.smsc``; the registry's builder does)."""


class SimulatedSmgpIsmg(SimulatedCarrier):
    """One carrier's simulated SMGP 3.0 SMGW, listening on ``host:port``; ``accounts`` are
    ClientID → shared secret."""

    def __init__(
        self,
        settings: SimulatorSettings,
        *,
        reactor: IReactorTCP,
        clock: IReactorTime,
        host: str = "127.0.0.1",
        port: int = 0,
        rng: random.Random | None = None,
    ) -> None:
        rng = rng or random.Random()
        super().__init__(settings, SmgpDialect(clock=clock, rng=rng), reactor=reactor,
                         clock=clock, host=host, port=port, rng=rng)
