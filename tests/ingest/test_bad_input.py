"""Every bad-input class mixed into a good stream: good stored, bad dead-lettered with its reason."""

from __future__ import annotations

import json
import time
import uuid

import pytest

from contract.payloads import MAX_PAYLOAD_BYTES
from contract.topics import device_topic
from ingest.service import IngestService
from ingest.settings import IngestSettings
from registry.fleet import Fleet
from storage.influx import InfluxHTTP
from tests.ingest.helpers import (
    BUILDING,
    STEP_MS,
    T0_MS,
    Collector,
    Publisher,
    gateway,
    meter_msg,
    meter_topic,
    wait_until,
)

pytestmark = pytest.mark.servers

GOOD_N = 200  # good messages, one reading each, register rising by 1 kWh


def _bad_messages() -> list[tuple[str, bytes | str | dict | list, str]]:
    """(topic, payload, expected reason) for each class of bad input."""
    now_ms = int(time.time() * 1000)
    ok = meter_msg("E-BAD", [(T0_MS, {"register": 1.0})])
    nan = json.dumps(meter_msg("E-BAD", [(T0_MS, {"register": 1.0})])).replace("1.0", "NaN")
    inf = json.dumps(meter_msg("E-BAD", [(T0_MS, {"register": 1.0})])).replace("1.0", "Infinity")
    return [
        (meter_topic("E-BAD"), b"{not json", "malformed_json"),
        (meter_topic("E-BAD"), b"\xff\xfe\x00", "malformed_json"),
        (meter_topic("E-BAD"), {**ok, "readings": []}, "schema_violation"),
        (meter_topic("E-BAD"), {**ok, "carrier": None}, "schema_violation"),
        (meter_topic("E-BAD"), {**ok, "schema_version": 7}, "unsupported_schema_version"),
        (meter_topic("E-BAD"), meter_msg("E-BAD", [(T0_MS, {"register": True})]), "schema_violation"),
        (meter_topic("E-BAD"), {**ok, "units": {"register": "kWhh"}}, "unknown_unit"),
        (meter_topic("E-BAD"), {**ok, "units": {"register": "m3"}}, "unknown_unit"),  # wrong dimension
        (meter_topic("E-BAD"), nan, "non_finite_value"),
        (meter_topic("E-BAD"), inf, "non_finite_value"),
        (meter_topic("E-BAD"), meter_msg("E-BAD", [(T0_MS, {"register": -5.0})]), "negative_value"),
        (meter_topic("E-BAD"), meter_msg("E-BAD", [(now_ms + 86_400_000, {"register": 1.0})]),
         "future_timestamp"),
        # E-NEW was installed on 2026-06-01 (fleet file); a reading of 2026-01-01 cannot be its.
        (meter_topic("E-NEW"), meter_msg("E-NEW", [(T0_MS, {"register": 1.0})]), "timestamp_before_device"),
        (meter_topic("E-BAD"), meter_msg("E-BAD", [(1_000_000_000_000, {"register": 1.0})]),
         "timestamp_before_device"),  # 2001: before the global floor
        (meter_topic("E-BAD"), b"{" + b" " * (MAX_PAYLOAD_BYTES + 1) + b"}", "oversized_payload"),
        (meter_topic("E-OTHER"), ok, "topic_mismatch"),
        (meter_topic("E-BAD", building="510402A002"), ok, "topic_mismatch"),
        ("ep/v1/51040ZA001/meter/E-BAD/telemetry", ok, "bad_topic"),
        # A JSON list is not a device message: its structure is wrong, not its schema version.
        (meter_topic("E-BAD"), [ok], "schema_violation"),
        (meter_topic("E-BAD"), meter_msg("E-BAD", [(5, {"register": 1.0})]), "timestamp_before_device"),  # 1970
        # Finite on the wire, infinite after conversion: 1e308 MWh x 1000 kWh/MWh overflows.
        (meter_topic("E-BAD"), meter_msg("E-BAD", [(T0_MS, {"register": 1e308})], units={"register": "MWh"}),
         "non_finite_value"),
        # The power overflows (1e308 MW x 1000), the register beside it is fine: the reading goes whole.
        (meter_topic("E-BAD"), meter_msg("E-BAD", [(T0_MS, {"register": 5.0, "power": 1e308})],
                                         units={"register": "kWh", "power": "MW"}), "non_finite_value"),
        (meter_topic("E-BAD"), meter_msg("E-BAD", [(T0_MS, {"register": 1e308})]), "value_out_of_range"),
        # 2e5 kW is above the default 1e5 kW bound of power_kw (contract/plausibility.py).
        (meter_topic("E-BAD"), meter_msg("E-BAD", [(T0_MS, {"register": 5.0, "power": 2e5})]),
         "value_out_of_range"),
        (meter_topic("E-NOBODY"), meter_msg("E-NOBODY", [(T0_MS, {"register": 1.0})]), "unknown_device"),
        (meter_topic("E-1", building="510402B009"), meter_msg("E-1", [(T0_MS, {"register": 1.0})],
                                                             building="510402B009"), "unknown_device"),
        # E-GOOD is an hvac meter in the fleet; sent as a lighting meter, or as water, it contradicts it.
        (meter_topic("E-GOOD"), meter_msg("E-GOOD", [(T0_MS, {"register": 1.0})], sub_item="lighting_sockets"),
         "registry_mismatch"),
        (meter_topic("E-GOOD"), meter_msg("E-GOOD", [(T0_MS, {"register": 1.0})], carrier="water",
                                          units={"register": "m3"}), "registry_mismatch"),
        (device_topic(BUILDING, "ev_pile", "E-GOOD"),
         {**meter_msg("E-GOOD", [(T0_MS, {"register": 1.0})]), "device_kind": "ev_pile", "carrier": None,
          "sub_item": None}, "registry_mismatch"),
    ]


def test_bad_input_is_dead_lettered_and_good_readings_all_stored(mosquitto, influxd, fresh_db, tmp_path):
    fleet = Fleet.model_validate({"buildings": [{
        "building_code": BUILDING, "name": "Test office", "floor_area_m2": 1000, "district": "Shizhong",
        "latitude_deg": 29.6, "longitude_deg": 103.8,
        "meters": [{"device_id": "E-NEW", "carrier": "electricity", "sub_item": "hvac",
                    "installed_on": "2026-06-01"},
                   *({"device_id": d, "carrier": "electricity", "sub_item": "hvac"}
                     for d in ("E-GOOD", "E-BAD", "E-OTHER", "E-GW", "E-GW2"))]}]})
    fleet.dump(tmp_path / "fleet.yaml")
    s = IngestSettings(mqtt_port=mosquitto.port, influx_url=influxd.url, influx_db=fresh_db, metrics_port=0,
                       client_id=f"bad-{uuid.uuid4().hex[:6]}", share_group=f"g{uuid.uuid4().hex[:6]}",
                       flush_interval_ms=100, fleet_file=tmp_path / "fleet.yaml")
    dead = Collector(mosquitto.port, "ep/v1/deadletter/#")
    svc = IngestService(s).start()
    try:
        wait_until(lambda: svc.subscribed, 10, "subscribed")
        bad = _bad_messages()
        # In a gateway batch only the bad device message is rejected; its good sibling is stored.
        batch_topic, batch = gateway("GW1", [meter_msg("E-GW", [(T0_MS, {"register": 7.0})]),
                                             meter_msg("E-GW2", [(T0_MS, {"register": -1.0})])])
        pub = Publisher(mosquitto.port)
        for i in range(GOOD_N):
            pub.publish(meter_topic("E-GOOD"), meter_msg("E-GOOD", [(T0_MS + i * STEP_MS, {"register": float(i)})]))
            if i % 10 == 5 and bad:
                topic, payload, _ = bad.pop(0)
                pub.publish(topic, payload)
        for topic, payload, _ in bad:  # whatever was not mixed in yet
            pub.publish(topic, payload)
        pub.publish(batch_topic, batch)
        pub.close()
        expected = [r for _, _, r in _bad_messages()] + ["negative_value"]
        letters = dead.wait_for(len(expected), 30)
        wait_until(lambda: svc.acked >= GOOD_N + len(expected), 30, "all acked")
    finally:
        svc.stop()
        dead.close()
    got = sorted(body["reason"] for _, body in letters)
    assert got == sorted(expected)
    for topic, body in letters:
        assert topic == f"ep/v1/deadletter/{body['reason']}"
        assert body["detail"] and body["topic"].startswith("ep/v1/") and body["received_ms"] > 0
    gw = [b for _, b in letters if b["topic"] == batch_topic]
    assert len(gw) == 1 and "E-GW2" in gw[0]["detail"]
    db = InfluxHTTP(influxd.url, fresh_db)
    rows = db.query('SELECT count(register_kwh), sum(register_kwh), sum(consumption_kwh) FROM meter '
                    "WHERE device_id = 'E-GOOD'")
    _t, n, total, consumed = rows[0]["values"][0]
    assert n == GOOD_N
    assert total == pytest.approx(GOOD_N * (GOOD_N - 1) / 2)  # 0 + 1 + ... + 199 = 19 900
    assert consumed == pytest.approx(GOOD_N - 1)  # 199 intervals of 1 kWh
    assert db.query("SELECT register_kwh FROM meter WHERE device_id = 'E-GW'")[0]["values"] == [[T0_MS, 7.0]]
    stored_devices = {v[1] for v in db.query('SHOW TAG VALUES FROM meter WITH KEY = "device_id"')[0]["values"]}
    assert stored_devices == {"E-GOOD", "E-GW"}  # nothing of the bad input reached InfluxDB
    dl = db.query("SELECT count(topic) FROM ingest_deadletter GROUP BY reason")
    assert {s["tags"]["reason"]: s["values"][0][1] for s in dl} == \
        {r: expected.count(r) for r in set(expected)}
    by_reason = {r: svc.metrics.rejected.labels(r)._value.get() for r in set(expected)}
    assert by_reason == {r: expected.count(r) for r in set(expected)}
