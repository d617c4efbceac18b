"""Every bad input of the issue against the real gateway over TCP: each is refused with its logged
reason, the connection or the single value is dropped as fits, and a good collector connected all
along is not affected."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from collectors import codec, xmlmsg
from collectors.client import CollectorClient
from collectors.findings import COUNTS
from collectors.framing import MAGIC_55, MAGIC_68, encode_frame
from collectors.profile import load_profile
from collectors.xmlmsg import Function, Meter
from contract.payloads import decode
from tests.collectors.helpers import BUILDING, HEX_KEY, TEXT_KEY, make_registry, running_gateway
from tests.ingest.helpers import Collector

pytestmark = pytest.mark.servers

GOOD = "330100A201"  # a collector that must notice nothing
OK_TIME = "20250301120000"
ONE = [Meter("1", "conn", (Function("1", "01A00", "192", "5.2"),))]


async def closed(c: CollectorClient) -> bool:
    try:
        await asyncio.wait_for(c.closed.wait(), 10)
        return True
    except TimeoutError:
        return False


async def connected(gw, profile, key=TEXT_KEY, building=BUILDING, gateway="01") -> CollectorClient:
    c = CollectorClient("127.0.0.1", gw.port, profile, building, gateway, key)
    await c.connect()
    return c


async def authed(gw, profile, key=TEXT_KEY, building=BUILDING) -> CollectorClient:
    c = await connected(gw, profile, key, building)
    assert await c.authenticate()
    return c


def test_bad_connections_are_closed_with_their_reason(tmp_path: Path, mosquitto):
    clear = load_profile("clear-detect")
    aes = load_profile("default")
    engine = make_registry(tmp_path, [(BUILDING, "01", TEXT_KEY), (GOOD, "01", TEXT_KEY)],
                           buildings=(BUILDING, GOOD))

    async def scenario() -> None:
        async with running_gateway(engine, clear, mosquitto.port, max_packet_bytes=4096,
                                   packets_per_s=5, packet_burst=20) as gw:
            good = await authed(gw, clear, building=GOOD)

            async def expect_refused(c: CollectorClient, reason: str) -> None:
                assert await closed(c), reason
                assert gw.refusals[reason] >= 1, (reason, dict(gw.refusals))
                assert await good.heartbeat(), f"the good collector noticed {reason}"

            c = await connected(gw, clear, key="fedcba9876543210")  # wrong key: MD5 does not match
            assert not await c.authenticate()
            await expect_refused(c, "wrong_key")

            c = await connected(gw, clear, building="330100A999")  # unknown building
            assert not await c.authenticate()
            await expect_refused(c, "unknown_collector")
            c = await connected(gw, clear, gateway="99")  # unknown gateway
            assert not await c.authenticate()
            assert await closed(c)
            assert gw.refusals["unknown_collector"] == 2

            c = await connected(gw, clear)  # data without authentication
            await c.send(xmlmsg.data_packet(BUILDING, "01", "report", sequence="1", time=OK_TIME, meters=ONE))
            await expect_refused(c, "not_authenticated")

            # Replayed authentication: the MD5 of another connection's challenge.
            first = await connected(gw, clear)
            await first.send(first._packet("request", "id_validate", "request"))
            seq = (await first.expect("sequence", 10)).text("sequence")
            old_md5 = codec.md5_answer(clear, seq, TEXT_KEY)
            await first.close()
            c = await connected(gw, clear)
            await c.send(c._packet("request", "id_validate", "request"))
            await c.expect("sequence", 10)
            await c.send(c._packet("md5", "id_validate", "md5", [("md5", old_md5)]))
            assert (await c.expect("result", 10)).text("result") == "fail"
            await expect_refused(c, "wrong_key")

            c = await connected(gw, clear)
            await c.send_raw(MAGIC_55 + b"<root><common>" + MAGIC_68)  # malformed XML
            await expect_refused(c, "malformed_xml")

            c = await connected(gw, clear)
            await c.send_raw(MAGIC_55 + b"<root>" + b"x" * 5000)  # over max_packet_bytes, no trailer yet
            await expect_refused(c, "oversized_packet")

            c = await connected(gw, clear)
            lol = ('<?xml version="1.0"?><!DOCTYPE root [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;">]>'
                   "<root><common><building_id>&b;</building_id></common></root>")
            await c.send_raw(encode_frame("A", lol.encode()))  # entity expansion
            await expect_refused(c, "forbidden_xml")

            c = await connected(gw, clear)
            xxe = ('<?xml version="1.0"?><!DOCTYPE root [<!ENTITY x SYSTEM "file:///etc/passwd">]>'
                   "<root><common><building_id>&x;</building_id></common></root>")
            await c.send_raw(encode_frame("A", xxe.encode()))  # external entity
            await expect_refused(c, "forbidden_xml")

            c = await connected(gw, clear)
            frame = bytearray(encode_frame("B", xmlmsg.to_text(c._packet("request", "id_validate", "request"))
                                           .encode(), 7))
            frame[-7] ^= 0xFF  # corrupt the CRC's low byte (before the 4-byte trailer and its high byte)
            await c.send_raw(bytes(frame))
            await expect_refused(c, "bad_crc")

            c = await connected(gw, clear)
            await c.send_raw(b"\x00\x01\x02\x03garbage")  # no framing at all
            await expect_refused(c, "bad_header")

            c = await authed(gw, clear)
            for _ in range(40):  # burst 20, then 5/s: 40 at once is over the limit: slowed down, not dropped
                await c.send(c._packet("notify", "heart_beat", "notify"))
            for _ in range(40):
                await c.expect("time", 30)
            assert gw.throttled == 1
            assert await good.heartbeat()
            await c.close()

            c = await authed(gw, clear)  # another collector's identity inside an authenticated session
            await c.send(xmlmsg.data_packet(GOOD, "01", "report", sequence="1", time=OK_TIME, meters=ONE))
            await expect_refused(c, "identity_mismatch")
            await good.close()

        async with running_gateway(engine, aes, mosquitto.port) as gw:
            c = await connected(gw, aes, key="fedcba9876543210")  # AES: nothing decrypts with a wrong key
            await c.send(c._packet("request", "id_validate", "request"))
            assert await closed(c)
            assert gw.refusals["undecryptable"] == 1
            c = await authed(gw, aes)
            k = codec.aes_key(aes, TEXT_KEY)
            from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

            enc = Cipher(algorithms.AES(k), modes.CBC(k)).encryptor()
            bad_pad = enc.update(b"<root/>" + b"\x00" * 8 + b"\x07") + enc.finalize()  # last byte 7, not 7 sevens
            await c.send_raw(encode_frame("A", bad_pad))
            assert await closed(c)
            assert gw.refusals["bad_padding"] == 1

    asyncio.run(scenario())


def test_bad_values_become_findings_and_the_rest_is_published(tmp_path: Path, mosquitto):
    p = load_profile("framing-b-crc")
    engine = make_registry(tmp_path, [(BUILDING, "01", HEX_KEY)], installed_on="2020-06-01")
    sub = Collector(mosquitto.port, f"ep/v1/{BUILDING}/gateway/01/batch")
    before = COUNTS.copy()

    async def scenario() -> None:
        async with running_gateway(engine, p, mosquitto.port) as gw:
            c = await authed(gw, p, key=HEX_KEY)
            packet = [
                Meter("1", "conn", (Function("1", "01A00", "192", "5.2"),)),  # the one good value
                Meter("2", "conn", (Function("1", "99Z99", "192", "1.0"),  # unknown item code
                                    Function("2", "01A00", "192", "1.0"))),  # known code, not this function's
                Meter("7", "conn", (Function("1", "01A00", "192", "1.0"),)),  # meter not mapped
                Meter("3", "conn", (Function("1", "02000", "192", "NaN"),)),  # not a finite value
            ]
            assert await c.send_data("report", OK_TIME, packet)
            assert await c.send_data("report", "20990101000000", ONE)  # far in the future
            assert await c.send_data("report", "20200531235959", ONE)  # one second before installation
            assert await c.send_data("report", "yesterday", ONE)  # not a time
            assert await c.heartbeat()  # the connection stays: values are dropped, not the link
            assert gw.stats.readings == 1

    asyncio.run(scenario())
    (topic, payload), = sub.wait_for(1)
    sub.close()
    _, msgs = decode(topic, json.dumps(payload).encode())
    assert [(m.device_id, m.readings[0].values) for m in msgs] == [("E-LS", {"register": 5.2})]
    delta = {k: COUNTS[k] - before[k] for k in COUNTS}
    assert delta["unknown_item_code"] == 1
    assert delta["item_code_mismatch"] == 1
    assert delta["unmapped_function"] == 1
    assert delta["bad_value"] == 1
    assert delta["future_time"] == 1
    assert delta["before_installation"] == 1
    assert delta["bad_time"] == 1


def test_query_is_answered_with_a_reply_that_is_published(tmp_path: Path, mosquitto):
    p = load_profile("utf16le")
    engine = make_registry(tmp_path, [(BUILDING, "01", TEXT_KEY)])
    sub = Collector(mosquitto.port, f"ep/v1/{BUILDING}/gateway/01/batch")

    async def scenario() -> None:
        async with running_gateway(engine, p, mosquitto.port) as gw:
            c = CollectorClient("127.0.0.1", gw.port, p, BUILDING, "01", TEXT_KEY,
                                on_query=lambda: ("2025/03/01 12:15:00", ONE))
            await c.connect()
            assert await c.authenticate()
            assert await gw.query(BUILDING, "01")
            assert not await gw.query(BUILDING, "99")  # not connected
            for _ in range(200):
                if gw.stats.readings:
                    break
                await asyncio.sleep(0.05)
            assert gw.stats.readings == 1
            await c.close()

    asyncio.run(scenario())
    ((topic, payload),) = sub.wait_for(1)
    sub.close()
    _, msgs = decode(topic, json.dumps(payload).encode())
    # 2025-03-01 12:15:00 China Standard Time = 04:15:00 UTC
    assert [(m.device_id, m.readings[0].ts_ms, m.readings[0].values) for m in msgs] == \
        [("E-LS", 1_740_802_500_000, {"register": 5.2})]
