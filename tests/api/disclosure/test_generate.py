"""``python -m api.disclosure generate`` against a real InfluxDB (daily rollups written directly) and
a real SQLite registry: a worked two-building year with the arithmetic beside each assertion, and
the freeze: a published disclosure keeps its figures when data arrives later.

Building A (office, Sichuan 510402, 10 000 m2, 400 people), every day of 2025: main meter 3000 kWh,
lighting 1000 kWh, HVAC 100 kWh x month number, gas 100 m3, PV 200 kWh generated of which 50 kWh
exported (grid meter: 2850 kWh imported). Building B (office, 5000 m2): main meter 500 kWh a day,
January to June only (181 days); B has a retrofit completed 2025-03-31 whose stored savings
(analytics.savings.write_savings, rollup policy) for April 2025 are 15 000 kWh predicted, 13 500
measured, u 600 kWh.
"""

from __future__ import annotations

import calendar
import datetime as dt
import os
import subprocess
import sys

import pytest
from numpy.testing import assert_allclose
from sqlalchemy import select

from analytics import rollup
from analytics.savings import PeriodSavings, SavingsReport, write_savings
from api.disclosure.models import DisclosureRecord
from api.disclosure.service import act
from api.disclosure.workflow import Action, Actor
from contract.localtime import local_midnight
from registry import repo
from registry.db import make_engine, make_sessionmaker, migrate, session_scope
from registry.fleet import Fleet
from registry.retrofits import add_retrofit
from storage.influx import InfluxHTTP
from storage.lineproto import encode_line
from tests.api.disclosure.conftest import ROOT
from tests.api.disclosure.rollups import write_daily_rollups

pytestmark = pytest.mark.servers

YEAR = 2025
A, B = "510402A001", "510402A002"
FLEET = {"buildings": [
    {"building_code": A, "name": "市政府办公楼", "floor_area_m2": 10_000, "district": "市中区",
     "ownership": "state_organ_office", "latitude_deg": 29.5, "longitude_deg": 103.7, "occupants": 400,
     "meters": [{"device_id": "main", "carrier": "electricity", "sub_item": "main"},
                {"device_id": "light", "carrier": "electricity", "sub_item": "lighting_sockets",
                 "parent_device_id": "main"},
                {"device_id": "hvac", "carrier": "electricity", "sub_item": "hvac", "parent_device_id": "main"},
                {"device_id": "gas", "carrier": "natural_gas"}],
     "pv": [{"device_id": "pv1", "capacity_kwp": 50}]},
    {"building_code": B, "name": "区档案馆", "floor_area_m2": 5_000, "district": "市中区",
     "ownership": "state_organ_office", "latitude_deg": 29.5, "longitude_deg": 103.7,
     "meters": [{"device_id": "main", "carrier": "electricity", "sub_item": "main"}]},
]}


def day_lines(day: dt.date) -> list[str]:
    ts = int(local_midnight(day).timestamp() * 1000)
    m = {"building_code": A, "device_kind": "meter", "carrier": "electricity"}
    lines = [
        encode_line("meter_1d", {**m, "device_id": "main", "sub_item": "main"},
                    {"consumption_kwh": 3000.0, "readings": 96}, ts),
        encode_line("meter_1d", {**m, "device_id": "light", "sub_item": "lighting_sockets"},
                    {"consumption_kwh": 1000.0, "readings": 96}, ts),
        encode_line("meter_1d", {**m, "device_id": "hvac", "sub_item": "hvac"},
                    {"consumption_kwh": 100.0 * day.month, "readings": 96}, ts),
        encode_line("meter_1d", {"building_code": A, "device_kind": "meter", "device_id": "gas",
                                 "carrier": "natural_gas"}, {"consumption_m3": 100.0, "readings": 96}, ts),
        encode_line("pv_1d", {"building_code": A, "device_id": "pv1", "device_kind": "pv_inverter"},
                    {"generation_kwh": 200.0, "readings": 96}, ts),
        encode_line("pv_1d", {"building_code": A, "device_id": "pv1", "device_kind": "pv_meter"},
                    {"to_grid_kwh": 50.0, "from_grid_kwh": 2850.0, "readings": 96}, ts),
    ]
    if day.month <= 6:
        lines.append(encode_line("meter_1d", {"building_code": B, "device_kind": "meter", "device_id": "main",
                                              "carrier": "electricity", "sub_item": "main"},
                                 {"consumption_kwh": 500.0, "readings": 96}, ts))
    return lines


@pytest.fixture(scope="module")
def world(influxd, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("generate")
    name = f"disc_{tmp.name.replace('-', '_')}"
    db = InfluxHTTP(influxd.url, name)
    db.create_database()
    lines = [ln for i in range(365) for ln in day_lines(dt.date(YEAR, 1, 1) + dt.timedelta(days=i))]
    write_daily_rollups(db, lines, {(YEAR, m) for m in range(1, 13)})
    url = f"sqlite:///{tmp / 'registry.db'}"
    engine = make_engine(url)
    migrate(engine)
    with session_scope(engine) as s:
        for spec in Fleet.model_validate(FLEET).buildings:
            repo.upsert_building(session=s, spec=spec)
        rid = add_retrofit(session=s, building_code=B, completed_on=dt.date(YEAR, 3, 31), measures="LED",
                           expected_saving_share=0.1).id
    april = PeriodSavings("2025-04-01", "2025-05-01", 30, 15_000.0, 13_500.0, 1_500.0, 600.0, 0.1)
    with rollup.rollup_client(db, rollup.ROLLUP_RP) as out:
        write_savings(out, building_code=B, retrofit_id=rid, carrier="electricity",
                      report=SavingsReport(status="ok", baseline={"guideline14": "meets"}, months=[april]))
    env = {**os.environ, "EP_DATABASE_URL": url, "EP_INFLUX_URL": influxd.url, "EP_INFLUX_DB": name}
    yield db, engine, env
    db.close()
    engine.dispose()


def generate(env, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "api.disclosure", "generate", "--year", str(YEAR), *args],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)


def drafts(engine) -> dict[str, DisclosureRecord]:
    with make_sessionmaker(engine)() as s:
        rows = s.scalars(select(DisclosureRecord).order_by(DisclosureRecord.version)).all()
    return {r.building_code: r for r in rows}  # latest version per building


def test_generate_freezes_the_worked_example(world):
    db, engine, env = world
    run = generate(env)
    assert run.returncode == 0, run.stderr
    assert "year 2025: 2 new draft(s), 0 unchanged, 0 failed" in run.stdout
    assert "drafts 2025" in run.stderr and "2/2" in run.stderr  # the tqdm progress bar
    recs = drafts(engine)
    a, b = recs[A].figures, recs[B].figures
    assert recs[A].state == "draft" and recs[A].version == 1
    assert_allclose(a["electricity_kwh"], 1_095_000)  # (2850 imported + 150 self-consumed PV) x 365
    by_carrier = {c["carrier"]: c for c in a["carriers"]}
    assert_allclose(by_carrier["electricity"]["energy_tce"], 134.5755)  # 1 095 000 kWh x 0.1229 kgce/kWh / 1000
    assert_allclose(by_carrier["natural_gas"]["quantity"], 36_500)  # 100 m3 x 365
    assert_allclose(by_carrier["natural_gas"]["energy_tce"], 44.32195)  # 36 500 m3 x 1.2143 kgce/m3 / 1000
    assert_allclose(a["energy_tce"], 178.89745)  # 134.5755 + 44.32195
    assert_allclose(a["eui_electricity_kwh_per_m2"], 109.5)  # 1 095 000 kWh / 10 000 m2
    assert_allclose(a["eui_kgce_per_m2"], 17.889745)
    assert_allclose(a["energy_kgce_per_person"], 178_897.45 / 400)
    # The shipped quota table holds EXAMPLE values only: no standard, and no example value in the record.
    assert a["quota_status"] == "no_quota" and a["quota_constraint_kwh_per_m2"] is None
    assert_allclose(a["renewable_substitution_rate"], 54_750 * 0.1229 / 1000 / 178.89745)  # 150 kWh x 365 PV
    assert_allclose(a["carbon_tco2"], 146.0511)  # 1 040 250 kWh imported x 0.1404 kgCO2/kWh (Sichuan 2022)
    assert_allclose(a["pv"]["self_consumption"], 0.75)  # (200 - 50) / 200
    assert a["audit_required"] is False and a["audit_triggered_by"] == "none"
    assert (a["rank_in_type"], a["buildings_in_type"], b["rank_in_type"]) == (1, 2, 2)  # 109.5 vs 18.1 kWh/m2
    assert_allclose(a["electricity_by_sub_item_kwh"]["lighting_sockets"], 365_000)
    # HVAC month m: 100 kWh x m x days in the month.
    assert_allclose(a["monthly_electricity_by_sub_item_kwh"]["hvac"],
                    [100 * m * calendar.monthrange(YEAR, m)[1] for m in range(1, 13)])
    assert a["monthly_electricity_by_sub_item_kwh"]["hvac"][0] == 3100.0  # 100 kWh x 1 x 31 days
    assert_allclose(a["coverage"], 1.0)  # 6 devices x 96 x 365, all present
    assert a["expected_readings"] == a["readings"] == 6 * 96 * 365
    assert_allclose(b["coverage"], 181 / 365)  # January to June only
    assert_allclose(b["electricity_kwh"], 90_500)  # 500 kWh x 181 days
    assert recs[A].conversion_basis == "equivalent_gbt2589" and recs[A].factor_table_version == "gbt2589-2020.v1"
    # The retrofit section: A has none; B's stored April: avoided 15 000 - 13 500 = 1 500 kWh, u 600 < 750 (half).
    assert a["retrofits"] == [] and recs[B].snapshot_version == 2
    (r,) = b["retrofits"]
    assert (r["status"], r["completed_on"], r["days"], r["unit"]) == ("ok", "2025-03-31", 30, "kwh")
    assert (r["avoided"], r["uncertainty"], r["guideline14"]) == (1_500.0, 600.0, "meets")


def test_regenerate_is_idempotent_then_versions_and_never_touches_the_published(world):
    db, engine, env = world
    run = generate(env, "--no-progress")
    assert "0 new draft(s), 2 unchanged, 0 failed" in run.stdout
    # Publish A's version 1 (two different bureau staff: four eyes; A's coverage 1.0 passes the 0.9 minimum).
    gate = {"min_coverage": 0.9}
    with make_sessionmaker(engine)() as s:
        rid = drafts(engine)[A].id
        act(session=s, record_id=rid, action=Action.submit, actor=Actor(1, "wang", "bureau_staff"), **gate)
        act(session=s, record_id=rid, action=Action.approve, actor=Actor(2, "li", "bureau_staff"), **gate)
        act(session=s, record_id=rid, action=Action.publish, actor=Actor(2, "li", "bureau_staff"), **gate)
    published_before = drafts(engine)[A].figures
    # A collector uploads a forgotten day of gas late (backfill is normal, docs/reference.md section 1).
    write_daily_rollups(db, [encode_line("meter_1d", {"building_code": A, "device_kind": "meter", "device_id": "gas2",
                                                      "carrier": "natural_gas"},
                                         {"consumption_m3": 1000.0, "readings": 0},
                                         int(local_midnight(dt.date(YEAR, 3, 1)).timestamp() * 1000))], {(YEAR, 3)})
    run = generate(env, "--no-progress", "--building", A)
    assert run.returncode == 0 and "1 new draft(s), 0 unchanged" in run.stdout, run.stderr
    with make_sessionmaker(engine)() as s:
        rows = s.scalars(select(DisclosureRecord).where(DisclosureRecord.building_code == A)
                         .order_by(DisclosureRecord.version)).all()
    assert [(r.version, r.state) for r in rows] == [(1, "published"), (2, "draft")]
    assert rows[0].figures == published_before  # frozen
    assert_allclose(rows[1].figures["energy_tce"] - published_before["energy_tce"], 1.2143)  # 1000 m3 x 1.2143 / 1000


def test_generate_unknown_building_fails_alone(world):
    _, _, env = world
    run = generate(env, "--no-progress", "--building", "510402A999", "--building", B)
    assert run.returncode == 1
    assert "510402A999: building 510402A999 is not in the registry" in run.stderr
    assert "0 new draft(s), 1 unchanged, 1 failed" in run.stdout
