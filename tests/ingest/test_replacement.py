"""A meter replacement recorded in the fleet (``replaced_on``) is the evidence for a reset: the
register step across the replacement instant (local midnight of that day) counts zero, the next
step counts as usual (contract/registers.py). Real Mosquitto + InfluxDB, registry-aware ingest,
then the real rollup, whose re-derivation reads the same record from the registry database."""

from __future__ import annotations

import datetime as dt
import uuid

import pytest

from analytics import rollup
from ingest.service import IngestService
from ingest.settings import IngestSettings
from registry import repo
from registry.db import make_engine, migrate, session_scope
from registry.fleet import Fleet
from registry.importer import import_into
from storage.influx import InfluxHTTP
from tests.ingest.helpers import BUILDING, T0_MS, Publisher, meter_msg, meter_topic, wait_until

pytestmark = pytest.mark.servers

MIN_MS = 60_000
DAY2_MS = T0_MS + 24 * 60 * MIN_MS  # local midnight of 2026-01-02: the recorded replacement instant
# 23:30 and 23:45 on the old register, 00:15 and 00:30 on the new one
TIMES = (DAY2_MS - 30 * MIN_MS, DAY2_MS - 15 * MIN_MS, DAY2_MS + 15 * MIN_MS, DAY2_MS + 30 * MIN_MS)
REPLACED_DOWN = (299.0, 300.0, 37.0, 38.5)  # the new register starts at 37.0: above 10 % of 300 (30.0)
REPLACED_UP = (29.0, 30.0, 37.0, 38.5)  # the new register starts above the old one's last value


def _consumption(db: InfluxHTTP, device: str) -> list[tuple[int, float]]:
    rows = db.query(f"SELECT consumption_kwh FROM meter WHERE device_id = '{device}'")
    return [(t, v) for t, v in rows[0]["values"]] if rows else []


def test_recorded_replacement_counts_zero_across_it_and_the_next_step_counts(mosquitto, influxd, fresh_db,
                                                                             tmp_path):
    meter = {"carrier": "electricity", "sub_item": "hvac"}
    fleet = Fleet.model_validate({"buildings": [{
        "building_code": BUILDING, "name": "Test office", "floor_area_m2": 1000, "district": "Shizhong",
        "latitude_deg": 29.6, "longitude_deg": 103.8,
        "meters": [{"device_id": "E-R", **meter, "replaced_on": "2026-01-02"},
                   {"device_id": "E-U", **meter, "replaced_on": "2026-01-02"},
                   {"device_id": "E-X", **meter}]}]})  # E-X: same readings, no replacement recorded
    fleet.dump(tmp_path / "fleet.yaml")
    assert Fleet.load(tmp_path / "fleet.yaml").buildings[0].meters[0].replaced_on.isoformat() == "2026-01-02"
    s = IngestSettings(mqtt_port=mosquitto.port, influx_url=influxd.url, influx_db=fresh_db, metrics_port=0,
                       client_id=f"rep-{uuid.uuid4().hex[:6]}", share_group=f"g{uuid.uuid4().hex[:6]}",
                       flush_interval_ms=100, fleet_file=tmp_path / "fleet.yaml")
    svc = IngestService(s).start()
    try:
        wait_until(lambda: svc.subscribed, 10, "subscribed")
        pub = Publisher(mosquitto.port)
        for dev, values in (("E-R", REPLACED_DOWN), ("E-U", REPLACED_UP), ("E-X", REPLACED_DOWN)):
            for ts, v in zip(TIMES, values, strict=True):  # one message each: the tracker's path, not one batch
                pub.publish(meter_topic(dev), meter_msg(dev, [(ts, {"register": v})]))
        pub.close()
        wait_until(lambda: svc.acked >= 12, 30, "all acked")
    finally:
        svc.stop()
    db = InfluxHTTP(influxd.url, fresh_db)
    t1, t2, t3 = TIMES[1:]
    # 299 -> 300: 1.0; 300 -> 37.0 across the replacement: 0.0; 37.0 -> 38.5: 1.5
    assert _consumption(db, "E-R") == [(t1, 1.0), (t2, 0.0), (t3, 1.5)]
    # 29 -> 30: 1.0; 30 -> 37.0 is two devices, not 7 kWh: 0.0; 37.0 -> 38.5: 1.5
    assert _consumption(db, "E-U") == [(t1, 1.0), (t2, 0.0), (t3, 1.5)]
    # Without the record 300 -> 37 (not below 10 % of 300) is a backward step: held out, not stored.
    assert _consumption(db, "E-X") == [(t1, 1.0), (t3, 1.5)]

    # The rollup re-derives every interval from the registers: with the registry's record it agrees
    # with ingest, so the stored values stand and the day sums them.
    engine = make_engine(f"sqlite:///{tmp_path / 'reg.db'}")
    migrate(engine)
    with session_scope(engine) as session:
        assert import_into(session=session, fleet=fleet, errors=[]).written
    with session_scope(engine) as session:
        replaced = repo.replacement_instants_ms(session=session)
    assert replaced == {(BUILDING, "E-R"): DAY2_MS, (BUILDING, "E-U"): DAY2_MS}
    day2, now = dt.date(2026, 1, 2), dt.datetime(2026, 1, 4, tzinfo=dt.UTC)
    stats = rollup.run(db, start=day2, end=day2, lookback_days=0, now=now, rollup_rp=None, replaced_ms=replaced)
    assert stats.rederive_rewritten == 0  # ingest and the rollup agree on every interval
    # Day 2 (local): 00:15 counts 0.0 across the replacement, 00:30 counts 1.5 -> 1.5 kWh
    assert _day_sum(db, "E-R") == 1.5 and _day_sum(db, "E-U") == 1.5
    assert _day_sum(db, "E-X") == 1.5  # 300 -> 37 held out, 37 -> 38.5
    # Without the record the re-derivation reads E-U's 30 -> 37 as 7 kWh of consumption: the record
    # is what makes both agree (this run rewrites the point, so it comes last).
    stats = rollup.run(db, start=day2, end=day2, lookback_days=0, now=now, rollup_rp=None)
    assert stats.rederive_rewritten == 1 and _day_sum(db, "E-U") == 7.0 + 1.5


def _day_sum(db: InfluxHTTP, device: str) -> float:
    rows = db.query(f"SELECT consumption_kwh FROM meter_1d WHERE device_id = '{device}'")  # noqa: S608
    (_t, v), = rows[0]["values"]
    return v
