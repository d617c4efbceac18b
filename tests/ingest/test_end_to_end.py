"""End to end through the real broker and the real InfluxDB: values and timestamps exact."""

from __future__ import annotations

import uuid

import pytest

from ingest.service import IngestService
from ingest.settings import IngestSettings
from storage.influx import InfluxHTTP
from tests.ingest.helpers import (
    STEP_MS,
    T0_MS,
    Publisher,
    gateway,
    meter_msg,
    meter_topic,
    wait_until,
)

pytestmark = pytest.mark.servers


@pytest.fixture
def service(mosquitto, influxd, fresh_db):
    s = IngestSettings(mqtt_port=mosquitto.port, influx_url=influxd.url, influx_db=fresh_db, metrics_port=0,
                       client_id=f"e2e-{uuid.uuid4().hex[:6]}", share_group=f"g{uuid.uuid4().hex[:6]}",
                       flush_interval_ms=100)
    svc = IngestService(s).start()
    wait_until(lambda: svc.subscribed, 10, "ingest subscribed")
    yield svc
    svc.stop()


def test_readings_stored_with_exact_values_and_times(service, mosquitto, influxd, fresh_db):
    pub = Publisher(mosquitto.port)
    # A Wh register with W power: stored as kWh and kW.
    pub.publish(meter_topic("E-1"), meter_msg("E-1", [
        (T0_MS, {"register": 1_523_750.0, "power": 12_500.0}),
        (T0_MS + STEP_MS, {"register": 1_526_250.0, "power": 9_000.0}),
    ], units={"register": "Wh", "power": "W"}))
    # A water meter in litres, inside a gateway batch with a PV inverter.
    water = meter_msg("W-1", [(T0_MS + 7, {"register": 12_345.0})], units={"register": "L"}, carrier="water")
    pv = {"schema_version": 1, "building_code": "510402A001", "device_kind": "pv_inverter", "device_id": "PV-1",
          "units": {"generation_register": "MWh", "power": "kW"},
          "readings": [{"ts_ms": T0_MS + 1, "values": {"generation_register": 1.25, "power": 33.3}}]}
    pub.publish(*gateway("GW1", [water, pv]))
    pub.close()
    db = InfluxHTTP(influxd.url, fresh_db)
    rows = wait_until(lambda: (r := db.query("SELECT * FROM meter WHERE device_id = 'E-1'"))
                      and len(r[0]["values"]) == 2 and r, 20, "E-1 rows")
    cols = rows[0]["columns"]
    got = [dict(zip(cols, v, strict=True)) for v in rows[0]["values"]]
    assert [g["time"] for g in got] == [T0_MS, T0_MS + STEP_MS]
    assert got[0]["register_kwh"] == 1523.75  # 1 523 750 Wh / 1000
    assert got[0]["power_kw"] == 12.5  # 12 500 W / 1000
    assert got[0]["consumption_kwh"] is None  # the first reading of a device has no interval
    assert got[1]["consumption_kwh"] == pytest.approx(2.5, abs=1e-9)  # 1526.25 - 1523.75 kWh
    assert got[1]["interval_s"] == 900  # 15 min
    assert (got[0]["building_code"], got[0]["carrier"], got[0]["sub_item"], got[0]["device_kind"]) == \
        ("510402A001", "electricity", "hvac", "meter")
    w = wait_until(lambda: db.query("SELECT register_m3, carrier FROM meter WHERE device_id = 'W-1'"), 20, "W-1")
    assert w[0]["values"] == [[T0_MS + 7, 12.345, "water"]]  # 12 345 L = 12.345 m3
    p = wait_until(lambda: db.query("SELECT generation_register_kwh, power_kw FROM pv"), 20, "PV-1")
    assert p[0]["values"] == [[T0_MS + 1, 1250.0, 33.3]]  # 1.25 MWh = 1250 kWh
    wait_until(lambda: service.acked == 2, 10, "both messages acked")
