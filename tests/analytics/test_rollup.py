"""Rollup job against the real InfluxDB: sums, readings, local-day boundaries, idempotence,
restart from the checkpoint, late data."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest

from analytics import rollup
from storage.influx import InfluxHTTP
from storage.lineproto import encode_line

pytestmark = pytest.mark.servers

SH = ZoneInfo("Asia/Shanghai")
DAY1 = dt.date(2025, 3, 1)
B = "510402A001"
Q15_MS = 15 * 60 * 1000


def local_ms(day: dt.date, hour: int = 0, minute: int = 0) -> int:
    return int(dt.datetime(day.year, day.month, day.day, hour, minute, tzinfo=SH).timestamp() * 1000)


def raw_lines() -> list[str]:
    """Two local days of 15-minute points, stamped at interval end (00:15 ... 24:00).

    Day 1 intervals: electricity 1.0 kWh, gas 0.5 m3; day 2: 2.0 kWh, 0.25 m3. PV inverter
    generation 0.4 kWh on day 1 only during 10:00-14:00 (16 intervals); pv_meter (no generation
    field, as the simulator sends it) export 0.1 kWh on those intervals.
    EV pile 3.0 kWh per interval 18:00-19:00 day 1 (4 intervals); one session.
    """
    meter = {"building_code": B, "device_kind": "meter"}
    lines = []
    for d, kwh, m3 in ((DAY1, 1.0, 0.5), (DAY1 + dt.timedelta(days=1), 2.0, 0.25)):
        for i in range(1, 97):
            ts = local_ms(d) + i * Q15_MS
            lines.append(encode_line("meter", {**meter, "device_id": "main", "carrier": "electricity",
                                               "sub_item": "main"}, {"consumption_kwh": kwh, "interval_s": 900}, ts))
            lines.append(encode_line("meter", {**meter, "device_id": "gas", "carrier": "natural_gas"},
                                     {"consumption_m3": m3, "register_m3": 100.0 + i}, ts))
    for i in range(41, 57):  # interval ends 10:15 .. 14:00
        ts = local_ms(DAY1) + i * Q15_MS
        lines.append(encode_line("pv", {"building_code": B, "device_id": "inv", "device_kind": "pv_inverter"},
                                 {"generation_kwh": 0.4, "power_kw": 1.6}, ts))
        lines.append(encode_line("pv", {"building_code": B, "device_id": "pvm", "device_kind": "pv_meter"},
                                 {"to_grid_kwh": 0.1, "from_grid_kwh": 0.0}, ts))
    for i in range(73, 77):  # 18:15 .. 19:00
        lines.append(encode_line("ev_pile", {"building_code": B, "device_id": "ev1", "device_kind": "ev_pile"},
                                 {"consumption_kwh": 3.0, "status": "charging"}, local_ms(DAY1) + i * Q15_MS))
    ev = {"building_code": B, "device_id": "ev1"}
    lines.append(encode_line("ev_session", {**ev, "event": "start"}, {"session_id": "s1"}, local_ms(DAY1, 18)))
    lines.append(encode_line("ev_session", {**ev, "event": "stop"},
                             {"session_id": "s1", "energy_kwh": 12.0, "pv_energy_kwh": 0.0}, local_ms(DAY1, 19)))
    # A reading stamped at local midnight of DAY1 closes the interval of the day before.
    lines.append(encode_line("meter", {**meter, "device_id": "main", "carrier": "electricity", "sub_item": "main"},
                             {"consumption_kwh": 7.0}, local_ms(DAY1)))
    return lines


@pytest.fixture
def db(influxd, fresh_db) -> InfluxHTTP:
    client = InfluxHTTP(influxd.url, fresh_db)
    client.write_lines(raw_lines())
    yield client
    client.close()


@pytest.fixture
def out(db) -> InfluxHTTP:
    """Reads of the rollup retention policy, where the job writes by default."""
    return rollup.rollup_client(db, rollup.ROLLUP_RP)


NOW = dt.datetime(2025, 3, 3, 12, 0, tzinfo=SH)  # DAY1 and DAY2 complete, 3 March in progress
#: A full day of the main meter: 96 readings, 96 x interval_s 900 = 86,400 s covered.
DAY_MAIN = {"readings": 96, "covered_s": 86_400}


def daily(db: InfluxHTTP, measurement: str) -> dict[tuple, dict]:
    out = {}
    for s in db.query(f'SELECT * FROM "{measurement}_1d" GROUP BY *'):
        for row in s["values"]:
            rec = {k: v for k, v in zip(s["columns"], row, strict=True) if v is not None}
            t = dt.datetime.fromtimestamp(rec.pop("time") / 1000, SH)
            out[(s["tags"].get("device_id"), t.date().isoformat(), t.hour)] = rec
    return out


def test_daily_sums_readings_and_local_day_boundaries(db, out):
    stats = rollup.run(db, start=DAY1 - dt.timedelta(days=1), now=NOW)
    assert stats.days == 4  # 28 Feb, 1, 2 and 3 March (today, partial)
    m = daily(out, "meter")
    # stamped at local midnight (hour 0 in Asia/Shanghai)
    assert m[("main", "2025-03-01", 0)] == {"consumption_kwh": 96.0, "readings": 96,
                                         "covered_s": 86_400}  # 96 x 1.0 kWh; 96 x interval_s 900
    assert m[("main", "2025-03-02", 0)] == {"consumption_kwh": 192.0, **DAY_MAIN}  # 96 x 2.0 kWh
    assert m[("main", "2025-02-28", 0)] == {"consumption_kwh": 7.0, "readings": 1,
                                         "covered_s": 900}  # the 00:00 point; no interval_s: nominal 900 s
    assert m[("gas", "2025-03-01", 0)] == {"consumption_m3": 48.0, **DAY_MAIN}  # 96 x 0.5 m3
    assert m[("gas", "2025-03-02", 0)] == {"consumption_m3": 24.0, **DAY_MAIN}  # 96 x 0.25 m3
    pv = daily(out, "pv")
    assert pv[("inv", "2025-03-01", 0)] == pytest.approx({"generation_kwh": 6.4, "readings": 16,
                                                                 "covered_s": 14_400})  # 16 x 0.4; 16 x 900 s
    # a pv_meter sends no generation: its readings are counted on the export field
    assert pv[("pvm", "2025-03-01", 0)] == pytest.approx(
        {"to_grid_kwh": 1.6, "from_grid_kwh": 0.0, "readings": 16, "covered_s": 14_400})  # 16 x 0.1 export
    assert daily(out, "ev_pile")[("ev1", "2025-03-01", 0)] == {"consumption_kwh": 12.0, "readings": 4,
                                                                     "covered_s": 3_600}  # 4 x 3.0
    assert daily(out, "ev_session")[("ev1", "2025-03-01", 0)] == {"energy_kwh": 12.0, "pv_energy_kwh": 0.0,
                                                                 "readings": 1}  # one stop event
    # tags are kept: the daily series is addressable exactly like the raw one
    tags = out.query('SHOW TAG VALUES FROM "meter_1d" WITH KEY = "carrier"')[0]["values"]
    assert sorted(v[1] for v in tags) == ["electricity", "natural_gas"]
    # hourly: first local hour of DAY1 holds 00:15, 00:30, 00:45 and 01:00
    h = out.query(f'SELECT consumption_kwh, readings FROM meter_1h WHERE device_id = \'main\' '
                 f'AND time = {local_ms(DAY1)}ms')[0]["values"][0]
    assert h[1:] == [4.0, 4]  # 4 x 1.0 kWh
    assert rollup.read_checkpoint(out) == dt.date(2025, 3, 3)  # today is not complete
    month = out.query(f"SELECT consumption_kwh, readings FROM meter_1mo WHERE device_id = 'main' "
                     f"AND time = {local_ms(DAY1)}ms")[0]["values"][0]
    assert month[1:] == [288.0, 192]  # March so far: 96 x 1.0 + 96 x 2.0 kWh, 2 x 96 readings
    feb = out.query(f"SELECT consumption_kwh FROM meter_1mo WHERE device_id = 'main' "
                   f"AND time = {local_ms(dt.date(2025, 2, 1))}ms")[0]["values"][0]
    assert feb[1] == 7.0  # the 00:00 reading of 1 March closes February
    b = out.query(f"SELECT * FROM building_1mo WHERE time = {local_ms(DAY1)}ms")[0]
    got = {k: v for k, v in zip(b["columns"], b["values"][0], strict=True) if v is not None and k != "time"}
    zero = dict.fromkeys(("lighting_sockets_kwh", "hvac_kwh", "power_kwh", "special_kwh", "unmetered_kwh", "lpg_kg",
                          "manufactured_gas_m3", "district_heat_kwh", "district_cooling_kwh", "diesel_kg",
                          "gasoline_kg", "coal_kg", "renewable_heat_kwh", "water_m3", "ev_pv_energy_kwh"), 0.0)
    assert got == pytest.approx({
        **zero, "building_code": B, "load_kwh": 288.0, "main_meter_kwh": 288.0,
        "natural_gas_m3": 72.0,  # 96 x 0.5 + 96 x 0.25 m3
        # 1 March: the grid meter's import, 0 in this data; 2 March the grid meter sent nothing, so
        # import = load + EV - PV = 192 + 0 - 0 kWh. Electricity used = 192 + (6.4 - 1.6) kWh.
        "electricity_from_grid_kwh": 192.0, "electricity_kwh": 196.8,
        "pv_generation_kwh": 6.4, "pv_to_grid_kwh": 1.6, "pv_self_consumed_kwh": 4.8,  # 6.4 - 1.6
        "ev_energy_kwh": 12.0, "ev_session_energy_kwh": 12.0, "ev_sessions": 1,
        "readings": 192 + 192 + 16 + 16 + 4,  # main, gas (2 days x 96 each), inverter, grid meter, EV pile
        # main and gas 2 x 86,400 s each, inverter and grid meter 16 x 900 s each, pile 4 x 900 s
        "covered_s": 4 * 86_400 + 2 * 14_400 + 3_600,
        "metered_days": 2,  # 1 and 2 March (3 March has no data yet)
    })
    # the month is the sum of its days' balances
    days = out.query(f"SELECT sum(load_kwh), sum(readings) FROM building_1d WHERE time >= {local_ms(DAY1)}ms")
    assert days[0]["values"][0][1:] == [288.0, 420]


def _snapshot(db: InfluxHTTP) -> list:
    return [(s["name"], s["tags"], s["values"]) for m in ("meter", "pv", "ev_pile", "ev_session")
            for res in ("1h", "1d", "1mo") for s in db.query(f'SELECT * FROM "{m}_{res}" GROUP BY *')]


def test_rerun_is_idempotent(db, out):
    rollup.run(db, start=DAY1, now=NOW)
    first = _snapshot(out)
    stats = rollup.run(db, start=DAY1, now=NOW)
    assert stats.daily_points > 0
    assert _snapshot(out) == first
    count = out.query("SELECT count(readings) FROM meter_1d")[0]["values"][0][1]
    assert count == 4  # 2 devices x 2 days; re-running wrote over the same points (3 March has none)


def test_restart_from_checkpoint_gives_the_same_result(db, out):
    class Crash(Exception):
        pass

    def crash_after_first(day):
        if day == DAY1:
            raise Crash

    with pytest.raises(Crash):
        rollup.run(db, start=DAY1, now=NOW, on_day=crash_after_first)
    assert rollup.read_checkpoint(out) == DAY1 + dt.timedelta(days=1)
    stats = rollup.run(db, now=NOW, lookback_days=0)  # resumes at the checkpoint
    assert [d for d, _ in stats.per_day] == [dt.date(2025, 3, 2), dt.date(2025, 3, 3)]
    resumed = _snapshot(out)
    for m in ("meter", "pv", "ev_pile", "ev_session"):
        for res in ("1h", "1d", "1mo"):
            out.query_raw(f'DROP MEASUREMENT "{m}_{res}"', post=True)
    rollup.run(db, start=DAY1, now=NOW)
    assert _snapshot(out) == resumed


def test_late_data_within_lookback_is_picked_up(db, out):
    rollup.run(db, start=DAY1, now=NOW)
    # ingest re-derives an interval value of DAY2 (a late reading landed before it)
    db.write_lines([encode_line("meter", {"building_code": B, "device_kind": "meter", "device_id": "main",
                                          "carrier": "electricity", "sub_item": "main"},
                                {"consumption_kwh": 5.0}, local_ms(DAY1 + dt.timedelta(days=1), 12))])
    rollup.run(db, now=NOW, lookback_days=1)  # checkpoint 3 March - 1 day = 2 March is redone
    assert daily(out, "meter")[("main", "2025-03-02", 0)]["consumption_kwh"] == 195.0  # 192 - 2.0 + 5.0


def test_no_data_is_nothing_to_do(influxd, fresh_db):
    with InfluxHTTP(influxd.url, fresh_db) as empty:
        stats = rollup.run(empty, now=NOW)
    assert stats.days == 0 and stats.checkpoint is None


def _policies(db: InfluxHTTP) -> dict[str, dict]:
    s = db.query(f'SHOW RETENTION POLICIES ON "{db.database}"')[0]
    return {row[0]: dict(zip(s["columns"], row, strict=True)) for row in s["values"]}


def test_rollups_go_to_the_rollup_policy_created_when_missing(db, out):
    assert rollup.ROLLUP_RP not in _policies(db)
    rollup.run(db, start=DAY1, now=NOW)
    rp = _policies(db)[rollup.ROLLUP_RP]
    assert rp["duration"] == "0s"  # kept forever
    assert rp["shardGroupDuration"] == "8736h0m0s"  # 52 weeks x 168 h
    assert rp["default"] is False  # raw writes without a policy still land in the default one
    assert _policies(db)["autogen"]["default"] is True
    for m in ("meter_1h", "meter_1d", "meter_1mo", "building_1mo", rollup.CHECKPOINT_MEASUREMENT):
        assert db.query(f'SELECT count(*) FROM "{m}"') == [], m  # nothing in the raw data's policy
    assert daily(out, "meter")[("main", "2025-03-01", 0)] == {"consumption_kwh": 96.0, "readings": 96,
                                                                 "covered_s": 86_400}
    assert rollup.read_checkpoint(out) == dt.date(2025, 3, 3)
    assert rollup.ensure_rollup_rp(db) is False  # idempotent: already there


def test_an_existing_rollup_policy_is_left_as_it_is(db, out):
    db.query_raw(f'CREATE RETENTION POLICY "{rollup.ROLLUP_RP}" ON "{db.database}" DURATION INF REPLICATION 1 '
                 "SHARD DURATION 4w", epoch=None, post=True)
    rollup.run(db, start=DAY1, now=NOW)
    assert _policies(db)[rollup.ROLLUP_RP]["shardGroupDuration"] == "672h0m0s"  # still 4 x 168 h
    assert daily(out, "meter")[("main", "2025-03-02", 0)] == {"consumption_kwh": 192.0, **DAY_MAIN}


def test_an_expiring_rollup_policy_is_refused_before_anything_is_written(db, out):
    db.query_raw(f'CREATE RETENTION POLICY "{rollup.ROLLUP_RP}" ON "{db.database}" DURATION 520w REPLICATION 1',
                 epoch=None, post=True)
    with pytest.raises(ValueError, match=r"'rollup' keeps data for 87360h0m0s.*DURATION INF"):  # 520 x 168 h
        rollup.run(db, start=DAY1, now=NOW)
    assert out.query("SELECT count(*) FROM meter_1d") == []


def test_a_renamed_policy_and_the_opt_out(db):
    rollup.run(db, start=DAY1, now=NOW, rollup_rp="rollups_b")
    assert "rollups_b" in _policies(db) and rollup.ROLLUP_RP not in _policies(db)
    renamed = rollup.rollup_client(db, "rollups_b")
    assert daily(renamed, "meter")[("main", "2025-03-01", 0)] == {"consumption_kwh": 96.0, **DAY_MAIN}
    with InfluxHTTP(db.url, db.database) as same:
        rollup.run(same, start=DAY1, now=NOW, rollup_rp=None)  # None: the client's own (default) policy
        assert daily(same, "meter")[("main", "2025-03-01", 0)] == {"consumption_kwh": 96.0, **DAY_MAIN}


def test_bad_policy_settings_are_refused(db):
    with pytest.raises(ValueError, match="shard_duration"):
        rollup.ensure_rollup_rp(db, "r2", shard_duration="1y; DROP DATABASE x")
    with pytest.raises(ValueError, match="EP_ROLLUP_RP"):
        rollup.ensure_rollup_rp(db, "")


def test_cli_takes_the_policy_from_ep_rollup_rp_and_refuses_a_bad_one(db):
    import os
    import subprocess
    import sys
    from pathlib import Path

    def cli(*argv: str, **env: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "analytics", "--influx-url", db.url, "--influx-db", db.database,
                               *argv], env={**os.environ, **env}, cwd=Path(__file__).resolve().parents[2],
                              capture_output=True, text=True, timeout=120)

    r = cli("rollup", "--from", DAY1.isoformat(), "--to", DAY1.isoformat(), "--no-rederive", EP_ROLLUP_RP="by_env")
    assert r.returncode == 0, r.stderr
    assert "by_env" in _policies(db) and rollup.ROLLUP_RP not in _policies(db)
    by_env = rollup.rollup_client(db, "by_env")
    assert daily(by_env, "meter")[("main", "2025-03-01", 0)] == {"consumption_kwh": 96.0, **DAY_MAIN}
    r = cli("rollup", "--shard-duration", "1y", EP_ROLLUP_RP="by_env2")
    assert r.returncode == 2 and "shard_duration '1y'" in r.stderr


def test_an_offline_main_meter_is_not_replaced_by_its_sub_meters(influxd, fresh_db):
    """Building C: main + hvac meters. Main reports 1.0 kWh per interval on DAY1, is offline all of
    DAY2, and its first reading back (00:15 on DAY3) carries DAY2's 96 intervals + its own: 97 kWh.
    The hvac sub-meter reports 0.5 kWh per interval every day. Building S has only an hvac meter
    (0.5 kWh per interval): its load is its sub-items."""
    c, s = "510402C001", "510402S001"
    db = InfluxHTTP(influxd.url, fresh_db)
    lines = []
    for d in range(3):
        day = DAY1 + dt.timedelta(days=d)
        for i in range(1, 97):
            ts = local_ms(day) + i * Q15_MS
            for code in (c, s):
                lines.append(encode_line("meter", {"building_code": code, "device_id": "hvac", "device_kind": "meter",
                                                   "carrier": "electricity", "sub_item": "hvac"},
                                         {"consumption_kwh": 0.5, "interval_s": 900}, ts))
            if d == 0 or (d == 2 and i == 1):
                kwh, interval = (1.0, 900) if d == 0 else (97.0, 97 * 900)
                lines.append(encode_line("meter", {"building_code": c, "device_id": "main", "device_kind": "meter",
                                                   "carrier": "electricity", "sub_item": "main"},
                                         {"consumption_kwh": kwh, "interval_s": interval}, ts))
    db.write_lines(lines)
    rollup.ensure_rollup_rp(db, rollup.ROLLUP_RP, rollup.ROLLUP_SHARD_DURATION)
    out = rollup.rollup_client(db, rollup.ROLLUP_RP)
    for d in range(3):
        rollup.rollup_day(db, DAY1 + dt.timedelta(days=d), out=out)
    got = {(sr["tags"]["building_code"], dt.datetime.fromtimestamp(t / 1000, SH).date().isoformat()): (load, el)
           for sr in out.query('SELECT load_kwh, electricity_kwh FROM building_1d GROUP BY building_code')
           for t, load, el in sr["values"]}
    assert got[(c, "2025-03-01")] == (96.0, 96.0)  # 96 x 1.0
    assert got[(c, "2025-03-02")] == (0.0, 0.0)  # main offline: not the hvac's 48 kWh
    assert got[(c, "2025-03-03")] == (97.0, 97.0)  # the reading back
    # Over the three days: the main meter's 96 + 97 = 193 kWh, counted once.
    assert sum(v[0] for k, v in got.items() if k[0] == c) == 193.0
    assert got[(s, "2025-03-02")] == (48.0, 48.0)  # no main meter: 96 x 0.5 of the sub-items
    db.close()
