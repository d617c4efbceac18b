"""The daily baseline of a building and carrier: OpenDSM's daily model where the history allows it,
else the change-point model of analytics/baseline.py, both stored as the same ``BaselineFit``.

OpenDSM (LF Energy, formerly OpenEEmeter; ``opendsm.eemeter.DailyModel``) fits temperature
change-point submodels split by season and weekday/weekend, chosen by BIC. Two adaptations:

- Temperatures: OpenDSM's daily model works in degF (its balance-point bounds and smoothing are
  tuned for it); degC is converted here and only here (docs/glossary.md), never stored.
- China's day types: OpenDSM takes the weekday/weekend split from ``index.dayofweek``, and its
  settings only say which weekday numbers are weekend. ``_ChinaDailyModel`` overrides the one
  method that derives ``day_of_week`` (``DailyModel._initialize_data``, used by both fit and
  predict) so that a make-up working day on a weekend counts as a Monday and a holiday on a
  weekday counts as a Sunday. Holidays and rest days share the weekend submodels: OpenDSM has two
  day groups, not three. One fit over all days keeps OpenDSM's own split selection and its
  sufficiency check (separate fits per day group would fail the 90 % coverage check by design).

Sufficiency: OpenDSM's own ``DailyBaselineData`` check (by default 328-366 days, >= 90 % of days with
use and temperature, each month's temperature covered). A history it disqualifies, or a model it
disqualifies for poor fit, gets the change-point model with ``model_reason`` naming the criteria.

OpenDSM is imported on first use: the import takes ~10 s (numba), which a reader of change-point
fits should not pay.
"""

from __future__ import annotations

import datetime as dt
import json
import math

import numpy as np
import pandas as pd

from analytics.baseline import (
    CHANGE_POINT,
    BaselineFit,
    day_numbers,
    fit_baseline,
    lag1_autocorrelation,
    monthly_metrics,
)
from analytics.baseline import expected_daily as change_point_expected_daily
from analytics.baseline import sum_uncertainty as change_point_sum_uncertainty
from contract.cncalendar import day_types, year_known
from contract.localtime import TZ_NAME

OPENDSM = "opendsm_daily"
#: Coverage of a standard (one sigma, 68.27 %) uncertainty: OpenDSM's per-day ``predicted_unc`` and
#: its Guideline 14 savings uncertainty are asked for at this level, as the change-point model reports.
STANDARD_COVERAGE = 0.6827
#: OpenDSM's day-of-week numbers (``index.dayofweek + 1``) the day groups are mapped to.
_MONDAY, _SUNDAY = 1, 7


def degc_to_degf(t_degc):
    """degF = degC x 1.8 + 32 (OpenDSM's unit; the platform's is degC)."""
    return np.asarray(t_degc, dtype=float) * 1.8 + 32.0


def _eemeter():
    from opendsm import eemeter

    return eemeter


def _china_model_class():
    eemeter = _eemeter()

    class _ChinaDailyModel(eemeter.DailyModel):
        def _initialize_data(self, meter_data):
            return tuple(_china_days(df) for df in super()._initialize_data(meter_data))

    return _ChinaDailyModel


def _china_days(df: pd.DataFrame) -> pd.DataFrame:
    """OpenDSM's ``day_of_week`` with China's working days as weekdays and days off as weekend days."""
    if not len(df):
        return df
    kinds = day_types(day_numbers(pd.Index(df.index.date)))
    dow = df["day_of_week"].to_numpy().copy()
    dow[(kinds == "workday") & (dow > 5)] = _MONDAY
    dow[(kinds != "workday") & (dow <= 5)] = _SUNDAY
    return df.assign(day_of_week=dow)


def _frame(daily: pd.DataFrame, dates, tz: str) -> pd.DataFrame:
    """OpenDSM's input: tz-aware local midnights, ``observed`` and ``temperature`` [degF]."""
    d = daily.reindex(pd.Index(list(dates)))
    idx = pd.DatetimeIndex(pd.to_datetime([str(x) for x in d.index])).tz_localize(tz)
    out = pd.DataFrame({"temperature": degc_to_degf(d["temperature_mean_degc"])}, index=idx)
    if "use" in d:
        out["observed"] = d["use"].to_numpy(dtype=float)
    return out


def fit_daily_baseline(daily: pd.DataFrame, *, start: dt.date, end: dt.date, electricity: bool = True,
                       tz: str = TZ_NAME) -> BaselineFit:
    """The baseline of daily use over ``[start, end)``: OpenDSM's daily model, or the change-point model
    when OpenDSM's sufficiency check (or its fit check) disqualifies the history.

    ``daily`` as for :func:`analytics.baseline.fit_baseline` (``use``, ``temperature_mean_degc`` [degC]
    by local date). ``electricity``: OpenDSM treats zero electricity use as missing. The result is
    ``ok`` with ``model_kind`` and ``model_reason``, or a status without a model (never a guess).
    """
    unknown = [y for y in range(start.year, (end - dt.timedelta(days=1)).year + 1) if not year_known(y)]
    days = [start + dt.timedelta(days=k) for k in range((end - start).days)]
    reason = ""
    if not unknown and days:
        eemeter = _eemeter()
        data = eemeter.DailyBaselineData(_frame(daily, days, tz), is_electricity_data=electricity)
        if data.disqualification:
            reason = "OpenDSM's sufficiency check: " + ", ".join(
                w.qualified_name.rsplit(".", 1)[-1] for w in data.disqualification)
        else:
            model = _china_model_class()(settings={"uncertainty_alpha": 1 - STANDARD_COVERAGE})
            model.fit(data)
            if model.disqualification:
                reason = "OpenDSM's fit check: " + ", ".join(
                    w.qualified_name.rsplit(".", 1)[-1] for w in model.disqualification)
            else:
                return _opendsm_fit(model, data, start=start, end=end)
    fit = fit_baseline(daily, start=start, end=end)
    fit.model_kind = CHANGE_POINT
    fit.model_reason = reason or ("China's calendar does not know the period" if unknown else "")
    return fit


def _opendsm_fit(model, data, *, start: dt.date, end: dt.date) -> BaselineFit:
    pred = model.predict(data)
    pred = pred[pred["observed"].notna() & pred["predicted"].notna()]
    y, yhat = pred["observed"].to_numpy(float), pred["predicted"].to_numpy(float)
    resid = y - yhat
    m = model.baseline_metrics
    n, p = len(y), int(m.num_model_params)
    mean = float(y.mean())
    sigma = math.sqrt(float(resid @ resid) / max(n - p, 1))
    fit = BaselineFit(status="ok", period_start=start, period_end=end, days=n, form="opendsm",
                      sigma=sigma, mean_daily_use=mean, model_kind=OPENDSM,
                      model_reason="the history meets OpenDSM's sufficiency check",
                      terms=sorted(model.params.submodels), opendsm=model.to_dict())
    fit.rho = lag1_autocorrelation(resid)
    if mean > 0:
        # Guideline 14 as the change-point model reports them (OpenDSM's own cvrmse_adj is in the JSON).
        fit.cv_rmse_daily = sigma / mean
        fit.nmbe_daily = float(resid.sum()) / ((n - p) * mean)
    monthly_metrics(fit, pd.Index(pred.index.date), y, yhat)
    return fit


def _model(fit: BaselineFit):
    # A copy: OpenDSM's from_dict replaces parts of the dict it is given with objects.
    return _china_model_class().from_dict(json.loads(json.dumps(fit.opendsm)))


def _predict(model, dates: pd.Index, temperature_mean_degc, tz: str) -> pd.DataFrame:
    unknown = sorted({d.year for d in dates if not year_known(d.year)})
    if unknown:
        raise ValueError(f"China's calendar does not know {unknown}: day types of those days are unknown")
    df = pd.DataFrame({"temperature_mean_degc": np.asarray(temperature_mean_degc, dtype=float)}, index=dates)
    # A day without a temperature gets no expectation (NaN), as in the change-point model.
    return model._predict(_frame(df, dates, tz), mask_observed_with_missing_temperature=False)


def expected_daily(fit: BaselineFit, dates: pd.Index, temperature_mean_degc, tz: str = TZ_NAME) -> pd.DataFrame:
    """Expected use per day: ``expected`` [unit/d], ``std`` [unit/d] (one standard uncertainty of a
    day's use), ``day_type`` (China's), indexed by date, from either model kind."""
    if not fit.ok:
        raise ValueError(f"no baseline to predict from: {fit.status} ({fit.detail})")
    if fit.model_kind != OPENDSM:
        return change_point_expected_daily(fit, dates, temperature_mean_degc)
    p = _predict(_model(fit), dates, temperature_mean_degc, tz)
    return pd.DataFrame({"expected": p["predicted"].to_numpy(float), "std": p["predicted_unc"].to_numpy(float),
                         "day_type": day_types(day_numbers(dates))}, index=dates)


def sum_uncertainty(fit: BaselineFit, dates: pd.Index, temperature_mean_degc, tz: str = TZ_NAME) -> tuple[float, float]:
    """Expected use summed over ``dates`` and the standard uncertainty of measured minus expected.

    OpenDSM fits: OpenDSM's ``ReportingMetrics.total_savings_uncertainty`` (ASHRAE Guideline 14 with
    its autocorrelation term n/n' and Sun & Baltazar's correction for daily models) at one standard
    uncertainty (``STANDARD_COVERAGE``); change-point fits: analytics.baseline.sum_uncertainty.
    """
    if fit.model_kind != OPENDSM:
        return change_point_sum_uncertainty(fit, dates, temperature_mean_degc)
    from opendsm.common.metrics import ReportingMetrics

    model = _model(fit)
    p = _predict(model, dates, temperature_mean_degc, tz)
    if p["predicted"].isna().any():
        raise ValueError("a day without a temperature has no expectation: leave it out of the sum")
    rep = pd.DataFrame({"observed": p["predicted"], "predicted": p["predicted"]})
    metrics = ReportingMetrics(baseline_metrics=model.baseline_metrics, reporting_df=rep,
                               data_frequency="daily", confidence_level=STANDARD_COVERAGE)
    return float(p["predicted"].sum()), float(metrics.total_savings_uncertainty)
