"""Upstream forwarding into a second gateway instance with another profile (the upper-level data
centre): what arrives there equals what the collectors sent, also when the upper level was down
while the data came in."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from collectors.profile import load_profile
from collectors.upstream import Upstream, UpstreamConfig
from deploy.localservers import free_port
from registry.collectors import import_collectors, read_collector_csv
from registry.db import session_scope
from simulators.collectors import CollectorSim, plan_fleet, run_fleet
from tests.collectors.helpers import (
    HEX_KEY,
    SECRET,
    fleet_of,
    registry_for_plans,
    running_gateway,
    write_csv,
)
from tests.ingest.helpers import Collector, wait_until

pytestmark = [pytest.mark.servers, pytest.mark.slow]

START_MS = 1_767_196_800_000  # 2026-01-01 00:00 China Standard Time
STEPS = 96  # one day of 15-minute periods


def test_upstream_after_an_outage_of_the_upper_level(tmp_path: Path, mosquitto):
    codes = ["330100A501", "330100A502"]
    fleet = fleet_of(codes)
    plans = plan_fleet(fleet, seed=3, key_of=lambda b: "0123456789abcdef")
    city = registry_for_plans(tmp_path / "city", fleet, plans)
    # The province knows the city platform as collector CITY01 of each building, with its own key
    # and the city's meters renumbered <local gateway>.<meter>.
    (tmp_path / "province").mkdir()
    province = registry_for_plans(tmp_path / "province", fleet, [])
    cfile = write_csv(tmp_path / "province" / "collectors.csv", ["building_code", "gateway_id", "key"],
                      [(b, "CITY01", HEX_KEY) for b in codes])
    pfile = write_csv(tmp_path / "province" / "points.csv",
                      ["building_code", "gateway_id", "meter_id", "function_id", "item_code", "device_id",
                       "quantity", "unit"],
                      [(p.building_code, "CITY01", f"01.{q.meter_id}", q.function_id, q.item_code, q.device_id,
                        "register", q.unit) for p in plans for q in p.points])
    with session_scope(province) as s:
        data, errors = read_collector_csv(s, cfile, pfile)
        assert not errors, errors
        import_collectors(session=s, data=data, secret=SECRET)
    upper_port = free_port()
    upper_profile = load_profile("framing-b-crc")  # the upper level speaks another profile
    cfg = UpstreamConfig(host="127.0.0.1", port=upper_port, profile="framing-b-crc", gateway_id="CITY01",
                         period_s=0.3, outbox=tmp_path / "outbox.db", ack_timeout_s=5)
    arrived = Collector(mosquitto.port, "ep/v1/+/gateway/CITY01/batch")

    async def scenario() -> list[CollectorSim]:
        up = Upstream(cfg, key=HEX_KEY)
        await up.start()
        try:
            async with running_gateway(city, load_profile("default"), mosquitto.port, on_accepted=up.enqueue) as gw:
                sims = [CollectorSim(p, load_profile("default"), "127.0.0.1", gw.port, start_ms=START_MS, seed=i)
                        for i, p in enumerate(plans)]
                await run_fleet(sims, STEPS)  # the upper level is down all this time
                await asyncio.sleep(1.0)
                assert up.stats.failures >= 1 and up.stats.packets_acked == 0
                assert up.outbox.count() == 2 * STEPS * 6  # buildings x periods x meters, all kept
                async with running_gateway(province, upper_profile, mosquitto.port, port=upper_port):
                    for _ in range(600):
                        if up.outbox.count() == 0:
                            break
                        await asyncio.sleep(0.1)
                    assert up.outbox.count() == 0
                    assert up.stats.packets_acked == 2 * STEPS
            return sims
        finally:
            await up.stop()

    sims = asyncio.run(scenario())
    msgs = wait_until(lambda: arrived.wait_for(2 * STEPS, 60), 60, "province batches")
    arrived.close()
    got = {}
    for _topic, batch in msgs:
        for m in batch["messages"]:
            for r in m["readings"]:
                got[(m["building_code"], m["device_id"], r["ts_ms"])] = r["values"]["register"]
    want = {k: v for s in sims for k, v in s.truth.items()}
    assert len(want) == 2 * STEPS * 6
    assert got == want
