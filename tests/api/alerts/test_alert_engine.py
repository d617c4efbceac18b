"""Alert rules over real InfluxDB data with injected conditions: every injected condition raises
its alert, nothing else does; re-evaluation neither duplicates nor forgets; cleared conditions
resolve automatically. Data is built by tests/api/alerts/scenario.py (see its docstring for why)."""

from __future__ import annotations

import dataclasses
import datetime as dt
from pathlib import Path

import pytest
from sqlalchemy import func, select

from analytics import rollup
from analytics.baseline_job import write_fits
from analytics.rollup import ROLLUP_RP, ensure_rollup_rp, rollup_client
from api.alerts import engine
from api.alerts.context import default_context
from api.alerts.rules import Rule
from api.db import Alert, AlertEvent, OutboxMessage
from registry import db as registry_db
from registry import repo
from storage.influx import InfluxHTTP
from tests.api.alerts import scenario
from tests.api.alerts.scenario import INJECTED, NOW, OFFLINE


@pytest.fixture
def city(tmp_path, influxd, fresh_db):
    eng = registry_db.make_engine(f"sqlite:///{tmp_path}/registry.db")
    registry_db.migrate(eng)
    sessions = registry_db.make_sessionmaker(eng)
    with sessions() as s:
        for b in scenario.BUILDINGS:
            repo.upsert_building(session=s, spec=b)
        scenario.add_weather_station(s)
        s.commit()
    influx = InfluxHTTP(influxd.url, database=fresh_db)
    ensure_rollup_rp(influx, ROLLUP_RP)
    scenario.fit_lines(rollup_client(influx, ROLLUP_RP))
    data = scenario.lines(scenario.HOURLY_FROM, NOW, daily_before=scenario.HOURLY_FROM)
    for i in range(0, len(data), 5000):
        influx.write_lines(data[i:i + 5000])
    # The audit rule reads analytics' balance, which the rollup job writes (here into the same policy).
    rollup.run(influx, start=dt.date(2026, 1, 1), now=NOW, rollup_rp=None, rederive=False)
    yield sessions, influx
    influx.close()


#: A city's real quota (the shipped table's EXAMPLE rows are never a standard): hotel 160 kWh/(m2.a).
CTX = default_context(quota_csv=Path(__file__).with_name("quota_test_city.csv"))


def _open(s) -> set[tuple[str, str]]:
    return {(a.rule, a.building_code) for a in s.scalars(select(Alert).where(Alert.state != "resolved"))}


def test_injected_conditions_raise_exactly_their_alerts(city):
    sessions, influx = city
    with sessions() as s:
        report = engine.evaluate(s, influx=influx, ctx=CTX, now=NOW)
        assert report.buildings == len(scenario.BUILDINGS)
        assert _open(s) == INJECTED
        # every opened alert queued its MQTT message in the same transaction
        assert s.scalar(select(func.count()).select_from(OutboxMessage)) == len(INJECTED)


def test_audit_alert_is_the_projection(city):
    sessions, influx = city
    with sessions() as s:
        engine.evaluate(s, influx=influx, ctx=CTX, now=NOW)
        a = s.scalar(select(Alert).where(Alert.rule == "audit_threshold"))
    assert a.building_code == scenario.AUDIT and a.details["verdict"] == "projected"
    assert a.details["window"] == "projected_year_end"
    # 1 Jan 00:00 to 15 Jun 12:00 local = 165.5 d, all of it measured (daily then hourly readings
    # cover their whole intervals): 165 full days x 14,750 kWh + 15 June 0-12 h (6,250 kWh)
    # = 2,440,000 kWh; x 365 / 165.5 d = 5,381,269 kWh >= 5,000,000
    assert a.details["measured_days"] == pytest.approx(165.5)
    assert a.details["electricity_kwh"] == pytest.approx((165 * 14_750 + 6_250) * 365 / 165.5)
    # 5,381,269 kWh x 0.1229 kgce/kWh / 1000 = 661.4 tce (the energy test alone would not list it)
    assert a.details["energy_tce"] == pytest.approx(2_440_000 * 365 / 165.5 * 0.1229 / 1000)
    assert a.details["triggered_by"] == "electricity"


def test_reevaluation_does_not_duplicate(city):
    sessions, influx = city
    with sessions() as s:
        first = engine.evaluate(s, influx=influx, ctx=CTX, now=NOW)
        again = engine.evaluate(s, influx=influx, ctx=CTX, now=NOW + dt.timedelta(minutes=5))
        assert (len(first.opened), again.opened, len(again.updated)) == (len(INJECTED), [], len(INJECTED))
        assert s.scalar(select(func.count()).select_from(Alert)) == len(INJECTED)
        assert s.scalar(select(func.count()).select_from(OutboxMessage)) == len(INJECTED)


def test_cleared_condition_resolves_automatically(city):
    sessions, influx = city
    later = NOW + dt.timedelta(hours=2)
    with sessions() as s:
        engine.evaluate(s, influx=influx, ctx=CTX, now=NOW)
        # the HVAC meter comes back: its first reading covers the 8 h silence
        influx.write_lines(scenario.lines(NOW, later, hvac_resumes=True))
        r = engine.evaluate(s, influx=influx, ctx=CTX, now=later)
        offline = s.scalar(select(Alert).where(Alert.rule == "meter_offline"))
        assert offline.state == "resolved" and offline.resolved_by == "auto"
        assert r.resolved == [offline.id]
        # ... and the gap it left is now an alert of its own
        assert ("data_gap", OFFLINE) in _open(s)
        events = [e.event for e in s.scalars(select(AlertEvent).where(AlertEvent.alert_id == offline.id)
                                             .order_by(AlertEvent.id))]
        assert events == ["opened", "resolved"]
        # opened + resolved of the offline alert, opened of the new gap alert, on top of the first round
        assert s.scalar(select(func.count()).select_from(OutboxMessage)) == len(INJECTED) + 2


def test_manual_resolve_then_condition_still_there_opens_new(city):
    sessions, influx = city
    with sessions() as s:
        engine.evaluate(s, influx=influx, ctx=CTX, now=NOW)
        a = s.scalar(select(Alert).where(Alert.rule == "night_base_load"))
        engine.resolve(s, alert=a, actor="auditor-1", comment="tenant runs a server room; checked on site", now=NOW)
        s.commit()
        r = engine.evaluate(s, influx=influx, ctx=CTX, now=NOW + dt.timedelta(minutes=5))
        rows = s.scalars(select(Alert).where(Alert.rule == "night_base_load").order_by(Alert.id)).all()
        assert [x.state for x in rows] == ["resolved", "open"] and r.opened == [rows[1].id]
        assert rows[0].resolution_comment == "tenant runs a server room; checked on site"


def test_explained_alerts_say_expected_measured_and_why(city):
    sessions, influx = city
    with sessions() as s:
        engine.evaluate(s, influx=influx, ctx=default_context(), now=NOW)
        use = s.scalar(select(Alert).where(Alert.rule == "use_above_expected"))
        pv = s.scalar(select(Alert).where(Alert.rule == "pv_underperformance"))
    d = use.details
    # Judged week: the 7 local days before 15 June, Mon 8 - Sun 14 June 2026: 5 working days, 2 rest days.
    assert (d["first_day"], d["last_day"], d["day_types"]) == ("2026-06-08", "2026-06-14",
                                                              {"workday": 5, "restday": 2})
    assert d["expected_kwh"] == pytest.approx(7 * 1475)  # the baseline's normal day x 7 = 10,325 kWh
    # u = sigma sqrt(m + s'(X'X)^-1 s) = 29.5 x sqrt(7 + 25/250 + 4/115) = 29.5 x 2.6711 = 78.80 kWh
    assert d["uncertainty_kwh"] == pytest.approx(78.80, abs=0.01)
    # x 1.3 from 8 June 12:00 local: 6 full days and half of the 8th above normal -> about +28 %
    assert 0.25 < d["rise"] < 0.30 and d["temperature_mean_degc"] == pytest.approx(25.0)
    assert "above the 10,325 kWh the weather and calendar explain" in use.message
    # PV: 30 % of the expectation from the measured irradiance, exactly as written
    assert pv.details["ratio"] == pytest.approx(0.30) and "measured irradiance" in pv.message


def test_open_use_alert_keeps_the_baseline_from_before_it(city):
    """A week later the weekly refit has learnt the +30 % as normal; the unresolved alert is still
    judged against the baseline from before the week that opened it, so it stays open while the
    fault lasts instead of resolving itself."""
    sessions, influx = city
    later = NOW + dt.timedelta(days=7)
    with sessions() as s:
        engine.evaluate(s, influx=influx, ctx=default_context(), now=NOW)
        influx.write_lines(scenario.lines(NOW, later))  # the rise goes on
        learnt = scenario.fit_of(scenario.WOW)
        learnt.period_start, learnt.period_end = dt.date(2025, 6, 15), dt.date(2026, 6, 15)
        learnt.coefficients = {k: 1.3 * v for k, v in learnt.coefficients.items()}
        write_fits(rollup_client(influx, ROLLUP_RP), [(scenario.WOW, "electricity", learnt)], end=dt.date(2026, 6, 15))
        engine.evaluate(s, influx=influx, ctx=default_context(), now=later)
        a = s.scalar(select(Alert).where(Alert.rule == "use_above_expected"))
    assert a.state == "open" and a.last_seen_at.replace(tzinfo=dt.UTC) == later
    # judged week 15-21 June against the 1 June baseline, anchored at the week that opened the alert
    assert (a.details["first_day"], a.details["held_since"]) == ("2026-06-15", "2026-06-08")
    assert a.details["baseline_period"][1] == "2026-06-01"


def test_open_alert_of_the_retired_week_rule_is_resolved_with_the_reason(city):
    sessions, influx = city
    with sessions() as s:
        old = Alert(rule="week_on_week_rise", building_code=scenario.NORMAL, district="Shizhong",
                    building_type="office", ownership="large_public", state="open", message="use rose 25%",
                    details={}, opened_at=NOW - dt.timedelta(days=30), last_seen_at=NOW - dt.timedelta(days=30))
        s.add(old)
        s.commit()
        r = engine.evaluate(s, influx=influx, ctx=default_context(), now=NOW)
        s.refresh(old)
    assert old.id in r.resolved and (old.state, old.resolved_by) == ("resolved", "auto")
    assert "replaced by use_above_expected" in old.resolution_comment


def test_a_silent_weather_station_is_offline_at_its_host(city):
    """The station on NORMAL's roof stops at NOW (its last reading); 2 h later it is silent 7200 s >
    4 x 900 s, like every meter, and named among NORMAL's offline devices."""
    sessions, influx = city
    with sessions() as s:
        engine.evaluate(s, influx=influx, ctx=default_context(), now=NOW)
        assert ("meter_offline", scenario.NORMAL) not in _open(s)  # reporting: not silent
        engine.evaluate(s, influx=influx, ctx=default_context(), now=NOW + dt.timedelta(hours=2))
        a = s.scalar(select(Alert).where(Alert.rule == "meter_offline", Alert.building_code == scenario.NORMAL))
    assert scenario.STATION in a.details["devices"]
    assert a.details["silent_s"][scenario.STATION] == pytest.approx(7200)


def test_silence_is_not_judged_within_the_grace_after_a_start(city):
    sessions, influx = city
    # Started 5 minutes before NOW: the silence rules' own limit, 4 intervals x 900 s = 1 h, has not passed.
    just_started = dataclasses.replace(CTX, watching_since=NOW - dt.timedelta(minutes=5))
    with sessions() as s:
        r = engine.evaluate(s, influx=influx, ctx=just_started, now=NOW)
        assert ("meter_offline", OFFLINE) not in _open(s)
        assert all(Rule.meter_offline not in judged for judged in r.judged.values())
        # An hour and five minutes after the start the silent HVAC meter (8 h) is offline after all.
        engine.evaluate(s, influx=influx, ctx=just_started, now=NOW + dt.timedelta(hours=1))
        assert ("meter_offline", OFFLINE) in _open(s)
