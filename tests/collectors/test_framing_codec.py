"""Framing and codec without the network: byte layouts, CRC, detection, split and merged TCP reads,
AES variants round trips, the MD5 answer (worked values)."""

from __future__ import annotations

import hashlib

import pytest

from collectors import codec
from collectors.framing import MAGIC_55, MAGIC_68, Deframer, FrameError, crc16_xmodem, encode_frame
from collectors.profile import Profile, load_profile, profile_names

XML = '<?xml version="1.0" encoding="utf-8"?><root><common><type>notify</type></common></root>'


def test_crc16_xmodem_check_value():
    assert crc16_xmodem(b"123456789") == 0x31C3  # the published check value of CRC-16/XMODEM


def test_framing_b_layout():
    frame = encode_frame("B", b"<root/>", 258)
    assert frame[:4] == MAGIC_68
    assert frame[4:8] == (7 + 4).to_bytes(4, "little")  # payload (7 bytes) + 4
    assert frame[8:12] == (258).to_bytes(4, "little")
    crc = crc16_xmodem(frame[8:12] + b"<root/>")
    assert frame[19:21] == bytes([crc & 0xFF, crc >> 8])  # low byte first
    assert frame[21:] == MAGIC_55


@pytest.mark.parametrize("framing", ["A", "B", "plain"])
def test_deframer_handles_split_and_merged_reads(framing):
    payloads = [XML.encode(), XML.replace("notify", "time").encode()]
    stream = b"".join(encode_frame(framing, p, i) for i, p in enumerate(payloads))
    for cut in (1, 3, 7, len(stream)):
        d = Deframer((framing,), 1 << 16)
        got = []
        for i in range(0, len(stream), cut):
            got += d.feed(stream[i:i + cut])
        assert got == payloads


def test_detection_from_first_bytes():
    for framing in ("A", "B", "plain"):
        d = Deframer(("A", "B", "plain"), 1 << 16)
        assert d.feed(encode_frame(framing, XML.encode())) == [XML.encode()]
        assert d.framing == framing
    with pytest.raises(FrameError) as e:
        Deframer(("A", "B"), 1 << 16).feed(b"<root/>")
    assert e.value.reason == "bad_header"


def test_oversized_refused_before_the_whole_packet():
    d = Deframer(("B",), 100)
    with pytest.raises(FrameError) as e:
        d.feed(MAGIC_68 + (10_004).to_bytes(4, "little") + b"\0\0\0\0")  # announces 10,000 bytes
    assert e.value.reason == "oversized_packet"


@pytest.mark.parametrize("name", profile_names())
def test_codec_round_trip_every_profile(name):
    p = load_profile(name)
    key = "00112233445566778899aabbccddeeff" if p.key_encoding == "hex" else "0123456789abcdef"
    data = codec.encode(p, key, XML + "中文")
    if p.encryption != "none":
        assert len(data) % 16 == 0 and b"root" not in data
        assert codec.may_open(p, key, data)
    assert codec.decode(p, key, data) == XML + "中文"


def test_pkcs7_padding_adds_a_block_when_aligned_and_zero_padding_does_not():
    text = "x" * 32  # two whole blocks of UTF-8
    pk = Profile(name="t", padding="pkcs7")
    zero = Profile(name="t", padding="zero")
    assert len(codec.encode(pk, "0123456789abcdef", text)) == 48  # 32 + a full block of 16 x 0x10
    assert len(codec.encode(zero, "0123456789abcdef", text)) == 32


def test_md5_answer_order_and_case():
    seq, key = "00787278", "0123456789abcdef"
    assert codec.md5_answer(Profile(name="t"), seq, key) == hashlib.md5(b"007872780123456789abcdef").hexdigest()
    p = Profile(name="t", md5_order="key+sequence", md5_case="upper")
    assert codec.md5_answer(p, seq, key) == hashlib.md5(b"0123456789abcdef00787278").hexdigest().upper()


def test_plain_framing_with_encryption_is_refused():
    with pytest.raises(ValueError, match="plain"):
        Profile(name="t", framing=("plain",), encryption="aes-128-cbc")
