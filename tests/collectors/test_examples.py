"""The protocol document's examples, rebuilt for every shipped profile, through the real gateway
(TCP) -> Mosquitto -> the real ingest service -> InfluxDB: exact values, item codes mapped to
carriers and sub-items, findings instead of values where the packet says the value is bad."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from collectors.client import CollectorClient
from collectors.findings import COUNTS
from collectors.profile import load_profile, profile_names
from collectors.xmlmsg import Function, Meter
from storage.influx import InfluxHTTP
from tests.collectors.helpers import key_for, make_registry, running_gateway, start_ingest, stored
from tests.ingest.helpers import wait_until

pytestmark = pytest.mark.servers

# 2013-03-07 15:01:09 China Standard Time = 07:01:09 UTC = 1362639669 s since the epoch.
T1_TEXT, T1_MS = "20130307150109", 1_362_639_669_000
# 15 minutes later (the example's period): 15:16:09 CST.
T2_TEXT, T2_MS = "20130307151609", 1_362_639_669_000 + 900_000


def meters(ls_kwh: str, hvac_kwh: str, water_m3: str, heat_gj: str) -> list[Meter]:
    return [
        Meter("1", "conn", (Function("1", "01A00", "192", ls_kwh),)),  # the document's example function
        Meter("2", "conn", (Function("1", "01B00", "192", hvac_kwh), Function("2", "01B00", "192", "3.25"))),
        Meter("3", "conn", (Function("1", "02000", "192", water_m3),)),
        Meter("5", "conn", (Function("1", "04000", "192", heat_gj),)),
        Meter("4", "disconn", (Function("1", "03000", "192", "7.0"),)),  # connection to the meter lost
        Meter("6", "conn", (Function("1", "01000", "193", "999.0"),)),  # error 193: a fault, not a value
    ]


def test_examples_through_every_profile_arrive_exactly(tmp_path: Path, mosquitto, influxd, fresh_db):
    names = profile_names()
    assert len(names) >= 6  # default + one per variant
    buildings = {name: f"330100A{100 + i:03d}" for i, name in enumerate(names)}
    profiles = {name: load_profile(name) for name in names}
    engine = make_registry(tmp_path, [(buildings[n], "01", key_for(profiles[n])) for n in names],
                           buildings=tuple(buildings.values()))
    start_ingest(mosquitto.port, influxd.url, fresh_db, tmp_path / "ingest.log")
    findings_before = COUNTS.copy()

    async def scenario() -> None:
        for name in names:
            p = profiles[name]
            async with running_gateway(engine, p, mosquitto.port) as gw:
                c = CollectorClient("127.0.0.1", gw.port, p, buildings[name], "01", key_for(p))
                await c.connect()
                assert await c.authenticate(), name
                assert await c.heartbeat()
                assert c.period_min == 15
                assert await c.send_data("report", T1_TEXT, meters("5.200", "120.5", "88.125", "1.5"),
                                         sequence="00787278"), name
                assert await c.send_data("continuous", T2_TEXT, meters("5.450", "121.0", "88.5", "1.536"),
                                         sequence="00787279", total=1, current=1), name
                await c.close()
                assert gw.stats.readings == 2 * 5, name  # 5 mapped values per packet (4 meters, HVAC has 2)

    asyncio.run(scenario())
    influx = InfluxHTTP(influxd.url, fresh_db)
    for name in names:
        b = buildings[name]
        got = wait_until(lambda b=b: (lambda s: s if len(s) == 8 else None)(stored(influx, b)), 60,
                         f"{name}: 4 devices x 2 times")
        ls1, ls2 = got[("E-LS", T1_MS)], got[("E-LS", T2_MS)]
        assert (ls1["carrier"], ls1["sub_item"], ls1["register_kwh"]) == ("electricity", "lighting_sockets", 5.2)
        assert ls2["register_kwh"] == 5.45
        assert ls2["consumption_kwh"] == pytest.approx(0.25)  # 5.450 - 5.200 kWh
        assert ls2["interval_s"] == 900  # 15:16:09 - 15:01:09
        hvac = got[("E-HVAC", T1_MS)]
        assert (hvac["sub_item"], hvac["register_kwh"], hvac["power_kw"]) == ("hvac", 120.5, 3.25)
        assert got[("E-HVAC", T2_MS)]["consumption_kwh"] == pytest.approx(0.5)  # 121.0 - 120.5
        water = got[("W-1", T2_MS)]
        assert (water["carrier"], water["register_m3"]) == ("water", 88.5)
        assert water["consumption_m3"] == pytest.approx(0.375)  # 88.5 - 88.125 m3
        heat = got[("H-1", T1_MS)]
        assert heat["carrier"] == "district_heat"
        assert heat["register_kwh"] == pytest.approx(1.5 * 1e9 / 3.6e6)  # 1.5 GJ = 416.67 kWh (1 kWh = 3.6 MJ)
        assert got[("H-1", T2_MS)]["consumption_kwh"] == pytest.approx(0.036 * 1e9 / 3.6e6)  # 36 MJ = 10 kWh
        assert not any(dev in ("G-1", "E-MAIN") for dev, _ in got), f"{name}: a finding was stored as a value"
    # Per profile and packet: one disconnected meter and one error status.
    assert COUNTS["meter_disconnected"] - findings_before["meter_disconnected"] == 2 * len(names)
    assert COUNTS["meter_error"] - findings_before["meter_error"] == 2 * len(names)
