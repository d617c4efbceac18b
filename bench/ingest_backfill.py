"""Backfill through real ingest: simulated history of a fleet, beside InfluxDB's own time (issue 13 goal 3).

Run: ``python -m bench.ingest_backfill [--buildings 1000] [--days 1] [--start 2025-07-07]``. Starts its
own Mosquitto and InfluxDB under ``var/bench/``. The simulator (``simulators/``, the messages
``python -m simulators backfill`` publishes: time order, gateway batches where the building has a
gateway) builds the period's messages; they are queued at the broker for ingest's persistent
session, then :class:`ingest.service.IngestService` drains them (QoS 1, ack after the write) into a
fresh database: wall time from the MQTT connect to the last acknowledgement. Then the lines ingest
wrote for the same messages (ingest's own ``BatchBuilder``, bench/ingest_ceiling.py), pre-encoded,
are posted in 5000-line batches by one writer to another fresh database: InfluxDB's own time.

The year is projected from the slice (x 365 / days): each day of a backfill costs the same work
per reading, but a real year grows InfluxDB's index and shards, which a day does not show.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import logging
import os
import shutil
import time
import uuid

from bench.ingest_ceiling import INGEST_WRITERS, encoded_bodies, post_rate
from bench.ingest_throughput import ROOT, drain_ingest_counted, prepare_session, publish_all
from contract.localtime import local_midnight_ms
from contract.payloads import GatewayBatch
from contract.topics import INGEST_FILTER
from contract.units import Dimension
from contract.vocabulary import MEASUREMENT, DeviceKind, field_name
from deploy.localservers import Influxd, Mosquitto
from simulators.fleetgen import generate_fleet
from simulators.fleetsim import FleetSim, Period
from simulators.messages import time_ordered
from storage.influx import InfluxHTTP, quote_ident

METER = MEASUREMENT[DeviceKind.meter]
CONSUMPTION = field_name("consumption", Dimension.energy)


def simulated(buildings: int, start: dt.date, days: int, per_message: int) -> tuple[list[tuple[str, bytes]], int]:
    """(topic, payload) of the fleet's period in publishing order, and the readings they carry;
    ``per_message``: readings per device message (the simulator's ``--readings-per-message``)."""
    fleet = generate_fleet(1, buildings)
    period = Period(local_midnight_ms(start), local_midnight_ms(start + dt.timedelta(days=days)))
    out, readings = [], 0
    for o in time_ordered(fleet.buildings, FleetSim(fleet, 1, period, 7 * 96).chunks(), per_message):
        msgs = o.message.messages if isinstance(o.message, GatewayBatch) else [o.message]
        readings += sum(len(m.readings) for m in msgs)
        out.append((o.topic, o.encode()))
    return out, readings


def _load() -> str:
    with open("/proc/loadavg") as fh:
        return " ".join(fh.read().split()[:3])


def run(buildings: int, start: dt.date, days: int, per_message: int = 1, cache_mib: int | None = None) -> dict:
    """``cache_mib``: ingest's ``register_cache_mib`` (None: its default)."""
    t0 = time.perf_counter()
    msgs, readings = simulated(buildings, start, days, per_message)
    sim_s = time.perf_counter() - t0
    bodies = encoded_bodies(msgs)  # ingest's lines, before any clock runs
    points = sum(b.count(b"\n") + 1 for b in bodies)
    state = ROOT / "var" / "bench" / f"backfill-{uuid.uuid4().hex[:6]}"
    mq = Mosquitto(state / "mosquitto").start()
    ix = Influxd(state / "influxdb").start()
    try:
        cid, db = f"b-backfill-{uuid.uuid4().hex[:6]}", f"backfill_{uuid.uuid4().hex[:6]}"
        InfluxHTTP(ix.url, db).create_database()
        prepare_session(mq.port, cid, INGEST_FILTER)
        publish_all(mq.port, msgs)
        load_ingest = _load()
        extra = {} if cache_mib is None else {"register_cache_mib": cache_mib}
        ingest_s, counters = drain_ingest_counted(mq.port, ix.url, db, cid, len(msgs), **extra)
        shown = InfluxHTTP(ix.url, db).query("SHOW MEASUREMENTS")
        # The interval values ingest derived, summed: equal across cache sizes when none is wrong.
        summed = InfluxHTTP(ix.url, db).query(
            f"SELECT SUM({quote_ident(CONSUMPTION)}) FROM {quote_ident(METER)}")  # noqa: S608 - quoted
        consumption = summed[0]["values"][0][1] if summed and summed[0].get("values") else None
        measurements = {v[0] for s in shown for v in s.get("values", [])}
        assert "ingest_deadletter" not in measurements, "ingest dead-lettered simulated messages"
        load_influx = _load()
        rate, posted = post_rate(ix.url, bodies, INGEST_WRITERS)
    finally:
        mq.stop()
        ix.stop()
        shutil.rmtree(state, ignore_errors=True)
    influx_s = posted / rate
    year = 365 / days
    return {"machine_cpus": os.cpu_count(), "buildings": buildings, "start": start.isoformat(), "days": days,
            "readings_per_message": per_message, "register_cache_mib": cache_mib or "default",
            "messages": len(msgs), "readings": readings, "lines": points,
            "stored_consumption_kwh": round(consumption, 3) if consumption is not None else None,
            "simulate_and_encode_s": round(sim_s, 1),
            "register_lookups": counters["lookups"], "register_cache_evictions": counters["evictions"],
            "ingest_s": round(ingest_s, 2), "ingest_readings_per_s": round(readings / ingest_s),
            "load_at_ingest": load_ingest, "influx_1_writer_s": round(influx_s, 2),
            "influx_points_per_s": round(rate), "load_at_influx": load_influx,
            "ingest_over_influx_time": round(ingest_s / influx_s, 2),
            "year_projected_ingest_h": round(ingest_s * year / 3600, 2),
            "year_projected_influx_h": round(influx_s * year / 3600, 2)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--buildings", type=int, default=1000)
    ap.add_argument("--days", type=int, default=1)
    ap.add_argument("--start", type=dt.date.fromisoformat, default=dt.date(2025, 7, 7))
    ap.add_argument("--readings-per-message", type=int, default=1)
    ap.add_argument("--register-cache-mib", type=int, default=None,
                    help="ingest's register cache budget (default: ingest's own); small to measure a cache "
                         "that cannot hold the fleet")
    args = ap.parse_args()
    # The simulator's registers stand still at night (PV, idle piles): stuck_register findings are
    # expected, and their warnings (once per device) would bury the report.
    logging.getLogger("ingest.findings").setLevel(logging.ERROR)
    print(json.dumps(run(args.buildings, args.start, args.days, args.readings_per_message,
                         args.register_cache_mib), indent=2))


if __name__ == "__main__":
    main()
