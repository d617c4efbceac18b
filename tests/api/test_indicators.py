"""Indicators, the audit list and plan targets through the API, over real InfluxDB data rolled up
by analytics' own rollup job, checked against worked examples and against analytics' service."""

from __future__ import annotations

import datetime as dt

import pytest

from analytics import rollup, service
from storage.influx import InfluxHTTP
from tests.api.conftest import BUILDINGS, ELSEWHERE, MINE, OTHER

#: Ten days of January 2026 in hourly readings: each main meter 100 kWh/h (MINE), 200 (OTHER), 300 (ELSEWHERE).
KWH_PER_H = {MINE: 100.0, OTHER: 200.0, ELSEWHERE: 300.0}
DAYS = 10


@pytest.fixture
def data(world, influxd):
    db = InfluxHTTP(influxd.url, database=world.influx_db)
    lines = []
    t0 = dt.datetime(2025, 12, 31, 16, 0, tzinfo=dt.UTC)  # 1 January 00:00 local
    for h in range(1, DAYS * 24 + 1):
        ms = int((t0 + dt.timedelta(hours=h)).timestamp() * 1000)
        for b in BUILDINGS:
            code = b.building_code
            lines.append(f"meter,building_code={code},carrier=electricity,device_id=E-MAIN,device_kind=meter,"
                         f"sub_item=main consumption_kwh={KWH_PER_H[code]},interval_s=3600 {ms}")
            lines.append(f"meter,building_code={code},carrier=electricity,device_id=E-HVAC,device_kind=meter,"
                         f"sub_item=hvac consumption_kwh={KWH_PER_H[code] * 0.4},interval_s=3600 {ms}")
    db.write_lines(lines)
    rollup.run(db, start=dt.date(2026, 1, 1), end=dt.date(2026, 1, DAYS), now=dt.datetime(2026, 1, 11, tzinfo=dt.UTC))
    # The rollups, where the job writes them and the API reads them (its default EP_ROLLUP_RP).
    rollups = rollup.rollup_client(db, world.app.state.settings.rollup_rp)
    yield rollups
    rollups.close()
    db.close()


def test_building_indicators_worked_example(world, data):
    r = world.client.get(f"/buildings/{MINE}/indicators?year=2026", headers=world.as_("facility_manager"))
    assert r.status_code == 200, r.text
    body = r.json()
    ind = body["indicators"]
    # 10 d x 24 h x 100 kWh = 24,000 kWh; x 0.1229 kgce/kWh / 1000 = 2.9496 tce
    assert ind["electricity_kwh"] == pytest.approx(24_000)
    assert ind["energy_tce"] == pytest.approx(2.9496)
    # 24,000 kWh / 10,000 m2 = 2.4 kWh/m2
    assert ind["eui_electricity_kwh_per_m2"] == pytest.approx(2.4)
    assert body["basis"] == "equivalent_gbt2589" and body["attributes"]["district"] == "Shizhong"


def test_building_indicators_match_analytics_service(world, data):
    r = world.client.get(f"/buildings/{OTHER}/indicators?year=2026", headers=world.as_("auditor")).json()
    with world.app.state.sessions() as s:
        direct = service.building_indicators(influx=data, session=s, building_code=OTHER, year=2026)
    assert r == direct.model_dump(mode="json")


def test_audit_list_all_buildings_and_scope(world, data):
    h = world.as_("auditor")
    r = world.client.get("/audit?year=2026&all_buildings=true&window=calendar_year", headers=h).json()
    codes = [row["building_code"] for row in r["items"]]
    # largest energy excess first: 300 > 200 > 100 kWh/h
    assert codes == [ELSEWHERE, OTHER, MINE] and r["total"] == 3
    assert not any(row["triggered"] for row in r["items"])  # 72,000 kWh is far below 5 million
    assert world.client.get("/audit?year=2026", headers=h).json()["total"] == 0
    fm = world.client.get("/audit?year=2026&all_buildings=true", headers=world.as_("facility_manager")).json()
    assert {row["building_code"] for row in fm["items"]} == {MINE}
    csv = world.client.get("/audit/export.csv?year=2026&all_buildings=true&district=Shizhong", headers=h).text
    assert csv.splitlines()[0].startswith("building_code,name,district") and ELSEWHERE not in csv


def test_district_and_city_indicators(world, data):
    h = world.as_("bureau_staff")
    rows = {d["district"]: d for d in world.client.get("/districts/indicators?year=2026", headers=h).json()["items"]}
    # Shizhong: (100 + 200) kWh/h x 240 h = 72,000 kWh; Wutongqiao: 300 x 240 = 72,000 kWh
    assert rows["Shizhong"]["electricity_kwh"] == pytest.approx(72_000) and rows["Shizhong"]["buildings"] == 2
    assert rows["Wutongqiao"]["electricity_kwh"] == pytest.approx(72_000)
    city = world.client.get("/city/indicators?year=2026", headers=h).json()
    # 144,000 kWh x 0.1229 / 1000 = 17.6976 tce; all electricity, so the electrification share is 1
    assert city["indicators"]["energy_tce"] == pytest.approx(17.6976)
    assert city["indicators"]["electrification_share"] == pytest.approx(1.0)
    targets = world.client.get("/targets?year=2026", headers=h).json()
    elec = [t for t in targets["items"] if t["indicator"] == "electrification_share"]
    # 1.0 > 0.55 and > 0.65, but on 10 days of the year so far (coverage <= 10 / 11 days even on
    # 11 January, far less later): a target is not judged met below 90 % coverage
    assert elec and all(t["met"] is None and t["verdict"] == "insufficient_data" for t in elec)
    assert all(t["coverage"] < 0.9 for t in elec)
    assert rows["Shizhong"]["buildings_reporting"] == 2 and rows["Shizhong"]["floor_area_reporting_m2"] > 0


def test_facility_manager_refused_city_wide_views(world, data):
    fm = world.as_("facility_manager")
    for path in ("/districts/indicators", "/city/indicators", "/targets"):
        assert world.client.get(f"{path}?year=2026", headers=fm).status_code == 403, path


def test_unknown_basis_named(world):
    r = world.client.get(f"/buildings/{MINE}/indicators?basis=bananas", headers=world.as_("auditor"))
    assert r.status_code == 422 and r.json()["field"] == "basis"


def test_a_completed_rollup_shows_at_once_despite_the_cache(world, data, influxd):
    path = f"/buildings/{MINE}/indicators?year=2026"
    first = world.client.get(path, headers=world.as_("auditor")).json()
    assert first["indicators"]["electricity_kwh"] == pytest.approx(24_000)  # 10 d x 24 h x 100 kWh, now cached
    # One more day of the same readings (11 January, local), then the rollup job runs again.
    db = InfluxHTTP(influxd.url, database=world.influx_db)
    t0 = dt.datetime(2026, 1, 10, 16, 0, tzinfo=dt.UTC)  # 11 January 00:00 local
    db.write_lines([f"meter,building_code={MINE},carrier=electricity,device_id=E-MAIN,device_kind=meter,"
                    f"sub_item=main consumption_kwh=100.0,interval_s=3600 "
                    f"{int((t0 + dt.timedelta(hours=h)).timestamp() * 1000)}" for h in range(1, 25)])
    rollup.run(db, start=dt.date(2026, 1, 11), end=dt.date(2026, 1, 11), now=dt.datetime(2026, 1, 12, tzinfo=dt.UTC))
    db.close()
    # The stamp is re-read every few seconds; a test does not wait for that, it reads it now.
    world.app.state.rollup_stamp.ttl_s = 0
    second = world.client.get(path, headers=world.as_("auditor")).json()
    # 11 d x 24 h x 100 kWh = 26,400 kWh, long before the cache's 300 s lifetime is over
    assert second["indicators"]["electricity_kwh"] == pytest.approx(26_400)


def test_default_year_is_the_local_year():
    """17:00 UTC on 31 December 2026 is 01:00 on 1 January 2027 in Beijing (UTC+8): the default
    year is 2027, the local year the snapshot and the windows use, not the UTC year 2026."""
    from api.routers.indicators import _year

    assert _year(None, now=dt.datetime(2026, 12, 31, 17, tzinfo=dt.UTC)) == 2027
    assert _year(None, now=dt.datetime(2026, 12, 31, 15, tzinfo=dt.UTC)) == 2026  # 23:00 local
    assert _year(2025, now=dt.datetime(2026, 12, 31, 17, tzinfo=dt.UTC)) == 2025


def test_the_rollup_stamp_does_not_wait_for_a_silent_influxdb_once_read():
    """The routes read the rollup stamp on the event loop: after the first read, a re-read goes to a
    background thread, so an InfluxDB that accepts connections and never answers (here a bare
    socket; the client gives up after 1 s) costs the first read its timeout and later ones nothing."""
    import socket
    import time

    from api.indicators import RollupStamp

    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen()
    client = InfluxHTTP(f"http://127.0.0.1:{silent.getsockname()[1]}", "energy", timeout_s=1)
    stamp = RollupStamp(client, ttl_s=0.1)
    try:
        t0 = time.monotonic()
        assert stamp.get() is None
        assert time.monotonic() - t0 >= 0.9  # the first read waited for the client's timeout
        time.sleep(0.2)  # stale now: the next get starts a re-read
        t0 = time.monotonic()
        assert stamp.get() is None
        assert time.monotonic() - t0 < 0.5  # ... in the background; the caller did not wait 1 s
    finally:
        client.close()
        silent.close()
