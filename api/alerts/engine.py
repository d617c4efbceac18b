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
from zoneinfo import ZoneInfo

import pandas as pd
from sqlalchemy import select
from sqlalchemy.orm import Session

from analytics import service
from api.alerts import rules
from api.alerts.inputs import BuildingInputs, gather
from api.alerts.outbox import queue_notifications
from api.alerts.rules import Finding, Rule, RuleParams
from api.alerts.solar import clear_sky_energy_kwh
from api.db import Alert, AlertEvent
from contract.localtime import days_in_year
from registry import repo
from registry.models import Building
from storage.influx import InfluxHTTP

UNRESOLVED = ("open", "acknowledged")


@dataclass
class Context:
    """What the rules need besides the metered data: the quota (a function, so analytics' table is
    the one source, api/alerts/context.py) and the client of the rollups (analytics' balance)."""

    quota_kwh_per_m2: Callable[[Building], float | None]
    params: RuleParams = field(default_factory=RuleParams)
    rollups: InfluxHTTP | None = None


@dataclass
class EvaluationReport:
    evaluated_at: dt.datetime
    buildings: int
    findings: list[Finding]
    opened: list[int]
    updated: list[int]
    resolved: list[int]


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
        if b.building_type not in p.night_exempt_types:
            judged.add(Rule.night_base_load)
            last7 = hourly[hourly.index >= hourly.index.max() - dt.timedelta(days=7)]
            found.append(rules.night_base_load(building_code=b.building_code, hourly_kwh=last7, params=p))
        cut = now.replace(minute=0, second=0, microsecond=0) - dt.timedelta(days=7)
        last, prev = hourly[hourly.index >= cut], hourly[hourly.index < cut]
        if len(prev) >= 24 * 6 and len(last) >= 24 * 6:  # a week missing a day's data is not comparable
            judged.add(Rule.week_on_week_rise)
            found.append(rules.week_on_week_rise(
                building_code=b.building_code, last_week_kwh=float(last.mean() * 168),
                previous_week_kwh=float(prev.mean() * 168), params=p))
    judged |= {Rule.meter_offline, Rule.data_gap}
    found.append(rules.meter_offline(building_code=b.building_code, silent_s=inp.silent_s, params=p))
    found.append(rules.data_gap(building_code=b.building_code, max_interval_s=inp.max_interval_s, params=p))
    if b.pv_systems and not inp.pv_hourly_kwh.empty:
        judged.add(Rule.pv_underperformance)
        hours = inp.pv_hourly_kwh.index
        expected = sum(float(clear_sky_energy_kwh(
            latitude_deg=b.latitude_deg, longitude_deg=b.longitude_deg, capacity_kwp=pv.capacity_kwp,
            tilt_deg=pv.tilt_deg, azimuth_deg=pv.azimuth_deg, hours=hours,
            performance_ratio=p.pv_performance_ratio).sum()) for pv in b.pv_systems)
        found.append(rules.pv_underperformance(building_code=b.building_code,
                                               actual_kwh=float(inp.pv_hourly_kwh.sum()),
                                               clear_sky_kwh=expected, params=p))
    return [f for f in found if f is not None], judged


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
        if (rule, code) not in hit and Rule(rule) in judged.get(code, set()):
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
    data = gather(influx=influx, buildings=list(blds.values()), now=now)
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
    return EvaluationReport(now, len(blds), findings, opened, updated, resolved)
