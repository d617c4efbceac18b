"""Weather stations in the registry and the station whose weather stands for a building.

Keyword-only, the caller commits (as registry/repo.py).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from contract.vocabulary import BUILDING_CODE_RE, DEVICE_ID_RE
from registry.models import Building, WeatherAssignment, WeatherStation


class WeatherRegistryError(ValueError):
    """A station or an assignment that cannot be recorded (the message says why)."""


@dataclass(frozen=True)
class StationRef:
    """Where a station's readings are stored: tags ``building_code`` and ``device_id`` of ``weather``."""

    host_building_code: str
    device_id: str
    #: ``building`` when assigned to the building itself, ``district`` when through its district.
    via: str = "building"


def add_station(*, session: Session, host_building_code: str, device_id: str, latitude_deg: float,
                longitude_deg: float, installed_on: dt.date) -> WeatherStation:
    """Insert or update a station (same host building and device id = same station)."""
    if not BUILDING_CODE_RE.match(host_building_code):
        raise WeatherRegistryError(f"host building code {host_building_code!r} is not a MOHURD code")
    if not DEVICE_ID_RE.match(device_id):
        raise WeatherRegistryError(f"device id {device_id!r} is not valid")
    if not (-90 <= latitude_deg <= 90 and -180 <= longitude_deg <= 180):
        raise WeatherRegistryError(f"position {latitude_deg}, {longitude_deg} is not a latitude, longitude")
    row = _station(session, host_building_code, device_id)
    if row is None:
        row = WeatherStation(host_building_code=host_building_code, device_id=device_id)
        session.add(row)
    row.latitude_deg, row.longitude_deg, row.installed_on = latitude_deg, longitude_deg, installed_on
    session.flush()
    return row


def _station(session: Session, host: str, device_id: str) -> WeatherStation | None:
    return session.scalars(select(WeatherStation).where(
        WeatherStation.host_building_code == host, WeatherStation.device_id == device_id)).first()


def assign(*, session: Session, host_building_code: str, device_id: str, building_code: str | None = None,
           district: str | None = None) -> None:
    """Let the station's weather stand for one building or for every building of a district
    (replacing that target's previous station)."""
    if (building_code is None) == (district is None):
        raise WeatherRegistryError("assign a station to exactly one of a building or a district")
    station = _station(session, host_building_code, device_id)
    if station is None:
        raise WeatherRegistryError(f"no weather station {host_building_code}/{device_id} in the registry")
    if building_code is not None:
        session.execute(delete(WeatherAssignment).where(WeatherAssignment.building_code == building_code))
    else:
        session.execute(delete(WeatherAssignment).where(WeatherAssignment.district == district))
    session.add(WeatherAssignment(station_id=station.id, building_code=building_code, district=district))
    session.flush()


def station_for(*, session: Session, building_code: str) -> StationRef | None:
    """The station assigned to the building, else to its district; None when there is neither."""
    own = session.execute(
        select(WeatherStation.host_building_code, WeatherStation.device_id)
        .join(WeatherAssignment, WeatherAssignment.station_id == WeatherStation.id)
        .where(WeatherAssignment.building_code == building_code)).first()
    if own is not None:
        return StationRef(own[0], own[1], "building")
    via = session.execute(
        select(WeatherStation.host_building_code, WeatherStation.device_id)
        .join(WeatherAssignment, WeatherAssignment.station_id == WeatherStation.id)
        .join(Building, Building.district == WeatherAssignment.district)
        .where(Building.building_code == building_code)).first()
    return StationRef(via[0], via[1], "district") if via is not None else None


def stations_for(*, session: Session, building_codes: list[str]) -> dict[str, StationRef]:
    """:func:`station_for` of many buildings in two queries (buildings without a station are absent)."""
    rows = session.execute(
        select(WeatherAssignment.building_code, WeatherAssignment.district, WeatherStation.host_building_code,
               WeatherStation.device_id)
        .join(WeatherStation, WeatherAssignment.station_id == WeatherStation.id)).all()
    by_building = {r[0]: StationRef(r[2], r[3], "building") for r in rows if r[0] is not None}
    by_district = {r[1]: StationRef(r[2], r[3], "district") for r in rows if r[1] is not None}
    out = {}
    districts = dict(session.execute(select(Building.building_code, Building.district)
                                     .where(Building.building_code.in_(building_codes))).all())
    for code in building_codes:
        ref = by_building.get(code) or by_district.get(districts.get(code))
        if ref is not None:
            out[code] = ref
    return out
