"""``sdgw run``: the gateway (links, simulators, scheduler, console) until stopped."""

from __future__ import annotations

import argparse

from gateway.cli.common import EXIT_FAILED, EXIT_OK, load, setup_logging
from gateway.cli.reactor import process_gateway, run_until_stopped


def run_command(args: argparse.Namespace) -> int:
    config = load(args)
    setup_logging(config.logging.level, config.logging.format)
    gateway, lost = process_gateway(config, "run", with_simulators=not args.no_simulators,
                                    with_metrics=config.metrics.enabled)
    run_until_stopped(gateway.root, f"gateway for {config.newspaper.name}")
    return EXIT_FAILED if lost else EXIT_OK
