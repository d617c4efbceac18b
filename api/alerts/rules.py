"""Alert rules as pure functions: numbers and pandas Series in, a finding (or None) out.

No I/O here: :mod:`api.alerts.inputs` fetches the data, :mod:`api.alerts.engine` runs the
rules and keeps the alert lifecycle. Every threshold is a named parameter of
:class:`RuleParams` and is copied into the finding's details, so an alert says which values
it was judged against.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from enum import StrEnum

import numpy as np
import pandas as pd

from analytics.audit import ELECTRICITY_THRESHOLD_KWH, ENERGY_THRESHOLD_TCE, Verdict
from contract.cncalendar import day_types
from contract.localtime import TZ_NAME


class Rule(StrEnum):
    audit_threshold = "audit_threshold"
    eui_over_quota = "eui_over_quota"
    night_base_load = "night_base_load"
    use_above_expected = "use_above_expected"
    meter_offline = "meter_offline"
    data_gap = "data_gap"
    pv_underperformance = "pv_underperformance"


@dataclass(frozen=True)
class RuleParams:
    """Thresholds of every rule; defaults follow the plans and the platform's documented choices."""

    #: The audit thresholds and the coverage a reassuring verdict needs are analytics' (one home:
    #: analytics/audit.py); the rule raises an alert on the verdicts ``required`` and ``projected``.
    #: The quota is an annual value; a projection from less of the year measured than this is one
    #: season's intensity (winter heating, summer cooling) times the year, so it is not judged. [-]
    eui_min_year_fraction: float = 1 / 3
    #: Night (local) mean power above this share of day mean power is a base-load alert. [-]
    night_share: float = 0.6
    #: Building types that operate around the clock (MOHURD letters C hotel, E medical): their night
    #: load is occupancy, not waste, so the base-load rule does not judge them.
    night_exempt_types: tuple[str, ...] = ("hotel", "medical")
    night_hours: tuple[int, int] = (0, 5)  # [h, h) local time
    day_hours: tuple[int, int] = (9, 17)  # [h, h) local time, working days only (China's calendar)
    local_tz: str = TZ_NAME
    #: Last 7 days' electricity above the weather-and-calendar expectation of the building's baseline
    #: (docs/baselines.md) by more than k standard uncertainties of that expectation... [-]
    expected_k: float = 3.0
    #: ... and by more than this share of it, so a tight model does not report a 2 % rise. [-]
    expected_min_excess: float = 0.10
    #: Minimum fit quality to judge at all: daily CV(RMSE) at most this, and no failed Guideline 14
    #: verdict (a fit too short for the monthly verdict is used, its uncertainty is larger). [-]
    expected_max_cv_rmse: float = 0.25
    #: Days of the last week that need metered use and a station temperature. [d]
    expected_min_days: int = 6
    #: A device is offline / a gap is an alert after this many missing 15 min intervals. [-]
    gap_intervals: int = 4
    interval_s: int = 900
    #: PV: actual generation below this share of the yield expected from the measured irradiance
    #: over the window. Against measured irradiance, clouds are in the expectation, so what is left
    #: is temperature (-0.4 %/K, about -10 % on a hot summer day) and soiling: 0.7 leaves room for
    #: both and catches a third of the strings lost. [-]
    pv_min_ratio: float = 0.7
    #: Plane-of-array irradiance to AC energy: inverter, soiling, temperature and wiring losses. [-]
    pv_performance_ratio: float = 0.8
    #: Below this expected energy the window is too dark to judge. [kWh]
    pv_min_expected_kwh: float = 1.0
    extra: dict = field(default_factory=dict)

    def as_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class Finding:
    """A rule's condition holds at a building: the alert's message and the numbers behind it."""

    rule: Rule
    building_code: str
    message: str
    details: dict


def audit_threshold(*, building_code: str, audit_rows: pd.DataFrame) -> Finding | None:
    """An alert when analytics' audit verdict (:func:`analytics.audit.audit_verdict`) of a window
    is ``required`` (measured use at a threshold) or ``projected`` (the year-end projection from the
    days actually measured is at a threshold, however little data there is: the auditor should look).

    Parameters
    ----------
    audit_rows : DataFrame
        The building's rows of :func:`analytics.service.audit_frame` (one per window).
    """
    hit = audit_rows[audit_rows["verdict"].isin([Verdict.required.value, Verdict.projected.value])]
    if hit.empty:
        return None
    # A measured crossing outranks a projection.
    r = hit.sort_values("verdict", key=lambda v: v != Verdict.required.value).iloc[0]
    how = ("crossed" if r.verdict == Verdict.required.value else "projected to be crossed by year end")
    text = (f"audit threshold {how} ({r.triggered_by}, {r.window}): {r.energy_tce:,.1f} tce and "
            f"{r.electricity_kwh:,.0f} kWh (thresholds {ENERGY_THRESHOLD_TCE:,.0f} tce or "
            f"{ELECTRICITY_THRESHOLD_KWH:,.0f} kWh); {r.measured_days:,.1f} days measured, coverage "
            f"{r.period_coverage:.0%}" + (f", basis {r.projection_basis}" if r.projection_basis else ""))
    return Finding(Rule.audit_threshold, building_code, text, {
        "verdict": str(r.verdict), "window": str(r.window), "triggered_by": str(r.triggered_by),
        "energy_tce": float(r.energy_tce), "electricity_kwh": float(r.electricity_kwh),
        "measured_days": float(r.measured_days), "coverage": float(r.coverage),
        "period_coverage": float(r.period_coverage), "projection_basis": str(r.projection_basis),
        "audit_energy_tce": ENERGY_THRESHOLD_TCE, "audit_electricity_kwh": ELECTRICITY_THRESHOLD_KWH})


def eui_over_quota(*, building_code: str, annual_energy_kwh: float, floor_area_m2: float,
                   constraint_kwh_per_m2: float | None) -> Finding | None:
    """Energy use intensity above the quota's constraint value (GB/T 51161-2016 style).

    Parameters
    ----------
    annual_energy_kwh : float
        Annual (or projected annual) energy use. [kWh]
    floor_area_m2 : float
        Floor area. [m2]
    constraint_kwh_per_m2 : float or None
        The quota's constraint value for the building's type and climate zone; None: no quota. [kWh/(m2.a)]
    """
    if constraint_kwh_per_m2 is None or floor_area_m2 <= 0:
        return None
    eui = annual_energy_kwh / floor_area_m2
    if eui <= constraint_kwh_per_m2:
        return None
    return Finding(Rule.eui_over_quota, building_code,
                   f"energy use intensity {eui:.1f} kWh/(m2.a) above the constraint value "
                   f"{constraint_kwh_per_m2:.1f}",
                   {"eui_kwh_per_m2": eui, "constraint_kwh_per_m2": constraint_kwh_per_m2,
                    "annual_energy_kwh": annual_energy_kwh, "floor_area_m2": floor_area_m2})


def working_hours(index: pd.DatetimeIndex, tz: str) -> np.ndarray:
    """True for the instants that fall on a working day of China's calendar (contract/cncalendar.py):
    weekdays and make-up working days, not statutory holidays. Unknown years: weekdays."""
    local = index.tz_convert(tz)
    days = (local.normalize().tz_localize(None) - pd.Timestamp("1970-01-01")).days.to_numpy()
    return day_types(days) == "workday"


def night_base_load(*, building_code: str, hourly_kwh: pd.Series, params: RuleParams) -> Finding | None:
    """Night base load above a share of daytime use on working days.

    Parameters
    ----------
    hourly_kwh : pandas.Series
        Electricity use per hour, indexed by the hour's start (tz-aware). [kWh]

    Notes
    -----
    Mean hourly use over the night hours (every night) divided by mean hourly use over the day
    hours of working days; an hour's kWh equals its mean power in kW, so this is also the ratio of
    mean powers. Day hours of weekends and holidays are left out: an empty office in a holiday week
    has a low day, not a high night. Without a working day in the window it cannot judge (None).
    """
    if hourly_kwh.empty:
        return None
    local_hour = hourly_kwh.index.tz_convert(params.local_tz).hour
    work = working_hours(hourly_kwh.index, params.local_tz)
    night = hourly_kwh[(local_hour >= params.night_hours[0]) & (local_hour < params.night_hours[1])]
    day = hourly_kwh[(local_hour >= params.day_hours[0]) & (local_hour < params.day_hours[1]) & work]
    if night.empty or day.empty or day.mean() <= 0:
        return None
    share = float(night.mean() / day.mean())
    if share <= params.night_share:
        return None
    return Finding(Rule.night_base_load, building_code,
                   f"night base load {night.mean():.1f} kW is {share:.0%} of the working-day daytime "
                   f"{day.mean():.1f} kW (limit {params.night_share:.0%})",
                   {"night_mean_kw": float(night.mean()), "day_mean_kw": float(day.mean()), "share": share,
                    "night_share_limit": params.night_share})


def use_above_expected(*, building_code: str, measured_kwh: float, expected_kwh: float, uncertainty_kwh: float,
                       explanation: dict, params: RuleParams) -> Finding | None:
    """Electricity of the last 7 days above what the weather and the calendar explain.

    Parameters
    ----------
    measured_kwh : float
        Metered use of the judged days. [kWh]
    expected_kwh : float
        The baseline's expectation for the same days, from their measured mean temperatures and
        day types (:func:`analytics.baseline.sum_uncertainty`). [kWh]
    uncertainty_kwh : float
        Standard uncertainty of measured minus expected under the baseline. [kWh]
    explanation : dict
        What the expectation rests on (days, day types, mean temperature, the fit's period and
        metrics); copied into the details.

    Notes
    -----
    An alert when :math:`E_{meas} - E_{exp} > k u` and :math:`E_{meas} / E_{exp} - 1 > r_{min}`.
    A hot week or a holiday week raises the expectation, so it raises no alert by itself.
    """
    if expected_kwh <= 0 or not math.isfinite(expected_kwh) or not math.isfinite(uncertainty_kwh):
        return None
    excess = measured_kwh - expected_kwh
    rise = measured_kwh / expected_kwh - 1
    z = excess / uncertainty_kwh if uncertainty_kwh > 0 else math.inf
    if excess <= params.expected_k * uncertainty_kwh or rise <= params.expected_min_excess:
        return None
    temp = explanation.get("temperature_mean_degc")
    kinds = explanation.get("day_types", {})
    why = (f"mean outdoor temperature {temp:.1f} degC, " if temp is not None else "") + ", ".join(
        f"{n} {k}" for k, n in sorted(kinds.items()))
    return Finding(Rule.use_above_expected, building_code,
                   f"electricity {measured_kwh:,.0f} kWh in the last {explanation.get('days', 7)} days is "
                   f"{rise:.0%} above the {expected_kwh:,.0f} kWh the weather and calendar explain ({why}); "
                   f"the excess {excess:,.0f} kWh is {z:.1f} x the expectation's uncertainty "
                   f"{uncertainty_kwh:,.0f} kWh (limit {params.expected_k:g} x and "
                   f"{params.expected_min_excess:.0%}): not weather, not the calendar",
                   {"measured_kwh": measured_kwh, "expected_kwh": expected_kwh, "uncertainty_kwh": uncertainty_kwh,
                    "excess_kwh": excess, "rise": rise, "z": z, "expected_k": params.expected_k,
                    "expected_min_excess": params.expected_min_excess, **explanation})


def meter_offline(*, building_code: str, silent_s: dict[str, float], params: RuleParams) -> Finding | None:
    """Devices silent for longer than ``gap_intervals`` intervals.

    Parameters
    ----------
    silent_s : dict of str to float
        device_id -> seconds since its last reading (inf when none in the look-back window). [s]
    """
    limit_s = params.gap_intervals * params.interval_s
    off = {d: s for d, s in sorted(silent_s.items()) if s > limit_s}
    if not off:
        return None
    return Finding(Rule.meter_offline, building_code,
                   f"{len(off)} device(s) silent for more than {params.gap_intervals} intervals: "
                   + ", ".join(off),
                   {"devices": list(off), "silent_s": {d: (None if math.isinf(s) else s) for d, s in off.items()},
                    "limit_s": limit_s})


def data_gap(*, building_code: str, max_interval_s: dict[str, float], params: RuleParams) -> Finding | None:
    """Gaps in data that arrived (a register reading after a long silence).

    Parameters
    ----------
    max_interval_s : dict of str to float
        device_id -> longest ``interval_s`` between consecutive readings in the window. [s]
    """
    limit_s = params.gap_intervals * params.interval_s
    gaps = {d: s for d, s in sorted(max_interval_s.items()) if s > limit_s}
    if not gaps:
        return None
    return Finding(Rule.data_gap, building_code,
                   f"data gap longer than {params.gap_intervals} intervals at " + ", ".join(
                       f"{d} ({s / 3600:.1f} h)" for d, s in gaps.items()),
                   {"devices": list(gaps), "max_interval_s": gaps, "limit_s": limit_s})


def pv_underperformance(*, building_code: str, actual_kwh: float, expected_kwh: float, irradiation_kwh_per_m2: float,
                        params: RuleParams) -> Finding | None:
    """PV generation far below the yield the measured irradiance allows.

    Parameters
    ----------
    actual_kwh : float
        Metered generation in the hours that have both a PV reading and an irradiance reading. [kWh]
    expected_kwh : float
        Yield expected from the station's measured GHI in the same hours
        (:func:`api.alerts.solar.expected_energy_kwh`). [kWh]
    irradiation_kwh_per_m2 : float
        Global horizontal irradiation of those hours (what the expectation rests on). [kWh/m2]

    Notes
    -----
    Clouds are in the measured irradiance, so a cloudy week lowers the expectation, not the ratio;
    a tripped inverter or failed strings lower the ratio.
    """
    if expected_kwh < params.pv_min_expected_kwh:
        return None
    ratio = actual_kwh / expected_kwh
    if ratio >= params.pv_min_ratio:
        return None
    return Finding(Rule.pv_underperformance, building_code,
                   f"PV produced {actual_kwh:,.1f} kWh, {ratio:.0%} of the {expected_kwh:,.1f} kWh expected from the "
                   f"measured irradiance ({irradiation_kwh_per_m2:,.2f} kWh/m2 horizontal; limit "
                   f"{params.pv_min_ratio:.0%}): not clouds, the arrays or inverters",
                   {"actual_kwh": actual_kwh, "expected_kwh": expected_kwh, "ratio": ratio,
                    "irradiation_kwh_per_m2": irradiation_kwh_per_m2, "pv_min_ratio": params.pv_min_ratio,
                    "pv_performance_ratio": params.pv_performance_ratio})
