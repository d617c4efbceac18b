"""InfluxQL for the plan indicators shown on the dashboards: energy in tonnes of standard coal
(tce), the audit threshold, electrification share and renewable substitution.

The analytics package computes the authoritative figures; the dashboards need the same
quantities as live queries. The conversion factors are kept here as data with their source
(GB/T 2589-2020, equivalent-value basis for electricity) and rendered into the queries; they
mirror analytics/data/coal_factors.csv (a test keeps the two equal).
"""

from __future__ import annotations

from dataclasses import dataclass

from contract.vocabulary import Carrier
from dashboards.influxql import TIME_FILTER, Measurement, Select, agg, col, eq, number, sums

AUDIT_ELECTRICITY_KWH = 5_000_000  # Leshan plan: "5 million kilowatt-hours of electricity"
AUDIT_ENERGY_TCE = 1000  # Leshan plan: "1000 tons of standard coal"
#: Plan targets drawn on the gauges (docs/reference.md section 3).
ELECTRIFICATION_TARGET_2030 = 0.65
RENEWABLE_TARGET_2030 = 0.09


@dataclass(frozen=True)
class CoalFactor:
    carrier: Carrier
    field: str  # stored consumption field of that carrier
    kgce_per_unit: float  # [kgce per kWh, m3 or kg]
    source: str
    verified: bool

    @property
    def tce_per_unit(self) -> float:
        """[tce per kWh, m3 or kg]"""
        return self.kgce_per_unit / 1000


COAL_FACTORS: tuple[CoalFactor, ...] = (
    CoalFactor(Carrier.electricity, "consumption_kwh", 0.1229, "GB/T 2589-2020, equivalent value", True),
    CoalFactor(Carrier.natural_gas, "consumption_m3", 1.2143, "GB/T 2589-2020 reference value", False),
    CoalFactor(Carrier.lpg, "consumption_kg", 1.7143, "GB/T 2589-2020 Appendix A, second-hand", False),
    CoalFactor(Carrier.manufactured_gas, "consumption_m3", 0.5714, "GB/T 2589-2020, coke-oven gas lower bound",
               False),
    # 0.03412 kgce/MJ x 3.6 MJ/kWh: heat is stored in kWh (docs/glossary.md).
    CoalFactor(Carrier.district_heat, "consumption_kwh", 0.122832, "GB/T 2589-2020", True),
    # Platform choice (analytics/data/coal_factors.csv): delivered cooling at the heat factor.
    CoalFactor(Carrier.district_cooling, "consumption_kwh", 0.122832, "platform choice", False),
    CoalFactor(Carrier.diesel, "consumption_kg", 1.4571, "GB/T 2589-2020", True),
    CoalFactor(Carrier.gasoline, "consumption_kg", 1.4714, "GB/T 2589-2020", True),
    CoalFactor(Carrier.coal, "consumption_kg", 0.7143, "GB/T 2589-2020, raw coal", True),
)
ELECTRICITY = COAL_FACTORS[0]


def _carrier_rows(f: CoalFactor, measurement: str | Measurement, where: tuple[str, ...],
                  group_by: tuple[str, ...]) -> Select:
    is_el = f.carrier is Carrier.electricity
    # Only the incoming (main) meter counts: sub-meters split the same energy by sub-item.
    cond = (eq("carrier", f.carrier.value), *((eq("sub_item", "main"),) if is_el else ()))
    fields = (
        agg("sum", f.field, alias="electricity_from_grid_kwh", scale=None if is_el else 0.0),
        agg("sum", f.field, alias="energy_tce", scale=f.tce_per_unit),
    )
    return Select(fields, (measurement,), (*cond, *where, TIME_FILTER), group_by)


def energy_by_building(measurement: str | Measurement, where: tuple[str, ...]) -> Select:
    """Per building: grid electricity [kWh] and energy of all metered carriers [tce].

    Every member of the union yields both fields (zero where not applicable) because InfluxDB
    1.6 drops a field that only later members of a union carry.
    """
    group = ("building_code",)
    members = tuple(_carrier_rows(f, measurement, where, group) for f in COAL_FACTORS)
    return Select(sums("electricity_from_grid_kwh", "energy_tce"), members, group_by=group)


def audit_list(measurement: str | Measurement, where: tuple[str, ...]) -> Select:
    """Buildings at or over either audit test: electricity >= 5,000,000 kWh OR energy >= 1000 tce.

    Besides both quantities, each test's value as a share of its threshold (``*_of_threshold``,
    >= 1 where that test triggers), so the list says which test triggered and by how much.
    """
    fields = (col("electricity_from_grid_kwh"), col("energy_tce"),
              f'"electricity_from_grid_kwh" / {AUDIT_ELECTRICITY_KWH} AS "electricity_of_threshold"',
              f'"energy_tce" / {AUDIT_ENERGY_TCE} AS "energy_of_threshold"')
    return Select(fields, (energy_by_building(measurement, where),),
                  (f'"electricity_from_grid_kwh" >= {AUDIT_ELECTRICITY_KWH} OR "energy_tce" >= {AUDIT_ENERGY_TCE}',),
                  ("building_code",))


def top_by(field_name: str, inner: Select, n: int = 10) -> Select:
    return Select((f'top("{field_name}", "building_code", {int(n)}) AS "{field_name}"',), (inner,))


def grid_electricity_tce(measurement: str | Measurement, where: tuple[str, ...]) -> Select:
    """Electricity imported through the main meters, all selected buildings. [tce]"""
    return Select((agg("sum", "consumption_kwh", alias="grid_tce", scale=ELECTRICITY.tce_per_unit),),
                  (measurement,), (eq("carrier", "electricity"), eq("sub_item", "main"), *where, TIME_FILTER))


def other_carriers_tce(measurement: str | Measurement, where: tuple[str, ...]) -> Select:
    """Gas, district heat and other fuels of the selected buildings. [tce]"""
    members = tuple(
        Select((agg("sum", f.field, alias="fuel_tce", scale=f.tce_per_unit),), (measurement,),
               (eq("carrier", f.carrier.value), *where, TIME_FILTER))
        for f in COAL_FACTORS if f.carrier is not Carrier.electricity)
    return Select((agg("sum", "fuel_tce", alias="fuel_tce"),), members)


def pv_generation_export(measurement: str | Measurement, where: tuple[str, ...],
                         group_by: tuple[str, ...] = ()) -> Select:
    """PV generation and export to the grid [kWh], as fields ``generation_kwh`` and ``to_grid_kwh``.

    A union, so that a building whose PV has no grid meter (inverter only, no export known)
    still yields its generation with zero export instead of a null difference.
    """
    gen = Select((agg("sum", "generation_kwh", alias="generation_kwh"),
                  agg("sum", "generation_kwh", alias="to_grid_kwh", scale=0.0)),
                 (measurement,), (*where, TIME_FILTER), group_by)
    exp = Select((agg("sum", "to_grid_kwh", alias="generation_kwh", scale=0.0),
                  agg("sum", "to_grid_kwh", alias="to_grid_kwh")),
                 (measurement,), (eq("device_kind", "pv_meter"), *where, TIME_FILTER), group_by)
    return Select(sums("generation_kwh", "to_grid_kwh"), (gen, exp), group_by=group_by)


def pv_self_consumed_tce(measurement: str | Measurement, where: tuple[str, ...]) -> Select:
    """PV generation minus export, on the electricity basis. [tce]

    Only systems with a grid meter (``pv_meter``) know their export; an inverter-only system
    counts as fully self-consumed.
    """
    k = ELECTRICITY.tce_per_unit
    return Select((f'("generation_kwh" - "to_grid_kwh") * {number(k)} AS "pv_self_tce"',),
                  (pv_generation_export(measurement, where),))


def pv_self_consumption_share(measurement: str | Measurement, where: tuple[str, ...]) -> Select:
    """Per building: (generation - export) / generation. [1]"""
    return Select(('("generation_kwh" - "to_grid_kwh") / "generation_kwh" AS "self_consumption"',),
                  (pv_generation_export(measurement, where, ("building_code",)),), group_by=("building_code",))


def electrification_expression(grid: str, fuel: str, pv: str) -> str:
    """Grafana math: electricity (grid + PV self-consumed) / all energy, both in tce."""
    return f"(${grid} + ${pv}) / (${grid} + ${fuel} + ${pv})"


def renewable_expression(grid: str, fuel: str, pv: str) -> str:
    """Grafana math: PV self-consumed / all energy (default definition, export not counted)."""
    return f"${pv} / (${grid} + ${fuel} + ${pv})"
