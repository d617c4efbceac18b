"""Local-time features of a timestamp grid: hour of day, weekday, holidays, school vacations.

Holidays and make-up working days come from China's calendar (``contract.cncalendar``).

Sites are in China, so local time is Asia/Shanghai (UTC+8, no daylight saving): the fixed offset
of :mod:`contract.localtime` keeps this vectorised without a time-zone database.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np
import pandas as pd

from contract.cncalendar import day_types
from contract.localtime import DAY_MS, LOCAL_OFFSET_MS


def local_day(ts_ms: np.ndarray) -> np.ndarray:
    """Local (UTC+8) day number since 1970-01-01 of each timestamp. [d]"""
    return (np.asarray(ts_ms, dtype=np.int64) + LOCAL_OFFSET_MS) // DAY_MS


def day_to_date(day_number: int) -> dt.date:
    return dt.date(1970, 1, 1) + dt.timedelta(days=int(day_number))


@dataclass(frozen=True)
class Calendar:
    """Features of each instant of a grid (arrays of the grid's length)."""

    day: np.ndarray  # local day number [d]
    hour: np.ndarray  # local hour of day, fractional [h]
    doy: np.ndarray  # day of year, 0-based [d]
    workday: np.ndarray  # bool: a working day (weekday or make-up day, not a holiday)
    holiday: np.ndarray  # bool: a public holiday
    vacation: np.ndarray  # bool: school vacation (winter and summer)


def calendar(ts_ms: np.ndarray) -> Calendar:
    """Local calendar features of instants given in UTC milliseconds.

    Parameters
    ----------
    ts_ms : array of int
        Instants (use interval midpoints for interval quantities). [ms since epoch, UTC]
    """
    local_ms = np.asarray(ts_ms, dtype=np.int64) + LOCAL_OFFSET_MS
    day = local_ms // DAY_MS
    hour = (local_ms - day * DAY_MS) / 3_600_000.0
    uniq, inv = np.unique(day, return_inverse=True)
    # China's calendar (contract/cncalendar.py): a year it does not know has no holidays.
    kind = day_types(uniq)[inv]
    is_hol = kind == "holiday"
    workday = kind == "workday"
    dates = pd.to_datetime(uniq, unit="D")
    doy_u = dates.day_of_year.to_numpy() - 1
    md = dates.month.to_numpy() * 100 + dates.day.to_numpy()
    # Typical Sichuan school calendar: winter vacation mid-January to late February, summer
    # vacation July 10 to August 31.
    vac_u = ((md >= 115) & (md <= 225)) | ((md >= 710) & (md <= 831))
    return Calendar(day=day, hour=hour, doy=doy_u[inv], workday=workday, holiday=is_hol, vacation=vac_u[inv])
