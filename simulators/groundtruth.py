"""The ground truth: what the simulator sent, per building and local day (docs/simulators.md).

Each interval's energy is ``register(ts) - register(previous ts)`` of the registers as sent,
converted to the base unit and attributed to the local (UTC+8) day of ``ts``, the interval's end,
exactly as the platform derives and stores it. The first reading of a device in a run has no
previous reading, so it contributes nothing.
"""

from __future__ import annotations

import csv
from collections import defaultdict
from pathlib import Path

import numpy as np

from contract.units import UNITS
from contract.vocabulary import DeviceKind
from simulators.calendar import day_to_date, local_day
from simulators.engine import BuildingChunk

COLUMNS = ["building_code", "date", "measurement", "carrier", "sub_item", "consumption_kwh", "consumption_m3",
           "generation_kwh", "self_consumed_kwh", "to_grid_kwh", "from_grid_kwh", "pv_energy_kwh", "sessions"]
_REGISTER_FIELD = {"register": "consumption", "generation_register": "generation_kwh",
                   "to_grid_register": "to_grid_kwh", "from_grid_register": "from_grid_kwh"}


class GroundTruth:
    """Accumulates daily totals from simulated chunks (before any fault is applied)."""

    def __init__(self) -> None:
        self._last: dict[tuple[str, str, str, str], float] = {}
        # (building, measurement, carrier, sub_item) -> column -> day -> value
        self.rows: dict[tuple[str, str, str, str], dict[str, dict[int, float]]] = defaultdict(
            lambda: defaultdict(lambda: defaultdict(float)))

    def add(self, chunk: BuildingChunk) -> None:
        code = chunk.building_code
        for f in chunk.devices:
            if f.kind is DeviceKind.meter:
                key = (code, "meter", f.carrier.value, f.sub_item.value if f.sub_item else "")
            elif f.kind is DeviceKind.ev_pile:
                key = (code, "ev_pile", "", "")
            else:
                key = (code, "pv", "", "")
            for q, col in _REGISTER_FIELD.items():
                if q not in f.values or not len(f.ts_ms):
                    continue
                unit = f.units[q]
                reg = f.values[q].astype(np.float64)
                last_key = (code, f.kind.value, f.device_id, q)
                prev = self._last.get(last_key)
                self._last[last_key] = float(reg[-1])
                diff = np.diff(reg, prepend=reg[0] if prev is None else prev) * UNITS[unit][1]
                if col == "consumption":
                    col = "consumption_m3" if unit in ("m3", "L") else "consumption_kwh"
                self._add_days(key, col, f.ts_ms, diff)
        for s in chunk.sessions:
            stops = np.array([e == "stop" for e in s.event])
            if stops.any():
                self._add_days((code, "ev_pile", "", ""), "pv_energy_kwh", s.ts_ms[stops], s.pv_energy_kwh[stops])
                self._add_days((code, "ev_pile", "", ""), "sessions", s.ts_ms[stops], np.ones(int(stops.sum())))

    def _add_days(self, key, col: str, ts_ms: np.ndarray, values: np.ndarray) -> None:
        days = local_day(ts_ms)
        d0 = int(days[0])
        sums = np.bincount(days - d0, weights=values)
        present = np.bincount(days - d0) > 0
        target = self.rows[key][col]
        for i in np.flatnonzero(present):
            target[d0 + int(i)] += float(sums[i])

    def to_plain(self) -> dict:
        """Picklable copy of the totals (for worker processes)."""
        return {k: {c: dict(d) for c, d in cols.items()} for k, cols in self.rows.items()}

    def merge(self, plain: dict) -> None:
        """Add totals from :meth:`to_plain` of another accumulator (disjoint buildings)."""
        for k, cols in plain.items():
            for c, days in cols.items():
                target = self.rows[k][c]
                for d, v in days.items():
                    target[d] += v

    def records(self) -> list[dict]:
        """One dict per (building, day, measurement, carrier, sub_item), columns as in :data:`COLUMNS`."""
        out = []
        for (code, meas, carrier, sub), cols in self.rows.items():
            days = sorted({d for v in cols.values() for d in v})
            for d in days:
                rec = {"building_code": code, "date": day_to_date(d).isoformat(), "measurement": meas,
                       "carrier": carrier, "sub_item": sub}
                for c, v in cols.items():
                    if d in v:
                        rec[c] = v[d]
                if meas == "pv" and "generation_kwh" in rec and "to_grid_kwh" in rec:
                    rec["self_consumed_kwh"] = rec["generation_kwh"] - rec["to_grid_kwh"]
                if meas == "ev_pile":
                    rec.setdefault("sessions", 0.0)
                    rec.setdefault("pv_energy_kwh", 0.0)
                out.append(rec)
        out.sort(key=lambda r: (r["building_code"], r["date"], r["measurement"], r["carrier"], r["sub_item"]))
        return out

    def write_csv(self, path: Path | str) -> int:
        """Write the CSV; returns the number of rows."""
        recs = self.records()
        with open(path, "w", newline="", encoding="utf-8") as fh:
            w = csv.DictWriter(fh, fieldnames=COLUMNS)
            w.writeheader()
            for r in recs:
                row = {k: (f"{v:.6f}" if isinstance(v, float) and k != "sessions" else v) for k, v in r.items()}
                if "sessions" in r:
                    row["sessions"] = int(round(r["sessions"]))
                w.writerow(row)
        return len(recs)
