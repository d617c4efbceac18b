"""Progress against the plan targets (data file analytics/data/plan_targets.csv).

References
----------
.. [1] Leshan urban-rural construction carbon-peak plan (2026); Guang'an carbon-peak plan;
   MOHURD 14th Five-Year building energy plan (2022); Chongqing energy-conservation plan.
"""

from __future__ import annotations

import operator

import numpy as np
import pandas as pd

from analytics._num import ratio
from analytics.audit import MIN_COVERAGE

_OPS = {">=": operator.ge, ">": operator.gt, "<=": operator.le, "<": operator.lt}


def pv_coverage(has_pv: pd.Series, in_scope: pd.Series):
    r"""Share of in-scope buildings with a PV system, :math:`n_{PV} / n` [-]; NaN without
    buildings in scope.

    Parameters
    ----------
    has_pv : Series of bool
        Building has at least one PV system.
    in_scope : Series of bool
        Building counts for the target (e.g. new public-institution buildings).
    """
    return ratio(float((has_pv & in_scope).sum()), float(in_scope.sum()))


def relative_change(current, baseline):
    r"""Relative change :math:`(x_t - x_0) / x_0` [-], NaN without a positive baseline.

    Parameters
    ----------
    current : numeric
        Value in the reporting year, e.g. energy per m2 [kgce/(m2.a)].
    baseline : numeric
        Value in the baseline year [same unit].
    """
    return ratio(np.asarray(current, float) - np.asarray(baseline, float), baseline)


def plan_progress(actual: dict[str, float], targets: pd.DataFrame, *, coverage: float | None = None,
                  min_coverage: float = MIN_COVERAGE) -> pd.DataFrame:
    """Compare actual values with every plan target.

    ``coverage`` (readings received / expected over every registered building and the period)
    is reported on every row; below ``min_coverage`` a target is not judged met (``met = None``,
    ``verdict = insufficient_data``): a reassuring verdict needs evidence (docs/analytics.md).
    A target missed on little data stays ``met = False`` (shown with its coverage).

    Parameters
    ----------
    actual : dict
        Indicator name (as in the targets file: ``renewable_substitution_rate``,
        ``electrification_share``, ``pv_coverage``, ``energy_per_m2_change``,
        ``energy_per_capita_change``) -> value [-]. Missing or NaN values give ``met = None``.
    targets : DataFrame
        :func:`analytics.tables.plan_targets`.

    Returns
    -------
    DataFrame
        One row per target: indicator, year, target, comparison, scope, actual, ``met`` (bool or
        None), ``verdict`` (``met``, ``not_met``, ``insufficient_data``, ``no_data``), ``gap`` =
        actual - target [-] (positive = above the target), ``coverage``, source.
    """
    short = coverage is not None and not (coverage >= min_coverage)
    rows = []
    for t in targets.itertuples(index=False):
        value = actual.get(t.indicator)
        known = value is not None and not np.isnan(value)
        met = bool(_OPS[t.comparison](value, t.target)) if known else None
        if met and short:
            met = None
        verdict = ("no_data" if not known else "insufficient_data" if met is None
                   else "met" if met else "not_met")
        rows.append({
            "indicator": t.indicator, "year": int(t.year), "target": float(t.target),
            "comparison": t.comparison, "scope": t.scope,
            "actual": float(value) if known else float("nan"),
            "met": met, "verdict": verdict,
            "gap": float(value - t.target) if known else float("nan"),
            "coverage": float("nan") if coverage is None else float(coverage),
            "source": t.source,
        })
    return pd.DataFrame(rows)
