"""The rollup job's indicator snapshot (analytics/snapshot.py) against the city frames it is made
of: the API's bodies from the snapshot's rows are byte for byte the bodies from the frames, and
the API uses a snapshot only while it is that day's and no later rollup has completed."""

from __future__ import annotations

import datetime as dt
import itertools
import json
import sqlite3
import threading
import time

import pytest

from analytics import rollup, snapshot
from analytics.tables import DEFAULT_BASIS
from api import indicators as ind
from api.listing import BuildingFilter, PageParams
from api.routers.indicators import (
    _UNREAD,
    _audit_body,
    _snapshot_audit,
    _snapshot_audit_on_loop,
    _snapshot_building_on_loop,
)
from contract.localtime import TZ_NAME
from registry import repo
from storage.influx import InfluxHTTP
from tests.api.conftest import BUILDINGS, ELSEWHERE, MINE, OTHER, building

YEAR = 2026
PV = "510402A004"      # a PV roof, read every other hour only (partial coverage)
BIG = "510411C005"     # 25,000 kWh/h: 6 million kWh in 10 days, over the 5-million audit test
LATE = "510402B006"    # joined in June: no data before
EXTRA = [building(PV, "Shizhong", pv_kwp=100.0), building(BIG, "Wutongqiao", ownership="state_organ_office"),
         building(LATE, "Shizhong")]
KWH_PER_H = {MINE: 100.0, OTHER: 200.0, ELSEWHERE: 300.0, PV: 150.0, BIG: 25_000.0, LATE: 80.0}
CODES = [b.building_code for b in BUILDINGS + EXTRA]


def _meter(code: str, kwh: float, ms: int) -> str:
    return (f"meter,building_code={code},carrier=electricity,device_id=E-MAIN,device_kind=meter,sub_item=main "
            f"consumption_kwh={kwh},interval_s=3600 {ms}")


def _hours(first: dt.date, days: int):
    t0 = dt.datetime.combine(first, dt.time(), dt.UTC) - dt.timedelta(hours=8)  # local midnight
    return [(h, int((t0 + dt.timedelta(hours=h)).timestamp() * 1000)) for h in range(1, days * 24 + 1)]


@pytest.fixture
def frames(world, influxd):
    """Ten days of January (June for LATE) rolled up by the job, and the city frames of the year."""
    with world.app.state.sessions() as s:
        for spec in EXTRA:
            repo.upsert_building(session=s, spec=spec)
        s.commit()
    db = InfluxHTTP(influxd.url, database=world.influx_db)
    lines = []
    for h, ms in _hours(dt.date(2026, 1, 1), 10):
        for code in (MINE, OTHER, ELSEWHERE, BIG):
            lines.append(_meter(code, KWH_PER_H[code], ms))
        if h % 2 == 0:
            lines.append(_meter(PV, KWH_PER_H[PV], ms))
            lines.append(f"pv,building_code={PV},device_id=PV1,device_kind=pv_inverter generation_kwh=40.0,"
                         f"interval_s=7200 {ms}")
    lines += [_meter(LATE, KWH_PER_H[LATE], ms) for _, ms in _hours(dt.date(2026, 6, 1), 10)]
    db.write_lines(lines)
    for first, last in ((dt.date(2026, 1, 1), dt.date(2026, 1, 10)), (dt.date(2026, 6, 1), dt.date(2026, 6, 10))):
        rollup.run(db, start=first, end=last, now=dt.datetime.combine(last, dt.time(23), dt.UTC))
    db.close()
    rollups = world.app.state.influx_rollups
    with world.app.state.sessions() as s:
        annual_df, audit_df = snapshot.city_frames(influx=rollups, session=s, year=YEAR, basis=DEFAULT_BASIS,
                                                   region=None)
    return annual_df, audit_df, rollup.read_completion(rollups)


def _write(world, annual_df, audit_df, *, stamp_ms: int, day: dt.date | None = None) -> None:
    snapshot.write(world.app.state.engine, annual_df, audit_df, year=YEAR, basis=DEFAULT_BASIS,
                   as_of_day=day or ind._today(TZ_NAME), rollup_ms=stamp_ms)


def test_the_cases_are_there(frames):
    annual_df, audit_df, _ = frames
    assert annual_df.loc[PV, "pv_generation_kwh"] == pytest.approx(120 * 40.0)  # 120 even hours x 40 kWh
    # read every other hour: less of its period covered than a building read every hour
    assert annual_df.loc[PV, "period_coverage"] < annual_df.loc[MINE, "period_coverage"]
    assert annual_df.loc[LATE, "electricity_kwh"] == pytest.approx(240 * 80.0)  # June only
    # 240 h x 25,000 kWh = 6,000,000 kWh > 5,000,000: the audit is required
    assert audit_df.loc[BIG].set_index("window").loc["calendar_year", "triggered"]
    assert not audit_df.loc[MINE, "triggered"].any()


def test_building_body_from_the_snapshot_is_the_frames_body(world, frames):
    annual_df, audit_df, stamp = frames
    _write(world, annual_df, audit_df, stamp_ms=stamp)
    for code in CODES:
        want = ind.building_result(annual_df, audit_df, building_code=code, year=YEAR).model_dump_json().encode()
        with world.app.state.sessions() as s:
            got = ind.snapshot_building_json(s, year=YEAR, basis=DEFAULT_BASIS, building_code=code, stamp_ms=stamp)
        assert got == want, code
        r = world.client.get(f"/buildings/{code}/indicators?year={YEAR}", headers=world.as_("auditor"))
        assert r.status_code == 200 and r.content == want, code


def test_a_locked_registry_moves_the_building_read_off_the_event_loop(world, frames):
    """A building's snapshot is read on the event loop by an engine that never waits for a lock;
    when the registry is locked, that read gives up at once and a worker thread (whose engine
    waits) reads it, so a lock held elsewhere cannot stall every request of the server."""
    annual_df, audit_df, stamp = frames
    _write(world, annual_df, audit_df, stamp_ms=stamp)
    want = ind.building_result(annual_df, audit_df, building_code=MINE, year=YEAR).model_dump_json().encode()
    req, state = _Req(world.app), world.app.state
    assert _snapshot_building_on_loop(req, YEAR, DEFAULT_BASIS, MINE) == want  # read on the loop
    state.loop_reads.dispose()
    state.engine.dispose()
    locker = sqlite3.connect(state.engine.url.database, timeout=0, isolation_level=None)
    locker.execute("PRAGMA locking_mode=EXCLUSIVE")
    locker.execute("BEGIN EXCLUSIVE")  # what a long write elsewhere can hold
    answer = {}
    try:
        t0 = time.monotonic()
        assert _snapshot_building_on_loop(req, YEAR, DEFAULT_BASIS, MINE) is _UNREAD
        assert time.monotonic() - t0 < 1.0  # gave up at once (the worker threads' engine waits 30 s)
        asking = threading.Thread(target=lambda: answer.update(r=world.client.get(
            f"/buildings/{MINE}/indicators?year={YEAR}", headers=world.as_("auditor"))))
        asking.start()
        time.sleep(0.5)
        assert asking.is_alive()  # the request waits for the lock in a worker thread, it did not fail
    finally:
        locker.execute("COMMIT")
        locker.close()
    asking.join(30)
    assert answer["r"].status_code == 200 and answer["r"].content == want


class _Req:
    """What ``_snapshot_audit`` reads of a request: the app's state."""

    def __init__(self, app) -> None:
        self.app = app


def test_audit_bodies_from_the_snapshot_are_the_frames_bodies(world, frames):
    annual_df, audit_df, stamp = frames
    _write(world, annual_df, audit_df, stamp_ms=stamp)
    req = _Req(world.app)
    filters = [BuildingFilter(), BuildingFilter(district="Shizhong"), BuildingFilter(building_type="office"),
               BuildingFilter(ownership="state_organ_office"), BuildingFilter(district="Nowhere")]
    pages = [PageParams(limit=100, offset=0, format="json"), PageParams(limit=2, offset=3, format="json"),
             PageParams(limit=5, offset=50, format="json"), PageParams(limit=100, offset=0, format="csv")]
    combos = itertools.product([None, frozenset({MINE, PV})], filters, pages,
                               [None, "calendar_year", "projected_year_end"], [False, True])
    n, counted = 0, set()
    for scope, filt, page, window, all_buildings in combos:
        args = (req, scope, filt, page, YEAR, DEFAULT_BASIS, window, all_buildings)
        want = _audit_body(audit_df, scope, filt, page, YEAR, window, all_buildings)
        # On the event loop: never the whole CSV, nor a total not yet counted for this snapshot ...
        query = (scope, filt.model_dump_json(), window, all_buildings)
        on_loop = _snapshot_audit_on_loop(*args)
        assert on_loop == (_UNREAD if page.format == "csv" or query not in counted else want), args
        got = _snapshot_audit(*args)  # ... the worker thread's read, which counts it ...
        assert got == want, (scope, filt, page, window, all_buildings)
        counted.add(query)
        # ... after which the loop answers the same bytes from the kept total (CSV still in a thread).
        assert _snapshot_audit_on_loop(*args) == (_UNREAD if page.format == "csv" else want), args
        n += 1
    assert n == 2 * 5 * 4 * 3 * 2
    # The served list: BIG's calendar-year row is triggered, so the default list is not empty.
    r = world.client.get(f"/audit?year={YEAR}", headers=world.as_("auditor"))
    assert r.status_code == 200 and BIG in {row["building_code"] for row in r.json()["items"]}


def test_api_serves_the_snapshot_only_while_it_is_current(world, frames):
    annual_df, audit_df, stamp = frames
    path, h = f"/buildings/{MINE}/indicators?year={YEAR}", world.as_("auditor")
    marked = annual_df.copy()
    marked.loc[MINE, "electricity_kwh"] = 12_345.0  # a value only the snapshot holds
    world.app.state.rollup_stamp.ttl_s = 0

    def served() -> float:
        world.app.state.indicator_cache.clear()
        return world.client.get(path, headers=h).json()["indicators"]["electricity_kwh"]

    _write(world, marked, audit_df, stamp_ms=stamp)
    assert served() == 12_345.0
    _write(world, marked, audit_df, stamp_ms=stamp, day=ind._today(TZ_NAME) - dt.timedelta(days=1))
    assert served() == pytest.approx(24_000)  # yesterday's snapshot: the frames, 240 h x 100 kWh
    _write(world, marked, audit_df, stamp_ms=stamp - 1)
    assert served() == pytest.approx(24_000)  # older than the last completed rollup: the frames
    # A building the snapshot does not hold (registered after it) comes from the frames too.
    _write(world, marked.drop(index=MINE), audit_df.drop(index=MINE), stamp_ms=stamp)
    assert served() == pytest.approx(24_000)


def test_the_rollup_job_writes_the_snapshot_with_its_stamp(world, frames, influxd):
    from analytics.__main__ import main as analytics_main

    settings = world.app.state.settings
    assert analytics_main(["--influx-url", influxd.url, "--influx-db", world.influx_db, "--database-url",
                           settings.database_url, "rollup", "--from", "2026-01-10", "--to", "2026-01-10"]) == 0
    stamp = rollup.read_completion(world.app.state.influx_rollups)
    year = ind._today(TZ_NAME).year
    with world.app.state.sessions() as s:
        # The stamp the run completed with is the snapshot's: the API takes it as current.
        assert snapshot.read_stamp(s, year=year, basis=DEFAULT_BASIS) == (ind._today(TZ_NAME), stamp)
        hit = snapshot.read_building(s, year=year, basis=DEFAULT_BASIS, building_code=MINE)
    # The current local year's body (the API's default year), with every audit window of MINE.
    assert hit is not None
    body = json.loads(hit[2])
    assert body["building_code"] == MINE and body["year"] == year
    assert body["audit"] and {a["building_code"] for a in body["audit"]} == {MINE}
