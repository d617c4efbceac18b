"""Alert rules over real InfluxDB data with injected conditions: every injected condition raises
its alert, nothing else does; re-evaluation neither duplicates nor forgets; cleared conditions
resolve automatically. Data is built by tests/api/scenario.py (see its docstring for why)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from sqlalchemy import func, select

from analytics import rollup
from api.alerts import engine
from api.alerts.context import default_context
from api.db import Alert, AlertEvent, OutboxMessage, create_schema
from registry import db as registry_db
from registry import repo
from storage.influx import InfluxHTTP
from tests.api import scenario
from tests.api.scenario import INJECTED, NOW, OFFLINE


@pytest.fixture
def city(tmp_path, influxd, fresh_db):
    eng = registry_db.make_engine(f"sqlite:///{tmp_path}/registry.db")
    registry_db.migrate(eng)
    create_schema(eng)
    sessions = registry_db.make_sessionmaker(eng)
    with sessions() as s:
        for b in scenario.BUILDINGS:
            repo.upsert_building(session=s, spec=b)
        s.commit()
    influx = InfluxHTTP(influxd.url, database=fresh_db)
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
