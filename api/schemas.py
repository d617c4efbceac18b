"""Public response models (names from docs/glossary.md, units in the names)."""

from __future__ import annotations

import datetime as dt

from pydantic import BaseModel

from registry.models import Building


class BuildingOut(BaseModel):
    building_code: str
    name: str
    building_type: str
    district: str
    ownership: str
    climate_zone: str
    floor_area_m2: float
    occupants: int
    year_built: int | None
    latitude_deg: float
    longitude_deg: float
    meter_count: int
    pv_capacity_kwp: float
    ev_pile_count: int

    @classmethod
    def of(cls, b: Building) -> BuildingOut:
        return cls(building_code=b.building_code, name=b.name, building_type=b.building_type,
                   district=b.district, ownership=b.ownership, climate_zone=b.climate_zone,
                   floor_area_m2=b.floor_area_m2, occupants=b.occupants, year_built=b.year_built,
                   latitude_deg=b.latitude_deg, longitude_deg=b.longitude_deg, meter_count=len(b.meters),
                   pv_capacity_kwp=sum(p.capacity_kwp for p in b.pv_systems),
                   ev_pile_count=len(b.charging_piles))


class DeviceOut(BaseModel):
    """A meter, PV system or charging pile; fields that do not apply to the kind are null."""

    building_code: str
    device_id: str
    device_kind: str  # meter, pv, ev_pile
    carrier: str | None = None
    sub_item: str | None = None
    parent_device_id: str | None = None
    capacity_kwp: float | None = None
    pile_kind: str | None = None
    rated_power_kw: float | None = None
    installed_on: dt.date

    @classmethod
    def all_of(cls, b: Building) -> list[DeviceOut]:
        out = [cls(building_code=b.building_code, device_id=m.device_id, device_kind="meter",
                   carrier=m.carrier, sub_item=m.sub_item, parent_device_id=m.parent_device_id,
                   installed_on=m.installed_on) for m in b.meters]
        out += [cls(building_code=b.building_code, device_id=p.device_id, device_kind="pv",
                    capacity_kwp=p.capacity_kwp, installed_on=p.installed_on) for p in b.pv_systems]
        out += [cls(building_code=b.building_code, device_id=c.device_id, device_kind="ev_pile",
                    pile_kind=c.pile_kind, rated_power_kw=c.rated_power_kw, installed_on=c.installed_on)
                for c in b.charging_piles]
        return out


class ImportResult(BaseModel):
    buildings_written: int
    devices_written: int
    building_codes: list[str]
    #: Buildings deleted because ``prune`` was asked and the input did not list them.
    buildings_deleted: list[str] = []
    #: ``building_code/device_id`` deleted because ``replace_devices`` was asked.
    devices_deleted: list[str] = []
