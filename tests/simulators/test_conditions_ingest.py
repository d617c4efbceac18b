"""Conditions that cross a process boundary, through real Mosquitto, the real ingest process and
real InfluxDB: a meter replaced on a new device id, one replaced on the same id (register back to
zero), and a collector uploading 30 days late. The stored daily sums per building, local day and
sub-item equal the ground-truth file of the run, and the replacement shows in InfluxDB as it should.

Run: 4 buildings, 14 July to 18 August 2025 (35 local days) at 60 min; replacements on day
35 // 2 = 17 (31 July 00:00 +08:00).
"""

from __future__ import annotations

import csv
import datetime as dt
import json
import subprocess
import sys
import uuid
from collections import defaultdict

import pytest

from contract.localtime import local_midnight_ms
from storage.influx import InfluxHTTP
from tests.ingest.helpers import ROOT, IngestProcess, ingest_argv, wait_until
from tests.simulators.helpers import small_fleet
from tests.simulators.test_end_to_end import _influx_daily

pytestmark = [pytest.mark.servers, pytest.mark.slow]

KINDS = "meter_replaced_new_id,meter_replaced_same_id,late_upload_30_days"
RUN = ("--start", "2025-07-14", "--end", "2025-08-18", "--interval-min", "60", "--seed", "6",
       "--conditions", KINDS)
REPLACED_AT_MS = local_midnight_ms(dt.date(2025, 7, 31))


def _sim(*args: str) -> subprocess.CompletedProcess:
    res = subprocess.run([sys.executable, "-m", "simulators", *args], cwd=ROOT, capture_output=True, text=True,
                         timeout=600)
    assert res.returncode == 0, res.stderr[-2000:]
    return res


def _truth(path) -> dict:
    truth = defaultdict(float)
    with open(path, encoding="utf-8") as fh:
        for r in csv.DictReader(fh):
            if r["measurement"] == "meter":
                for col in ("consumption_kwh", "consumption_m3"):
                    if r[col]:
                        truth[(r["building_code"], r["date"], r["carrier"], r["sub_item"], col)] += float(r[col])
    return dict(truth)


def test_replaced_meters_and_late_upload_through_real_ingest(tmp_path, mosquitto, influxd, fresh_db):
    fleet_file, registry_file = tmp_path / "fleet.yaml", tmp_path / "registry.yaml"
    small_fleet(4).dump(fleet_file)
    # The registry must know the new device before ingest sees it: write it with a dry run.
    _sim("generate", "--fleet", str(fleet_file), *RUN, "--fleet-out", str(registry_file))
    ingest = IngestProcess(ingest_argv(mosquitto.port, influxd.url, fresh_db, "--share-group",
                                       f"cond{uuid.uuid4().hex[:6]}", "--fleet-file", str(registry_file)),
                           tmp_path / "ingest.log").start()
    db = InfluxHTTP(influxd.url, fresh_db)
    try:
        ingest.wait_connected()
        gt_file, manifest = tmp_path / "gt.csv", tmp_path / "conditions.json"
        _sim("backfill", "--fleet", str(fleet_file), *RUN, "--ground-truth", str(gt_file),
             "--conditions-manifest", str(manifest), "--mqtt-port", str(mosquitto.port))
        truth = _truth(gt_file)
        conds = {c["kind"]: c for c in json.loads(manifest.read_text())["conditions"]}
        assert conds["late_upload_30_days"]["truth"]["messages_delayed"] > 0

        def stored() -> dict:
            got = {}
            for (code, day, carrier, sub, f), v in _influx_daily(db, "meter", ["consumption_kwh", "consumption_m3"],
                                                                 "building_code, carrier, sub_item").items():
                got[(code, day, carrier, sub or "", f)] = v
            return got

        def matches() -> bool:
            got = stored()
            return all(got.get(k, 0.0) == pytest.approx(v, abs=1e-4) for k, v in truth.items())

        # The late collector's backlog is published last: wait until ingest has written it all.
        wait_until(matches, 180, "stored daily sums equal to the ground truth")
    finally:
        ingest.terminate()
    got = stored()
    for k, v in truth.items():
        assert got.get(k, 0.0) == pytest.approx(v, abs=1e-4), k
    assert {k for k, v in got.items() if v} <= set(truth)
    assert all(conds[k]["building_code"] in {key[0] for key in truth} for k in conds)

    new = conds["meter_replaced_new_id"]
    rows = db.query(f"SELECT count(register_kwh) FROM meter WHERE building_code = "
                    f"'{new['building_code']}' AND device_id = '{new['new_device_id']}' GROUP BY sub_item")
    assert rows and rows[0]["tags"]["sub_item"] == "hvac"
    # From 31 July 00:00 to 17 August 23:00 (the last reading before the end) at 60 min: 18 x 24 = 432.
    assert rows[0]["values"][0][1] == 18 * 24
    same = conds["meter_replaced_same_id"]
    rows = db.query(f"SELECT consumption_kwh, register_kwh FROM meter WHERE building_code = "
                    f"'{same['building_code']}' AND device_id = '{same['device_id']}' AND "
                    f"time >= {REPLACED_AT_MS - 3_600_000}ms AND time <= {REPLACED_AT_MS}ms")
    (_, _, reg_before), (_, kwh_at, reg_at) = rows[0]["values"]
    # The register dropped to the replacement interval's own energy, which ingest stores as it is.
    assert reg_at < reg_before and kwh_at == pytest.approx(reg_at, abs=1e-9)
    db.close()
