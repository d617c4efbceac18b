"""Collectors of the MOHURD protocol in the registry: CSV import with row errors, and the snapshot
the gateway reads (docs/registry.md, "Collectors").

Two CSV files, like the building import (registry/importer.py), all or nothing:

* ``collectors.csv``: ``building_code, gateway_id, key, installed_on`` (one row per collector);
* ``collector_points.csv``: ``building_code, gateway_id, meter_id, function_id, item_code,
  device_id, quantity, unit``: one row per function of a meter of a collector.

A collector in the input replaces the same (building, gateway) collector with its whole point
list. Buildings and meters must already be in the registry. Keys are sealed on the way in
(registry/keys.py); the CSV holding them in clear is the integrator's to delete.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, SecretStr, StringConstraints, ValidationError
from sqlalchemy import delete, select
from sqlalchemy.orm import Session, selectinload

from contract.units import UNITS
from contract.vocabulary import CARRIER_DIMENSION, TELEMETRY_QUANTITIES, Carrier, DeviceKind, SubItem
from registry import keys
from registry.fleet import BuildingCode, DeviceId
from registry.importer import RowError, _read_rows, _short
from registry.itemcodes import item_codes
from registry.models import Building, Collector, CollectorPoint, Meter

COLLECTOR_COLUMNS = ["building_code", "gateway_id", "key", "installed_on"]
POINT_COLUMNS = ["building_code", "gateway_id", "meter_id", "function_id", "item_code", "device_id", "quantity",
                 "unit"]
PointId = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_.\-]{1,32}$")]


class CollectorSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")
    building_code: BuildingCode
    gateway_id: DeviceId
    key: SecretStr = Field(min_length=1)  # SecretStr: never printed by a repr or a validation error
    installed_on: dt.date = dt.date(2015, 1, 1)


class PointSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")
    building_code: BuildingCode
    gateway_id: DeviceId
    meter_id: PointId
    function_id: PointId
    item_code: str
    device_id: DeviceId
    quantity: str
    unit: str


@dataclass
class CollectorImport:
    collectors: list[CollectorSpec]
    points: list[PointSpec]


def _errors(name: str, line: int, exc: ValidationError) -> list[RowError]:
    return [RowError(name, line, ".".join(map(str, e["loc"])) or None,
                     f"{e['msg']}" + ("" if e["loc"] == ("key",) else f" (got {_short(e.get('input'))})"))
            for e in exc.errors()]


def point_problem(p: PointSpec, meter: Meter | None) -> tuple[str, str] | None:
    """(field, reason) when a point cannot map onto ``meter`` (None: fine)."""
    if meter is None:
        return "device_id", f"{p.device_id!r} is not a meter of {p.building_code}"
    item = item_codes().get(p.item_code)
    if item is None:
        return "item_code", f"{p.item_code!r} is not in the energy item code table"
    if item.carrier is None:
        return "item_code", f"{p.item_code} ({item.name_en}) has no platform carrier"
    if item.carrier.value != meter.carrier:
        return "item_code", f"{p.item_code} is {item.carrier.value}; meter {p.device_id} measures {meter.carrier}"
    if item.carrier is Carrier.electricity and (item.sub_item or SubItem.main).value != meter.sub_item:
        return "item_code", f"{p.item_code} is sub-item {item.sub_item.value if item.sub_item else None}; " \
                            f"meter {p.device_id} is {meter.sub_item}"
    allowed = TELEMETRY_QUANTITIES[DeviceKind.meter]
    if p.quantity not in allowed:
        return "quantity", f"{p.quantity!r} is not one of {sorted(allowed)}"
    want = allowed[p.quantity] or CARRIER_DIMENSION[Carrier(meter.carrier)]
    if UNITS.get(p.unit, (None,))[0] is not want:
        return "unit", f"{p.unit!r} is not a {want.value} unit"
    return None


def read_collector_csv(session: Session, collectors_csv: Path | str, points_csv: Path | str | None
                       ) -> tuple[CollectorImport | None, list[RowError]]:
    """Parse and check both files against the registry's buildings and meters."""
    errors: list[RowError] = []
    cname = Path(collectors_csv).name
    rows, e = _read_rows(Path(collectors_csv), COLLECTOR_COLUMNS, {"building_code", "gateway_id", "key"})
    errors += e
    known = set(session.scalars(select(Building.building_code)))
    collectors: dict[tuple[str, str], tuple[int, CollectorSpec]] = {}
    for line, row in rows:
        try:
            spec = CollectorSpec.model_validate(row)
        except ValidationError as exc:
            errors += _errors(cname, line, exc)
            continue
        k = (spec.building_code, spec.gateway_id)
        if spec.building_code not in known:
            errors.append(RowError(cname, line, "building_code", f"{spec.building_code} is not in the registry"))
        elif k in collectors:
            errors.append(RowError(cname, line, "gateway_id", f"{k[0]}/{k[1]} already on line {collectors[k][0]}"))
        else:
            collectors[k] = (line, spec)
    points: list[PointSpec] = []
    if points_csv is not None:
        pname = Path(points_csv).name
        prow, e = _read_rows(Path(points_csv), POINT_COLUMNS, set(POINT_COLUMNS))
        errors += e
        meters = {(m.building_code, m.device_id): m for m in session.scalars(select(Meter))}
        seen: dict[tuple[str, str, str, str], int] = {}
        targets: dict[tuple[str, str, str, str], int] = {}  # (building, gateway, device, quantity) -> line
        for line, row in prow:
            try:
                p = PointSpec.model_validate(row)
            except ValidationError as exc:
                errors += _errors(pname, line, exc)
                continue
            if (p.building_code, p.gateway_id) not in collectors:
                errors.append(RowError(pname, line, "gateway_id",
                                       f"{p.building_code}/{p.gateway_id} is not a collector of the collectors file"))
                continue
            problem = point_problem(p, meters.get((p.building_code, p.device_id)))
            if problem:
                errors.append(RowError(pname, line, *problem))
                continue
            k = (p.building_code, p.gateway_id, p.meter_id, p.function_id)
            if k in seen:
                errors.append(RowError(pname, line, "function_id",
                                       f"meter {p.meter_id} function {p.function_id} already on line {seen[k]}"))
                continue
            t = (p.building_code, p.gateway_id, p.device_id, p.quantity)
            if t in targets:  # two functions into one value: each packet would overwrite one with the other
                errors.append(RowError(pname, line, "quantity",
                                       f"{p.device_id} {p.quantity} already fed by line {targets[t]}"))
                continue
            seen[k] = line
            targets[t] = line
            points.append(p)
    if errors:
        return None, sorted(errors, key=lambda r: (r.file, r.line))
    return CollectorImport([s for _, s in collectors.values()], points), []


def import_collectors(*, session: Session, data: CollectorImport, secret: str | None = None) -> int:
    """Replace the collectors of ``data`` (with their points); the caller commits."""
    for spec in data.collectors:
        session.execute(delete(Collector).where(Collector.building_code == spec.building_code,
                                                Collector.gateway_id == spec.gateway_id))
        session.flush()
        c = Collector(building_code=spec.building_code, gateway_id=spec.gateway_id,
                      key_sealed=keys.seal(spec.key.get_secret_value(), secret), installed_on=spec.installed_on)
        c.points = [CollectorPoint(meter_id=p.meter_id, function_id=p.function_id, item_code=p.item_code,
                                   device_id=p.device_id, quantity=p.quantity, unit=p.unit)
                    for p in data.points if (p.building_code, p.gateway_id) == (spec.building_code, spec.gateway_id)]
        session.add(c)
    session.flush()
    return len(data.collectors)


def list_collectors(*, session: Session) -> list[Collector]:
    """Every collector with its points and its building's meters loaded (the gateway's snapshot)."""
    return list(session.scalars(select(Collector).options(selectinload(Collector.points))
                                .order_by(Collector.building_code, Collector.gateway_id)))
