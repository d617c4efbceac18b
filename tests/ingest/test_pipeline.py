"""Batch building on arbitrary input: nothing escapes, every message is stored or dead-lettered."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ingest.intervals import LookupResult, RegisterTracker
from ingest.metrics import Metrics
from ingest.pipeline import BatchBuilder, Inbound
from ingest.transform import TimeRules
from tests.ingest.helpers import T0_MS, meter_msg, meter_topic

NOW_MS = T0_MS + 86_400_000


def _builder() -> BatchBuilder:
    # No stored readings: the lookup answers "nothing before, nothing after" (a new fleet).
    tracker = RegisterTracker(lambda wanted: {k: LookupResult([], [], []) for k in wanted})
    return BatchBuilder(rules=TimeRules(), tracker=tracker, metrics=Metrics(), client_id="t",
                        clock_ms=lambda: NOW_MS)


json_values = st.recursive(st.none() | st.booleans() | st.floats() | st.integers() | st.text(max_size=5),
                           lambda kids: st.lists(kids, max_size=3) | st.dictionaries(st.text(max_size=8), kids,
                                                                                     max_size=4), max_leaves=12)


def _mutated_message(draw_values):
    base = meter_msg("E-1", [(T0_MS, {"register": 1.0, "power": 2.0})])
    return base | draw_values


@settings(max_examples=300, deadline=None)
@given(topic=st.one_of(st.just(meter_topic("E-1")), st.text(max_size=40)),
       payload=st.one_of(st.binary(max_size=200),
                         st.dictionaries(st.sampled_from(["schema_version", "building_code", "device_kind",
                                                          "device_id", "carrier", "sub_item", "units",
                                                          "readings", "stream", "extra"]),
                                         json_values, max_size=4).map(_mutated_message)))
def test_any_input_is_stored_or_dead_lettered_never_raises(topic, payload):
    b = _builder()
    raw = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    b.add(Inbound(1, 1, 1, topic, raw, NOW_MS))
    batch = b.seal()
    assert batch.deadletters or batch.readings  # stored, or dead-lettered with a reason
    for d in batch.deadletters:
        assert d.reason and d.detail
        assert d.reason != "internal_error", d.detail  # every bad input has a contract reason
    assert len(batch.lines) == len(set(batch.lines))


def _good(device_id: str, register: float = 10.0) -> Inbound:
    return Inbound(1, 1, 1, meter_topic(device_id), json.dumps(meter_msg(device_id, [
        (T0_MS, {"register": register - 1}), (T0_MS + 900_000, {"register": register})])).encode(), NOW_MS)


def _stored(batch, device_id: str) -> list[str]:
    return [ln for ln in batch.lines if ln.startswith("meter,") and f"device_id={device_id}," in ln]


@settings(max_examples=300, deadline=None)
@given(topic=st.binary(max_size=80) | st.sampled_from([b"ep/v1/510402A001/meter/E-X/telemetry",
                                                       b"ep/v1/510402A001/gateway/GW1/batch"]),
       payload=st.binary(max_size=300) | json_values.map(lambda v: json.dumps(v).encode()))
def test_arbitrary_topic_and_payload_bytes_among_good_siblings(topic, payload):
    """Topic and payload as raw bytes, converted as the service converts them, between two good
    messages: nothing raises, the odd one is stored or dead-lettered with a reason, and the
    siblings' readings are all stored, with their interval values."""
    from ingest.messages import topic_text

    b = _builder()
    b.add(_good("E-A"))
    b.add(Inbound(1, 2, 1, topic_text(topic), payload, NOW_MS))
    b.add(_good("E-B"))
    batch = b.seal()
    odd = [d for d in batch.deadletters if d.payload == payload]
    assert odd or batch.readings > 4  # dead-lettered, or stored beside the siblings' 4 readings
    for d in batch.deadletters:
        assert d.reason and d.detail and d.reason != "internal_error", d.detail
    for dev in ("E-A", "E-B"):
        lines = _stored(batch, dev)
        assert len(lines) == 2 and any("consumption_kwh=1" in ln for ln in lines), lines  # 10 - 9 = 1 kWh


def _reasons(batch) -> list[str]:
    return [d.reason for d in batch.deadletters]


def test_overflow_after_unit_conversion_is_dead_lettered_whole_and_siblings_stored():
    b = _builder()
    # 1e308 MWh is finite on the wire; x 1000 kWh/MWh it is infinite: the crash loop.
    b.add(Inbound(1, 1, 1, meter_topic("E-OVF"), json.dumps(meter_msg("E-OVF", [
        (T0_MS, {"register": 1.0}), (T0_MS + 900_000, {"register": 1e308})], units={"register": "MWh"})).encode(),
        NOW_MS))
    # The power overflows (1e308 MW), the register beside it does not: the reading goes whole, never half.
    b.add(Inbound(1, 2, 1, meter_topic("E-PWR"), json.dumps(meter_msg("E-PWR", [
        (T0_MS, {"register": 5.0, "power": 1e308})], units={"register": "kWh", "power": "MW"})).encode(), NOW_MS))
    b.add(_good("E-A"))
    batch = b.seal()
    assert _reasons(batch) == ["non_finite_value", "non_finite_value"]
    assert _stored(batch, "E-OVF") == [] and _stored(batch, "E-PWR") == []
    assert len(_stored(batch, "E-A")) == 2


def test_a_failure_while_sealing_costs_only_its_own_message():
    """The derivation raises for one series (a stand-in for any bug at batch sealing): that
    message is dead-lettered internal_error, its sibling is stored with its interval value."""
    def lookup(wanted):
        if any(k[2] == "E-BOOM" for k in wanted):
            raise ArithmeticError("boom")
        return {k: LookupResult([], [], []) for k in wanted}

    b = BatchBuilder(rules=TimeRules(), tracker=RegisterTracker(lookup), metrics=Metrics(), client_id="t",
                     clock_ms=lambda: NOW_MS)
    b.add(_good("E-A"))
    b.add(_good("E-BOOM"))
    batch = b.seal()
    assert _reasons(batch) == ["internal_error"] and "boom" in batch.deadletters[0].detail
    assert _stored(batch, "E-BOOM") == []
    assert any("consumption_kwh=1" in ln for ln in _stored(batch, "E-A"))  # 10 - 9
    # The next batch is unaffected.
    b.add(_good("E-C"))
    assert len(_stored(b.seal(), "E-C")) == 2


def test_register_steps_become_findings_and_held_out_steps_are_not_summed():
    b = _builder()
    readings = [(T0_MS + i * 900_000, {"register": v}) for i, v in
                enumerate([12_346.0, 12_345.999, 12_346.5, 6_000.0, 6_001.0, 90_000.0])]
    b.add(Inbound(1, 1, 1, meter_topic("E-J"), json.dumps(meter_msg("E-J", readings)).encode(), NOW_MS))
    batch = b.seal()
    lines = sorted(_stored(batch, "E-J"), key=lambda ln: int(ln.rsplit(" ", 1)[1]))
    consumption = [float(ln.split("consumption_kwh=")[1].split(",")[0]) if "consumption_kwh=" in ln else None
                   for ln in lines]
    assert consumption[0] is None  # first reading: no interval
    assert consumption[1] == 0.0  # jitter: 12 346 -> 12 345.999 counts zero, not 12 345.999
    assert abs(consumption[2] - 0.501) < 1e-9  # 12 346.5 - 12 345.999
    assert consumption[3] is None  # 12 346.5 -> 6000: backward without evidence (6000 >= 1234.65): held out
    assert consumption[4] == 1.0  # 6001 - 6000
    assert consumption[5] is None  # 83 999 kWh in 15 min: above 1e5 kWh/h x 0.25 h = 25 000 kWh: a spike
    codes = sorted(ln.split(",code=")[1].split(",")[0] for ln in batch.lines if ln.startswith("data_quality,"))
    assert codes == ["backward_step", "register_jitter", "spike"]


def test_a_misread_value_is_a_finding_and_not_consumption():
    b = _builder()
    readings = [(T0_MS + i * 900_000, {"register": v}) for i, v in
                enumerate([100_000.0, 101_010.0, 100_020.0, 100_030.0])]
    b.add(Inbound(1, 1, 1, meter_topic("E-M"), json.dumps(meter_msg("E-M", readings)).encode(), NOW_MS))
    batch = b.seal()
    lines = sorted(_stored(batch, "E-M"), key=lambda ln: int(ln.rsplit(" ", 1)[1]))
    consumption = [float(ln.split("consumption_kwh=")[1].split(",")[0]) if "consumption_kwh=" in ln else None
                   for ln in lines]
    # 101 010 lies outside [100 000, 100 020]: it stands for 100 020. 20, 0, then 100 030 - 100 020.
    assert consumption == [None, 20.0, 0.0, 10.0]
    found = [ln for ln in batch.lines if ln.startswith("data_quality,")]
    assert len(found) == 1 and ",code=register_misread," in found[0]
    assert "value=990" in found[0]  # 101 010 - 100 020: how far the reading was off
    assert "register_kwh=101010" in lines[1]  # the register itself is stored as read


def _fleet_builder(unknown: str = "reject") -> BatchBuilder:
    from contract.plausibility import Limits
    from ingest.registry_check import FleetIndex, RegistryCheck, UnknownDevices
    from ingest.transform import Transformer
    from registry.fleet import Fleet

    fleet = Fleet.model_validate({"buildings": [{
        "building_code": "510402A001", "name": "Office", "floor_area_m2": 1000, "district": "Shizhong",
        "latitude_deg": 29.6, "longitude_deg": 103.8,
        "meters": [{"device_id": "E-1", "carrier": "electricity", "sub_item": "hvac"}],
        "pv": [{"device_id": "PV-1", "capacity_kwp": 20.0}]}]})
    index = FleetIndex.from_fleet(fleet)
    tracker = RegisterTracker(lambda wanted: {k: LookupResult([], [], []) for k in wanted})
    return BatchBuilder(rules=TimeRules(installed_ms=index.installed_ms), tracker=tracker, metrics=Metrics(),
                        client_id="t", clock_ms=lambda: NOW_MS, transformer=Transformer(Limits(), index.rated_kw),
                        registry=RegistryCheck(index, UnknownDevices(unknown)))


def _pv(power_kw: float) -> Inbound:
    from contract.topics import device_topic

    msg = {"schema_version": 1, "building_code": "510402A001", "device_kind": "pv_inverter", "device_id": "PV-1",
           "units": {"generation_register": "kWh", "power": "kW"},
           "readings": [{"ts_ms": T0_MS, "values": {"generation_register": 10.0, "power": power_kw}}]}
    return Inbound(1, 1, 1, device_topic("510402A001", "pv_inverter", "PV-1"), json.dumps(msg).encode(), NOW_MS)


def test_power_bounded_by_the_rated_capacity_the_fleet_knows():
    b = _fleet_builder()
    b.add(_pv(30.0))  # 20 kWp x 1.5 headroom = 30 kW: plausible
    b.add(_pv(30.5))
    assert _reasons(b.seal()) == ["value_out_of_range"]


def test_unknown_devices_rejected_or_accepted_and_flagged():
    b = _fleet_builder()
    b.add(_good("E-NEW"))
    assert _reasons(b.seal()) == ["unknown_device"]
    b = _fleet_builder("accept")
    b.add(_good("E-NEW"))
    batch = b.seal()
    assert batch.deadletters == [] and len(_stored(batch, "E-NEW")) == 2
    assert [ln.split(",code=")[1].split(",")[0] for ln in batch.lines if ln.startswith("data_quality,")] == [
        "unknown_device"]


def _station(building_code: str) -> Inbound:
    from contract.topics import device_topic

    msg = {"schema_version": 1, "building_code": building_code, "device_kind": "weather_station", "device_id": "WS-01",
           "units": {"air_temperature": "degC", "ghi": "W/m2"},
           "readings": [{"ts_ms": T0_MS, "values": {"air_temperature": 12.5, "ghi": 300.0}}]}
    return Inbound(1, 1, 1, device_topic(building_code, "weather_station", "WS-01"), json.dumps(msg).encode(), NOW_MS)


def test_weather_station_of_a_fleet_building_is_stored_of_an_unknown_one_refused():
    """The fleet file does not list weather stations (the registry's weather_station table does):
    a station on a fleet building is stored; on a building the fleet does not know, unknown_device."""
    b = _fleet_builder()
    b.add(_station("510402A001"))
    batch = b.seal()
    assert batch.deadletters == [] and any(ln.startswith("weather,") for ln in batch.lines)
    b.add(_station("510402A009"))
    assert _reasons(b.seal()) == ["unknown_device"]


@pytest.mark.servers
def test_arbitrary_bytes_through_the_whole_pipeline_into_a_real_influxdb(influxd):
    """Decode, checks, conversion, derivation, encoding and the write itself (the Writer that
    isolates refused lines, against a real InfluxDB 1.6): arbitrary topic and payload bytes between
    good siblings never raise; every message is stored, dead-lettered or refused line by line, and
    the siblings' readings are in the database."""
    import threading
    import uuid

    from ingest.messages import topic_text
    from ingest.writer import Writer
    from storage.influx import InfluxHTTP

    db = InfluxHTTP(influxd.url, f"hyp_{uuid.uuid4().hex[:8]}")
    db.create_database()
    writer = Writer(db, Metrics(), initial_ms=1, max_ms=10, abort=threading.Event())
    seen = []

    @settings(max_examples=60, deadline=None)
    @given(topic=st.binary(max_size=60) | st.just(b"ep/v1/510402A001/meter/E-X/telemetry"),
           payload=st.binary(max_size=200) | json_values.map(lambda v: json.dumps(v).encode())
           | st.builds(lambda v: json.dumps(meter_msg("E-X", [(T0_MS, {"register": v})])).encode(),
                       st.floats(allow_nan=False)))
    def run(topic, payload):
        b = _builder()
        b.add(_good("E-A"))
        b.add(Inbound(1, 2, 1, topic_text(topic), payload, NOW_MS))
        b.add(_good("E-B"))
        batch = b.seal()
        refused = writer.write(batch.lines)
        for index, _error in refused:  # only the odd message's lines may be refused
            assert batch.line_origin[index] == 1, batch.lines[index]
        seen.append(len(batch.deadletters))

    run()
    rows = db.query("SELECT count(register_kwh) FROM meter GROUP BY device_id")
    counts = {s["tags"]["device_id"]: s["values"][0][1] for s in rows}
    assert counts["E-A"] == 2 and counts["E-B"] == 2  # the same two readings each time, overwritten in place
    assert any(seen)  # hypothesis did produce rejected input


def _findings(batch, code: str) -> list[str]:
    return [ln for ln in batch.lines if ln.startswith("data_quality,") and f",code={code}," in ln]


def _pv_night(hours: int) -> Inbound:
    from contract.topics import device_topic

    msg = {"schema_version": 1, "building_code": "510402A001", "device_kind": "pv_inverter", "device_id": "PV-N",
           "units": {"generation_register": "kWh", "power": "kW"},
           "readings": [{"ts_ms": T0_MS + i * 900_000, "values": {"generation_register": 812.5, "power": 0.0}}
                        for i in range(hours * 4 + 1)]}
    return Inbound(1, 1, 1, device_topic("510402A001", "pv_inverter", "PV-N"), json.dumps(msg).encode(), NOW_MS)


def test_a_still_register_is_stuck_only_while_its_device_reports_power_through_it():
    """Default threshold 6 h (21,600 s), readings every 15 min (900 s).
    - A meter at 5 kW whose register stays at 100 kWh: the first still interval ends at T0 + 900 s,
      the episode reaches 21,600 s at T0 + 900 + 21,600 = T0 + 22,500 s (reading 25): one finding
      there, not one per reading after it.
    - The same register with 0 kW (a circuit switched off) and a PV inverter through a 14-hour
      night (0 kW, register still): nothing is stuck."""
    b = _builder()
    running = [(T0_MS + i * 900_000, {"register": 100.0, "power": 5.0}) for i in range(29)]
    off = [(T0_MS + i * 900_000, {"register": 100.0, "power": 0.0}) for i in range(29)]
    for dev, readings in (("E-RUN", running), ("E-OFF", off)):
        b.add(Inbound(1, 1, 1, meter_topic(dev), json.dumps(meter_msg(dev, readings)).encode(), NOW_MS))
    b.add(_pv_night(14))
    stuck = _findings(b.seal(), "stuck_register")
    assert len(stuck) == 1 and "device_id=E-RUN" in stuck[0]
    assert stuck[0].endswith(f" {T0_MS + 22_500_000}")  # stamped at the reading that made it 6 h
    assert "value=21600" in stuck[0]


def test_a_still_register_episode_restarts_when_the_register_moves():
    """Still for 5 h at 5 kW (under the 6 h threshold), one step of 1 kWh, then still for 5 h again:
    no finding, because neither still stretch reaches 6 h on its own."""
    b = _builder()
    regs = [100.0] * 21 + [101.0] * 21  # 20 still intervals (5 h), the step, 20 still intervals
    readings = [(T0_MS + i * 900_000, {"register": v, "power": 5.0}) for i, v in enumerate(regs)]
    b.add(Inbound(1, 1, 1, meter_topic("E-S"), json.dumps(meter_msg("E-S", readings)).encode(), NOW_MS))
    assert _findings(b.seal(), "stuck_register") == []


def test_a_failing_finding_costs_the_finding_not_the_readings(monkeypatch):
    """The findings run after the per-message guard of decoding: if one raised, the batch must
    still be sealed with every reading (a raise there would stop the worker at every redelivery)."""
    b = _builder()

    def boom(*args, **kwargs):
        raise RuntimeError("bug in a finding")

    monkeypatch.setattr(b, "_stuck_finding", boom)
    monkeypatch.setattr(b, "_step_findings", boom)
    readings = [(T0_MS + i * 900_000, {"register": v, "power": 1.0}) for i, v in enumerate([5.0, 5.0, 4.0, 6.0])]
    b.add(Inbound(1, 1, 1, meter_topic("E-F"), json.dumps(meter_msg("E-F", readings)).encode(), NOW_MS))
    batch = b.seal()
    assert len(_stored(batch, "E-F")) == 4 and not batch.deadletters
