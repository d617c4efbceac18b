"""Request and response models of the disclosure API (names from docs/glossary.md)."""

from __future__ import annotations

import datetime as dt
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from api.disclosure.models import DisclosureEvent, DisclosureRecord, as_utc
from api.disclosure.public_view import public_figures, public_view
from api.disclosure.workflow import MAX_TEXT_CHARS
from api.params import BuildingCode, Year


class _Identity(BaseModel):
    """Which record: the fields every disclosure view starts with, in this order."""

    id: int
    building_code: str
    building_name: str
    district: str
    building_type: str
    year: int
    version: int

    @staticmethod
    def identity_of(r: DisclosureRecord) -> dict:
        return {"id": r.id, "building_code": r.building_code, "building_name": r.building_name,
                "district": r.district, "building_type": r.building_type, "year": r.year, "version": r.version}


class RecordSummary(_Identity):
    state: str
    audit_required: bool
    energy_tce: float
    eui_kgce_per_m2: float
    coverage: float
    conversion_basis: str
    factor_table_version: str
    created_at: dt.datetime
    submitted_by: str | None
    submitted_at: dt.datetime | None
    approved_by: str | None
    published_at: dt.datetime | None
    row_version: int = Field(description="send back as row_version to refuse acting on a record that changed")

    @classmethod
    def of(cls, r: DisclosureRecord) -> RecordSummary:
        return cls(**cls.identity_of(r), state=r.state,
                   audit_required=r.audit_required, energy_tce=r.energy_tce,
                   eui_kgce_per_m2=r.eui_kgce_per_m2, coverage=r.coverage,
                   conversion_basis=r.conversion_basis, factor_table_version=r.factor_table_version,
                   created_at=as_utc(r.created_at), submitted_by=r.submitted_by, submitted_at=as_utc(r.submitted_at),
                   approved_by=r.approved_by, published_at=as_utc(r.published_at), row_version=r.row_version)


class EventOut(BaseModel):
    at: dt.datetime
    action: str
    actor_name: str
    actor_role: str
    from_state: str | None
    to_state: str
    text: str | None

    @classmethod
    def of(cls, e: DisclosureEvent) -> EventOut:
        return cls(at=as_utc(e.at), action=e.action, actor_name=e.actor_name, actor_role=e.actor_role,
                   from_state=e.from_state, to_state=e.to_state, text=e.text)


class RecordDetail(RecordSummary):
    figures: dict
    figures_sha256: str
    remarks: str | None
    withdrawn_at: dt.datetime | None
    withdraw_reason: str | None
    events: list[EventOut]


def detail(r: DisclosureRecord, events: list[DisclosureEvent]) -> RecordDetail:
    return RecordDetail(**RecordSummary.of(r).model_dump(), figures=r.figures, figures_sha256=r.figures_sha256,
                        remarks=r.remarks, withdrawn_at=as_utc(r.withdrawn_at), withdraw_reason=r.withdraw_reason,
                        events=[EventOut.of(e) for e in events])


class ActionBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    comment: str | None = Field(default=None, max_length=MAX_TEXT_CHARS,
                                description="required to return a submission, and for a comment")
    reason: str | None = Field(default=None, max_length=MAX_TEXT_CHARS,
                               description="required to withdraw, discard or override the minimum coverage")
    row_version: int | None = Field(default=None, ge=1, description="refuse if the record changed since")


class RemarksBody(BaseModel):
    """Only the remarks of a draft can be edited: the figures are frozen at generation."""

    model_config = ConfigDict(extra="forbid")
    remarks: str | None = Field(max_length=MAX_TEXT_CHARS)
    row_version: int | None = Field(default=None, ge=1, description="refuse if the record changed since")


class GenerateBody(BaseModel):
    """Regenerate drafts for a few buildings (a whole city: ``python -m api.disclosure generate``)."""

    model_config = ConfigDict(extra="forbid")
    year: Year
    building_codes: list[BuildingCode] = Field(min_length=1, max_length=50)
    basis: Literal["equivalent_gbt2589", "equal_value"] = "equivalent_gbt2589"
    region: str | None = Field(default=None, pattern=r"^CN-[0-9]{2}$", description="for equal_value, e.g. CN-51")


class GenerateFailure(BaseModel):
    building_code: str
    message: str


class GenerateResult(BaseModel):
    year: int
    created: list[RecordSummary]
    unchanged: list[RecordSummary]
    failed: list[GenerateFailure]


class PublicDisclosure(_Identity):
    """A published disclosure as the public feed shows it: the snapshot with the verdicts the data
    support (``api.disclosure.public_view.public_figures``; ``figures_sha256`` is the frozen one's)."""

    published_at: dt.datetime
    figures_sha256: str
    remarks: str | None
    figures: dict

    @classmethod
    def of(cls, r: DisclosureRecord, min_coverage: float) -> PublicDisclosure:
        return cls(**cls.identity_of(r),
                   published_at=as_utc(r.published_at), figures_sha256=r.figures_sha256, remarks=r.remarks,
                   figures=public_figures(r.figures, min_coverage))


class PublicFeed(BaseModel):
    items: list[PublicDisclosure]
    total: int
    limit: int
    offset: int


class PublicCsvRow(BaseModel):
    """One CSV line per published disclosure; ratios are fractions (0.25 = 25 %)."""

    building_code: str
    building_name: str
    district: str
    building_type: str
    year: int
    version: int
    published_at: dt.datetime
    energy_tce: float
    electricity_kwh: float
    electricity_lighting_sockets_kwh: float | None
    electricity_hvac_kwh: float | None
    electricity_power_kwh: float | None
    electricity_special_kwh: float | None
    eui_kgce_per_m2: float
    eui_electricity_kwh_per_m2: float
    energy_kgce_per_person: float | None
    quota_status: str
    rank_in_type: int | None
    buildings_in_type: int | None
    electrification_share: float | None
    renewable_substitution_rate: float | None
    pv_generation_kwh: float | None
    ev_energy_kwh: float | None
    carbon_tco2: float
    #: Empty where the coverage cannot support "not required" (audit_verdict insufficient_data).
    audit_required: bool | None
    audit_verdict: str
    yoy_energy_tce: float | None
    coverage: float
    conversion_basis: str
    factor_table_version: str
    #: Retrofit savings of the year, ``; ``-separated, one per retrofit: ``id=3 status=ok avoided=12000
    #: uncertainty=2500 unit=kwh guideline14=meets`` or ``id=4 status=no_baseline``; empty without retrofits
    #: (or in a snapshot older than the section).
    retrofit_savings: str

    @classmethod
    def of(cls, r: DisclosureRecord, min_coverage: float) -> PublicCsvRow:
        f = r.figures
        v = public_view(f, min_coverage)
        sub = f.get("electricity_by_sub_item_kwh", {})
        return cls(building_code=r.building_code, building_name=r.building_name, district=r.district,
                   building_type=r.building_type, year=r.year, version=r.version,
                   published_at=as_utc(r.published_at), energy_tce=f["energy_tce"],
                   electricity_kwh=f["electricity_kwh"],
                   electricity_lighting_sockets_kwh=sub.get("lighting_sockets"),
                   electricity_hvac_kwh=sub.get("hvac"), electricity_power_kwh=sub.get("power"),
                   electricity_special_kwh=sub.get("special"), eui_kgce_per_m2=f["eui_kgce_per_m2"],
                   eui_electricity_kwh_per_m2=f["eui_electricity_kwh_per_m2"],
                   energy_kgce_per_person=f.get("energy_kgce_per_person"), quota_status=v.quota,
                   rank_in_type=f.get("rank_in_type"), buildings_in_type=f.get("buildings_in_type"),
                   electrification_share=f.get("electrification_share"),
                   renewable_substitution_rate=f.get("renewable_substitution_rate"),
                   pv_generation_kwh=(f.get("pv") or {}).get("generation_kwh"),
                   ev_energy_kwh=(f.get("ev") or {}).get("energy_kwh"), carbon_tco2=f["carbon_tco2"],
                   audit_required=v.audit_required, audit_verdict=v.audit, yoy_energy_tce=f.get("yoy_energy_tce"),
                   coverage=r.coverage, conversion_basis=r.conversion_basis,
                   factor_table_version=r.factor_table_version,
                   retrofit_savings="; ".join(_retrofit_cell(x) for x in f.get("retrofits") or ()))


def _retrofit_cell(x: dict) -> str:
    """One retrofit of the CSV's ``retrofit_savings`` column (figures only when verified)."""
    if x.get("status") != "ok":
        return f"id={x.get('retrofit_id')} status={x.get('status')}"
    return (f"id={x['retrofit_id']} status=ok avoided={x['avoided']:.0f} uncertainty={x['uncertainty']:.0f} "
            f"unit={x['unit']} guideline14={x['guideline14']}")
