"""The gateway's documented exception tree.

Every error a user can meet derives from :class:`GatewayError` and carries a
message that says what is wrong and what to do about it.
"""

from __future__ import annotations


class GatewayError(Exception):
    """Base class for every error the gateway reports to a user."""


class ConfigError(GatewayError):
    """The configuration file is missing, unreadable or invalid.

    ``str(error)`` is one line naming the file, the key and what was expected.
    """

    def __init__(self, path: str, key: str, expected: str) -> None:
        self.path = path
        self.key = key
        self.expected = expected
        where = f"{path}: {key}" if key else path
        super().__init__(f"{where}: {expected}")


class SchemaOutOfDate(GatewayError):
    """The database schema is behind the code's migrations."""
