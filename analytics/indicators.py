"""All indicators of a set of rows (buildings, or districts/city after :func:`aggregate`) from an
annual energy balance frame. Pure: DataFrames in, DataFrames out.

Balance columns (docs/analytics.md; :data:`analytics.balance.BALANCE_FIELDS` as the rollup job
writes them, plus registry attributes): ``electricity_from_grid_kwh``, ``pv_generation_kwh``,
``pv_to_grid_kwh``, the :data:`analytics.energy.FUEL_COLUMNS`, ``main_meter_kwh`` and the four
``<sub_item>_kwh``, ``ev_energy_kwh`` (pile meters), ``ev_session_energy_kwh`` and
``ev_pv_energy_kwh`` (completed sessions), ``ev_sessions``, ``readings``, ``expected_readings``,
``floor_area_m2``, ``occupants`` and ``grid_factor_kgco2_per_kwh``. Missing columns count as 0.
"""

from __future__ import annotations

import pandas as pd

from analytics._num import ratio
from analytics.balance import unmetered_finding
from analytics.compare import SUB_ITEM_COLUMNS, coverage, sub_item_breakdown
from analytics.energy import ELECTRICITY_COLUMNS, FUEL_COLUMNS, energy_tce, pv_self_consumed_kwh
from analytics.energy import electrification_share as _electrification
from analytics.energy import renewable_substitution_rate as _renewable
from analytics.intensity import carbon_emissions_tco2, energy_per_person, energy_use_intensity
from analytics.pv import ev_green_share, pv_export_share, pv_self_consumption, pv_self_sufficiency
from analytics.tables import DEFAULT_BASIS, CoalFactorTable, coal_factors

#: Columns that add up across buildings (everything else is derived from them).
SUM_COLUMNS = (*ELECTRICITY_COLUMNS, *FUEL_COLUMNS.values(), "load_kwh", "main_meter_kwh", *SUB_ITEM_COLUMNS,
               "unmetered_kwh", "water_m3", "ev_energy_kwh", "ev_session_energy_kwh", "ev_pv_energy_kwh", "ev_sessions",
               "readings", "expected_readings", "covered_s", "metered_days", "floor_area_m2", "occupants",
               "floor_area_reporting_m2", "carbon_tco2_input")


def _col(df: pd.DataFrame, name: str) -> pd.Series:
    return df[name].fillna(0.0).astype(float) if name in df else pd.Series(0.0, index=df.index)


def compute_indicators(balance: pd.DataFrame, *, basis: str = DEFAULT_BASIS, region: str | None = None,
                       table: CoalFactorTable | None = None) -> pd.DataFrame:
    """Every indicator of every row of ``balance``.

    Parameters
    ----------
    balance : DataFrame
        Annual (or windowed) balance, one row per building or group; energy columns in [kWh],
        [m3] or [kg] as their suffix says, ``floor_area_m2`` [m2], ``occupants`` [persons],
        ``grid_factor_kgco2_per_kwh`` [kgCO2/kWh] (or ``carbon_tco2_input`` [tCO2] for
        pre-summed groups).
    basis, region, table
        Passed to :func:`analytics.energy.energy_tce`.

    Returns
    -------
    DataFrame
        Same index; ``energy_tce`` [tce], ``electricity_kwh`` [kWh], ``electricity_tce`` [tce],
        shares [-], intensities [kWh/(m2.a)], [kgce/(m2.a)], [kgce/(person.a)], ``carbon_tco2``
        [tCO2], ``coverage`` [-], and the ``basis`` / ``table_version`` used.
    """
    table = table or coal_factors()
    q = {c: _col(balance, c) for c in (*ELECTRICITY_COLUMNS, *FUEL_COLUMNS.values())}
    tce = energy_tce(q, basis=basis, region=region, table=table)
    out = pd.DataFrame(index=balance.index)
    out["energy_tce"] = tce.energy_tce
    out["electricity_kwh"] = tce.electricity_kwh
    out["electricity_from_grid_kwh"] = q["electricity_from_grid_kwh"]
    out["electricity_tce"] = tce.electricity_tce
    for col in FUEL_COLUMNS.values():  # kept so groups can be summed again from this frame
        out[col] = q[col]
    out["electrification_share"] = _electrification(tce.electricity_tce, tce.energy_tce)
    self_kwh = pv_self_consumed_kwh(q["pv_generation_kwh"], q["pv_to_grid_kwh"])
    heat_f = tce.factors_kgce.get("renewable_heat", table.factor("renewable_heat", basis=basis, region=region))
    common = dict(pv_self_consumed_kwh=self_kwh, energy_tce=tce.energy_tce,
                  electricity_factor_kgce_per_kwh=tce.electricity_factor_kgce_per_kwh,
                  renewable_heat_kwh=q["renewable_heat_kwh"], heat_factor_kgce_per_kwh=heat_f,
                  pv_to_grid_kwh=q["pv_to_grid_kwh"])
    out["renewable_substitution_rate"] = _renewable(**common)
    out["renewable_substitution_rate_with_export"] = _renewable(**common, count_export=True)
    out["pv_generation_kwh"] = q["pv_generation_kwh"]
    out["pv_to_grid_kwh"] = q["pv_to_grid_kwh"]
    out["pv_self_consumed_kwh"] = self_kwh
    out["pv_self_consumption"] = pv_self_consumption(q["pv_generation_kwh"], q["pv_to_grid_kwh"])
    out["pv_export_share"] = pv_export_share(q["pv_generation_kwh"], q["pv_to_grid_kwh"])
    out["pv_self_sufficiency"] = pv_self_sufficiency(q["electricity_from_grid_kwh"], q["pv_generation_kwh"],
                                                     q["pv_to_grid_kwh"])
    for c in ("ev_energy_kwh", "ev_session_energy_kwh", "ev_pv_energy_kwh", "ev_sessions"):
        out[c] = _col(balance, c)
    out["ev_green_share"] = ev_green_share(out["ev_session_energy_kwh"], out["ev_pv_energy_kwh"])
    out["water_m3"] = _col(balance, "water_m3")
    area = _col(balance, "floor_area_m2")
    out["floor_area_m2"] = area
    out["eui_electricity_kwh_per_m2"] = energy_use_intensity(tce.electricity_kwh, area)
    out["eui_kgce_per_m2"] = energy_use_intensity(tce.energy_tce * 1000.0, area)
    out["energy_kgce_per_person"] = energy_per_person(tce.energy_tce * 1000.0, _col(balance, "occupants"))
    if "carbon_tco2_input" in balance:
        out["carbon_tco2"] = _col(balance, "carbon_tco2_input")
    else:
        out["carbon_tco2"] = carbon_emissions_tco2(q["electricity_from_grid_kwh"],
                                                   _col(balance, "grid_factor_kgco2_per_kwh"))
    subs = pd.DataFrame({c: _col(balance, c) for c in SUB_ITEM_COLUMNS})
    for c in SUB_ITEM_COLUMNS:
        out[c] = subs[c]
    # Sub-items split the main meter (the building's load); without one, all electricity used.
    main = _col(balance, "main_meter_kwh")
    out["main_meter_kwh"] = main
    out = out.join(sub_item_breakdown(subs, main.where(main > 0, out["electricity_kwh"])))
    if "unmetered_kwh" in balance:
        # The balance's remainder (main meter minus its sub-meters, day by day, where both exist).
        out["unmetered_kwh"] = _col(balance, "unmetered_kwh")
        out["unmetered_share"] = ratio(out["unmetered_kwh"], main)
    out["unmetered_finding"] = unmetered_finding(_col(out, "unmetered_kwh").where(main > 0, 0.0), main)
    out["load_kwh"] = _col(balance, "load_kwh")
    out["covered_s"] = _col(balance, "covered_s")
    out["metered_days"] = _col(balance, "metered_days")
    out["readings"] = _col(balance, "readings")
    out["expected_readings"] = _col(balance, "expected_readings")
    out["coverage"] = coverage(out["readings"], out["expected_readings"])
    out["basis"] = tce.basis
    out["table_version"] = tce.table_version
    return out


def aggregate(balance: pd.DataFrame, by: str | pd.Series | None = None) -> pd.DataFrame:
    """Sum the additive balance columns per group (``by`` a column name or Series), or over all
    rows (``by=None``, one row named ``city``). Ratios are then recomputed from the sums by
    :func:`compute_indicators`, never averaged: a district's share is its total renewable over
    its total energy.

    Carbon is summed as ``carbon_tco2_input`` because grid factors may differ between rows.
    """
    df = balance.copy()
    if "carbon_tco2_input" not in df:
        df["carbon_tco2_input"] = carbon_emissions_tco2(_col(df, "electricity_from_grid_kwh"),
                                                        _col(df, "grid_factor_kgco2_per_kwh"))
    cols = [c for c in SUM_COLUMNS if c in df]
    df["buildings"] = 1
    if by is None:
        summed = df[[*cols, "buildings"]].sum().to_frame("city").T
        summed.index.name = "scope"
        return summed
    return df.groupby(by)[[*cols, "buildings"]].sum()
