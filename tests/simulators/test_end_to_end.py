"""A backfilled week through real Mosquitto, the real ingest process and real InfluxDB matches the
ground-truth file: same interval energy per building, local day and sub-item."""

from __future__ import annotations

import csv
import subprocess
import sys
import time
import uuid
from collections import defaultdict

import pytest

from registry.fleet import Fleet
from simulators.calendar import day_to_date, local_day
from storage.influx import InfluxHTTP
from tests.ingest.helpers import ROOT, IngestProcess, ingest_argv, wait_until
from tests.simulators.helpers import small_fleet

pytestmark = [pytest.mark.servers, pytest.mark.slow]

DAYS = ("2025-07-14", "2025-07-21")  # one week, Monday to Sunday


def _date(t) -> str:
    # Buckets start at local midnight (tz clause); InfluxHTTP returns epoch milliseconds.
    return day_to_date(int(local_day(int(t)))).isoformat()


def _influx_daily(db: InfluxHTTP, measurement: str, fields: list[str], group: str) -> dict:
    sel = ", ".join(f'sum("{f}") AS "{f}"' for f in fields)
    q = (f'SELECT {sel} FROM "{measurement}" WHERE time >= \'2025-07-13T00:00:00Z\' '
         f"GROUP BY time(1d), {group} tz('Asia/Shanghai')")
    out = {}
    for series in db.query(q):
        tags = series.get("tags", {})
        for row in series["values"]:
            rec = dict(zip(series["columns"], row, strict=True))
            day = _date(rec["time"])
            for f in fields:
                if rec[f] is not None:
                    out[(tags.get("building_code"), day, tags.get("carrier", ""), tags.get("sub_item", ""), f)] = rec[f]
    return out


def test_backfilled_week_matches_ground_truth(tmp_path, mosquitto, influxd, fresh_db):
    fleet_file = tmp_path / "fleet.yaml"
    small_fleet(4).dump(fleet_file)
    ingest = IngestProcess(ingest_argv(mosquitto.port, influxd.url, fresh_db, "--share-group",
                                       f"sim{uuid.uuid4().hex[:6]}", "--fleet-file", str(fleet_file)),
                           tmp_path / "ingest.log").start()
    try:
        ingest.wait_connected()
        gt_file = tmp_path / "gt.csv"
        res = subprocess.run([sys.executable, "-m", "simulators", "backfill", "--fleet", str(fleet_file),
                              "--start", DAYS[0], "--end", DAYS[1], "--ground-truth", str(gt_file),
                              "--mqtt-port", str(mosquitto.port), "--seed", "5"],
                             cwd=ROOT, capture_output=True, text=True, timeout=300)
        assert res.returncode == 0, res.stderr[-2000:]
        truth = defaultdict(float)
        with open(gt_file, encoding="utf-8") as fh:
            rows = list(csv.DictReader(fh))
        for r in rows:
            for col in ("consumption_kwh", "consumption_m3", "generation_kwh", "to_grid_kwh", "from_grid_kwh",
                        "pv_energy_kwh", "sessions"):
                if r[col]:
                    truth[(r["building_code"], r["date"], r["measurement"], r["carrier"], r["sub_item"], col)] += \
                        float(r[col])
        db = InfluxHTTP(influxd.url, fresh_db)
        fleet = Fleet.load(fleet_file)
        n_devices = sum(len(b.meters) + len(b.pv) * 2 + len(b.ev_piles) for b in fleet.buildings)
        expected_readings = n_devices * 7 * 96

        def stored() -> int:
            total = 0
            for meas, field in (("meter", "power_kw"), ("meter", "register_m3"), ("pv", "power_kw"),
                                ("ev_pile", "register_kwh")):
                r = db.query(f'SELECT count("{field}") FROM "{meas}"')
                total += r[0]["values"][0][1] if r else 0
            return total

        # Electricity meters carry power; water/gas carry only registers (m3); heat meters only
        # register_kwh, so count them apart.
        heat = sum(1 for b in fleet.buildings for m in b.meters if m.carrier.value == "district_heat")
        wait_until(lambda: stored() >= expected_readings - heat * 7 * 96, 120,
                   f"{expected_readings} readings in InfluxDB")
        got = {}
        for (code, day, carrier, sub, f), v in _influx_daily(db, "meter", ["consumption_kwh", "consumption_m3"],
                                                             "building_code, carrier, sub_item").items():
            got[(code, day, "meter", carrier, sub or "", f)] = v
        for (code, day, _, _, f), v in _influx_daily(db, "pv", ["generation_kwh", "to_grid_kwh", "from_grid_kwh"],
                                                     "building_code").items():
            got[(code, day, "pv", "", "", f)] = v
        for (code, day, _, _, f), v in _influx_daily(db, "ev_pile", ["consumption_kwh"], "building_code").items():
            got[(code, day, "ev_pile", "", "", f)] = v
        q = ("SELECT sum(pv_energy_kwh), count(energy_kwh) FROM ev_session WHERE time >= '2025-07-13T00:00:00Z' "
             "GROUP BY time(1d), building_code tz('Asia/Shanghai')")
        for series in db.query(q):
            for t, pv, n in series["values"]:
                if n:
                    got[(series["tags"]["building_code"], _date(t), "ev_pile", "", "", "pv_energy_kwh")] = pv
                    got[(series["tags"]["building_code"], _date(t), "ev_pile", "", "", "sessions")] = n
    finally:
        ingest.terminate()
    nonzero = {k for k, v in truth.items() if v != 0}
    assert nonzero <= set(got), sorted(nonzero - set(got))[:5]
    assert {k for k, v in got.items() if v != 0} <= set(truth), sorted(set(got) - set(truth))[:5]
    for k, v in truth.items():
        assert got.get(k, 0.0) == pytest.approx(v, abs=1e-4), k
    assert len(truth) > 200


def test_ingest_dead_letters_exactly_the_malformed_faults_of_the_manifest(tmp_path, own_mosquitto, influxd,
                                                                          fresh_db):
    import json
    from collections import Counter

    from tests.ingest.helpers import Collector

    fleet_file = tmp_path / "fleet.yaml"
    small_fleet(4).dump(fleet_file)
    dead = Collector(own_mosquitto.port, "ep/v1/deadletter/#")
    ingest = IngestProcess(ingest_argv(own_mosquitto.port, influxd.url, fresh_db, "--fleet-file", str(fleet_file)),
                           tmp_path / "ingest.log").start()
    try:
        ingest.wait_connected()
        manifest = tmp_path / "faults.json"
        res = subprocess.run([sys.executable, "-m", "simulators", "backfill", "--fleet", str(fleet_file),
                              "--start", "2025-07-14", "--end", "2025-07-16", "--faults", "all",
                              "--manifest", str(manifest), "--mqtt-port", str(own_mosquitto.port)],
                             cwd=ROOT, capture_output=True, text=True, timeout=300)
        assert res.returncode == 0, res.stderr[-2000:]
        faults = json.loads(manifest.read_text())["faults"]
        expected = Counter(f["expected_reject_reason"] for f in faults if f["expected_reject_reason"])
        assert len(expected) == 14 and set(expected.values()) == {1}  # one of each RejectReason
        got = dead.wait_for(sum(expected.values()), 60)
        time.sleep(2)  # anything rejected beyond the manifest would arrive by now
        got = Counter(topic.rsplit("/", 1)[-1] for topic, _ in dead.messages)
    finally:
        ingest.terminate()
        dead.close()
    # Duplicates, delays, gaps, spikes, resets, rollovers and skew are data faults, not wire faults:
    # only the malformed ones are dead-lettered, each with the reason the manifest names.
    assert got == expected
