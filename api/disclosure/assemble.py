"""Turn the analytics of one reporting year into disclosure figures (pure: frames in, figures out).

Every indicator comes from ``analytics`` (``compute_indicators``, ``audit_tests``, ``quota_status``,
``rank_within_type``, ``year_on_year``, the factor tables); this module only selects, renames and
freezes. Analytics' NaN ("no data") becomes None in the snapshot, never a stored NaN.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import pandas as pd

from analytics.audit import audit_tests
from analytics.compare import SUB_ITEMS, rank_within_type, year_on_year
from analytics.energy import FUEL_COLUMNS, energy_tce
from analytics.indicators import compute_indicators
from analytics.intensity import lookup_quota, quota_status
from analytics.tables import DEFAULT_BASIS, coal_factors, grid_factors, quota_table
from api.disclosure.figures import CarrierUse, Coverage, EvFigures, Figures, PvFigures

#: Base unit of each carrier column of the analytics balance (docs/glossary.md suffixes).
_UNIT = {col: col.rsplit("_", 1)[1] for col in FUEL_COLUMNS.values()}


@dataclass(frozen=True)
class BuildingFacts:
    """What the registry says about a building at generation time (frozen with the figures)."""

    building_code: str
    name: str
    district: str
    building_type: str
    ownership: str
    climate_zone: str
    floor_area_m2: float
    occupants: int

    @classmethod
    def of(cls, b) -> BuildingFacts:  # noqa: ANN001 - registry.models.Building or registry.fleet.BuildingSpec
        btype = b.building_type.value if hasattr(b.building_type, "value") else b.building_type
        return cls(b.building_code, b.name, b.district, str(btype), str(getattr(b.ownership, "value", b.ownership)),
                   str(getattr(b.climate_zone, "value", b.climate_zone)), float(b.floor_area_m2), int(b.occupants))


def region_of(building_code: str) -> str:
    """``CN-<2-digit province code>``, the region key of the factor tables."""
    return f"CN-{building_code[:2]}"


def _opt(v) -> float | None:  # noqa: ANN001 - scalar from pandas
    return None if v is None or (isinstance(v, float) and math.isnan(v)) or pd.isna(v) else float(v)


def build_figures(*, year: int, buildings: Sequence[BuildingFacts], balance: pd.DataFrame,
                  monthly_sub_items_kwh: Mapping[str, Mapping[str, Sequence[float]]],
                  previous_balance: pd.DataFrame | None = None, basis: str = DEFAULT_BASIS) -> list[Figures]:
    """The disclosure figures of every building for ``year``.

    Parameters
    ----------
    year : int
        Reporting (calendar) year.
    buildings : sequence of BuildingFacts
        The buildings to disclose; ranks are computed among these, per building type.
    balance : DataFrame
        Annual energy balance indexed by ``building_code`` with the columns of
        ``analytics.indicators`` (``electricity_from_grid_kwh`` [kWh], fuels in base units,
        ``<sub_item>_kwh`` [kWh], ``ev_*``, ``readings``, ``expected_readings``). Buildings
        missing from it have no data: zero energy and zero coverage.
    monthly_sub_items_kwh : mapping
        building_code -> sub_item -> 12 monthly values, January first. [kWh]
    previous_balance : DataFrame, optional
        The previous year's balance, for the year-on-year change.
    basis : str
        Electricity conversion basis (``equivalent_gbt2589`` or ``equal_value``).
    """
    codes = [b.building_code for b in buildings]
    facts = pd.DataFrame([b.__dict__ for b in buildings]).set_index("building_code")
    bal = balance.reindex(codes).fillna(0.0) if len(balance) else pd.DataFrame(index=pd.Index(codes))
    bal["floor_area_m2"] = facts.floor_area_m2
    bal["occupants"] = facts.occupants
    grid = {c: grid_factors().lookup(year=year, region=region_of(c)) for c in codes}
    bal["grid_factor_kgco2_per_kwh"] = pd.Series({c: g.factor_kgco2_per_kwh for c, g in grid.items()})
    table = coal_factors()
    ind, fuels_tce = _by_region(bal, basis, table)
    prev = _by_region(previous_balance.reindex(codes).dropna(how="all"), basis, table)[0] \
        if previous_balance is not None and len(previous_balance) else None
    audit = audit_tests(ind.energy_tce, ind.electricity_kwh)
    quota = lookup_quota(quota_table(), facts.building_type, facts.climate_zone)
    status, _ = quota_status(ind.eui_electricity_kwh_per_m2, quota.constraint_value, quota.guide_value)
    ranks = rank_within_type(ind.eui_kgce_per_m2, facts.building_type, highest_first=False)

    out = []
    for b in buildings:
        c = b.building_code
        row, months = ind.loc[c], monthly_sub_items_kwh.get(c, {})
        prev_tce = _opt(prev.energy_tce.get(c)) if prev is not None and c in prev.index else None
        out.append(Figures(
            building_code=c, building_name=b.name, district=b.district, building_type=b.building_type,
            ownership=b.ownership, floor_area_m2=b.floor_area_m2, occupants=b.occupants, year=year,
            conversion_basis=str(row.basis), factor_table_version=str(row.table_version),
            carriers=_carriers(bal.loc[c], row, fuels_tce.loc[c]),
            electricity_kwh=float(row.electricity_kwh),
            electricity_by_sub_item_kwh={s: float(bal.loc[c].get(f"{s}_kwh", 0.0)) for s in SUB_ITEMS},
            monthly_electricity_by_sub_item_kwh={s: tuple(float(v) for v in months.get(s, (0.0,) * 12))
                                                 for s in SUB_ITEMS},
            energy_tce=float(row.energy_tce), intensity_kgce_per_m2=float(row.eui_kgce_per_m2),
            intensity_kwh_per_m2=float(row.eui_electricity_kwh_per_m2),
            intensity_kgce_per_person=_opt(row.energy_kgce_per_person),
            quota_guide_kwh_per_m2=_opt(quota.guide_value.get(c)),
            quota_constraint_kwh_per_m2=_opt(quota.constraint_value.get(c)),
            quota_status=str(status.get(c)), quota_source=None if pd.isna(quota.quota_source.get(c))
            else str(quota.quota_source.get(c)),
            rank_in_type=None if pd.isna(ranks.rank_in_type[c]) else int(ranks.rank_in_type[c]),
            rank_of=int(ranks.buildings_in_type[c]) or None,
            electrification_share=_opt(row.electrification_share),
            renewable_substitution_rate=_opt(row.renewable_substitution_rate),
            pv=PvFigures(generation_kwh=float(row.pv_generation_kwh), to_grid_kwh=float(row.pv_to_grid_kwh),
                         self_consumed_kwh=float(row.pv_self_consumed_kwh),
                         self_consumption=_opt(row.pv_self_consumption),
                         self_sufficiency=_opt(row.pv_self_sufficiency)) if row.pv_generation_kwh > 0 else None,
            ev=EvFigures(charging_kwh=float(row.ev_energy_kwh), pv_kwh=float(row.ev_pv_energy_kwh),
                         green_share=_opt(row.ev_green_share), sessions=int(row.ev_sessions))
            if row.ev_energy_kwh > 0 else None,
            carbon_tco2=float(row.carbon_tco2), grid_emission_factor_kgco2_per_kwh=grid[c].factor_kgco2_per_kwh,
            emission_factor_source=f"{grid[c].source} ({grid[c].year}, {grid[c].region})",
            audit_required=bool(audit.triggered[c]), audit_triggered_by=str(audit.triggered_by[c]),
            previous_energy_tce=prev_tce,
            yoy_change=_opt(year_on_year(float(row.energy_tce), prev_tce)) if prev_tce is not None else None,
            coverage=Coverage(expected_intervals=int(row.expected_readings), received_intervals=int(row.readings),
                              fraction=_opt(row.coverage) or 0.0),
        ))
    return out


def _by_region(bal: pd.DataFrame, basis: str, table) -> tuple[pd.DataFrame, pd.DataFrame]:  # noqa: ANN001
    # Factors can be regional (equal-value basis): compute each province's buildings with its own.
    parts, fuels = [], []
    for region, group in bal.groupby(lambda code: region_of(str(code))):
        parts.append(compute_indicators(group, basis=basis, region=region, table=table))
        q = {c: group[c] for c in FUEL_COLUMNS.values() if c in group}
        tce = energy_tce(q, basis=basis, region=region, table=table)
        fuels.append(pd.DataFrame({k: v for k, v in tce.fuels_tce.items()}, index=group.index))
    return pd.concat(parts), pd.concat(fuels).fillna(0.0)


def _carriers(bal_row: pd.Series, row: pd.Series, fuel_tce_row: pd.Series) -> tuple[CarrierUse, ...]:
    out = [CarrierUse(carrier="electricity", quantity=float(row.electricity_kwh), unit="kwh",
                      energy_tce=float(row.electricity_tce))]
    for carrier, col in FUEL_COLUMNS.items():
        qty = float(bal_row.get(col, 0.0))
        if qty > 0:
            out.append(CarrierUse(carrier=carrier, quantity=qty, unit=_UNIT[col],
                                  energy_tce=float(fuel_tce_row.get(carrier, 0.0))))
    return tuple(out)
