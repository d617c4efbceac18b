"""Real conditions of a city's metering, each with its ground truth (docs/simulators.md, Conditions).

Unlike faults (:mod:`simulators.faults`: broken data the platform must refuse or repair), these are
how correct data arrive in a real city, and the platform's figures must come out right through
them:

``joins_mid_year``         a building whose data start in the middle of the period (connected late)
``offline_3_weeks``        a meter that sends nothing for 21 days; the register keeps counting, so the
                           first reading after the gap carries the gap's energy
``meter_replaced_new_id``  a meter exchanged for a new device (new id ``<old id>-R``, register from 0)
``meter_replaced_same_id`` a meter exchanged under the same id: the register restarts from zero
``late_upload_30_days``    a building's collector uploads every reading 30 days after its time
``unmetered_remainder``    a sub-meter tree with a load no sub-meter sees: the ``special`` sub-meter
                           does not exist, so parent (main) minus children is that load

Each condition takes its own building (picked by the seed), so their effects never mix. The
ground-truth CSV is taken after the conditions that change what is metered (joins, offline, new
device, unmetered) and before those that change only how a register shows it or when it arrives
(same-id reset, late upload), so it is what the platform must derive. The conditions manifest
(``--conditions-manifest``) lists each condition with its own truth; ``--fleet-out`` writes the
fleet as the registry must know it (the new device added, the missing sub-meter removed).
"""

from __future__ import annotations

import heapq
import json
from collections import defaultdict
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from contract.localtime import DAY_MS
from contract.units import UNITS
from contract.vocabulary import Carrier, SubItem
from registry.fleet import BuildingSpec, Fleet
from simulators.calendar import day_to_date, local_day
from simulators.engine import REGISTER_DECIMALS, BuildingChunk, DeviceFrame, SessionFrame
from simulators.fleetsim import Period

KINDS = ("joins_mid_year", "offline_3_weeks", "meter_replaced_new_id", "meter_replaced_same_id",
         "late_upload_30_days", "unmetered_remainder")
OFFLINE_DAYS = 21
LATE_UPLOAD_DAYS = 30
REPLACEMENT_SUFFIX = "-R"
#: The sub-meter that is missing from the tree of ``unmetered_remainder``.
UNMETERED_SUB_ITEM = SubItem.special
#: The sub-meter exchanged by the two replacement conditions (a large, weather-driven load).
REPLACED_SUB_ITEM = SubItem.hvac


def parse_conditions(spec: str) -> list[str]:
    """``"all"`` or a comma list of :data:`KINDS` -> the kinds, in :data:`KINDS` order."""
    if spec.strip() == "all":
        return list(KINDS)
    names = [p.strip() for p in spec.split(",") if p.strip()]
    for n in names:
        if n not in KINDS:
            raise ValueError(f"condition {n!r} in --conditions is not one of {', '.join(KINDS)} (or 'all')")
    return [k for k in KINDS if k in names]


@dataclass
class Condition:
    kind: str
    building_code: str
    #: The device it acts on (None: the whole building).
    device_id: str | None
    #: Start of the condition (join, first missing reading's lower bound, replacement). [ms, UTC]
    from_ms: int
    #: End (offline: the first reading back; late upload: the delay added). [ms]
    until_ms: int | None = None
    new_device_id: str | None = None
    #: What the platform must find, filled in as the run goes (units in the names).
    truth: dict = field(default_factory=dict)


def _electricity_meter(b: BuildingSpec, sub: SubItem):
    return next((m for m in b.meters if m.carrier is Carrier.electricity and m.sub_item is sub), None)


def _eligible(kind: str, b: BuildingSpec) -> bool:
    if kind in ("offline_3_weeks",):
        return _electricity_meter(b, SubItem.main) is not None
    if kind.startswith("meter_replaced"):
        return _electricity_meter(b, REPLACED_SUB_ITEM) is not None
    if kind == "unmetered_remainder":
        m = _electricity_meter(b, UNMETERED_SUB_ITEM)
        return m is not None and m.parent_device_id is not None
    return True


class Conditions:
    """Plans the conditions for a fleet and period and applies them to chunks and the stream.

    Parameters
    ----------
    fleet : Fleet
        The fleet as simulated (every device present).
    period : Period
        The run's grid; it must start at a local midnight and hold whole days.
    seed : int
        Picks the buildings (same seed, same plan). [-]
    kinds : list of str
        From :func:`parse_conditions`.
    """

    def __init__(self, fleet: Fleet, period: Period, seed: int, kinds: list[str]):
        self.period = period
        if DAY_MS % period.step_ms:
            raise ValueError(f"conditions need an interval that divides a day (got {period.step_ms // 60_000} min)")
        days = (period.end_ms - period.start_ms) // DAY_MS
        need = {"offline_3_weeks": OFFLINE_DAYS + 9, "joins_mid_year": 2, "meter_replaced_new_id": 2,
                "meter_replaced_same_id": 2}
        for k in kinds:
            if days < need.get(k, 1):
                raise ValueError(f"condition {k} needs a period of at least {need[k]} days (got {days})")
        mid = period.start_ms + (days // 2) * DAY_MS
        rng = np.random.default_rng([seed, 0xC0DE])
        order = [fleet.buildings[int(i)] for i in rng.permutation(len(fleet.buildings))]
        if "late_upload_30_days" in kinds:  # a collector: gateway buildings first
            order = sorted(order, key=lambda b: b.gateway_id is None)
        used: set[str] = set()
        self.items: list[Condition] = []
        for kind in kinds:
            b = next((b for b in order if b.building_code not in used and _eligible(kind, b)), None)
            if b is None:
                raise ValueError(f"condition {kind}: no building of the fleet ({len(fleet.buildings)}) is left for it; "
                                 "each condition takes its own building")
            used.add(b.building_code)
            c = Condition(kind, b.building_code, None, mid)
            if kind == "offline_3_weeks":
                c.device_id = _electricity_meter(b, SubItem.main).device_id
                c.from_ms = period.start_ms + max(1, days // 4) * DAY_MS
                c.until_ms = c.from_ms + OFFLINE_DAYS * DAY_MS
            elif kind.startswith("meter_replaced"):
                c.device_id = _electricity_meter(b, REPLACED_SUB_ITEM).device_id
                if kind == "meter_replaced_new_id":
                    c.new_device_id = c.device_id + REPLACEMENT_SUFFIX
            elif kind == "late_upload_30_days":
                c.from_ms, c.until_ms = period.start_ms, LATE_UPLOAD_DAYS * DAY_MS
                c.truth["delay_days"] = LATE_UPLOAD_DAYS
            elif kind == "unmetered_remainder":
                m = _electricity_meter(b, UNMETERED_SUB_ITEM)
                c.device_id = m.device_id
                c.truth["parent_device_id"] = m.parent_device_id
            self.items.append(c)
        self._by: dict[tuple[str, str], Condition] = {(c.building_code, c.kind): c for c in self.items}
        self._late = {c.building_code for c in self.items if c.kind == "late_upload_30_days"}
        self._reg_at: dict[tuple[str, str], float] = {}
        self._remainder: dict[int, float] = defaultdict(float)
        self._remainder_prev: float | None = None

    def get(self, kind: str) -> Condition | None:
        return next((c for c in self.items if c.kind == kind), None)

    # -- the fleet as the registry must know it -------------------------------------------------
    def registry_fleet(self, fleet: Fleet) -> Fleet:
        """``fleet`` with the replacement device added and the missing sub-meter removed."""
        buildings = []
        for b in fleet.buildings:
            meters = list(b.meters)
            new = self._by.get((b.building_code, "meter_replaced_new_id"))
            if new is not None:
                old = next(m for m in meters if m.device_id == new.device_id)
                day = day_to_date(int(local_day(new.from_ms)))
                meters.append(old.model_copy(update={"device_id": new.new_device_id, "installed_on": day}))
            gone = self._by.get((b.building_code, "unmetered_remainder"))
            if gone is not None:
                meters = [m for m in meters if m.device_id != gone.device_id]
            buildings.append(b.model_copy(update={"meters": meters}))
        return Fleet.model_validate({"buildings": [b.model_dump() for b in buildings]})

    # -- applying -------------------------------------------------------------------------------
    def apply(self, chunk: BuildingChunk) -> BuildingChunk:
        """The conditions that change what is metered (call before the ground truth)."""
        code = chunk.building_code
        join = self._by.get((code, "joins_mid_year"))
        if join is not None:
            chunk.devices = [_keep(f, f.ts_ms >= join.from_ms) for f in chunk.devices]
            chunk.sessions = [_keep_events(s, s.ts_ms >= join.from_ms) for s in chunk.sessions]
            join.truth["first_reading_ts_ms"] = join.from_ms
        off = self._by.get((code, "offline_3_weeks"))
        if off is not None:
            chunk.devices = [self._offline(off, f) if f.device_id == off.device_id else f for f in chunk.devices]
        new = self._by.get((code, "meter_replaced_new_id"))
        if new is not None:
            out = []
            for f in chunk.devices:
                out.extend(self._split(new, f) if f.device_id == new.device_id else [f])
            chunk.devices = out
        gone = self._by.get((code, "unmetered_remainder"))
        if gone is not None:
            for f in chunk.devices:
                if f.device_id == gone.device_id and len(f.ts_ms):
                    self._record_remainder(gone, f)
            chunk.devices = [f for f in chunk.devices if f.device_id != gone.device_id]
        return chunk

    def apply_registers(self, chunk: BuildingChunk) -> BuildingChunk:
        """The conditions that change only how a register shows what was metered (after the ground truth)."""
        same = self._by.get((chunk.building_code, "meter_replaced_same_id"))
        if same is None:
            return chunk
        for f in chunk.devices:
            if f.device_id != same.device_id or not len(f.ts_ms):
                continue
            reg = f.values["register"].astype(np.float64)
            # The new meter is fitted just after the reading before the replacement instant, so the
            # reading at the instant shows that interval's energy alone (nothing is lost).
            before = f.ts_ms == same.from_ms - self.period.step_ms
            if before.any():
                same.truth["register_before_kwh"] = float(reg[before][0])
            base = same.truth.get("register_before_kwh")
            if base is not None:
                after = f.ts_ms >= same.from_ms
                f.values["register"] = np.where(after, np.round(reg - base, 3), reg)
        return chunk

    def stream(self, messages):
        """Hold every message of a late building until the stream reaches its time + the delay."""
        if not self._late:
            yield from messages
            return
        delay = LATE_UPLOAD_DAYS * DAY_MS
        held: list[tuple[int, int, object]] = []
        seq = 0
        count = defaultdict(int)
        for out in messages:
            while held and held[0][0] <= out.ts_ms:
                yield heapq.heappop(held)[2]
            code = getattr(out.message, "building_code", None)
            if code in self._late:
                seq += 1
                count[code] += 1
                heapq.heappush(held, (out.ts_ms + delay, seq, out))
                continue
            yield out
        while held:  # the collector's backlog, uploaded after the run
            yield heapq.heappop(held)[2]
        for c in self.items:
            if c.kind == "late_upload_30_days":
                c.truth["messages_delayed"] = count[c.building_code]

    # -- helpers --------------------------------------------------------------------------------
    def _offline(self, c: Condition, f: DeviceFrame) -> DeviceFrame:
        reg = f.values["register"]
        for name, at in (("register_from_kwh", c.from_ms), ("register_back_kwh", c.until_ms)):
            hit = f.ts_ms == at
            if hit.any():
                c.truth[name] = float(reg[hit][0]) * UNITS[f.units["register"]][1]
        if "register_from_kwh" in c.truth and "register_back_kwh" in c.truth:
            # What the first reading back carries: the energy of the three weeks (and its own interval).
            c.truth["gap_energy_kwh"] = c.truth["register_back_kwh"] - c.truth["register_from_kwh"]
        gap = (f.ts_ms > c.from_ms) & (f.ts_ms < c.until_ms)
        c.truth["missing_readings"] = c.truth.get("missing_readings", 0) + int(gap.sum())
        return _keep(f, ~gap)

    def _split(self, c: Condition, f: DeviceFrame) -> list[DeviceFrame]:
        reg = f.values["register"].astype(np.float64)
        at = f.ts_ms == c.from_ms
        if at.any():
            c.truth["old_register_at_replacement_kwh"] = float(reg[at][0])
        old = _keep(f, f.ts_ms <= c.from_ms)
        base = c.truth.get("old_register_at_replacement_kwh")
        if base is None:
            return [old]
        new = _keep(f, f.ts_ms >= c.from_ms)
        new.device_id = c.new_device_id
        new.values["register"] = np.round(new.values["register"] - base, REGISTER_DECIMALS[f.units["register"]])
        return [old, new] if len(old.ts_ms) else [new]

    def _record_remainder(self, c: Condition, f: DeviceFrame) -> None:
        # The missing sub-meter's own register: the load that only the parent sees, by the local day
        # of each interval's end (the first reading of the run carries nothing, as for every meter).
        reg = f.values["register"].astype(np.float64) * UNITS[f.units["register"]][1]
        prev = self._remainder_prev if self._remainder_prev is not None else reg[0]
        diff = np.diff(reg, prepend=prev)
        self._remainder_prev = float(reg[-1])
        for d, v in zip(local_day(f.ts_ms).tolist(), diff.tolist(), strict=True):
            self._remainder[d] += v
        c.truth["remainder_kwh_by_day"] = {day_to_date(d).isoformat(): round(v, 6)
                                           for d, v in sorted(self._remainder.items())}
        c.truth["remainder_kwh"] = round(sum(self._remainder.values()), 6)

    def manifest(self) -> dict:
        return {"conditions_version": 1,
                "period": {"start_ms": self.period.start_ms, "end_ms": self.period.end_ms,
                           "step_ms": self.period.step_ms},
                "conditions": [asdict(c) for c in self.items]}

    def write_manifest(self, path: Path | str) -> None:
        Path(path).write_text(json.dumps(self.manifest(), indent=2), encoding="utf-8")


def _keep(f: DeviceFrame, mask: np.ndarray) -> DeviceFrame:
    return DeviceFrame(f.kind, f.device_id, f.carrier, f.sub_item, dict(f.units), f.ts_ms[mask],
                       {k: v[mask] for k, v in f.values.items()})



def _keep_events(s: SessionFrame, mask: np.ndarray) -> SessionFrame:
    idx = np.flatnonzero(mask)
    return SessionFrame(s.device_id, s.ts_ms[mask], [s.session_id[i] for i in idx], [s.event[i] for i in idx],
                        s.energy_kwh[mask], s.pv_energy_kwh[mask])
