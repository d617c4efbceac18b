"""Batch building: MQTT messages in, sealed batches of line protocol (and dead letters) out.

Runs in the processor thread. A batch is the unit of acknowledgement: its messages are acked,
in arrival order, once all its lines are written and all its dead letters are confirmed.

Every stage is isolated per message: decoding, checks and unit conversion in :meth:`BatchBuilder.add`,
interval derivation and encoding in :meth:`BatchBuilder.seal`. Input that makes ingest itself fail
dead-letters its own message (``internal_error``), never the batch or the process: a stream
stopped by one message is the worst failure an ingest service can have.
"""

from __future__ import annotations

import json
import logging
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field

from contract.fastdecode import decode  # the contract's verdicts, fast for accepted messages
from contract.payloads import ContractError, DeviceMessage
from contract.registers import FLOW_SIGN, Step
from contract.topics import deadletter_topic
from contract.units import Dimension
from contract.vocabulary import field_name
from ingest.findings import STEP_CODE, Finding, FindingCode, FindingLog, FindingRules
from ingest.intervals import DerivedUpdate, RegisterReading, RegisterTracker
from ingest.messages import Inbound
from ingest.metrics import Metrics
from ingest.registry_check import RegistryCheck
from ingest.transform import Point, TimeRules, Transformer
from storage.clip import clip
from storage.lineproto import encode_line, format_fields
from storage.logs import OncePer
from storage.retry import Aborted

log = logging.getLogger("ingest.pipeline")

DEADLETTER_MEASUREMENT = "ingest_deadletter"
#: The stored power field every device kind with power telemetry uses (kW).
POWER_FIELD = field_name("power", Dimension.power)
#: Reason of lines InfluxDB refused one by one (e.g. a field stored earlier with another type).
WRITE_REJECTED = "write_rejected"
#: Reason of input that made ingest itself fail (a bug): kept for the fix, the stream goes on.
INTERNAL_ERROR = "internal_error"
#: Reason of a message that was being handled while the worker died, too often (ingest/deliveries.py).
POISON_MESSAGE = "poison_message"
#: Text of the original payload kept in a dead letter. [characters]
DEADLETTER_PAYLOAD_CHARS = 4096

__all__ = ["Batch", "BatchBuilder", "DeadLetter", "Inbound"]  # Inbound: re-exported for callers


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
    register_origin: list[int] = field(default_factory=list)  # register reading -> index in messages
    deadletters: list[DeadLetter] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)
    opened_s: float = field(default_factory=time.monotonic)
    lines: list[str] = field(default_factory=list)
    line_origin: list[int] = field(default_factory=list)  # -1: a derived or bookkeeping line
    newest_ts_ms: int = 0
    readings: int = 0
    payload_bytes: int = 0  # of its messages: the memory budget seals on it [B]
    delivery_keys: list[str] = field(default_factory=list)  # redelivered messages (ingest/deliveries.py)

    def __len__(self) -> int:
        return len(self.points) + len(self.deadletters)


class BatchBuilder:
    """Decodes, checks and converts messages into the open batch; :meth:`seal` hands it over."""

    def __init__(self, *, rules: TimeRules, tracker: RegisterTracker, metrics: Metrics, client_id: str,
                 clock_ms: Callable[[], int] | None = None, transformer: Transformer | None = None,
                 registry: RegistryCheck | None = None, finding_rules: FindingRules | None = None):
        self._rules = rules
        self._tracker = tracker
        self._metrics = metrics
        self._client_id = client_id
        self._clock_ms = clock_ms or (lambda: int(time.time() * 1000))
        self._transformer = transformer or Transformer()
        self._registry = registry
        self._frules = finding_rules or FindingRules()
        self._findings = FindingLog()
        self._once = OncePer()
        self._last_dl_ts = 0
        #: Register series standing still while their device reports power through them:
        #: key -> [first such reading's ts_ms, reported]. Dropped when the register moves.
        self._flowing: dict = {}
        self.batch = Batch()

    def add(self, m: Inbound) -> None:
        b = self.batch
        index = len(b.messages)
        b.messages.append(m)
        b.payload_bytes += len(m.payload)
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
                newest = self._rules.check(part, now_ms)
                found = self._registry.check(part) if self._registry is not None else None
                self._take(part, index)
                if found is not None:
                    self._finding(found)
                if newest - now_ms > self._frules.clock_skew_s * 1000:
                    self._finding(Finding(FindingCode.clock_skew, part.building_code, part.device_id,
                                          now_ms, newest, f"timestamp {(newest - now_ms) / 1000:.0f} s ahead of the "
                                          "ingest clock (stored: within the tolerance)", (newest - now_ms) / 1000))
            except ContractError as e:
                self._reject(m, e.reason.value, e.detail)
            except Exception as e:  # noqa: BLE001 - a poison message must not stop the stream
                self._internal_error(m, e)

    def reject(self, m: Inbound, reason: str, detail: str) -> None:
        """Take ``m`` into the batch dead-lettered, unread (a poison message)."""
        self.batch.messages.append(m)
        self._reject(m, reason, detail)

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
        b.register_origin.extend([index] * len(registers))
        b.readings += len(points)

    def _finding(self, f: Finding, batch: Batch | None = None) -> None:
        (batch or self.batch).findings.append(f)
        self._findings.note(f)

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
        """Derive interval quantities, encode every line, and start a new batch.

        A message whose derivation or encoding fails is dead-lettered whole (``internal_error``):
        none of its lines is written, and its siblings are."""
        b, self.batch = self.batch, Batch()
        bad: dict[int, str] = {}
        derived = self._derive(b, bad)
        extra: list[tuple[str, dict, int]] = []
        by_key = b.points
        normal, gap_s = Step.normal, self._frules.gap_s  # hot loop: locals
        flowing = self._flowing
        for u in derived:
            p = by_key.get((u.series, u.ts_ms))
            try:  # free in CPython 3.11 unless it raises
                if u.step is not normal or u.fields["interval_s"] > gap_s or u.misread:
                    self._step_findings(u, b)
                    if flowing:
                        flowing.pop(u.key, None)
                elif u.apparent == 0.0:
                    self._stuck_finding(u, b, p)
                elif flowing:
                    flowing.pop(u.key, None)
            except Exception as e:  # noqa: BLE001 - a finding is advice: its failure must not stop the stream
                if self._once.first(("finding_failed", type(e).__name__)):
                    log.exception("data-quality finding failed; the readings are stored without it",
                                  extra={"series": clip(u.series)})
            if p is not None:
                fields = p.fields
                for k, v in u.fields.items():
                    if k not in fields:
                        fields[k] = v
            else:
                extra.append((u.series, u.fields, u.ts_ms))
        point_origin = b.origin
        lines, origin = b.lines, b.line_origin
        for key, p in by_key.items():
            try:
                text = format_fields(p.fields)
                if text:
                    lines.append(f"{p.series} {text} {p.ts_ms}")
                    origin.append(point_origin[key])
            except Exception as e:  # noqa: BLE001 - one message must not stop the batch
                bad.setdefault(point_origin[key], f"encoding: {type(e).__name__}: {e}")
        if bad:  # rare: none of a failed message's lines is written
            kept = [(ln, o) for ln, o in zip(lines, origin, strict=True) if o not in bad]
            lines[:] = [ln for ln, _o in kept]
            origin[:] = [o for _ln, o in kept]
        for index, error in bad.items():
            m = b.messages[index]
            log.error("message failed at batch sealing", extra={"topic": m.topic, "error": error[:300]})
            b.deadletters.append(DeadLetter(INTERNAL_ERROR, error, m.topic, m.payload, m.received_ms))
            self._metrics.rejected.labels(INTERNAL_ERROR).inc()
        for series, fields, ts in extra:
            try:
                lines.append(f"{series} {format_fields(fields)} {ts}")
                origin.append(-1)
            except Exception:  # noqa: BLE001 - a neighbour's rewrite: it keeps its stored value
                log.exception("derived line could not be encoded", extra={"series": series[:200]})
        for dl in b.deadletters:
            lines.append(self.deadletter_line(dl))
            origin.append(-1)
        for f in b.findings:
            lines.append(f.line())
            origin.append(-1)
        b.registers = []
        b.register_origin = []
        return b

    def _derive(self, b: Batch, bad: dict[int, str]) -> list[DerivedUpdate]:
        """Interval updates of the batch, all series in one storage lookup; when that fails, again
        message by message, so that only the failing message is lost to ``internal_error``."""
        tracker = self._tracker
        before, evicted = tracker.lookups, tracker.evictions
        try:
            return tracker.apply(b.registers)
        except Aborted:
            raise
        except Exception:  # noqa: BLE001 - isolate below
            log.exception("interval derivation failed for a batch; retrying message by message")
            # The cache may hold readings of the failed call that will never be stored.
            tracker.forget({r.key for r in b.registers})
        finally:
            self._metrics.lookups.inc(tracker.lookups - before)
            self._note_evictions(tracker.evictions - evicted)
        groups: dict[int, list[RegisterReading]] = defaultdict(list)
        for r, o in zip(b.registers, b.register_origin, strict=True):
            groups[o].append(r)
        out: list[DerivedUpdate] = []
        for index, regs in groups.items():
            before, evicted = tracker.lookups, tracker.evictions
            try:
                out.extend(tracker.apply(regs))
            except Aborted:
                raise
            except Exception as e:  # noqa: BLE001 - this message alone is dead-lettered
                tracker.forget({r.key for r in regs})
                bad[index] = f"interval derivation: {type(e).__name__}: {e}"
            finally:
                self._metrics.lookups.inc(tracker.lookups - before)
                self._note_evictions(tracker.evictions - evicted)
        return out

    def _note_evictions(self, n: int) -> None:
        if not n:
            return
        self._metrics.evictions.inc(n)
        if self._once.first("register_cache_full"):
            log.warning("register cache full: least recently used series are forgotten and looked up in "
                        "InfluxDB when they next report; if ep_ingest_register_lookups_total keeps rising, "
                        "raise --register-cache-mib or partition buildings across more workers",
                        extra={"series": len(self._tracker), "cache_bytes": self._tracker.cache_bytes})

    def _step_findings(self, u: DerivedUpdate, b: Batch) -> None:
        key = u.key
        if not (isinstance(key, tuple) and len(key) == 4):
            return
        _m, building, device, reg_field = key
        interval_s = u.fields.get("interval_s", 0.0)
        start = u.ts_ms - int(interval_s * 1000)
        if u.misread:
            detail = (f"{reg_field}: read {u.misread:+.6g} away from the range of its neighbours "
                      "(counted as within it)")
            self._finding(Finding(FindingCode.register_misread, building, device, start, u.ts_ms, detail,
                                  u.misread), b)
        code = STEP_CODE.get(u.step)
        if code is not None:
            held = " (held out: not summed)" if u.step in (Step.backward, Step.spike) else ""
            detail = f"{reg_field}: step of {u.apparent:.6g} over {interval_s:.0f} s{held}"
            self._finding(Finding(code, building, device, start, u.ts_ms, detail, u.apparent), b)
        if interval_s > self._frules.gap_s:
            self._finding(Finding(FindingCode.gap, building, device, start, u.ts_ms,
                                  f"{reg_field}: no reading for {interval_s:.0f} s", interval_s), b)

    def _stuck_finding(self, u: DerivedUpdate, b: Batch, p: Point | None) -> None:
        """A register that has not moved for ``stuck_s`` while every reading of its device said
        energy flowed through it (contract.registers.FLOW_SIGN): once per episode."""
        key = u.key
        if not (isinstance(key, tuple) and len(key) == 4):
            return
        _m, building, device, reg_field = key
        if p is None:  # a stored neighbour re-derived by a late reading: no power to judge by
            return
        # The kind from the series' own tag (a pv_inverter and a pv_meter share the measurement).
        kind = p.series.partition(",device_kind=")[2].partition(",")[0]
        sign = FLOW_SIGN.get((kind, reg_field.rsplit("_", 1)[0]))
        power = p.fields.get(POWER_FIELD)
        if sign is None or not isinstance(power, int | float) or power * sign <= 0.0:
            self._flowing.pop(key, None)  # no flow: a still register is expected (PV at night)
            return
        episode = self._flowing.setdefault(key, [u.ts_ms, False])
        episode[0] = min(episode[0], u.ts_ms)  # late readings may come first
        if not episode[1] and u.ts_ms - episode[0] >= self._frules.stuck_s * 1000:
            episode[1] = True
            still_s = (u.ts_ms - episode[0]) / 1000
            self._finding(Finding(FindingCode.stuck_register, building, device, episode[0], u.ts_ms,
                                  f"{reg_field} unchanged for {still_s:.0f} s while power was {power:.6g} kW",
                                  still_s), b)
