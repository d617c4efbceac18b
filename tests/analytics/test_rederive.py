"""Interval values re-derived from the stored registers before the rollup sums a day: stale values
as a second ingest worker leaves them (computed against a stale neighbour, or never computed),
resets and rollovers, a device's own values left alone, idempotence; a single misread register
value judged against both neighbours (contract.registers.clean_values), with the readings around
the window as context."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from analytics import rederive, rollup
from analytics.__main__ import main as analytics_main
from analytics.rederive import StoredPoint, fixes_for_device
from analytics.settings import AnalyticsSettings
from storage.influx import InfluxHTTP
from storage.lineproto import encode_line

SH = ZoneInfo("Asia/Shanghai")
DAY = dt.date(2025, 3, 1)
NOW = dt.datetime(2025, 3, 3, 12, 0, tzinfo=SH)
B = "510402A001"
H6_S = 21_600.0  # 6 h between readings [s]


def local_ms(hour: int, day: dt.date = DAY) -> int:
    return int(dt.datetime(day.year, day.month, day.day, tzinfo=SH).timestamp() * 1000) + hour * 3_600_000


T0, T1, T2, T3, T4 = (local_ms(h) for h in (0, 6, 12, 18, 24))  # T0 closes the day before: the "previous" point

ELEC = {"building_code": B, "device_kind": "meter", "carrier": "electricity", "sub_item": "hvac"}
GAS = {"building_code": B, "device_kind": "meter", "carrier": "natural_gas"}
PVM = {"building_code": B, "device_kind": "pv_meter"}


def stale_lines() -> list[str]:
    """Registers stored exactly, interval values as two racing ingest workers might leave them.

    E1 (kWh):  1000 | 1010 | 1025.5 | 1030 | 1042; T2 computed from T0 (T1 still in flight at the
               other worker): 25.5 over 12 h; T4 never derived.
    G1 (m3, reset at T2): 500 | 520 | 3 | 8; T3 computed from T1: 8 < 520 -> "reset" 8.0 over 12 h.
    R1 (kWh, 6-digit register rolls over at T2): 999 900 | 999 980 | 30 | 70; T2 computed from T0:
               1e6 - 999 900 + 30 = 130 over 12 h.
    P1 (pv_meter): to_grid 10 | 12 | 15, from_grid 5 | 5.5 | 5.5; T2 computed from T0 (5.0, 0.5).
    X1 (kWh): the device sends its own consumption (1.0, no interval_s) beside a register 100 | 200.
    """
    def meter(tags, dev, ts, fields):
        return encode_line("meter", {**tags, "device_id": dev}, fields, ts)

    def pv(ts, fields):
        return encode_line("pv", {**PVM, "device_id": "P1"}, fields, ts)

    return [
        meter(ELEC, "E1", T0, {"register_kwh": 1000.0}),
        meter(ELEC, "E1", T1, {"register_kwh": 1010.0, "consumption_kwh": 10.0, "interval_s": H6_S}),
        meter(ELEC, "E1", T2, {"register_kwh": 1025.5, "consumption_kwh": 25.5, "interval_s": 2 * H6_S}),
        meter(ELEC, "E1", T3, {"register_kwh": 1030.0, "consumption_kwh": 4.5, "interval_s": H6_S}),
        meter(ELEC, "E1", T4, {"register_kwh": 1042.0}),
        meter(GAS, "G1", T0, {"register_m3": 500.0}),
        meter(GAS, "G1", T1, {"register_m3": 520.0, "consumption_m3": 20.0, "interval_s": H6_S}),
        meter(GAS, "G1", T2, {"register_m3": 3.0, "consumption_m3": 3.0, "interval_s": H6_S}),
        meter(GAS, "G1", T3, {"register_m3": 8.0, "consumption_m3": 8.0, "interval_s": 2 * H6_S}),
        meter(ELEC, "R1", T0, {"register_kwh": 999_900.0}),
        meter(ELEC, "R1", T1, {"register_kwh": 999_980.0, "consumption_kwh": 80.0, "interval_s": H6_S}),
        meter(ELEC, "R1", T2, {"register_kwh": 30.0, "consumption_kwh": 130.0, "interval_s": 2 * H6_S}),
        meter(ELEC, "R1", T3, {"register_kwh": 70.0, "consumption_kwh": 40.0, "interval_s": H6_S}),
        pv(T0, {"to_grid_register_kwh": 10.0, "from_grid_register_kwh": 5.0}),
        pv(T1, {"to_grid_register_kwh": 12.0, "from_grid_register_kwh": 5.5, "to_grid_kwh": 2.0,
                "from_grid_kwh": 0.5, "interval_s": H6_S}),
        pv(T2, {"to_grid_register_kwh": 15.0, "from_grid_register_kwh": 5.5, "to_grid_kwh": 5.0,
                "from_grid_kwh": 0.5, "interval_s": 2 * H6_S}),
        meter(ELEC, "X1", T0, {"register_kwh": 100.0}),
        meter(ELEC, "X1", T1, {"register_kwh": 200.0, "consumption_kwh": 1.0}),
    ]


# ---- pure -----------------------------------------------------------------------------------


def _pts(rows: list[tuple[int, float, float | None, float | None]]) -> list[StoredPoint]:
    return [StoredPoint(t, (("device_id", "E"),), {"register_kwh": r, "consumption_kwh": c, "interval_s": s})
            for t, r, c, s in rows]


PAIRS = (("register_kwh", "consumption_kwh"),)


def test_fixes_for_device_rewrites_only_the_stale_point():
    pts = _pts([(T1, 1010.0, 10.0, H6_S), (T2, 1025.5, 25.5, 2 * H6_S), (T3, 1030.0, 4.5, H6_S)])
    checked, fixes = fixes_for_device(pts, {"register_kwh": [(T0, 1000.0)]}, PAIRS)
    assert checked == 3
    assert [(p.ts_ms, f) for p, f in fixes] == [(T2, {"consumption_kwh": 15.5, "interval_s": H6_S})]  # 1025.5-1010


def test_fixes_for_device_counts_zero_across_a_recorded_replacement():
    # New register at T2 starts at 37.0 (not near 0): across the replacement (at T2 - 1 h) the step
    # counts 0.0, the next step 37.0 -> 38.5 counts 1.5; stored values from a replacement-blind run.
    pts = _pts([(T1, 300.0, 1.0, H6_S), (T2, 37.0, None, H6_S), (T3, 38.5, 1.5, H6_S)])
    checked, fixes = fixes_for_device(pts, {"register_kwh": [(T0, 299.0)]}, PAIRS, replaced_ms=T2 - 3_600_000)
    assert checked == 3 and [(p.ts_ms, f) for p, f in fixes] == [(T2, {"consumption_kwh": 0.0, "interval_s": H6_S})]
    # Without the record 300 -> 37 is a backward step (37 > 10 % of 300): held out, nothing to write.
    assert fixes_for_device(pts, {"register_kwh": [(T0, 299.0)]}, PAIRS)[1] == []


def test_fixes_for_device_without_previous_leaves_the_first_reading():
    pts = _pts([(T1, 1010.0, 99.0, H6_S), (T2, 1025.5, 15.5, H6_S)])
    checked, fixes = fixes_for_device(pts, {}, PAIRS)
    assert (checked, fixes) == (1, [])  # T1's neighbour is unknown: not checked, not touched


def test_fixes_for_device_keeps_a_device_supplied_value():
    pts = _pts([(T1, 200.0, 1.0, None)])  # consumption without interval_s: the device's own
    assert fixes_for_device(pts, {"register_kwh": [(T0, 100.0)]}, PAIRS) == (0, [])


def test_fixes_for_device_pv_meter_interval_s_is_shortest_of_its_registers():
    pairs = rederive.REGISTER_FIELDS["pv"]
    p = StoredPoint(T2, (), {"to_grid_register_kwh": 15.0, "from_grid_register_kwh": 5.5,
                             "to_grid_kwh": 5.0, "from_grid_kwh": 0.5, "interval_s": 2 * H6_S})
    prev = {"to_grid_register_kwh": [(T1, 12.0)], "from_grid_register_kwh": [(T0, 5.0)]}
    _, fixes = fixes_for_device([p], prev, pairs)
    # to_grid 15 - 12 = 3 over 6 h; from_grid 5.5 - 5.0 = 0.5 over 12 h; interval_s = min = 6 h
    assert fixes[0][1] == {"to_grid_kwh": 3.0, "from_grid_kwh": 0.5, "interval_s": H6_S}


def test_register_fields_come_from_the_vocabulary():
    assert ("register_kwh", "consumption_kwh") in rederive.REGISTER_FIELDS["meter"]
    assert ("register_m3", "consumption_m3") in rederive.REGISTER_FIELDS["meter"]
    assert ("register_kg", "consumption_kg") in rederive.REGISTER_FIELDS["meter"]
    assert rederive.REGISTER_FIELDS["ev_pile"] == (("register_kwh", "consumption_kwh"),)
    assert {r for r, _ in rederive.REGISTER_FIELDS["pv"]} == {
        "generation_register_kwh", "to_grid_register_kwh", "from_grid_register_kwh"}


# ---- one misread register value, judged against both neighbours (contract.registers.clean_values)


Q_MS, Q_S = 900_000, 900.0  # 15 minutes between readings [ms], [s]


def q(n: int) -> int:
    return T0 + n * Q_MS


def _fixed(fixes) -> list[tuple[int, dict[str, float]]]:
    return [(p.ts_ms, f) for p, f in fixes]


def _apply(pts: list[StoredPoint], fixes) -> list[StoredPoint]:
    """The points as InfluxDB holds them after the rewrite (the fields of each fix overwritten)."""
    new = {p.ts_ms: f for p, f in fixes}
    return [StoredPoint(p.ts_ms, p.tags, {**p.values, **new.get(p.ts_ms, {})}) for p in pts]


def test_misread_high_inside_the_window_counts_next_minus_previous():
    # 100 000 | 101 010 | 100 020 kWh, stored as ingest stored them before clean values: the step up
    # counted (1 010 kWh in 0.25 h = 4 040 kWh/h < 1e5), the step back held out (interval_s only).
    pts = _pts([(q(1), 101_010.0, 1010.0, Q_S), (q(2), 100_020.0, None, Q_S)])
    checked, fixes = fixes_for_device(pts, {"register_kwh": [(q(0), 100_000.0)]}, PAIRS)
    # clean: 100 000 | 100 020 (101 010 > next 100 020 by 990 > 1 digit: the nearer bound) | 100 020
    assert checked == 2
    assert _fixed(fixes) == [(q(1), {"consumption_kwh": 20.0, "interval_s": Q_S}),  # 100 020 - 100 000
                             (q(2), {"consumption_kwh": 0.0, "interval_s": Q_S})]  # 100 020 - 100 020


def test_misread_low_inside_the_window_is_no_longer_held_out():
    # 100 000 | 95 000 | 100 010: before, the drop was held out and the next step counted 5 010.
    pts = _pts([(q(1), 95_000.0, None, Q_S), (q(2), 100_010.0, 5010.0, Q_S)])
    checked, fixes = fixes_for_device(pts, {"register_kwh": [(q(0), 100_000.0)]}, PAIRS)
    # clean: 100 000 | 100 000 (95 000 < previous by 5 000 > 1 digit) | 100 010
    assert checked == 2
    assert _fixed(fixes) == [(q(1), {"consumption_kwh": 0.0, "interval_s": Q_S}),  # held-out dip -> numeric 0
                             (q(2), {"consumption_kwh": 10.0, "interval_s": Q_S})]  # 100 010 - 100 000


def test_misread_at_the_windows_last_point_is_judged_with_the_reading_after_it():
    # Window: 100 010 | 101 030 (misread); before it 100 000, after it 100 030 (not in the window).
    pts = _pts([(q(1), 100_010.0, 10.0, Q_S), (q(2), 101_030.0, 1020.0, Q_S)])
    before = {"register_kwh": [(q(0), 100_000.0)]}
    after = {"register_kwh": [(q(3), 100_030.0)]}
    checked, fixes = fixes_for_device(pts, before, PAIRS, following=after)
    # clean: 100 000 | 100 010 | 100 030 (101 030 > next 100 030 by 1 000) | 100 030
    assert checked == 2
    assert _fixed(fixes) == [(q(2), {"consumption_kwh": 20.0, "interval_s": Q_S})]  # 100 030 - 100 010
    # Nothing after the window: its last reading is the newest, provisional, not judged:
    # 101 030 - 100 010 = 1 020 as stored (the next run, with the reading after, fixes it).
    assert fixes_for_device(pts, before, PAIRS) == (2, [])


def test_misread_at_the_windows_first_point_is_judged_with_the_reading_before_it():
    # Before the window: 100 000 | 100 010; window: 95 000 (misread low) | 100 030.
    pts = _pts([(q(2), 95_000.0, None, Q_S), (q(3), 100_030.0, 5030.0, Q_S)])
    before = {"register_kwh": [(q(0), 100_000.0), (q(1), 100_010.0)]}
    checked, fixes = fixes_for_device(pts, before, PAIRS)
    # clean: 100 000 | 100 010 (neighbours 100 000 > 95 000: not judged) | 100 010 (95 000 < 100 010
    # by 5 010) | 100 030
    assert checked == 2
    assert _fixed(fixes) == [(q(2), {"consumption_kwh": 0.0, "interval_s": Q_S}),  # 100 010 - 100 010
                             (q(3), {"consumption_kwh": 20.0, "interval_s": Q_S})]  # 100 030 - 100 010


def test_misread_just_before_the_window_is_judged_with_the_two_readings_before():
    # Before the window: 100 000 | 101 010 (misread high, stored 1 010: not in the window, not
    # rewritten); window: 100 020 (step back, held out) | 100 030.
    pts = _pts([(q(2), 100_020.0, None, Q_S), (q(3), 100_030.0, 10.0, Q_S)])
    two = {"register_kwh": [(q(0), 100_000.0), (q(1), 101_010.0)]}
    checked, fixes = fixes_for_device(pts, two, PAIRS)
    # clean: 100 000 | 100 020 (101 010 > next 100 020 by 990) | 100 020 | 100 030
    assert checked == 2
    assert _fixed(fixes) == [(q(2), {"consumption_kwh": 0.0, "interval_s": Q_S})]  # 100 020 - 100 020
    # Only one reading before (the device's first, or all the lookback found): it is not judged,
    # 100 020 after 101 010 is a backward step, held out as stored: nothing to rewrite.
    assert fixes_for_device(pts, {"register_kwh": [(q(1), 101_010.0)]}, PAIRS) == (1, [])


def test_a_monotone_register_is_never_rewritten_and_a_second_run_rewrites_nothing():
    regs = [100_000.0, 100_010.0, 100_010.0, 100_025.5, 100_030.0]  # grows or stays, never judged
    pts = _pts([(q(k), regs[k], regs[k] - regs[k - 1], Q_S) for k in (2, 3)])
    before = {"register_kwh": [(q(0), regs[0]), (q(1), regs[1])]}
    after = {"register_kwh": [(q(4), regs[4])]}
    assert fixes_for_device(pts, before, PAIRS, following=after) == (2, [])  # 0 and 15.5 as stored
    # A misread one: rewritten once, then nothing (idempotent).
    bad = _pts([(q(2), 101_010.0, 1000.0, Q_S), (q(3), 100_025.5, None, Q_S)])
    checked, fixes = fixes_for_device(bad, before, PAIRS, following=after)
    # clean: 100 000 | 100 010 | 100 025.5 (101 010 > next) | 100 025.5 | 100 030
    assert _fixed(fixes) == [(q(2), {"consumption_kwh": 15.5, "interval_s": Q_S}),  # 100 025.5 - 100 010
                             (q(3), {"consumption_kwh": 0.0, "interval_s": Q_S})]
    assert fixes_for_device(_apply(bad, fixes), before, PAIRS, following=after) == (2, [])


def test_no_reading_is_judged_across_a_recorded_replacement():
    # Old meter 100 | 200, replaced, new meter 150 | 160. Without the record 200 lies above next 150
    # (100 <= 150): a misread, cleaned to 150.
    pts = _pts([(q(1), 200.0, 100.0, Q_S), (q(2), 150.0, None, Q_S), (q(3), 160.0, 10.0, Q_S)])
    before = {"register_kwh": [(q(0), 100.0)]}
    _, fixes = fixes_for_device(pts, before, PAIRS, replaced_ms=q(2) - 60_000)
    # With it: 200 and 150 are not judged; 200 - 100 = 100 as stored, 200 -> 150 across the
    # replacement counts 0, 160 - 150 = 10 as stored.
    assert _fixed(fixes) == [(q(2), {"consumption_kwh": 0.0, "interval_s": Q_S})]
    _, blind = fixes_for_device(pts, before, PAIRS)
    assert _fixed(blind) == [(q(1), {"consumption_kwh": 50.0, "interval_s": Q_S}),  # 150 - 100
                             (q(2), {"consumption_kwh": 0.0, "interval_s": Q_S})]  # 150 - 150


def test_a_device_supplied_value_stays_and_its_register_is_still_a_neighbour():
    # 100 000 | 101 010 (the device sent 3.0 itself, no interval_s) | 100 020
    pts = _pts([(q(1), 101_010.0, 3.0, None), (q(2), 100_020.0, None, Q_S)])
    checked, fixes = fixes_for_device(pts, {"register_kwh": [(q(0), 100_000.0)]}, PAIRS)
    # its value is kept; its register is cleaned to 100 020, so the step after it counts 0
    assert checked == 1 and _fixed(fixes) == [(q(2), {"consumption_kwh": 0.0, "interval_s": Q_S})]


# ---- real InfluxDB --------------------------------------------------------------------------


@pytest.fixture
def db(influxd, fresh_db) -> InfluxHTTP:
    client = InfluxHTTP(influxd.url, fresh_db)
    client.write_lines(stale_lines())
    yield client
    client.close()


def stored(db: InfluxHTTP, measurement: str, device: str, fields: str) -> dict[int, tuple]:
    rows = db.query(f"SELECT {fields} FROM \"{measurement}\" WHERE device_id = '{device}'")  # noqa: S608
    return {r[0]: tuple(r[1:]) for r in rows[0]["values"]}


def daily_sum(db: InfluxHTTP, measurement: str, device: str, field: str) -> float:
    rows = db.query(f"SELECT \"{field}\" FROM \"{measurement}_1d\" WHERE device_id = '{device}'")  # noqa: S608
    assert len(rows[0]["values"]) == 1
    return rows[0]["values"][0][1]


@pytest.mark.servers
def test_rollup_rederives_stale_intervals_and_sums_the_truth(db):
    stats = rollup.run(db, start=DAY, end=DAY, lookback_days=0, now=NOW, rollup_rp=None)
    # checked: E1 T1..T4 (4) + G1 T1..T3 (3) + R1 T1..T3 (3) + P1 T1, T2 (2) = 12; X1 is the device's own
    assert stats.rederive_checked == 12
    assert stats.rederive_rewritten == 5  # E1 T2, E1 T4, G1 T3, R1 T2, P1 T2

    e1 = stored(db, "meter", "E1", "consumption_kwh, interval_s")
    assert e1[T2] == (pytest.approx(15.5), H6_S)  # 1025.5 - 1010, not 1025.5 - 1000
    assert e1[T4] == (pytest.approx(12.0), H6_S)  # 1042 - 1030, was never derived
    assert stored(db, "meter", "G1", "consumption_m3, interval_s")[T3] == (pytest.approx(5.0), H6_S)  # 8 - 3
    assert stored(db, "meter", "R1", "consumption_kwh, interval_s")[T2] == (
        pytest.approx(50.0), H6_S)  # rollover: 1e6 - 999 980 + 30
    assert stored(db, "pv", "P1", "to_grid_kwh, from_grid_kwh")[T2] == (pytest.approx(3.0), pytest.approx(0.0))
    assert stored(db, "meter", "E1", "register_kwh")[T2] == (1025.5,)  # registers untouched

    # Daily sums (T0 belongs to 28 February; T4 = 24:00 closes 1 March):
    assert daily_sum(db, "meter", "E1", "consumption_kwh") == pytest.approx(42.0)  # 10 + 15.5 + 4.5 + 12 = 1042 - 1000
    assert daily_sum(db, "meter", "G1", "consumption_m3") == pytest.approx(28.0)  # 20 + 3 (reset) + 5
    assert daily_sum(db, "meter", "R1", "consumption_kwh") == pytest.approx(170.0)  # 80 + 50 + 40
    assert daily_sum(db, "pv", "P1", "to_grid_kwh") == pytest.approx(5.0)  # 2 + 3 = 15 - 10
    assert daily_sum(db, "pv", "P1", "from_grid_kwh") == pytest.approx(0.5)  # 0.5 + 0 = 5.5 - 5
    assert daily_sum(db, "meter", "X1", "consumption_kwh") == pytest.approx(1.0)  # the device's value, kept
    assert daily_sum(db, "meter", "E1", "readings") == 4

    again = rollup.run(db, start=DAY, end=DAY, lookback_days=0, now=NOW, rollup_rp=None)
    assert (again.rederive_checked, again.rederive_rewritten) == (12, 0)  # idempotent: nothing left to fix


@pytest.mark.servers
def test_rederive_in_one_device_chunks_equals_one_chunk(db, influxd, fresh_db):
    start, end = local_ms(0), local_ms(24)
    small = rederive.rederive_window(db, start, end, max_devices_per_query=1)
    assert (small.checked, small.rewritten, small.devices) == (12, 5, 5)  # 5 devices, one query each
    assert rederive.rederive_window(db, start, end).rewritten == 0


GAP_S = (T4 - Q_MS - (T0 + 4 * Q_MS)) / 1000  # 04:00 -> 23:45 [s]


def misread_lines() -> list[str]:
    """M1 (kWh) around 1 March, stored as ingest stored it before clean values (each step judged in
    pairs). Before the window: 23:45 100 000 | 00:00 101 010 (misread, 1 010 counted). Window (00:00
    excluded, 24:00 included): 00:15 100 020 (step back, held out) | 00:30 100 030 (10) | 00:45
    95 000 (misread, held out) | 01:00 100 050 (5 050) | 23:45 100 060 (10) | 24:00 101 070 (misread,
    1 010). After: 00:15 100 070 (step back, held out). Its register_m3 (another register of the
    device) at 23:59, 00:01 and 24:01: the newest point before the window and the first after it hold
    only that register."""
    def m(ts, fields):
        return encode_line("meter", {**ELEC, "device_id": "M1"}, fields, ts)

    def kwh(ts, reg, counted, secs=Q_S):
        return m(ts, {"register_kwh": reg, "interval_s": secs,
                      **({"consumption_kwh": counted} if counted is not None else {})})

    return [m(T0 - Q_MS, {"register_kwh": 100_000.0}), kwh(T0, 101_010.0, 1010.0),
            kwh(T0 + Q_MS, 100_020.0, None), kwh(T0 + 2 * Q_MS, 100_030.0, 10.0),
            kwh(T0 + 3 * Q_MS, 95_000.0, None), kwh(T0 + 4 * Q_MS, 100_050.0, 5050.0),
            kwh(T4 - Q_MS, 100_060.0, 10.0, GAP_S), kwh(T4, 101_070.0, 1010.0),
            kwh(T4 + Q_MS, 100_070.0, None),
            m(T0 - 60_000, {"register_m3": 7.0}),
            m(T0 + 60_000, {"register_m3": 7.5, "consumption_m3": 0.5, "interval_s": 120.0}),
            m(T4 + 60_000, {"register_m3": 8.0})]


@pytest.mark.servers
def test_rederive_window_cleans_misreads_with_the_readings_around_the_window(influxd, fresh_db):
    db = InfluxHTTP(influxd.url, fresh_db)
    try:
        db.write_lines(misread_lines())
        stats = rederive.rederive_window(db, T0, T4)
        # checked: the 6 window points with register_kwh and the one with register_m3 (7.5 - 7 = 0.5)
        assert (stats.checked, stats.rewritten) == (7, 4)
        got = stored(db, "meter", "M1", "consumption_kwh, interval_s")
        # clean: 100 000 | 100 020 | 100 020 | 100 030 | 100 030 | 100 050 | 100 060 | 100 070 | 100 070
        assert got[T0 + Q_MS] == (pytest.approx(0.0), Q_S)  # 100 020 - 100 020 (was held out)
        assert got[T0 + 2 * Q_MS] == (pytest.approx(10.0), Q_S)  # 100 030 - 100 020, as stored
        assert got[T0 + 3 * Q_MS] == (pytest.approx(0.0), Q_S)  # 100 030 - 100 030 (was held out)
        assert got[T0 + 4 * Q_MS] == (pytest.approx(20.0), Q_S)  # 100 050 - 100 030 (was 5 050)
        assert got[T4 - Q_MS] == (pytest.approx(10.0), GAP_S)  # 100 060 - 100 050, as stored
        assert got[T4] == (pytest.approx(10.0), Q_S)  # 100 070 (clipped to next) - 100 060 (was 1 010)
        # The context readings are not the window's: not rewritten.
        assert got[T0] == (pytest.approx(1010.0), Q_S)
        assert got[T4 + Q_MS] == (None, Q_S)
        # The window's sum telescopes: clean(24:00) - clean(00:00) = 100 070 - 100 020 = 50
        assert sum(v[0] for t, v in got.items() if T0 < t <= T4 and v[0] is not None) == pytest.approx(50.0)
        again = rederive.rederive_window(db, T0, T4)
        assert (again.checked, again.rewritten) == (7, 0)  # idempotent
    finally:
        db.close()


@pytest.mark.servers
def test_cli_no_rederive_sums_the_stored_values(db, influxd, fresh_db):
    base = ["--influx-url", influxd.url, "--influx-db", fresh_db, "rollup", "--from", DAY.isoformat(),
            "--to", DAY.isoformat()]
    # The rollups land where the CLI's settings put them.
    rollups = AnalyticsSettings(influx_url=influxd.url, influx_db=fresh_db).rollups()
    assert analytics_main([*base, "--no-rederive"]) == 0
    assert daily_sum(rollups, "meter", "E1", "consumption_kwh") == pytest.approx(40.0)  # stale: 10 + 25.5 + 4.5
    assert analytics_main(base) == 0
    assert daily_sum(rollups, "meter", "E1", "consumption_kwh") == pytest.approx(42.0)  # 1042 - 1000
    rollups.close()


def test_rederive_window_refuses_an_empty_window():
    with pytest.raises(ValueError, match="end_ms"):
        rederive.rederive_window(InfluxHTTP("http://127.0.0.1:9", "x"), 10, 10)


# ---- two real ingest workers on one shared subscription ---------------------------------------


def _stream(seed: int = 7) -> tuple[dict[str, list[float]], dict[str, list[float]]]:
    """Registers of three devices at 00:00, 00:15, ..., 24:00 of 2026-01-01 and their increments.

    W-1 counts up; W-2 is reset (a new meter) at reading 50, which then shows only its increment;
    W-3 is a 6-digit register that rolls over past 999 999 kWh. Whatever the register does, the
    truth of the day is the sum of the increments of readings 1..96.
    """
    import random

    rnd = random.Random(seed)
    regs: dict[str, list[float]] = {}
    incs: dict[str, list[float]] = {}
    for dev, start in (("W-1", 1000.0), ("W-2", 500.0), ("W-3", 999_000.0)):
        inc = [0.0] + [round(rnd.uniform(5.0, 25.0), 3) for _ in range(96)]
        r = [start]
        for i in range(1, 97):
            if dev == "W-2" and i == 50:
                r.append(inc[i])
            elif dev == "W-3":
                r.append((r[-1] + inc[i]) % 1_000_000.0)
            else:
                r.append(r[-1] + inc[i])
        regs[dev], incs[dev] = r, inc
    return regs, incs


@pytest.mark.servers
@pytest.mark.slow
def test_two_ingest_workers_out_of_order_then_rollup_gives_the_true_daily_sums(mosquitto, influxd, fresh_db,
                                                                                tmp_path):
    import random
    import uuid

    from tests.ingest.helpers import (
        STEP_MS,
        T0_MS,
        IngestProcess,
        Publisher,
        count_and_sum,
        ingest_argv,
        meter_msg,
        meter_topic,
        wait_until,
    )

    regs, incs = _stream()
    day = dt.date(2026, 1, 1)  # T0_MS is its local midnight: reading 0 closes 31 December
    group = f"rd{uuid.uuid4().hex[:6]}"
    workers = [IngestProcess(ingest_argv(mosquitto.port, influxd.url, fresh_db, "--share-group", group,
                                         "--flush-interval-ms", "50", client_id=f"rd-{n}-{uuid.uuid4().hex[:4]}"),
                             tmp_path / f"ingest-{n}.log").start() for n in (1, 2)]
    db = InfluxHTTP(influxd.url, fresh_db)
    try:
        for w in workers:
            w.wait_connected()
        msgs = [(meter_topic(dev), meter_msg(dev, [(T0_MS + i * STEP_MS, {"register": r[i]})]))
                for dev, r in regs.items() for i in range(97)]
        random.Random(3).shuffle(msgs)  # out of order, and each worker sees only part of a device
        pub = Publisher(mosquitto.port)
        for topic, payload in msgs:
            pub.publish(topic, payload)
        pub.close()
        wait_until(lambda: count_and_sum(db, "meter", "register_kwh")[0] >= 3 * 97, 40, "all registers stored")
        for w in workers:  # flushed and stopped: no ingest write can land after the rollup
            assert w.terminate() == 0, w.log_tail()
        # A value is stale when its energy or its interval_s is not that of the reading just before.
        stale_before = sum(
            1 for dev, inc in incs.items()
            # register_kwh too: a point with neither derived field is still a row (never derived)
            for t, (_reg, kwh, secs) in stored(db, "meter", dev, "register_kwh, consumption_kwh, interval_s").items()
            if t > T0_MS and (kwh is None or abs(kwh - inc[(t - T0_MS) // STEP_MS]) > 1e-6 or secs != 900))
        stats = rollup.run(db, start=day, end=day, lookback_days=0, rollup_rp=None)
        print(f"stale interval values left by two workers: {stale_before}; rollup rewrote {stats.rederive_rewritten}")
        assert stats.rederive_checked == 3 * 96  # readings 1..96 of each device have a neighbour before
        assert stats.rederive_rewritten == stale_before  # exactly the stale ones, nothing else
        for dev, inc in incs.items():
            got = stored(db, "meter", dev, "consumption_kwh, interval_s")
            for i in range(1, 97):
                assert got[T0_MS + i * STEP_MS][0] == pytest.approx(inc[i], abs=1e-6), (dev, i)
                assert got[T0_MS + i * STEP_MS][1] == 900  # 15 min between consecutive readings [s]
            # truth: the sum of the 96 increments of the day (a reset or rollover does not change it)
            assert daily_sum(db, "meter", dev, "consumption_kwh") == pytest.approx(sum(inc[1:]), rel=1e-9)
            assert daily_sum(db, "meter", dev, "readings") == 96
    finally:
        for w in workers:
            if w.proc is not None and w.proc.poll() is None:
                w.kill()
        db.close()


@settings(max_examples=300, deadline=None)
@given(steps=st.lists(st.floats(-3000.0, 3000.0, allow_nan=False), min_size=2, max_size=12),
       replaced_at=st.none() | st.integers(1, 12))
def test_rederive_and_ingest_derive_the_same_values_for_any_register_path(steps, replaced_at):
    """One rule, two consumers: for any register path (growth, misreads, drops, resets, and a
    recorded meter replacement before reading ``replaced_at``), the re-derivation of a window holding
    every reading gives exactly what ingest's cache derives from the same readings in one batch
    (held-out steps: neither writes a value)."""
    from ingest.intervals import RegisterReading, RegisterTracker

    values = [5000.0]
    for d in steps:
        values.append(max(0.0, values[-1] + d))
    ts = [T0 + k * 900_000 for k in range(len(values))]
    rep = ts[replaced_at] - 1 if replaced_at is not None and replaced_at < len(ts) else None
    tracker = RegisterTracker(lambda wanted: {})  # nothing stored: the series starts here
    readings = [RegisterReading("E", "meter", "consumption_kwh", 1.0, t, v, max_rate_per_h=1e5, replaced_ms=rep)
                for t, v in zip(ts, values, strict=True)]
    by_ingest = {u.ts_ms: u.fields.get("consumption_kwh") for u in tracker.apply(readings)}
    points = [StoredPoint(t, (("device_id", "E"),), {"register_kwh": v, "consumption_kwh": None, "interval_s": None})
              for t, v in zip(ts, values, strict=True)]
    _checked, fixes = fixes_for_device(points, {}, [("register_kwh", "consumption_kwh")], replaced_ms=rep)
    by_rederive = {p.ts_ms: f["consumption_kwh"] for p, f in fixes}
    for t in ts[1:]:
        assert by_rederive.get(t) == by_ingest[t], (t, values, rep)
    if rep is not None:  # the step across the replacement counts zero in both
        assert by_ingest[ts[replaced_at]] == 0.0
