"""Energy-audit threshold: annual energy >= 1000 tce OR annual electricity >= 5,000,000 kWh,
two independent tests, and the projection of a year so far to year end.

References
----------
.. [1] Leshan urban-rural construction carbon-peak plan (2026): "Strengthen the energy audit and
   carbon emission verification of buildings with energy consumption of 1000 tons of standard
   coal (or 5 million kilowatt-hours of electricity) and above."
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from analytics._num import arr, like

#: The plan's thresholds; parameters of :func:`audit_tests` so a city can set its own.
ENERGY_THRESHOLD_TCE = 1000.0
ELECTRICITY_THRESHOLD_KWH = 5_000_000.0

PROJECTION_LINEAR = "linear_days"
PROJECTION_LAST_YEAR = "last_year_profile"


@dataclass
class AuditTests:
    """Outcome of the two tests (floats/bools for one building, Series for many).

    ``triggered_by`` is ``energy``, ``electricity``, ``both`` or ``none``; the excesses are the
    signed distance to each threshold (positive = above), so "by how much" is always known.
    """

    energy_test: Any
    electricity_test: Any
    triggered: Any
    triggered_by: Any
    energy_excess_tce: Any
    electricity_excess_kwh: Any
    energy_threshold_tce: float
    electricity_threshold_kwh: float


def audit_tests(energy_tce, electricity_kwh, *, energy_threshold_tce: float = ENERGY_THRESHOLD_TCE,
                electricity_threshold_kwh: float = ELECTRICITY_THRESHOLD_KWH) -> AuditTests:
    r"""Apply both audit tests; a building is listed when either holds (``>=``, at = listed).

    Parameters
    ----------
    energy_tce : numeric
        Comprehensive energy consumption over the window (calendar year, rolling 12 months, or
        projected year). [tce]
    electricity_kwh : numeric
        Electricity used over the same window (grid import + self-consumed PV). [kWh]
    energy_threshold_tce : float
        Energy test threshold. [tce]
    electricity_threshold_kwh : float
        Electricity test threshold. [kWh]

    Returns
    -------
    AuditTests
        NaN inputs fail their test (no data is no evidence) but keep a NaN excess.
    """
    if energy_threshold_tce <= 0 or electricity_threshold_kwh <= 0:
        raise ValueError(f"thresholds must be positive, got {energy_threshold_tce} tce, "
                         f"{electricity_threshold_kwh} kWh")
    e, el = arr(energy_tce), arr(electricity_kwh)
    with np.errstate(invalid="ignore"):
        et = np.nan_to_num(e, nan=-np.inf) >= energy_threshold_tce
        elt = np.nan_to_num(el, nan=-np.inf) >= electricity_threshold_kwh
    by = np.where(et & elt, "both", np.where(et, "energy", np.where(elt, "electricity", "none")))
    series_in = next((x for x in (energy_tce, electricity_kwh) if isinstance(x, pd.Series)), None)

    def wrap(v):
        if series_in is not None:
            return pd.Series(v, index=series_in.index)
        return v.item() if np.ndim(v) == 0 else v

    return AuditTests(
        energy_test=wrap(et), electricity_test=wrap(elt), triggered=wrap(et | elt), triggered_by=wrap(by),
        energy_excess_tce=like(e - energy_threshold_tce, energy_tce, electricity_kwh),
        electricity_excess_kwh=like(el - electricity_threshold_kwh, energy_tce, electricity_kwh),
        energy_threshold_tce=energy_threshold_tce, electricity_threshold_kwh=electricity_threshold_kwh)


def project_to_year_end(value_so_far, *, days_elapsed: float, days_in_year: float,
                        last_year_same_period=None, last_year_total=None):
    r"""Project a year-to-date quantity to the whole year, stating the basis per building.

    ``last_year_profile`` (used where last year's same period and total are both positive):

    .. math:: \hat{Q} = Q_{so far} \cdot Q^{prev}_{total} / Q^{prev}_{same period}

    which keeps the building's seasonal shape (a summer-cooled building is not over-projected from
    a hot July). Otherwise ``linear_days``:

    .. math:: \hat{Q} = Q_{so far} \cdot D_{year} / D_{elapsed}

    Parameters
    ----------
    value_so_far : numeric
        Quantity from 1 January to the as-of date (any unit; the result has the same unit).
    days_elapsed : float
        Days of the year covered so far. [d]
    days_in_year : float
        365 or 366. [d]
    last_year_same_period : numeric, optional
        Last year's quantity over the same days. [same unit]
    last_year_total : numeric, optional
        Last year's total. [same unit]

    Returns
    -------
    projected : numeric
        Projected annual quantity [same unit].
    basis : str or Series of str
        ``last_year_profile`` or ``linear_days``, per building.
    """
    if not 0 < days_elapsed <= days_in_year:
        raise ValueError(f"days_elapsed must be in (0, {days_in_year}], got {days_elapsed}")
    q = arr(value_so_far)
    linear = q * (days_in_year / days_elapsed)
    if last_year_same_period is None or last_year_total is None:
        use_prev = np.zeros(np.shape(q), dtype=bool)
        prev = linear
    else:
        same, total = arr(last_year_same_period), arr(last_year_total)
        use_prev = (np.nan_to_num(same) > 0) & (np.nan_to_num(total) > 0)
        with np.errstate(divide="ignore", invalid="ignore"):
            prev = q * total / np.where(use_prev, same, 1.0)
    projected = like(np.where(use_prev, prev, linear), value_so_far, last_year_total)
    basis = np.where(use_prev, PROJECTION_LAST_YEAR, PROJECTION_LINEAR)
    if isinstance(projected, pd.Series):
        return projected, pd.Series(basis, index=projected.index)
    return projected, str(basis) if np.ndim(basis) == 0 else basis
