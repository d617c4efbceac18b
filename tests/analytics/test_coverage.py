"""Coverage-aware verdicts on real InfluxDB: the late-connected mall at and around the audit
threshold (projected, alert raised), a meter three weeks offline (not under-projected), and
district / city aggregates over the buildings that reported. Arithmetic beside every assertion.

Evaluated at 1 December 2026 00:00 local: 1 January - 30 November = 334 days so far.
"""

from __future__ import annotations

import datetime as dt

import pytest
from numpy.testing import assert_allclose

from analytics import rollup, service
from api.alerts import engine as alert_engine
from api.alerts.context import default_context
from api.db import Alert
from contract.localtime import local_midnight
from registry import repo
from registry.db import make_engine, make_sessionmaker, migrate, session_scope
from registry.fleet import Fleet
from storage.influx import InfluxHTTP
from storage.lineproto import encode_line

pytestmark = pytest.mark.servers

YEAR = 2026
NOW = local_midnight(dt.date(2026, 12, 1))
AS_OF = dt.date(2026, 11, 30)
CONNECTED = dt.date(2026, 11, 24)  # the malls' first metered day: 24-30 November = 7 days
OFFLINE = (dt.date(2026, 10, 1), dt.date(2026, 10, 22))  # [from, to): 21 days without a reading

#: kWh a day of the three late-connected malls.
M_FAR, M_ABOVE, M_BELOW = "510402B001", "510402B002", "510402B003"
MALL_KWH = {M_FAR: 462_351 / 7,  # the mall: 462,351 kWh in its first 7 days
            M_ABOVE: 13_699.0,   # x 365 = 5,000,135 kWh >= 5,000,000
            M_BELOW: 13_698.0}   # x 365 = 4,999,770 kWh <  5,000,000
OFFICE, SILENT, GAPPY = "510411A001", "510411A002", "510411A003"
OFFICE_KWH, GAPPY_KWH = 10_000.0, 1_000.0


def _building(code: str, district: str, area: float, installed: dt.date) -> dict:
    return {"building_code": code, "name": code, "floor_area_m2": area, "district": district,
            "ownership": "large_public", "latitude_deg": 29.5, "longitude_deg": 103.7,
            "meters": [{"device_id": "main", "carrier": "electricity", "sub_item": "main",
                        "installed_on": installed.isoformat()}]}


FLEET = {"buildings": [
    # The malls were registered when they were connected (late November).
    *(_building(c, "Shizhong", 50_000, CONNECTED) for c in MALL_KWH),
    _building(OFFICE, "Wutongqiao", 10_000, dt.date(2020, 1, 1)),
    _building(SILENT, "Wutongqiao", 5_000, dt.date(2020, 1, 1)),  # registered, never sent anything
    _building(GAPPY, "Wutongqiao", 2_000, dt.date(2020, 1, 1)),
]}


def _day_line(code: str, day: dt.date, kwh: float) -> str:
    tags = {"building_code": code, "device_kind": "meter", "device_id": "main", "carrier": "electricity",
            "sub_item": "main"}
    # A complete day: 96 readings covering 96 x 900 s.
    return encode_line("meter_1d", tags, {"consumption_kwh": kwh, "readings": 96, "covered_s": 86_400.0},
                       int(local_midnight(day).timestamp() * 1000))


def _lines() -> list[str]:
    out = []
    day = dt.date(YEAR, 1, 1)
    while day <= AS_OF:
        if day >= CONNECTED:
            out += [_day_line(c, day, kwh) for c, kwh in MALL_KWH.items()]
        out.append(_day_line(OFFICE, day, OFFICE_KWH))
        if not OFFLINE[0] <= day < OFFLINE[1]:
            out.append(_day_line(GAPPY, day, GAPPY_KWH))
        day += dt.timedelta(days=1)
    return out


@pytest.fixture(scope="module")
def city(influxd, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("coverage")
    db = InfluxHTTP(influxd.url, "cov_" + tmp.name.replace("-", "_"))
    db.create_database()
    rollup.ensure_rollup_rp(db)
    out = rollup.rollup_client(db, rollup.ROLLUP_RP)
    lines = _lines()
    for k in range(0, len(lines), 5000):
        out.write_lines(lines[k:k + 5000])
    # The rollup job's own steps: daily balances from the device days, then the months.
    rollup.rebuild_balance_days(out, dt.date(YEAR, 1, 1), dt.date(YEAR, 12, 1))
    for month in range(1, 12):
        rollup.rollup_month(out, dt.date(YEAR, month, 1))
    engine = make_engine(f"sqlite:///{tmp / 'registry.db'}")
    migrate(engine)  # every table, the API's too (one history)
    with session_scope(engine) as s:
        repo.replace_fleet(session=s, fleet=Fleet.model_validate(FLEET))
    yield out, engine
    db.query_raw(f'DROP DATABASE "{db.database}"', post=True)
    out.close()
    db.close()


@pytest.fixture(scope="module")
def projected(city):
    db, engine = city
    with session_scope(engine) as s:
        df = service.audit_frame(influx=db, session=s, year=YEAR, as_of=AS_OF, now=NOW)
    return df[df.window == "projected_year_end"]


def test_late_connected_mall_is_projected_at_its_pace(projected):
    r = projected.loc[M_FAR]
    assert_allclose(r.measured_days, 7.0)  # registered 24 Nov, every reading present: 7 of 7 days
    # 462,351 kWh / 7 d x 365 d = 24,108,302 kWh (the old calendar-share projection said
    # 462,351 x 365 / 334 = 505,264 kWh and listed nothing)
    assert_allclose(r.electricity_kwh, 462_351 / 7 * 365)
    assert r.verdict == "projected" and r.triggered_by == "both"  # 24.1 GWh x 0.1229 / 1000 = 2,963 tce
    assert r.projection_basis == "measured_days_rate from 2026-11-30"
    assert_allclose(r.period_coverage, 7 / 334)  # 7 measured of the 334 days so far


def test_malls_around_the_threshold(projected):
    above, below = projected.loc[M_ABOVE], projected.loc[M_BELOW]
    assert_allclose(above.electricity_kwh, 5_000_135.0)  # 13,699 x 7 / 7 x 365
    assert above.verdict == "projected"
    assert_allclose(below.electricity_kwh, 4_999_770.0)  # 13,698 x 365
    # below, but 7 days of the year cannot reassure (7 / 365 = 1.9 % < 1/12): never "not required"
    assert below.verdict == "insufficient_data"


def test_three_weeks_offline_is_not_under_projected(projected):
    r = projected.loc[GAPPY]
    assert_allclose(r.measured_days, 313.0)  # 334 days so far - 21 offline
    # 313 days x 1,000 kWh = 313,000 kWh; / 313 x 365 = 365,000 kWh (the true pace), not
    # 313,000 x 365 / 334 = 342,051 kWh
    assert_allclose(r.electricity_kwh, 365_000.0)
    assert r.verdict == "not_required"  # 313 / 334 = 93.7 % >= 90 % measured, 313 / 365 >= 1/12
    office = projected.loc[OFFICE]
    assert_allclose(office.electricity_kwh, 3_650_000.0)  # 10,000 x 365: complete data, same as linear


def test_silent_building_is_insufficient_data_not_below_threshold(projected):
    r = projected.loc[SILENT]
    assert r.verdict == "insufficient_data" and r.measured_days == 0.0
    assert r.projection_basis == "no_data from 2026-11-30"


def test_aggregates_use_only_buildings_that_reported(city):
    db, engine = city
    with session_scope(engine) as s:
        frame = service.annual_frame(influx=db, session=s, year=YEAR, now=NOW, with_previous=False)
        d = service.district_indicators(influx=db, session=s, year=YEAR, now=NOW, frame=frame)
        c = service.city_indicators(influx=db, session=s, year=YEAR, now=NOW, frame=frame)
    w = d.loc["Wutongqiao"]
    assert (w.buildings, w.buildings_reporting) == (3, 2)  # the silent building is registered, not reporting
    assert_allclose(w.floor_area_reporting_m2, 12_000.0)  # office 10,000 + gappy 2,000 m2 (not the silent 5,000)
    # office: 3,340,000 kWh on 10,000 m2 measured all 334 days; gappy: 313,000 kWh on 2,000 m2 measured
    # 313 of 334 days -> 2,000 x 313/334 = 1,874.25 m2; (3,340,000 + 313,000) / 11,874.25 = 307.64 kWh/m2
    assert_allclose(w.eui_electricity_kwh_per_m2, 3_653_000 / (10_000 + 2_000 * 313 / 334))
    # with the silent building's 5,000 m2 in the denominator it would read 3,653,000 / 17,000 = 214.9
    assert_allclose(w.floor_area_registered_m2, 17_000.0)
    i = c.indicators
    assert i["buildings_reporting"] == 5 and c.buildings == 6  # 3 malls, office, gappy; silent left out
    # every registered building's readings over their expected readings, silent one included:
    # malls 3 x 7 d, office 334 d, gappy 313 d, silent 0 of 334 d -> (21 + 334 + 313) / (21 + 3 x 334)
    assert_allclose(i["coverage_registered"], (21 + 334 + 313) / (21 + 3 * 334))
    progress = {(p["indicator"], p["year"]): p for p in c.plan_progress}
    # 65 % of the expected readings: an electrification target that holds is not judged met
    assert progress[("electrification_share", 2025)]["met"] is None
    assert progress[("electrification_share", 2025)]["verdict"] == "insufficient_data"
    assert progress[("renewable_substitution_rate", 2025)]["verdict"] == "not_met"  # no PV: 0 < 8 %


def test_auditor_alert_for_the_projected_malls(city):
    db, engine = city
    sessions = make_sessionmaker(engine)
    with sessions() as s:
        alert_engine.evaluate(s, influx=db, ctx=default_context(), now=NOW)
        alerts = {a.building_code: a for a in s.query(Alert).filter(Alert.rule == "audit_threshold")}
    assert set(alerts) == {M_FAR, M_ABOVE}  # the mall below the line is not alerted, nor reassured
    assert alerts[M_FAR].details["verdict"] == "projected"
    assert "7.0 days measured" in alerts[M_FAR].message
