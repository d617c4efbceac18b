"""The scheduler inside the API process evaluates the rules and drains the outbox on its own:
with no readings at all, every registered device is silent, so each building gets a
``meter_offline`` alert, published to the real broker."""

from __future__ import annotations

import json
import queue
import time

import paho.mqtt.client as mqtt
from fastapi.testclient import TestClient

from api.app import create_app
from tests.api.conftest import BUILDINGS


def test_scheduler_evaluates_and_publishes(world, mosquitto):
    got: queue.Queue = queue.Queue()
    sub = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="scheduler-test", protocol=mqtt.MQTTv5)
    sub.on_message = lambda c, u, m: got.put((m.topic, json.loads(m.payload)))
    sub.connect("127.0.0.1", mosquitto.port)
    sub.subscribe("ep/v1/alerts/#", qos=1)
    sub.loop_start()
    time.sleep(0.3)
    settings = world.app.state.settings.model_copy(update={
        "run_scheduler": True, "alert_silence_grace_s": 0,  # judge silence at once
        "alert_interval_s": 0.5, "outbox_interval_s": 0.2, "mqtt_port": mosquitto.port})
    try:
        with TestClient(create_app(settings, migrate=False)):
            topics = set()
            deadline = time.monotonic() + 30
            while len(topics) < len(BUILDINGS) and time.monotonic() < deadline:
                try:
                    topic, payload = got.get(timeout=1)
                except queue.Empty:
                    continue
                assert payload["rule"] == "meter_offline" and payload["event"] == "opened"
                topics.add(topic)
        assert topics == {f"ep/v1/alerts/{b.building_code}/meter_offline" for b in BUILDINGS}
        r = world.client.get("/alerts?rule=meter_offline", headers=world.as_("auditor")).json()
        assert r["total"] == len(BUILDINGS)  # one per building, however many rounds ran
    finally:
        sub.loop_stop()
        sub.disconnect()
