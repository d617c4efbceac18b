"""InfluxQL for the plan indicators shown on the dashboards: energy in tonnes of standard coal
(tce), the audit threshold, electrification share and renewable substitution.

Every energy figure reads the building energy balance the rollup job writes (``building_1d``,
analytics/balance.py): grid import, electricity used (grid + self-consumed PV, EV included), PV
self-consumption and each fuel are computed once there, never re-derived in a query. The
coal factors come from analytics' table (analytics/data/coal_factors.csv, equivalent basis) and
the audit thresholds from analytics/audit.py; both are rendered into the queries when
``python -m dashboards build`` runs.
"""

from __future__ import annotations

from analytics.audit import ELECTRICITY_THRESHOLD_KWH, ENERGY_THRESHOLD_TCE
from analytics.energy import FUEL_COLUMNS
from analytics.tables import DEFAULT_BASIS, coal_factors, plan_targets
from dashboards.influxql import TIME_FILTER, Measurement, Select, col, number

#: The audit thresholds (analytics.audit), for the panels' colour thresholds.
AUDIT_ELECTRICITY_KWH = int(ELECTRICITY_THRESHOLD_KWH)
AUDIT_ENERGY_TCE = int(ENERGY_THRESHOLD_TCE)


def plan_target(indicator: str, year: int = 2030) -> float:
    """A plan target from analytics' table (analytics/data/plan_targets.csv), drawn on a gauge."""
    t = plan_targets()
    return float(t[(t.indicator == indicator) & (t.year == year)].target.iloc[0])


#: Plan targets drawn on the gauges.
ELECTRIFICATION_TARGET_2030 = plan_target("electrification_share")
RENEWABLE_TARGET_2030 = plan_target("renewable_substitution_rate")


def tce_per_unit() -> dict[str, float]:
    """Balance column -> tce per kWh, m3 or kg (GB/T 2589-2020 table, equivalent basis)."""
    f = coal_factors().factors(basis=DEFAULT_BASIS)
    return {"electricity_kwh": f["electricity"] / 1000,
            **{column: f[carrier] / 1000 for carrier, column in FUEL_COLUMNS.items()}}


def _tce(columns: list[str]) -> str:
    k = tce_per_unit()
    return " + ".join(f'sum("{c}") * {number(k[c])}' for c in columns)


def energy_by_building(measurement: str | Measurement, where: tuple[str, ...]) -> Select:
    """Per building: grid import and electricity used [kWh], energy of all carriers [tce].

    Energy = electricity used x f_el + each fuel x its factor (analytics.energy.energy_tce).
    """
    fields = ('sum("electricity_from_grid_kwh") AS "electricity_from_grid_kwh"',
              'sum("electricity_kwh") AS "electricity_kwh"',
              f'{_tce(["electricity_kwh", *FUEL_COLUMNS.values()])} AS "energy_tce"')
    return Select(fields, (measurement,), (*where, TIME_FILTER), ("building_code",))


def audit_list(measurement: str | Measurement, where: tuple[str, ...]) -> Select:
    """Buildings at or over either audit test: electricity used >= 5,000,000 kWh OR energy >=
    1000 tce (analytics.audit's thresholds and quantities).

    Besides both quantities, each test's value as a share of its threshold (``*_of_threshold``,
    >= 1 where that test triggers), so the list says which test triggered and by how much.
    """
    fields = (col("electricity_kwh"), col("energy_tce"),
              f'"electricity_kwh" / {AUDIT_ELECTRICITY_KWH} AS "electricity_of_threshold"',
              f'"energy_tce" / {AUDIT_ENERGY_TCE} AS "energy_of_threshold"')
    return Select(fields, (energy_by_building(measurement, where),),
                  (f'"electricity_kwh" >= {AUDIT_ELECTRICITY_KWH} OR "energy_tce" >= {AUDIT_ENERGY_TCE}',),
                  ("building_code",))


def top_by(field_name: str, inner: Select, n: int = 10) -> Select:
    return Select((f'top("{field_name}", "building_code", {int(n)}) AS "{field_name}"',), (inner,))


def shares_parts(measurement: str | Measurement, where: tuple[str, ...]) -> tuple[Select, ...]:
    """Grid import, fuels (metered renewable heat included, as analytics counts it in energy),
    self-consumed PV and metered renewable heat of the selected buildings, each in tce (fields
    ``grid_tce``, ``fuel_tce``, ``pv_self_tce``, ``renewable_heat_tce``)."""
    k = tce_per_unit()
    sel = (*where, TIME_FILTER)
    return (Select((f'sum("electricity_from_grid_kwh") * {number(k["electricity_kwh"])} AS "grid_tce"',),
                   (measurement,), sel),
            Select((f'{_tce(list(FUEL_COLUMNS.values()))} AS "fuel_tce"',), (measurement,), sel),
            Select((f'sum("pv_self_consumed_kwh") * {number(k["electricity_kwh"])} AS "pv_self_tce"',),
                   (measurement,), sel),
            Select((f'sum("renewable_heat_kwh") * {number(k["renewable_heat_kwh"])} AS "renewable_heat_tce"',),
                   (measurement,), sel))


def pv_self_consumption_share(measurement: str | Measurement, where: tuple[str, ...]) -> Select:
    """Per building with PV: self-consumed / generation from the balance. [1]"""
    return Select(('sum("pv_self_consumed_kwh") / sum("pv_generation_kwh") AS "self_consumption"',),
                  (measurement,), ('"pv_generation_kwh" > 0', *where, TIME_FILTER), ("building_code",))


def electrification_expression(grid: str, fuel: str, pv: str) -> str:
    """Grafana math: electricity used (grid + PV self-consumed) / all energy, both in tce."""
    return f"(${grid} + ${pv}) / (${grid} + ${fuel} + ${pv})"


def renewable_expression(grid: str, fuel: str, pv: str, heat: str) -> str:
    """Grafana math: (PV self-consumed + metered renewable heat) / all energy (export not counted)."""
    return f"(${pv} + ${heat}) / (${grid} + ${fuel} + ${pv})"
