"""Collector gateway capacity: connections held with heartbeats, and a month's resend.

Run: ``python -m bench.collectors_gateway`` (about 8 minutes at the defaults). Starts its own
Mosquitto under ``var/bench/``; one gateway process (profile ``default``: framing A, AES-128-CBC)
publishes to it; the collectors are real TCP clients in this process.

1. ``--connections`` collectors connect and authenticate (MD5 challenge), then each sends a
   heartbeat every ``--heartbeat-s`` and a report every ``--report-min`` (staggered), for
   ``--hold-s``. Reported: connections held at the end, heartbeat round trip p50/p95, the
   gateway's CPU share and memory.
2. While those are held, ``--replay-collectors`` more collectors (in a second client process, so
   their CPU does not delay the held connections' heartbeats) each resend ``--replay-days`` of
   15-minute packets (6 meters each) as ``continuous``, each packet acknowledged only after the
   broker's PUBACK. Reported: readings/s over the replay, and the gateway's latency from packet
   arrival to the broker's acknowledgement of its readings (p50/p95).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import os
import random
import resource
import shutil
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
KEY = "0123456789abcdef"
SECRET = "Zm9yLXRlc3RzLW9ubHktMzItYnl0ZXMtbG9uZy1rZXk="
START_MS = 1_764_518_400_000  # 2025-12-01 00:00 China Standard Time


def _pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    s = sorted(values)
    return s[min(len(s) - 1, int(q * len(s)))]


def _registry(folder: Path, buildings: int, gateways: int):
    """``buildings`` buildings with the test meters; per building ``gateways`` held collectors
    (01..) and one replay collector (R1), all with the test points."""
    from registry import repo
    from registry.collectors import CollectorImport, CollectorSpec, PointSpec, import_collectors
    from registry.db import make_engine, migrate, session_scope
    from tests.collectors.helpers import POINTS, fleet_of

    engine = make_engine(f"sqlite:///{folder / 'registry.db'}")
    migrate(engine)
    codes = [f"330100A{i:03d}" for i in range(buildings)]
    with session_scope(engine) as s:
        repo.replace_fleet(session=s, fleet=fleet_of(codes))
    ids = [f"{g:02d}" for g in range(1, gateways + 1)] + ["R1"]
    cs = [CollectorSpec(building_code=b, gateway_id=g, key=KEY) for b in codes for g in ids]
    ps = [PointSpec(building_code=b, gateway_id=g, meter_id=m, function_id=f, item_code=code, device_id=d,
                    quantity=q, unit=u) for b in codes for g in ids for (m, f, code, d, q, u) in POINTS]
    with session_scope(engine) as s:
        import_collectors(session=s, data=CollectorImport(cs, ps), secret=SECRET)
    return engine, codes


def _gateway_main(registry_url: str, mqtt_port: int, conn) -> None:
    """The gateway process: answers 'stats' and 'stop' on ``conn``."""
    import collections

    from collectors.directory import load_directory
    from collectors.mqtt import AckingPublisher, make_mqtt_client
    from collectors.profile import load_profile
    from collectors.server import Gateway
    from collectors.settings import GatewaySettings
    from registry.db import make_engine

    async def main() -> None:
        s = GatewaySettings(host="127.0.0.1", port=0, mqtt_port=mqtt_port, max_connections=50_000)
        directory = load_directory(make_engine(registry_url), SECRET)
        pub = AckingPublisher(make_mqtt_client(client_id=f"bench-gw-{uuid.uuid4().hex[:6]}"),
                              asyncio.get_running_loop())
        pub.connect("127.0.0.1", mqtt_port)
        await asyncio.to_thread(pub.connected.wait, 10)
        gw = Gateway(s, load_profile("default"), directory, pub)
        gw.latencies_s = collections.deque(maxlen=2_000_000)
        conn.send(("ready", await gw.start()))
        loop = asyncio.get_running_loop()
        while True:
            cmd = await loop.run_in_executor(None, conn.recv)
            if cmd == "stop":
                break
            t = os.times()
            lat = list(gw.latencies_s)
            if cmd == "reset":  # from here on only the replay's packets count
                gw.latencies_s.clear()
            conn.send({"authenticated": gw.stats.authenticated, "connections": gw.stats.connections,
                       "readings": gw.stats.readings, "packets": gw.stats.packets,
                       "refusals": dict(gw.refusals), "cpu_s": t.user + t.system,
                       "maxrss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                       "latency_p50_ms": _pct(lat, 0.5) * 1000, "latency_p95_ms": _pct(lat, 0.95) * 1000,
                       "latency_n": len(lat)})
        await gw.stop()
        pub.close()

    asyncio.run(main())


async def _hold(port: int, codes: list[str], gateways: int, n: int, hold_s: float, heartbeat_s: float,
                report_s: float, replay, rtts: list[float], snapshot) -> dict:
    from collectors.client import CollectorClient
    from collectors.profile import load_profile
    from collectors.xmlmsg import Function, Meter
    from contract.localtime import ms_to_local

    p = load_profile("default")
    ids = [(b, f"{g:02d}") for g in range(1, gateways + 1) for b in codes][:n]
    clients: list[CollectorClient] = []
    sem = asyncio.Semaphore(200)

    async def open_one(b: str, g: str) -> None:
        async with sem:
            c = CollectorClient("127.0.0.1", port, p, b, g, KEY)
            await c.connect(60)
            if await c.authenticate(60):
                clients.append(c)

    t0 = time.perf_counter()
    await asyncio.gather(*(open_one(b, g) for b, g in ids))
    connect_s = time.perf_counter() - t0
    loop = asyncio.get_running_loop()
    stop_at = loop.time() + hold_s
    replay_done = asyncio.Event()
    if replay is None:
        replay_done.set()
    failures = {"heartbeat": 0, "report": 0}

    async def live(c: CollectorClient, i: int) -> None:
        rng = random.Random(i)
        loop = asyncio.get_running_loop()
        next_hb = loop.time() + rng.uniform(0, heartbeat_s)
        next_report = loop.time() + rng.uniform(0, report_s)
        register = 1000.0
        while (now := loop.time()) < stop_at or not replay_done.is_set():
            await asyncio.sleep(max(0.0, min(next_hb, next_report) - now))
            now = loop.time()
            try:
                if now >= next_hb:
                    t = time.perf_counter()
                    await c.heartbeat(30)
                    rtts.append(time.perf_counter() - t)
                    next_hb += heartbeat_s
                if now >= next_report:
                    register += 1.5
                    ts = ms_to_local(int(time.time() * 1000) // 900_000 * 900_000).strftime(p.time_format)
                    ok = await c.send_data("report", ts, [Meter("1", "conn", (Function("1", "01A00", "192",
                                                                                        f"{register:.3f}"),))],
                                           sequence=str(i), timeout_s=30)
                    failures["report"] += not ok
                    next_report += report_s
            except Exception:
                failures["heartbeat"] += 1
                return

    tasks = [asyncio.create_task(live(c, i)) for i, c in enumerate(clients)]
    replay_result = await replay() if replay else None
    replay_done.set()
    await asyncio.gather(*tasks)
    alive = sum(not c.closed.is_set() for c in clients)  # before anything is closed
    at_end = await snapshot()  # the gateway's view while they are all still connected
    for c in clients:
        await c.close()
    return {"requested": n, "authenticated": len(clients), "connect_s": round(connect_s, 1), "alive_at_end": alive,
            "heartbeats": len(rtts), "failures": failures, "replay": replay_result,
            "gateway_authenticated_at_end": at_end["authenticated"]}


def _replay_main(port: int, codes: list[str], days: int, conn) -> None:
    conn.send(asyncio.run(_replay(port, codes, days)))


async def _replay(port: int, codes: list[str], days: int) -> dict:
    from collectors.profile import load_profile
    from simulators.collectors import CollectorPlan, CollectorSim, Faults, PointPlan
    from tests.collectors.helpers import POINTS

    p = load_profile("default")
    steps = days * 96
    sims = []
    for i, b in enumerate(codes):
        plan = CollectorPlan(b, "R1", KEY, [PointPlan(m, f, code, d, u, 5.0) for m, f, code, d, q, u in POINTS
                                            if q == "register"])
        sims.append(CollectorSim(plan, p, "127.0.0.1", port, start_ms=START_MS, seed=i,
                                 faults=Faults(outages=[(0, steps - 1)])))
    # The backlog is built first (the collectors' stored month), then all resend at once.
    for s in sims:
        for step in range(steps - 1):
            s.store.append(s.read_meters(step))
    t0 = time.perf_counter()
    await asyncio.gather(*(s.run_from(steps - 1, steps) for s in sims))
    wall = time.perf_counter() - t0
    readings = sum(len(s.truth) for s in sims)
    return {"collectors": len(sims), "packets": sum(s.acked for s in sims), "readings": readings,
            "wall_s": round(wall, 1), "readings_per_s": round(readings / wall),
            "unsent": sum(len(s.store) for s in sims)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--connections", type=int, default=5000)
    ap.add_argument("--buildings", type=int, default=100)
    ap.add_argument("--hold-s", type=float, default=240)
    ap.add_argument("--heartbeat-s", type=float, default=60)
    ap.add_argument("--report-min", type=float, default=15)
    ap.add_argument("--replay-collectors", type=int, default=100)
    ap.add_argument("--replay-days", type=int, default=30)
    args = ap.parse_args()
    from deploy.localservers import Mosquitto

    folder = ROOT / "var" / "bench" / f"collectors-{uuid.uuid4().hex[:6]}"
    folder.mkdir(parents=True)
    mq = Mosquitto(folder / "mosquitto").start()
    gateways = -(-args.connections // args.buildings)
    try:
        engine, codes = _registry(folder, args.buildings, gateways)
        ctx = multiprocessing.get_context("spawn")
        parent, child = ctx.Pipe()
        proc = ctx.Process(target=_gateway_main, args=(str(engine.url), mq.port, child), daemon=True)
        proc.start()
        _, port = parent.recv()
        parent.send("stats")
        before = parent.recv()
        rtts: list[float] = []
        t0 = time.perf_counter()
        replay_codes = codes[:args.replay_collectors]

        async def run() -> dict:
            async def replay() -> dict:
                await asyncio.sleep(min(30.0, args.hold_s / 4))  # the held connections are up first
                parent.send("reset")  # the latency sample: only the replay's packets count
                await asyncio.get_running_loop().run_in_executor(None, parent.recv)
                rparent, rchild = ctx.Pipe()
                rp = ctx.Process(target=_replay_main, args=(port, replay_codes, args.replay_days, rchild), daemon=True)
                rp.start()
                result = await asyncio.get_running_loop().run_in_executor(None, rparent.recv)
                rp.join(30)
                return result

            async def snapshot() -> dict:
                parent.send("stats")
                return await asyncio.get_running_loop().run_in_executor(None, parent.recv)

            return await _hold(port, codes, gateways, args.connections, args.hold_s, args.heartbeat_s,
                               args.report_min * 60, replay if args.replay_collectors else None, rtts, snapshot)

        held = asyncio.run(run())
        wall = time.perf_counter() - t0
        parent.send("stats")
        after = parent.recv()
        parent.send("stop")
        proc.join(30)
        out = {"held": held, "heartbeat_rtt_p50_ms": round(_pct(rtts, 0.5) * 1000, 1),
               "heartbeat_rtt_p95_ms": round(_pct(rtts, 0.95) * 1000, 1),
               "gateway": {"readings": after["readings"],
                           "refusals": after["refusals"],
                           "cpu_share": round((after["cpu_s"] - before["cpu_s"]) / wall, 2),
                           "maxrss_mib": round(after["maxrss_mib"]),
                           "replay_latency_p50_ms": round(after["latency_p50_ms"], 1),
                           "replay_latency_p95_ms": round(after["latency_p95_ms"], 1),
                           "latency_samples": after["latency_n"]},
               "wall_s": round(wall, 1), "loadavg": os.getloadavg()}
        print(json.dumps(out, indent=1))
    finally:
        mq.stop()
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
