"""Delivery channels: signed webhook, MQTT alert topic (QoS 1), e-mail over SMTP.

Each sender raises on any failure so the outbox retries it; success means the receiver
accepted the message (HTTP 2xx, MQTT PUBACK, SMTP 250).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import smtplib
import time
import uuid
from email.message import EmailMessage

import httpx

from contract.broker import MqttConnection, make_client

SIGNATURE_HEADER = "X-EP-Signature"
TIMESTAMP_HEADER = "X-EP-Timestamp"


def sign(key: str, timestamp: str, body: bytes) -> str:
    """``sha256=<hex>`` of HMAC-SHA256 over ``timestamp + "." + body``: the timestamp is signed
    too, so a receiver can refuse replays of old messages."""
    mac = hmac.new(key.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
    return "sha256=" + mac.hexdigest()


def verify(key: str, timestamp: str, body: bytes, signature: str) -> bool:
    """For receivers (and tests): constant-time check of :func:`sign`."""
    return hmac.compare_digest(sign(key, timestamp, body), signature)


def webhook_sender(*, signing_key: str, timeout_s: float = 10):
    def send(url: str, payload: dict) -> None:
        body = json.dumps(payload, ensure_ascii=False, sort_keys=True).encode()
        ts = str(int(time.time()))
        r = httpx.post(url, content=body, timeout=timeout_s, headers={
            "Content-Type": "application/json", TIMESTAMP_HEADER: ts, SIGNATURE_HEADER: sign(signing_key, ts, body),
            "X-EP-Delivery": f"{payload.get('alert_id')}-{payload.get('event')}"})
        if not 200 <= r.status_code < 300:
            raise RuntimeError(f"webhook {url} answered {r.status_code}")
    return send


def mqtt_sender(conn: MqttConnection, *, timeout_s: float = 10):
    def send(topic: str, payload: dict) -> None:
        client = make_client(conn, f"ep-alerts-{uuid.uuid4().hex[:8]}")
        client.connect(conn.mqtt_host, conn.mqtt_port, keepalive=30)
        client.loop_start()
        try:
            info = client.publish(topic, json.dumps(payload, ensure_ascii=False), qos=1)
            info.wait_for_publish(timeout_s)
            if not info.is_published():
                raise RuntimeError(f"no PUBACK from {conn.url} for {topic} within {timeout_s} s")
        finally:
            client.disconnect()
            client.loop_stop()
    return send


def email_sender(*, host: str, port: int, sender: str, timeout_s: float = 10):
    def send(address: str, payload: dict) -> None:
        msg = EmailMessage()
        msg["From"], msg["To"] = sender, address
        msg["Subject"] = f"[energy alert] {payload['event']}: {payload['rule']} at {payload['building_code']}"
        msg.set_content(f"{payload['message']}\n\n" + json.dumps(payload, ensure_ascii=False, indent=2))
        with smtplib.SMTP(host, port, timeout=timeout_s) as smtp:
            smtp.send_message(msg)
    return send


def default_senders(settings) -> dict:
    return {
        "webhook": webhook_sender(signing_key=settings.webhook_signing_key),
        "mqtt": mqtt_sender(settings),
        "email": email_sender(host=settings.smtp_host, port=settings.smtp_port, sender=settings.smtp_sender),
    }
