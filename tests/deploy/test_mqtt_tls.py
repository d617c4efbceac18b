"""MQTT over TLS on a real Mosquitto: who gets in, who is refused, and that a refused client
delivers nothing; password rotation and revocation on a running broker (SIGHUP, no restart)."""

from __future__ import annotations

import queue
import ssl
import uuid

import paho.mqtt.client as mqtt
import pytest

from contract.broker import MqttConnection, make_client
from contract.topics import device_topic
from deploy.localservers import Mosquitto
from deploy.mqtt_auth import INGEST_USER, read_credentials, revoke, rotate_password, write_auth
from deploy.tls import ensure_ca, ensure_server_cert, issue_client_cert
from tests.deploy.test_mqtt_auth import FLEET

pytestmark = pytest.mark.servers

DEV_A, DEV_B = "511102A001.E1", "511102A002.E1"
TOPIC_A = device_topic("511102A001", "meter", "E1")


def _connect(conn: MqttConnection, timeout_s: float = 5) -> tuple[mqtt.Client | None, str]:
    """(client, "ok") when the broker accepted, else (None, why): a failed TLS handshake, a
    CONNACK with a failure code, or the broker closing the connection without a CONNACK."""
    box: queue.Queue = queue.Queue()
    c = make_client(conn, f"t-{uuid.uuid4().hex[:8]}")
    c.on_connect = lambda cl, ud, flags, rc, props: box.put("ok" if not rc.is_failure else str(rc))
    c.on_disconnect = lambda cl, ud, flags, rc, props: box.put(f"disconnected: {rc}")
    try:
        c.connect(conn.mqtt_host, conn.mqtt_port, keepalive=10)
    except (ssl.SSLError, OSError) as e:
        return None, f"handshake: {e}"
    c.loop_start()
    try:
        why = box.get(timeout=timeout_s)
    except queue.Empty:
        why = "no CONNACK"
    if why != "ok":
        c.loop_stop()
        c.disconnect()
        return None, why
    return c, why


class Sink:
    """The ingest account's subscription to every device topic: what would be stored."""

    def __init__(self, conn: MqttConnection):
        self.got: queue.Queue = queue.Queue()
        self.c, why = _connect(conn)
        assert self.c is not None, why
        ready: queue.Queue = queue.Queue()
        self.c.on_subscribe = lambda *a: ready.put(a[3])
        self.c.on_message = lambda cl, ud, m: self.got.put((m.topic, m.payload))
        self.c.subscribe("ep/v1/+/+/+/+", qos=1)
        assert not ready.get(timeout=5)[0].is_failure

    def only(self, expected: tuple[str, bytes]) -> None:
        """``expected`` arrives and nothing else did: every refused attempt came before it."""
        assert self.got.get(timeout=5) == expected
        assert self.got.empty()

    def close(self) -> None:
        self.c.loop_stop()
        self.c.disconnect()


def _publish(c: mqtt.Client, topic: str, payload: bytes):
    info = c.publish(topic, payload, qos=1)
    info.wait_for_publish(5)
    return info


@pytest.fixture
def pki(state_root):
    d = state_root / f"pki-{uuid.uuid4().hex[:6]}"
    server = ensure_server_cert(d / "ca")
    auth = d / "auth"
    write_auth(FLEET, auth, tls_dir=d / "ca")
    creds = {a.username: a.password for a in read_credentials(auth)}
    return d, server, auth, creds


@pytest.fixture
def tls_broker(pki):
    """TLS only (the plain listener off), per-device passwords and ACLs."""
    d, server, auth, creds = pki
    broker = Mosquitto(d / "broker", tls=server, plain=False, password_file=auth / "passwords",
                       acl_file=auth / "acl").start()
    yield broker, creds, auth
    broker.stop()


@pytest.fixture
def mtls_broker(pki):
    """Mutual TLS: a client certificate of the CA is required, its common name is the user."""
    d, server, auth, _ = pki
    broker = Mosquitto(d / "mbroker", tls=server, plain=False, client_certs=True,
                       password_file=auth / "passwords", acl_file=auth / "acl").start()
    yield broker, d / "ca"
    broker.stop()


def _cert_conn(broker: Mosquitto, ca_dir, user: str) -> MqttConnection:
    """``user``'s client certificate, issued by write_auth(..., tls_dir=...) for every account."""
    return broker.connection(mqtt_cert_file=ca_dir / f"client-{user}.pem", mqtt_key_file=ca_dir / f"client-{user}.key")


def test_device_publishes_over_tls_with_its_password(tls_broker):
    broker, creds, _ = tls_broker
    sink = Sink(broker.connection(mqtt_username=INGEST_USER, mqtt_password=creds[INGEST_USER]))
    dev, why = _connect(broker.connection(mqtt_username=DEV_A, mqtt_password=creds[DEV_A]))
    assert why == "ok"
    assert _publish(dev, TOPIC_A, b"over-tls").is_published()
    sink.only((TOPIC_A, b"over-tls"))
    dev.loop_stop()
    dev.disconnect()
    sink.close()


def test_refused_clients_deliver_nothing(tls_broker, pki):
    broker, creds, _ = tls_broker
    d = pki[0]
    sink = Sink(broker.connection(mqtt_username=INGEST_USER, mqtt_password=creds[INGEST_USER]))
    wrong_password = broker.connection(mqtt_username=DEV_A, mqtt_password="not-the-password")
    # A client that trusts another CA must not accept the broker's certificate.
    other_ca, _ = ensure_ca(d / "other-ca", cn="someone else's CA")
    untrusting = broker.connection(mqtt_username=DEV_A, mqtt_password=creds[DEV_A], mqtt_ca_file=other_ca)
    # Plain MQTT to the TLS port, and to the plain port that is switched off.
    plain_to_tls = MqttConnection(mqtt_port=broker.tls_port, mqtt_username=DEV_A, mqtt_password=creds[DEV_A])
    plain_port = MqttConnection(mqtt_port=broker.port, mqtt_username=DEV_A, mqtt_password=creds[DEV_A])
    expected = {"wrong password": (wrong_password, "Not authorized"),  # CONNACK 0x87
                "untrusted broker certificate": (untrusting, "CERTIFICATE_VERIFY_FAILED"),
                "plain MQTT to the TLS port": (plain_to_tls, "disconnected"),  # the broker hangs up
                "plain port switched off": (plain_port, "Connection refused")}
    for case, (conn, reason) in expected.items():
        client, why = _connect(conn)
        assert client is None and reason in why, f"{case}: {why}"
    # Each one was refused before it could publish; the device's own message proves the sink listened.
    dev, why = _connect(broker.connection(mqtt_username=DEV_A, mqtt_password=creds[DEV_A]))
    _publish(dev, TOPIC_A, b"marker")
    sink.only((TOPIC_A, b"marker"))
    dev.loop_stop()
    dev.disconnect()
    sink.close()


def test_mutual_tls_certificate_is_the_identity(mtls_broker, pki):
    broker, ca_dir = mtls_broker
    d = pki[0]
    sink = Sink(_cert_conn(broker, ca_dir, INGEST_USER))
    # No client certificate, or one of another CA: the handshake fails.
    foreign = issue_client_cert(d / "other-ca", DEV_A)
    for conn in (broker.connection(),
                 broker.connection(mqtt_cert_file=foreign.cert, mqtt_key_file=foreign.key)):
        client, why = _connect(conn)
        # TLS 1.3: the client's handshake ends before the broker checks its certificate, so the
        # refusal arrives as the broker closing the connection, with no CONNACK.
        assert client is None and "disconnected" in why, why
    # Device B's certificate is device B: device A's topic is not B's to publish (ACL), so the
    # broker answers "not authorized" and passes nothing on.
    as_b, why = _connect(_cert_conn(broker, ca_dir, DEV_B))
    assert why == "ok"
    pubacks: queue.Queue = queue.Queue()
    as_b.on_publish = lambda cl, ud, mid, rc, props: pubacks.put(str(rc))
    as_b.publish(TOPIC_A, b"from-b", qos=1).wait_for_publish(5)
    assert pubacks.get(timeout=5) == "Not authorized"  # PUBACK 0x87
    as_a, why = _connect(_cert_conn(broker, ca_dir, DEV_A))
    _publish(as_a, TOPIC_A, b"from-a")
    sink.only((TOPIC_A, b"from-a"))
    for c in (as_a, as_b):
        c.loop_stop()
        c.disconnect()
    sink.close()


def test_rotated_password_works_after_reload_and_old_one_does_not(tls_broker):
    broker, creds, auth = tls_broker
    old = creds[DEV_A]
    # Connections open before the rotation: the rotated device's and another device's.
    before, _ = _connect(broker.connection(mqtt_username=DEV_A, mqtt_password=old))
    other, _ = _connect(broker.connection(mqtt_username=DEV_B, mqtt_password=creds[DEV_B]))
    cut: queue.Queue = queue.Queue()
    before.on_disconnect = lambda *a: cut.put(str(a[3]))
    before.reconnect_delay_set(60, 60)  # no reconnect with the old password within the test
    new = rotate_password(auth, DEV_A)
    assert new != old
    assert {a.username: a.password for a in read_credentials(auth)}[DEV_A] == new
    assert (auth / "credentials.csv").stat().st_mode & 0o077 == 0
    assert (auth / "passwords").stat().st_mode & 0o077 == 0
    assert new not in (auth / "passwords").read_text()  # hashed, never the plaintext
    pid = broker.proc.pid
    broker.reload()
    # Mosquitto checks open connections against the reloaded file: the old password's is cut,
    # the untouched device's stays.
    cut.get(timeout=10)
    assert other.is_connected()
    assert broker.proc.pid == pid  # reloaded, not restarted
    client, why = _connect(broker.connection(mqtt_username=DEV_A, mqtt_password=new))
    assert why == "ok"
    refused, why = _connect(broker.connection(mqtt_username=DEV_A, mqtt_password=old))
    assert refused is None and "Not authorized" in why, why
    for c in (client, before, other):
        c.loop_stop()
        c.disconnect()


def test_revoked_device_is_refused_without_a_restart(tls_broker, mtls_broker):
    broker, creds, auth = tls_broker
    mbroker, ca_dir = mtls_broker
    pid = broker.proc.pid
    revoke(auth, DEV_A)
    assert DEV_A not in {a.username for a in read_credentials(auth)}
    assert f"user {DEV_A}" not in (auth / "acl").read_text()
    before, _ = _connect(broker.connection(mqtt_username=DEV_A, mqtt_password=creds[DEV_A]))
    cut: queue.Queue = queue.Queue()
    before.on_disconnect = lambda *a: cut.put(str(a[3]))
    before.reconnect_delay_set(60, 60)
    broker.reload()
    mbroker.reload()
    cut.get(timeout=10)  # its open connection is cut by the reload ...
    client, why = _connect(broker.connection(mqtt_username=DEV_A, mqtt_password=creds[DEV_A]))
    assert client is None and "Not authorized" in why, why  # ... and it cannot come back
    assert broker.proc.pid == pid  # reloaded, not restarted
    before.loop_stop()
    # With mutual TLS its certificate still completes the handshake, but no ACL entry is left:
    # what it publishes goes nowhere.
    sink = Sink(_cert_conn(mbroker, ca_dir, INGEST_USER))
    as_a, why = _connect(_cert_conn(mbroker, ca_dir, DEV_A))
    if as_a is not None:
        as_a.publish(TOPIC_A, b"revoked", qos=1).wait_for_publish(5)
    as_b, _ = _connect(_cert_conn(mbroker, ca_dir, DEV_B))
    topic_b = device_topic("511102A002", "meter", "E1")
    _publish(as_b, topic_b, b"still-here")
    sink.only((topic_b, b"still-here"))
    for c in (as_a, as_b):
        if c is not None:
            c.loop_stop()
            c.disconnect()
    sink.close()


def test_secret_files_are_owner_only(pki):
    d, server, auth, _ = pki
    ca = d / "ca"
    files = [ca / "ca.key", ca / "ca.pem", server.key, server.cert, ca / f"client-{DEV_A}.key",
             auth / "passwords", auth / "credentials.csv"]
    assert {f.name: oct(f.stat().st_mode & 0o777) for f in files} == {f.name: "0o600" for f in files}
    assert ca.stat().st_mode & 0o077 == 0
