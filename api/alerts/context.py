"""The alert rules' view of analytics: conversion to tce and the quota table.

Kept in one place so the rules use exactly the factors and quotas the indicators use
(analytics/data/*.csv), and the basis is recorded with the result.
"""

from __future__ import annotations

from analytics.energy import FUEL_COLUMNS, energy_tce
from analytics.rollup import ROLLUP_RP
from analytics.tables import DEFAULT_BASIS, quota_table
from api.alerts.engine import Context
from api.alerts.rules import RuleParams
from registry.models import Building


def building_energy_tce(b: Building, by_carrier: dict[str, float], *, basis: str = DEFAULT_BASIS) -> float:
    """Year-to-date energy [tce] from per-carrier use in base units; water is not energy."""
    quantities = {"electricity_from_grid_kwh": by_carrier.get("electricity", 0.0)}
    for carrier, col in FUEL_COLUMNS.items():
        if carrier in by_carrier:
            quantities[col] = by_carrier[carrier]
    return float(energy_tce(quantities, basis=basis).energy_tce)


def quota_constraint_kwh_per_m2(b: Building) -> float | None:
    """The quota's constraint value for the building's type and climate zone, if the table has one."""
    df = quota_table()
    row = df[(df.building_type == b.building_type) & (df.climate_zone == b.climate_zone)
             & (df.metric == "electricity_kwh_per_m2")]
    return None if row.empty else float(row.constraint_value.iloc[0])


def default_context(params: RuleParams | None = None, rollup_rp: str = ROLLUP_RP) -> Context:
    return Context(energy_tce=building_energy_tce, quota_kwh_per_m2=quota_constraint_kwh_per_m2,
                   params=params or RuleParams(), rollup_rp=rollup_rp)
