"""A simulated collector fleet backfills a week through gateway -> MQTT -> ingest -> InfluxDB and
what is stored equals the simulator's ground truth, with outages, malformed packets and a
collector with a wrong key (whose data must not appear); and the gateway killed in the middle of
a ``continuous`` resend and restarted loses nothing."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from collectors.profile import load_profile
from deploy.localservers import free_port
from simulators.collectors import CollectorSim, Faults, plan_fleet, run_fleet
from storage.influx import InfluxHTTP
from tests.collectors.helpers import (
    SECRET,
    compare_with_truth,
    fleet_of,
    registry_for_plans,
    running_gateway,
    start_ingest,
)
from tests.ingest.helpers import ROOT, wait_acked

pytestmark = [pytest.mark.servers, pytest.mark.slow]

START_MS = 1_767_196_800_000  # 2026-01-01 00:00 China Standard Time
WEEK_STEPS = 7 * 96  # 15-minute periods in a week


def test_fleet_week_equals_ground_truth(tmp_path: Path, mosquitto, influxd, fresh_db):
    codes = ["330100A301", "330100A302", "330100A303", "330100A304", "330100A305"]
    fleet = fleet_of(codes)
    plans = plan_fleet(fleet, seed=7, key_of=lambda b: f"key-{b}"[:16].ljust(16, "0"))
    engine = registry_for_plans(tmp_path, fleet, plans)
    gw_profile = load_profile("default")  # accepts framings A and B
    as_b = gw_profile.model_copy(update={"framing": ("B",)})
    _ingest, metrics_port = start_ingest(mosquitto.port, influxd.url, fresh_db, tmp_path / "ingest.log")

    async def scenario() -> list[CollectorSim]:
        async with running_gateway(engine, gw_profile, mosquitto.port) as gw:
            sims = [
                CollectorSim(plans[0], gw_profile, "127.0.0.1", gw.port, start_ms=START_MS, seed=1),
                CollectorSim(plans[1], as_b, "127.0.0.1", gw.port, start_ms=START_MS, seed=2,
                             faults=Faults(outages=[(100, 300), (500, 510)])),
                CollectorSim(plans[2], gw_profile, "127.0.0.1", gw.port, start_ms=START_MS, seed=3,
                             faults=Faults(malformed_at={50, 400})),
                CollectorSim(plans[3], as_b, "127.0.0.1", gw.port, start_ms=START_MS, seed=4,
                             faults=Faults(outages=[(0, 96)])),
                CollectorSim(plans[4], gw_profile, "127.0.0.1", gw.port, start_ms=START_MS, seed=5,
                             faults=Faults(wrong_key=True)),
            ]
            await run_fleet(sims, WEEK_STEPS)
            assert gw.refusals["undecryptable"] >= 1  # the wrong key
            assert gw.refusals["malformed_xml"] == 2
            return sims

    sims = asyncio.run(scenario())
    good, wrong = sims[:4], sims[4]
    assert all(not s.store for s in good), [len(s.store) for s in good]
    # Each outage's backlog, plus the reading of the first period back, came as one continuous run.
    assert sims[1].continuous_acked == (200 + 1) + (10 + 1)
    assert sims[3].continuous_acked == 96 + 1
    packets = sum(s.acked for s in good)
    assert packets == 4 * WEEK_STEPS  # every period of every good collector, once
    wait_acked(metrics_port, packets)  # one gateway batch per packet
    influx = InfluxHTTP(influxd.url, fresh_db)
    n, bad = compare_with_truth(influx, good)
    assert n == 4 * WEEK_STEPS * 6  # 6 meters each
    assert bad == []
    assert wrong.acked == 0 and wrong.auth_failures >= 1
    _, bad_wrong = compare_with_truth(influx, [wrong])
    assert len(bad_wrong) == len(wrong.truth)  # nothing of the wrong-key collector was stored


class GatewayProcess:
    def __init__(self, argv: list[str], env: dict, log_path: Path):
        self.argv, self.env, self.log_path = argv, env, log_path
        self.proc: subprocess.Popen | None = None

    def start(self) -> GatewayProcess:
        seen = self.log_path.read_text().count('"msg": "listening"') if self.log_path.exists() else 0
        log = open(self.log_path, "ab")  # noqa: SIM115 - the child writes to it
        self.proc = subprocess.Popen(self.argv, stdout=log, stderr=subprocess.STDOUT, cwd=ROOT, env=self.env)
        deadline = time.monotonic() + 30
        while self.log_path.read_text().count('"msg": "listening"') <= seen:
            assert self.proc.poll() is None, self.log_path.read_text()[-3000:]
            assert time.monotonic() < deadline, "gateway did not start"
            time.sleep(0.05)
        return self

    def kill(self) -> None:
        self.proc.kill()
        self.proc.wait(10)


def test_gateway_killed_mid_continuous_loses_nothing(tmp_path: Path, mosquitto, influxd, fresh_db):
    codes = ["330100A401", "330100A402"]
    fleet = fleet_of(codes)
    plans = plan_fleet(fleet, seed=11, key_of=lambda b: "0123456789abcdef")
    engine = registry_for_plans(tmp_path, fleet, plans)
    port = free_port()
    env = {**os.environ, "PYTHONPATH": str(ROOT), "EP_COLLECTOR_KEY_SECRET": SECRET}
    gw_argv = [sys.executable, "-m", "collectors", "serve", "--host", "127.0.0.1", "--port", str(port),
               "--mqtt-port", str(mosquitto.port), "--registry-url", str(engine.url), "--profile", "framing-a-zero",
               "--client-id", f"gw-kill-{port}"]
    gw = GatewayProcess(gw_argv, env, tmp_path / "gateway.log").start()
    _ingest, metrics_port = start_ingest(mosquitto.port, influxd.url, fresh_db, tmp_path / "ingest.log")
    profile = load_profile("framing-a-zero")
    steps = 3 * 96  # three days, all stored during an outage, then resent as one continuous run

    async def scenario() -> list[CollectorSim]:
        sims = [CollectorSim(p, profile, "127.0.0.1", port, start_ms=START_MS, seed=i, ack_timeout_s=5,
                             faults=Faults(outages=[(0, steps - 1)])) for i, p in enumerate(plans)]
        runs = asyncio.gather(*(s.run(steps, settle_s=120, retry_s=0.2) for s in sims))
        # Kill the gateway once the continuous resend is under way, in the middle of it.
        while sims[0].continuous_acked < 60:
            await asyncio.sleep(0.01)
        await asyncio.to_thread(gw.kill)
        killed_at = sims[0].continuous_acked
        assert 0 < killed_at < steps
        await asyncio.sleep(1.0)
        await asyncio.to_thread(gw.start)
        await runs
        return sims

    try:
        sims = asyncio.run(scenario())
    finally:
        if gw.proc.poll() is None:
            gw.kill()
    assert all(not s.store for s in sims)
    # Packets acknowledged before the kill are not sent again; the one in flight may be: at least steps each.
    wait_acked(metrics_port, sum(s.acked for s in sims))
    n, bad = compare_with_truth(InfluxHTTP(influxd.url, fresh_db), sims)
    assert n == 2 * steps * 6
    assert bad == []
