"""The server manager itself: both real servers answer, a restart keeps persisted data, and
InfluxDB can run with authentication (admin created through the HTTP API)."""

import threading

import httpx
import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes

from deploy.localservers import Influxd


def test_influxd_write_query_survives_restart(own_influxd):
    url = own_influxd.url
    httpx.post(f"{url}/query", data={"q": "CREATE DATABASE d"}).raise_for_status()
    r = httpx.post(f"{url}/write", params={"db": "d", "precision": "ms"}, content=b"m,t=a v=1.5 1000")
    assert r.status_code == 204, r.text
    own_influxd.restart()
    res = httpx.get(f"{url}/query", params={"db": "d", "q": "SELECT v FROM m"}).json()
    assert res["results"][0]["series"][0]["values"] == [["1970-01-01T00:00:01Z", 1.5]]


def test_influxd_with_authentication_refuses_anonymous_and_keeps_its_admin(state_root):
    server = Influxd(state_root / "influxdb-auth-manager", auth_enabled=True).start()
    try:
        show = {"q": "SHOW USERS"}
        assert httpx.get(f"{server.url}/query", params=show).status_code == 401
        r = httpx.get(f"{server.url}/query", params=show, auth=server.auth)
        assert r.status_code == 200
        assert r.json()["results"][0]["series"][0]["values"] == [["admin", True]]  # one user, an admin
        server.restart()  # the user is in meta/: found, not created twice
        assert httpx.get(f"{server.url}/query", params=show, auth=server.auth).status_code == 200
        assert httpx.get(f"{server.url}/query", params=show, auth=("admin", "wrong")).status_code == 401
    finally:
        server.stop()


def test_mosquitto_answers_an_mqtt5_connect_with_a_success_connack(mosquitto):
    got: dict = {}
    done = threading.Event()

    def on_connect(client, userdata, flags, reason_code, properties):
        got.update(reason_code=reason_code, properties=properties)
        done.set()

    c = mqtt.Client(CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
    c.on_connect = on_connect
    c.connect("127.0.0.1", mosquitto.port)
    c.loop_start()
    try:
        assert done.wait(10), "no CONNACK within 10 s"
    finally:
        c.disconnect()
        c.loop_stop()
    # Reason code 0 (Success) and a CONNACK carrying MQTT 5 properties, which a 3.1.1 CONNACK
    # cannot: the id the broker assigned to our empty client id (an MQTT 5 feature).
    assert got["reason_code"] == 0 and not got["reason_code"].is_failure, got["reason_code"]
    assert got["properties"].packetType == PacketTypes.CONNACK
    assert got["properties"].AssignedClientIdentifier
