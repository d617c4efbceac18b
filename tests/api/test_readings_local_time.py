"""Readings in China Standard Time buckets over real InfluxDB: days, Monday weeks and calendar
months add up to the daily rollup the indicators read (analytics.rollup ``meter_1d``).

Worked example (all times +08:00; a value is stamped at the end of its 15 min interval):
- Sat 30 May 2026, 12:15-13:00: 4 readings of 2.5 kWh (10 kW)  -> 30 May = 4 x 2.5  = 10 kWh
- Sun 31 May, 00:15 to Mon 1 June 00:00: 96 readings of 0.25 kWh (1 kW)
                                                              -> 31 May = 96 x 0.25 = 24 kWh
  (the 00:00 reading closes the 23:45-24:00 interval, so it belongs to 31 May)
- Mon 1 June 00:15 to Tue 2 June 00:00: 96 readings of 0.5 kWh (2 kW) -> 1 June = 96 x 0.5 = 48 kWh
Weeks from Monday: 25-31 May = 10 + 24 = 34 kWh, 1-7 June = 48 kWh.
Months: May = 34 kWh, June = 48 kWh. Mean power in May is weighted by readings, not by days:
(4 x 10 + 96 x 1) / 100 = 1.36 kW (the mean of the daily means would be 5.5 kW).
UTC days would cut elsewhere: 1 June UTC (08:00 to 08:00 local) would hold 32 x 0.25 + 64 x 0.5.
"""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest

from analytics.rollup import rollup_day
from storage.influx import InfluxHTTP
from tests.api.conftest import MINE

SH = ZoneInfo("Asia/Shanghai")
Q = dt.timedelta(minutes=15)


def _t(day: int, month: int = 5, hour: int = 0, minute: int = 0) -> dt.datetime:
    return dt.datetime(2026, month, day, hour, minute, tzinfo=SH)


@pytest.fixture
def local_readings(world, influxd):
    db = InfluxHTTP(influxd.url, database=world.influx_db)
    points = [(_t(30, hour=12, minute=15) + i * Q, 2.5) for i in range(4)]
    points += [(_t(31) + (i + 1) * Q, 0.25) for i in range(96)]
    points += [(_t(1, 6) + (i + 1) * Q, 0.5) for i in range(96)]
    db.write_lines([f"meter,building_code={MINE},carrier=electricity,device_id=E-MAIN,device_kind=meter,"
                    f"sub_item=main consumption_kwh={kwh},power_kw={kwh * 4},interval_s=900 "
                    f"{int(t.timestamp() * 1000)}" for t, kwh in points])
    yield db
    db.close()


def _get(world, interval: str, start: str, end: str, field: str = "consumption_kwh"):
    r = world.client.get(f"/buildings/{MINE}/readings", headers=world.as_("auditor"), params={
        "measurement": "meter", "field": field, "interval": interval, "start": start, "end": end})
    assert r.status_code == 200, r.text
    return [(p["time"], p["value"]) for s in r.json()["series"] for p in s["points"]]


def test_local_days_equal_the_daily_rollup(world, local_readings):
    days = _get(world, "1d", "2026-05-30T00:00:00+08:00", "2026-06-02T00:00:00+08:00")
    assert days == [("2026-05-30T00:00:00+08:00", pytest.approx(10.0)),   # 4 x 2.5
                    ("2026-05-31T00:00:00+08:00", pytest.approx(24.0)),   # 96 x 0.25
                    ("2026-06-01T00:00:00+08:00", pytest.approx(48.0))]   # 96 x 0.5
    # The figures the indicators read: analytics' daily rollup of the same days.
    for day in (dt.date(2026, 5, 30), dt.date(2026, 5, 31), dt.date(2026, 6, 1)):
        rollup_day(local_readings, day)
    rolled = local_readings.query(f"SELECT consumption_kwh FROM meter_1d WHERE building_code = '{MINE}'")
    by_day = [(dt.datetime.fromtimestamp(t / 1000, SH).isoformat(), v) for t, v in rolled[0]["values"]]
    assert [(t, pytest.approx(v)) for t, v in by_day] == days


def test_weeks_start_monday_local(world, local_readings):
    weeks = _get(world, "1w", "2026-05-25T00:00:00+08:00", "2026-06-08T00:00:00+08:00")
    assert weeks == [("2026-05-25T00:00:00+08:00", pytest.approx(34.0)),  # 10 + 24
                     ("2026-06-01T00:00:00+08:00", pytest.approx(48.0))]


def test_months_by_local_calendar(world, local_readings):
    months = _get(world, "1mo", "2026-05-01T00:00:00+08:00", "2026-07-01T00:00:00+08:00")
    assert months == [("2026-05-01T00:00:00+08:00", pytest.approx(34.0)),  # 10 + 24
                      ("2026-06-01T00:00:00+08:00", pytest.approx(48.0))]
    power = _get(world, "1mo", "2026-05-01T00:00:00+08:00", "2026-06-01T00:00:00+08:00", "power_kw")
    assert power == [("2026-05-01T00:00:00+08:00", pytest.approx(1.36))]  # (4 x 10 + 96 x 1) / 100


def test_hours_in_local_time(world, local_readings):
    hours = _get(world, "1h", "2026-05-30T12:00:00+08:00", "2026-05-30T14:00:00+08:00")
    assert hours == [("2026-05-30T12:00:00+08:00", pytest.approx(10.0))]  # 12:15..13:00 = 4 x 2.5


@pytest.mark.parametrize(("interval", "start", "end", "field"), [
    ("1d", "2026-05-30T00:00:00Z", "2026-06-01T00:00:00+08:00", "start"),  # UTC midnight is 08:00 local
    ("1d", "2026-05-30T00:00:00+08:00", "2026-06-01T12:00:00+08:00", "end"),
    ("1w", "2026-05-26T00:00:00+08:00", "2026-06-08T00:00:00+08:00", "start"),  # a Tuesday
    ("1mo", "2026-05-01T00:00:00+08:00", "2026-06-15T00:00:00+08:00", "end"),
])
def test_calendar_intervals_refuse_cut_buckets(world, interval, start, end, field):
    r = world.client.get(f"/buildings/{MINE}/readings", headers=world.as_("auditor"), params={
        "measurement": "meter", "field": "consumption_kwh", "interval": interval, "start": start, "end": end})
    assert r.status_code == 422 and r.json()["field"] == field and "+08:00" in r.json()["message"], r.text
