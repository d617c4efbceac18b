"""The weather-station device kind on the wire: temperature may be negative, units are checked."""

import json

import pytest

from contract.payloads import ContractError, RejectReason, decode
from contract.topics import device_topic
from contract.units import UnitError, to_base
from contract.vocabulary import Dimension

B = "510402A001"
TS = 1_767_196_800_000
TOPIC = device_topic(B, "weather_station", "WS-01")


def ws_msg(values: dict, units: dict | None = None) -> bytes:
    return json.dumps({
        "schema_version": 1, "building_code": B, "device_kind": "weather_station", "device_id": "WS-01",
        "units": units if units is not None else {"air_temperature": "degC", "ghi": "W/m2"},
        "readings": [{"ts_ms": TS, "values": values}],
    }).encode()


def test_negative_air_temperature_is_accepted():
    _, [msg] = decode(TOPIC, ws_msg({"air_temperature": -12.5, "ghi": 0.0}))
    assert msg.readings[0].values == {"air_temperature": -12.5, "ghi": 0.0}


@pytest.mark.parametrize(
    ("values", "units", "reason"),
    [
        ({"ghi": -1.0}, {"ghi": "W/m2"}, RejectReason.negative_value),  # irradiance cannot be negative
        ({"air_temperature": 50.0}, {"air_temperature": "degF"}, RejectReason.unknown_unit),  # Celsius only
        ({"air_temperature": 5.0}, {"air_temperature": "W/m2"}, RejectReason.unknown_unit),  # wrong dimension
        ({"power": 5.0}, {"power": "kW"}, RejectReason.schema_violation),  # not a station quantity
        ({"air_temperature": 5.0}, {}, RejectReason.unknown_unit),  # unit missing
    ],
)
def test_bad_station_readings_are_refused(values, units, reason):
    with pytest.raises(ContractError) as exc:
        decode(TOPIC, ws_msg(values, units))
    assert exc.value.reason is reason


def test_irradiance_units():
    assert to_base(0.85, "kW/m2", Dimension.irradiance) == pytest.approx(850.0)  # 0.85 kW/m2 x 1000
    with pytest.raises(UnitError):
        to_base(20.0, "degC", Dimension.irradiance)
