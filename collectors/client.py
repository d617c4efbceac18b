"""The collector side of the protocol: what a data collector does, over real TCP.

Used by the collector simulator (simulators/collectors.py) and by upstream forwarding, where the
platform itself acts as a collector towards an upper-level data centre (collectors/upstream.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable

from collectors import codec, xmlmsg
from collectors.framing import Deframer, encode_frame
from collectors.profile import Profile
from collectors.xmlmsg import Meter

log = logging.getLogger("collectors.client")


class ClientError(Exception):
    pass


class CollectorClient:
    """One collector connection. ``on_query`` returns (time text, meters) for a ``reply``."""

    def __init__(self, host: str, port: int, profile: Profile, building_id: str, gateway_id: str, key: str, *,
                 on_query: Callable[[], tuple[str, list[Meter]]] | None = None, max_packet_bytes: int = 1 << 20):
        self.host, self.port, self.p = host, port, profile
        self.building_id, self.gateway_id, self.key = building_id, gateway_id, key
        self.on_query = on_query
        self.period_min: int | None = None
        self.last_time: str | None = None
        self._max = max_packet_bytes
        self._inbox: asyncio.Queue[xmlmsg.Packet | None] = asyncio.Queue()
        self._reader_task: asyncio.Task | None = None
        self._writer: asyncio.StreamWriter | None = None
        self._out_sequence = 0
        self.closed = asyncio.Event()

    async def connect(self, timeout_s: float = 10) -> None:
        reader, self._writer = await asyncio.wait_for(asyncio.open_connection(self.host, self.port), timeout_s)
        self.closed.clear()
        self._reader_task = asyncio.create_task(self._read(reader))

    async def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
            with contextlib.suppress(Exception):
                await self._writer.wait_closed()
        if self._reader_task is not None:
            self._reader_task.cancel()
            with contextlib.suppress(BaseException):
                await self._reader_task

    async def send_raw(self, data: bytes) -> None:
        self._writer.write(data)
        await self._writer.drain()

    def frame(self, root) -> bytes:
        """The bytes of one packet in this profile."""
        return self.frame_text(xmlmsg.to_text(root))

    def frame_text(self, text: str) -> bytes:
        """Any text (also not XML: simulated malformed packets), encrypted and framed as the profile says."""
        payload = codec.encode(self.p, self.key, text)
        self._out_sequence += 1
        return encode_frame(self.p.framing[0], payload, self._out_sequence)

    async def send(self, root) -> None:
        await self.send_raw(self.frame(root))

    def _packet(self, typ: str, element: str | None, operation: str | None, children=None):
        return xmlmsg.build(self.building_id, self.gateway_id, typ, element, operation, children)

    async def _read(self, reader: asyncio.StreamReader) -> None:
        deframer = Deframer(self.p.framing[:1], self._max, block=self.p.block,
                            end_tag="</root>".encode(self.p.text_encoding))
        try:
            while data := await reader.read(65536):
                for payload in deframer.feed(data):
                    pkt = xmlmsg.parse(codec.decode(self.p, self.key, payload))
                    if pkt.element == "config" and pkt.operation == "period":
                        self.period_min = int(pkt.text("period") or 0)
                        await self.send(self._packet("period_ack", "config", "period_ack"))
                    elif pkt.element == "data" and pkt.operation == "query" and self.on_query:
                        t, meters = self.on_query()
                        await self.send(xmlmsg.data_packet(self.building_id, self.gateway_id, "reply",
                                                           sequence="0", time=t, meters=meters))
                    else:
                        await self._inbox.put(pkt)
        except (ConnectionError, OSError, asyncio.IncompleteReadError):
            pass
        except Exception as e:  # a packet we cannot read: the link is unusable
            log.warning("collector client read failed", extra={"error": str(e)[:200]})
        finally:
            self.closed.set()
            await self._inbox.put(None)

    async def expect(self, operation: str | tuple[str, ...], timeout_s: float) -> xmlmsg.Packet:
        """The next packet with ``operation`` (or one of them; others are dropped); ClientError when
        the link closes."""
        wanted = (operation,) if isinstance(operation, str) else operation
        async with asyncio.timeout(timeout_s):
            while True:
                pkt = await self._inbox.get()
                if pkt is None:
                    await self._inbox.put(None)
                    raise ClientError(f"connection closed while waiting for {operation}")
                if pkt.operation in wanted:
                    return pkt

    async def authenticate(self, timeout_s: float = 10) -> bool:
        await self.send(self._packet("request", "id_validate", "request"))
        try:
            seq = await self.expect(("sequence", "result"), timeout_s)
        except ClientError:
            return False
        if seq.operation == "result":  # refused before a challenge (unknown collector)
            return False
        md5 = codec.md5_answer(self.p, seq.text("sequence") or "", self.key)
        await self.send(self._packet("md5", "id_validate", "md5", [("md5", md5)]))
        try:
            result = await self.expect("result", timeout_s)
        except ClientError:
            return False
        return result.text("result") == "pass"

    async def heartbeat(self, timeout_s: float = 10) -> str:
        await self.send(self._packet("notify", "heart_beat", "notify"))
        pkt = await self.expect("time", timeout_s)
        self.last_time = pkt.text("time")
        return self.last_time or ""

    async def send_data(self, operation: str, time_text: str, meters: list[Meter], *, sequence: str = "1",
                        total: int | None = None, current: int | None = None, timeout_s: float = 30) -> bool:
        """Send report/continuous; True once acknowledged (a report of a profile without report
        acknowledgement counts as acknowledged once sent)."""
        await self.send(xmlmsg.data_packet(self.building_id, self.gateway_id, operation, sequence=sequence,
                                           time=time_text, meters=meters, total=total, current=current))
        if operation == "report" and not self.p.report_ack:
            return True
        want = "continuous_ack" if operation == "continuous" else "report_ack"
        try:
            while True:
                ack = await self.expect(want, timeout_s)
                if ack.text("time") == time_text and ack.text("sequence") == sequence:
                    return ack.text(self.p.ack_element) == "pass"
        except (TimeoutError, ClientError):
            return False
