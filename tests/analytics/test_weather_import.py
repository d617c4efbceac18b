"""Historical weather from CSV: row errors with their line, all or nothing, daily means read back
from the real InfluxDB in local days."""

from __future__ import annotations

import datetime as dt

import pytest

from analytics.weather import daily_weather, import_weather_csv, read_weather_csv
from storage.influx import InfluxHTTP

GOOD = """time,air_temperature_degc,ghi_w_per_m2
2025-01-01T00:00,4.0,0
2025-01-01T12:00,10.0,400
2025-01-02T00:00+08:00,2.0,
2025-01-01T16:30:00+00:00,6.0,0
"""


def test_rows_parsed_with_local_and_explicit_offsets():
    parsed = read_weather_csv(GOOD)
    assert parsed.errors == []
    # 2025-01-01T00:00 local = 2024-12-31T16:00Z = 1 735 660 800 000 ms
    assert parsed.rows[0] == (1_735_660_800_000, 4.0, 0.0)
    assert parsed.rows[2][2] is None  # empty GHI stays missing, not 0
    # 16:30Z on 1 January is 00:30 local on 2 January: 1 735 660 800 000 + 24.5 h x 3 600 000
    assert parsed.rows[3][0] == 1_735_660_800_000 + 88_200_000


def test_every_bad_row_reported_with_its_line():
    text = ("time,air_temperature_degc,ghi_w_per_m2\n"
            "2025-01-01T00:00,4.0,0\n"
            "yesterday,4.0,0\n"  # line 3
            "2025-01-01T01:00,95,0\n"  # line 4: Fahrenheit typed into the Celsius column
            "2025-01-01T02:00,abc,0\n"  # line 5
            "2025-01-01T03:00,3.0,-5\n"  # line 6
            "2025-01-01T00:00,4.5,0\n")  # line 7: duplicate of line 2
    errors = read_weather_csv(text, name="w.csv").errors
    assert [e.split(":")[1] for e in errors] == ["3", "4", "5", "6", "7"]
    assert "same instant as line 2" in errors[-1]
    assert "outside -60.0..60.0" in errors[1]


def test_wrong_columns_stop_at_line_1():
    errors = read_weather_csv("time,temp\n2025-01-01T00:00,4\n", name="w.csv").errors
    assert errors and errors[0].startswith("w.csv:1: columns")


@pytest.mark.servers
def test_import_and_daily_means(influxd, fresh_db):
    db = InfluxHTTP(influxd.url, fresh_db)
    parsed = read_weather_csv(GOOD)
    assert import_weather_csv(db, parsed, host_building_code="510402A001", device_id="WS-01") == 4
    daily = daily_weather(db, host_building_code="510402A001", device_id="WS-01",
                          start=dt.date(2025, 1, 1), end=dt.date(2025, 1, 3))
    # 1 January local: readings 4.0 and 10.0 -> mean 7.0; GHI 0 and 400 -> 200 W/m2
    # 2 January local: 2.0 (00:00) and 6.0 (00:30) -> 4.0; GHI only 0 -> 0
    assert list(daily["temperature_mean_degc"]) == [7.0, 4.0]
    assert list(daily["ghi_mean_w_per_m2"]) == [200.0, 0.0]
    assert list(daily["readings"]) == [2, 2]
    bad = read_weather_csv("time,air_temperature_degc\nnope,1\n")
    with pytest.raises(ValueError, match="nothing written"):
        import_weather_csv(db, bad, host_building_code="510402A001", device_id="WS-01")
