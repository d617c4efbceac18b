"""Data access for the registry: keyword-only functions over a SQLAlchemy session.

Validation lives in the pydantic models of ``registry/fleet.py`` (the fleet file is the one
description of a building and its devices); these functions convert between those models and
the database rows. They flush but never commit: the caller owns the transaction.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from sqlalchemy import delete, func, select, update
from sqlalchemy.orm import Session, selectinload

from contract.localtime import installed_on_ms
from registry.fleet import BuildingSpec, Fleet, MeterSpec, PileSpec, PvSpec
from registry.models import Building, ChargingPile, Meter, PvSystem

_WITH_DEVICES = (
    selectinload(Building.meters),
    selectinload(Building.pv_systems),
    selectinload(Building.charging_piles),
)


def get_building(*, session: Session, building_code: str) -> Building | None:
    """The building with its devices, or None."""
    return session.scalars(
        select(Building).where(Building.building_code == building_code).options(*_WITH_DEVICES)
    ).one_or_none()


def list_buildings(
    *,
    session: Session,
    district: str | None = None,
    building_type: str | None = None,
    ownership: str | None = None,
    codes: Iterable[str] | None = None,
    offset: int = 0,
    limit: int | None = None,
    with_devices: bool = True,
) -> Sequence[Building]:
    """Buildings ordered by code, optionally filtered (all filters are exact matches).

    ``building_type`` is the BuildingType value (``office``) or letter (``A``).
    """
    stmt = select(Building).order_by(Building.building_code).offset(offset)
    if district is not None:
        stmt = stmt.where(Building.district == district)
    if building_type is not None:
        stmt = stmt.where(Building.building_type == _type_value(building_type))
    if ownership is not None:
        stmt = stmt.where(Building.ownership == ownership)
    if codes is not None:
        stmt = stmt.where(Building.building_code.in_(list(codes)))
    if limit is not None:
        stmt = stmt.limit(limit)
    if with_devices:
        stmt = stmt.options(*_WITH_DEVICES)
    return session.scalars(stmt).all()


def count_buildings(*, session: Session, district: str | None = None) -> int:
    stmt = select(func.count()).select_from(Building)
    if district is not None:
        stmt = stmt.where(Building.district == district)
    return session.scalar(stmt) or 0


def upsert_building(*, session: Session, spec: BuildingSpec) -> Building:
    """Insert the building, or update it in place and replace its whole device list.

    In place, not delete-and-insert: rows that reference the building (its MOHURD collectors,
    ``ON DELETE CASCADE``) must survive a re-import of the fleet."""
    code = spec.building_code
    if get_building(session=session, building_code=code) is None:
        session.add(building_from_spec(spec))
    else:
        for model in (Meter, PvSystem, ChargingPile):
            session.execute(delete(model).where(model.building_code == code))
        fields = {k: v for k, v in _building_fields(spec).items() if k != "building_code"}
        session.execute(update(Building).where(Building.building_code == code).values(**fields))
        for d in (row for rows in _device_rows(spec) for row in rows):
            d.building_code = code
            session.add(d)
    session.flush()
    session.expire_all()
    return get_building(session=session, building_code=code)


def delete_building(*, session: Session, building_code: str) -> bool:
    """Delete a building and its devices; True if it existed."""
    # Explicit child deletes: a bulk delete does not run ORM cascades, and SQLite only honours
    # ON DELETE CASCADE when foreign keys are switched on for that connection.
    for model in (Meter, PvSystem, ChargingPile):
        session.execute(delete(model).where(model.building_code == building_code))
    n = session.execute(delete(Building).where(Building.building_code == building_code)).rowcount
    session.expire_all()
    return bool(n)


@dataclass
class ImportPlan:
    """What an import will delete, listed before anything is written (the dry run shows it).

    ``buildings_deleted``: codes removed by ``prune``; ``devices_deleted``: (building code,
    device id) removed because the input replaces a building's device list."""

    buildings_deleted: list[str] = field(default_factory=list)
    devices_deleted: list[tuple[str, str]] = field(default_factory=list)


def _devices(spec: BuildingSpec) -> dict[str, MeterSpec | PvSpec | PileSpec]:
    return {d.device_id: d for d in (*spec.meters, *spec.pv, *spec.ev_piles)}


def plan_fleet_import(*, session: Session, fleet: Fleet, prune: bool = False,
                      replace_devices: bool = False) -> tuple[ImportPlan, list[BuildingSpec]]:
    """The deletions an import implies and the building specs it will write.

    Without ``replace_devices`` a building's stored devices that the input does not name are kept
    (an attributes-only import, such as a buildings CSV without a devices CSV, never deletes a
    meter); devices the input names replace the stored ones of the same id."""
    plan = ImportPlan()
    if prune:
        keep = {b.building_code for b in fleet.buildings}
        plan.buildings_deleted = [c for c in session.scalars(select(Building.building_code)).all() if c not in keep]
    specs: list[BuildingSpec] = []
    for spec in fleet.buildings:
        row = get_building(session=session, building_code=spec.building_code)
        if row is None:
            specs.append(spec)
            continue
        stored, given = _devices(building_to_spec(row)), _devices(spec)
        missing = [d for d in stored if d not in given]
        if replace_devices:
            plan.devices_deleted += [(spec.building_code, d) for d in missing]
            specs.append(spec)
            continue
        merged = {**{d: stored[d] for d in missing}, **given}
        specs.append(spec.model_copy(update={
            "meters": [d for d in merged.values() if isinstance(d, MeterSpec)],
            "pv": [d for d in merged.values() if isinstance(d, PvSpec)],
            "ev_piles": [d for d in merged.values() if isinstance(d, PileSpec)]}))
    return plan, specs


def replace_fleet(*, session: Session, fleet: Fleet, prune: bool = False, replace_devices: bool = False) -> ImportPlan:
    """Write every building of ``fleet``; with ``prune`` delete buildings not in the fleet, with
    ``replace_devices`` delete stored devices the input does not name (see
    :func:`plan_fleet_import`). Returns what was deleted."""
    plan, specs = plan_fleet_import(session=session, fleet=fleet, prune=prune, replace_devices=replace_devices)
    for code in plan.buildings_deleted:
        delete_building(session=session, building_code=code)
    for spec in specs:
        upsert_building(session=session, spec=spec)
    return plan


def replacement_instants_ms(*, session: Session) -> dict[tuple[str, str], int]:
    """(building_code, device_id) -> local midnight of the recorded replacement day (``replaced_on``)
    of every device that has one: the reset evidence the rollup's re-derivation applies as ingest
    does from the fleet file (contract/registers.py). [ms]"""
    out: dict[tuple[str, str], int] = {}
    for model in (Meter, PvSystem, ChargingPile):
        for code, device, day in session.execute(
                select(model.building_code, model.device_id, model.replaced_on).where(model.replaced_on.is_not(None))):
            out[(code, device)] = installed_on_ms(day)
    return out


def fleet_from_db(*, session: Session, codes: Iterable[str] | None = None) -> Fleet:
    """The registry (or the listed buildings) as a fleet file model."""
    return Fleet(buildings=[building_to_spec(b) for b in list_buildings(session=session, codes=codes)])


def _device_rows(spec: BuildingSpec) -> tuple[list[Meter], list[PvSystem], list[ChargingPile]]:
    """New ORM device rows of a validated fleet building, not yet attached to a building row."""
    meters = [Meter(**m.model_dump(mode="python")) for m in spec.meters]
    pv = [PvSystem(**p.model_dump(mode="python")) for p in spec.pv]
    piles = [ChargingPile(**c.model_dump(mode="python")) for c in spec.ev_piles]
    for d in (*meters, *pv, *piles):
        for k, v in vars(d).items():
            if hasattr(v, "value") and not k.startswith("_"):
                setattr(d, k, v.value)  # store enum members as their plain string value
    return meters, pv, piles


def _building_fields(spec: BuildingSpec) -> dict:
    return {**spec.model_dump(exclude={"meters", "pv", "ev_piles"}, mode="json"),
            "building_type": spec.building_type.value}


def building_from_spec(spec: BuildingSpec) -> Building:
    """A new ORM row (with device rows) from a validated fleet building."""
    row = Building(**_building_fields(spec))
    row.meters, row.pv_systems, row.charging_piles = _device_rows(spec)
    return row


def building_to_spec(row: Building) -> BuildingSpec:
    """The fleet model of a stored building (validates on the way out, too)."""
    return BuildingSpec(
        building_code=row.building_code,
        name=row.name,
        floor_area_m2=row.floor_area_m2,
        district=row.district,
        climate_zone=row.climate_zone,
        ownership=row.ownership,
        latitude_deg=row.latitude_deg,
        longitude_deg=row.longitude_deg,
        occupants=row.occupants,
        year_built=row.year_built,
        gateway_id=row.gateway_id,
        simulation=row.simulation,
        meters=[MeterSpec(device_id=m.device_id, carrier=m.carrier, sub_item=m.sub_item,
                          parent_device_id=m.parent_device_id, installed_on=m.installed_on,
                          replaced_on=m.replaced_on)
                for m in row.meters],
        pv=[PvSpec(device_id=p.device_id, capacity_kwp=p.capacity_kwp, tilt_deg=p.tilt_deg,
                   azimuth_deg=p.azimuth_deg, has_grid_meter=p.has_grid_meter, installed_on=p.installed_on,
                   replaced_on=p.replaced_on)
            for p in row.pv_systems],
        ev_piles=[PileSpec(device_id=c.device_id, pile_kind=c.pile_kind, rated_power_kw=c.rated_power_kw,
                           installed_on=c.installed_on, replaced_on=c.replaced_on) for c in row.charging_piles],
    )


def _type_value(building_type: str) -> str:
    from contract.vocabulary import BuildingType

    if len(building_type) == 1 and building_type in BuildingType.__members__:
        return BuildingType[building_type].value
    try:
        return BuildingType(building_type).value
    except ValueError:
        allowed = ", ".join(f"{t.name}/{t.value}" for t in BuildingType)
        raise ValueError(f"building_type {building_type!r} is not one of {allowed}") from None
