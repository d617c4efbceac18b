"""Every simulated message passes the wire contract, in time order; the ground truth equals what
is re-derived from the decoded registers (the platform's rule, computed independently here)."""

from __future__ import annotations

import csv
from collections import defaultdict

import pytest

from contract.topics import parse_topic
from contract.units import UNITS
from simulators.calendar import day_to_date, local_day
from tests.simulators.helpers import decoded, readings_by_device, run, small_fleet

INTERVAL_OF = {"register": "consumption", "generation_register": "generation_kwh",
               "to_grid_register": "to_grid_kwh", "from_grid_register": "from_grid_kwh"}


@pytest.mark.parametrize("readings_per_message", [1, 4])
def test_every_message_decodes_in_time_order(readings_per_message):
    fleet = small_fleet()
    out, _, period, _ = run(fleet, readings_per_message=readings_per_message)
    msgs = decoded(out)  # raises ContractError on any rejection
    kinds = {(m.device_kind.value, m.stream.value) for _, m in msgs}
    assert kinds == {("meter", "telemetry"), ("pv_inverter", "telemetry"), ("pv_meter", "telemetry"),
                     ("ev_pile", "telemetry"), ("ev_pile", "session")}
    due = [o.ts_ms for o in out]
    assert due == sorted(due)
    gw = {b.building_code: b.gateway_id for b in fleet.buildings if b.gateway_id}
    assert gw  # the generated fleet has a gateway building
    for o in out:
        addr = parse_topic(o.topic)
        if addr.building_code in gw and addr.stream is not None and addr.stream.value == "telemetry":
            raise AssertionError(f"telemetry of gateway building on a device topic: {o.topic}")
    n_devices = sum(len(b.meters) + len(b.pv) * 2 + len(b.ev_piles) for b in fleet.buildings)
    telemetry = sum(len(m.readings) for _, m in msgs if m.stream.value == "telemetry")
    assert telemetry == n_devices * period.n  # 3 days x 96 readings for every device


def test_ground_truth_equals_registers_rederived_from_the_wire(tmp_path):
    fleet = small_fleet()
    out, gt, _, _ = run(fleet)
    gt.write_csv(tmp_path / "gt.csv")
    expect: dict[tuple, float] = defaultdict(float)
    carriers = {(b.building_code, m.device_id): m for b in fleet.buildings for m in b.meters}
    for (code, kind, dev, stream), rows in readings_by_device(decoded(out)).items():
        if stream == "session":
            for ts, v in rows:
                if v["event"] == "stop":
                    expect[(code, day_to_date(int(local_day(ts))).isoformat(), "ev_pile", "", "",
                            "pv_energy_kwh")] += v["pv_energy"]
            continue
        units = {}
        for q in INTERVAL_OF:
            series = sorted((ts, v[q]) for ts, v in rows if q in v)
            for (_, prev), (ts, cur) in zip(series, series[1:], strict=False):
                units.setdefault(q, cur)
                if kind == "meter":
                    m = carriers[(code, dev)]
                    unit = "GJ" if m.carrier.value == "district_heat" else (
                        "m3" if m.carrier.value in ("water", "natural_gas") else "kWh")
                    col = "consumption_m3" if unit == "m3" else "consumption_kwh"
                    key = (code, "meter", m.carrier.value, m.sub_item.value if m.sub_item else "")
                else:
                    unit, col = "kWh", INTERVAL_OF[q] if kind != "ev_pile" else "consumption_kwh"
                    key = (code, "pv" if kind.startswith("pv") else "ev_pile", "", "")
                day = day_to_date(int(local_day(ts))).isoformat()
                expect[(key[0], day, *key[1:], col)] += (cur - prev) * UNITS[unit][1]
    got = {}
    with open(tmp_path / "gt.csv", encoding="utf-8") as fh:
        for r in csv.DictReader(fh):
            for col in ("consumption_kwh", "consumption_m3", "generation_kwh", "to_grid_kwh", "from_grid_kwh",
                        "pv_energy_kwh"):
                if r[col] != "":
                    got[(r["building_code"], r["date"], r["measurement"], r["carrier"], r["sub_item"], col)] = \
                        float(r[col])
    assert set(got) == set(expect)
    assert any(k[3] == "district_heat" for k in got)  # the GJ register was converted (x 277.78)
    for k, v in expect.items():
        assert got[k] == pytest.approx(v, abs=1e-5), k
