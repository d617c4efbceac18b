"""The data centre side of the collector protocol: an asyncio TCP server.

Per connection (docs/collectors.md, "Connection"):

    new --request--> challenged --md5 ok--> passed --(notify | data | period_ack)*
          \\--anything else: closed     \\--md5 wrong: result fail, closed

Every refusal is logged with a stable ``reason`` and counted in :attr:`Gateway.refusals`; a
refusal closes that one connection (or, for data, drops that one value as a finding). No input
reaches past this connection's task: an unexpected exception closes it and is logged.
"""

from __future__ import annotations

import asyncio
import collections
import logging
import secrets
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from collectors import codec, xmlmsg
from collectors.codec import CodecError
from collectors.directory import CollectorEntry, Directory
from collectors.framing import Deframer, FrameError, encode_frame
from collectors.mapping import convert
from collectors.mqtt import AckingPublisher
from collectors.profile import Profile
from collectors.settings import GatewaySettings
from collectors.xmlmsg import XmlError
from contract.localtime import ms_to_local

log = logging.getLogger("collectors.server")

#: Called with (collector, collection time, accepted values) after the broker acknowledged them.
OnAccepted = Callable[[CollectorEntry, int, list[tuple[str, str, str, str]]], Awaitable[None] | None]


class Refused(Exception):
    def __init__(self, reason: str, detail: str = ""):
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail


@dataclass
class Stats:
    connections: int = 0  # open now
    authenticated: int = 0  # open and passed now
    packets: int = 0
    readings: int = 0  # function values published and acknowledged by the broker
    data_packets_acked: int = 0


def new_sequence(style: str) -> str:
    if style == "digits8":
        return f"{secrets.randbelow(10**8):08d}"
    if style == "hex16":
        return secrets.token_hex(8)
    return str(uuid.uuid4())


class Gateway:
    def __init__(self, settings: GatewaySettings, profile: Profile, directory: Directory,
                 publisher: AckingPublisher | None, *, on_accepted: OnAccepted | None = None):
        self.s = settings
        self.profile = profile
        self.directory = directory
        self.publisher = publisher
        self.on_accepted = on_accepted
        self.stats = Stats()
        self.refusals: collections.Counter[str] = collections.Counter()
        self.throttled = 0  # connections that hit the packet rate limit
        #: Packet arrival -> broker acknowledgement of its readings, when a benchmark asks for it. [s]
        self.latencies_s: collections.deque[float] | None = None
        self.sessions: dict[tuple[str, str], Connection] = {}
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task] = set()
        self.port = 0

    async def start(self) -> int:
        self._server = await asyncio.start_server(self._accept, self.s.host, self.s.port, backlog=4096,
                                                  limit=self.s.max_packet_bytes)
        self.port = self._server.sockets[0].getsockname()[1]
        log.info("listening", extra={"host": self.s.host, "port": self.port, "profile": self.profile.name})
        return self.port

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
        for t in list(self._tasks):
            t.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        self._tasks.add(task)
        conn = Connection(self, reader, writer)
        try:
            if self.stats.connections >= self.s.max_connections:
                raise Refused("too_many_connections", f"{self.stats.connections} open")
            self.stats.connections += 1
            try:
                await conn.run()
            finally:
                self.stats.connections -= 1
        except Refused as e:
            self.refuse(conn, e)
        except asyncio.CancelledError:
            pass
        except Exception:  # a bug: this connection ends, the gateway goes on
            log.exception("connection failed", extra=conn.ids())
            self.refusals["internal_error"] += 1
        finally:
            conn.close()
            self._tasks.discard(task)

    def refuse(self, conn: Connection, e: Refused) -> None:
        self.refusals[e.reason] += 1
        log.warning("connection closed", extra={"reason": e.reason, "detail": e.detail[:300], **conn.ids()})

    async def query(self, building_code: str, gateway_id: str) -> bool:
        """Ask an authenticated collector for its current data (answered with ``reply``)."""
        conn = self.sessions.get((building_code, gateway_id))
        if conn is None:
            return False
        now = ms_to_local(int(time.time() * 1000)).strftime(self.profile.time_format)
        await conn.send(xmlmsg.build(building_code, gateway_id, "query", "data", "query", [("time", now)]))
        return True


class Connection:
    def __init__(self, gw: Gateway, reader: asyncio.StreamReader, writer: asyncio.StreamWriter):
        self.gw = gw
        self.p = gw.profile
        self.reader = reader
        self.writer = writer
        self.peer = str(writer.get_extra_info("peername"))
        self.deframer = Deframer(self.p.framing, gw.s.max_packet_bytes, block=self.p.block,
                                 end_tag="</root>".encode(self.p.text_encoding))
        self.state = "new"
        self.entry: CollectorEntry | None = None
        self.claimed: tuple[str, str] | None = None
        self.key: str | None = None  # the key that decrypted the first packet (AES profiles)
        self.challenge = ""
        self.out_sequence = 0
        self._tokens = float(gw.s.packet_burst)
        self._refill_at = time.monotonic()
        self._closed = False
        self._arrived_s = 0.0
        self._throttled = False

    def ids(self) -> dict:
        b, g = self.claimed or ("", "")
        return {"peer": self.peer, "building_code": b, "gateway_id": g, "state": self.state}

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        if self.claimed and self.gw.sessions.get(self.claimed) is self:
            del self.gw.sessions[self.claimed]
        if self.state == "passed":
            self.gw.stats.authenticated -= 1
        self.writer.close()

    async def run(self) -> None:
        s = self.gw.s
        deadline = time.monotonic() + s.auth_timeout_s
        while True:
            timeout = s.idle_timeout_s if self.state == "passed" else deadline - time.monotonic()
            try:
                data = await asyncio.wait_for(self.reader.read(65536), max(timeout, 0.001))
            except TimeoutError:
                raise Refused("idle_timeout" if self.state == "passed" else "auth_timeout") from None
            except (ConnectionError, OSError):
                return
            if not data:
                return
            self._arrived_s = time.perf_counter()
            try:
                payloads = self.deframer.feed(data)
            except FrameError as e:
                raise Refused(e.reason, e.detail) from None
            for payload in payloads:
                await self._rate_wait()
                self.gw.stats.packets += 1
                await self.on_packet(self._decode(payload))

    async def _rate_wait(self) -> None:
        """Hold a connection to ``packets_per_s`` after a burst of ``packet_burst``: over the limit,
        this connection's reading pauses (TCP pushes back on the collector); nothing is dropped,
        and no other connection waits."""
        s = self.gw.s
        now = time.monotonic()
        self._tokens = min(float(s.packet_burst), self._tokens + (now - self._refill_at) * s.packets_per_s)
        self._refill_at = now
        if self._tokens < 1:
            if not self._throttled:
                self._throttled = True
                self.gw.throttled += 1
                log.warning("connection throttled", extra={"packets_per_s": s.packets_per_s, **self.ids()})
            await asyncio.sleep((1 - self._tokens) / s.packets_per_s)
            self._tokens, self._refill_at = 1.0, time.monotonic()
        self._tokens -= 1

    def _decode(self, payload: bytes) -> xmlmsg.Packet:
        try:
            if self.p.encryption == "none" or self.key is not None:
                return xmlmsg.parse(codec.decode(self.p, self.key, payload))
            # The first packet names its collector only inside the ciphertext: try the keys the
            # registry holds (collectors of one city often share one), then hold the collector to it.
            for key in self.gw.directory.keys:
                if not codec.may_open(self.p, key, payload):
                    continue
                try:
                    pkt = xmlmsg.parse(codec.decode(self.p, key, payload))
                except (CodecError, XmlError):
                    continue
                self.key = key
                return pkt
            raise Refused("undecryptable", "no registered key decrypts the first packet (wrong key?)")
        except CodecError as e:
            raise Refused(e.reason, e.detail) from None
        except XmlError as e:
            raise Refused(e.reason, e.detail) from None

    async def send(self, root) -> None:
        text = xmlmsg.to_text(root)
        payload = codec.encode(self.p, self.key or (self.entry.key if self.entry else ""), text) \
            if self.p.encryption != "none" else text.encode(self.p.text_encoding)
        self.out_sequence += 1
        self.writer.write(encode_frame(self.deframer.framing or self.p.framing[0], payload, self.out_sequence))
        try:
            await asyncio.wait_for(self.writer.drain(), self.gw.s.ack_timeout_s)
        except (TimeoutError, ConnectionError, OSError):
            raise Refused("send_failed", "the collector does not read") from None

    def _reply(self, typ: str, element: str | None, operation: str | None, children=None):
        b, g = self.claimed
        return xmlmsg.build(b, g, typ, element, operation, children)

    async def on_packet(self, pkt: xmlmsg.Packet) -> None:
        if self.state == "passed":
            if (pkt.building_id, pkt.gateway_id) != self.claimed:
                raise Refused("identity_mismatch", f"packet of {pkt.building_id}/{pkt.gateway_id}")
            await self.on_session_packet(pkt)
            return
        if pkt.element != "id_validate":
            raise Refused("not_authenticated", f"{pkt.element or pkt.type}/{pkt.operation} before authentication")
        if self.state == "new":
            if pkt.operation != "request":
                raise Refused("not_authenticated", f"id_validate/{pkt.operation} before a request")
            self.claimed = (pkt.building_id, pkt.gateway_id)
            self.entry = self.gw.directory.get(*self.claimed)
            if self.entry is None or (self.key is not None and self.key != self.entry.key):
                await self.send(self._reply("result", "id_validate", "result", [("result", "fail")]))
                raise Refused("unknown_collector" if self.entry is None else "wrong_key",
                              f"{pkt.building_id}/{pkt.gateway_id}")
            self.challenge = new_sequence(self.p.sequence_style)
            self.state = "challenged"
            await self.send(self._reply("sequence", "id_validate", "sequence", [("sequence", self.challenge)]))
            return
        if pkt.operation != "md5" or (pkt.building_id, pkt.gateway_id) != self.claimed:
            raise Refused("not_authenticated", f"id_validate/{pkt.operation} instead of md5")
        answer = (pkt.text("md5") or "").lower()
        want = codec.md5_answer(self.p, self.challenge, self.entry.key).lower()
        if not secrets.compare_digest(answer, want):
            await self.send(self._reply("result", "id_validate", "result", [("result", "fail")]))
            raise Refused("wrong_key", "the MD5 answer does not match")
        self.state = "passed"
        self.gw.stats.authenticated += 1
        old = self.gw.sessions.get(self.claimed)
        self.gw.sessions[self.claimed] = self
        if old is not None and old is not self:
            old.close()  # the collector reconnected; the old link is dead
        await self.send(self._reply("result", "id_validate", "result", [("result", "pass")]))
        await self.send(self._reply("period", "config", "period", [("period", str(self.gw.s.period_min))]))
        log.info("collector authenticated", extra=self.ids())

    async def on_session_packet(self, pkt: xmlmsg.Packet) -> None:
        if pkt.element == "heart_beat":
            now = ms_to_local(int(time.time() * 1000)).strftime(self.p.time_format)
            await self.send(self._reply("time", "heart_beat", "time", [("time", now)]))
        elif pkt.element == "data" and pkt.operation in ("report", "reply", "continuous"):
            await self.on_data(pkt)
        elif pkt.element in ("config", "id_validate") or pkt.operation in ("period_ack", "report_ack"):
            return  # period_ack, or a repeated authentication step: nothing to answer
        else:
            raise Refused("unknown_operation", f"{pkt.element}/{pkt.operation}")

    async def on_data(self, pkt: xmlmsg.Packet) -> None:
        try:
            body = xmlmsg.data_body(pkt)
        except XmlError as e:
            raise Refused(e.reason, e.detail) from None
        conv = convert(self.entry, body, now_ms=int(time.time() * 1000),
                       future_tolerance_ms=int(self.gw.s.future_tolerance_s * 1000), time_format=self.p.time_format)
        if conv.messages:
            ok = await self.gw.publisher.publish_all(conv.messages, self.gw.s.ack_timeout_s)
            if not ok:
                # Not acknowledged: the collector keeps the packet and sends it again.
                self.gw.refusals["broker_unconfirmed"] += 1
                log.warning("broker did not confirm a data packet; not acknowledged", extra=self.ids())
                return
            if self.gw.latencies_s is not None:
                self.gw.latencies_s.append(time.perf_counter() - self._arrived_s)
            self.gw.stats.readings += conv.readings
            if self.gw.on_accepted is not None and conv.accepted:
                res = self.gw.on_accepted(self.entry, conv.ts_ms, conv.accepted)
                if asyncio.iscoroutine(res):
                    await res
        self.gw.stats.data_packets_acked += 1
        if pkt.operation == "continuous":
            await self.send(self._ack("continuous_ack", body))
        elif self.p.report_ack:
            await self.send(self._ack("report_ack", body))

    def _ack(self, operation: str, body: xmlmsg.DataBody):
        children = [("sequence", body.sequence), ("time", body.time)]
        if body.total is not None:
            children += [("total", str(body.total)), ("current", str(body.current))]
        return self._reply(operation, "data", operation, children + [(self.p.ack_element, "pass")])
