"""The documented maxima fit the payload limit: 10 000 readings per device message, 2 000 device
messages per gateway batch (the issue: both were refused as oversized by a 256 KiB limit)."""

from __future__ import annotations

import json

from contract.payloads import MAX_BATCH_MESSAGES, MAX_PAYLOAD_BYTES, MAX_READINGS, ContractError, decode
from contract.topics import device_topic, gateway_topic

B = "510402A001"
TS = 1_767_196_800_000
# 17 significant digits: the longest a float64 prints as in JSON.
WIDE = {"generation_register": 123456.78901234567, "to_grid_register": 234567.89012345678,
        "from_grid_register": 345678.90123456789, "power": -1234.5678901234567}


def _pv_meter(device_id: str, n: int) -> dict:
    return {"schema_version": 1, "building_code": B, "device_kind": "pv_meter", "device_id": device_id,
            "units": {"generation_register": "kWh", "to_grid_register": "kWh", "from_grid_register": "kWh",
                      "power": "kW"},
            "readings": [{"ts_ms": TS + i * 900_000, "values": WIDE} for i in range(n)]}


def test_ten_thousand_of_the_widest_readings_fit():
    raw = json.dumps(_pv_meter("PVM-1", MAX_READINGS)).encode()
    # ~190 bytes a reading x 10 000 = ~1.9 MB, under the 8 MiB limit with room for indentation
    assert 1_500_000 < len(raw) < MAX_PAYLOAD_BYTES / 4
    _addr, parts = decode(device_topic(B, "pv_meter", "PVM-1"), raw)
    assert len(parts[0].readings) == MAX_READINGS


def test_two_thousand_device_messages_fit_in_one_gateway_batch():
    batch = {"schema_version": 1, "building_code": B, "gateway_id": "GW1",
             "messages": [_pv_meter(f"PVM-{i:04d}", 1) for i in range(MAX_BATCH_MESSAGES)]}
    raw = json.dumps(batch).encode()
    assert len(raw) < MAX_PAYLOAD_BYTES / 4  # ~425 bytes per device message x 2000 = ~0.85 MB
    _addr, parts = decode(gateway_topic(B, "GW1"), raw)
    assert len(parts) == MAX_BATCH_MESSAGES and not any(isinstance(p, ContractError) for p in parts)


def test_one_more_than_the_maxima_is_a_schema_violation_not_oversized():
    raw = json.dumps(_pv_meter("PVM-1", MAX_READINGS + 1)).encode()
    try:
        decode(device_topic(B, "pv_meter", "PVM-1"), raw)
    except ContractError as e:
        assert e.reason.value == "schema_violation" and "readings" in e.detail
    else:
        raise AssertionError("10 001 readings accepted")
