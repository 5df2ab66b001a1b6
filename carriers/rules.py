"""Static per-carrier rules, as data.

Each carrier gets one frozen :class:`CarrierRules` record: its name as shown in reports
and the console, and the message-size defaults of ``docs/carrier-rules.md`` (segments,
MMS size).  The MMS size is a default that ``[editions] mms_max_bytes`` overrides per
carrier; short codes and flow control (window, TPS) are configured per carrier link.
Nothing here talks to a network or reads configuration.

The carrier identifiers (``"china_mobile"`` …) are the keys used everywhere else:
configuration tables, :func:`carriers.numbers.prefix_carrier`, reports.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

__all__ = [
    "CARRIER_RULES",
    "CHINA_BROADNET",
    "CHINA_MOBILE",
    "CHINA_TELECOM",
    "CHINA_UNICOM",
    "CarrierRules",
]

CHINA_MOBILE = "china_mobile"
CHINA_UNICOM = "china_unicom"
CHINA_TELECOM = "china_telecom"
CHINA_BROADNET = "china_broadnet"


@dataclass(frozen=True, slots=True, kw_only=True)
class CarrierRules:
    """Defaults for one carrier.

    ``display_name`` is the carrier's own name (a proper noun used in reports and
    the console), not reply wording. ``max_mms_bytes`` and ``max_sms_segments`` are
    conservative defaults because no carrier publishes hard limits.
    """

    name: str
    display_name: str
    max_sms_segments: int = 8
    max_mms_bytes: int = 100 * 1024

    def __post_init__(self) -> None:
        if not self.name:
            raise ValueError("carrier name must not be empty")
        for field_name in ("max_sms_segments", "max_mms_bytes"):
            value = getattr(self, field_name)
            if value < 1:
                raise ValueError(f"{self.name}: {field_name} must be at least 1, got {value}")


_RULES = (
    CarrierRules(name=CHINA_MOBILE, display_name="中国移动"),
    CarrierRules(name=CHINA_UNICOM, display_name="中国联通"),
    CarrierRules(name=CHINA_TELECOM, display_name="中国电信"),
)

CARRIER_RULES: Mapping[str, CarrierRules] = MappingProxyType({r.name: r for r in _RULES})
"""Rules for the carriers the newspaper is sold on, keyed by carrier identifier.

China Broadnet has a number range (see :mod:`carriers.numbers`) but no advertised
short code, so it has no entry here.
"""
