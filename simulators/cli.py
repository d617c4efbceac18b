"""``python -m simulators``: fleet, backfill, live and generate subcommands (see docs/simulators.md)."""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
import time
from pathlib import Path

from pydantic import ValidationError
from tqdm import tqdm

from contract.broker import MqttConnection
from contract.localtime import local_midnight_ms
from registry.fleet import Fleet
from simulators.conditions import KINDS as COND_KINDS
from simulators.conditions import Conditions, parse_conditions
from simulators.faults import FaultInjector, parse_spec
from simulators.fleetgen import generate_fleet
from simulators.fleetsim import FleetSim, Period, generate_parallel
from simulators.groundtruth import GroundTruth
from simulators.messages import time_ordered
from simulators.publisher import DEFAULT_WINDOW, Publisher, PublishError


def _date(s: str) -> dt.date:
    try:
        return dt.date.fromisoformat(s)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{s!r} is not a date YYYY-MM-DD") from None


def _mqtt_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--mqtt-host", default="127.0.0.1")
    p.add_argument("--mqtt-port", type=int, default=1883)
    p.add_argument("--mqtt-username")
    p.add_argument("--mqtt-password")
    p.add_argument("--mqtt-tls", action="store_true", help="connect over TLS (verifying the broker's certificate)")
    p.add_argument("--mqtt-ca-file", type=Path, help="CA of the broker's certificate (default: the system's CAs)")
    p.add_argument("--mqtt-cert-file", type=Path, help="client certificate for mutual TLS")
    p.add_argument("--mqtt-key-file", type=Path, help="its key")
    p.add_argument("--client-id", help="MQTT client id (random by default)")
    p.add_argument("--window", type=int, default=DEFAULT_WINDOW,
                   help=f"messages in flight awaiting PUBACK (default {DEFAULT_WINDOW})")


def _broker(args) -> MqttConnection:
    try:
        return MqttConnection(**{k: v for k, v in vars(args).items() if k in MqttConnection.model_fields})
    except ValidationError as e:  # without the input values: one may be a password
        raise ValueError("; ".join(err["msg"] for err in e.errors())) from None


class FleetFileError(ValueError):
    pass


def load_fleet(path: Path, devices_csv: Path | None = None) -> Fleet:
    """A fleet from YAML/JSON, or from the registry's buildings CSV (+ devices CSV); every problem
    is reported with its file and line (registry.importer)."""
    from registry.importer import read_csv_pair, read_fleet_file

    fleet, errors = (read_csv_pair(path, devices_csv) if path.suffix.lower() == ".csv"
                     else read_fleet_file(path))
    if errors or fleet is None:
        raise FleetFileError("invalid fleet file:\n  " + "\n  ".join(str(e) for e in errors))
    return fleet


def _sim_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--fleet", required=True, type=Path,
                   help="fleet file: YAML/JSON, or the registry's buildings CSV (with --devices-csv)")
    p.add_argument("--devices-csv", type=Path, help="devices CSV that goes with a buildings CSV")
    p.add_argument("--seed", type=int, default=1, help="simulation seed (default 1)")
    p.add_argument("--interval-min", type=int, default=15, help="reading interval in minutes (default 15)")
    p.add_argument("--weather-stations", action="store_true",
                   help="one building per 0.5-degree cell publishes the weather that drives the cell "
                        "(device WS-01, kind weather_station)")


def _parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="python -m simulators", description=__doc__)
    sub = ap.add_subparsers(dest="cmd", required=True)
    f = sub.add_parser("fleet", help="generate a fleet file")
    f.add_argument("--seed", type=int, default=1)
    f.add_argument("--size", type=int, default=20)
    f.add_argument("--city", default="leshan")
    f.add_argument("--out", type=Path, required=True)
    for name, help_ in (("backfill", "publish a past period as fast as the broker accepts"),
                        ("generate", "simulate a period without publishing (generation benchmark)")):
        b = sub.add_parser(name, help=help_)
        _sim_args(b)
        b.add_argument("--start", type=_date, required=True, help="first local day (Asia/Shanghai)")
        b.add_argument("--end", type=_date, required=True, help="local day after the last one")
        b.add_argument("--faults", help="fault spec, e.g. 'all' or 'offline=2,spike,malformed'")
        b.add_argument("--fault-seed", type=int, default=None, help="fault seed (default: --seed)")
        b.add_argument("--ground-truth", type=Path, help="write the ground-truth CSV here")
        b.add_argument("--manifest", type=Path, help="write the fault manifest (JSON) here")
        b.add_argument("--readings-per-message", type=int, default=1)
        b.add_argument("--conditions", help="real conditions, e.g. 'all' or 'joins_mid_year,late_upload_30_days' "
                                            f"(of: {', '.join(COND_KINDS)})")
        b.add_argument("--conditions-manifest", type=Path, help="write the conditions and their truth (JSON) here")
        b.add_argument("--fleet-out", type=Path,
                       help="write the fleet as the registry must know it under --conditions (YAML)")
        if name == "generate":
            b.add_argument("--workers", type=int, default=1,
                           help="processes sharing the buildings (not with --faults)")
        if name == "backfill":
            _mqtt_args(b)
            b.add_argument("--chunk-intervals", type=int, default=None,
                           help="intervals simulated at once for all buildings (default: a week)")
    lv = sub.add_parser("live", help="publish readings as their time comes (real time or faster)")
    _sim_args(lv)
    _mqtt_args(lv)
    lv.add_argument("--speed", type=float, default=1.0, help="simulated seconds per second (default 1)")
    lv.add_argument("--start", type=_date,
                    help="first local day; default now (speed 1) or 7 days ago; at speed 1 a past start "
                         "is caught up first, then the run goes on in real time")
    lv.add_argument("--ticks", type=int, help="stop after this many intervals")
    lv.add_argument("--dry-run", action="store_true", help="build and encode messages, publish nothing")
    return ap


def _period(args) -> Period:
    return Period(local_midnight_ms(args.start), local_midnight_ms(args.end), args.interval_min * 60_000)


def _backfill_or_generate(args, publish: bool) -> int:
    fleet = load_fleet(args.fleet, args.devices_csv)
    period = _period(args)
    # Whole-period generation is fastest; backfill simulates a week at a time (bounded memory,
    # messages are then built lazily in time order).
    chunk = getattr(args, "chunk_intervals", None) or (7 * 86_400_000 // period.step_ms if publish else period.n)
    parallel = (not publish and getattr(args, "workers", 1) > 1 and not args.faults and not args.conditions
                and not args.weather_stations)
    sim = None if parallel else FleetSim(fleet, args.seed, period, chunk, args.weather_stations)
    cond = Conditions(fleet, period, args.seed, parse_conditions(args.conditions)) if args.conditions else None
    if cond is None and (args.conditions_manifest or args.fleet_out):
        print("--conditions-manifest and --fleet-out need --conditions", file=sys.stderr)
        return 2
    inj = None
    if args.faults:
        inj = FaultInjector(fleet, period, args.seed if args.fault_seed is None else args.fault_seed,
                            parse_spec(args.faults), args.readings_per_message)
        inj.prepare(sim.sims)
    elif args.manifest:
        print("--manifest needs --faults", file=sys.stderr)
        return 2
    gt = GroundTruth() if args.ground_truth else None
    t0 = time.perf_counter()
    readings = 0
    if parallel:
        with tqdm(total=len(fleet.buildings), unit="building", desc="generate") as bar:
            readings, plains = generate_parallel(fleet, args.seed, period, args.workers, gt is not None, bar)
        for plain in plains:
            gt.merge(plain)
        report = {"buildings": len(fleet.buildings), "intervals": period.n, "readings": readings}
    elif not publish:
        for ch in tqdm(sim.per_building(), total=len(fleet.buildings), unit="building", desc="generate"):
            _apply(ch, cond, gt, inj)
            readings += sum(len(f.ts_ms) for f in ch.devices)
        report = {"buildings": len(fleet.buildings), "intervals": period.n, "readings": readings}
    else:
        bar = tqdm(total=period.n, unit="interval", desc="backfill")

        def chunks():
            for fleet_chunk in sim.chunks():
                for ch in fleet_chunk:
                    _apply(ch, cond, gt, inj)
                bar.update(len(fleet_chunk[0].devices[0].ts_ms) if fleet_chunk and fleet_chunk[0].devices else 0)
                yield fleet_chunk

        stream = time_ordered(fleet.buildings, chunks(), args.readings_per_message)
        if cond:
            stream = cond.stream(stream)
        if inj:
            stream = inj.stream(stream)
        with Publisher(_broker(args), window=args.window, client_id=args.client_id) as pub:
            for out in stream:
                pub.publish(out.topic, out.encode())
                if pub.published % 2000 == 0:
                    bar.set_postfix(messages=pub.published, refresh=False)
        bar.close()
        report = {"buildings": len(fleet.buildings), "intervals": period.n, "messages": pub.published}
    report["seconds"] = round(time.perf_counter() - t0, 3)
    if gt:
        report["ground_truth_rows"] = gt.write_csv(args.ground_truth)
    if inj and args.manifest:
        inj.write_manifest(args.manifest)
        report["faults"] = len(inj.manifest()["faults"])
    if cond:
        report["conditions"] = {c.kind: c.building_code for c in cond.items}
        if args.conditions_manifest:
            cond.write_manifest(args.conditions_manifest)
        if args.fleet_out:
            cond.registry_fleet(fleet).dump(args.fleet_out)
    print(json.dumps(report))
    return 0


def _apply(ch, cond: Conditions | None, gt: GroundTruth | None, inj: FaultInjector | None) -> None:
    """One building's chunk in the order that keeps the ground truth right: conditions that change
    what is metered, the ground truth, conditions that change only how registers show it, faults."""
    if cond:
        cond.apply(ch)
    if gt:
        gt.add(ch)
    if cond:
        cond.apply_registers(ch)
    if inj:
        inj.apply(ch)


def _live(args) -> int:
    from simulators.live import run_live

    fleet = load_fleet(args.fleet, args.devices_csv)
    step = args.interval_min * 60_000
    now_ms = int(time.time() * 1000)
    if args.start is not None:
        start = local_midnight_ms(args.start)
    elif args.speed == 1.0:
        start = now_ms - now_ms % step
    else:
        start = local_midnight_ms(dt.date.today() - dt.timedelta(days=7))
    # Faster than real time must not run ahead of the wall clock (ingest refuses the future).
    stop_at = None if args.speed == 1.0 else now_ms
    pub = None if args.dry_run else Publisher(_broker(args), window=args.window, client_id=args.client_id)
    try:
        with tqdm(total=args.ticks, unit="tick", desc="live") as bar:
            stats = run_live(fleet, pub, seed=args.seed, start_ms=start, step_ms=step, speed=args.speed,
                             max_ticks=args.ticks, stop_at_ms=stop_at, progress=bar,
                             weather_stations=args.weather_stations)
    except KeyboardInterrupt:
        return 130
    finally:
        if pub is not None:
            pub.close()
    print(json.dumps({"ticks": stats.ticks, "late_ticks": stats.late_ticks, "messages": stats.messages,
                      "max_busy_s": round(stats.max_busy_s, 3)}))
    return 0


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["collectors"]:  # MOHURD collectors over TCP: their own command line
        from simulators.collectors_cli import main as collectors_main

        return collectors_main(argv[1:])
    args = _parser().parse_args(argv)
    try:
        if args.cmd == "fleet":
            fleet = generate_fleet(args.seed, args.size, args.city)
            fleet.dump(args.out)
            print(json.dumps({"buildings": len(fleet.buildings), "out": str(args.out)}))
            return 0
        if args.cmd in ("backfill", "generate"):
            return _backfill_or_generate(args, publish=args.cmd == "backfill")
        return _live(args)
    except ValueError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except PublishError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
