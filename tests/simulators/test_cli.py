"""``python -m simulators`` as a real subprocess: fleet files, generation, errors, live ticks."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from registry.fleet import Fleet
from tests.ingest.helpers import ROOT


def sim(*args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "simulators", *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=timeout)


def test_fleet_file_is_reproducible_and_loads(tmp_path):
    a, b = tmp_path / "a.yaml", tmp_path / "b.yaml"
    assert sim("fleet", "--seed", "4", "--size", "12", "--out", str(a)).returncode == 0
    assert sim("fleet", "--seed", "4", "--size", "12", "--out", str(b)).returncode == 0
    assert a.read_bytes() == b.read_bytes()
    fleet = Fleet.load(a)
    assert len(fleet.buildings) == 12
    assert all(b.building_code.startswith("5111") for b in fleet.buildings)  # Leshan district codes


@pytest.fixture(scope="module")
def fleet3(tmp_path_factory):
    f = tmp_path_factory.mktemp("fleet") / "f.yaml"
    assert sim("fleet", "--seed", "4", "--size", "3", "--out", str(f)).returncode == 0
    return f


def test_generate_reports_readings_and_writes_ground_truth(tmp_path, fleet3):
    f = fleet3
    res = sim("generate", "--fleet", str(f), "--start", "2025-03-01", "--end", "2025-03-03",
              "--ground-truth", str(tmp_path / "gt.csv"))
    assert res.returncode == 0, res.stderr
    report = json.loads(res.stdout.strip().splitlines()[-1])
    n_devices = sum(len(b.meters) + 2 * len(b.pv) + len(b.ev_piles) for b in Fleet.load(f).buildings)
    assert report["readings"] == n_devices * 2 * 96  # 2 days x 96 quarter hours
    assert report["ground_truth_rows"] > 0 and (tmp_path / "gt.csv").exists()


def test_generate_in_two_processes_gives_the_same_ground_truth(tmp_path):
    f = tmp_path / "f.yaml"
    assert sim("fleet", "--seed", "6", "--size", "8", "--out", str(f)).returncode == 0
    for w in ("1", "2"):
        res = sim("generate", "--fleet", str(f), "--start", "2025-03-01", "--end", "2025-03-04", "--workers", w,
                  "--ground-truth", str(tmp_path / f"gt{w}.csv"))
        assert res.returncode == 0, res.stderr
    assert (tmp_path / "gt1.csv").read_bytes() == (tmp_path / "gt2.csv").read_bytes()


@pytest.mark.parametrize(("args", "message"), [
    (["--faults", "flood"], "'flood'"),
    (["--start", "2025-03-03", "--end", "2025-03-01"], "not after its start"),
])
def test_bad_options_exit_2_with_the_bad_value(fleet3, args, message):
    f = fleet3
    base = {"--start": "2025-03-01", "--end": "2025-03-02"}
    for i in range(0, len(args), 2):
        base[args[i]] = args[i + 1]
    res = sim("generate", "--fleet", str(f), *[x for kv in base.items() for x in kv])
    assert res.returncode == 2
    assert message in res.stderr


def test_live_dry_run_keeps_ticks(fleet3):
    f = fleet3
    # 1-minute readings at 600x: a tick every 0.1 s.
    res = sim("live", "--fleet", str(f), "--interval-min", "1", "--speed", "600", "--start", "2025-03-01",
              "--ticks", "20", "--dry-run")
    assert res.returncode == 0, res.stderr
    report = json.loads(res.stdout.strip().splitlines()[-1])
    assert report["ticks"] == 20
    buildings = Fleet.load(f).buildings
    per_tick = sum(1 if b.gateway_id else len(b.meters) + 2 * len(b.pv) + len(b.ev_piles) for b in buildings)
    # One message per device (one batch per gateway building) per tick, plus session records.
    assert per_tick * 20 <= report["messages"] <= per_tick * 20 + 20


def test_registry_csv_pair_and_clear_errors(tmp_path, fleet3):
    from registry.importer import write_csv_pair

    write_csv_pair(Fleet.load(fleet3), tmp_path / "b.csv", tmp_path / "d.csv")
    res = sim("generate", "--fleet", str(tmp_path / "b.csv"), "--devices-csv", str(tmp_path / "d.csv"),
              "--start", "2025-03-01", "--end", "2025-03-02")
    assert res.returncode == 0, res.stderr
    bad = tmp_path / "bad.yaml"
    bad.write_text("fleet_version: 1\nbuildings:\n- building_code: 511102Z001\n", encoding="utf-8")
    res = sim("generate", "--fleet", str(bad), "--start", "2025-03-01", "--end", "2025-03-02")
    assert res.returncode == 2
    assert "bad.yaml:3" in res.stderr and "building_code" in res.stderr
