"""MM7 status codes (TS 23.140 §8.7.4, the ``StatusCode`` of every response) and what each
means for a submit: accepted, refused for good, or refused for now (retry with backoff).

Classes: 1xxx success, 2xxx client errors (the request is wrong: permanent), 3xxx server
errors (the MMSC could not do it now: transient, except those that name something wrong
with this message), 4xxx general service errors (permanent, except 4006 "service
unavailable", which MMSCs answer when they throttle or are overloaded).
"""

from __future__ import annotations

import enum

SUCCESS = 1000
PARTIAL_SUCCESS = 1100
CLIENT_ERROR = 2000
OPERATION_RESTRICTED = 2001
ADDRESS_ERROR = 2002
ADDRESS_NOT_FOUND = 2003
CONTENT_REFUSED = 2004
MESSAGE_ID_NOT_FOUND = 2005
LINKED_ID_NOT_FOUND = 2006
MESSAGE_FORMAT_CORRUPT = 2007
SERVER_ERROR = 3000
NOT_POSSIBLE = 3001
MESSAGE_REJECTED = 3002
MULTIPLE_ADDRESSES_NOT_SUPPORTED = 3003
GENERAL_SERVICE_ERROR = 4000
IMPROPER_IDENTIFICATION = 4001
UNSUPPORTED_VERSION = 4002
UNSUPPORTED_OPERATION = 4003
VALIDATION_ERROR = 4004
SERVICE_ERROR = 4005
SERVICE_UNAVAILABLE = 4006
SERVICE_DENIED = 4007

NAMES: dict[int, str] = {
    SUCCESS: "Success",
    PARTIAL_SUCCESS: "Partial success",
    CLIENT_ERROR: "Client error",
    OPERATION_RESTRICTED: "Operation restricted",
    ADDRESS_ERROR: "Address Error",
    ADDRESS_NOT_FOUND: "Address Not Found",
    CONTENT_REFUSED: "Multimedia content refused",
    MESSAGE_ID_NOT_FOUND: "Message ID Not found",
    LINKED_ID_NOT_FOUND: "LinkedID not found",
    MESSAGE_FORMAT_CORRUPT: "Message format corrupt",
    SERVER_ERROR: "Server Error",
    NOT_POSSIBLE: "Not Possible",
    MESSAGE_REJECTED: "Message rejected",
    MULTIPLE_ADDRESSES_NOT_SUPPORTED: "Multiple addresses not supported",
    GENERAL_SERVICE_ERROR: "General service error",
    IMPROPER_IDENTIFICATION: "Improper identification",
    UNSUPPORTED_VERSION: "Unsupported version",
    UNSUPPORTED_OPERATION: "Unsupported operation",
    VALIDATION_ERROR: "Validation error",
    SERVICE_ERROR: "Service error",
    SERVICE_UNAVAILABLE: "Service unavailable",
    SERVICE_DENIED: "Service denied",
}

_PERMANENT_SERVER_ERRORS = frozenset({MESSAGE_REJECTED, MULTIPLE_ADDRESSES_NOT_SUPPORTED, 3004})
_TRANSIENT_SERVICE_ERRORS = frozenset({SERVICE_UNAVAILABLE})


class StatusClass(enum.Enum):
    ACCEPTED = "accepted"
    PERMANENT = "permanent"
    TRANSIENT = "transient"


def classify(code: int) -> StatusClass:
    """What a submit answered with ``code`` means for the message."""
    if 1000 <= code <= 1999:
        return StatusClass.ACCEPTED
    if 3000 <= code <= 3999:
        return (StatusClass.PERMANENT if code in _PERMANENT_SERVER_ERRORS
                else StatusClass.TRANSIENT)
    if code in _TRANSIENT_SERVICE_ERRORS:
        return StatusClass.TRANSIENT
    return StatusClass.PERMANENT


def describe(code: int, text: str = "") -> str:
    """``MM7 4006 (Service unavailable: text)`` for logs and the delivery's error."""
    name = NAMES.get(code, "unknown status")
    return f"MM7 {code} ({name}{': ' + text if text else ''})"
