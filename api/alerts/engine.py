"""Run the rules over all buildings and keep the alert lifecycle in the database.

Lifecycle: ``open`` -> ``acknowledged`` (who, when) -> ``resolved`` (by hand with a comment, or
``auto`` when a re-evaluation finds the condition cleared). One unresolved alert per rule and
building (also enforced by a partial unique index); re-evaluation updates it instead of
duplicating it. Every change is an ``AlertEvent`` row; every open/resolve queues outbox
messages in the same transaction, so a notification cannot be lost between the two.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal
from zoneinfo import ZoneInfo

import pandas as pd
from sqlalchemy import select
from sqlalchemy.orm import Session

from analytics import service
from analytics.baseline import BaselineFit
from analytics.opendsm_baseline import expected_daily, sum_uncertainty  # either model kind
from analytics.rollup import ROLLUP_RP
from api.alerts import rules
from api.alerts.inputs import BuildingInputs, gather, judged_week
from api.alerts.outbox import queue_notifications
from api.alerts.rules import Finding, Rule, RuleParams
from api.alerts.solar import expected_energy_kwh
from api.db import Alert, AlertEvent
from contract.localtime import days_in_year
from registry import repo
from registry.models import Building
from registry.weather import stations_for
from storage.influx import InfluxHTTP

UNRESOLVED = ("open", "acknowledged")
#: Rules that no longer exist, and why their open alerts are resolved on the next evaluation.
RETIRED_RULES = {"week_on_week_rise": "rule retired: replaced by use_above_expected, which compares the week with "
                                      "what the weather and China's calendar explain (docs/alerts.md)"}


@dataclass
class Context:
    """What the rules need besides the metered data: the quota (a function, so analytics' table is
    the one source, api/alerts/context.py), the client of the rollups (analytics' balance) and the
    name of their retention policy (where the baseline fits are stored)."""

    quota_kwh_per_m2: Callable[[Building], float | None]
    params: RuleParams = field(default_factory=RuleParams)
    #: Retention policy of the stored baselines (analytics' rollups, ``EP_ROLLUP_RP``).
    rollup_rp: str = ROLLUP_RP
    rollups: InfluxHTTP | None = None
    #: When the evaluating process started watching (the platform's start); None: long ago. The
    #: silence rules wait their own limit (``gap_intervals`` x ``interval_s``, :func:`silence_judged`)
    #: after it: a fleet catching up after a start is not offline.
    watching_since: dt.datetime | None = None
    #: That wait; None: the silence rules' own limit. [s]
    silence_grace_s: float | None = None


def silence_judged(ctx: Context, now: dt.datetime) -> bool:
    """Whether ``meter_offline`` and ``data_gap`` judge at ``now``: only once every device could
    have reported for ``gap_intervals`` intervals since the watch began (before that, an open
    alert of theirs stays as it was)."""
    grace_s = ctx.silence_grace_s
    if grace_s is None:
        grace_s = ctx.params.gap_intervals * ctx.params.interval_s
    return ctx.watching_since is None or (now - ctx.watching_since).total_seconds() >= grace_s


@dataclass
class EvaluationReport:
    evaluated_at: dt.datetime
    buildings: int
    findings: list[Finding]
    opened: list[int]
    updated: list[int]
    resolved: list[int]
    #: building_code -> the rules that had the data to judge it (the others left their alerts as they were).
    judged: dict[str, set[Rule]] = field(default_factory=dict)


def year_fraction(now: dt.datetime, tz: str) -> tuple[dt.datetime, float]:
    """Start of the local calendar year and the share of the year elapsed at ``now``."""
    local = now.astimezone(ZoneInfo(tz))
    start = local.replace(month=1, day=1, hour=0, minute=0, second=0, microsecond=0)
    end = start.replace(year=start.year + 1)
    return start, (local - start) / (end - start)


def audit_rows(*, session: Session, rollups: InfluxHTTP, now: dt.datetime, tz: str,
               codes: list[str] | None) -> pd.DataFrame:
    """Analytics' audit verdicts of the running year (calendar year so far, and the year-end
    projection from the days measured) for the buildings: the same balance and verdict the API and
    the report show."""
    today = now.astimezone(ZoneInfo(tz)).date()
    return service.audit_frame(influx=rollups, session=session, year=today.year, as_of=today, now=now, tz=tz,
                               windows=("calendar_year", "projected_year_end"), codes=codes)


def run_rules(inp: BuildingInputs, *, ctx: Context, now: dt.datetime,
              audit: pd.DataFrame | None = None) -> tuple[list[Finding], set[Rule]]:
    """Findings for one building, and the rules that had enough data to judge at all."""
    p, b = ctx.params, inp.building
    found: list[Finding | None] = []
    judged: set[Rule] = set()
    if audit is not None and len(audit):
        judged.add(Rule.audit_threshold)
        found.append(rules.audit_threshold(building_code=b.building_code, audit_rows=audit))
        proj = audit[audit["window"] == "projected_year_end"]
        if len(proj) and proj["measured_days"].iloc[0] / days_in_year(now.year) >= p.eui_min_year_fraction:
            # Judged only with enough of the year measured: early in the year an open quota alert stays open.
            judged.add(Rule.eui_over_quota)
            found.append(rules.eui_over_quota(building_code=b.building_code,
                                              annual_energy_kwh=float(proj["electricity_kwh"].iloc[0]),
                                              floor_area_m2=b.floor_area_m2,
                                              constraint_kwh_per_m2=ctx.quota_kwh_per_m2(b)))
    hourly = inp.hourly_kwh
    if len(hourly) >= 24 * 6:
        last7 = hourly[hourly.index >= hourly.index.max() - dt.timedelta(days=7)]
        # A window without a working day (a long holiday) has no working-day daytime to compare with.
        if b.building_type not in p.night_exempt_types and rules.working_hours(last7.index, p.local_tz).any():
            judged.add(Rule.night_base_load)
            found.append(rules.night_base_load(building_code=b.building_code, hourly_kwh=last7, params=p))
    if silence_judged(ctx, now):
        judged |= {Rule.meter_offline, Rule.data_gap}
        found.append(rules.meter_offline(building_code=b.building_code, silent_s=inp.silent_s, params=p))
        found.append(rules.data_gap(building_code=b.building_code, max_interval_s=inp.max_interval_s, params=p))
    # False: not judged (no baseline good enough, no station, too few complete days): an open alert
    # stays open; None: judged, condition absent.
    expected = _use_above_expected(inp, p, now)
    if expected is not False:
        judged.add(Rule.use_above_expected)
        found.append(expected)
    pv = _pv_underperformance(inp, p)
    if pv is not False:
        judged.add(Rule.pv_underperformance)
        found.append(pv)
    return [f for f in found if f is not None], judged


def usable_fit(fit: BaselineFit | None, p: RuleParams) -> bool:
    """A baseline good enough to judge a week by (RuleParams.expected_max_cv_rmse, docs/alerts.md)."""
    return (fit is not None and fit.ok and fit.guideline14 != "fails"
            and math.isfinite(fit.cv_rmse_daily) and fit.cv_rmse_daily <= p.expected_max_cv_rmse)


def _use_above_expected(inp: BuildingInputs, p: RuleParams, now: dt.datetime) -> Finding | None | Literal[False]:
    """The finding (or None when the week is as expected); False when the week cannot be judged."""
    if not usable_fit(inp.fit, p) or inp.hourly_kwh.empty:
        return False
    zone = ZoneInfo(p.local_tz)
    hourly = inp.hourly_kwh
    local_day = pd.Index([t.tz_convert(zone).date() for t in hourly.index])
    per_day = hourly.groupby(local_day).agg(["sum", "count"])
    start, end = judged_week(now, p.local_tz)
    days = [(start + dt.timedelta(days=k)).astimezone(zone).date() for k in range(7)]
    temps = inp.daily_temperature_degc
    # A day counts when all its 24 hours have use and the station has its temperature.
    ok = [d for d in days if d in per_day.index and per_day.loc[d, "count"] == 24 and d in temps.index]
    if len(ok) < p.expected_min_days:
        return False
    idx = pd.Index(ok)
    t = temps.loc[ok].to_numpy(dtype=float)
    try:
        exp_kwh, u_kwh = sum_uncertainty(inp.fit, idx, t)
    except ValueError:  # China's calendar does not know the year: day types unknown
        return False
    if not math.isfinite(exp_kwh):
        return False  # a day type the baseline never saw
    kinds = expected_daily(inp.fit, idx, t)["day_type"].value_counts().to_dict()
    explanation = {"days": len(ok), "first_day": ok[0].isoformat(), "last_day": ok[-1].isoformat(),
                   "temperature_mean_degc": float(t.mean()), "day_types": {k: int(v) for k, v in kinds.items()},
                   "baseline_period": [inp.fit.period_start.isoformat(), inp.fit.period_end.isoformat()],
                   "baseline_cv_rmse_daily": inp.fit.cv_rmse_daily, "baseline_guideline14": inp.fit.guideline14,
                   # The anchor of the baseline: this week's first day, or the week that opened the alert.
                   "held_since": (inp.fit_held_since or ok[0]).isoformat(),
                   "station": f"{inp.station.host_building_code}/{inp.station.device_id}" if inp.station else None}
    return rules.use_above_expected(building_code=inp.building.building_code,
                                    measured_kwh=float(per_day.loc[ok, "sum"].sum()), expected_kwh=exp_kwh,
                                    uncertainty_kwh=u_kwh, explanation=explanation, params=p)


def _pv_underperformance(inp: BuildingInputs, p: RuleParams) -> Finding | None | Literal[False]:
    """PV against the yield of the measured irradiance; False when it cannot be judged (no PV, no
    station, no hour with both readings)."""
    b = inp.building
    if not b.pv_systems or inp.pv_hourly_kwh.empty or inp.ghi_hourly_w_per_m2.empty:
        return False
    hours = inp.pv_hourly_kwh.index.intersection(inp.ghi_hourly_w_per_m2.index)
    if hours.empty:
        return False
    ghi = inp.ghi_hourly_w_per_m2.loc[hours]
    expected = sum(float(expected_energy_kwh(
        latitude_deg=b.latitude_deg, longitude_deg=b.longitude_deg, capacity_kwp=pv.capacity_kwp,
        tilt_deg=pv.tilt_deg, azimuth_deg=pv.azimuth_deg, ghi_w_per_m2=ghi,
        performance_ratio=p.pv_performance_ratio).sum()) for pv in b.pv_systems)
    if expected < p.pv_min_expected_kwh:
        return False  # too dark to judge: an open alert stays open
    actual = float(inp.pv_hourly_kwh.loc[hours].sum())
    return rules.pv_underperformance(building_code=b.building_code, actual_kwh=actual, expected_kwh=expected,
                                     irradiation_kwh_per_m2=float(ghi.sum()) / 1000.0, params=p)


def _clean(d: dict) -> dict:
    """JSON-safe details: NaN and inf become null."""
    out = {}
    for k, v in d.items():
        if isinstance(v, float) and not math.isfinite(v):
            v = None
        elif isinstance(v, dict):
            v = _clean(v)
        out[k] = v
    return out


def sync(session: Session, *, buildings: dict[str, Building], findings: list[Finding],
         judged: dict[str, set[Rule]], now: dt.datetime) -> tuple[list[int], list[int], list[int]]:
    """Open, update and auto-resolve alerts to match ``findings``; the caller commits."""
    unresolved = {(a.rule, a.building_code): a for a in session.scalars(
        select(Alert).where(Alert.state.in_(UNRESOLVED), Alert.building_code.in_(list(buildings))))}
    opened, updated, resolved = [], [], []
    hit = set()
    for f in findings:
        key = (f.rule.value, f.building_code)
        hit.add(key)
        a = unresolved.get(key)
        if a is not None:
            a.message, a.details, a.last_seen_at = f.message, _clean(f.details), now
            updated.append(a.id)
            continue
        b = buildings[f.building_code]
        a = Alert(rule=f.rule.value, building_code=f.building_code, district=b.district,
                  building_type=b.building_type, ownership=b.ownership, state="open", message=f.message,
                  details=_clean(f.details), opened_at=now, last_seen_at=now)
        session.add(a)
        session.flush()
        session.add(AlertEvent(alert_id=a.id, at=now, event="opened", actor="rules"))
        queue_notifications(session, alert=a, event="opened", now=now)
        opened.append(a.id)
    for (rule, code), a in unresolved.items():
        if rule in RETIRED_RULES:  # a database from before the rule was replaced
            resolve(session, alert=a, actor="auto", comment=RETIRED_RULES[rule], now=now)
            resolved.append(a.id)
        elif (rule, code) not in hit and rule in Rule.__members__ and Rule(rule) in judged.get(code, set()):
            resolve(session, alert=a, actor="auto", comment="condition cleared on re-evaluation", now=now)
            resolved.append(a.id)
    return opened, updated, resolved


def acknowledge(session: Session, *, alert: Alert, actor: str, now: dt.datetime) -> None:
    alert.state, alert.acknowledged_by, alert.acknowledged_at = "acknowledged", actor, now
    session.add(AlertEvent(alert_id=alert.id, at=now, event="acknowledged", actor=actor))


def resolve(session: Session, *, alert: Alert, actor: str, comment: str, now: dt.datetime) -> None:
    alert.state, alert.resolved_by, alert.resolved_at, alert.resolution_comment = "resolved", actor, now, comment
    session.add(AlertEvent(alert_id=alert.id, at=now, event="resolved", actor=actor, comment=comment))
    queue_notifications(session, alert=alert, event="resolved", now=now)


def evaluate(session: Session, *, influx: InfluxHTTP, ctx: Context, now: dt.datetime,
             building_codes: list[str] | None = None) -> EvaluationReport:
    """Evaluate every rule for the buildings (all by default) at ``now`` and commit the result."""
    blds = {b.building_code: b for b in repo.list_buildings(session=session, codes=building_codes)}
    stations = stations_for(session=session, building_codes=list(blds))
    hold = {}
    for a in session.scalars(select(Alert).where(Alert.rule == Rule.use_above_expected.value,
                                                 Alert.state.in_(UNRESOLVED), Alert.building_code.in_(list(blds)))):
        # held_since travels in the details, so weekly updates of the alert keep the first anchor
        first = (a.details or {}).get("held_since") or (a.details or {}).get("first_day")
        if first:
            hold[a.building_code] = dt.date.fromisoformat(first)
    data = gather(influx=influx, buildings=list(blds.values()), now=now, stations=stations, rollup_rp=ctx.rollup_rp,
                  tz=ctx.params.local_tz, hold_fit_before=hold)
    audit = audit_rows(session=session, rollups=ctx.rollups or influx, now=now, tz=ctx.params.local_tz,
                       codes=building_codes) if blds else pd.DataFrame()
    findings: list[Finding] = []
    judged: dict[str, set[Rule]] = {}
    for code, inp in data.items():
        f, j = run_rules(inp, ctx=ctx, now=now, audit=audit.loc[[code]] if code in audit.index else None)
        findings += f
        judged[code] = j
    opened, updated, resolved = sync(session, buildings=blds, findings=findings, judged=judged, now=now)
    session.commit()
    return EvaluationReport(now, len(blds), findings, opened, updated, resolved, judged)
