"""MQTT packets from the client half of a connection (3.1, 3.1.1 and 5).

Several push SDKs keep an MQTT channel open and put device ids in the client
identifier, the user name, topic names and message payloads, so CONNECT,
PUBLISH and SUBSCRIBE are read and each becomes a list of named parts for the
decoders. Sans-IO, bounded: a packet over ``max_packet`` is skipped as it
arrives (with a diagnostic), never buffered whole.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from leaktrace.types import Diagnostic

CONNECT: Final = 1
PUBLISH: Final = 3
SUBSCRIBE: Final = 8
MAX_PACKET: Final = 8 << 20
_PROTOCOL_NAMES: Final = (b"MQTT", b"MQIsdp")


@dataclass(frozen=True, slots=True)
class MqttPacket:
    """One client packet worth scanning: ``parts`` are (name, value), e.g. ("client_id", b"...")."""

    kind: str  # "connect", "publish", "subscribe"
    parts: tuple[tuple[str, bytes], ...]


def looks_like_connect(data: bytes) -> bool:
    """A client's first bytes are an MQTT CONNECT: type 1, a length, then the protocol name."""
    if len(data) < 2 or data[0] != 0x10:
        return False
    pos = 1
    for _ in range(4):
        if pos >= len(data):
            return False
        if not data[pos] & 0x80:
            break
        pos += 1
    else:
        return False
    pos += 1
    name_len = int.from_bytes(data[pos : pos + 2], "big")
    return data[pos + 2 : pos + 2 + name_len] in _PROTOCOL_NAMES


class _Short(Exception):
    pass


class MqttReader:
    """Client-to-server MQTT bytes in, the packets that carry data out."""

    def __init__(self, max_packet: int = MAX_PACKET) -> None:
        self.max_packet = max_packet
        self.diagnostics: list[Diagnostic] = []
        self.broken = False
        self.level = 4  # protocol level from CONNECT: 3, 4 (3.1.1) or 5
        self._buf = bytearray()
        self._skip = 0

    @property
    def held_bytes(self) -> int:
        """Bytes kept for a packet not yet complete."""
        return len(self._buf)

    def feed(self, data: bytes) -> list[MqttPacket]:
        if self.broken:
            return []
        if self._skip:
            take = min(self._skip, len(data))
            self._skip -= take
            data = data[take:]
        self._buf += data
        out: list[MqttPacket] = []
        while not self.broken:
            head = _fixed_header(self._buf)
            if head is None:
                if len(self._buf) >= 5:
                    self._break("remaining length over 4 bytes")
                break
            first, body_at, length = head
            if length > self.max_packet:
                self.diagnostics.append(
                    Diagnostic("mqtt_packet_limit", f"packet of {length} bytes skipped")
                )
                available = len(self._buf) - body_at
                self._skip = max(length - available, 0)
                del self._buf[: body_at + min(length, available)]
                continue
            if len(self._buf) < body_at + length:
                break
            body = bytes(self._buf[body_at : body_at + length])
            del self._buf[: body_at + length]
            try:
                packet = self._packet(first, body)
            except (_Short, UnicodeDecodeError):
                self.diagnostics.append(
                    Diagnostic("mqtt_bad_packet", f"type {first >> 4}: lengths run past the packet")
                )
                continue
            if packet is not None:
                out.append(packet)
        return out

    def _packet(self, first: int, body: bytes) -> MqttPacket | None:
        ptype = first >> 4
        if ptype == CONNECT:
            return self._connect(body)
        if ptype == PUBLISH:
            return self._publish(first, body)
        if ptype == SUBSCRIBE:
            return self._subscribe(body)
        return None

    def _connect(self, body: bytes) -> MqttPacket:
        r = _Reader(body)
        name = r.string()
        if name not in _PROTOCOL_NAMES:
            raise _Short
        self.level = r.byte()
        flags = r.byte()
        r.take(2)  # keep alive
        if self.level >= 5:
            r.properties()
        parts: list[tuple[str, bytes]] = [("client_id", r.string())]
        if flags & 0x04:  # will flag
            if self.level >= 5:
                r.properties()
            parts.append(("will_topic", r.string()))
            parts.append(("will_payload", r.string()))
        if flags & 0x80:
            parts.append(("username", r.string()))
        if flags & 0x40:
            parts.append(("password", r.string()))
        return MqttPacket("connect", tuple(parts))

    def _publish(self, first: int, body: bytes) -> MqttPacket:
        r = _Reader(body)
        topic = r.string()
        if (first >> 1) & 0x03:
            r.take(2)  # packet identifier
        if self.level >= 5:
            r.properties()
        return MqttPacket("publish", (("topic", topic), ("payload", r.rest())))

    def _subscribe(self, body: bytes) -> MqttPacket:
        r = _Reader(body)
        r.take(2)
        if self.level >= 5:
            r.properties()
        parts: list[tuple[str, bytes]] = []
        while r.remaining():
            parts.append(("topic", r.string()))
            r.take(1)  # options
        return MqttPacket("subscribe", tuple(parts))

    def _break(self, detail: str) -> None:
        self.broken = True
        self._buf.clear()
        self.diagnostics.append(Diagnostic("mqtt_bad_packet", detail))


def _fixed_header(buf: bytearray) -> tuple[int, int, int] | None:
    """(first byte, offset of the body, remaining length) or None when incomplete/invalid."""
    if len(buf) < 2:
        return None
    length = 0
    for i in range(4):
        if 1 + i >= len(buf):
            return None
        byte = buf[1 + i]
        length |= (byte & 0x7F) << (7 * i)
        if not byte & 0x80:
            return buf[0], 2 + i, length
    return None


class _Reader:
    __slots__ = ("data", "pos")

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.pos = 0

    def take(self, n: int) -> bytes:
        if self.pos + n > len(self.data):
            raise _Short
        chunk = self.data[self.pos : self.pos + n]
        self.pos += n
        return chunk

    def byte(self) -> int:
        return self.take(1)[0]

    def string(self) -> bytes:
        return self.take(int.from_bytes(self.take(2), "big"))

    def varint(self) -> int:
        value = 0
        for i in range(4):
            byte = self.byte()
            value |= (byte & 0x7F) << (7 * i)
            if not byte & 0x80:
                return value
        raise _Short

    def properties(self) -> None:
        self.take(self.varint())

    def rest(self) -> bytes:
        chunk = self.data[self.pos :]
        self.pos = len(self.data)
        return chunk

    def remaining(self) -> int:
        return len(self.data) - self.pos


def read_packets(data: bytes) -> list[MqttPacket]:
    """Every data-carrying packet in one whole client-to-server MQTT byte stream."""
    return MqttReader().feed(data)
