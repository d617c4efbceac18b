"""Delivery over real receivers: signed webhook (http.server), MQTT (the real Mosquitto), SMTP
(aiosmtpd); failures stay in the outbox and are delivered once the receiver is back."""

from __future__ import annotations

import datetime as dt
import email
import json
import queue
import time

import paho.mqtt.client as mqtt
import pytest
from sqlalchemy import select

from api.alerts import outbox
from api.alerts.channels import SIGNATURE_HEADER, TIMESTAMP_HEADER, email_sender, mqtt_sender, verify, webhook_sender
from api.db import Alert, OutboxMessage, Subscription
from api.security import Role, create_user
from deploy.localservers import free_port
from registry import db as registry_db
from tests.api.alerts.receivers import SmtpReceiver, WebhookReceiver

KEY = "test-signing-key-0123456789"
T0 = dt.datetime(2026, 6, 1, 8, 0, tzinfo=dt.UTC)


@pytest.fixture
def sessions(tmp_path):
    engine = registry_db.make_engine(f"sqlite:///{tmp_path}/api.db")
    registry_db.migrate(engine)
    return registry_db.make_sessionmaker(engine)


def _alert(s, *, district="Shizhong", building_type="office") -> Alert:
    a = Alert(rule="night_base_load", building_code="510402A001", district=district, building_type=building_type,
              ownership="large_public", state="open", message="night base load 70 kW is 70% of daytime",
              details={"share": 0.7}, opened_at=T0, last_seen_at=T0)
    s.add(a)
    s.flush()
    return a


def _subscribe(s, channel: str, target: str, **match) -> None:
    u, _ = create_user(s, name=f"auditor-{channel}-{target}", role=Role.auditor)
    s.add(Subscription(user_id=u.id, channel=channel, target=target, **match))
    s.flush()


def test_queue_matches_subscriptions_by_district_and_type(sessions):
    with sessions() as s:
        _subscribe(s, "email", "a@example.org", district="Shizhong")
        _subscribe(s, "email", "b@example.org", building_type="office")
        _subscribe(s, "email", "c@example.org", district="Wutongqiao")  # other district: not told
        _subscribe(s, "email", "d@example.org", district="Shizhong", building_type="hotel")  # both must match
        _subscribe(s, "email", "e@example.org")  # everything
        a = _alert(s)
        n = outbox.queue_notifications(s, alert=a, event="opened", now=T0)
        s.commit()
        targets = sorted(m.target for m in s.scalars(select(OutboxMessage)))
    # 1 MQTT + subscriptions a, b, e
    assert n == 4
    assert targets == ["a@example.org", "b@example.org", "e@example.org", "ep/v1/alerts/510402A001/night_base_load"]


def test_webhook_signed_and_retried_until_receiver_accepts(sessions):
    senders = {"webhook": webhook_sender(signing_key=KEY), "mqtt": lambda t, p: None}
    with WebhookReceiver(fail_first=2) as hook, sessions() as s:
        _subscribe(s, "webhook", hook.url)
        a = _alert(s)
        outbox.queue_notifications(s, alert=a, event="opened", now=T0)
        s.commit()
        r1 = outbox.drain(s, senders=senders, now=T0, base_s=5, cap_s=60)
        msg = s.scalar(select(OutboxMessage).where(OutboxMessage.channel == "webhook"))
        # first failure: next attempt after 5 s
        assert (r1.failed, msg.attempts, msg.delivered_at) == (1, 1, None)
        assert "500" in msg.last_error
        assert outbox.drain(s, senders=senders, now=T0 + dt.timedelta(seconds=4), base_s=5, cap_s=60).failed == 0
        r2 = outbox.drain(s, senders=senders, now=T0 + dt.timedelta(seconds=5), base_s=5, cap_s=60)
        # second failure: 5 s x 2 = 10 s later
        assert r2.failed == 1
        r3 = outbox.drain(s, senders=senders, now=T0 + dt.timedelta(seconds=15), base_s=5, cap_s=60)
        s.refresh(msg)
        assert (r3.delivered, msg.attempts) == (1, 3) and msg.delivered_at is not None
    assert len(hook.requests) == 1
    headers, body = hook.requests[0]
    assert verify(KEY, headers[TIMESTAMP_HEADER], body, headers[SIGNATURE_HEADER])
    assert not verify("another-key", headers[TIMESTAMP_HEADER], body, headers[SIGNATURE_HEADER])
    assert json.loads(body)["rule"] == "night_base_load" and json.loads(body)["event"] == "opened"


def test_webhook_receiver_down_then_up_nothing_lost(sessions):
    port = free_port()
    senders = {"webhook": webhook_sender(signing_key=KEY, timeout_s=2), "mqtt": lambda t, p: None}
    with sessions() as s:
        _subscribe(s, "webhook", f"http://127.0.0.1:{port}/hook")
        outbox.queue_notifications(s, alert=_alert(s), event="opened", now=T0)
        s.commit()
        assert outbox.drain(s, senders=senders, now=T0, base_s=5, cap_s=60).failed == 1  # nobody listens
        with WebhookReceiver(port=port) as hook:
            assert outbox.drain(s, senders=senders, now=T0 + dt.timedelta(minutes=1), base_s=5, cap_s=60).delivered == 1
        assert len(hook.requests) == 1


def test_mqtt_alert_topic_qos1(sessions, mosquitto):
    got: queue.Queue = queue.Queue()
    sub = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="alert-listener", protocol=mqtt.MQTTv5)
    sub.on_message = lambda c, u, m: got.put((m.topic, m.qos, json.loads(m.payload)))
    sub.connect("127.0.0.1", mosquitto.port)
    sub.subscribe("ep/v1/alerts/#", qos=1)
    sub.loop_start()
    time.sleep(0.3)  # let the SUBACK arrive before publishing
    try:
        with sessions() as s:
            outbox.queue_notifications(s, alert=_alert(s), event="opened", now=T0)
            s.commit()
            r = outbox.drain(s, senders={"mqtt": mqtt_sender(mosquitto.connection())}, now=T0,
                             base_s=5, cap_s=60)
        assert r.delivered == 1
        topic, qos, payload = got.get(timeout=10)
        assert topic == "ep/v1/alerts/510402A001/night_base_load" and qos == 1
        assert payload["building_code"] == "510402A001" and payload["state"] == "open"
    finally:
        sub.loop_stop()
        sub.disconnect()


def test_mqtt_alert_over_tls(sessions, own_tls_mosquitto):
    from contract.broker import make_client

    conn = own_tls_mosquitto.connection()
    got: queue.Queue = queue.Queue()
    subscribed: queue.Queue = queue.Queue()
    sub = make_client(conn, "alert-listener-tls")
    sub.on_message = lambda c, u, m: got.put((m.topic, json.loads(m.payload)))
    sub.on_subscribe = lambda *a: subscribed.put(True)
    sub.connect(conn.mqtt_host, conn.mqtt_port)
    sub.subscribe("ep/v1/alerts/#", qos=1)
    sub.loop_start()
    subscribed.get(timeout=10)
    try:
        with sessions() as s:
            outbox.queue_notifications(s, alert=_alert(s), event="opened", now=T0)
            s.commit()
            r = outbox.drain(s, senders={"mqtt": mqtt_sender(conn)}, now=T0, base_s=5, cap_s=60)
        assert r.delivered == 1
        topic, payload = got.get(timeout=10)
        assert topic == "ep/v1/alerts/510402A001/night_base_load" and payload["state"] == "open"
    finally:
        sub.loop_stop()
        sub.disconnect()


def test_mqtt_broker_down_is_retried(sessions, own_mosquitto):
    send = mqtt_sender(own_mosquitto.connection(), timeout_s=3)
    with sessions() as s:
        outbox.queue_notifications(s, alert=_alert(s), event="opened", now=T0)
        s.commit()
        own_mosquitto.stop()
        assert outbox.drain(s, senders={"mqtt": send}, now=T0, base_s=5, cap_s=60).failed == 1
        own_mosquitto.start()
        r = outbox.drain(s, senders={"mqtt": send}, now=T0 + dt.timedelta(minutes=5), base_s=5, cap_s=60)
        assert r.delivered == 1
        assert s.scalar(select(OutboxMessage)).attempts == 2


def test_email_over_smtp(sessions):
    with SmtpReceiver() as smtp, sessions() as s:
        _subscribe(s, "email", "auditor@example.org", district="Shizhong")
        outbox.queue_notifications(s, alert=_alert(s), event="opened", now=T0)
        s.commit()
        senders = {"email": email_sender(host="127.0.0.1", port=smtp.port, sender="alerts@example.org"),
                   "mqtt": lambda t, p: None}
        assert outbox.drain(s, senders=senders, now=T0, base_s=5, cap_s=60).delivered == 2
        assert len(smtp.messages) == 1
        env = smtp.messages[0]
        assert env.rcpt_tos == ["auditor@example.org"]
        msg = email.message_from_bytes(env.content)
        assert "night_base_load" in msg["Subject"] and "510402A001" in msg["Subject"]


def test_failing_sender_does_not_block_others(sessions):
    def broken(target, payload):
        raise ConnectionError("receiver unreachable")

    delivered = []
    with sessions() as s:
        _subscribe(s, "webhook", "http://127.0.0.1:9/x")
        outbox.queue_notifications(s, alert=_alert(s), event="opened", now=T0)
        s.commit()
        r = outbox.drain(s, senders={"webhook": broken, "mqtt": lambda t, p: delivered.append(t)}, now=T0,
                         base_s=5, cap_s=60)
    assert (r.delivered, r.failed, len(delivered)) == (1, 1, 1)
