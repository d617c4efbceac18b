"""Sub-item breakdown, year-on-year change, ranking within building type and data coverage.

References
----------
.. [1] MOHURD (2008), Technical guideline for sub-item energy metering of state-organ office
   buildings and large public buildings: four electricity sub-items.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from analytics._num import arr, like, ratio
from contract.vocabulary import SubItem

#: The four sub-items in display order, from the contract's vocabulary (``main`` is the parent meter).
SUB_ITEMS = tuple(s.value for s in SubItem if s is not SubItem.main)
SUB_ITEM_COLUMNS = tuple(f"{s}_kwh" for s in SUB_ITEMS)


def sub_item_breakdown(sub_items_kwh: pd.DataFrame, total_kwh) -> pd.DataFrame:
    r"""Shares of the four electricity sub-items in the building's metered electricity.

    The remainder :math:`E_{total} - \sum_i E_i` is reported as ``unmetered_kwh`` (sub-meters
    rarely cover every circuit); shares plus ``unmetered_share`` add up to 1. A negative
    remainder (sub-meters reading more than the main meter) is kept, not clipped: it is a data
    problem to show, not to hide.

    Parameters
    ----------
    sub_items_kwh : DataFrame
        Columns ``lighting_sockets_kwh``, ``hvac_kwh``, ``power_kwh``, ``special_kwh`` (missing
        columns count as 0). [kWh]
    total_kwh : Series
        Electricity use of the same rows (grid import + self-consumed PV). [kWh]

    Returns
    -------
    DataFrame
        ``<sub_item>_share`` columns, ``unmetered_kwh`` [kWh] and ``unmetered_share`` [-]; shares
        NaN where the total is zero.
    """
    out = pd.DataFrame(index=sub_items_kwh.index)
    metered = np.zeros(len(sub_items_kwh))
    for col, name in zip(SUB_ITEM_COLUMNS, SUB_ITEMS, strict=True):
        v = sub_items_kwh[col].fillna(0.0) if col in sub_items_kwh else pd.Series(0.0, index=out.index)
        metered = metered + arr(v)
        out[f"{name}_share"] = ratio(v, total_kwh)
    out["unmetered_kwh"] = arr(total_kwh) - metered
    out["unmetered_share"] = ratio(out["unmetered_kwh"], total_kwh)
    return out


def year_on_year(current, previous):
    r"""Relative change :math:`(Q_t - Q_{t-1}) / Q_{t-1}` [-]; NaN without a positive previous
    value.

    Parameters
    ----------
    current : numeric
        This period's quantity [any unit].
    previous : numeric
        Same period a year earlier [same unit].
    """
    return ratio(like(arr(current) - arr(previous), current, previous), previous)


def rank_within_type(values: pd.Series, building_type: pd.Series, *, highest_first: bool = True
                     ) -> pd.DataFrame:
    """Rank each building among buildings of its type (1 = highest intensity by default).

    Parameters
    ----------
    values : Series
        Indicator to rank, e.g. electricity intensity [kWh/(m2.a)]. NaN is not ranked.
    building_type : Series
        Building type of the same rows.

    Returns
    -------
    DataFrame
        ``rank_in_type`` (float, ties share the lowest rank, NaN for NaN values) and
        ``buildings_in_type`` (count of ranked buildings of that type).
    """
    df = pd.DataFrame({"v": values, "t": building_type})
    rank = df.groupby("t")["v"].rank(method="min", ascending=not highest_first)
    count = df.groupby("t")["v"].transform("count")
    return pd.DataFrame({"rank_in_type": rank, "buildings_in_type": count}, index=values.index)


def coverage(readings, expected_readings):
    r"""Data coverage: share of expected interval readings present, :math:`n / n_{exp}` [-].

    Clipped to 1 where more readings arrived than expected (e.g. a meter reporting every 5
    minutes); NaN without expected readings (no devices installed in the window).

    Parameters
    ----------
    readings : numeric
        Interval readings present (the ``readings`` field of the rollups). [-]
    expected_readings : numeric
        Readings a complete record would have. [-]
    """
    r = ratio(readings, expected_readings)
    return like(np.minimum(arr(r), 1.0), r)
