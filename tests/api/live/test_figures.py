"""The live page's figures against a real InfluxDB and registry, with a fixed clock: a worked example
with the arithmetic beside each assertion."""

from __future__ import annotations

import datetime as dt

import pytest

from api.live.figures import live_figures
from contract.localtime import local_midnight
from storage.influx import InfluxHTTP
from storage.lineproto import encode_line
from tests.api.disclosure.rollups import write_daily_rollups
from tests.api.live.conftest import EXAMPLE_BUILDING as B

# 2026-10-15 10:00 in Beijing = 02:00 UTC.
NOW = dt.datetime(2026, 10, 15, 2, 0, tzinfo=dt.UTC)


def _ms(day: dt.date, hour: float) -> int:
    """Milliseconds of local (CST) ``hour`` on ``day``."""
    return int((local_midnight(day) + dt.timedelta(hours=hour)).timestamp() * 1000)


def _meter(device: str, sub_item: str, kwh: float, ts: int) -> str:
    return encode_line("meter", {"building_code": B, "device_id": device, "device_kind": "meter",
                                 "carrier": "electricity", "sub_item": sub_item}, {"consumption_kwh": kwh}, ts)


@pytest.fixture(scope="module")
def figures(registry):
    today = dt.date(2026, 10, 15)
    lines = [
        _meter("main", "main", 40.0, _ms(today, 8)), _meter("main", "main", 60.0, _ms(today, 9)),
        _meter("light", "lighting_sockets", 30.0, _ms(today, 8)), _meter("hvac", "hvac", 25.0, _ms(today, 9)),
        _meter("main", "main", 999.0, _ms(today, 11)),  # after "now": not counted
        _meter("main", "main", 777.0, _ms(dt.date(2026, 10, 7), 12)),  # 8 days ago: outside the 7 days
        # 02:00 CST on 8 October is 18:00 UTC on 7 October: it belongs to the local 8 October.
        _meter("main", "main", 5.0, _ms(dt.date(2026, 10, 8), 2)),
        encode_line("pv", {"building_code": B, "device_id": "pv1", "device_kind": "pv_inverter"},
                    {"generation_kwh": 50.0}, _ms(today, 9)),
        encode_line("pv", {"building_code": B, "device_id": "pv1", "device_kind": "pv_meter"},
                    {"generation_kwh": 999.0}, _ms(today, 9)),  # the grid meter, same id: not counted
        encode_line("ev_pile", {"building_code": B, "device_id": "ev1", "device_kind": "ev_pile"},
                    {"consumption_kwh": 20.0}, _ms(today, 9)),
        encode_line("ev_pile", {"building_code": B, "device_id": "ev1", "device_kind": "ev_pile"},
                    {"consumption_kwh": 30.0}, _ms(dt.date(2026, 10, 10), 12)),
    ]
    lines += [_meter("main", "main", 1000.0 + k, _ms(dt.date(2026, 10, 8 + k), 12)) for k in range(7)]
    registry.influx.write_lines(lines)
    daily = [encode_line("meter_1d", {"building_code": B, "device_id": "main", "device_kind": "meter",
                                      "carrier": "electricity", "sub_item": "main"},
                         {"consumption_kwh": kwh, "readings": 96}, _ms(dt.date(year, 10, d), 0))
             for year, kwh in ((2026, 2000.0), (2025, 1500.0)) for d in range(1, 15)]
    write_daily_rollups(registry.influx, daily, {(2026, 10), (2025, 10)})  # the balance, as the job makes it
    rollups = InfluxHTTP(registry.influx.url, registry.influx.database, retention_policy="rollup")
    with registry.session() as s:
        yield live_figures(session=s, influx=registry.influx, rollups=rollups, building_code=B, now=NOW)
    rollups.close()


def test_today_by_sub_item(figures):
    assert figures.now.isoformat() == "2026-10-15T10:00:00+08:00"
    assert figures.today_kwh == {"main": 100.0,  # 40 + 60; the 999 at 11:00 is after now
                                 "lighting_sockets": 30.0, "hvac": 25.0, "power": 0.0, "special": 0.0}


def test_last_seven_days_by_local_day(figures):
    assert [d.isoformat() for d, _ in figures.days] == [f"2026-10-{d:02d}" for d in range(8, 15)]
    # 1000 + k at noon; 8 October also has the 5 kWh of 02:00 CST (18:00 UTC the day before).
    assert [v["main"] for _, v in figures.days] == [1005.0, 1001.0, 1002.0, 1003.0, 1004.0, 1005.0, 1006.0]


def test_pv_counts_the_inverter_and_ev_the_pile(figures):
    assert (figures.pv_today_kwh, figures.pv_days_kwh) == (50.0, 0.0)  # not the grid meter's 999
    assert (figures.ev_today_kwh, figures.ev_days_kwh) == (20.0, 30.0)
    assert figures.has_pv and figures.ev_piles == 1


def test_month_to_date_against_the_same_days_last_year(figures):
    this, last = figures.mtd, figures.mtd_last_year
    assert (this.start.isoformat(), this.end.isoformat()) == ("2026-10-01", "2026-10-15")
    assert (last.start.isoformat(), last.end.isoformat()) == ("2025-10-01", "2025-10-15")
    # 14 complete days x 2000 kWh = 28,000 kWh; last year 14 x 1500 = 21,000 kWh (main meter = load;
    # no grid meter data, so the PV is counted as self-consumed and adds nothing here).
    assert this.electricity_kwh == pytest.approx(28_000.0)
    assert last.electricity_kwh == pytest.approx(21_000.0)
    # GB/T 2589 calorific equivalent 0.1229 kgce/kWh: 28,000 x 0.1229 / 1000 = 3.4412 tce.
    assert this.energy_tce == pytest.approx(3.4412)


def test_no_alerts_and_no_findings_store(figures):
    assert figures.alerts == [] and figures.quality is None
