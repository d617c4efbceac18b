"""Batch building: MQTT messages in, sealed batches of line protocol (and dead letters) out.

Runs in the processor thread. A batch is the unit of acknowledgement: its messages are acked,
in arrival order, once all its lines are written and all its dead letters are confirmed.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from contract.payloads import ContractError, DeviceMessage, decode
from contract.topics import deadletter_topic
from ingest.intervals import RegisterReading, RegisterTracker
from ingest.logs import OncePer
from ingest.metrics import Metrics
from ingest.transform import Point, TimeRules, Transformer
from storage.clip import clip
from storage.lineproto import encode_line, format_fields

log = logging.getLogger("ingest.pipeline")

DEADLETTER_MEASUREMENT = "ingest_deadletter"
#: Reason of lines InfluxDB refused one by one (e.g. a field stored earlier with another type).
WRITE_REJECTED = "write_rejected"
#: Reason of input that made ingest itself fail (a bug): kept for the fix, the stream goes on.
INTERNAL_ERROR = "internal_error"
#: Text of the original payload kept in a dead letter. [characters]
DEADLETTER_PAYLOAD_CHARS = 4096


@dataclass(slots=True)
class Inbound:
    """One MQTT message as the network thread hands it over."""

    gen: int  # connection generation: acks go only to the connection that delivered it
    mid: int
    qos: int
    topic: str
    payload: bytes
    received_ms: int


@dataclass(slots=True)
class DeadLetter:
    reason: str
    detail: str
    topic: str
    payload: bytes
    received_ms: int

    @property
    def topic_out(self) -> str:
        return deadletter_topic(self.reason)

    def to_json(self) -> bytes:
        text = self.payload.decode("utf-8", errors="replace")
        return json.dumps({"reason": self.reason, "detail": self.detail, "topic": self.topic,
                           "payload": text[:DEADLETTER_PAYLOAD_CHARS],
                           "payload_truncated": len(text) > DEADLETTER_PAYLOAD_CHARS,
                           "received_ms": self.received_ms}, ensure_ascii=False).encode("utf-8")


@dataclass
class Batch:
    messages: list[Inbound] = field(default_factory=list)
    points: dict[tuple[str, int], Point] = field(default_factory=dict)
    origin: dict[tuple[str, int], int] = field(default_factory=dict)  # point -> index in messages
    registers: list[RegisterReading] = field(default_factory=list)
    deadletters: list[DeadLetter] = field(default_factory=list)
    opened_s: float = field(default_factory=time.monotonic)
    lines: list[str] = field(default_factory=list)
    line_origin: list[int] = field(default_factory=list)  # -1: a derived or bookkeeping line
    newest_ts_ms: int = 0
    readings: int = 0

    def __len__(self) -> int:
        return len(self.points) + len(self.deadletters)


class BatchBuilder:
    """Decodes, checks and converts messages into the open batch; :meth:`seal` hands it over."""

    def __init__(self, *, rules: TimeRules, tracker: RegisterTracker, metrics: Metrics, client_id: str,
                 clock_ms: Callable[[], int] | None = None):
        self._rules = rules
        self._tracker = tracker
        self._metrics = metrics
        self._client_id = client_id
        self._clock_ms = clock_ms or (lambda: int(time.time() * 1000))
        self._transformer = Transformer()
        self._once = OncePer()
        self._last_dl_ts = 0
        self.batch = Batch()

    def add(self, m: Inbound) -> None:
        b = self.batch
        index = len(b.messages)
        b.messages.append(m)
        try:
            _addr, parts = decode(m.topic, m.payload)
        except ContractError as e:
            self._reject(m, e.reason.value, e.detail)
            return
        except Exception as e:  # noqa: BLE001 - a poison message must not stop the stream
            self._internal_error(m, e)
            return
        now_ms = self._clock_ms()
        for part in parts:
            if isinstance(part, ContractError):
                self._reject(m, part.reason.value, part.detail)
                continue
            try:
                self._rules.check(part, now_ms)
                self._take(part, index)
            except ContractError as e:
                self._reject(m, e.reason.value, e.detail)
            except Exception as e:  # noqa: BLE001 - a poison message must not stop the stream
                self._internal_error(m, e)

    def _internal_error(self, m: Inbound, e: Exception) -> None:
        # A bug of ours, not the sender's: dead-lettered (so the stream goes on and the input is
        # kept for the fix) and logged with the traceback.
        log.exception("message could not be handled", extra={"topic": m.topic})
        self._reject(m, INTERNAL_ERROR, f"{type(e).__name__}: {e}")

    def _take(self, msg: DeviceMessage, index: int) -> None:
        points, registers = self._transformer.points(msg)
        b = self.batch
        by_key, origin = b.points, b.origin
        newest = b.newest_ts_ms
        for p in points:
            ts_ms = p.ts_ms
            key = (p.series, ts_ms)
            old = by_key.get(key)
            if old is None:
                by_key[key] = p
            else:  # the same reading twice in one batch: one line, later values win
                old.fields.update(p.fields)
            origin[key] = index
            if ts_ms > newest:
                newest = ts_ms
        b.newest_ts_ms = newest
        b.registers.extend(registers)
        b.readings += len(points)

    def _reject(self, m: Inbound, reason: str, detail: str) -> None:
        self.batch.deadletters.append(DeadLetter(reason, detail, m.topic, m.payload, m.received_ms))
        self._metrics.rejected.labels(reason).inc()
        if self._once.first((reason, m.topic)):
            log.warning("rejected", extra={"reason": reason, "detail": clip(detail), "topic": m.topic})

    def deadletter_line(self, dl: DeadLetter) -> str:
        # Unique timestamps per worker, so that two rejections in one millisecond are both counted.
        ts = max(dl.received_ms, self._last_dl_ts + 1)
        self._last_dl_ts = ts
        return encode_line(DEADLETTER_MEASUREMENT, {"reason": dl.reason, "client_id": self._client_id},
                           {"topic": dl.topic, "detail": clip(dl.detail, 1000)}, ts)

    def seal(self) -> Batch:
        """Derive interval quantities, encode every line, and start a new batch."""
        b, self.batch = self.batch, Batch()
        before = self._tracker.lookups
        derived = self._tracker.apply(b.registers)
        self._metrics.lookups.inc(self._tracker.lookups - before)
        extra: list[tuple[str, dict, int]] = []
        by_key = b.points
        for u in derived:
            p = by_key.get((u.series, u.ts_ms))
            if p is not None:
                fields = p.fields
                for k, v in u.fields.items():
                    if k not in fields:
                        fields[k] = v
            else:
                extra.append((u.series, u.fields, u.ts_ms))
        lines, origin = b.lines, b.line_origin
        point_origin = b.origin
        for key, p in by_key.items():
            text = format_fields(p.fields)
            if text:
                lines.append(f"{p.series} {text} {p.ts_ms}")
                origin.append(point_origin[key])
        for series, fields, ts in extra:
            lines.append(f"{series} {format_fields(fields)} {ts}")
            origin.append(-1)
        for dl in b.deadletters:
            lines.append(self.deadletter_line(dl))
            origin.append(-1)
        b.registers = []
        return b
