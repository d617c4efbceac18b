"""Test data: figures snapshots, users with keys, and registry buildings."""

from __future__ import annotations

from api.disclosure.figures import EvFigures, Figures, PvFigures, QuotaStatus
from contract.vocabulary import BuildingType

#: A flat monthly profile: 100 kWh lighting, 200 HVAC, 50 power, 25 special, every month.
FLAT_MONTHS = {"lighting_sockets": (100.0,) * 12, "hvac": (200.0,) * 12, "power": (50.0,) * 12,
               "special": (25.0,) * 12}


def figures(building_code: str = "510402A001", year: int = 2025, *, name: str = "市政府办公楼",
            district: str = "市中区", energy_tce: float = 123.4, audit_required: bool = False,
            monthly: dict[str, tuple[float, ...]] | None = None, **overrides) -> Figures:
    """A complete, internally consistent snapshot; ``overrides`` replace single fields."""
    monthly = monthly or FLAT_MONTHS
    by_sub = {s: float(sum(v)) for s, v in monthly.items()}
    electricity_kwh = sum(by_sub.values())
    data = dict(
        building_code=building_code, building_name=name, district=district,
        building_type=BuildingType[building_code[6]].value,
        ownership="state_organ_office", floor_area_m2=10_000.0, occupants=400, year=year,
        conversion_basis="equivalent_gbt2589", factor_table_version="coal_factors.csv@test",
        carriers=({"carrier": "electricity", "quantity": electricity_kwh, "unit": "kwh",
                   "energy_tce": electricity_kwh * 0.1229 / 1000},
                  {"carrier": "natural_gas", "quantity": 50_000.0, "unit": "m3", "energy_tce": 60.715}),
        electricity_kwh=electricity_kwh, electricity_by_sub_item_kwh=by_sub,
        monthly_electricity_by_sub_item_kwh=monthly, energy_tce=energy_tce,
        eui_kgce_per_m2=energy_tce * 1000 / 10_000, eui_electricity_kwh_per_m2=electricity_kwh / 10_000,
        energy_kgce_per_person=energy_tce * 1000 / 400, quota_guide_kwh_per_m2=80.0,
        quota_constraint_kwh_per_m2=110.0, quota_status=QuotaStatus.within_guide, quota_source="example",
        rank_in_type=1, buildings_in_type=3, electrification_share=0.5, renewable_substitution_rate=0.02,
        pv=PvFigures(generation_kwh=1000.0, to_grid_kwh=100.0, self_consumed_kwh=900.0, self_consumption=0.9,
                     self_sufficiency=0.1),
        ev=EvFigures(energy_kwh=500.0, pv_energy_kwh=50.0, green_share=0.1, sessions=20),
        carbon_tco2=electricity_kwh * 0.5366 / 1000, grid_emission_factor_kgco2_per_kwh=0.5366,
        emission_factor_source="MEE/NBS 2024 (2022 national average)",
        audit_required=audit_required, audit_triggered_by="energy" if audit_required else "none",
        previous_energy_tce=None, yoy_energy_tce=None,
        coverage=1.0, readings=35_040, expected_readings=35_040,
    )
    data.update(overrides)
    return Figures(**data)
