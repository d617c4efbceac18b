"""The API's alerts in Grafana: state changes made by the alert engine's own functions in a real
API database, copied by api/alerts/export.py to the real InfluxDB of the panel tests, and the
"Open alerts (API rules)" panels run as Grafana would (tests/dashboards/grafana_emulation.py)."""

from __future__ import annotations

import datetime as dt

import pytest

from api.alerts import engine
from api.alerts.export import export_events
from api.db import Alert, AlertEvent
from contract.vocabulary import ALERT_EVENT_MEASUREMENT
from dashboards import common as c
from dashboards.interpolate import Variable
from registry import db as registry_db
from storage.influx import InfluxHTTP
from tests.dashboards import fleet_data as fd
from tests.dashboards.grafana_emulation import run_panel
from tests.dashboards.test_panels_run import ALL, panel
from tests.dashboards.test_panels_run import run as run_city

pytestmark = pytest.mark.servers
TITLE = "Open alerts (API rules)"


def _open(s, code: str, rule: str, at: dt.datetime) -> Alert:
    """As engine.sync opens an alert (the alert row and its "opened" event by the rules)."""
    a = Alert(rule=rule, building_code=code, district="Shizhong", building_type="office", ownership="large_public",
              state="open", message=f"{rule} at {code}", details={}, opened_at=at, last_seen_at=at)
    s.add(a)
    s.flush()
    s.add(AlertEvent(alert_id=a.id, at=at, event="opened", actor="rules"))
    return a


def _rows(run) -> set[tuple]:
    return {(r["building_code"], r["rule"], r["state"], r["by"]) for r in run.rows("A")}


def _points(influx: InfluxHTTP) -> int:
    return influx.query(f'SELECT count("event_id") FROM "{ALERT_EVENT_MEASUREMENT}"')[0]["values"][0][1]


def test_open_api_alerts_listed_until_resolved(city, generated, tmp_path):
    engine_db = registry_db.make_engine(f"sqlite:///{tmp_path / 'api.db'}")
    registry_db.migrate(engine_db)
    t1 = dt.datetime.fromtimestamp(city.t0_ms / 1000, dt.UTC)  # before the dashboards' range starts
    t2, t3 = t1 + dt.timedelta(hours=1), t1 + dt.timedelta(hours=2)
    influx = InfluxHTTP(city.url, city.db)
    with registry_db.make_sessionmaker(engine_db)() as s:
        night = _open(s, fd.A001, "night_base_load", t1)
        offline = _open(s, fd.C003, "meter_offline", t1)
        gap = _open(s, fd.E004, "data_gap", t1)
        engine.acknowledge(s, alert=offline, actor="auditor-li", now=t2)
        engine.resolve(s, alert=gap, actor="auto", comment="condition cleared", now=t2)
        s.commit()
        # 3 opened + 1 acknowledged + 1 resolved = 5 events, one point each
        assert export_events(s, influx) == 5 and _points(influx) == 5
        export_events(s, influx)  # copied again (the overlap): the same points, none added
        assert _points(influx) == 5

        overview = generated[c.OVERVIEW_UID]
        assert _rows(run_city(city, overview, TITLE)) == {
            (fd.A001, "night_base_load", "open", "rules"), (fd.C003, "meter_offline", "acknowledged", "auditor-li")}
        # The building detail lists that building's only (A001: the night base load).
        detail = panel(generated[c.BUILDING_UID], TITLE)
        one = run_panel(detail, {**ALL, "building": Variable(fd.A001)}, from_ms=city.t0_ms, to_ms=city.t_end_ms,
                        url=city.url, db=city.db)
        assert _rows(one) == {(fd.A001, "night_base_load", "open", "rules")}

        engine.resolve(s, alert=night, actor="li.wei", comment="timer fixed", now=t3)
        s.commit()
        export_events(s, influx)
        assert _points(influx) == 6
        assert _rows(run_city(city, overview, TITLE)) == {
            (fd.C003, "meter_offline", "acknowledged", "auditor-li")}
    influx.close()
    engine_db.dispose()

