"""The server manager itself: both real servers answer, a restart keeps persisted data, InfluxDB
can run with authentication (admin created through the HTTP API), and a server that does not come
up fails the start loudly."""

import os
import socket
import subprocess
import sys
import threading
from pathlib import Path

import httpx
import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes

from deploy.localservers import Influxd, Mosquitto, free_port, owns_listener, stop_all


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


# --- start failures are loud ---------------------------------------------------------------------

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def taken_port():
    """A port something else listens on, for the length of the test."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        yield s.getsockname()[1]


def test_start_on_a_taken_port_fails_and_names_the_port(tmp_path, taken_port):
    with pytest.raises(RuntimeError, match=f"mosquitto: port {taken_port} on 127.0.0.1 is already in use"):
        Mosquitto(tmp_path / "mosquitto", port=taken_port).start()
    with pytest.raises(RuntimeError, match=rf"influxd \(HTTP\): port {taken_port} on 127.0.0.1 is already in use"):
        Influxd(tmp_path / "influxdb", port=taken_port).start()


def test_command_line_start_exits_non_zero_naming_the_port_and_stops_the_broker(tmp_path, taken_port):
    mqtt_port = free_port()
    out = subprocess.run([sys.executable, "-m", "deploy.localservers", "start", "--state", str(tmp_path),
                          "--mqtt-port", str(mqtt_port), "--influx-port", str(taken_port)],
                         cwd=ROOT, capture_output=True, text=True, timeout=120)
    try:
        assert out.returncode == 1, out
        assert f"port {taken_port} on 127.0.0.1 is already in use" in out.stderr
        assert out.stdout == ""  # no ports printed as if it had worked
        assert not (tmp_path / "servers.json").exists()
        # The broker it had started is not left running on its port.
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            assert s.connect_ex(("127.0.0.1", mqtt_port)) != 0
    finally:
        stop_all(tmp_path)


def test_a_server_that_dies_on_start_fails_with_its_log_tail(tmp_path):
    class BrokenMosquitto(Mosquitto):
        def write_config(self) -> Path:
            conf = super().write_config()
            conf.write_text(conf.read_text() + "no_such_option_i11b 1\n")
            return conf

    with pytest.raises(RuntimeError, match="exited with") as err:
        BrokenMosquitto(tmp_path / "mosquitto").start()
    assert "no_such_option_i11b" in str(err.value)  # the server's own words, from its log


def test_owns_listener_tells_our_socket_from_another_process(taken_port):
    assert owns_listener(os.getpid(), taken_port)
    other = subprocess.Popen(["sleep", "30"])
    try:
        assert not owns_listener(other.pid, taken_port)
    finally:
        other.kill()
        other.wait()
