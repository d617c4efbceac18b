"""China's statutory holidays and swapped (make-up) working days, and the day type of a date.

The calendar comes from the maintained ``chinese-calendar`` package, which follows the State
Council General Office's yearly holiday notice (published each autumn for the next year) and
raises for a year it does not know, so an unknown year is reported, never guessed. A year the
installed package does not know yet can be added by hand in ``contract/data/holidays_cn_added.csv``
(docs/glossary.md, "China's calendar"); rows there override the package.

Day types (used by the simulator's schedules, the baselines and the alerts):

- ``workday``: a working day, a Monday-Friday that is not a holiday, or a make-up working day
  (a Saturday or Sunday declared a working day by the notice);
- ``restday``: an ordinary Saturday or Sunday;
- ``holiday``: a day of a statutory holiday block (including the weekend days inside it).

For a year the calendar does not know, weekdays are ``workday`` and weekends ``restday``; callers
that must not rely on that check :func:`year_known` first.
"""

from __future__ import annotations

import csv
import datetime as dt
from functools import lru_cache
from pathlib import Path

import chinese_calendar
import numpy as np

ADDED_CSV = Path(__file__).parent / "data" / "holidays_cn_added.csv"
DAY_TYPES = ("workday", "restday", "holiday")
_EPOCH = dt.date(1970, 1, 1)


class CalendarFileError(ValueError):
    """A row of the hand-kept calendar file is wrong (message names the line)."""


def _read_added(path: Path) -> tuple[dict[dt.date, str], dict[dt.date, str]]:
    holidays: dict[dt.date, str] = {}
    workdays: dict[dt.date, str] = {}
    with path.open(newline="", encoding="utf-8") as f:
        for line_no, row in enumerate(csv.DictReader(f), start=2):
            try:
                day = dt.date.fromisoformat((row.get("date") or "").strip())
            except ValueError:
                msg = f"{path.name} line {line_no}: date {row.get('date')!r} is not YYYY-MM-DD"
                raise CalendarFileError(msg) from None
            kind = (row.get("kind") or "").strip()
            if kind not in ("holiday", "workday"):
                raise CalendarFileError(f"{path.name} line {line_no}: kind {kind!r} is not 'holiday' or 'workday'")
            if not (row.get("source") or "").strip():
                raise CalendarFileError(f"{path.name} line {line_no}: a hand-added day needs its source (the notice)")
            (holidays if kind == "holiday" else workdays)[day] = (row.get("name") or "").strip()
    return holidays, workdays


@lru_cache(maxsize=1)
def tables() -> tuple[dict[dt.date, str], dict[dt.date, str], frozenset[int]]:
    """(holidays, make-up working days, known years): the package's tables plus the hand-added file.

    A hand-added day overrides the package's entry for the same date.
    """
    holidays = dict(chinese_calendar.holidays)
    workdays = dict(chinese_calendar.workdays)
    years = {d.year for d in holidays}
    added_hol, added_work = _read_added(ADDED_CSV)
    for day, name in added_hol.items():
        workdays.pop(day, None)
        holidays[day] = name
    for day, name in added_work.items():
        holidays.pop(day, None)
        workdays[day] = name
    years |= {d.year for d in added_hol} | {d.year for d in added_work}
    return holidays, workdays, frozenset(years)


def year_known(year: int) -> bool:
    """True when the year's holidays and make-up working days are known (package or hand-added)."""
    return year in tables()[2]


def day_number_sets() -> tuple[frozenset[int], frozenset[int]]:
    """(holidays, make-up working days) as day numbers since 1970-01-01 (for vectorised lookups)."""
    holidays, workdays, _ = tables()
    return (frozenset((d - _EPOCH).days for d in holidays), frozenset((d - _EPOCH).days for d in workdays))


def day_types(day_numbers: np.ndarray) -> np.ndarray:
    """Day type (``workday``, ``restday`` or ``holiday``) of each local date.

    Parameters
    ----------
    day_numbers : array of int
        Local dates as day numbers since 1970-01-01. [d]

    Returns
    -------
    numpy array of str, same shape.
    """
    days = np.asarray(day_numbers, dtype=np.int64)
    holidays, makeup = day_number_sets()
    weekday = (days + 3) % 7  # 1970-01-01 was a Thursday; 0 = Monday
    is_hol = np.isin(days, list(holidays))
    is_work = ((weekday < 5) | np.isin(days, list(makeup))) & ~is_hol
    return np.where(is_hol, "holiday", np.where(is_work, "workday", "restday"))


def day_type(day: dt.date) -> str:
    """Day type of one local date (see :func:`day_types`)."""
    return str(day_types(np.array([(day - _EPOCH).days]))[0])
