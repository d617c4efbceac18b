"""One energy figure, every consumer: a generated fleet is backfilled by the simulator over real
Mosquitto into the real ingest process and InfluxDB, rolled up by ``python -m analytics rollup``,
attributes synced by ``python -m dashboards sync-buildings``; then analytics, the API (HTTP), every
Grafana panel showing an energy figure (Grafana's interpolation emulated), the alert engine and a
disclosure draft's figures give the same figures per building, district and the city, equal to
the simulator's ground-truth file.

Expected values come from the ground-truth CSV with the accounting written out here, never from
the code's formulas: electricity used = the ``main`` meter (the load behind the PV connection) +
the EV piles; grid import = the grid meter's import (every PV system of this fleet has one) or,
without PV, the load + EV; energy [tce] = electricity used x 0.1229 + natural gas [m3] x 1.2143 +
district heat [kWh] x 0.122832, / 1000 (GB/T 2589-2020, equivalent basis). Rounding: relative 1e-9
(float sums in a different order), nothing else.

The fleet runs every real condition of the simulator (``--conditions all``, docs/simulators.md):
a building joining mid-period, a main meter offline for three weeks, a sub-meter replaced on a
new id and one on the same id, a collector uploading 30 days late (its backlog is published after
the run, so waiting for every message to be acked covers it), a missing sub-meter (unmetered
remainder). On top, the simulator's ``spike`` fault: single register values read 1000 kWh (or 1 %)
too high, which must cost no energy in any figure (contract.registers.clean_value: each reading
is judged against both neighbours, by ingest through its storage lookup and by the rollup's
re-derivation). The ground truth is taken after the conditions that change what is metered, so it is
what the platform must derive; the registry and ingest get ``--fleet-out`` (the new device listed,
the missing one left out). The window is 30 local days (2 March - 1 April 2026, the shortest period
``offline_3_weeks`` takes) at 60-minute readings; ground truth puts the interval ending at 00:00 on
the new day, the rollups on the day before (docs/analytics.md), so only totals over the whole
backfill are compared.
"""

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
from fastapi.testclient import TestClient
from numpy.testing import assert_allclose

from analytics import balance_store, rollup, service
from api.alerts import engine as alert_engine
from api.app import create_app
from api.disclosure.source import collect
from api.security import Role, create_user, key_cache
from api.settings import Settings
from contract.localtime import TZ_NAME, local_midnight
from dashboards import common as c
from dashboards import provisioning
from dashboards.interpolate import Variable
from dashboards.titles import english
from registry import db as registry_db
from registry.fleet import Fleet
from simulators.conditions import KINDS
from simulators.fleetgen import generate_fleet
from storage.influx import InfluxHTTP
from tests.dashboards.grafana_emulation import run_panel
from tests.ingest.helpers import ROOT, IngestProcess, ingest_argv, wait_acked, with_metrics

pytestmark = [pytest.mark.servers, pytest.mark.slow]

FIRST, END = dt.date(2026, 3, 2), dt.date(2026, 4, 1)
YEAR = 2026
#: Spike faults asked of the simulator (docs/simulators.md, faults). [1]
SPIKES = 4
#: After the window: the year so far holds only the backfilled days.
NOW = local_midnight(dt.date(2026, 4, 2))
ALL = {
    "district": Variable(("x",), multi=True, include_all=True, all_value="[0-9]{6}", is_all=True),
    "building_type": Variable(("x",), multi=True, include_all=True, all_value="[A-H]", is_all=True),
    "gap_s": Variable("1800"),
}
#: GB/T 2589-2020 equivalent basis, tce per base unit.
TCE = {"electricity": 0.1229e-3, "natural_gas": 1.2143e-3, "district_heat": 0.122832e-3}


def expected(gt_file, fleet) -> dict[str, dict[str, float]]:
    """Per building: electricity used, grid import, PV generation, EV charging [kWh], energy [tce]."""
    s: dict = defaultdict(float)
    with open(gt_file, encoding="utf-8") as fh:
        for r in csv.DictReader(fh):
            for col in ("consumption_kwh", "consumption_m3", "generation_kwh", "from_grid_kwh"):
                if r.get(col):
                    s[(r["building_code"], r["measurement"], r["carrier"], r["sub_item"], col)] += float(r[col])

    def total(code, **m):
        keys = ("measurement", "carrier", "sub_item", "col")
        return sum(v for k, v in s.items() if k[0] == code and all(k[1 + keys.index(a)] == b for a, b in m.items()))

    out = {}
    for b in fleet.buildings:
        code = b.building_code
        load = total(code, measurement="meter", carrier="electricity", sub_item="main", col="consumption_kwh")
        ev = total(code, measurement="ev_pile", col="consumption_kwh")
        used = load + ev
        grid = total(code, measurement="pv", col="from_grid_kwh") if b.pv else used
        tce = (used * TCE["electricity"]
               + total(code, measurement="meter", carrier="natural_gas", col="consumption_m3") * TCE["natural_gas"]
               + total(code, measurement="meter", carrier="district_heat", col="consumption_kwh")
               * TCE["district_heat"])
        out[code] = {"electricity_kwh": used, "electricity_from_grid_kwh": grid, "energy_tce": tce,
                     "pv_generation_kwh": total(code, measurement="pv", col="generation_kwh"), "ev_energy_kwh": ev,
                     "district": b.district, "floor_area_m2": b.floor_area_m2}
    return out


@pytest.fixture(scope="module")
def platform(tmp_path_factory, mosquitto, influxd):
    tmp = tmp_path_factory.mktemp("cross")
    generate_fleet(11, 8).dump(fleet_file := tmp / "fleet.yaml")
    registry_file, manifest, faults = tmp / "registry.yaml", tmp / "conditions.json", tmp / "faults.json"
    sim = ("--start", FIRST.isoformat(), "--end", END.isoformat(), "--interval-min", "60", "--seed", "5",
           "--conditions", "all")
    db_name = f"cross_{uuid.uuid4().hex[:8]}"
    db = InfluxHTTP(influxd.url, db_name, timeout_s=120)
    db.create_database()
    url = f"sqlite:///{tmp / 'registry.db'}"

    def run(*argv):
        r = subprocess.run([sys.executable, "-m", *argv], cwd=ROOT, capture_output=True, text=True, timeout=300)
        assert r.returncode == 0, r.stderr[-2000:]
        return r

    # The registry and ingest must know the replacement device before it sends: a dry run writes it.
    run("simulators", "generate", "--fleet", str(fleet_file), *sim, "--fleet-out", str(registry_file))
    fleet = Fleet.load(registry_file)
    run("registry", "--url", url, "import", "--fleet", str(registry_file))
    argv, metrics_port = with_metrics(ingest_argv(mosquitto.port, influxd.url, db_name, "--share-group",
                                                  f"cross{uuid.uuid4().hex[:6]}", "--fleet-file", str(registry_file)))
    ingest = IngestProcess(argv, tmp / "ingest.log").start()
    gt_file = tmp / "gt.csv"
    try:
        ingest.wait_connected()
        res = run("simulators", "backfill", "--fleet", str(fleet_file), *sim, "--ground-truth", str(gt_file),
                  "--conditions-manifest", str(manifest), "--faults", f"spike={SPIKES}", "--manifest", str(faults),
                  "--mqtt-port", str(mosquitto.port))
        # Every message, the late collector's backlog (published last) included.
        wait_acked(metrics_port, json.loads(res.stdout.strip().splitlines()[-1])["messages"], timeout_s=600)
    finally:
        ingest.terminate()
    # With the registry's database: the month step also writes the SQL balance table, which the
    # annual indicators and the audit read, while Grafana reads building_1mo; both are held below.
    run("analytics", "--influx-url", influxd.url, "--influx-db", db_name, "--database-url", url, "rollup",
        "--from", FIRST.isoformat(), "--to", END.isoformat())
    run("dashboards", "sync-buildings", "--fleet", str(registry_file), "--influx-url", influxd.url, "--db", db_name)
    engine = registry_db.make_engine(url)
    registry_db.migrate(engine)  # every table, the API's too (one history)
    with registry_db.make_sessionmaker(engine)() as s:
        _, key = create_user(s, name="bureau", role=Role.bureau_staff, email="bureau@example.org")
        s.commit()
    subs: dict = defaultdict(float)
    main: dict = defaultdict(float)
    n_sessions = 0
    with open(gt_file, encoding="utf-8") as fh:
        for r in csv.DictReader(fh):
            if r["measurement"] == "meter" and r["carrier"] == "electricity" and r["sub_item"] not in ("main", ""):
                subs[r["building_code"]] += float(r["consumption_kwh"] or 0)
            if r["measurement"] == "meter" and r["carrier"] == "electricity" and r["sub_item"] == "main":
                main[r["building_code"]] += float(r["consumption_kwh"] or 0)
            n_sessions += int(float(r.get("sessions") or 0))
    conditions = {c["kind"]: c for c in json.loads(manifest.read_text(encoding="utf-8"))["conditions"]}
    spikes = json.loads(faults.read_text(encoding="utf-8"))["faults"]  # only the applied ones are listed
    yield {"conditions": conditions, "spikes": spikes, "fleet": fleet, "want": expected(gt_file, fleet),
           "sub_items_kwh": subs, "main_kwh": main, "sessions": n_sessions, "db": db,
           "rollups": rollup.rollup_client(db, c.ROLLUP_RP),
           "engine": engine, "url": url, "key": key, "influx_url": influxd.url, "db_name": db_name}
    engine.dispose()
    db.query_raw(f'DROP DATABASE "{db_name}"', post=True)
    db.close()


def _groups(want: dict) -> tuple[dict, dict]:
    """Expected district and city sums: additive figures, summed from the buildings."""
    district: dict = defaultdict(lambda: defaultdict(float))
    for w in want.values():
        for k in ("electricity_kwh", "energy_tce"):
            district[w["district"]][k] += w[k]
    city = {k: sum(w[k] for w in want.values()) for k in ("electricity_kwh", "energy_tce")}
    return district, city


#: Documented rounding: the simulator's registers have a resolution of 0.001 kWh, and electricity
#: used through a grid meter is import + generation - export, three registers rounded independently
#: (so up to 3 x 0.001 kWh per device over the window; 0.005 kWh allows a second PV device). [kWh]
ATOL_KWH = 0.005


def _atol(key: str) -> float:
    return ATOL_KWH * TCE["electricity"] if key.endswith("_tce") else ATOL_KWH


def _check(got: dict, want: dict, keys=("electricity_kwh", "energy_tce"), who: str = "") -> None:
    for k in keys:
        assert_allclose(got[k], want[k], rtol=1e-9, atol=_atol(k), err_msg=f"{who} {k}")


def test_every_consumer_gives_the_ground_truth(platform):
    want, fleet = platform["want"], platform["fleet"]
    assert all(w["electricity_kwh"] > 0 for w in want.values())
    assert any(w["ev_energy_kwh"] > 0 for w in want.values()) and any(w["pv_generation_kwh"] > 0 for w in want.values())
    district_want, city_want = _groups(want)
    sessions = registry_db.make_sessionmaker(platform["engine"])

    # analytics: the year's March from the SQL balance table (the month the rollup wrote), the
    # other months from building_1mo (nothing there): the store Grafana does not read
    with sessions() as s:
        year_months = balance_store.month_starts(dt.date(YEAR, 1, 1), dt.date(YEAR + 1, 1, 1))
        assert balance_store.stored_months(s, year_months) == [dt.date(YEAR, 3, 1)]
        frame = service.annual_frame(influx=platform["rollups"], session=s, year=YEAR, now=NOW, with_previous=False)
        districts = service.district_indicators(influx=platform["rollups"], session=s, year=YEAR, frame=frame)
        city = service.city_indicators(influx=platform["rollups"], session=s, year=YEAR, frame=frame)
    for code, w in want.items():
        _check(frame.loc[code], w, ("electricity_kwh", "electricity_from_grid_kwh", "energy_tce", "pv_generation_kwh",
                                    "ev_energy_kwh"), f"analytics {code}")
    for d, w in district_want.items():
        _check(districts.loc[d], w, who=f"analytics district {d}")
    _check(city.indicators, city_want, who="analytics city")

    # the conditions: each on its own building, every one in the figures checked above
    conds = platform["conditions"]
    assert sorted(conds) == sorted(KINDS) and len({x["building_code"] for x in conds.values()}) == len(KINDS)
    assert conds["late_upload_30_days"]["truth"]["messages_delayed"] > 0
    # the spikes: applied, each on a register, none of them in any figure checked above
    spikes = platform["spikes"]
    assert len(spikes) >= SPIKES - 1 and all(f["kind"] == "spike" and f["detail"]["added"] >= 1000 for f in spikes)
    joined = conds["joins_mid_year"]["building_code"]
    assert 0 < frame.loc[joined, "measured_days"] < (END - FIRST).days
    # Unmetered remainder = main meter - its electricity sub-meters (the missing `special` one is
    # not in the ground truth), each a sum of 0.001 kWh registers: 1 Wh per device and day at most.
    rem = conds["unmetered_remainder"]
    code = rem["building_code"]
    gt_remainder = platform["main_kwh"][code] - platform["sub_items_kwh"][code]
    assert_allclose(frame.loc[code, "unmetered_kwh"], gt_remainder, atol=ATOL_KWH)
    assert_allclose(rem["truth"]["remainder_kwh"], gt_remainder, atol=0.001 * (END - FIRST).days)
    assert gt_remainder > 0

    # the API, over HTTP
    key_cache.clear()
    app = create_app(Settings(env="development", database_url=platform["url"], influx_url=platform["influx_url"],
                              influx_db=platform["db_name"], webhook_signing_key="test-signing-key-0123456789"),
                     migrate=False)
    h = {"Authorization": f"Bearer {platform['key']}"}
    with TestClient(app) as client:
        for code, w in want.items():
            r = client.get(f"/buildings/{code}/indicators?year={YEAR}", headers=h)
            assert r.status_code == 200, r.text
            _check(r.json()["indicators"], w, who=f"API {code}")
            # its audit window: the audit frame built with the annual frame's year (WindowFrames)
            cal_api = next(a for a in r.json()["audit"] if a["window"] == "calendar_year")
            _check(cal_api, w, who=f"API audit {code}")
        listed = client.get(f"/audit?year={YEAR}&window=calendar_year&all_buildings=true&limit=1000", headers=h)
        assert listed.status_code == 200, listed.text
        by_code = {a["building_code"]: a for a in listed.json()["items"]}
        for code, w in want.items():
            _check(by_code[code], w, who=f"API audit list {code}")
        rows = {d["district"]: d for d in client.get(f"/districts/indicators?year={YEAR}", headers=h).json()["items"]}
        for d, w in district_want.items():
            _check(rows[d], w, who=f"API district {d}")
        _check(client.get(f"/city/indicators?year={YEAR}", headers=h).json()["indicators"], city_want,
               who="API city")
    app.state.engine.dispose()

    # every Grafana panel showing an energy figure, with Grafana's interpolation
    from_ms, to_ms = (int(local_midnight(d).timestamp() * 1000) for d in (FIRST, END + dt.timedelta(days=1)))
    boards = {d["uid"]: d for d in provisioning.dashboards()}

    def panel(uid, start, variables):
        p = next(p for p in boards[uid]["panels"] if english(p["title"]).startswith(start))
        r = run_panel(p, variables, from_ms=from_ms, to_ms=to_ms, url=platform["influx_url"], db=platform["db_name"])
        for q in r.queries.values():
            assert not re.search(r"\$\w|\$\{|\[\[", q), q
        return r

    tce = {r["building_code"]: r["energy_tce"] for r in panel(c.OVERVIEW_UID, "Top 10 by energy (tce)", ALL).rows("A")}
    grid = {r["building_code"]: r["electricity_from_grid_kwh"]
            for r in panel(c.OVERVIEW_UID, "Top 10 by grid electricity", ALL).rows("A")}
    for code, w in want.items():
        _check({"energy_tce": tce[code], "electricity_from_grid_kwh": grid[code]}, w,
               ("energy_tce", "electricity_from_grid_kwh"), f"Grafana {code}")
        eui = panel(c.BUILDING_UID, "Electricity use intensity", {**ALL, "building": Variable(code)})
        assert_allclose(eui.numbers["EUI"], w["electricity_kwh"] / w["floor_area_m2"], rtol=1e-9,
                        atol=ATOL_KWH / w["floor_area_m2"])
    _check({"energy_tce": panel(c.OVERVIEW_UID, "Energy of the selected buildings", ALL).total("A", "energy_tce")},
           city_want, ("energy_tce",), "Grafana city")
    for code in want:  # a district is its buildings' division-code prefix (docs/dashboards.md)
        one = {**ALL, "district": Variable((code[:6],), multi=True, include_all=True, all_value="[0-9]{6}")}
        in_division = sum(x["energy_tce"] for k, x in want.items() if k[:6] == code[:6])
        _check({"energy_tce": panel(c.OVERVIEW_UID, "Energy of the selected buildings", one).total("A", "energy_tce")},
               {"energy_tce": in_division}, ("energy_tce",), f"Grafana division {code[:6]}")
    elec = panel(c.OVERVIEW_UID, "Electrification share", ALL).numbers["D"]
    assert_allclose(elec, city.indicators["electrification_share"], rtol=1e-9)
    # time-series panels from the raw points (carried over from the dashboards' simulated-fleet test)
    b0 = fleet.buildings[0].building_code
    sub = panel(c.BUILDING_UID, "Electricity by sub-item", {**ALL, "building": Variable(b0)})
    assert_allclose(sum(x[1] for s_ in sub.series["A"] for x in s_["values"]), platform["sub_items_kwh"][b0],
                    rtol=1e-9)
    gen = panel(c.PV_UID, "PV generation and export", ALL)
    assert_allclose(sum(x[1] for x in gen.series["A"][0]["values"]),
                    sum(w["pv_generation_kwh"] for w in want.values()), rtol=1e-9)
    assert panel(c.EV_UID, "Finished charging sessions", ALL).total("A", "sessions") == platform["sessions"] > 0

    # the alert engine's audit input (the calendar year so far = the backfilled days)
    with sessions() as s:
        audit = alert_engine.audit_rows(session=s, rollups=platform["rollups"], now=NOW, tz=TZ_NAME, codes=None)
    cal = audit[audit.window == "calendar_year"]
    for code, w in want.items():
        _check(cal.loc[code], w, who=f"alert engine {code}")

    # a disclosure draft's figures (what `python -m api.disclosure generate` freezes)
    with sessions() as s:
        drafts = dict(collect(influx=platform["rollups"], session=s, year=YEAR, now=NOW))
    for code, w in want.items():
        f = drafts[code]
        assert not isinstance(f, Exception), f
        _check({"electricity_kwh": f.electricity_kwh, "energy_tce": f.energy_tce}, w, who=f"disclosure {code}")
        if f.ev is not None:
            assert_allclose(f.ev.energy_kwh, w["ev_energy_kwh"], rtol=1e-9)
