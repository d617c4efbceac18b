"""Turn the analytics service's year of a building into disclosure figures (pure: frames in, figures out).

Every indicator comes from ``analytics.service.annual_frame`` (energy, shares, intensities, quota,
rank, carbon, coverage, year-on-year); the per-carrier standard-coal split comes from
``analytics.energy.energy_tce``. This module only selects, renames and freezes. Analytics' NaN
("no data") becomes None in the snapshot, never a stored NaN.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import pandas as pd

from analytics.compare import SUB_ITEMS
from analytics.energy import FUEL_COLUMNS, energy_tce
from api.disclosure.figures import CarrierUse, EvFigures, Figures, PvFigures

#: Base unit of each fuel column of the analytics balance (docs/glossary.md suffixes).
_UNIT = {col: col.rsplit("_", 1)[1] for col in FUEL_COLUMNS.values()}


def _opt(v) -> float | None:  # noqa: ANN001 - a pandas/numpy scalar
    if v is None:
        return None
    v = float(v)
    return None if math.isnan(v) else v


def _num(v) -> float:  # noqa: ANN001
    return _opt(v) or 0.0


def monthly_sub_items(monthly_balances: Mapping[int, pd.DataFrame], building_code: str) -> dict[str, tuple]:
    """sub_item -> 12 monthly kWh (January first) of one building, from 12 monthly balance frames."""
    out = {}
    for s in SUB_ITEMS:
        col = f"{s}_kwh"
        out[s] = tuple(_num(monthly_balances[m].at[building_code, col])
                       if m in monthly_balances and building_code in monthly_balances[m].index
                       and col in monthly_balances[m] else 0.0 for m in range(1, 13))
    return out


def annual_fuels(monthly_balances: Mapping[int, pd.DataFrame]) -> pd.DataFrame:
    """Annual fuel quantities per building: the sum of the 12 monthly balances (contiguous local months)."""
    frames = [f[[c for c in FUEL_COLUMNS.values() if c in f]] for f in monthly_balances.values() if len(f)]
    if not frames:
        return pd.DataFrame()
    return pd.concat(frames).groupby(level=0).sum()


def figures_of(*, year: int, building_code: str, row: pd.Series, fuels: pd.Series | None,
               monthly_kwh: Mapping[str, tuple], region: str | None = None) -> Figures:
    """The figures of one building.

    Parameters
    ----------
    year : int
        Reporting (calendar) year.
    building_code : str
        The building.
    row : Series
        The building's row of ``analytics.service.annual_frame`` (units in the column names:
        ``energy_tce`` [tce], ``electricity_kwh`` [kWh], ``eui_kgce_per_m2`` [kgce/(m2.a)], ...).
    fuels : Series or None
        Annual quantities of the non-electric carriers in their base units ([m3], [kg], [kWh]).
    monthly_kwh : mapping
        sub_item -> 12 monthly values, January first. [kWh]
    region : str, optional
        ``CN-<province>`` for regional conversion factors (``equal_value`` basis).
    """
    basis = str(row["basis"])
    carriers = [CarrierUse(carrier="electricity", quantity=_num(row["electricity_kwh"]), unit="kwh",
                           energy_tce=_num(row["electricity_tce"]))]
    if fuels is not None:
        q = {c: float(fuels[c]) for c in fuels.index if float(fuels[c]) > 0}
        split = energy_tce(q, basis=basis, region=region).fuels_tce if q else {}
        carriers += [CarrierUse(carrier=carrier, quantity=q[col], unit=_UNIT[col], energy_tce=float(split[carrier]))
                     for carrier, col in FUEL_COLUMNS.items() if col in q]
    gen = _num(row.get("pv_generation_kwh"))
    ev_kwh = _num(row.get("ev_energy_kwh"))
    rank = _opt(row.get("rank_in_type"))
    status = row.get("quota_status")
    source = row.get("quota_source")
    return Figures(
        building_code=building_code, building_name=str(row["name"]), district=str(row["district"]),
        building_type=str(row["building_type"]), ownership=str(row["ownership"]),
        floor_area_m2=float(row["floor_area_m2"]), occupants=int(row["occupants"]), year=year,
        conversion_basis=basis, factor_table_version=str(row["table_version"]), carriers=tuple(carriers),
        electricity_kwh=_num(row["electricity_kwh"]),
        electricity_by_sub_item_kwh={s: _num(row.get(f"{s}_kwh")) for s in SUB_ITEMS},
        monthly_electricity_by_sub_item_kwh=dict(monthly_kwh),
        energy_tce=_num(row["energy_tce"]), eui_kgce_per_m2=_num(row["eui_kgce_per_m2"]),
        eui_electricity_kwh_per_m2=_num(row["eui_electricity_kwh_per_m2"]),
        energy_kgce_per_person=_opt(row.get("energy_kgce_per_person")),
        quota_guide_kwh_per_m2=_opt(row.get("guide_value")),
        quota_constraint_kwh_per_m2=_opt(row.get("constraint_value")),
        quota_status=str(status) if isinstance(status, str) else "no_quota",
        quota_source=str(source) if isinstance(source, str) else None,
        rank_in_type=None if rank is None else int(rank),
        buildings_in_type=None if rank is None else int(row["buildings_in_type"]),
        electrification_share=_opt(row.get("electrification_share")),
        renewable_substitution_rate=_opt(row.get("renewable_substitution_rate")),
        pv=PvFigures(generation_kwh=gen, to_grid_kwh=_num(row.get("pv_to_grid_kwh")),
                     self_consumed_kwh=_num(row.get("pv_self_consumed_kwh")),
                     self_consumption=_opt(row.get("pv_self_consumption")),
                     self_sufficiency=_opt(row.get("pv_self_sufficiency"))) if gen > 0 else None,
        ev=EvFigures(energy_kwh=ev_kwh, pv_energy_kwh=_num(row.get("ev_pv_energy_kwh")),
                     green_share=_opt(row.get("ev_green_share")), sessions=int(_num(row.get("ev_sessions"))))
        if ev_kwh > 0 else None,
        carbon_tco2=_num(row["carbon_tco2"]),
        grid_emission_factor_kgco2_per_kwh=_num(row.get("grid_factor_kgco2_per_kwh")),
        emission_factor_source=str(row.get("grid_factor_source") or "grid_emission_factors.csv"),
        audit_required=bool(row["audit_triggered"]), audit_triggered_by=str(row["audit_triggered_by"]),
        previous_energy_tce=_opt(row.get("previous_energy_tce")), yoy_energy_tce=_opt(row.get("yoy_energy_tce")),
        coverage=min(1.0, _num(row.get("coverage"))), readings=int(_num(row.get("readings"))),
        expected_readings=int(_num(row.get("expected_readings"))),
    )
