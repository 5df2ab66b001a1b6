"""Independent decoding through Wireshark: write packets to a pcap, run tshark, read its PDML.

Packets are raw IPv4 (pcap link type 228) carrying UDP or TCP; checksums are left at zero, which
tshark does not verify by default. Tests skip when tshark is not installed.
"""

from __future__ import annotations

import shutil
import struct
import subprocess
import xml.etree.ElementTree as ET
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import pytest

LINKTYPE_IPV4 = 228
_SOURCE_IP = bytes((10, 0, 0, 1))
_DESTINATION_IP = bytes((10, 0, 0, 2))
SMPP_PORT = 2775


def require_tshark() -> str:
    path = shutil.which("tshark")
    if path is None:
        pytest.skip(
            "tshark (Wireshark) is not installed; install it with "
            "`DEBIAN_FRONTEND=noninteractive apt-get install -y tshark` to run the independent "
            "WSP/MMS/SMS decoding checks"
        )
    return path


def write_pcap(path: Path, packets: Iterable[bytes]) -> None:
    with path.open("wb") as out:
        out.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, LINKTYPE_IPV4))
        for number, packet in enumerate(packets):
            out.write(struct.pack("<IIII", 1_700_000_000 + number, 0, len(packet), len(packet)))
            out.write(packet)


def _ipv4(
    protocol: int, segment: bytes, source: bytes = _SOURCE_IP, destination: bytes = _DESTINATION_IP
) -> bytes:
    return (
        struct.pack(
            ">BBHHHBBH4s4s",
            0x45, 0, 20 + len(segment), 1, 0, 64, protocol, 0, source, destination,
        )
        + segment
    )  # fmt: skip


def udp_packet(payload: bytes, *, src_port: int, dst_port: int) -> bytes:
    return _ipv4(17, struct.pack(">HHHH", src_port, dst_port, 8 + len(payload), 0) + payload)


def tcp_stream(payloads: Sequence[bytes], *, src_port: int, dst_port: int) -> list[bytes]:
    """One TCP segment (PSH+ACK) per payload, with consecutive sequence numbers."""
    packets = []
    sequence = 1
    for payload in payloads:
        header = struct.pack(">HHIIBBHHH", src_port, dst_port, sequence, 1, 0x50, 0x18,
                             65535, 0, 0)  # fmt: skip
        packets.append(_ipv4(6, header + payload))
        sequence += len(payload)
    return packets


def tcp_conversation(
    segments: Sequence[tuple[bool, bytes]], *, client_port: int, server_port: int
) -> list[bytes]:
    """Both directions of one TCP connection, one segment (PSH+ACK) per ``(from_client,
    payload)`` in the order given: the client is 10.0.0.1:``client_port``, the server
    10.0.0.2:``server_port``; each side's sequence numbers count its own bytes and its
    acknowledgement number the other side's."""
    next_sequence = {True: 1, False: 1}
    packets = []
    for from_client, payload in segments:
        ports = (client_port, server_port) if from_client else (server_port, client_port)
        header = struct.pack(">HHIIBBHHH", *ports, next_sequence[from_client],
                             next_sequence[not from_client], 0x50, 0x18, 65535, 0, 0)  # fmt: skip
        addresses = (_SOURCE_IP, _DESTINATION_IP) if from_client else (_DESTINATION_IP, _SOURCE_IP)
        packets.append(_ipv4(6, header + payload, *addresses))
        next_sequence[from_client] += len(payload)
    return packets


def smpp_submit_sm(
    short_message: bytes, *, sequence: int, esm_class: int, data_coding: int
) -> bytes:
    """A minimal SMPP 3.4 submit_sm written independently of the code under test."""
    body = (
        b"\x00"  # service_type ""
        + b"\x01\x01" + b"10658000\x00"  # source ton, npi, addr
        + b"\x01\x01" + b"8613800138000\x00"  # destination ton, npi, addr
        + bytes((esm_class, 0, 0))  # esm_class, protocol_id, priority
        + b"\x00\x00"  # schedule_delivery_time, validity_period
        + bytes((0, 0, data_coding, 0, len(short_message)))
        + short_message
    )  # fmt: skip
    return struct.pack(">IIII", 16 + len(body), 0x00000004, 0, sequence) + body


def smpp_packets(short_messages: Sequence[bytes], *, esm_class: int, data_coding: int
                 ) -> list[bytes]:  # fmt: skip
    pdus = [
        smpp_submit_sm(sm, sequence=n, esm_class=esm_class, data_coding=data_coding)
        for n, sm in enumerate(short_messages, start=1)
    ]
    return tcp_stream(pdus, src_port=40000, dst_port=SMPP_PORT)


@dataclass(frozen=True)
class Dissection:
    """tshark's PDML for a capture, with the raw frames to slice field positions from."""

    packets: list[ET.Element]
    frames: list[bytes]

    def fields(self, name: str) -> list[ET.Element]:
        return [field for packet in self.packets for field in packet.iter("field")
                if field.get("name") == name]  # fmt: skip

    def shows(self, name: str) -> list[str]:
        return [field.get("show", "") for field in self.fields(name)]

    def first(self, name: str) -> str:
        values = self.shows(name)
        assert values, f"tshark did not report {name}"
        return values[0]

    def raw(self, name: str) -> list[bytes]:
        return [bytes.fromhex(field.get("value", "")) for field in self.fields(name)]

    def protocols(self) -> list[str]:
        return [proto.get("name", "") for packet in self.packets for proto in packet.iter("proto")]

    def span(self, element: ET.Element, frame_index: int = 0) -> bytes:
        """The octets of the frame that tshark says ``element`` covers."""
        start, size = int(element.get("pos", "0")), int(element.get("size", "0"))
        return self.frames[frame_index][start : start + size]


def dissect(
    workdir: Path,
    frames: Sequence[bytes],
    *,
    decode_as: Sequence[str] = (),
    options: Sequence[str] = (),
) -> Dissection:
    tshark = require_tshark()
    pcap = workdir / "capture.pcap"
    write_pcap(pcap, frames)
    command = [tshark, "-n", "-r", str(pcap), "-T", "pdml"]
    for rule in decode_as:
        command += ["-d", rule]
    for option in options:
        command += ["-o", option]
    completed = subprocess.run(command, capture_output=True, check=True, timeout=120)
    # tshark decodes UCS2 short messages code unit by code unit, so an astral character comes
    # out as two encoded surrogates, which is not UTF-8; such display strings are not asserted.
    root = ET.fromstring(completed.stdout.decode("utf-8", "replace"))
    return Dissection(packets=root.findall("packet"), frames=list(frames))
