"""Weather-station readings through the real broker into the real InfluxDB `weather` measurement."""

from __future__ import annotations

import uuid

import pytest

from contract.topics import device_topic
from ingest.service import IngestService
from ingest.settings import IngestSettings
from storage.influx import InfluxHTTP
from tests.ingest.helpers import BUILDING, STEP_MS, T0_MS, Publisher, wait_until

pytestmark = pytest.mark.servers


def test_station_readings_stored_in_base_units(mosquitto, influxd, fresh_db):
    s = IngestSettings(mqtt_port=mosquitto.port, influx_url=influxd.url, influx_db=fresh_db, metrics_port=0,
                       client_id=f"ws-{uuid.uuid4().hex[:6]}", share_group=f"g{uuid.uuid4().hex[:6]}",
                       flush_interval_ms=100)
    svc = IngestService(s).start()
    try:
        wait_until(lambda: svc.subscribed, 10, "ingest subscribed")
        pub = Publisher(mosquitto.port)
        pub.publish(device_topic(BUILDING, "weather_station", "WS-01"), {
            "schema_version": 1, "building_code": BUILDING, "device_kind": "weather_station",
            "device_id": "WS-01", "units": {"air_temperature": "degC", "ghi": "kW/m2"},
            "readings": [{"ts_ms": T0_MS, "values": {"air_temperature": -3.5, "ghi": 0.0}},
                         {"ts_ms": T0_MS + STEP_MS, "values": {"air_temperature": 1.25, "ghi": 0.42}}]})
        pub.close()
        db = InfluxHTTP(influxd.url, fresh_db)
        rows = wait_until(lambda: (r := db.query("SELECT air_temperature_degc, ghi_w_per_m2, device_kind "
                                                 "FROM weather")) and len(r[0]["values"]) == 2 and r,
                          20, "weather rows")
        assert rows[0]["values"] == [
            [T0_MS, -3.5, 0.0, "weather_station"],
            [T0_MS + STEP_MS, 1.25, 420.0, "weather_station"],  # 0.42 kW/m2 x 1000 = 420 W/m2
        ]
    finally:
        svc.stop()
