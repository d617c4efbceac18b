"""Real conditions: each shows up in the simulated data where the conditions manifest says, and the
ground truth is right for it. The check is against a clean run of the same fleet and seed (the
conditions change what is sent, never what the buildings use), so no expected value is computed
with the conditions' own code.

Run: 8 buildings, 1 March to 15 April 2025 (45 local days) at 60 min, every condition. Dates:
joins and replacements on day 45 // 2 = 22 (23 March), offline from day 45 // 4 = 11 (12 March)
for 21 days (to 2 April), late upload 30 days.
"""

from __future__ import annotations

import datetime as dt
import json
from collections import defaultdict

import pytest

from contract.localtime import DAY_MS, local_midnight_ms
from contract.vocabulary import SubItem
from registry.fleet import Fleet
from simulators.conditions import LATE_UPLOAD_DAYS, Conditions, parse_conditions
from simulators.fleetgen import generate_fleet
from simulators.fleetsim import FleetSim, Period
from simulators.groundtruth import GroundTruth
from simulators.messages import time_ordered
from tests.simulators.helpers import decoded, readings_by_device
from tests.simulators.test_cli import sim

START, DAYS, STEP_MS = dt.date(2025, 3, 1), 45, 3_600_000
PERIOD = Period(local_midnight_ms(START), local_midnight_ms(START + dt.timedelta(days=DAYS)), STEP_MS)
ELEC = ("consumption_kwh",)


def _run(fleet, kinds: list[str] | None, seed: int = 4):
    sim = FleetSim(fleet, seed, PERIOD, chunk_intervals=24 * 7)
    cond = Conditions(fleet, PERIOD, seed, kinds) if kinds else None
    gt = GroundTruth()

    def chunks():
        for fc in sim.chunks():
            for ch in fc:
                if cond:
                    cond.apply(ch)
                gt.add(ch)
                if cond:
                    cond.apply_registers(ch)
            yield fc

    stream = time_ordered(fleet.buildings, chunks())
    if cond:
        stream = cond.stream(stream)
    out = list(stream)
    return out, gt, cond


def _gt(gt: GroundTruth) -> dict[tuple, float]:
    """(building, date, measurement, carrier, sub_item, column) -> value."""
    out = {}
    for r in gt.records():
        for col in ("consumption_kwh", "consumption_m3", "generation_kwh", "to_grid_kwh", "from_grid_kwh",
                    "pv_energy_kwh", "sessions"):
            if col in r:
                out[(r["building_code"], r["date"], r["measurement"], r["carrier"], r["sub_item"], col)] = r[col]
    return out


def _sum(gt: dict, code: str, sub: str | None = None, dates=None) -> float:
    return sum(v for (c, d, m, _, s, col), v in gt.items() if c == code and m == "meter" and col == "consumption_kwh"
               and (sub is None or s == sub) and (dates is None or d in dates))


def _dates(first: dt.date, last: dt.date) -> set[str]:
    return {(first + dt.timedelta(days=i)).isoformat() for i in range((last - first).days + 1)}


@pytest.fixture(scope="module")
def runs():
    fleet = generate_fleet(2, 8)
    clean_out, clean_gt, _ = _run(fleet, None)
    out, gt, cond = _run(fleet, parse_conditions("all"))
    return fleet, clean_out, _gt(clean_gt), out, _gt(gt), cond


@pytest.fixture(scope="module")
def sent(runs):
    """Readings by device as ingest would decode them: (clean run, run with the conditions)."""
    _, clean_out, _, out, _, _ = runs
    return readings_by_device(decoded(clean_out)), readings_by_device(decoded(out))


def test_each_condition_takes_its_own_building_deterministically(runs):
    fleet, *_, cond = runs
    codes = [c.building_code for c in cond.items]
    assert len(set(codes)) == 6 and [c.kind for c in cond.items] == parse_conditions("all")
    again = Conditions(fleet, PERIOD, 4, parse_conditions("all"))
    assert [c.building_code for c in again.items] == codes  # same seed, same plan
    with pytest.raises(ValueError, match="'flood'"):
        parse_conditions("joins_mid_year,flood")
    with pytest.raises(ValueError, match="at least 30 days"):
        Conditions(fleet, Period(PERIOD.start_ms, PERIOD.start_ms + 20 * DAY_MS, STEP_MS), 4, ["offline_3_weeks"])
    with pytest.raises(ValueError, match="no building"):
        Conditions(generate_fleet(2, 3), PERIOD, 4, parse_conditions("all"))  # 6 conditions, 3 buildings


def test_untouched_buildings_are_identical_to_the_clean_run(runs):
    _, _, clean, _, got, cond = runs
    touched = {c.building_code for c in cond.items}
    assert {k: v for k, v in got.items() if k[0] not in touched} == {k: v for k, v in clean.items()
                                                                      if k[0] not in touched}


def test_joins_mid_year(runs, sent):
    _, _, clean, out, got, cond = runs
    c = cond.get("joins_mid_year")
    assert c.from_ms == local_midnight_ms(dt.date(2025, 3, 23))  # day 22 of 45
    ts = [r[0] for (code, *_), rs in sent[1].items() if code == c.building_code for r in rs]
    assert min(ts) == c.from_ms  # nothing before it is sent
    joined = dt.date(2025, 3, 23)
    before = {k: v for k, v in got.items() if k[0] == c.building_code and k[1] < joined.isoformat()}
    assert all(v == 0 for v in before.values())  # the first reading carries nothing: no previous reading
    # On 23 March the 00:00 reading is the first (no interval), so that day misses one hour; from
    # 24 March on every figure equals the clean run's.
    day = joined.isoformat()
    assert 0 < _sum(got, c.building_code, "main", {day}) < _sum(clean, c.building_code, "main", {day})
    after = _dates(joined + dt.timedelta(days=1), START + dt.timedelta(days=DAYS - 1))
    assert {k: v for k, v in got.items() if k[0] == c.building_code and k[1] in after} == pytest.approx(
        {k: v for k, v in clean.items() if k[0] == c.building_code and k[1] in after})


def test_offline_three_weeks_and_the_reading_back_carries_the_gap(runs, sent):
    _, _, clean, out, got, cond = runs
    c = cond.get("offline_3_weeks")
    code, dev = c.building_code, c.device_id
    assert (c.from_ms, c.until_ms) == (local_midnight_ms(dt.date(2025, 3, 12)), local_midnight_ms(dt.date(2025, 4, 2)))
    ts = [t for t, _ in sent[1][(code, "meter", dev, "telemetry")]]
    missing = [t for t in range(c.from_ms + STEP_MS, c.until_ms, STEP_MS)]
    assert not set(missing) & set(ts) and c.truth["missing_readings"] == len(missing) == 21 * 24 - 1
    # Days 13 March to 1 April have no main-meter energy; 2 April gets all of it (the reading at
    # 00:00 closes the gap), so the window 12 March - 2 April holds the same energy as the clean run.
    between = _dates(dt.date(2025, 3, 13), dt.date(2025, 4, 1))
    assert _sum(got, code, "main", between) == 0 and _sum(clean, code, "main", between) > 0
    window = _dates(dt.date(2025, 3, 12), dt.date(2025, 4, 2))
    assert _sum(got, code, "main", window) == pytest.approx(_sum(clean, code, "main", window), abs=1e-6)
    assert _sum(got, code, "main") == pytest.approx(_sum(clean, code, "main"), abs=1e-6)
    # The sub-meters kept reporting, so the building's load is not under-counted anywhere else.
    assert _sum(got, code) == pytest.approx(_sum(clean, code), abs=1e-6)


def test_meter_replaced_on_a_new_device_id(runs, sent):
    _, _, clean, out, got, cond = runs
    c = cond.get("meter_replaced_new_id")
    by_dev = sent[1]
    old = by_dev[(c.building_code, "meter", c.device_id, "telemetry")]
    new = by_dev[(c.building_code, "meter", c.new_device_id, "telemetry")]
    assert max(t for t, _ in old) == c.from_ms == min(t for t, _ in new)
    assert new[0][1]["register"] == 0.0 and new[1][1]["register"] > 0  # a new register from zero
    assert c.new_device_id == "E-HVAC-1-R"
    # The sub-item's energy is split across the two devices but not changed: same as the clean run.
    assert _sum(got, c.building_code, SubItem.hvac.value) == pytest.approx(
        _sum(clean, c.building_code, SubItem.hvac.value), abs=1e-6)
    fleet_out = cond.registry_fleet(runs[0])
    b = next(b for b in fleet_out.buildings if b.building_code == c.building_code)
    added = next(m for m in b.meters if m.device_id == c.new_device_id)
    assert added.installed_on == dt.date(2025, 3, 23) and added.sub_item is SubItem.hvac


def test_meter_replaced_on_the_same_id_restarts_from_zero(runs, sent):
    _, clean_out, clean, out, got, cond = runs
    c = cond.get("meter_replaced_same_id")
    key = (c.building_code, "meter", c.device_id, "telemetry")
    shown, true = dict(sent[1][key]), dict(sent[0][key])
    before, at = c.from_ms - STEP_MS, c.from_ms
    assert shown[before]["register"] == true[before]["register"]
    # The reading at the replacement shows only its own interval: true(at) - true(before).
    assert shown[at]["register"] == pytest.approx(true[at]["register"] - true[before]["register"], abs=1e-3)
    assert shown[at]["register"] < shown[before]["register"]
    assert {k: v for k, v in got.items() if k[0] == c.building_code} == {k: v for k, v in clean.items()
                                                                          if k[0] == c.building_code}


def test_late_upload_arrives_thirty_days_after_its_time(runs):
    _, clean_out, clean, out, got, cond = runs
    c = cond.get("late_upload_30_days")
    delay = LATE_UPLOAD_DAYS * DAY_MS
    latest_other, last_of_run = 0, max(x.ts_ms for x in clean_out)
    late = []
    for o in out:
        if getattr(o.message, "building_code", None) == c.building_code:
            late.append(o.ts_ms)
            # Published once the stream reached its time + 30 days, or in the backlog after the run.
            assert latest_other >= o.ts_ms + delay - STEP_MS or latest_other == last_of_run
        else:
            latest_other = max(latest_other, o.ts_ms)
    assert late == sorted(late)
    assert len(late) == c.truth["messages_delayed"] == sum(1 for o in clean_out
                                                           if o.message.building_code == c.building_code)
    assert {k: v for k, v in got.items() if k[0] == c.building_code} == {k: v for k, v in clean.items()
                                                                          if k[0] == c.building_code}


def test_unmetered_remainder_is_parent_minus_children(runs, sent):
    fleet, _, clean, out, got, cond = runs
    c = cond.get("unmetered_remainder")
    code = c.building_code
    devices = {k[2] for k in sent[1] if k[0] == code}
    assert c.device_id == "E-SPC-1" and c.device_id not in devices and "E-MAIN" in devices
    assert not any(m.device_id == c.device_id for b in cond.registry_fleet(fleet).buildings
                   if b.building_code == code for m in b.meters)
    by_day = defaultdict(float)
    for (b, d, m, _, s, col), v in got.items():
        if b == code and m == "meter" and col == "consumption_kwh" and s:
            by_day[d] += v if s == "main" else -v  # parent minus children, per day
    # The remainder is the missing sub-meter's load: the clean run's special sub-meter, day by day.
    special = {d: v for (b, d, m, _, s, col), v in clean.items() if b == code and s == "special" and col in ELEC}
    # Registers have 1 Wh resolution: a day's difference of 4 meters is off by at most
    # 4 meters x 2 ends x 0.0005 kWh = 0.004 kWh.
    assert by_day == pytest.approx(special, abs=0.004)
    assert c.truth["remainder_kwh_by_day"] == pytest.approx(special, abs=1e-6)
    assert sum(special.values()) > 0


def test_command_line_selects_conditions_and_writes_manifest_and_registry_fleet(tmp_path):
    fleet = tmp_path / "fleet.yaml"
    generate_fleet(2, 8).dump(fleet)
    run = ("generate", "--fleet", str(fleet), "--start", "2025-03-01", "--end", "2025-04-15", "--interval-min", "60")
    res = sim(*run, "--conditions", "all", "--conditions-manifest", str(tmp_path / "c.json"),
              "--fleet-out", str(tmp_path / "registry.yaml"), "--ground-truth", str(tmp_path / "gt.csv"))
    assert res.returncode == 0, res.stderr[-2000:]
    report = json.loads(res.stdout)
    assert sorted(report["conditions"]) == sorted(parse_conditions("all"))
    manifest = json.loads((tmp_path / "c.json").read_text())
    assert [c["kind"] for c in manifest["conditions"]] == parse_conditions("all")
    registry = Fleet.load(tmp_path / "registry.yaml")
    ids = {(b.building_code, m.device_id) for b in registry.buildings for m in b.meters}
    before = {(b.building_code, m.device_id) for b in Fleet.load(fleet).buildings for m in b.meters}
    new, gone = (manifest["conditions"][i] for i in (2, 5))  # meter_replaced_new_id, unmetered_remainder
    assert ids - before == {(new["building_code"], new["new_device_id"])}
    assert before - ids == {(gone["building_code"], gone["device_id"])}
    bad = sim(*run, "--conditions", "joins_mid_year,flood")
    assert bad.returncode == 2 and "'flood'" in bad.stderr
    alone = sim(*run, "--conditions-manifest", str(tmp_path / "x.json"))
    assert alone.returncode == 2 and "need --conditions" in alone.stderr
    short = sim("generate", "--fleet", str(fleet), "--start", "2025-03-01", "--end", "2025-03-10",
                "--conditions", "offline_3_weeks")
    assert short.returncode == 2 and "at least 30 days" in short.stderr
