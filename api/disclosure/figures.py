"""The figures of one disclosure, frozen as a JSON snapshot when the draft is generated.

A published disclosure must never change when meter data is corrected or backfilled later, so the
record keeps this whole model (not a reference to live analytics) together with the basis it was
computed on: the conversion basis, the factor-table version, and the data coverage. Names follow
docs/glossary.md (units in the names); ratios are fractions in [0, 1], never percentages.
"""

from __future__ import annotations

import hashlib
import json
import math
from bisect import bisect_left
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field, field_validator

#: Bumped when the snapshot's shape changes; stored with every record so old snapshots stay readable.
SNAPSHOT_VERSION = 1

#: Electricity sub-items shown on the disclosure, in display order (MOHURD 2008).
SUB_ITEMS = ("lighting_sockets", "hvac", "power", "special")

#: The two independent audit tests (Leshan plan): 1000 tce or 5 million kWh a year.
AUDIT_ENERGY_TCE = 1000.0
AUDIT_ELECTRICITY_KWH = 5_000_000.0


class QuotaStatus(StrEnum):
    """Energy use intensity against the quota table (GB/T 51161-2016 style constraint/guide values)."""

    below_guide = "below_guide"
    between_guide_and_constraint = "between_guide_and_constraint"
    above_constraint = "above_constraint"
    no_quota = "no_quota"


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class CarrierUse(_Frozen):
    """Annual use of one energy carrier, in its base unit and converted to standard coal."""

    carrier: str
    quantity: float = Field(ge=0, description="annual use in the carrier's base unit (kWh, m3 or kg)")
    unit: str = Field(description="kwh, m3 or kg (docs/glossary.md base units)")
    energy_tce: float = Field(ge=0)


class PvFigures(_Frozen):
    generation_kwh: float = Field(ge=0)
    to_grid_kwh: float = Field(ge=0)
    self_consumed_kwh: float = Field(ge=0)
    #: (generation - export) / generation; None without generation.
    self_consumption: float | None = Field(default=None, ge=0, le=1)
    #: (generation - export) / building electricity use; None without use.
    self_sufficiency: float | None = Field(default=None, ge=0, le=1)


class EvFigures(_Frozen):
    charging_kwh: float = Field(ge=0)
    pv_kwh: float = Field(ge=0, description="part of the charging energy met by on-site PV")
    #: pv_kwh / charging_kwh; None without charging.
    green_share: float | None = Field(default=None, ge=0, le=1)
    sessions: int = Field(ge=0)


class Coverage(_Frozen):
    """How much of the year's expected data the figures rest on."""

    expected_intervals: int = Field(ge=0)
    received_intervals: int = Field(ge=0)
    fraction: float = Field(ge=0, le=1)
    first_day: str | None = None
    last_day: str | None = None


class Figures(_Frozen):
    """Everything one building's disclosure for one reporting year shows."""

    snapshot_version: int = SNAPSHOT_VERSION
    building_code: str
    building_name: str
    district: str
    building_type: str
    ownership: str
    floor_area_m2: float = Field(gt=0)
    occupants: int = Field(ge=0)
    year: int = Field(ge=2000, le=2100)

    conversion_basis: str = Field(description="e.g. equivalent_gbt2589 (0.1229 kgce/kWh) or equal_value")
    factor_table_version: str
    carriers: tuple[CarrierUse, ...]
    electricity_kwh: float = Field(ge=0)
    electricity_by_sub_item_kwh: dict[str, float]
    #: 12 monthly values (January first) per sub-item, for the chart.
    monthly_electricity_by_sub_item_kwh: dict[str, tuple[float, ...]]
    energy_tce: float = Field(ge=0)

    intensity_kgce_per_m2: float = Field(ge=0)
    intensity_kwh_per_m2: float = Field(ge=0, description="electricity use per floor area")
    intensity_kgce_per_person: float | None = Field(default=None, ge=0)
    quota_guide_kwh_per_m2: float | None = None
    quota_constraint_kwh_per_m2: float | None = None
    quota_status: QuotaStatus = QuotaStatus.no_quota
    quota_source: str | None = None

    #: 1 = lowest energy use intensity among the buildings of the same type that year.
    rank_in_type: int | None = Field(default=None, ge=1)
    rank_of: int | None = Field(default=None, ge=1)

    electrification_share: float | None = Field(default=None, ge=0, le=1)
    renewable_substitution_rate: float | None = Field(default=None, ge=0, le=1)
    pv: PvFigures | None = None
    ev: EvFigures | None = None

    carbon_tco2: float = Field(ge=0)
    grid_emission_factor_kgco2_per_kwh: float = Field(ge=0)
    emission_factor_source: str

    audit_required: bool
    audit_reasons: tuple[str, ...] = ()

    previous_energy_tce: float | None = Field(default=None, ge=0)
    #: (energy_tce - previous_energy_tce) / previous_energy_tce; None without a previous year.
    yoy_change: float | None = None

    coverage: Coverage

    @field_validator("monthly_electricity_by_sub_item_kwh")
    @classmethod
    def _twelve_months(cls, v: dict[str, tuple[float, ...]]) -> dict[str, tuple[float, ...]]:
        for sub_item, months in v.items():
            if len(months) != 12:
                raise ValueError(f"monthly_electricity_by_sub_item_kwh[{sub_item!r}] has {len(months)} values, "
                                 "expected 12 (January to December)")
        return v

    @field_validator("*", mode="after")
    @classmethod
    def _finite(cls, v):  # noqa: ANN001, ANN206 - any field
        # JSON has no NaN: a NaN would be stored as null or break the snapshot; refuse it at the door.
        if isinstance(v, float) and not math.isfinite(v):
            raise ValueError(f"must be a finite number (got {v})")
        return v


def snapshot_json(figures: Figures) -> dict:
    """The JSON-ready snapshot stored in the record."""
    return figures.model_dump(mode="json")


def snapshot_sha256(snapshot: dict) -> str:
    """A digest of the canonical JSON, stored beside the snapshot so any later change is detectable."""
    canonical = json.dumps(snapshot, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


def audit_status(energy_tce: float, electricity_kwh: float) -> tuple[bool, tuple[str, ...]]:
    """The audit flag and which of the two independent tests triggered it.

    Parameters
    ----------
    energy_tce : float
        Annual comprehensive energy use. [tce]
    electricity_kwh : float
        Annual electricity use. [kWh]

    Returns
    -------
    required : bool
    reasons : tuple of str
        ``energy_tce>=1000`` and/or ``electricity_kwh>=5000000``.

    References
    ----------
    Leshan urban-rural construction carbon-peak plan (2026): "buildings with energy consumption of
    1000 tons of standard coal (or 5 million kilowatt-hours of electricity) and above".
    """
    reasons = []
    if energy_tce >= AUDIT_ENERGY_TCE:
        reasons.append("energy_tce>=1000")
    if electricity_kwh >= AUDIT_ELECTRICITY_KWH:
        reasons.append("electricity_kwh>=5000000")
    return bool(reasons), tuple(reasons)


def quota_status(intensity_kwh_per_m2: float, guide: float | None, constraint: float | None) -> QuotaStatus:
    """Where an intensity stands against the guide and constraint values.

    Parameters
    ----------
    intensity_kwh_per_m2 : float
        Annual energy use intensity. [kWh/(m2.a)]
    guide, constraint : float or None
        Quota guide and constraint values for the building's type and climate zone. [kWh/(m2.a)]
    """
    if constraint is None:
        return QuotaStatus.no_quota
    if intensity_kwh_per_m2 > constraint:
        return QuotaStatus.above_constraint
    if guide is not None and intensity_kwh_per_m2 > guide:
        return QuotaStatus.between_guide_and_constraint
    return QuotaStatus.below_guide


def yoy_change(energy_tce: float, previous_energy_tce: float | None) -> float | None:
    """Relative year-on-year change of energy use; None without a usable previous year.

    Parameters
    ----------
    energy_tce, previous_energy_tce : float
        This year's and the previous year's energy use. [tce]
    """
    if previous_energy_tce is None or previous_energy_tce <= 0:
        return None
    return (energy_tce - previous_energy_tce) / previous_energy_tce


def rank_in_type(intensities: dict[str, tuple[str, float]]) -> dict[str, tuple[int, int]]:
    """Rank buildings within their type by energy use intensity (1 = lowest).

    Parameters
    ----------
    intensities : dict
        building_code -> (building_type, intensity in kgce/m2). [kgce/(m2.a)]

    Returns
    -------
    dict
        building_code -> (rank, number of buildings of that type). Ties share the better rank
        (competition ranking "1224"); ties are broken by nothing else, so the order is reproducible.
    """
    by_type: dict[str, list[tuple[float, str]]] = {}
    for code, (btype, value) in intensities.items():
        by_type.setdefault(btype, []).append((value, code))
    out: dict[str, tuple[int, int]] = {}
    for members in by_type.values():
        values = sorted(v for v, _ in members)
        for value, code in members:
            out[code] = (bisect_left(values, value) + 1, len(values))
    return out
