"""Energy use intensity against a quota table, and carbon emissions with grid factors.

References
----------
.. [1] GB/T 51161-2016, Standard for energy consumption of civil buildings (constraint and guide
   values by building type and climate zone). The shipped quota table holds EXAMPLE values.
.. [2] MEE / NBS, 2022 electricity CO2 emission factors (2024): 0.5366 kgCO2/kWh national.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from analytics._num import arr, like, ratio
from analytics.audit import MIN_COVERAGE

QUOTA_ABOVE_CONSTRAINT = "above_constraint"
QUOTA_ABOVE_GUIDE = "above_guide"
QUOTA_WITHIN_GUIDE = "within_guide"
#: No quota standard for the type and zone: no row, or only EXAMPLE rows (never a standard).
QUOTA_NO_QUOTA = "no_quota"
#: Within the guide value, but on too little data to say so (analytics.audit.MIN_COVERAGE).
QUOTA_INSUFFICIENT_DATA = "insufficient_data"


def energy_use_intensity(energy, floor_area_m2):
    r"""Energy per floor area, :math:`I = Q / A`.

    Parameters
    ----------
    energy : numeric
        Annual energy, e.g. electricity [kWh] or comprehensive energy [kgce].
    floor_area_m2 : numeric
        Floor area. [m2]

    Returns
    -------
    numeric
        Intensity [unit of ``energy`` per m2 and year]; NaN for a non-positive area.
    """
    return ratio(energy, floor_area_m2)


def energy_per_person(energy, occupants):
    r"""Energy per occupant, :math:`Q / N` [unit of ``energy`` per person and year]; NaN where
    ``occupants`` is zero (unknown).

    Parameters
    ----------
    energy : numeric
        Annual energy [kWh or kgce].
    occupants : numeric
        Regular occupants. [persons]
    """
    return ratio(energy, occupants)


def quota_status(intensity, constraint_value, guide_value, coverage=None, min_coverage: float = MIN_COVERAGE):
    r"""Compare an intensity with its quota (same unit, e.g. [kWh/(m2.a)]).

    Parameters
    ----------
    intensity : numeric
        Actual intensity.
    constraint_value : numeric
        Constraint value (upper limit); NaN where no quota applies.
    guide_value : numeric
        Guide (target) value, at most the constraint.
    coverage : numeric, optional
        Share of the period measured [-]; a ``within_guide`` verdict below ``min_coverage`` is
        ``insufficient_data`` (too little data to reassure; docs/analytics.md "Coverage rule").
        Above a value is evidence on any coverage (missing data only lowers the intensity).

    Returns
    -------
    status : str or Series
        ``above_constraint`` (> constraint), ``above_guide`` (> guide), ``within_guide``,
        ``insufficient_data``, or ``no_quota`` (no quota standard or no intensity).
    ratio_to_constraint : numeric
        intensity / constraint [-].
    """
    x, c, g = arr(intensity), arr(constraint_value), arr(guide_value)
    with np.errstate(invalid="ignore"):
        status = np.where(np.isnan(x) | np.isnan(c), QUOTA_NO_QUOTA,
                          np.where(x > c, QUOTA_ABOVE_CONSTRAINT,
                                   np.where(x > g, QUOTA_ABOVE_GUIDE, QUOTA_WITHIN_GUIDE)))
    if coverage is not None:
        short = np.nan_to_num(arr(coverage), nan=0.0) < min_coverage
        status = np.where((status == QUOTA_WITHIN_GUIDE) & short, QUOTA_INSUFFICIENT_DATA, status)
    r = ratio(intensity, constraint_value)
    if isinstance(r, pd.Series):
        return pd.Series(status, index=r.index), r
    return (str(status) if np.ndim(status) == 0 else status), r


def lookup_quota(quota: pd.DataFrame, building_type: pd.Series, climate_zone: pd.Series,
                 metric: str = "electricity_kwh_per_m2") -> pd.DataFrame:
    """Quota columns (``constraint_value``, ``guide_value``, ``quota_source``) aligned with the
    buildings; NaN where the table has no real row for a type/zone. EXAMPLE rows (the shipped
    placeholder table) are never used as a standard: the verdict is ``no_quota``."""
    real = quota[(quota.metric == metric) & ~quota.is_example]
    q = real[["building_type", "climate_zone", "constraint_value", "guide_value", "source"]]
    left = pd.DataFrame({"building_type": building_type.values, "climate_zone": climate_zone.values},
                        index=building_type.index)
    merged = left.reset_index().merge(q, how="left", on=["building_type", "climate_zone"])
    merged = merged.set_index(left.index.name or "index")
    return merged[["constraint_value", "guide_value", "source"]].rename(columns={"source": "quota_source"})


def carbon_emissions_tco2(electricity_from_grid_kwh, grid_factor_kgco2_per_kwh):
    r"""Location-based emissions of grid electricity.

    .. math:: C = E_{grid} \cdot f_{grid} / 1000

    Self-consumed PV emits nothing and exported PV earns no credit. Fuel combustion (scope 1) is
    not included: the platform has no verified fuel emission factor table yet.

    Parameters
    ----------
    electricity_from_grid_kwh : numeric
        Grid import. [kWh]
    grid_factor_kgco2_per_kwh : numeric
        Grid emission factor for the year and region. [kgCO2/kWh]

    Returns
    -------
    numeric
        Emissions [tCO2].
    """
    return like(arr(electricity_from_grid_kwh) * arr(grid_factor_kgco2_per_kwh) / 1000.0,
                electricity_from_grid_kwh, grid_factor_kgco2_per_kwh)


def quota_for(quota: pd.DataFrame, building_type: str, climate_zone: str,
              metric: str = "electricity_kwh_per_m2") -> tuple[float, float] | None:
    """(constraint, guide) of one type and zone, or None without a real (non-EXAMPLE) row. [kWh/(m2.a)]"""
    q = lookup_quota(quota, pd.Series([building_type]), pd.Series([climate_zone]), metric)
    c, g = q.constraint_value.iloc[0], q.guide_value.iloc[0]
    return None if pd.isna(c) else (float(c), float(g))
