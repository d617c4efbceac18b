"""Energy-audit threshold: annual energy >= 1000 tce OR annual electricity >= 5,000,000 kWh,
two independent tests, and the projection of a year so far to year end.

References
----------
.. [1] Leshan urban-rural construction carbon-peak plan (2026): "Strengthen the energy audit and
   carbon emission verification of buildings with energy consumption of 1000 tons of standard
   coal (or 5 million kilowatt-hours of electricity) and above."
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

import numpy as np
import pandas as pd

from analytics._num import arr, like


def _min_coverage_from_env() -> float:
    text = os.environ.get("EP_MIN_COVERAGE", "0.9")
    try:
        value = float(text)
    except ValueError:
        raise ValueError(f"EP_MIN_COVERAGE={text!r} is not a number (a share in (0, 1], e.g. 0.9)") from None
    if not 0 < value <= 1:
        raise ValueError(f"EP_MIN_COVERAGE={text!r} must be a share in (0, 1], e.g. 0.9")
    return value


#: The plan's thresholds [1]_ (the one place they are written: the API, the alert engine, the
#: Grafana rules and the disclosure import them); parameters of :func:`audit_tests` so a city can
#: set its own.
ENERGY_THRESHOLD_TCE = 1000.0
ELECTRICITY_THRESHOLD_KWH = 5_000_000.0

#: A reassuring verdict ("not required", "within quota") needs at least this share of the period
#: measured (coverage = readings received / expected, docs/analytics.md "Coverage rule"); below it
#: the verdict is "insufficient data". Platform choice: 10 % of readings missing can hide a month
#: of winter heating. The environment variable ``EP_MIN_COVERAGE`` sets it for every process at
#: once (report, API, alert engine, disclosure), so all consumers give the same verdict. [-]
MIN_COVERAGE = _min_coverage_from_env()
#: A reassuring year-end projection also needs this share of the year measured: a projection from
#: two weeks says little about the heating season. [-]
MIN_MEASURED_YEAR_FRACTION = 1 / 12

PROJECTION_MEASURED_RATE = "measured_days_rate"
PROJECTION_LAST_YEAR = "last_year_profile"
PROJECTION_NO_DATA = "no_data"


class Verdict(StrEnum):
    """The audit verdict of one building and window: what the audit list, the API, the alert
    engine, the Grafana panels and the disclosure say."""

    #: Measured use at or above a threshold.
    required = "required"
    #: The year-end projection is at or above a threshold (an auditor should look; not yet measured).
    projected = "projected"
    #: Below both thresholds, with enough data to say so.
    not_required = "not_required"
    #: Below both thresholds, but the data cannot support a reassuring verdict.
    insufficient_data = "insufficient_data"


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




@dataclass
class AuditVerdict:
    """:func:`audit_verdict`'s result: the verdict and the tests behind it."""

    verdict: Any
    tests: AuditTests
    coverage: Any
    min_coverage: float


def audit_verdict(energy_tce, electricity_kwh, *, coverage, projected: bool = False, measured_year_fraction=None,
                  min_coverage: float = MIN_COVERAGE, min_year_fraction: float = MIN_MEASURED_YEAR_FRACTION,
                  energy_threshold_tce: float = ENERGY_THRESHOLD_TCE,
                  electricity_threshold_kwh: float = ELECTRICITY_THRESHOLD_KWH) -> AuditVerdict:
    """The one audit verdict of the platform (docs/analytics.md, "Coverage rule").

    Either test at or above its threshold is evidence on any coverage (missing data only lowers
    a sum): ``required`` for measured use, ``projected`` for a year-end projection. Below both,
    the verdict reassures (``not_required``) only when ``coverage >= min_coverage`` (and, for a
    projection, ``measured_year_fraction >= min_year_fraction``); otherwise it is
    ``insufficient_data``.

    Parameters
    ----------
    energy_tce, electricity_kwh : numeric
        Energy [tce] and electricity used [kWh] of the window (or their projection).
    coverage : numeric
        Share of the window measured. [-]
    projected : bool
        The quantities are a year-end projection.
    measured_year_fraction : numeric, optional
        Share of the year measured (projections only). [-]
    """
    t = audit_tests(energy_tce, electricity_kwh, energy_threshold_tce=energy_threshold_tce,
                    electricity_threshold_kwh=electricity_threshold_kwh)
    hit = np.asarray(t.triggered, dtype=bool)
    enough = np.nan_to_num(arr(coverage), nan=0.0) >= min_coverage
    if projected and measured_year_fraction is not None:
        enough &= np.nan_to_num(arr(measured_year_fraction), nan=0.0) >= min_year_fraction
    over = Verdict.projected.value if projected else Verdict.required.value
    v = np.where(hit, over, np.where(enough, Verdict.not_required.value, Verdict.insufficient_data.value))
    series_in = next((x for x in (energy_tce, electricity_kwh, coverage) if isinstance(x, pd.Series)), None)
    if series_in is not None:
        verdict: Any = pd.Series(v, index=series_in.index)
    else:
        verdict = str(v) if np.ndim(v) == 0 else v
    return AuditVerdict(verdict=verdict, tests=t, coverage=coverage, min_coverage=min_coverage)


def project_to_year_end(value_so_far, *, days_elapsed: float, days_in_year: float, measured_days=None,
                        last_year_same_period=None, last_year_total=None):
    r"""Project a year-to-date quantity to the whole year from the days actually measured,
    stating the basis per building.

    ``measured_days`` is the measured part of the year so far (docs/analytics.md: coverage x the
    days since the building's first device was installed, or since 1 January). Days before a
    building was connected or while its meters were offline are not counted as zero use.

    ``measured_days_rate`` (no usable last year):

    .. math:: \hat{Q} = Q_{so far} \cdot D_{year} / D_{measured}

    ``last_year_profile`` (last year's same period and total both positive): the measured rate
    scaled up to the elapsed days, then by last year's shape, so a summer-cooled building is not
    over-projected from a hot July:

    .. math:: \hat{Q} = Q_{so far} \cdot (D_{elapsed} / D_{measured}) \cdot Q^{prev}_{total} / Q^{prev}_{same}

    Parameters
    ----------
    value_so_far : numeric
        Quantity from 1 January to the as-of date (any unit; the result has the same unit).
    days_elapsed : float
        Days of the year so far. [d]
    days_in_year : float
        365 or 366. [d]
    measured_days : numeric, optional
        Days measured so far, at most ``days_elapsed`` (default: all of them). [d]
    last_year_same_period, last_year_total : numeric, optional
        Last year's quantity over the same days, and its total. [same unit]

    Returns
    -------
    projected : numeric
        Projected annual quantity [same unit]; NaN where nothing was measured.
    basis : str or Series of str
        ``last_year_profile``, ``measured_days_rate`` or ``no_data``, per building.
    """
    if not 0 < days_elapsed <= days_in_year:
        raise ValueError(f"days_elapsed must be in (0, {days_in_year}], got {days_elapsed}")
    q = arr(value_so_far)
    md = np.full(np.shape(q), float(days_elapsed)) if measured_days is None else arr(measured_days)
    md = np.clip(np.nan_to_num(md, nan=0.0), 0.0, days_elapsed)
    measured = md > 0
    safe_md = np.where(measured, md, 1.0)
    rate = np.where(measured, q * days_in_year / safe_md, np.nan)
    if last_year_same_period is None or last_year_total is None:
        use_prev = np.zeros(np.shape(q), dtype=bool)
        prev = rate
    else:
        same, total = arr(last_year_same_period), arr(last_year_total)
        use_prev = (np.nan_to_num(same) > 0) & (np.nan_to_num(total) > 0) & measured
        with np.errstate(divide="ignore", invalid="ignore"):
            prev = q * (days_elapsed / safe_md) * total / np.where(use_prev, same, 1.0)
    projected = like(np.where(use_prev, prev, rate), value_so_far, last_year_total, measured_days)
    basis = np.where(use_prev, PROJECTION_LAST_YEAR, np.where(measured, PROJECTION_MEASURED_RATE,
                                                              PROJECTION_NO_DATA))
    if isinstance(projected, pd.Series):
        return projected, pd.Series(basis, index=projected.index)
    return projected, str(basis) if np.ndim(basis) == 0 else basis
