"""Framing of the collector protocol: the bytes around each (optionally encrypted) XML packet.

Variants (docs/collectors.md, "Framing"):

* ``A``: ``55 AA 55 AA`` payload ``68 68 16 16``; no length field, the trailer ends the payload.
* ``B``: ``68 68 16 16``, length (4 bytes little-endian, = payload + 4), packet sequence number
  (4 bytes little-endian), payload, CRC-16/XMODEM over sequence + payload (low byte first),
  ``55 AA 55 AA``.
* ``plain``: bare XML; a packet ends with ``</root>``.

A :class:`Deframer` cuts a TCP byte stream into payloads, detecting the framing from the first
bytes when more than one is allowed, and refuses a packet over its size limit before it is read.
"""

from __future__ import annotations

import struct

MAGIC_55 = b"\x55\xaa\x55\xaa"
MAGIC_68 = b"\x68\x68\x16\x16"
FRAMINGS = ("A", "B", "plain")
_B_HEADER = 12  # magic + length + sequence
_PLAIN_START = (b"<", b"\xef\xbb\xbf", b" ", b"\r", b"\n", b"\t")


class FrameError(ValueError):
    """The byte stream cannot be framed; ``reason`` is a stable code for the log."""

    def __init__(self, reason: str, detail: str):
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail


def crc16_xmodem(data: bytes) -> int:
    """CRC-16/XMODEM: polynomial 0x1021, initial value 0, no reflection, no final XOR."""
    crc = 0
    for byte in data:
        crc ^= byte << 8
        for _ in range(8):
            crc = ((crc << 1) ^ 0x1021) if crc & 0x8000 else crc << 1
            crc &= 0xFFFF
    return crc


def encode_frame(framing: str, payload: bytes, sequence: int = 0) -> bytes:
    """Wrap one payload in ``framing``; ``sequence`` is framing B's packet number."""
    if framing == "A":
        return MAGIC_55 + payload + MAGIC_68
    if framing == "B":
        seq = struct.pack("<I", sequence & 0xFFFFFFFF)
        crc = crc16_xmodem(seq + payload)
        return MAGIC_68 + struct.pack("<I", len(payload) + 4) + seq + payload + struct.pack("<H", crc) + MAGIC_55
    if framing == "plain":
        return payload
    raise ValueError(f"framing {framing!r} is not one of {FRAMINGS}")


def detect(head: bytes, allowed: tuple[str, ...]) -> str | None:
    """The framing the first bytes announce, None while too few bytes arrived.

    Raises FrameError when the bytes match none of the ``allowed`` framings.
    """
    for name, magic in (("A", MAGIC_55), ("B", MAGIC_68)):
        if name in allowed and head[:4] == magic[:len(head[:4])]:
            return name if len(head) >= 4 else None
    if "plain" in allowed and head[:1] and (head.startswith(_PLAIN_START) or head[:2] == b"<\x00"):
        return "plain"
    raise FrameError("bad_header", f"first bytes {head[:4].hex(' ')} start none of {list(allowed)}")


class Deframer:
    """Cuts a byte stream into payloads.

    Parameters
    ----------
    allowed : tuple of str
        Framings accepted; with more than one, the first bytes decide for the whole connection.
    max_packet_bytes : int
        Largest payload accepted; a larger one is refused as soon as that is known. [bytes]
    block : int
        Payload length must be a multiple of this (16 for AES, 1 for clear text): framing A has
        no length field, so an encrypted payload that happens to contain the trailer bytes is not
        cut short at a length AES could not have produced.
    end_tag : bytes
        How a plain packet ends, in the profile's text encoding.
    """

    def __init__(self, allowed: tuple[str, ...], max_packet_bytes: int, *, block: int = 1,
                 end_tag: bytes = b"</root>"):
        self.allowed = allowed
        self.framing: str | None = allowed[0] if len(allowed) == 1 else None
        self.max_packet_bytes = max_packet_bytes
        self.block = block
        self.end_tag = end_tag
        self.last_sequence = 0  # framing B: the sequence number of the last packet
        self._buf = bytearray()
        self._scan = 0  # where the search for a trailer resumes (framing A, plain)

    def feed(self, data: bytes) -> list[bytes]:
        self._buf += data
        out: list[bytes] = []
        while self._buf:
            if self.framing is None:
                self.framing = detect(bytes(self._buf[:4]), self.allowed)
                if self.framing is None:
                    break
            payload = {"A": self._next_a, "B": self._next_b, "plain": self._next_plain}[self.framing]()
            if payload is None:
                break
            out.append(payload)
        return out

    def _too_big(self, n: int) -> None:
        if n > self.max_packet_bytes:
            raise FrameError("oversized_packet", f"{n} bytes > {self.max_packet_bytes}")

    def _next_a(self) -> bytes | None:
        buf = self._buf
        if buf[:4] != MAGIC_55[:len(buf[:4])]:
            raise FrameError("bad_header", f"expected 55 aa 55 aa, got {bytes(buf[:4]).hex(' ')}")
        start = max(4, self._scan)
        while True:
            i = buf.find(MAGIC_68, start)
            if i < 0:
                self._scan = max(4, len(buf) - 3)
                self._too_big(len(buf) - 4)
                return None
            if (i - 4) % self.block == 0:
                break
            start = i + 1
        payload = bytes(buf[4:i])
        self._too_big(len(payload))
        del buf[:i + 4]
        self._scan = 0
        return payload

    def _next_b(self) -> bytes | None:
        buf = self._buf
        if buf[:4] != MAGIC_68[:len(buf[:4])]:
            raise FrameError("bad_header", f"expected 68 68 16 16, got {bytes(buf[:4]).hex(' ')}")
        if len(buf) < _B_HEADER:
            return None
        length, seq = struct.unpack_from("<II", buf, 4)
        if length < 4:
            raise FrameError("bad_length", f"length field {length} < 4")
        n = length - 4
        self._too_big(n)
        total = _B_HEADER + n + 2 + 4
        if len(buf) < total:
            return None
        payload = bytes(buf[_B_HEADER:_B_HEADER + n])
        (crc,) = struct.unpack_from("<H", buf, _B_HEADER + n)
        trailer = bytes(buf[_B_HEADER + n + 2:total])
        if trailer != MAGIC_55:
            raise FrameError("bad_trailer", f"expected 55 aa 55 aa, got {trailer.hex(' ')}")
        want = crc16_xmodem(bytes(buf[8:12]) + payload)
        if crc != want:
            raise FrameError("bad_crc", f"CRC {crc:04x}, computed {want:04x}")
        del buf[:total]
        self.last_sequence = seq
        return payload

    def _next_plain(self) -> bytes | None:
        buf = self._buf
        i = buf.find(self.end_tag, max(0, self._scan))
        if i < 0:
            self._scan = max(0, len(buf) - len(self.end_tag) + 1)
            self._too_big(len(buf))
            return None
        end = i + len(self.end_tag)
        payload = bytes(buf[:end])  # leading blanks are trimmed after decoding (UTF-16 has NULs)
        self._too_big(len(payload))
        del buf[:end]
        # Line ends or NULs between packets belong to neither.
        while buf[:1] in (b"\r", b"\n", b" ", b"\t", b"\x00"):
            del buf[:1]
        self._scan = 0
        return payload
