"""Faults on request, and the manifest that lists exactly what was injected.

Reading-level faults change a device's frames (the ground truth is taken before them):
``offline`` (a gap), ``spike`` (one absurd register value), ``reset`` (register restarts at 0),
``rollover`` (register wraps at a power of ten), ``clock_skew`` (timestamps late by a fixed
amount for a while). Stream-level faults change publication: ``duplicate`` (sent twice),
``out_of_order`` (sent after later messages). ``malformed`` adds one extra message per
:class:`contract.payloads.RejectReason`, each of which ingest must dead-letter.

Spec syntax (``--faults``): ``all`` or a comma list ``kind[=count]``, e.g.
``offline=2,spike,duplicate=5,malformed``.
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from contract.localtime import local_midnight_ms
from contract.payloads import RejectReason
from contract.topics import device_topic, gateway_topic
from contract.vocabulary import DeviceKind
from registry.fleet import Fleet
from simulators.engine import REGISTER_DECIMALS, BuildingChunk, BuildingSim
from simulators.fleetsim import Period
from simulators.malformed import malformed_payload

READING_FAULTS = ("offline", "spike", "reset", "rollover", "clock_skew")
STREAM_FAULTS = ("duplicate", "out_of_order")
KINDS = READING_FAULTS + STREAM_FAULTS + ("malformed",)
DEFAULT_COUNTS = {"duplicate": 5, "out_of_order": 5}
#: How long a device stays offline, how late a skewed clock is and for how long, and how many
#: later messages overtake an out-of-order one.
OFFLINE_INTERVALS = 8
CLOCK_SKEW_MS = 97_000
SKEW_INTERVALS = 12
OUT_OF_ORDER_DELAY_MESSAGES = 20


def parse_spec(spec: str) -> dict[str, int]:
    """``"offline=2,spike"`` -> ``{"offline": 2, "spike": 1}``; ``"all"`` -> every kind once."""
    if spec.strip() == "all":
        return {k: DEFAULT_COUNTS.get(k, 1) for k in KINDS}
    out: dict[str, int] = {}
    for part in filter(None, (p.strip() for p in spec.split(","))):
        name, _, count = part.partition("=")
        if name not in KINDS:
            raise ValueError(f"fault kind {name!r} in --faults is not one of {', '.join(KINDS)} (or 'all')")
        try:
            n = int(count) if count else DEFAULT_COUNTS.get(name, 1)
        except ValueError:
            raise ValueError(f"fault count {count!r} for {name!r} is not an integer") from None
        if n < 0:
            raise ValueError(f"fault count for {name!r} is {n}, must be >= 0")
        out[name] = n
    return out


@dataclass
class Fault:
    kind: str
    building_code: str
    device_id: str
    device_kind: str
    topic: str
    ts_ms: int  # first affected reading (or the message's due time)
    until_ts_ms: int | None = None  # last affected reading, for windows
    expected_reject_reason: str | None = None
    detail: dict = field(default_factory=dict)
    applied: bool = False  # only applied faults go into the manifest


class FaultInjector:
    """Plans faults for a fleet and period, applies them to chunks and the message stream.

    Parameters
    ----------
    fleet : Fleet
        Buildings and devices (targets are drawn from the devices with registers).
    period : Period
        The run's reading grid (faults fall in its middle three fifths).
    seed : int
        Fault seed (same seed, same faults). [-]
    counts : dict of str to int
        Faults to inject per kind, from :func:`parse_spec`.
    """

    def __init__(self, fleet: Fleet, period: Period, seed: int, counts: dict[str, int],
                 readings_per_message: int = 1):
        self.fleet = fleet
        self.readings_per_message = readings_per_message
        self.period = period
        self.rng = np.random.default_rng([seed, 0xFA17])
        self.faults: list[Fault] = []
        self._windows: dict[tuple[str, str, str], list[Fault]] = {}
        self._reset_offset: dict[tuple[str, str], float] = {}
        self._last_register: dict[tuple[str, str], float] = {}
        self._rollover: dict[tuple[str, str], tuple[float, Fault]] = {}
        self._stream: dict[tuple[str, int], Fault] = {}  # (topic, first reading ts) -> fault
        self.pending_malformed: list = []
        targets = [(b, kind, dev) for b in fleet.buildings for kind, dev in _register_devices(b)]
        if not targets and any(counts.get(k) for k in READING_FAULTS + STREAM_FAULTS):
            raise ValueError("faults requested but the fleet has no devices with registers")
        lo, hi = period.n // 5, max(period.n * 4 // 5, period.n // 5 + 1)
        for kind in READING_FAULTS + STREAM_FAULTS:
            pool = [t for t in targets if t[1] is DeviceKind.meter] if kind == "rollover" else targets
            for _ in range(counts.get(kind, 0)):
                b, dkind, dev = pool[int(self.rng.integers(len(pool)))]
                k = int(self.rng.integers(lo, hi))
                ts = period.start_ms + k * period.step_ms
                topic = (gateway_topic(b.building_code, b.gateway_id) if b.gateway_id
                         else device_topic(b.building_code, dkind, dev))
                k -= k % self.readings_per_message  # stream faults hit a message's first reading
                ts = period.start_ms + k * period.step_ms
                f = Fault(kind, b.building_code, dev, dkind.value, topic, ts)
                if kind == "offline":
                    f.until_ts_ms = ts + (OFFLINE_INTERVALS - 1) * period.step_ms
                elif kind == "clock_skew":
                    f.until_ts_ms = ts + (SKEW_INTERVALS - 1) * period.step_ms
                    f.detail = {"skew_ms": CLOCK_SKEW_MS}
                elif kind in STREAM_FAULTS:
                    if (topic, ts) in self._stream:
                        continue  # one stream fault per message keeps the manifest exact
                    self._stream[(topic, ts)] = f
                    if kind == "out_of_order":
                        f.detail = {"overtaken_by_messages": OUT_OF_ORDER_DELAY_MESSAGES}
                if kind == "rollover":
                    if (b.building_code, dev) in self._rollover:
                        continue
                    self._rollover[(b.building_code, dev)] = (0.0, f)
                    continue  # recorded when the wrap actually happens
                self.faults.append(f)
                if kind in READING_FAULTS:
                    self._windows.setdefault((b.building_code, dkind.value, dev), []).append(f)
        if counts.get("malformed"):
            self._plan_malformed()

    # -- planning helpers --------------------------------------------------------------------
    def _plan_malformed(self) -> None:
        b = self.fleet.buildings[0]
        meter = next(iter(b.meters), None)
        if meter is None:
            raise ValueError(f"malformed faults need a meter in {b.building_code}")
        mid = self.period.start_ms + (self.period.n // 2) * self.period.step_ms
        for i, reason in enumerate(RejectReason):
            ts = mid + i * 1000
            due = ts
            if reason is RejectReason.future_timestamp:
                ts = int(time.time() * 1000) + 2 * 86_400_000  # two days ahead of the wall clock
            elif reason is RejectReason.timestamp_before_device:
                ts = local_midnight_ms(meter.installed_on) - 30 * 86_400_000
            topic, payload = malformed_payload(reason, b.building_code, meter, ts)
            f = Fault("malformed", b.building_code, meter.device_id, "meter", topic, ts,
                      expected_reject_reason=reason.value, applied=True)
            self.faults.append(f)
            self.pending_malformed.append((due, topic, payload))

    def prepare(self, sims: list[BuildingSim]) -> None:
        """Set rollover meters' registers just below a power of ten, so they wrap in the run."""
        by_code = {s.spec.building_code: s for s in sims}
        for (code, dev), (_, f) in list(self._rollover.items()):
            sim = by_code[code]
            meter = next(m for m in sim.spec.meters if m.device_id == dev)
            days = self.period.n * self.period.step_ms / 86_400_000
            expected = sim.targets[meter.carrier.value] * sim._meter_share(meter) * days / 365.0
            if expected <= 0:
                del self._rollover[(code, dev)]
                continue
            modulus = 10.0 ** max(5, math.ceil(math.log10(1.5 * expected + 1)))
            # Wrap about 30 % into the run (first reading sits below the modulus).
            sim.cum[(dev, "register")] = modulus - 0.3 * expected
            f.detail = {"modulus": modulus}
            self._rollover[(code, dev)] = (modulus, f)

    # -- applying ----------------------------------------------------------------------------
    def apply(self, chunk: BuildingChunk) -> BuildingChunk:
        """Reading-level faults on one building's chunk (in place; call after the ground truth)."""
        code = chunk.building_code
        for fr in chunk.devices:
            q = "register" if "register" in fr.values else "generation_register"
            if fr.kind is not DeviceKind.pv_meter and q in fr.values and len(fr.ts_ms):
                self._registers(code, fr, q)
            mine = self._windows.get((code, fr.kind.value, fr.device_id), [])
            for f in mine:
                if f.kind == "offline":
                    keep = (fr.ts_ms < f.ts_ms) | (fr.ts_ms > f.until_ts_ms)
                    f.applied |= bool((~keep).any())
                    fr.ts_ms = fr.ts_ms[keep]
                    fr.values = {k: v[keep] for k, v in fr.values.items()}
            for f in mine:
                if f.kind == "spike" and q in fr.values:
                    hit = fr.ts_ms == f.ts_ms
                    if hit.any():
                        # Far above any interval's energy, so it cannot pass for real consumption.
                        amount = round(max(1000.0, 0.01 * float(fr.values[q][hit][0])), 3)
                        f.detail = {"added": amount}
                        f.applied = True
                        fr.values[q] = np.where(hit, fr.values[q] + amount, fr.values[q])
                elif f.kind == "clock_skew":
                    win = (fr.ts_ms >= f.ts_ms) & (fr.ts_ms <= f.until_ts_ms)
                    f.applied |= bool(win.any())
                    fr.ts_ms = np.where(win, fr.ts_ms + CLOCK_SKEW_MS, fr.ts_ms)
        return chunk

    def _registers(self, code: str, fr, q: str) -> None:
        key = (code, fr.device_id)
        true = fr.values[q].astype(np.float64)
        prev = self._last_register.get(key)
        self._last_register[key] = float(true[-1])
        decimals = REGISTER_DECIMALS.get(fr.units[q], 3)
        for f in self._windows.get((code, fr.kind.value, fr.device_id), []):
            if f.kind != "reset":
                continue
            hit = np.flatnonzero(fr.ts_ms == f.ts_ms)
            if len(hit):
                i = int(hit[0])
                before = true[i - 1] if i > 0 else prev
                self._reset_offset[key] = before if before is not None else 0.0
                f.detail = {"register_before": before}
                f.applied = True
        off = self._reset_offset.get(key)
        shown = true
        if off is not None:
            first = next(f for f in self._windows[(code, fr.kind.value, fr.device_id)] if f.kind == "reset").ts_ms
            shown = np.where(fr.ts_ms >= first, np.round(true - off, decimals), true)
        roll = self._rollover.get(key)
        if roll and fr.kind is DeviceKind.meter:
            modulus, f = roll
            wrapped = shown >= modulus
            if wrapped.any() and not f.applied:
                f.ts_ms = int(fr.ts_ms[np.flatnonzero(wrapped)[0]])
                f.applied = True
                self.faults.append(f)
            shown = np.where(wrapped, np.round(shown - modulus, decimals), shown)
        fr.values[q] = shown

    def stream(self, messages):
        """Duplicate, delay and add messages of a time-ordered stream of :class:`Outgoing`."""
        from simulators.messages import Outgoing  # local: messages imports engine, not faults

        malformed = sorted(self.pending_malformed, key=lambda m: m[0])
        held: list[tuple[int, Outgoing]] = []
        count = 0
        for out in messages:
            while malformed and malformed[0][0] <= out.ts_ms:
                due, topic, payload = malformed.pop(0)
                yield Outgoing(due, topic, None, payload)
            f = self._stream.get((out.topic, out.ts_ms))
            count += 1
            if f is not None and not f.applied:
                f.applied = True
                if f.kind == "out_of_order":
                    held.append((count + OUT_OF_ORDER_DELAY_MESSAGES, out))
                    continue
                yield out
                yield out  # duplicate
            else:
                yield out
            while held and held[0][0] <= count:
                yield held.pop(0)[1]
        for _, out in held:
            yield out
        for due, topic, payload in malformed:
            yield Outgoing(due, topic, None, payload)

    def manifest(self) -> dict:
        return {"manifest_version": 1, "period": {"start_ms": self.period.start_ms, "end_ms": self.period.end_ms,
                                                  "step_ms": self.period.step_ms},
                "faults": [{k: v for k, v in asdict(f).items() if k != "applied"}
                           for f in sorted(self.faults, key=lambda f: (f.ts_ms, f.kind, f.topic)) if f.applied]}

    def write_manifest(self, path: Path | str) -> None:
        Path(path).write_text(json.dumps(self.manifest(), indent=2), encoding="utf-8")


def _register_devices(b):
    for m in b.meters:
        yield DeviceKind.meter, m.device_id
    for p in b.pv:
        yield DeviceKind.pv_inverter, p.device_id
    for e in b.ev_piles:
        yield DeviceKind.ev_pile, e.device_id
