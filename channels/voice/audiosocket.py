"""The AudioSocket protocol, as Asterisk's res_audiosocket defines it (include/asterisk/res_audiosocket.h,
res/res_audiosocket.c; observed on Asterisk 22, ../shared/ASTERISK.md).

A frame is one kind byte, a 2-byte big-endian payload length, then the payload:
0x00 hangup (no payload), 0x01 the call's UUID (16 raw bytes, always the first frame),
0x03 one DTMF digit (one ASCII character), 0x10 signed-linear 16-bit LE audio at 8 kHz
(320 bytes = 20 ms), 0x11-0x18 the same at 12, 16, 24, 32, 44.1, 48, 96 and 192 kHz,
0xFF an error (a one-byte code). Asterisk accepts only audio and hangup frames from us.
"""
from __future__ import annotations

import asyncio
import struct
import uuid as uuidlib
from dataclasses import dataclass
from enum import IntEnum


class Kind(IntEnum):
    HANGUP = 0x00
    UUID = 0x01
    DTMF = 0x03
    AUDIO = 0x10          # slin, 8 kHz
    AUDIO_12K = 0x11
    AUDIO_16K = 0x12
    AUDIO_24K = 0x13
    AUDIO_32K = 0x14
    AUDIO_44K = 0x15
    AUDIO_48K = 0x16
    AUDIO_96K = 0x17
    AUDIO_192K = 0x18
    ERROR = 0xFF


AUDIO_RATES = {Kind.AUDIO: 8000, Kind.AUDIO_12K: 12000, Kind.AUDIO_16K: 16000, Kind.AUDIO_24K: 24000,
               Kind.AUDIO_32K: 32000, Kind.AUDIO_44K: 44100, Kind.AUDIO_48K: 48000,
               Kind.AUDIO_96K: 96000, Kind.AUDIO_192K: 192000}
KIND_FOR_RATE = {rate: kind for kind, rate in AUDIO_RATES.items()}
# what res_audiosocket's error frame codes mean
ERRORS = {0x00: "none", 0x01: "Asterisk hung up", 0x02: "frame forwarding failed", 0x04: "memory"}
HEADER = struct.Struct(">BH")
DTMF_KEYS = set("0123456789*#ABCD")
# a payload longer than a second of the widest audio is not a frame Asterisk sends
MAX_PAYLOAD = 192000 * 2 // 10


class ProtocolError(Exception):
    """A frame that breaks the protocol: the call that sent it is ended with this reason."""


@dataclass(frozen=True)
class Frame:
    kind: int
    payload: bytes = b""

    @property
    def is_audio(self) -> bool:
        return self.kind in AUDIO_RATES

    @property
    def rate(self) -> int:
        return AUDIO_RATES[Kind(self.kind)]

    @property
    def digit(self) -> str:
        return self.payload.decode("ascii")

    @property
    def uuid(self) -> str:
        return str(uuidlib.UUID(bytes=self.payload))


def encode(kind: int, payload: bytes = b"") -> bytes:
    if len(payload) > 0xFFFF:
        raise ValueError(f"AudioSocket payload of {len(payload)} bytes does not fit a frame")
    return HEADER.pack(kind, len(payload)) + payload


def audio_frame(pcm: bytes, rate: int = 8000) -> bytes:
    return encode(KIND_FOR_RATE[rate], pcm)


def hangup_frame() -> bytes:
    return encode(Kind.HANGUP)


def uuid_frame(call_uuid: str) -> bytes:
    return encode(Kind.UUID, uuidlib.UUID(call_uuid).bytes)


def dtmf_frame(digit: str) -> bytes:
    return encode(Kind.DTMF, digit.encode("ascii"))


def check(frame: Frame) -> Frame:
    """Validate a received frame; raises ProtocolError naming what is wrong."""
    kind, n = frame.kind, len(frame.payload)
    try:
        known = Kind(kind)
    except ValueError:
        raise ProtocolError(f"unknown frame kind 0x{kind:02x}") from None
    if known is Kind.HANGUP and n:
        raise ProtocolError(f"hangup frame with a {n}-byte payload")
    if known is Kind.UUID and n != 16:
        raise ProtocolError(f"UUID frame of {n} bytes (expected 16)")
    if known is Kind.DTMF:
        if n != 1 or chr(frame.payload[0]) not in DTMF_KEYS:
            raise ProtocolError(f"DTMF frame with payload {frame.payload[:8]!r}")
    if frame.is_audio and n % 2:
        raise ProtocolError(f"audio frame of odd length {n} (16-bit samples)")
    return frame


async def read_frame(reader: asyncio.StreamReader) -> Frame | None:
    """The next frame, or None at a clean end of stream; ProtocolError on a broken frame."""
    try:
        header = await reader.readexactly(HEADER.size)
    except asyncio.IncompleteReadError as exc:
        if not exc.partial:
            return None
        raise ProtocolError(f"connection closed inside a frame header ({len(exc.partial)} of 3 bytes)") from None
    kind, length = HEADER.unpack(header)
    if length > MAX_PAYLOAD:
        raise ProtocolError(f"frame kind 0x{kind:02x} announces {length} bytes (more than any real frame)")
    try:
        payload = await reader.readexactly(length) if length else b""
    except asyncio.IncompleteReadError as exc:
        raise ProtocolError(f"connection closed inside a frame ({len(exc.partial)} of {length} bytes)") from None
    return check(Frame(kind, payload))
