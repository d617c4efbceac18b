"""The fleet file: the buildings and their devices, as the simulator publishes them and the
building registry imports them, so both agree on every building.

YAML (or JSON) with ``fleet_version: 1`` and a ``buildings`` list; see docs/fleet-file.md.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from enum import StrEnum
from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, Field, model_validator

from contract.vocabulary import BuildingCode, BuildingType, Carrier, DeviceId, PileKind, SubItem


class ClimateZone(StrEnum):
    """GB 50176 thermal design zones."""

    severe_cold = "severe_cold"
    cold = "cold"
    hot_summer_cold_winter = "hot_summer_cold_winter"
    hot_summer_warm_winter = "hot_summer_warm_winter"
    temperate = "temperate"


class Ownership(StrEnum):
    """The building categories the plans single out for statistics and audits."""

    state_organ_office = "state_organ_office"
    large_public = "large_public"
    state_funded_public_welfare = "state_funded_public_welfare"
    other = "other"


class _M(BaseModel):
    model_config = ConfigDict(extra="forbid")


class MeterSpec(_M):
    device_id: DeviceId
    carrier: Carrier
    sub_item: SubItem | None = None  # electricity only
    parent_device_id: DeviceId | None = None  # main meter of a sub-meter
    installed_on: dt.date = dt.date(2015, 1, 1)
    #: The device was exchanged for a new one on this local day (same id): a register step across
    #: its local midnight counts zero (contract/registers.py). None: never replaced.
    replaced_on: dt.date | None = None

    @model_validator(mode="after")
    def _sub_item_rule(self) -> MeterSpec:
        if (self.carrier is Carrier.electricity) != (self.sub_item is not None):
            raise ValueError("sub_item is required for electricity meters and only for them")
        return self


class PvSpec(_M):
    device_id: DeviceId
    capacity_kwp: float = Field(gt=0)
    tilt_deg: float = Field(default=25, ge=0, le=90)
    azimuth_deg: float = Field(default=180, ge=0, lt=360)  # 180 = due south
    has_grid_meter: bool = True  # a pv_meter at the grid point reports export/import
    installed_on: dt.date = dt.date(2020, 1, 1)
    #: The device was exchanged for a new one on this local day (same id): a register step across
    #: its local midnight counts zero (contract/registers.py). None: never replaced.
    replaced_on: dt.date | None = None


class PileSpec(_M):
    device_id: DeviceId
    pile_kind: PileKind
    rated_power_kw: float = Field(gt=0)
    installed_on: dt.date = dt.date(2021, 1, 1)
    #: The device was exchanged for a new one on this local day (same id): a register step across
    #: its local midnight counts zero (contract/registers.py). None: never replaced.
    replaced_on: dt.date | None = None


class SimulationTargets(_M):
    """Annual intensities the device simulator aims at (ignored by the platform itself).

    Optional: a hand-written fleet file may leave it out and the simulator picks values inside
    the type's range (simulators/data/building_types.csv) from the building code.
    """

    electricity_eui_kwh_per_m2: float | None = Field(default=None, ge=0)  # sub-items, excluding EV piles
    gas_m3_per_m2: float | None = Field(default=None, ge=0)
    water_m3_per_m2: float | None = Field(default=None, ge=0)
    heat_kwh_per_m2: float | None = Field(default=None, ge=0)
    # Ground truth the simulator injects and the platform must find (docs/simulators.md):
    #: An energy-saving retrofit completed at the end of this local day: HVAC electricity falls by
    #: ``retrofit_hvac_saving`` (a share) from the next day on.
    retrofit_on: dt.date | None = None
    retrofit_hvac_saving: float = Field(default=0.0, ge=0, le=1)
    #: A night load left on (lights, a forgotten machine): ``night_load_kw`` more on the lighting and
    #: sockets meter between 20:00 and 06:00 local from this day on.
    night_load_from: dt.date | None = None
    night_load_kw: float = Field(default=0.0, ge=0)
    #: Failing PV strings: generation falls by this share from this day on.
    pv_failure_from: dt.date | None = None
    pv_failure_share: float = Field(default=0.0, ge=0, le=1)


class BuildingSpec(_M):
    building_code: BuildingCode
    name: str = Field(min_length=1, max_length=200)
    floor_area_m2: float = Field(gt=0)
    district: str = Field(min_length=1, max_length=100)
    climate_zone: ClimateZone = ClimateZone.hot_summer_cold_winter
    ownership: Ownership = Ownership.other
    latitude_deg: float = Field(ge=-90, le=90)
    longitude_deg: float = Field(ge=-180, le=180)
    occupants: int = Field(default=0, ge=0)
    year_built: int | None = Field(default=None, ge=1800, le=2100)
    gateway_id: DeviceId | None = None  # when set, the building's meters upload in gateway batches
    meters: list[MeterSpec] = Field(default_factory=list)
    pv: list[PvSpec] = Field(default_factory=list)
    ev_piles: list[PileSpec] = Field(default_factory=list)
    simulation: SimulationTargets | None = None  # targets for simulators/; optional

    @property
    def building_type(self) -> BuildingType:
        return BuildingType[self.building_code[6]]

    @model_validator(mode="after")
    def _unique_devices(self) -> BuildingSpec:
        # Counter, not list.count: a count per element is quadratic (a province's fleet never validated).
        dup = {i for i, n in Counter(d.device_id for d in (*self.meters, *self.pv, *self.ev_piles)).items() if n > 1}
        if dup:
            raise ValueError(f"device ids used twice in {self.building_code}: {sorted(dup)}")
        return self


class Fleet(_M):
    fleet_version: int = Field(default=1, ge=1, le=1)
    buildings: list[BuildingSpec]

    @model_validator(mode="after")
    def _unique_buildings(self) -> Fleet:
        dup = {c for c, n in Counter(b.building_code for b in self.buildings).items() if n > 1}
        if dup:
            raise ValueError(f"building codes used twice: {sorted(dup)}")
        return self

    @classmethod
    def load(cls, path: Path | str) -> Fleet:
        return cls.model_validate(yaml.safe_load(Path(path).read_text(encoding="utf-8")))

    def dump(self, path: Path | str) -> None:
        data = self.model_dump(mode="json", exclude_defaults=False)
        Path(path).write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False), encoding="utf-8")

    def device_installed_on(self) -> dict[tuple[str, str], dt.date]:
        """(building_code, device_id) -> installation date, for ingest's plausibility check."""
        out: dict[tuple[str, str], dt.date] = {}
        for b in self.buildings:
            for d in (*b.meters, *b.pv, *b.ev_piles):
                out[(b.building_code, d.device_id)] = d.installed_on
        return out
