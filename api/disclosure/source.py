"""Read one reporting year from the analytics service and build every building's figures.

One ``analytics.service.annual_frame`` call for the whole registry (so ranks are among all
buildings of a type), plus twelve monthly ``analytics.reader.read_balance`` reads for the monthly
sub-item chart and the per-carrier split, plus the building's stored retrofit savings of the year
(api/disclosure/retrofits.py). Nothing is stored here.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Sequence

import pandas as pd
from sqlalchemy.orm import Session

from analytics import service as analytics_service
from analytics.audit import audit_verdict
from analytics.reader import read_balance
from analytics.tables import DEFAULT_BASIS
from api.disclosure.assemble import annual_fuels, figures_of, monthly_sub_items
from api.disclosure.figures import Figures
from api.disclosure.retrofits import retrofit_section
from contract.localtime import TZ_NAME, local_midnight
from registry.retrofits import list_retrofits
from storage.influx import InfluxHTTP


def monthly_balances(*, influx: InfluxHTTP, year: int, tz: str = TZ_NAME) -> dict[int, pd.DataFrame]:
    """month (1-12) -> per-building balance of that local calendar month."""
    out = {}
    for m in range(1, 13):
        start = local_midnight(dt.date(year, m, 1), tz)
        end = local_midnight(dt.date(year + (m == 12), m % 12 + 1, 1), tz)
        out[m] = read_balance(influx=influx, start=start, end=end)
    return out


def year_frame(*, influx: InfluxHTTP, session: Session, year: int, basis: str = DEFAULT_BASIS,
               region: str | None = None, now: dt.datetime | None = None) -> pd.DataFrame:
    """``annual_frame`` of every registry building plus the calendar-year audit verdict
    (:func:`analytics.audit.audit_verdict` on the year's period coverage: ``audit_verdict`` is
    ``required``, ``not_required`` or ``insufficient_data``) and its test columns."""
    frame = analytics_service.annual_frame(influx=influx, session=session, year=year, basis=basis, region=region,
                                           now=now)
    v = audit_verdict(frame["energy_tce"], frame["electricity_kwh"], coverage=frame["period_coverage"])
    frame["audit_verdict"] = v.verdict
    frame["audit_triggered"] = v.tests.triggered
    frame["audit_triggered_by"] = v.tests.triggered_by
    return frame


def collect(*, influx: InfluxHTTP, session: Session, year: int, codes: Sequence[str] | None = None,
            basis: str = DEFAULT_BASIS, region: str | None = None, now: dt.datetime | None = None
            ) -> Iterator[tuple[str, Figures | Exception]]:
    """(building_code, figures) for every building (or ``codes``), or the error that one building hit.

    A building whose figures cannot be built (say, a registry value the snapshot refuses) yields
    its exception instead of stopping the others.
    """
    frame = year_frame(influx=influx, session=session, year=year, basis=basis, region=region, now=now)
    months = monthly_balances(influx=influx, year=year)
    fuels = annual_fuels(months)
    wanted = list(frame.index) if codes is None else list(codes)
    for code in wanted:
        if code not in frame.index:
            yield code, LookupError(f"building {code} is not in the registry")
            continue
        try:
            figures = figures_of(year=year, building_code=code, row=frame.loc[code],
                                 fuels=fuels.loc[code] if code in fuels.index else None,
                                 monthly_kwh=monthly_sub_items(months, code), region=region)
            retrofits = retrofit_section(rollups=influx, retrofits=list_retrofits(session=session, building_code=code),
                                         building_code=code, year=year)
            yield code, figures.model_copy(update={"retrofits": retrofits}) if retrofits else figures
        except (ValueError, KeyError, TypeError) as exc:
            yield code, exc
