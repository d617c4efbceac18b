"""The dashboards on data that went the whole way: a generated fleet backfilled by the simulator
over real Mosquitto into the real ingest process and InfluxDB, rolled up by the analytics job,
attributes synced by ``python -m dashboards sync-buildings``. Every panel query runs, and the key
panels equal the simulator's ground-truth file."""

from __future__ import annotations

import csv
import datetime as dt
import json
import re
import subprocess
import sys
import uuid
from collections import defaultdict

import pytest
from numpy.testing import assert_allclose

from contract.localtime import local_midnight
from dashboards import common as c
from dashboards import provisioning
from dashboards.interpolate import Variable
from simulators.fleetgen import generate_fleet
from storage.influx import InfluxHTTP
from tests.dashboards.grafana_emulation import run_panel
from tests.ingest.helpers import ROOT, IngestProcess, ingest_argv, wait_acked, with_metrics

pytestmark = [pytest.mark.servers, pytest.mark.slow]

DAYS = 2
ALL = {
    "district": Variable(("x",), multi=True, include_all=True, all_value="[0-9]{6}", is_all=True),
    "building_type": Variable(("x",), multi=True, include_all=True, all_value="[A-H]", is_all=True),
    "gap_s": Variable("1800"),
}


def _ground_truth(path) -> dict:
    out: dict = defaultdict(float)
    with open(path, encoding="utf-8") as fh:
        for r in csv.DictReader(fh):
            for col in ("consumption_kwh", "generation_kwh", "to_grid_kwh", "sessions"):
                if r[col]:
                    out[(r["building_code"], r["measurement"], r["carrier"], r["sub_item"], col)] += float(r[col])
    return out


def _gt_sum(gt: dict, **match) -> dict[str, float]:
    keys = ("building_code", "measurement", "carrier", "sub_item", "col")
    per: dict = defaultdict(float)
    for k, v in gt.items():
        d = dict(zip(keys, k, strict=True))
        if all(d[m] == want for m, want in match.items()):
            per[d["building_code"]] += v
    return dict(per)


def test_dashboards_on_a_simulated_fleet(tmp_path, mosquitto, influxd, fresh_db):
    fleet = generate_fleet(11, 4)
    fleet_file = tmp_path / "fleet.yaml"
    fleet.dump(fleet_file)
    first = dt.date.today() - dt.timedelta(days=DAYS + 1)
    end = first + dt.timedelta(days=DAYS)
    argv, metrics_port = with_metrics(ingest_argv(mosquitto.port, influxd.url, fresh_db, "--share-group",
                                                  f"dash{uuid.uuid4().hex[:6]}", "--fleet-file", str(fleet_file)))
    ingest = IngestProcess(argv, tmp_path / "ingest.log").start()
    gt_file = tmp_path / "gt.csv"
    try:
        ingest.wait_connected()
        res = subprocess.run([sys.executable, "-m", "simulators", "backfill", "--fleet", str(fleet_file),
                              "--start", first.isoformat(), "--end", end.isoformat(), "--ground-truth",
                              str(gt_file), "--mqtt-port", str(mosquitto.port), "--seed", "5"],
                             cwd=ROOT, capture_output=True, text=True, timeout=300)
        assert res.returncode == 0, res.stderr[-2000:]
        gt = _ground_truth(gt_file)
        want_main = _gt_sum(gt, measurement="meter", carrier="electricity", sub_item="main", col="consumption_kwh")
        db = InfluxHTTP(influxd.url, fresh_db)

        def stored_main() -> float:
            r = db.query('SELECT sum("consumption_kwh") FROM "meter" WHERE "sub_item" = \'main\'')
            return r[0]["values"][0][1] if r else 0.0
        # Every message acked (= written), not only the main meters' readings.
        wait_acked(metrics_port, json.loads(res.stdout.strip().splitlines()[-1])["messages"])
        assert abs(stored_main() - sum(want_main.values())) < 1e-3
    finally:
        ingest.terminate()
    for argv in (["analytics", "--influx-url", influxd.url, "--influx-db", fresh_db, "rollup", "--from",
                  first.isoformat(), "--to", (end - dt.timedelta(days=1)).isoformat()],
                 ["dashboards", "sync-buildings", "--fleet", str(fleet_file), "--influx-url", influxd.url,
                  "--db", fresh_db]):
        r = subprocess.run([sys.executable, "-m", *argv], cwd=ROOT, capture_output=True, text=True, timeout=300)
        assert r.returncode == 0, r.stderr[-2000:]

    from_ms, to_ms = (int(local_midnight(d).timestamp() * 1000) for d in (first, end))
    boards = {d["uid"]: d for d in provisioning.dashboards()}
    variables = {**ALL, "building": Variable(fleet.buildings[0].building_code)}
    runs = {}
    for uid, dash in boards.items():
        for p in dash["panels"]:
            r = run_panel(p, variables, from_ms=from_ms, to_ms=to_ms, url=influxd.url, db=fresh_db)
            for q in r.queries.values():
                assert not re.search(r"\$\w|\$\{|\[\[", q), q
            runs[(uid, p["title"])] = r

    def find(uid, start):
        return next(r for (u, t), r in runs.items() if u == uid and t.startswith(start))

    top = {row["building_code"]: row["electricity_from_grid_kwh"]
           for row in find(c.OVERVIEW_UID, "Top 10 by grid electricity").rows("A")}
    assert set(top) == set(want_main)
    for code, kwh in want_main.items():
        assert_allclose(top[code], kwh, rtol=1e-9, atol=1e-6)  # daily rollups of ingest == ground truth
    b0 = fleet.buildings[0].building_code
    sub = find(c.BUILDING_UID, "Electricity by sub-item")
    want_sub = sum(v for k, v in gt.items() if k[0] == b0 and k[2] == "electricity" and k[3] not in ("main", "")
                   and k[4] == "consumption_kwh")
    assert_allclose(sum(x[1] for s in sub.series["A"] for x in s["values"]), want_sub, rtol=1e-9)
    gen = find(c.PV_UID, "PV generation and export")
    want_gen = sum(_gt_sum(gt, measurement="pv", col="generation_kwh").values())
    assert want_gen > 0
    assert_allclose(sum(x[1] for x in gen.series["A"][0]["values"]), want_gen, rtol=1e-9)
    sessions = find(c.EV_UID, "Finished charging sessions").total("A", "sessions")
    assert sessions == sum(_gt_sum(gt, col="sessions").values()) > 0
    shares = [row["self_consumption"] for row in find(c.PV_UID, "Self-consumption").rows("A")]
    assert shares and all(0 <= s <= 1 for s in shares)
    e = find(c.OVERVIEW_UID, "Electrification share").numbers["D"]
    assert 0 < e <= 1
