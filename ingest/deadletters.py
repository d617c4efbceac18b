"""Publishing a batch's dead letters, confirmed by the broker before the batch is acknowledged."""

from __future__ import annotations

import threading
import time

import paho.mqtt.client as mqtt
from paho.mqtt.enums import MQTTErrorCode

from ingest.messages import OutboundDeadLetter

#: How long to wait for the broker to confirm a dead letter before publishing it again. [s]
DEADLETTER_CONFIRM_S = 30.0


def confirm_deadletters(client: mqtt.Client, deadletters: list[OutboundDeadLetter],
                        failed: threading.Event) -> None:
    """Publish (QoS 1) and wait for the broker's PUBACK of each; publish again what a lost
    connection swallowed. A dead letter may so arrive twice, never zero times. Returns early
    when ``failed`` is set (the service exits; the batch stays unacknowledged)."""
    pending: list[list] = [[t, p, None, 0.0] for t, p in deadletters]  # topic, payload, info, sent at
    while pending:
        now = time.monotonic()
        for item in pending:
            info = item[2]
            if (info is None or info.rc != MQTTErrorCode.MQTT_ERR_SUCCESS
                    or now - item[3] > DEADLETTER_CONFIRM_S) and client.is_connected():
                item[2], item[3] = client.publish(item[0], item[1], qos=1), now
        pending = [i for i in pending if not _published(i[2])]
        if pending and failed.wait(0.005):
            return


def _published(info: mqtt.MQTTMessageInfo | None) -> bool:
    if info is None or info.rc != MQTTErrorCode.MQTT_ERR_SUCCESS:
        return False  # never sent (no connection): is_published() would raise
    return info.is_published()
