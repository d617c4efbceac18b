"""The wire contract: what decode() accepts, and the reason it gives for each thing it refuses."""

import json

import pytest

from contract.payloads import (
    MAX_PAYLOAD_BYTES,
    ContractError,
    DeviceMessage,
    GatewayBatch,
    Reading,
    RejectReason,
    decode,
)
from contract.topics import device_topic, gateway_topic, parse_topic
from contract.units import UnitError, to_base
from contract.vocabulary import Dimension

B = "510402A001"
TS = 1_767_196_800_000  # 2025-12-31T16:00:00Z


def meter_msg(**over) -> dict:
    msg = {
        "schema_version": 1, "building_code": B, "device_kind": "meter", "device_id": "E-HVAC-1",
        "carrier": "electricity", "sub_item": "hvac", "units": {"register": "kWh", "power": "kW"},
        "readings": [{"ts_ms": TS, "values": {"register": 1523.75, "power": 12.5}}],
    }
    msg.update(over)
    return msg


TOPIC = device_topic(B, "meter", "E-HVAC-1")


def reason_of(topic: str, payload: bytes) -> RejectReason:
    with pytest.raises(ContractError) as exc:
        decode(topic, payload)
    return exc.value.reason


def test_decode_roundtrips_a_model_built_message():
    msg = DeviceMessage(building_code=B, device_kind="meter", device_id="E-HVAC-1", carrier="electricity",
                        sub_item="hvac", units={"register": "kWh"},
                        readings=[Reading(ts_ms=TS, values={"register": 1.0})])
    addr, [out] = decode(TOPIC, msg.model_dump_json().encode())
    assert addr.building_code == B and out == msg


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        (b"{not json", RejectReason.malformed_json),
        (json.dumps(meter_msg(schema_version=2)).encode(), RejectReason.unsupported_schema_version),
        # JSON true is not version 1 (a lax Literal[1] stored such a message: true == 1 in Python).
        (json.dumps(meter_msg(schema_version=True)).encode(), RejectReason.unsupported_schema_version),
        (json.dumps(meter_msg(schema_version=1.0)).encode(), RejectReason.schema_violation),
        (json.dumps(meter_msg(readings=[])).encode(), RejectReason.schema_violation),
        (json.dumps(meter_msg(units={"register": "kVAh", "power": "kW"})).encode(), RejectReason.unknown_unit),
        # A volume unit on an electricity register is the wrong dimension, not just unknown.
        (json.dumps(meter_msg(units={"register": "m3", "power": "kW"})).encode(), RejectReason.unknown_unit),
        (json.dumps(meter_msg(units={"power": "kW"})).encode(), RejectReason.unknown_unit),
        (json.dumps(meter_msg()).replace("1523.75", "NaN").encode(), RejectReason.non_finite_value),
        (json.dumps(meter_msg()).replace("1523.75", "Infinity").encode(), RejectReason.non_finite_value),
        (json.dumps(meter_msg()).replace("1523.75", "-0.5").encode(), RejectReason.negative_value),
        (json.dumps(meter_msg(device_id="E-LIGHT-1")).encode(), RejectReason.topic_mismatch),
        (json.dumps(meter_msg(building_code="510402A002")).encode(), RejectReason.topic_mismatch),
        (json.dumps(meter_msg(sub_item=None)).encode(), RejectReason.schema_violation),
        (json.dumps(meter_msg(extra_field=1)).encode(), RejectReason.schema_violation),
        (b" " * (MAX_PAYLOAD_BYTES + 1), RejectReason.oversized_payload),
    ],
)
def test_decode_rejects_with_reason(payload, reason):
    assert reason_of(TOPIC, payload) is reason


@pytest.mark.parametrize("topic", ["ep/v1/510402A001/meter/E1", "ep/v1/5104A001/meter/E1/telemetry",
                                   "ep/v1/510402A001/boiler/E1/telemetry", "ep/v1/510402A001/meter/E 1/telemetry",
                                   "ep/v1/510402A001/meter/E1/session", "other/v1/510402A001/meter/E1/telemetry"])
def test_decode_rejects_bad_topics(topic):
    assert reason_of(topic, json.dumps(meter_msg()).encode()) is RejectReason.bad_topic


def test_gateway_batch_rejects_only_the_bad_device_message():
    good = meter_msg()
    bad = meter_msg(device_id="W-1", carrier="water", sub_item=None, units={"register": "kWh"})
    batch = {"schema_version": 1, "building_code": B, "gateway_id": "GW1", "messages": [good, bad, good]}
    _, out = decode(gateway_topic(B, "GW1"), json.dumps(batch).encode())
    assert [type(o).__name__ for o in out] == ["DeviceMessage", "ContractError", "DeviceMessage"]
    assert out[1].reason is RejectReason.unknown_unit and "W-1" in out[1].detail


def test_gateway_batch_from_models_validates():
    m = DeviceMessage.model_validate(meter_msg())
    batch = GatewayBatch(building_code=B, gateway_id="GW1", messages=[m, m])
    _, out = decode(gateway_topic(B, "GW1"), batch.model_dump_json().encode())
    assert out == [m, m]


def test_session_record_needs_known_event():
    msg = {"schema_version": 1, "building_code": B, "device_kind": "ev_pile", "device_id": "P1",
           "stream": "session", "units": {"energy": "kWh"},
           "readings": [{"ts_ms": TS, "values": {"session_id": "S1", "event": "pause"}}]}
    topic = device_topic(B, "ev_pile", "P1", "session")
    assert reason_of(topic, json.dumps(msg).encode()) is RejectReason.schema_violation
    msg["readings"][0]["values"] = {"session_id": "S1", "event": "stop", "energy": 21.5}
    assert decode(topic, json.dumps(msg).encode())[1][0].readings[0].values["energy"] == 21.5


def test_pv_meter_power_is_signed_but_registers_are_not():
    msg = {"schema_version": 1, "building_code": B, "device_kind": "pv_meter", "device_id": "PVM1",
           "units": {"power": "kW", "to_grid_register": "kWh"},
           "readings": [{"ts_ms": TS, "values": {"power": -3.5, "to_grid_register": 10.0}}]}
    topic = device_topic(B, "pv_meter", "PVM1")
    decode(topic, json.dumps(msg).encode())  # export shows as negative power: accepted
    msg["readings"][0]["values"]["to_grid_register"] = -1
    assert reason_of(topic, json.dumps(msg).encode()) is RejectReason.negative_value


def test_units_convert_to_base():
    assert to_base(1500, "Wh", Dimension.energy) == 1.5  # 1500 Wh / 1000
    assert to_base(1, "GJ", Dimension.energy) == pytest.approx(277.777_78)  # 1000 MJ / 3.6 MJ/kWh
    assert to_base(250, "L", Dimension.volume) == 0.25  # 250 L / 1000
    with pytest.raises(UnitError, match="measures volume"):
        to_base(1, "m3", Dimension.energy)


def test_parse_topic_gateway():
    addr = parse_topic(gateway_topic(B, "GW-7"))
    assert addr.is_gateway and addr.device_id == "GW-7"
