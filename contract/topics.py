"""The MQTT topic hierarchy, defined in this one place.

::

    ep/v1/{building_code}/{device_kind}/{device_id}/{stream}     one device
    ep/v1/{building_code}/gateway/{gateway_id}/batch             a data collector's batch
    ep/v1/deadletter/{reason}                                    rejected messages, with the reason
    ep/v1/alerts/{building_code}/{rule}                          alerts (api/alerts)

``stream`` is ``telemetry`` or ``session`` (EV charging-session records).
"""

from __future__ import annotations

from dataclasses import dataclass

from contract.vocabulary import BUILDING_CODE_RE, DEVICE_ID_RE, DeviceKind, Stream

PREFIX = "ep/v1"
GATEWAY = "gateway"
BATCH = "batch"

#: Subscription filter for everything devices and gateways publish.
INGEST_FILTER = f"{PREFIX}/+/+/+/+"


def device_topic(building_code: str, device_kind: DeviceKind | str, device_id: str,
                 stream: Stream | str = Stream.telemetry) -> str:
    return f"{PREFIX}/{building_code}/{DeviceKind(device_kind).value}/{device_id}/{Stream(stream).value}"


def gateway_topic(building_code: str, gateway_id: str) -> str:
    return f"{PREFIX}/{building_code}/{GATEWAY}/{gateway_id}/{BATCH}"


def deadletter_topic(reason: str) -> str:
    return f"{PREFIX}/deadletter/{reason}"


def alert_topic(building_code: str, rule: str) -> str:
    return f"{PREFIX}/alerts/{building_code}/{rule}"


def shared(filter_: str, group: str) -> str:
    """MQTT v5 shared subscription: each message goes to one member of ``group``."""
    return f"$share/{group}/{filter_}"


@dataclass(frozen=True, slots=True)
class TopicAddress:
    building_code: str
    device_kind: DeviceKind | None  # None for a gateway batch
    device_id: str  # the gateway id for a batch
    stream: Stream | None  # None for a gateway batch

    @property
    def is_gateway(self) -> bool:
        return self.device_kind is None


class TopicError(ValueError):
    pass


def parse_topic(topic: str) -> TopicAddress:
    """Split a device or gateway topic into its parts; ``TopicError`` names what is wrong."""
    parts = topic.split("/")
    if len(parts) != 6 or f"{parts[0]}/{parts[1]}" != PREFIX:
        raise TopicError(f"topic {topic!r} is not {PREFIX}/<building>/<kind>/<id>/<stream>")
    _, _, building, kind, dev, stream = parts
    if not BUILDING_CODE_RE.match(building):
        raise TopicError(f"building code {building!r} is not 6 digits + type letter A-H + 3 digits")
    if not DEVICE_ID_RE.match(dev):
        raise TopicError(f"device id {dev!r} is not 1-64 characters of A-Z a-z 0-9 _ . -")
    if kind == GATEWAY:
        if stream != BATCH:
            raise TopicError(f"gateway topics end in /{BATCH}, not /{stream}")
        return TopicAddress(building, None, dev, None)
    try:
        dk = DeviceKind(kind)
    except ValueError:
        raise TopicError(f"device kind {kind!r} is not one of {[k.value for k in DeviceKind]}") from None
    try:
        st = Stream(stream)
    except ValueError:
        raise TopicError(f"stream {stream!r} is not one of {[s.value for s in Stream]}") from None
    if st is Stream.session and dk is not DeviceKind.ev_pile:
        raise TopicError("only ev_pile devices publish a session stream")
    return TopicAddress(building, dk, dev, st)
