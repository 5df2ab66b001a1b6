"""Simulated carriers by protocol: :class:`SimulatedSmsc` speaks SMPP, :class:`SimulatedIsmg`
CMPP (``carriers.protocols.PROTOCOLS`` builds the one a protocol name asks for).

Each is a :class:`~carriers.simulator.carrier_service.SimulatedCarrier` (everything a carrier
does whatever its protocol) with the protocol's dialect.  ``SimulatorSettings``,
``ReceivedSubmit`` and ``REDELIVERY_DELAY`` are re-exported from there for older imports.
"""

from __future__ import annotations

import random

from twisted.internet.interfaces import IReactorTCP, IReactorTime

from carriers.cmpp.simulator_dialect import CmppDialect
from carriers.simulator.carrier_service import (
    REDELIVERY_DELAY,
    ReceivedSubmit,
    SimulatedCarrier,
    SimulatorSettings,
)
from carriers.smpp.simulator_dialect import SmppDialect

__all__ = [
    "REDELIVERY_DELAY",
    "ReceivedSubmit",
    "SimulatedCarrier",
    "SimulatedIsmg",
    "SimulatedSmsc",
    "SimulatorSettings",
]


class SimulatedSmsc(SimulatedCarrier):
    """One carrier's simulated SMPP SMSC, listening on ``host:port``."""

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
        super().__init__(settings, SmppDialect(rng=rng), reactor=reactor, clock=clock,
                         host=host, port=port, rng=rng)


class SimulatedIsmg(SimulatedCarrier):
    """One carrier's simulated CMPP 2.0 / 3.0 ISMG, listening on ``host:port``; ``accounts``
    are SP code → shared secret."""

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
        super().__init__(settings, CmppDialect(clock=clock, rng=rng), reactor=reactor,
                         clock=clock, host=host, port=port, rng=rng)
