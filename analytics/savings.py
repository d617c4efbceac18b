"""Retrofit savings verification, IPMVP Option C (whole facility): avoided energy = what the
pre-retrofit baseline predicts for the reporting period's weather and calendar - what was measured.

Pure functions; :func:`savings_for_retrofit` reads its inputs with analytics/baseline_job.py and
analytics/weather.py. Criteria (ASHRAE Guideline 14, docs/baselines.md): the baseline meets the
model-fit criteria, and the savings' uncertainty is below 50 % of the savings at 68 % confidence.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import asdict, dataclass, field

import pandas as pd

from analytics.baseline import BaselineFit
from analytics.baseline_job import HISTORY_DAYS, daily_use
from analytics.opendsm_baseline import fit_daily_baseline, sum_uncertainty  # either model kind
from analytics.weather import daily_weather
from contract.localtime import TZ_NAME

#: Guideline 14: savings uncertainty below this share of the savings (at 68 % confidence). [-]
MAX_RELATIVE_UNCERTAINTY = 0.5


@dataclass
class PeriodSavings:
    """Avoided energy over some days: ``avoided = predicted - measured`` with its standard uncertainty."""

    start: str
    end: str  # exclusive
    days: int
    predicted: float
    measured: float
    avoided: float
    uncertainty: float  # 68 % (one standard uncertainty)
    avoided_share: float  # avoided / predicted


@dataclass
class SavingsReport:
    status: str  # ok, retrofit_in_future, no_baseline, no_reporting_data
    detail: str = ""
    baseline: dict = field(default_factory=dict)
    months: list[PeriodSavings] = field(default_factory=list)
    to_date: PeriodSavings | None = None
    #: Guideline 14: ``meets`` when the baseline meets the fit criteria and the savings' uncertainty
    #: is below half the savings; ``fails`` otherwise; ``not_assessable`` when the baseline's verdict is.
    guideline14: str = "not_assessable"
    expected_saving_share: float | None = None

    def as_dict(self) -> dict:
        return asdict(self)


def _period(fit: BaselineFit, d: pd.DataFrame) -> PeriodSavings:
    predicted, u = sum_uncertainty(fit, d.index, d["temperature_mean_degc"].to_numpy(dtype=float))
    measured = float(d["use"].sum())
    avoided = predicted - measured
    return PeriodSavings(d.index[0].isoformat(), (d.index[-1] + dt.timedelta(days=1)).isoformat(), len(d),
                         predicted, measured, avoided, u, avoided / predicted if predicted else float("nan"))


def avoided_energy(fit: BaselineFit, reporting: pd.DataFrame, *, retrofit_on: dt.date, today: dt.date,
                   expected_saving_share: float | None = None) -> SavingsReport:
    """Avoided energy per calendar month and to date after a retrofit.

    Parameters
    ----------
    fit : BaselineFit
        The baseline fitted on days up to and including ``retrofit_on`` (its ``period_end`` is at most
        the day after).
    reporting : pandas.DataFrame
        Indexed by local date: ``use`` [unit/d] and ``temperature_mean_degc`` [degC].
    retrofit_on : datetime.date
        Day the retrofit was completed; the reporting period starts the day after.
    today : datetime.date
        First day not yet complete; the reporting period ends before it.

    Returns
    -------
    SavingsReport
        Months with a day of use and temperature, and the total to date; a ``status`` instead of
        figures when the retrofit is in the future, the baseline is missing or was fitted on
        post-retrofit days, or no reporting day has data.
    """
    report = SavingsReport(status="ok", expected_saving_share=expected_saving_share)
    start = retrofit_on + dt.timedelta(days=1)
    if start >= today:
        report.status, report.detail = "retrofit_in_future", f"reporting starts {start}, today is {today}"
        return report
    if not fit.ok:
        report.status, report.detail = "no_baseline", f"baseline {fit.status}: {fit.detail}"
        return report
    if fit.period_end is not None and fit.period_end > start:
        report.status = "no_baseline"
        report.detail = f"the baseline ends {fit.period_end}, after the retrofit: it would include saved days"
        return report
    report.baseline = {k: v for k, v in fit.as_dict().items() if k not in ("cov_unscaled",)}
    d = reporting.loc[[i for i in reporting.index if start <= i < today]]
    d = d[d["use"].notna() & d["temperature_mean_degc"].notna()]
    if d.empty:
        report.status, report.detail = "no_reporting_data", f"no day with use and temperature from {start}"
        return report
    for _, month in d.groupby(pd.Index([i.year * 12 + i.month - 1 for i in d.index])):
        report.months.append(_period(fit, month))
    report.to_date = _period(fit, d)
    report.guideline14 = guideline14_verdict(fit.guideline14, report.to_date.avoided, report.to_date.uncertainty)
    return report


def guideline14_verdict(baseline_verdict: str, avoided: float, uncertainty: float) -> str:
    """Guideline 14 verdict of a saving: ``meets`` when the baseline meets the fit criteria and the
    standard uncertainty is below ``MAX_RELATIVE_UNCERTAINTY`` of a positive saving, ``fails``
    otherwise, ``not_assessable`` when the baseline's verdict is (the disclosure's year reuses it)."""
    if baseline_verdict == "not_assessable":
        return "not_assessable"
    precise = avoided > 0 and uncertainty < MAX_RELATIVE_UNCERTAINTY * avoided
    return "meets" if baseline_verdict == "meets" and precise else "fails"


def savings_for_retrofit(*, influx, rollups, session, building_code: str, carrier: str, retrofit_on: dt.date,
                         today: dt.date, station, expected_saving_share: float | None = None,
                         tz: str = TZ_NAME) -> SavingsReport:
    """Read the building's daily use and its station's weather, fit the baseline on the
    ``HISTORY_DAYS`` up to the retrofit, and verify the savings since."""
    from registry import repo

    if retrofit_on + dt.timedelta(days=1) >= today:
        return SavingsReport(status="retrofit_in_future", detail=f"retrofit on {retrofit_on}, today is {today}",
                             expected_saving_share=expected_saving_share)
    if station is None:
        return SavingsReport(status="no_baseline", detail="no weather station assigned to the building or its "
                             "district", expected_saving_share=expected_saving_share)
    b = repo.get_building(session=session, building_code=building_code)
    base_end = retrofit_on + dt.timedelta(days=1)
    start = base_end - dt.timedelta(days=HISTORY_DAYS)
    use = daily_use(rollups=rollups, buildings=[b], start=start, end=today, tz=tz).get((building_code, carrier))
    if use is None or use.notna().sum() == 0:
        return SavingsReport(status="no_baseline", detail=f"no daily {carrier} use in the rollups",
                             expected_saving_share=expected_saving_share)
    wx = daily_weather(influx, host_building_code=station.host_building_code, device_id=station.device_id,
                       start=start, end=today, tz=tz)
    df = pd.DataFrame({"use": use}).join(wx[["temperature_mean_degc"]])
    before = df.loc[[i for i in df.index if i < base_end]]
    first = before["use"].first_valid_index()
    if first is None:
        return SavingsReport(status="no_baseline", detail="no use before the retrofit",
                             expected_saving_share=expected_saving_share)
    fit = fit_daily_baseline(before, start=first, end=base_end, electricity=carrier == "electricity", tz=tz)
    return avoided_energy(fit, df, retrofit_on=retrofit_on, today=today, expected_saving_share=expected_saving_share)


SAVINGS_MEASUREMENT = "retrofit_savings"


def write_savings(rollups, *, building_code: str, retrofit_id: int, carrier: str, report: SavingsReport,
                  tz: str = TZ_NAME) -> int:
    """One ``retrofit_savings`` point per reported month (stamped at the month's local start), fields in
    the carrier's base unit (``avoided_kwh``, ``uncertainty_kwh``, ...), for dashboards; a report
    without figures writes its ``status`` and ``detail`` at the retrofit's id instead. Returns the lines."""
    from contract.localtime import local_midnight
    from contract.units import BASE_SUFFIX
    from contract.vocabulary import CARRIER_DIMENSION, Carrier
    from storage.lineproto import encode_line

    unit = BASE_SUFFIX[CARRIER_DIMENSION[Carrier(carrier)]]
    tags = {"building_code": building_code, "retrofit_id": str(retrofit_id), "carrier": carrier}
    lines = []
    for m in report.months:
        start = dt.date.fromisoformat(m.start).replace(day=1)
        fields = {f"{k}_{unit}": getattr(m, k) for k in ("predicted", "measured", "avoided", "uncertainty")}
        fields |= {"avoided_share": m.avoided_share, "days": m.days, "status": report.status,
                   "guideline14": report.guideline14,
                   # the baseline's own fit verdict, so a part of the period (a disclosure year) gets its own
                   "baseline_guideline14": str(report.baseline.get("guideline14", "not_assessable"))}
        lines.append(encode_line(SAVINGS_MEASUREMENT, tags, fields, int(local_midnight(start, tz).timestamp() * 1000)))
    if not report.months:
        lines.append(encode_line(SAVINGS_MEASUREMENT, tags, {"status": report.status, "detail": report.detail}, 0))
    rollups.write_lines(lines)
    return len(lines)


def refresh_savings(*, influx, rollups, session, today: dt.date, tz: str = TZ_NAME) -> list[tuple[int, str]]:
    """Verify every recorded retrofit up to ``today`` and store the figures (the baselines job runs it).
    Returns ``(retrofit id, status)``."""
    from sqlalchemy import select

    from registry.models import Retrofit
    from registry.weather import station_for

    out = []
    for r in session.scalars(select(Retrofit).order_by(Retrofit.id)):
        rep = savings_for_retrofit(influx=influx, rollups=rollups, session=session, building_code=r.building_code,
                                   carrier=r.carrier, retrofit_on=r.completed_on, today=today,
                                   station=station_for(session=session, building_code=r.building_code),
                                   expected_saving_share=r.expected_saving_share, tz=tz)
        write_savings(rollups, building_code=r.building_code, retrofit_id=r.id, carrier=r.carrier, report=rep, tz=tz)
        out.append((r.id, rep.status))
    return out
