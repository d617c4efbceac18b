"""From a decoded device message to stored points: plausibility of times, units, field names.

Units are converted here, once (contract.units), to the stored field names of docs/glossary.md.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

# The one home of local time is contract/localtime.py.
from contract.payloads import ContractError, DeviceMessage, RejectReason
from contract.plausibility import Limits, max_power_of_device
from contract.units import UNITS, Dimension
from contract.vocabulary import (
    CARRIER_DIMENSION,
    MEASUREMENT,
    REGISTER_TO_INTERVAL,
    SESSION_MEASUREMENT,
    TELEMETRY_QUANTITIES,
    DeviceKind,
    Stream,
    field_name,
)
from ingest.intervals import RegisterReading
from storage.lineproto import escape_measurement, format_tags


@dataclass(frozen=True, slots=True)
class TimeRules:
    """Plausibility window of a reading's timestamp.

    Parameters
    ----------
    future_tolerance_ms : int
        How far past the ingest clock a timestamp may be (device clocks drift). [ms]
    floor_ms : int
        No reading is older than this, whatever the device. [ms since the Unix epoch]
    installed_ms : mapping
        ``(building_code, device_id) -> start of the installation day`` from the fleet file. [ms]
    """

    future_tolerance_ms: int = 5 * 60 * 1000
    floor_ms: int = 1_262_304_000_000  # 2010-01-01T00:00Z, before any metering platform of this kind
    installed_ms: Mapping[tuple[str, str], int] | None = None

    def check(self, msg: DeviceMessage, now_ms: int) -> int:
        """Raise :class:`ContractError` naming the first implausible timestamp of ``msg``; return
        the newest timestamp (for the clock-skew finding). [ms]"""
        limit = now_ms + self.future_tolerance_ms
        floor = self.floor_ms
        if self.installed_ms:
            floor = max(floor, self.installed_ms.get((msg.building_code, msg.device_id), floor))
        newest = floor
        for r in msg.readings:
            if r.ts_ms > newest:
                newest = r.ts_ms
            if r.ts_ms > limit:
                raise ContractError(RejectReason.future_timestamp,
                                    f"{msg.device_id}: ts_ms={r.ts_ms} is {(r.ts_ms - now_ms) / 1000:.0f} s "
                                    f"ahead of the ingest clock (tolerance {self.future_tolerance_ms / 1000:.0f} s)")
            if r.ts_ms < floor:
                raise ContractError(RejectReason.timestamp_before_device,
                                    f"{msg.device_id}: ts_ms={r.ts_ms} is before {floor} (device installation "
                                    "or the global floor)")
        return newest


@dataclass(slots=True)
class Point:
    """One line to store: ``series`` is the escaped ``measurement,tags`` text."""

    series: str
    fields: dict[str, float | str]
    ts_ms: int


@dataclass(frozen=True, slots=True)
class _Quantity:
    stored: str
    factor: float
    interval_field: str | None  # for a register: the stored name of its interval quantity
    max_abs: float  # plausible range after conversion (contract/plausibility.py) [base unit]
    max_rate_per_h: float  # registers: plausible rate [base unit / h]


def _check_value(device_id: str, quantity: str, stored: str, value: float, max_abs: float, ts_ms: int) -> None:
    """Raise the reason that refuses a converted value (finite on the wire, not after conversion,
    or outside its plausible range)."""
    if not math.isfinite(value):
        raise ContractError(RejectReason.non_finite_value,
                            f"{device_id}: {quantity} is {value} as {stored} after unit conversion at ts_ms={ts_ms}")
    raise ContractError(RejectReason.value_out_of_range,
                        f"{device_id}: {stored}={value:.6g} at ts_ms={ts_ms} is outside the plausible range "
                        f"[-{max_abs:.6g}, {max_abs:.6g}]")


@dataclass(slots=True)
class _Plan:
    kind: DeviceKind
    carrier: object
    sub_item: object
    units: dict[str, str]
    series: str
    measurement: str
    quantities: dict[str, _Quantity]
    #: stored register field -> the series key of the interval cache (built once per device)
    register_keys: dict[str, tuple[str, str, str, str]]
    replaced_ms: int | None = None  # the device's recorded replacement instant [ms]


class Transformer:
    """Builds points and register readings from valid device messages (caches series texts)."""

    def __init__(self, limits: Limits | None = None,
                 rated_kw: Mapping[tuple[str, str, DeviceKind], float] | None = None,
                 replaced_ms: Mapping[tuple[str, str], int] | None = None) -> None:
        """``rated_kw``: ``(building_code, device_id, device_kind) -> rated power`` where the fleet
        knows it (a PV inverter's kWp, a pile's rated kW): that device's ``power_kw`` is bounded by it.
        ``replaced_ms``: ``(building_code, device_id) -> recorded replacement instant`` [ms]: a
        register step across it counts zero (contract/registers.py)."""
        self._limits = limits or Limits()
        self._rated_kw = rated_kw or {}
        self._replaced_ms = replaced_ms or {}
        self._series: dict[tuple, str] = {}
        self._quantities: dict[tuple, _Quantity | None] = {}
        self._plans: dict[tuple[str, str], _Plan] = {}

    def series_text(self, measurement: str, tags: tuple[tuple[str, str | None], ...]) -> str:
        key = (measurement, tags)
        s = self._series.get(key)
        if s is None:
            if len(self._series) > 500_000:  # bounded: a fleet is far smaller than this
                self._series.clear()
            s = self._series[key] = escape_measurement(measurement) + format_tags(dict(tags))
        return s

    def _quantity(self, msg: DeviceMessage, q: str, unit: str) -> _Quantity:
        key = (msg.device_kind, msg.carrier, q, unit)
        found = self._quantities.get(key)
        if found is None:
            dim: Dimension = TELEMETRY_QUANTITIES[msg.device_kind][q] or CARRIER_DIMENSION[msg.carrier]
            interval = REGISTER_TO_INTERVAL.get(q)
            stored = field_name(q, dim)
            found = _Quantity(stored, UNITS[unit][1], field_name(interval, dim) if interval else None,
                              self._limits.max_abs(stored), self._limits.max_rate_per_h(stored))
            self._quantities[key] = found
        return found

    def _plan(self, msg: DeviceMessage) -> _Plan:
        """Series text, measurement and unit conversions of a device, cached: most messages repeat
        them. Keyed by building and device only, checked by identity (enum hashing is slow)."""
        key = (msg.building_code, msg.device_id)
        plan = self._plans.get(key)
        if (plan is None or plan.kind is not msg.device_kind or plan.carrier is not msg.carrier
                or plan.sub_item is not msg.sub_item or plan.units != msg.units):
            kind = msg.device_kind
            measurement = MEASUREMENT[kind]
            tags: tuple[tuple[str, str | None], ...] = (
                ("building_code", msg.building_code), ("device_id", msg.device_id), ("device_kind", kind.value))
            if kind is DeviceKind.meter:
                tags += (("carrier", msg.carrier.value),
                         ("sub_item", msg.sub_item.value if msg.sub_item else None))
            if len(self._plans) > 500_000:  # bounded: a fleet is far smaller than this
                self._plans.clear()
            quantities = {q: self._quantity(msg, q, u) for q, u in msg.units.items()}
            rated = self._rated_kw.get((*key, kind))
            if rated is not None and "power" in quantities:
                p = quantities["power"]
                quantities["power"] = _Quantity(p.stored, p.factor, None, max_power_of_device(rated, p.max_abs), 0.0)
            plan = self._plans[key] = _Plan(
                kind, msg.carrier, msg.sub_item, dict(msg.units), self.series_text(measurement, tags),
                measurement, quantities,
                {qty.stored: (measurement, msg.building_code, msg.device_id, qty.stored)
                 for qty in quantities.values() if qty.interval_field is not None},
                self._replaced_ms.get(key))
        return plan

    def points(self, msg: DeviceMessage) -> tuple[list[Point], list[RegisterReading]]:
        """Points of a message (units converted) and its register readings, in reading order."""
        if msg.stream is Stream.session:
            return self._session_points(msg), []
        plan = self._plan(msg)
        series, qtys, reg_keys = plan.series, plan.quantities, plan.register_keys
        points: list[Point] = []
        registers: list[RegisterReading] = []
        for r in msg.readings:
            fields: dict[str, float | str] = {}
            regs = None
            for q, v in r.values.items():
                qty = qtys.get(q)
                if qty is None:  # a status (validated by decode); numeric quantities all have units
                    fields[q] = v
                    continue
                value = v * qty.factor
                if not -qty.max_abs <= value <= qty.max_abs:  # also False for NaN
                    _check_value(msg.device_id, q, qty.stored, value, qty.max_abs, r.ts_ms)
                fields[qty.stored] = value
                if qty.interval_field is not None:
                    if regs is None:
                        regs = []
                    regs.append((qty, value))
            if regs is not None:
                # After the loop: whether the reading carries its own interval value is known only now.
                ts_ms = r.ts_ms
                for qty, value in regs:
                    registers.append(RegisterReading(reg_keys[qty.stored], series, qty.interval_field, qty.factor,
                                                     ts_ms, value, qty.interval_field in fields, qty.max_rate_per_h,
                                                     plan.replaced_ms))
            points.append(Point(series, fields, r.ts_ms))
        return points, registers

    def _session_points(self, msg: DeviceMessage) -> list[Point]:
        out = []
        for r in msg.readings:
            v = r.values
            series = self.series_text(SESSION_MEASUREMENT, (
                ("building_code", msg.building_code), ("device_id", msg.device_id), ("event", str(v["event"]))))
            fields: dict[str, float | str] = {"session_id": str(v["session_id"])}
            for q in ("energy", "pv_energy"):
                if v.get(q) is not None:
                    unit = msg.units.get(q) or msg.units.get("energy")
                    if unit not in UNITS or UNITS[unit][0] is not Dimension.energy:
                        raise ContractError(RejectReason.unknown_unit, f"{msg.device_id}: unit of {q!r} is {unit!r}")
                    stored = field_name(q, Dimension.energy)
                    value = float(v[q]) * UNITS[unit][1]
                    limit = self._limits.max_abs(stored)
                    if not -limit <= value <= limit:
                        _check_value(msg.device_id, q, stored, value, limit, r.ts_ms)
                    fields[stored] = value
            out.append(Point(series, fields, r.ts_ms))
        return out
