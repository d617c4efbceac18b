"""Coverage of the figures (docs/analytics.md, "Coverage rule" and "Aggregates over what
reported"): the days a building was actually measured in a window, and which buildings and how much
floor area a district or city figure covers. Pure: DataFrames in, columns out."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pandas as pd

from analytics.balance import NOMINAL_INTERVAL_S
from analytics.indicators import SUM_COLUMNS
from contract.localtime import TZ_NAME, days_between


def add_measured_days(out: pd.DataFrame, devices: dict, start: dt.datetime, end: dt.datetime, stop: dt.datetime,
                      *, tz: str = TZ_NAME) -> None:
    """Add ``window_days``, ``time_coverage``, ``measured_days``, ``period_coverage`` and
    ``elapsed_coverage`` to the indicator rows ``out`` of the window ``[start, end)`` seen at
    ``stop`` (``out`` has ``covered_s`` and ``expected_readings``).

    Share of the devices' time covered by readings x the days the building had devices in the
    window: days before it was connected and time lost while a meter was offline are not measured;
    a register that bridges a gap covers it (its interval holds the energy).
    """
    span = metered_span_days(devices, start, stop, tz=tz).reindex(out.index).fillna(0.0)
    out["window_days"] = days_between(start, end)
    expected_s = out["expected_readings"] * NOMINAL_INTERVAL_S
    out["time_coverage"] = (out["covered_s"] / expected_s.where(expected_s > 0)).clip(upper=1.0).fillna(0.0)
    out["measured_days"] = out["time_coverage"] * span
    out["period_coverage"] = out["measured_days"] / out["window_days"]
    # The same over the part of the window that has passed (aggregates weigh floor area by it).
    out["elapsed_coverage"] = out["measured_days"] / max(days_between(start, stop), 1e-9)


def metered_span_days(devices: dict, start: dt.datetime, stop: dt.datetime, *, tz: str = TZ_NAME) -> pd.Series:
    """Per building, days from ``start`` (or its first device's installation, if later) to ``stop``. [d]"""
    z = ZoneInfo(tz)
    per_date: dict[dt.date, float] = {}  # a fleet has few installation dates and many buildings

    def span(d: dt.date) -> float:
        if d not in per_date:
            per_date[d] = max(days_between(max(start, dt.datetime.combine(d, dt.time(), z)), stop), 0.0)
        return per_date[d]

    return pd.Series({code: span(min(dates)) if dates else 0.0 for code, dates in devices.items()}, dtype=float)


def reporting_sums(df: pd.DataFrame) -> pd.DataFrame:
    """The additive columns of the buildings that reported (``readings > 0``), for district and
    city aggregates (docs/analytics.md, "Aggregates over what reported").

    A building with no data is left out, not counted as zero use with its floor area in the
    denominator. A building measured for part of the period counts its floor area and occupants
    for that part only (x ``period_coverage``), so intensities are per measured m2 and year;
    ``floor_area_reporting_m2`` keeps the plain area of the reporting buildings.
    """
    rep = df[df["readings"].fillna(0) > 0]
    cols = [c for c in SUM_COLUMNS if c in rep and c != "carbon_tco2_input"]
    out = rep[cols].copy()
    out["carbon_tco2_input"] = rep["carbon_tco2"]
    share = rep["elapsed_coverage"].clip(0.0, 1.0) if "elapsed_coverage" in rep else 1.0
    out["floor_area_reporting_m2"] = rep["floor_area_m2"]
    out["floor_area_m2"] = rep["floor_area_m2"] * share
    out["occupants"] = rep["occupants"] * share
    return out


def group_coverage_columns(out: pd.DataFrame, sums: pd.DataFrame, registered) -> None:
    """How much of the group the figures cover: buildings and floor area reporting vs registered."""
    out["buildings_reporting"] = sums["buildings"].astype(int)
    out["floor_area_reporting_m2"] = sums["floor_area_reporting_m2"]
    out["floor_area_measured_m2"] = sums["floor_area_m2"]
    if isinstance(registered, pd.DataFrame):
        out["buildings"] = len(registered)
        out["floor_area_registered_m2"] = float(registered["floor_area_m2"].sum())
    else:
        out["buildings"] = registered.size().reindex(out.index).fillna(0).astype(int)
        out["floor_area_registered_m2"] = registered["floor_area_m2"].sum().reindex(out.index)


