"""TWS socket framing: the ``API\\0`` handshake, version negotiation and length-prefixed messages.

A message on the wire is a 4-byte big-endian length followed by NUL-terminated text fields.
The client opens with ``API\\0`` plus one framed text ``v{min}..{max}[ options]``; the server
answers with a framed ``[version, connection time]`` and from then on both sides exchange
framed field lists. This module is pure: no sockets, no clocks.
"""

from __future__ import annotations

import math
import struct
from dataclasses import dataclass

SERVER_MIN_VERSION = 157
"""Oldest protocol version the simulator encodes (ib_insync 0.9.86's minimum)."""
SERVER_MAX_VERSION = 178
"""Newest protocol version the simulator encodes (ib_async 2.1's maximum)."""
MAX_FRAME_BYTES = 8 * 1024 * 1024
"""Frames longer than this are treated as a corrupt stream and close the session."""
HANDSHAKE_PREFIX = b"API\0"
_LEN = struct.Struct(">I")


class FramingError(ValueError):
    """The byte stream cannot be framed (bad handshake, absurd length)."""


@dataclass(frozen=True, slots=True)
class Handshake:
    """The client's opening: its version range and optional connect options (``+PACEAPI``)."""

    min_version: int
    max_version: int
    options: str = ""


def parse_handshake(text: str) -> Handshake:
    """Parse ``v157..176`` / ``v176`` / ``v100..157 +PACEAPI``; raise FramingError otherwise."""
    head, _, options = text.strip().partition(" ")
    if not head.startswith("v"):
        raise FramingError(f"handshake without version range: {text!r}")
    low, sep, high = head[1:].partition("..")
    try:
        lo = int(low)
        hi = int(high) if sep else lo
    except ValueError as exc:
        raise FramingError(f"bad version range: {text!r}") from exc
    if lo > hi:
        raise FramingError(f"empty version range: {text!r}")
    return Handshake(lo, hi, options.strip())


def negotiate(
    hs: Handshake, low: int = SERVER_MIN_VERSION, high: int = SERVER_MAX_VERSION
) -> int | None:
    """The highest version both sides support, or None when the ranges do not overlap."""
    best = min(hs.max_version, high)
    return best if best >= max(hs.min_version, low) else None


UNSET_DOUBLE = 1.7976931348623157e308
UNSET_DOUBLE_TEXT = "1.7976931348623157E308"
"""How TWS (Java's Double.MAX_VALUE) writes an unset double."""


def format_field(value: object) -> str:
    """Render one outgoing field the way TWS does: bools as 1/0, None as empty, floats short."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, float):
        if math.isinf(value):
            return "Infinity"
        if value == UNSET_DOUBLE:
            return UNSET_DOUBLE_TEXT
        if value == int(value) and abs(value) < 1e15:
            return str(int(value)) if abs(value) >= 1e-9 else "0"
        return repr(round(value, 8))
    return str(value)


def frame(payload: bytes) -> bytes:
    """Prefix a payload with its 4-byte big-endian length."""
    return _LEN.pack(len(payload)) + payload


def encode(fields: list | tuple) -> bytes:
    """Encode a list of fields as one framed message."""
    return frame("".join(format_field(f) + "\0" for f in fields).encode())


def encode_handshake(hs: Handshake) -> bytes:
    """What a client sends to open a session (used by tests and the benchmark)."""
    text = f"v{hs.min_version}..{hs.max_version}" + (f" {hs.options}" if hs.options else "")
    return HANDSHAKE_PREFIX + frame(text.encode())


class FrameReader:
    """Incremental decoder of the client's byte stream.

    ``feed(data)`` returns the complete messages seen so far: first a ``Handshake`` (once), then
    one ``list[str]`` of fields per message. Raises FramingError on a corrupt stream.
    """

    def __init__(self, expect_handshake: bool = True) -> None:
        self._buf = bytearray()
        self._handshake_pending = expect_handshake

    def feed(self, data: bytes) -> list[Handshake | list[str]]:
        self._buf += data
        out: list[Handshake | list[str]] = []
        if self._handshake_pending:
            if len(self._buf) < len(HANDSHAKE_PREFIX):
                return out
            if bytes(self._buf[: len(HANDSHAKE_PREFIX)]) != HANDSHAKE_PREFIX:
                raise FramingError("stream does not start with API\\0")
            payload = self._next_payload(len(HANDSHAKE_PREFIX))
            if payload is None:
                return out
            self._handshake_pending = False
            out.append(parse_handshake(payload.decode(errors="replace")))
        while (payload := self._next_payload(0)) is not None:
            text = payload.decode(errors="backslashreplace")
            fields = text.split("\0")
            if fields and fields[-1] == "":
                fields.pop()
            out.append(fields)
        return out

    def _next_payload(self, skip: int) -> bytes | None:
        if len(self._buf) < skip + 4:
            return None
        (size,) = _LEN.unpack_from(self._buf, skip)
        if size > MAX_FRAME_BYTES:
            raise FramingError(f"frame of {size} bytes exceeds {MAX_FRAME_BYTES}")
        end = skip + 4 + size
        if len(self._buf) < end:
            return None
        payload = bytes(self._buf[skip + 4 : end])
        del self._buf[:end]
        return payload


def split_frames(data: bytes) -> list[list[str]]:
    """Decode a buffer of complete server messages (tests and the benchmark read replies)."""
    return [m for m in FrameReader(expect_handshake=False).feed(data) if isinstance(m, list)]
