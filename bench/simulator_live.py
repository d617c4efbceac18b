"""Live scale: how many devices one simulator process keeps on schedule at a 1-minute interval.

Run: ``python -m bench.simulator_live [--devices 5000 10000 20000] [--speed 6] [--ticks 8]``.
Starts a real Mosquitto (deploy.localservers) and publishes with QoS 1, waiting for every PUBACK
within each tick. ``--speed 6`` runs 1-minute readings every 10 s of wall time, so a fleet that
stays on schedule here has six times the headroom it needs in real time. The next 60 intervals
(lookahead) are simulated in a background thread that competes with publishing for the CPU.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import statistics
import tempfile
from pathlib import Path

from contract.localtime import local_midnight_ms
from deploy.localservers import Mosquitto
from simulators.fleetgen import generate_fleet
from simulators.live import run_live
from simulators.publisher import Publisher


def fleet_with(devices: int):
    size = max(3, round(devices / 8.85))  # generated fleets average ~8.85 devices per building
    for _ in range(20):
        f = generate_fleet(1, size)
        n = sum(len(b.meters) + 2 * len(b.pv) + len(b.ev_piles) for b in f.buildings)
        if abs(n - devices) / devices < 0.02:
            return f, n
        size = max(3, round(size * devices / n))
    return f, n


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--devices", type=int, nargs="+", default=[5000, 10000, 20000])
    ap.add_argument("--speed", type=float, default=6.0)
    ap.add_argument("--ticks", type=int, default=8)
    args = ap.parse_args()
    results = []
    with tempfile.TemporaryDirectory(dir=Path("var")) as tmp:
        broker = Mosquitto(Path(tmp) / "mosquitto").start()
        try:
            for target in args.devices:
                fleet, n = fleet_with(target)
                pub = Publisher(broker.connection(), window=1000)
                stats = run_live(fleet, pub, seed=1, start_ms=local_midnight_ms(dt.date(2025, 7, 14)) + 9 * 3_600_000,
                                 step_ms=60_000, speed=args.speed, max_ticks=args.ticks)
                pub.close()
                tick_s = 60.0 / args.speed
                steady = stats.busy_s[1:] or stats.busy_s
                results.append({
                    "devices": n, "buildings": len(fleet.buildings), "ticks": stats.ticks,
                    "tick_period_s": tick_s, "late_ticks": stats.late_ticks, "messages": stats.messages,
                    "first_tick_busy_s": round(stats.busy_s[0], 2),
                    "steady_tick_busy_median_s": round(statistics.median(steady), 2),
                    "max_busy_s": round(stats.max_busy_s, 2),
                    # At 1-minute real time a tick may take up to 60 s.
                    "devices_on_schedule_at_1min_estimate": int(n * 60.0 / stats.max_busy_s),
                })
                print(json.dumps(results[-1]), flush=True)
        finally:
            broker.stop()
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
