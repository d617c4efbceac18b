"""Comprehensive energy consumption in tonnes of standard coal equivalent, electrification share
and renewable substitution rate (docs/reference.md section 3).

All functions are pure: quantities in, indicators out, scalars or pandas Series (index kept).
Quantities use the stored field names of docs/glossary.md plus the balance columns of
docs/analytics.md: ``electricity_from_grid_kwh``, ``pv_generation_kwh``, ``pv_to_grid_kwh`` and one
column per other carrier in its base unit (``natural_gas_m3``, ``district_heat_kwh``, ...).

References
----------
.. [1] GB/T 2589-2020, General principles for calculation of the comprehensive energy consumption.
.. [2] MOHURD, 14th Five-Year Plan for building energy efficiency and green buildings (2022).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from analytics._num import arr, like, ratio
from analytics.tables import DEFAULT_BASIS, CoalFactorTable, coal_factors

#: Non-electric carriers of the building energy balance and their column (base unit suffix).
FUEL_COLUMNS: dict[str, str] = {
    "natural_gas": "natural_gas_m3",
    "lpg": "lpg_kg",
    "manufactured_gas": "manufactured_gas_m3",
    "district_heat": "district_heat_kwh",
    "district_cooling": "district_cooling_kwh",
    "diesel": "diesel_kg",
    "gasoline": "gasoline_kg",
    "coal": "coal_kg",
    "renewable_heat": "renewable_heat_kwh",
}
ELECTRICITY_COLUMNS = ("electricity_from_grid_kwh", "pv_generation_kwh", "pv_to_grid_kwh")


@dataclass
class TceResult:
    """Comprehensive energy consumption of one building (floats) or many (Series).

    ``basis`` and ``table_version`` record how electricity was converted.
    """

    energy_tce: Any
    electricity_kwh: Any
    electricity_tce: Any
    fuels_tce: dict[str, Any]
    basis: str
    table_version: str
    electricity_factor_kgce_per_kwh: float
    factors_kgce: dict[str, float] = field(default_factory=dict)


def pv_self_consumed_kwh(pv_generation_kwh, pv_to_grid_kwh):
    r"""PV energy used on site.

    .. math:: E_{self} = E_{gen} - E_{export}

    Parameters
    ----------
    pv_generation_kwh : numeric
        PV generation in the period. [kWh]
    pv_to_grid_kwh : numeric
        PV energy exported to the grid in the period. [kWh]

    Returns
    -------
    numeric
        Self-consumed PV energy [kWh]; NaN where the export exceeds the generation (impossible
        data, not silently clipped).
    """
    g, e = arr(pv_generation_kwh), arr(pv_to_grid_kwh)
    out = np.where(e <= g + 1e-9, g - e, np.nan)
    return like(out, pv_generation_kwh, pv_to_grid_kwh)


def electricity_use_kwh(electricity_from_grid_kwh, pv_generation_kwh=0.0, pv_to_grid_kwh=0.0):
    r"""Building electricity use: grid import plus self-consumed PV.

    .. math:: E_{el} = E_{grid} + (E_{gen} - E_{export})

    Parameters
    ----------
    electricity_from_grid_kwh : numeric
        Electricity imported from the grid (main meters). [kWh]
    pv_generation_kwh : numeric
        On-site PV generation. [kWh]
    pv_to_grid_kwh : numeric
        PV exported to the grid. [kWh]

    Returns
    -------
    numeric
        Electricity used in the building. [kWh]
    """
    self_kwh = pv_self_consumed_kwh(pv_generation_kwh, pv_to_grid_kwh)
    return like(arr(electricity_from_grid_kwh) + arr(self_kwh), electricity_from_grid_kwh, self_kwh)


def energy_tce(quantities: Mapping[str, Any], *, basis: str = DEFAULT_BASIS, region: str | None = None,
               table: CoalFactorTable | None = None) -> TceResult:
    r"""Comprehensive energy consumption in tonnes of standard coal equivalent (GB/T 2589-2020).

    .. math:: E = \frac{1}{1000}\left(f_{el} E_{el} + \sum_c f_c Q_c\right)

    where :math:`E_{el}` is grid import plus self-consumed PV and :math:`Q_c` the other carriers.

    Parameters
    ----------
    quantities : mapping or DataFrame
        Columns ``electricity_from_grid_kwh`` [kWh], ``pv_generation_kwh`` [kWh],
        ``pv_to_grid_kwh`` [kWh] and any of :data:`FUEL_COLUMNS` in their base unit
        ([m3], [kg] or [kWh]). Missing columns count as zero. ``water_m3`` and other non-energy
        columns are ignored.
    basis : {'equivalent_gbt2589', 'equal_value'}
        Electricity conversion basis: calorific equivalent 0.1229 kgce/kWh, or the equal-value
        (coal burned per kWh generated) factor of ``region`` from the table.
    region : str, optional
        ``CN-<2-digit province code>`` for regional factors (needed for ``equal_value``).
    table : CoalFactorTable, optional
        Factor table; default the shipped GB/T 2589-2020 table.

    Returns
    -------
    TceResult
        ``energy_tce`` [tce], ``electricity_kwh`` [kWh], ``electricity_tce`` [tce],
        ``fuels_tce`` per carrier [tce], and the basis, table version and factors used.

    Raises
    ------
    ValueError
        Unknown basis, no factor for the basis/region, or a negative quantity (named).

    References
    ----------
    .. [1] GB/T 2589-2020, Appendix A.
    """
    table = table or coal_factors()
    for col, v in quantities.items():
        if col in (*ELECTRICITY_COLUMNS, *FUEL_COLUMNS.values()) and np.nanmin(arr(v), initial=0.0) < 0:
            raise ValueError(f"{col} must not be negative, got {np.nanmin(arr(v))}")
    f_el = table.factor("electricity", basis=basis, region=region)
    get = quantities.get
    el_kwh = electricity_use_kwh(get("electricity_from_grid_kwh", 0.0), get("pv_generation_kwh", 0.0),
                                 get("pv_to_grid_kwh", 0.0))
    el_tce = like(arr(el_kwh) * f_el / 1000.0, el_kwh)
    total = arr(el_tce)
    fuels, factors = {}, {"electricity": f_el}
    for carrier, col in FUEL_COLUMNS.items():
        if col not in quantities:
            continue
        f = table.factor(carrier, basis=basis, region=region)
        factors[carrier] = f
        fuels[carrier] = like(arr(quantities[col]) * f / 1000.0, quantities[col])
        total = total + arr(fuels[carrier])
    return TceResult(energy_tce=like(total, el_tce, *fuels.values()), electricity_kwh=el_kwh,
                     electricity_tce=el_tce, fuels_tce=fuels, basis=basis, table_version=table.version,
                     electricity_factor_kgce_per_kwh=f_el, factors_kgce=factors)


def electrification_share(electricity_tce, energy_tce):
    r"""Share of building energy use that is electricity, both in tce on the same basis.

    .. math:: s_{el} = E_{el} / E

    Parameters
    ----------
    electricity_tce : numeric
        Electricity used (grid import + self-consumed PV), converted. [tce]
    energy_tce : numeric
        Comprehensive energy consumption. [tce]

    Returns
    -------
    numeric
        Share in [0, 1] [-]; NaN where energy is zero.

    References
    ----------
    .. [1] MOHURD 14th Five-Year building energy plan: electricity above 55% of building energy
       use by 2025; Leshan carbon-peak plan: above 65% by 2030.
    """
    return ratio(electricity_tce, energy_tce)


def renewable_substitution_rate(*, pv_self_consumed_kwh, energy_tce, electricity_factor_kgce_per_kwh,
                                renewable_heat_kwh=0.0, heat_factor_kgce_per_kwh=0.122832,
                                pv_to_grid_kwh=0.0, count_export: bool = False):
    r"""Renewable substitution rate: renewable energy used by the building over its energy use.

    Default (``count_export=False``, the building view):

    .. math:: r = \frac{f_{el} E_{self} + f_{h} H_{ren}}{E}

    Alternative (``count_export=True``, the city view): exported PV also displaces fossil
    generation, so :math:`f_{el} E_{export}` is added to the numerator (the denominator stays the
    building's own use, so the rate can exceed 1 for a building that exports a lot).

    Parameters
    ----------
    pv_self_consumed_kwh : numeric
        PV generation minus export. [kWh]
    energy_tce : numeric
        Comprehensive energy consumption, which includes the renewable energy used. [tce]
    electricity_factor_kgce_per_kwh : float
        The electricity factor of the basis used for ``energy_tce``. [kgce/kWh]
    renewable_heat_kwh : numeric
        Metered solar-thermal / heat-pump renewable heat, where present. [kWh]
    heat_factor_kgce_per_kwh : float
        Heat conversion factor (GB/T 2589-2020: 0.03412 kgce/MJ). [kgce/kWh]
    pv_to_grid_kwh : numeric
        Exported PV, counted only with ``count_export``. [kWh]
    count_export : bool
        Use the city-view alternative.

    Returns
    -------
    numeric
        Rate [-]; in [0, 1] by default; NaN where energy is zero.

    References
    ----------
    .. [1] Guang'an carbon-peak plan: urban building renewable replacement rate 8% by 2025;
       Leshan plan: 9% by 2030.
    """
    ren_kgce = arr(pv_self_consumed_kwh) * electricity_factor_kgce_per_kwh \
        + arr(renewable_heat_kwh) * heat_factor_kgce_per_kwh
    if count_export:
        ren_kgce = ren_kgce + arr(pv_to_grid_kwh) * electricity_factor_kgce_per_kwh
    ren_tce = like(ren_kgce / 1000.0, pv_self_consumed_kwh, renewable_heat_kwh, pv_to_grid_kwh)
    return ratio(ren_tce, energy_tce)
