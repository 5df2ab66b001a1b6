"""Running the service tree on the real reactor, for ``sdgw run`` and ``sdgw sim serve``."""

from __future__ import annotations

import logging

from gateway.app import OrderedServices, build_gateway, build_simulator
from gateway.config import GatewayConfig
from gateway.db.engine import ensure_schema_current, make_engine
from gateway.errors import GatewayError

log = logging.getLogger(__name__)


def run_gateway(config: GatewayConfig, *, with_simulators: bool = True) -> int:
    """Start everything, run until SIGTERM/SIGINT, stop gracefully (links unbind)."""
    from twisted.internet import reactor

    engine = make_engine(config.database_url)
    ensure_schema_current(engine, config.path)
    gateway = build_gateway(config, engine, reactor=reactor, with_simulators=with_simulators)
    return _run_until_stopped(gateway.root, f"gateway for {config.newspaper.name}")


def serve_simulator(
    config: GatewayConfig, carrier: str, *, port: int | None, control_port: int | None
) -> int:
    from twisted.internet import reactor

    carrier_config = config.carrier(carrier)
    if carrier_config.simulator is None:
        raise GatewayError(f"{config.path}: carriers.{carrier}.simulator: not configured")
    root = OrderedServices()
    build_simulator(carrier, carrier_config, reactor=reactor, parent=root, port=port,
                    control_port=control_port)
    return _run_until_stopped(root, f"{carrier} simulator")


def _run_until_stopped(root: OrderedServices, what: str) -> int:
    from twisted.internet import reactor

    failures: list[str] = []

    def start() -> None:
        try:
            root.startService()
        except Exception as exc:  # e.g. a port already in use
            failures.append(str(exc))
            log.error("could not start the %s: %s", what, exc)
            reactor.stop()
            return
        log.info("%s running; stop with Ctrl-C or SIGTERM", what)

    def stop() -> object:
        log.info("stopping the %s", what)
        return root.stopService() if root.running else None

    reactor.callWhenRunning(start)
    reactor.addSystemEventTrigger("before", "shutdown", stop)
    reactor.run()
    log.info("%s stopped", what)
    return 1 if failures else 0
