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


def plan_progress(actual: dict[str, float], targets: pd.DataFrame) -> pd.DataFrame:
    """Compare actual values with every plan target.

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
        None), ``gap`` = actual - target [-] (positive = above the target), source.
    """
    rows = []
    for t in targets.itertuples(index=False):
        value = actual.get(t.indicator)
        known = value is not None and not np.isnan(value)
        rows.append({
            "indicator": t.indicator, "year": int(t.year), "target": float(t.target),
            "comparison": t.comparison, "scope": t.scope,
            "actual": float(value) if known else float("nan"),
            "met": bool(_OPS[t.comparison](value, t.target)) if known else None,
            "gap": float(value - t.target) if known else float("nan"),
            "source": t.source,
        })
    return pd.DataFrame(rows)
