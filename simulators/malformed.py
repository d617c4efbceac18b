"""One malformed MQTT message per reject reason (for the ``malformed`` fault)."""

from __future__ import annotations

import json

from contract.payloads import MAX_PAYLOAD_BYTES, RejectReason
from contract.topics import PREFIX, device_topic
from registry.fleet import MeterSpec


def _good(code: str, meter: MeterSpec, ts_ms: int) -> dict:
    unit = "kWh" if meter.carrier.value in ("electricity", "district_heat") else "m3"
    return {"schema_version": 1, "building_code": code, "device_kind": "meter", "device_id": meter.device_id,
            "stream": "telemetry", "carrier": meter.carrier.value,
            **({"sub_item": meter.sub_item.value} if meter.sub_item else {}),
            "units": {"register": unit}, "readings": [{"ts_ms": ts_ms, "values": {"register": 1.0}}]}


def malformed_payload(reason: RejectReason, code: str, meter: MeterSpec, ts_ms: int) -> tuple[str, bytes]:
    """A (topic, payload) that ingest must dead-letter with ``reason``.

    ``future_timestamp`` and ``timestamp_before_device`` are well-formed messages: the caller
    passes a ``ts_ms`` ahead of the wall clock or before the device's installation.
    ``timestamp_before_device``, ``unknown_device`` and ``registry_mismatch`` assume ingest reads the
    fleet file (``--fleet-file``).
    """
    topic = device_topic(code, "meter", meter.device_id)
    msg = _good(code, meter, ts_ms)
    if reason is RejectReason.oversized_payload:
        return topic, json.dumps(msg).encode() + b" " * (MAX_PAYLOAD_BYTES + 1)
    if reason is RejectReason.bad_topic:
        return f"{PREFIX}/{code}/thermostat/{meter.device_id}/telemetry", json.dumps(msg).encode()
    if reason is RejectReason.malformed_json:
        return topic, json.dumps(msg).encode()[:40]
    if reason is RejectReason.unsupported_schema_version:
        msg["schema_version"] = 2
    elif reason is RejectReason.schema_violation:
        msg["readings"] = []
    elif reason is RejectReason.unknown_unit:
        msg["units"] = {"register": "kWhr"}
    elif reason is RejectReason.non_finite_value:
        return topic, json.dumps(msg).replace('"register": 1.0', '"register": NaN').encode()
    elif reason is RejectReason.negative_value:
        msg["readings"][0]["values"]["register"] = -5.0
    elif reason is RejectReason.value_out_of_range:
        msg["readings"][0]["values"]["register"] = 1e300  # finite, far above any register (contract/plausibility.py)
    elif reason is RejectReason.unknown_device:
        unknown = f"{meter.device_id[:58]}-GHOST"
        msg["device_id"] = unknown
        return device_topic(code, "meter", unknown), json.dumps(msg).encode()
    elif reason is RejectReason.registry_mismatch:
        # The fleet's meter, sent as a charging pile.
        pile = {k: v for k, v in msg.items() if k not in ("carrier", "sub_item")}
        pile.update(device_kind="ev_pile", units={"register": "kWh"})
        return device_topic(code, "ev_pile", meter.device_id), json.dumps(pile).encode()
    elif reason is RejectReason.topic_mismatch:
        other = code[:7] + ("999" if code[7:] != "999" else "998")
        msg["building_code"] = other
    return topic, json.dumps(msg).encode()
