"""``sdgw config check``: validate the configuration file."""

from __future__ import annotations

import argparse

from gateway.cli.common import EXIT_OK, load


def check_command(args: argparse.Namespace) -> int:
    config = load(args)
    carriers = ", ".join(
        f"{name} ({c.short_code}, link {c.link.host}:{c.link.port}"
        f"{', simulated' if c.simulator and c.simulator.enabled else ''})"
        for name, c in config.carriers.items()
    )
    print(f"{config.path}: OK — newspaper {config.newspaper.name}; carriers: {carriers}")
    return EXIT_OK
