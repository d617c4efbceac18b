"""The figures of one disclosure, frozen as a JSON snapshot when the draft is generated.

A published disclosure must never change when meter data is corrected or backfilled later, so the
record keeps this whole model (not a reference to live analytics) together with the basis it was
computed on: the conversion basis, the factor-table version, and the data coverage. Names follow
docs/glossary.md (units in the names); ratios are fractions in [0, 1], never percentages.
"""

from __future__ import annotations

import hashlib
import json
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field, field_validator

#: Bumped when the snapshot's shape changes; stored with every record so old snapshots stay readable.
SNAPSHOT_VERSION = 2  # 2: ``retrofits`` (retrofit savings section); version 1 snapshots have none



class QuotaStatus(StrEnum):
    """Electricity use intensity against the quota table (``analytics.intensity.quota_status``)."""

    within_guide = "within_guide"
    above_guide = "above_guide"
    above_constraint = "above_constraint"
    #: Within the guide value on less than the minimum coverage (analytics.audit.MIN_COVERAGE).
    insufficient_data = "insufficient_data"
    #: No quota standard for the type and zone (EXAMPLE rows are not one).
    no_quota = "no_quota"


class AuditTrigger(StrEnum):
    """Which of the two independent audit tests held (``analytics.audit.audit_tests``)."""

    energy = "energy"
    electricity = "electricity"
    both = "both"
    none = "none"


class _Frozen(BaseModel):
    # JSON has no NaN: analytics' "no data" NaN must become None (or be refused), never a stored NaN.
    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False)


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
    energy_kwh: float = Field(ge=0, description="charging energy of the building's piles")
    pv_energy_kwh: float = Field(ge=0, description="part of the charging energy met by on-site PV")
    #: pv_energy_kwh / energy_kwh; None without charging.
    green_share: float | None = Field(default=None, ge=0, le=1)
    sessions: int = Field(ge=0)


class RetrofitSavings(_Frozen):
    """One retrofit in the disclosure year (api/disclosure/retrofits.py): the avoided energy verified
    in the year's months (IPMVP Option C, analytics/savings.py), or only its ``status`` when it cannot
    be verified (``no_baseline``, ``no_reporting_data``, ``retrofit_in_future``, ``not_verified``)."""

    retrofit_id: int
    completed_on: str = Field(description="local day the works were completed (ISO date)")
    measures: str
    carrier: str
    unit: str = Field(description="base unit of the carrier's figures: kwh, m3 or kg")
    expected_saving_share: float | None = None
    status: str = Field(description="ok when the figures below were verified, else why there are none")
    detail: str = ""
    months: int = Field(default=0, ge=0, description="reported months of the year")
    days: int = Field(default=0, ge=0)
    predicted: float | None = Field(default=None, description="baseline-predicted use in the year's reported days")
    measured: float | None = None
    #: predicted - measured, in ``unit``.
    avoided: float | None = None
    #: Standard uncertainty (68 %) of ``avoided``: the sum of the monthly ones (an upper bound).
    uncertainty: float | None = Field(default=None, ge=0)
    avoided_share: float | None = None
    #: ``meets``, ``fails`` or ``not_assessable`` (analytics.savings.guideline14_verdict on the year).
    guideline14: str = "not_assessable"


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

    eui_kgce_per_m2: float = Field(ge=0)
    eui_electricity_kwh_per_m2: float = Field(ge=0, description="electricity use per floor area")
    energy_kgce_per_person: float | None = Field(default=None, ge=0)
    quota_guide_kwh_per_m2: float | None = None
    quota_constraint_kwh_per_m2: float | None = None
    quota_status: QuotaStatus = QuotaStatus.no_quota
    quota_source: str | None = None

    #: Data coverage: share of the expected interval readings present (1 = complete).
    coverage: float = Field(ge=0, le=1)
    readings: int = Field(ge=0)
    expected_readings: int = Field(ge=0)

    #: Rank by electricity use intensity among the buildings of the same type with data that year
    #: (``analytics.service.annual_frame``: 1 = highest).
    rank_in_type: int | None = Field(default=None, ge=1)
    buildings_in_type: int | None = Field(default=None, ge=1)

    electrification_share: float | None = Field(default=None, ge=0, le=1)
    renewable_substitution_rate: float | None = Field(default=None, ge=0, le=1)
    pv: PvFigures | None = None
    ev: EvFigures | None = None

    carbon_tco2: float = Field(ge=0)
    grid_emission_factor_kgco2_per_kwh: float = Field(ge=0)
    emission_factor_source: str

    #: Annual energy >= 1000 tce or electricity >= 5 million kWh (Leshan plan), and which test held.
    audit_required: bool
    audit_triggered_by: AuditTrigger = AuditTrigger.none

    previous_energy_tce: float | None = Field(default=None, ge=0)
    #: (energy_tce - previous_energy_tce) / previous_energy_tce; None without a previous year.
    yoy_energy_tce: float | None = None

    #: Retrofits completed by the end of the year and their verified savings in it (snapshot version 2).
    retrofits: tuple[RetrofitSavings, ...] = ()

    @field_validator("monthly_electricity_by_sub_item_kwh")
    @classmethod
    def _twelve_months(cls, v: dict[str, tuple[float, ...]]) -> dict[str, tuple[float, ...]]:
        for sub_item, months in v.items():
            if len(months) != 12:
                raise ValueError(f"monthly_electricity_by_sub_item_kwh[{sub_item!r}] has {len(months)} values, "
                                 "expected 12 (January to December)")
        return v



def snapshot_json(figures: Figures) -> dict:
    """The JSON-ready snapshot stored in the record."""
    return figures.model_dump(mode="json")


def snapshot_sha256(snapshot: dict) -> str:
    """A digest of the canonical JSON, stored beside the snapshot so any later change is detectable."""
    canonical = json.dumps(snapshot, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()
