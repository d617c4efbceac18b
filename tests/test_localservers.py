"""The server manager itself: both real servers answer, and a restart keeps persisted data."""

import httpx
import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion


def test_influxd_write_query_survives_restart(own_influxd):
    url = own_influxd.url
    httpx.post(f"{url}/query", data={"q": "CREATE DATABASE d"}).raise_for_status()
    r = httpx.post(f"{url}/write", params={"db": "d", "precision": "ms"}, content=b"m,t=a v=1.5 1000")
    assert r.status_code == 204, r.text
    own_influxd.restart()
    res = httpx.get(f"{url}/query", params={"db": "d", "q": "SELECT v FROM m"}).json()
    assert res["results"][0]["series"][0]["values"] == [["1970-01-01T00:00:01Z", 1.5]]


def test_mosquitto_accepts_mqtt5_connection(mosquitto):
    c = mqtt.Client(CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
    rc = c.connect("127.0.0.1", mosquitto.port)
    assert rc == mqtt.MQTT_ERR_SUCCESS
    c.disconnect()
