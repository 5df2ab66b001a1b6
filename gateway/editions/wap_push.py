"""MMS notification over SMS: m-notification-ind inside a WSP push inside binary short messages.

The handset receives one or more 8-bit short messages (binary coding) whose UDH addresses
WAP push port 2948 from port 9200; their reassembled payload is a connectionless WSP Push PDU
whose body is the m-notification-ind telling the handset where to fetch the MMS.

Setting the UDHI bit (esm_class 0x40 in SMPP, TP_udhi in CMPP/SGIP/SMGP) and the protocol's number
for :data:`WAP_PUSH_CODING` (SMPP data_coding 0x04, CMPP Msg_Fmt 4) is the link's job; the octets
here are the complete short_message of each part.
"""

from __future__ import annotations

from datetime import datetime

from carriers.messages import TextCoding
from gateway.editions.mms import (
    FIELD_CONTENT_LOCATION,
    FIELD_EXPIRY,
    FIELD_FROM,
    FIELD_MESSAGE_CLASS,
    FIELD_MESSAGE_SIZE,
    FIELD_MESSAGE_TYPE,
    FIELD_MMS_VERSION,
    FIELD_SUBJECT,
    FIELD_TRANSACTION_ID,
    MESSAGE_CLASS_TOKENS,
    MESSAGE_TYPE_NOTIFICATION_IND,
    MMS_VERSION_1_2,
    MessageClass,
    encode_from,
)
from gateway.editions.segmentation import MAX_SEGMENTS
from gateway.editions.wsp import (
    encode_long_integer,
    encode_text_string,
    encode_uintvar,
    encode_utf8_string_value,
    with_value_length,
)

WAP_PUSH_CODING = TextCoding.BINARY  # 8-bit data
WAP_PUSH_PORT = 2948  # destination: WAP push (connectionless WSP)
WSP_PORT = 9200  # source: connectionless WSP
PDU_TYPE_PUSH = 0x06
CONTENT_TYPE_MMS_MESSAGE = 0xBE  # application/vnd.wap.mms-message
HEADER_X_WAP_APPLICATION_ID = 0xAF
APPLICATION_ID_MMS_UA = 0x84  # x-wap-application:mms.ua
ABSOLUTE_TOKEN = 0x80
RELATIVE_TOKEN = 0x81

USER_DATA_OCTETS = 140
_PORT_IE = bytes((0x05, 0x04)) + WAP_PUSH_PORT.to_bytes(2, "big") + WSP_PORT.to_bytes(2, "big")


class PushTooLongError(ValueError):
    """The push needs more than 255 short messages."""


def encode_mms_notification_ind(
    *,
    transaction_id: str,
    content_location: str,
    message_size: int,
    expiry_seconds: int | None = None,
    expires_at: datetime | None = None,
    subject: str | None = None,
    from_: str | None = None,
    message_class: MessageClass = "personal",
) -> bytes:
    """m-notification-ind (MMS 1.2), fields in the order handsets expect.

    ``message_size`` is the length of the m-retrieve-conf the handset will download. The
    expiry is either ``expiry_seconds``, relative to reception, or ``expires_at`` (aware), an
    absolute date: a per-subscriber content location that stops answering at a known time
    says so exactly, however late the notification is sent (and its length does not change
    with the time left). ``from_`` None sends the insert-address token.
    """
    if (expiry_seconds is None) == (expires_at is None):
        raise ValueError("give exactly one of expiry_seconds and expires_at")
    if message_size < 0 or (expiry_seconds is not None and expiry_seconds < 0):
        raise ValueError("message_size and expiry_seconds must not be negative")
    if expires_at is not None:
        if expires_at.tzinfo is None or expires_at.utcoffset() is None:
            raise ValueError("expires_at must be timezone-aware")
        expiry = bytes((ABSOLUTE_TOKEN,)) + encode_long_integer(int(expires_at.timestamp()))
    else:
        assert expiry_seconds is not None
        expiry = bytes((RELATIVE_TOKEN,)) + encode_long_integer(expiry_seconds)
    out = bytearray((FIELD_MESSAGE_TYPE, MESSAGE_TYPE_NOTIFICATION_IND))
    out += bytes((FIELD_TRANSACTION_ID,)) + encode_text_string(transaction_id)
    out += bytes((FIELD_MMS_VERSION, MMS_VERSION_1_2))
    out += bytes((FIELD_FROM,)) + encode_from(from_)
    if subject is not None:
        out += bytes((FIELD_SUBJECT,)) + encode_utf8_string_value(subject)
    out += bytes((FIELD_MESSAGE_CLASS, MESSAGE_CLASS_TOKENS[message_class]))
    out += bytes((FIELD_MESSAGE_SIZE,)) + encode_long_integer(message_size)
    out += bytes((FIELD_EXPIRY,)) + with_value_length(expiry)
    out += bytes((FIELD_CONTENT_LOCATION,)) + encode_text_string(content_location)
    return bytes(out)


def wrap_wap_push(body: bytes, *, transaction_id: int = 0) -> bytes:
    """Connectionless WSP Push: TID, PDU type 0x06, headers length, Content-Type
    application/vnd.wap.mms-message, X-Wap-Application-Id mms.ua, then ``body``."""
    if not 0 <= transaction_id <= 0xFF:
        raise ValueError(f"the WSP transaction id is one octet, not {transaction_id}")
    headers = bytes((CONTENT_TYPE_MMS_MESSAGE, HEADER_X_WAP_APPLICATION_ID, APPLICATION_ID_MMS_UA))
    return bytes((transaction_id, PDU_TYPE_PUSH)) + encode_uintvar(len(headers)) + headers + body


def wap_push_segments(push_pdu: bytes, reference: int) -> list[bytes]:
    """Cut ``push_pdu`` into binary short messages of at most 140 octets, UDH included.

    Every part carries the 16-bit application port IE (``05 04 0B 84 23 F0``); when more than
    one part is needed each also carries the 8-bit-reference concatenation IE
    (``00 03 RR TT SS``). Send with :data:`WAP_PUSH_CODING` and the UDHI bit set; that is the
    link's job.
    """
    if not 0 <= reference <= 0xFF:
        raise ValueError(f"the concatenation reference is one octet, not {reference}")
    single_udh = bytes((len(_PORT_IE),)) + _PORT_IE
    if len(single_udh) + len(push_pdu) <= USER_DATA_OCTETS:
        return [single_udh + push_pdu]
    room = USER_DATA_OCTETS - (1 + len(_PORT_IE) + 5)
    chunks = [push_pdu[start : start + room] for start in range(0, len(push_pdu), room)]
    if len(chunks) > MAX_SEGMENTS:
        raise PushTooLongError(f"the push needs {len(chunks)} short messages; at most 255 fit")
    total = len(chunks)
    return [
        bytes((len(_PORT_IE) + 5,))
        + _PORT_IE
        + bytes((0x00, 0x03, reference, total, number))
        + chunk
        for number, chunk in enumerate(chunks, start=1)
    ]
