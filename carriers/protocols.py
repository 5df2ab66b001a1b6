"""The registry of carrier protocols: what ``carriers.<name>.link.protocol`` may name.

Each entry says which settings table a link of that protocol reads (with its own limits),
how to build the link, and how to build a simulated carrier that speaks it.  The gateway's
configuration loader and composition root only ever go through this table: adding a protocol
is adding one entry.

The configuration loader reads this module for the settings tables alone, on every command
(``sdgw --help``, a one-line config error): so the builders import the Twisted links and the
simulators when they are called, not when this module is imported (about 0.1 s saved).
"""

from __future__ import annotations

import dataclasses
import random
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from carriers.cmpp.config import CmppLinkConfig
from carriers.link.config import LinkConfig
from carriers.sgip.config import SgipLinkConfig
from carriers.smgp.config import SmgpLinkConfig
from carriers.smpp.config import SmppLinkConfig

if TYPE_CHECKING:
    from twisted.internet.interfaces import IReactorTCP, IReactorTime, IStreamClientEndpoint

    from carriers.link.api import CarrierLink
    from carriers.link.transport import InboundHandler, ReconnectPolicy
    from carriers.simulator.carrier_service import SimulatedCarrier
    from carriers.simulator.smsc_service import SimulatorSettings


@dataclass(frozen=True, slots=True, kw_only=True)
class LinkParts:
    """What building any link needs besides its settings table."""

    carrier: str
    secret: str
    endpoint: IStreamClientEndpoint
    clock: IReactorTime
    on_inbound: InboundHandler
    tps_share: float = 1.0
    """This process's share of the link's TPS (several gateway processes share a carrier)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class SimulatorParts:
    """What building any simulated carrier needs besides its settings."""

    reactor: IReactorTCP
    clock: IReactorTime
    host: str
    port: int
    rng: random.Random
    link: LinkConfig | None = None
    """The gateway link's table, for carriers that connect back to it (SGIP's SMG)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class CarrierProtocol:
    name: str
    link_config: type[LinkConfig]
    build_link: Callable[[Any, LinkParts], CarrierLink]
    """(the protocol's link settings table, parts) → the link, not started."""
    build_simulator: Callable[[SimulatorSettings, SimulatorParts], SimulatedCarrier]
    """Settings (its accounts are the gateway link's login and secret) → a simulated
    carrier service speaking the protocol, not started."""


def _reconnect(config: LinkConfig) -> ReconnectPolicy:
    from carriers.link.transport import ReconnectPolicy

    return ReconnectPolicy(initial_delay=config.reconnect_initial_delay,
                           max_delay=config.reconnect_max_delay)


def _smpp_link(config: SmppLinkConfig, parts: LinkParts) -> CarrierLink:
    from carriers.smpp.link import SmppLink

    return SmppLink(
        carrier=parts.carrier, endpoint=parts.endpoint,
        settings=config.session_settings(parts.secret, tps_share=parts.tps_share),
        clock=parts.clock, on_inbound=parts.on_inbound, reconnect=_reconnect(config),
        peer=f"{config.host}:{config.port}", max_unacknowledged=config.max_unacknowledged,
    )


def _cmpp_link(config: CmppLinkConfig, parts: LinkParts) -> CarrierLink:
    from carriers.cmpp.link import CmppLink

    return CmppLink(
        carrier=parts.carrier, endpoint=parts.endpoint,
        settings=config.session_settings(parts.secret, tps_share=parts.tps_share),
        clock=parts.clock, on_inbound=parts.on_inbound, reconnect=_reconnect(config),
        peer=f"{config.host}:{config.port}", max_unacknowledged=config.max_unacknowledged,
    )


def _smpp_simulator(settings: SimulatorSettings, parts: SimulatorParts) -> SimulatedCarrier:
    from carriers.simulator.smsc_service import SimulatedSmsc

    return SimulatedSmsc(settings, reactor=parts.reactor, clock=parts.clock, host=parts.host,
                         port=parts.port, rng=parts.rng)


CMPP_IDLE_TIMEOUT = 600.0
"""Seconds the simulated ISMG keeps a silent connection: a CMPP client sends ACTIVE_TEST
only after three idle minutes (the spec's C), so SMPP's 120 s would cut healthy links."""


def _cmpp_simulator(settings: SimulatorSettings, parts: SimulatorParts) -> SimulatedCarrier:
    from carriers.simulator.smsc_service import SimulatedIsmg

    settings = dataclasses.replace(
        settings, smsc=dataclasses.replace(settings.smsc, idle_timeout=CMPP_IDLE_TIMEOUT))
    return SimulatedIsmg(settings, reactor=parts.reactor, clock=parts.clock, host=parts.host,
                         port=parts.port, rng=parts.rng)


def _smgp_link(config: SmgpLinkConfig, parts: LinkParts) -> CarrierLink:
    from carriers.smgp.link import SmgpLink

    return SmgpLink(
        carrier=parts.carrier, endpoint=parts.endpoint,
        settings=config.session_settings(parts.secret, tps_share=parts.tps_share),
        clock=parts.clock, on_inbound=parts.on_inbound, reconnect=_reconnect(config),
        peer=f"{config.host}:{config.port}", max_unacknowledged=config.max_unacknowledged,
    )


def _smgp_simulator(settings: SimulatorSettings, parts: SimulatorParts) -> SimulatedCarrier:
    from carriers.smgp.simulator import IDLE_TIMEOUT, SimulatedSmgpIsmg

    settings = dataclasses.replace(
        settings, smsc=dataclasses.replace(settings.smsc, idle_timeout=IDLE_TIMEOUT))
    return SimulatedSmgpIsmg(settings, reactor=parts.reactor, clock=parts.clock,
                             host=parts.host, port=parts.port, rng=parts.rng)


def _sgip_link(config: SgipLinkConfig, parts: LinkParts) -> CarrierLink:
    from carriers.sgip.link import build_sgip_link

    return build_sgip_link(config, parts)


def _sgip_simulator(settings: SimulatorSettings, parts: SimulatorParts) -> SimulatedCarrier:
    """SGIP's SMG takes the gateway's submits and connects back to the gateway's listener,
    so it needs the link's table (``parts.link``)."""
    from carriers.sgip.simulator_dialect import build_sgip_simulator

    link = parts.link
    if not isinstance(link, SgipLinkConfig):
        raise ValueError("a simulated SGIP SMG needs the gateway's SGIP link settings")
    return build_sgip_simulator(settings, parts, link=link,
                                smg_password=link.resolved_smg_password())


PROTOCOLS: dict[str, CarrierProtocol] = {
    "smpp": CarrierProtocol(name="smpp", link_config=SmppLinkConfig, build_link=_smpp_link,
                            build_simulator=_smpp_simulator),
    "cmpp": CarrierProtocol(name="cmpp", link_config=CmppLinkConfig, build_link=_cmpp_link,
                            build_simulator=_cmpp_simulator),
    "smgp": CarrierProtocol(name="smgp", link_config=SmgpLinkConfig, build_link=_smgp_link,
                            build_simulator=_smgp_simulator),
    "sgip": CarrierProtocol(name="sgip", link_config=SgipLinkConfig, build_link=_sgip_link,
                            build_simulator=_sgip_simulator),
}
