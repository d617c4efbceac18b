"""Daily baselines per building and carrier: a change-point degree-day model with China's day types.

Pure functions (no I/O). A fit explains the daily use of one carrier by the day's mean outdoor
temperature and its day type (``workday``, ``restday``, ``holiday`` from contract/cncalendar.py):

.. math::

    E_d = a_{k(d)} + \\sum_{g} \\left[h_g \\max(T_h - T_d, 0) + c_g \\max(T_d - T_c, 0)\\right] 1[g(d) = g]
          + \\varepsilon_d

with one intercept ``a`` per day type (holidays share the rest-day intercept until the history has
``MIN_HOLIDAY_DAYS`` of them), heating and cooling slopes ``h``, ``c`` >= 0 separate for working
days and days off (an office heats and cools when it is occupied), and balance points ``T_h`` <=
``T_c`` chosen on a 1 degC grid; heating-only, cooling-only and weather-free forms compete, and the
one with the smallest residual variance ``SSE / (n - p)`` wins (PRISM / CalTRACK style).

The fit reports ASHRAE Guideline 14 metrics: CV(RMSE) and NMBE of the daily residuals, and of the
calendar-month sums, which are judged against the monthly criteria (CV(RMSE) <= 15 %, |NMBE| <= 5 %).
See docs/baselines.md for the choices and their sources.

Where the history meets OpenDSM's own sufficiency check, analytics/opendsm_baseline.py fits
OpenDSM's daily model instead and falls back to this one otherwise (docs/baselines.md).
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import asdict, dataclass, field

import numpy as np
import pandas as pd

from contract.cncalendar import day_types, year_known

#: ``BaselineFit.model_kind`` of this module's model (OpenDSM's: analytics/opendsm_baseline.py).
CHANGE_POINT = "change_point"
#: Fewer days with use and temperature than this: no model (p is up to 7; 3 weeks give >= 14
#: degrees of freedom and every weekday three times). [d]
MIN_DAYS = 21
#: Share of the period's days that must have use, and of those that must have a temperature,
#: as OpenDSM's default baseline sufficiency (>= 90 % daily temperature coverage). [-]
MIN_COVERAGE = 0.9
#: Holidays get their own intercept once the history holds this many holiday days. [d]
MIN_HOLIDAY_DAYS = 5
#: Balance-point grids. [degC]
HEAT_BALANCE_DEGC = tuple(float(t) for t in range(8, 21))
COOL_BALANCE_DEGC = tuple(float(t) for t in range(16, 29))
#: ASHRAE Guideline 14 model-fit criteria for monthly data. [-]
G14_MONTHLY_CV_RMSE = 0.15
G14_MONTHLY_NMBE = 0.05
#: A month counts towards the monthly metrics when this many of its days are in the fit. [d]
MIN_DAYS_IN_MONTH = 25
_EPOCH = dt.date(1970, 1, 1)


@dataclass
class BaselineFit:
    """A fitted baseline (or the reason there is none: ``status`` other than ``ok``).

    ``coefficients`` name the model's terms (``intercept_workday``, ``heating_workday`` [unit/(K.d)],
    ...); ``cov_unscaled`` is (X'X)^-1 in the order of ``terms``; ``sigma`` the residual standard
    deviation [unit/d]; ``rho`` the lag-1 autocorrelation of the daily residuals.
    """

    status: str
    detail: str = ""
    period_start: dt.date | None = None
    period_end: dt.date | None = None  # exclusive
    days: int = 0
    form: str = ""
    heat_balance_degc: float | None = None
    cool_balance_degc: float | None = None
    holiday_intercept: bool = False
    terms: list[str] = field(default_factory=list)
    coefficients: dict[str, float] = field(default_factory=dict)
    cov_unscaled: list[list[float]] = field(default_factory=list)
    sigma: float = math.nan
    rho: float = 0.0
    mean_daily_use: float = math.nan
    cv_rmse_daily: float = math.nan
    nmbe_daily: float = math.nan
    months: int = 0
    cv_rmse_monthly: float | None = None
    nmbe_monthly: float | None = None
    #: ``meets`` / ``fails`` (Guideline 14 monthly criteria) or ``not_assessable`` (< 3 full months).
    guideline14: str = "not_assessable"
    #: What the fit was made from (meters, station), recorded by the caller that read them.
    inputs: dict = field(default_factory=dict)
    #: ``change_point`` (this module) or ``opendsm_daily`` (analytics/opendsm_baseline.py); fits stored
    #: before OpenDSM was added have no key and are change-point fits.
    model_kind: str = CHANGE_POINT
    #: Why this model: e.g. the OpenDSM sufficiency criteria a short history failed.
    model_reason: str = ""
    #: OpenDSM's own serialisation of its model (``DailyModel.to_dict()``), for predictions.
    opendsm: dict = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.status == "ok"

    @classmethod
    def from_dict(cls, d: dict) -> BaselineFit:
        # Keys a newer version added are ignored, so a stored fit never stops a reader.
        d = {k: v for k, v in d.items() if k in cls.__dataclass_fields__}
        for k in ("period_start", "period_end"):
            d[k] = dt.date.fromisoformat(d[k]) if d.get(k) else None
        return cls(**d)

    def as_dict(self) -> dict:
        d = asdict(self)
        for k in ("period_start", "period_end"):
            d[k] = d[k].isoformat() if d[k] else None
        return d


def day_numbers(dates: pd.Index) -> np.ndarray:
    return np.array([(d - _EPOCH).days for d in dates], dtype=np.int64)


def _columns(temp: np.ndarray, kinds: np.ndarray, form: str, th: float, tc: float, holiday: bool) -> tuple:
    """Design matrix and its term names."""
    work = kinds == "workday"
    off = ~work
    cols, names = [work.astype(float)], ["intercept_workday"]
    rest = (kinds == "restday") | ((kinds == "holiday") & (not holiday))
    cols.append(rest.astype(float))
    names.append("intercept_restday")
    if holiday:
        cols.append((kinds == "holiday").astype(float))
        names.append("intercept_holiday")
    if form in ("heating", "both"):
        hdd = np.maximum(th - temp, 0.0)
        cols += [hdd * work, hdd * off]
        names += ["heating_workday", "heating_offday"]
    if form in ("cooling", "both"):
        cdd = np.maximum(temp - tc, 0.0)
        cols += [cdd * work, cdd * off]
        names += ["cooling_workday", "cooling_offday"]
    return np.column_stack(cols), names


def _candidates():
    yield "intercept", math.nan, math.nan
    for th in HEAT_BALANCE_DEGC:
        yield "heating", th, math.nan
    for tc in COOL_BALANCE_DEGC:
        yield "cooling", math.nan, tc
    for th in HEAT_BALANCE_DEGC:
        for tc in COOL_BALANCE_DEGC:
            if tc >= th:
                yield "both", th, tc


def fit_baseline(daily: pd.DataFrame, *, start: dt.date, end: dt.date) -> BaselineFit:
    """Fit the change-point model to daily use over local days ``[start, end)``.

    Parameters
    ----------
    daily : pandas.DataFrame
        Indexed by local date; ``use`` (the carrier's daily use in its base unit, e.g. kWh) and
        ``temperature_mean_degc`` (the day's mean outdoor air temperature [degC]). Missing days or
        NaN values are gaps.
    start, end : datetime.date
        The baseline period (end exclusive).

    Returns
    -------
    BaselineFit
        ``status`` ``ok``, or ``calendar_unknown``, ``too_many_gaps``, ``insufficient_weather``,
        ``insufficient_history`` with a ``detail``; never a model fitted on too little.
    """
    period_days = (end - start).days
    base = BaselineFit(status="ok", period_start=start, period_end=end)
    unknown = sorted({y for y in range(start.year, (end - dt.timedelta(days=1)).year + 1) if not year_known(y)})
    if unknown:
        base.status, base.detail = "calendar_unknown", f"China's calendar does not know {unknown}"
        return base
    d = daily.loc[[i for i in daily.index if start <= i < end]]
    with_use = d["use"].notna() if len(d) else pd.Series(dtype=bool)
    if period_days < MIN_DAYS or int(with_use.sum()) < MIN_DAYS:
        base.status = "insufficient_history"
        base.detail = f"{int(with_use.sum())} days with use; the model needs >= {MIN_DAYS}"
        return base
    if with_use.sum() < MIN_COVERAGE * period_days:
        base.status = "too_many_gaps"
        base.detail = f"use on {int(with_use.sum())} of {period_days} days (< {MIN_COVERAGE:.0%})"
        return base
    d = d[with_use]
    with_temp = d["temperature_mean_degc"].notna()
    if with_temp.sum() < MIN_COVERAGE * len(d) or with_temp.sum() < MIN_DAYS:
        base.status = "insufficient_weather"
        base.detail = f"temperature on {int(with_temp.sum())} of {len(d)} days with use (< {MIN_COVERAGE:.0%})"
        return base
    d = d[with_temp]
    y = d["use"].to_numpy(dtype=float)
    temp = d["temperature_mean_degc"].to_numpy(dtype=float)
    kinds = day_types(day_numbers(d.index))
    holiday = int((kinds == "holiday").sum()) >= MIN_HOLIDAY_DAYS
    yy = float(y @ y)
    best = None
    for form, th, tc in _candidates():
        X, names = _columns(temp, kinds, form, th, tc, holiday)
        keep = X.any(axis=0)  # a day type absent from the history has no intercept
        X, names = X[:, keep], [n for n, k in zip(names, keep, strict=True) if k]
        n, p = X.shape
        if n - p < 5:
            continue
        # Normal equations of a p <= 7 system: ~10 x faster than an SVD least squares per candidate,
        # and the grid has ~150 candidates (bench/baselines.py).
        xtx, xty = X.T @ X, X.T @ y
        try:
            beta = np.linalg.solve(xtx, xty)
        except np.linalg.LinAlgError:
            beta = np.linalg.lstsq(X, y, rcond=None)[0]
        slopes = [b for b, nm in zip(beta, names, strict=True) if nm.startswith(("heating", "cooling"))]
        if any(s < 0 for s in slopes):
            continue  # use falling as it gets colder (or hotter) is not a heating (cooling) term
        sse = float(yy - 2 * beta @ xty + beta @ xtx @ beta)
        var = max(sse, 0.0) / (n - p)
        if best is None or var < best[0] - 1e-12 * max(yy, 1.0) / n:
            best = (var, form, th, tc, X, names)
    _, form, th, tc, X, names = best
    # The winner once more with a least-squares solver, for its exact residuals.
    beta = np.linalg.lstsq(X, y, rcond=None)[0]
    resid = y - X @ beta
    n, p = X.shape
    var = float(resid @ resid) / (n - p)
    mean = float(y.mean())
    fit = BaselineFit(
        status="ok", period_start=start, period_end=end, days=n, form=form,
        heat_balance_degc=None if math.isnan(th) else th, cool_balance_degc=None if math.isnan(tc) else tc,
        holiday_intercept=holiday, terms=names, coefficients={k: float(b) for k, b in zip(names, beta, strict=True)},
        cov_unscaled=np.linalg.pinv(X.T @ X).tolist(), sigma=math.sqrt(var), mean_daily_use=mean)
    fit.rho = lag1_autocorrelation(resid)
    if mean > 0:
        fit.cv_rmse_daily = math.sqrt(var) / mean  # Guideline 14: sqrt(SSE / (n - p)) / mean
        fit.nmbe_daily = float(resid.sum()) / ((n - p) * mean)
    monthly_metrics(fit, d.index, y, y - resid)
    return fit


def lag1_autocorrelation(resid: np.ndarray) -> float:
    r = resid - resid.mean()
    den = float(r @ r)
    return float(r[1:] @ r[:-1]) / den if den > 0 and len(r) > 2 else 0.0


def monthly_metrics(fit: BaselineFit, dates: pd.Index, y: np.ndarray, yhat: np.ndarray) -> None:
    """Guideline 14 monthly metrics from calendar-month sums of the daily model.

    The parameters were fitted to days, so a month sum is a prediction with one degree of freedom
    used (its mean): n - 1 in the denominators.
    """
    month = np.array([d.year * 12 + d.month for d in dates])
    sums = [(float(y[month == m].sum()), float(yhat[month == m].sum()))
            for m in np.unique(month) if (month == m).sum() >= MIN_DAYS_IN_MONTH]
    fit.months = len(sums)
    if fit.months < 3:
        fit.guideline14 = "not_assessable"
        return
    obs = np.array([s[0] for s in sums])
    pred = np.array([s[1] for s in sums])
    mean = obs.mean()
    if mean <= 0:
        fit.guideline14 = "not_assessable"
        return
    fit.cv_rmse_monthly = float(math.sqrt(((obs - pred) ** 2).sum() / (fit.months - 1)) / mean)
    fit.nmbe_monthly = float((obs - pred).sum() / ((fit.months - 1) * mean))
    good = fit.cv_rmse_monthly <= G14_MONTHLY_CV_RMSE and abs(fit.nmbe_monthly) <= G14_MONTHLY_NMBE
    fit.guideline14 = "meets" if good else "fails"


def expected_daily(fit: BaselineFit, dates: pd.Index, temperature_mean_degc: np.ndarray) -> pd.DataFrame:
    """Expected use per day and the standard deviation of a day's use around it.

    Parameters
    ----------
    fit : BaselineFit
        An ``ok`` fit.
    dates : pandas.Index of datetime.date
        Local days to predict (their year must be known to China's calendar).
    temperature_mean_degc : array
        The days' mean outdoor temperature. [degC]

    Returns
    -------
    DataFrame indexed by date: ``expected`` [unit/d], ``std`` [unit/d], ``day_type``.

    Notes
    -----
    .. math:: s_d^2 = \\sigma^2 (1 + x_d^T (X^T X)^{-1} x_d)

    (the OLS prediction variance: noise of the day plus uncertainty of the parameters).
    """
    if not fit.ok:
        raise ValueError(f"no baseline to predict from: {fit.status} ({fit.detail})")
    if fit.model_kind != CHANGE_POINT:
        raise ValueError(f"a {fit.model_kind} fit: predict with analytics.opendsm_baseline")
    X, kinds = _x(fit, dates, temperature_mean_degc)
    beta = np.array([fit.coefficients[t] for t in fit.terms])
    cov = np.array(fit.cov_unscaled)
    std = fit.sigma * np.sqrt(1.0 + np.einsum("ij,jk,ik->i", X, cov, X))
    return pd.DataFrame({"expected": X @ beta, "std": std, "day_type": kinds}, index=dates)


def _x(fit: BaselineFit, dates: pd.Index, temp: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    unknown = sorted({d.year for d in dates if not year_known(d.year)})
    if unknown:
        raise ValueError(f"China's calendar does not know {unknown}: day types of those days are unknown")
    kinds = day_types(day_numbers(dates))
    form = fit.form
    th = fit.heat_balance_degc if fit.heat_balance_degc is not None else math.nan
    tc = fit.cool_balance_degc if fit.cool_balance_degc is not None else math.nan
    X, names = _columns(np.asarray(temp, dtype=float), kinds, form, th, tc, fit.holiday_intercept)
    idx = {n: i for i, n in enumerate(names)}
    # A term absent from the fit (a day type the history never had) gets no column: predicting
    # such a day from the other terms would be a guess, so its expectation is NaN.
    missing = [n for n in names if n not in fit.terms and X[:, idx[n]].any()]
    out = np.column_stack([X[:, idx[t]] for t in fit.terms])
    if missing:
        bad = np.zeros(len(dates), dtype=bool)
        for n in missing:
            bad |= X[:, idx[n]] != 0
        out[bad] = np.nan
    return out, kinds


def sum_uncertainty(fit: BaselineFit, dates: pd.Index, temperature_mean_degc: np.ndarray) -> tuple[float, float]:
    """Expected use summed over ``dates`` and its standard uncertainty (68 % confidence).

    Returns
    -------
    (expected sum [unit], standard uncertainty of measured minus expected sum [unit])

    Notes
    -----
    Residuals of daily models are autocorrelated; as ASHRAE Guideline 14 does, the effective
    number of independent days is :math:`n' = n (1 - \\rho) / (1 + \\rho)`, which inflates both
    the day-to-day noise of the sum and the parameter uncertainty by :math:`n / n'`:

    .. math:: u^2 = \\frac{n}{n'} \\sigma^2 \\left(m + s^T (X^T X)^{-1} s\\right),\\quad s = \\sum_d x_d

    for ``m`` predicted days.
    """
    if fit.model_kind != CHANGE_POINT:
        raise ValueError(f"a {fit.model_kind} fit: predict with analytics.opendsm_baseline")
    X, _ = _x(fit, dates, temperature_mean_degc)
    beta = np.array([fit.coefficients[t] for t in fit.terms])
    s = X.sum(axis=0)
    var = autocorrelation_inflation(fit.rho) * fit.sigma**2 * (len(dates) + float(s @ np.array(fit.cov_unscaled) @ s))
    return float(X.sum(axis=0) @ beta), math.sqrt(var)


def autocorrelation_inflation(rho: float) -> float:
    """n / n' = (1 + rho) / (1 - rho): how much autocorrelated daily residuals inflate the variance of a
    sum (ASHRAE Guideline 14); negative autocorrelation is not credited, rho is capped at 0.95. [-]"""
    rho = min(max(rho, 0.0), 0.95)
    return (1 + rho) / (1 - rho)
