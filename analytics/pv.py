"""PV and EV charging indicators (docs/reference.md section 3). Pure functions, scalars or Series.

References
----------
.. [1] Home Assistant energy dashboard: self-sufficiency = 1 - grid import / consumption.
.. [2] evcc: per-session charging energy with its PV share.
"""

from __future__ import annotations

import numpy as np

from analytics._num import arr, like, ratio
from analytics.energy import electricity_use_kwh, pv_self_consumed_kwh

__all__ = ["ev_green_share", "pv_export_share", "pv_self_consumption", "pv_self_consumed_kwh",
           "pv_self_sufficiency"]


def pv_self_consumption(pv_generation_kwh, pv_to_grid_kwh):
    r"""Share of PV generation used on site.

    .. math:: c = (E_{gen} - E_{export}) / E_{gen}

    Parameters
    ----------
    pv_generation_kwh : numeric
        PV generation. [kWh]
    pv_to_grid_kwh : numeric
        PV exported to the grid. [kWh]

    Returns
    -------
    numeric
        Share in [0, 1] [-]; NaN without generation or with export above generation.
    """
    return ratio(pv_self_consumed_kwh(pv_generation_kwh, pv_to_grid_kwh), pv_generation_kwh)


def pv_export_share(pv_generation_kwh, pv_to_grid_kwh):
    r"""Share of PV generation exported, :math:`E_{export}/E_{gen}` [-]; the complement of
    :func:`pv_self_consumption` (NaN in the same cases).

    Parameters
    ----------
    pv_generation_kwh : numeric
        PV generation. [kWh]
    pv_to_grid_kwh : numeric
        PV exported to the grid. [kWh]
    """
    self_kwh = pv_self_consumed_kwh(pv_generation_kwh, pv_to_grid_kwh)
    return ratio(like(arr(pv_generation_kwh) - arr(self_kwh), self_kwh, pv_generation_kwh), pv_generation_kwh)


def pv_self_sufficiency(electricity_from_grid_kwh, pv_generation_kwh, pv_to_grid_kwh):
    r"""Share of the building's electricity use met by its own PV.

    .. math:: s = \frac{E_{gen} - E_{export}}{E_{grid} + E_{gen} - E_{export}}
              = 1 - \frac{E_{grid}}{E_{el}}

    Parameters
    ----------
    electricity_from_grid_kwh : numeric
        Grid import. [kWh]
    pv_generation_kwh : numeric
        PV generation. [kWh]
    pv_to_grid_kwh : numeric
        PV export. [kWh]

    Returns
    -------
    numeric
        Share in [0, 1] [-]; NaN without electricity use.
    """
    use = electricity_use_kwh(electricity_from_grid_kwh, pv_generation_kwh, pv_to_grid_kwh)
    return ratio(pv_self_consumed_kwh(pv_generation_kwh, pv_to_grid_kwh), use)


def ev_green_share(ev_energy_kwh, ev_pv_energy_kwh):
    r"""Share of EV charging energy met by on-site PV.

    .. math:: g = E_{EV,PV} / E_{EV}

    Parameters
    ----------
    ev_energy_kwh : numeric
        Charging energy of completed sessions. [kWh]
    ev_pv_energy_kwh : numeric
        Part of it met by on-site PV. [kWh]

    Returns
    -------
    numeric
        Share in [0, 1] [-]; NaN without charging, or where the PV part exceeds the total.
    """
    total, pv = arr(ev_energy_kwh), arr(ev_pv_energy_kwh)
    valid = pv <= total + 1e-9
    return ratio(like(np.where(valid, pv, np.nan), ev_pv_energy_kwh, ev_energy_kwh), ev_energy_kwh)
