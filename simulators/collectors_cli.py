"""``python -m simulators collectors``: a simulated fleet of MOHURD data collectors.

    python -m simulators collectors plan --fleet fleet.yaml --out DIR [--buildings N] [--serial-from 900]
        writes DIR/fleet.yaml (the buildings, renumbered from serial 900 with --serial-from so they
        do not collide with an MQTT-simulated fleet of the same seed), DIR/collectors.csv and
        DIR/collector_points.csv for ``python -m registry import --fleet DIR/fleet.yaml`` and
        ``python -m registry import --collectors DIR/collectors.csv --points DIR/collector_points.csv``
    python -m simulators collectors run --plans DIR --port 8808 [--profile default] [--start DAY]
        [--steps N] [--pace-s S] [--ground-truth out.csv]
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import datetime as dt
import json
import random
import sys
from pathlib import Path

from collectors.profile import load_profile
from contract.localtime import installed_on_ms
from simulators.collectors import CollectorPlan, CollectorSim, PointPlan, plan_fleet, write_registry_csv


def read_plans(folder: Path) -> list[CollectorPlan]:
    """The plans back from the two CSV files of ``plan`` (keys included: a simulator knows its keys)."""
    with (folder / "collectors.csv").open(encoding="utf-8", newline="") as fh:
        plans = {(r["building_code"], r["gateway_id"]): CollectorPlan(r["building_code"], r["gateway_id"], r["key"],
                                                                      [], r["installed_on"])
                 for r in csv.DictReader(fh)}
    rng = random.Random(0)
    with (folder / "collector_points.csv").open(encoding="utf-8", newline="") as fh:
        for r in csv.DictReader(fh):
            plans[(r["building_code"], r["gateway_id"])].points.append(
                PointPlan(r["meter_id"], r["function_id"], r["item_code"], r["device_id"], r["unit"],
                          rng.uniform(0.5, 10)))
    return list(plans.values())


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(prog="python -m simulators collectors", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    pl = sub.add_parser("plan")
    pl.add_argument("--fleet", type=Path, required=True)
    pl.add_argument("--out", type=Path, required=True)
    pl.add_argument("--buildings", type=int, default=0, help="only the first N buildings (0 = all)")
    pl.add_argument("--seed", type=int, default=1)
    pl.add_argument("--serial-from", type=int, default=0, help="renumber the buildings' 3-digit serials from here")
    rn = sub.add_parser("run")
    rn.add_argument("--plans", type=Path, required=True)
    rn.add_argument("--host", default="127.0.0.1")
    rn.add_argument("--port", type=int, default=8808)
    rn.add_argument("--profile", default="default")
    rn.add_argument("--start", type=dt.date.fromisoformat, default=None, help="first local day (default: today)")
    rn.add_argument("--steps", type=int, default=96, help="15-minute periods to send")
    rn.add_argument("--pace-s", type=float, default=0, help="seconds between periods (0: backfill at full speed)")
    rn.add_argument("--live", action="store_true",
                    help="catch up from --start to now at full speed, then one period every --pace-s (default 900)")
    rn.add_argument("--seed", type=int, default=1)
    rn.add_argument("--ground-truth", type=Path, help="CSV of every register value sent")
    args = ap.parse_args(argv)
    if args.cmd == "plan":
        from registry.fleet import Fleet

        fleet = Fleet.load(args.fleet)
        buildings = fleet.buildings[:args.buildings] if args.buildings else fleet.buildings
        if args.serial_from:
            buildings = [b.model_copy(update={"building_code": f"{b.building_code[:7]}{args.serial_from + i:03d}"})
                         for i, b in enumerate(buildings)]
        fleet = Fleet(buildings=buildings)
        args.out.mkdir(parents=True, exist_ok=True)
        fleet.dump(args.out / "fleet.yaml")
        files = write_registry_csv(plan_fleet(fleet, seed=args.seed), args.out)
        print(json.dumps({"fleet": str(args.out / "fleet.yaml"), "collectors": str(files[0]),
                          "points": str(files[1])}))
        return 0
    profile = load_profile(args.profile)
    start = args.start or dt.date.today()
    sims = [CollectorSim(p, profile, args.host, args.port, start_ms=installed_on_ms(start), seed=args.seed)
            for p in read_plans(args.plans)]
    pace_from = 0
    if args.live:
        import time

        pace_from = max(0, int((time.time() * 1000 - installed_on_ms(start)) // 900_000))
        args.steps = max(args.steps, pace_from + 1_000_000)  # live: until stopped
        args.pace_s = args.pace_s or 900.0
    asyncio.run(_run(sims, args.steps, args.pace_s or None, pace_from))
    if args.ground_truth:
        with args.ground_truth.open("w", newline="", encoding="utf-8") as fh:
            w = csv.writer(fh)
            w.writerow(["building_code", "device_id", "ts_ms", "register"])
            for s in sims:
                w.writerows((b, d, ts, v) for (b, d, ts), v in sorted(s.truth.items()))
    print(json.dumps({"collectors": len(sims), "packets_acked": sum(s.acked for s in sims),
                      "unsent": sum(len(s.store) for s in sims)}))
    return 0 if all(not s.store for s in sims) else 1


async def _run(sims: list[CollectorSim], steps: int, pace_s: float | None, pace_from: int) -> None:
    await asyncio.gather(*(s.run(steps, pace_s=pace_s, pace_from_step=pace_from) for s in sims))


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
