"""The refit job against the real InfluxDB: daily rollups and station weather in, stored fits out,
statuses for buildings without a station or without data, and the newest fit before a day read back."""

from __future__ import annotations

import datetime as dt

import pytest

from analytics.baseline_job import FIT_MEASUREMENT, read_fits, refit
from contract.localtime import local_midnight
from registry import repo
from registry.db import make_engine, migrate, session_scope
from registry.weather import add_station, assign
from storage.influx import InfluxHTTP
from storage.lineproto import encode_line
from tests.analytics.simdaily import year_2025

pytestmark = pytest.mark.servers


def _ms(day: dt.date, hour: int = 0) -> int:
    return int(local_midnight(day).timestamp() * 1000) + hour * 3_600_000


@pytest.fixture
def world(tmp_path, influxd, fresh_db):
    fleet, daily = year_2025()
    fleet = fleet.model_copy(update={"buildings": fleet.buildings[:3]})  # mall, hotel, office
    eng = make_engine(f"sqlite:///{tmp_path / 'reg.db'}")
    migrate(eng)
    host = fleet.buildings[0]
    with session_scope(eng) as s:
        repo.replace_fleet(session=s, fleet=fleet)
        add_station(session=s, host_building_code=host.building_code, device_id="WS-01",
                    latitude_deg=host.latitude_deg, longitude_deg=host.longitude_deg, installed_on=dt.date(2024, 1, 1))
        # the first two buildings get the station; the third (another district) has none
        for b in fleet.buildings[:2]:
            assign(session=s, host_building_code=host.building_code, device_id="WS-01", building_code=b.building_code)
    db = InfluxHTTP(influxd.url, fresh_db)
    lines = []
    for b in fleet.buildings:
        for day, row in daily[b.building_code].iterrows():
            # meter_1d points are stamped at the local day's start, with the count of readings
            lines.append(encode_line("meter_1d", {"building_code": b.building_code, "device_id": "E-MAIN",
                                                  "carrier": "electricity", "sub_item": "main"},
                                     {"consumption_kwh": float(row["use"]), "readings": 96}, _ms(day)))
    for day, row in daily[host.building_code].iterrows():
        lines.append(encode_line("weather", {"building_code": host.building_code, "device_id": "WS-01",
                                             "device_kind": "weather_station"},
                                 {"air_temperature_degc": float(row["temperature_mean_degc"])}, _ms(day, 12)))
    db.write_lines(lines)
    return eng, db, fleet


def test_refit_stores_fits_and_statuses(world):
    eng, db, fleet = world
    with session_scope(eng) as s:
        fits = refit(influx=db, rollups=db, session=s, end=dt.date(2026, 1, 1))
    by = {(c, carrier): f for c, carrier, f in fits}
    mall, hotel, office = (b.building_code for b in fleet.buildings)
    assert by[(mall, "electricity")].ok and by[(mall, "electricity")].guideline14 == "meets"
    assert by[(hotel, "electricity")].days == 365  # 2025-01-01 .. 2025-12-31
    assert by[(mall, "electricity")].inputs["meters"] == ["E-MAIN"]
    assert "WS-01 (assigned to the building)" in by[(mall, "electricity")].inputs["temperature"]
    assert by[(office, "electricity")].status == "no_weather_station"
    assert by[(mall, "water")].status == "insufficient_history"  # no water rollups were written
    stored = db.query(f"SELECT count(status) FROM {FIT_MEASUREMENT}")
    assert stored[0]["values"][0][1] == len(fits)
    got = read_fits(db, carrier="electricity", not_after=local_midnight(dt.date(2026, 1, 8)))
    # A year of history passes OpenDSM's sufficiency check: its model, stored as OpenDSM serialises
    # it, reads back whole (the change-point coefficients are empty for such a fit).
    assert by[(mall, "electricity")].model_kind == got[mall].model_kind == "opendsm_daily"
    assert got[mall].opendsm and got[mall].opendsm == by[(mall, "electricity")].opendsm
    assert got[mall].coefficients == pytest.approx(by[(mall, "electricity")].coefficients)
    assert got[mall].inputs == by[(mall, "electricity")].inputs  # stored with the fit
    assert got[office].status == "no_weather_station"
    assert read_fits(db, carrier="electricity", not_after=local_midnight(dt.date(2025, 12, 31))) == {}


def test_a_gap_day_is_left_out_not_counted_as_low_use(world):
    eng, db, fleet = world
    mall = fleet.buildings[0].building_code
    # 2025-06-10 lost half its readings: its kWh is too low and must not enter the fit
    db.write_lines([encode_line("meter_1d", {"building_code": mall, "device_id": "E-MAIN", "carrier": "electricity",
                                             "sub_item": "main"}, {"consumption_kwh": 1.0, "readings": 48},
                                _ms(dt.date(2025, 6, 10)))])
    with session_scope(eng) as s:
        fits = refit(influx=db, rollups=db, session=s, end=dt.date(2026, 1, 1), codes=[mall])
    assert fits[0][2].days == 364  # 365 - the gap day


def test_refresh_savings_stores_monthly_figures_or_a_status(world):
    from analytics.savings import SAVINGS_MEASUREMENT, refresh_savings
    from registry.retrofits import add_retrofit

    eng, db, fleet = world
    mall, _, office = (b.building_code for b in fleet.buildings)
    with session_scope(eng) as s:
        add_retrofit(session=s, building_code=mall, completed_on=dt.date(2025, 9, 30), measures="LED",
                     expected_saving_share=0.05)
        add_retrofit(session=s, building_code=office, completed_on=dt.date(2025, 9, 30), measures="LED",
                     expected_saving_share=0.05)
    with session_scope(eng) as s:
        got = refresh_savings(influx=db, rollups=db, session=s, today=dt.date(2026, 1, 1))
    assert [status for _, status in got] == ["ok", "no_baseline"]  # the office has no station
    rows = db.query(f"SELECT avoided_kwh, uncertainty_kwh, days, status FROM {SAVINGS_MEASUREMENT} "
                    f"WHERE building_code = '{mall}'")[0]["values"]
    # October, November, December 2025 (31 + 30 + 31 days); the simulated mall had no retrofit, so
    # what it "avoided" is noise: within 2 u of zero each month
    assert [r[3] for r in rows] == [31, 30, 31]
    assert all(abs(r[1]) <= 2 * r[2] for r in rows)
    status = db.query(f"SELECT status, detail FROM {SAVINGS_MEASUREMENT} WHERE building_code = '{office}'")
    assert status[0]["values"][0][1] == "no_baseline" and "no weather station" in status[0]["values"][0][2]


def test_parts_cover_every_building_once(world):
    """Seven nightly parts fit each building exactly once between them (the schedule in
    docs/baselines.md), and the CLI refuses a part that is not K/N with K < N."""
    import argparse

    from analytics.__main__ import _part
    from analytics.baseline_job import in_part

    codes = [f"510402{t}{i:03d}" for t in "ABCDEFGH" for i in range(125)]  # 1,000 codes
    counts = [sum(in_part(c, (k, 7)) for k in range(7)) for c in codes]
    assert counts == [1] * len(codes)
    sizes = [sum(in_part(c, (k, 7)) for c in codes) for k in range(7)]
    assert min(sizes) > 100  # about 1000 / 7 = 143 each: a night is not left with most of the city
    assert _part("3/7") == (3, 7)
    for bad in ("7/7", "3", "a/7", "-1/7"):
        with pytest.raises(argparse.ArgumentTypeError):
            _part(bad)
    eng, db, fleet = world
    parts_of: dict[str, set[int]] = {}
    with session_scope(eng) as s:
        for k in range(3):
            for code, _, _ in refit(influx=db, rollups=db, session=s, end=dt.date(2026, 1, 1), part=(k, 3)):
                parts_of.setdefault(code, set()).add(k)
    assert sorted(parts_of) == sorted(b.building_code for b in fleet.buildings)
    assert all(len(ks) == 1 for ks in parts_of.values())
