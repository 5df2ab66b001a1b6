"""The stored m-retrieve-conf read back into the parts MM7 submits; checked against an
independent decoder (python-messaging's MMS parser) and the encoder's own inputs."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from gateway.editions.mms import MmsHeaders, MmsImage, MmsPage, build_smil, encode_retrieve_conf
from gateway.editions.mms_content import MmsContentError, read_retrieve_conf

JPEG = b"\xff\xd8\xff\xe0" + bytes(range(256)) * 3 + b"\xff\xd9"
PAGES = [MmsPage(text="山东手机报 早报 封面"),
         MmsPage(text="第一篇：教育热点", image=MmsImage(data=JPEG, content_type="image/jpeg")),
         MmsPage(image=MmsImage(data=b"GIF89a" + bytes(40), content_type="image/gif"))]


def pdu() -> bytes:
    return encode_retrieve_conf(MmsHeaders(
        transaction_id="T42", date=datetime(2020, 11, 18, tzinfo=UTC), subject="山东手机报 早报",
        from_="10658000/TYPE=PLMN", to=("13912345678/TYPE=PLMN",)), PAGES)


def test_parts_come_back_as_encoded() -> None:
    content = read_retrieve_conf(pdu())
    assert content.subject == "山东手机报 早报"
    assert [(p.content_type, p.content_id, p.location) for p in content.parts] == [
        ("application/smil", "smil", "smil.xml"),
        ("text/plain; charset=utf-8", "text1", "text1.txt"),
        ("image/jpeg", "image2", "image2.jpg"),
        ("text/plain; charset=utf-8", "text2", "text2.txt"),
        ("image/gif", "image3", "image3.gif"),
    ]
    assert content.parts[0].data == build_smil(PAGES).encode()
    assert content.parts[2].data == JPEG
    assert content.parts[3].data.decode() == "第一篇：教育热点"


def test_agrees_with_an_independent_mms_decoder() -> None:
    """python-messaging decodes the same octets into the same types, data and subject."""
    messaging = pytest.importorskip("messaging.mms.message")
    decoded = messaging.MMSMessage.from_data(bytearray(pdu()))
    content = read_retrieve_conf(pdu())
    assert decoded.headers["Subject"] == content.subject
    assert [(p.content_type, bytes(p.data)) for p in decoded.data_parts] == [
        (p.content_type.split(";")[0], p.data) for p in content.parts]


@pytest.mark.parametrize("cut", [1, 10, 60, 200])
def test_a_truncated_pdu_is_an_error_not_a_crash(cut: int) -> None:
    with pytest.raises(MmsContentError):
        read_retrieve_conf(pdu()[:cut])
