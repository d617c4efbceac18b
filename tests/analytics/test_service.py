"""Service layer against the real InfluxDB (daily rollup points written directly) and a real
SQLite registry: a worked two-building city with the arithmetic beside each assertion."""

from __future__ import annotations

import datetime as dt
import math

import pandas as pd
import pytest
from numpy.testing import assert_allclose

from analytics import reader, rollup, service
from contract.localtime import local_midnight
from registry import repo
from registry.db import make_engine, migrate, session_scope
from registry.fleet import Fleet
from storage.influx import InfluxHTTP
from storage.lineproto import encode_line

pytestmark = pytest.mark.servers

YEAR = 2025
DAYS = 365
A, B = "510402A001", "510402B002"
FLEET = {"buildings": [
    {"building_code": A, "name": "Office", "floor_area_m2": 10_000, "district": "Shizhong",
     "ownership": "state_organ_office", "latitude_deg": 29.5, "longitude_deg": 103.7, "occupants": 500,
     "year_built": 2022,
     "meters": [{"device_id": "main", "carrier": "electricity", "sub_item": "main"},
                {"device_id": "hvac", "carrier": "electricity", "sub_item": "hvac", "parent_device_id": "main"},
                {"device_id": "gas", "carrier": "natural_gas"}],
     "pv": [{"device_id": "pv1", "capacity_kwp": 100}],
     "ev_piles": [{"device_id": "ev1", "pile_kind": "ac_7kw", "rated_power_kw": 7}]},
    {"building_code": B, "name": "Mall", "floor_area_m2": 30_000, "district": "Wutongqiao",
     "ownership": "large_public", "latitude_deg": 29.4, "longitude_deg": 103.8,
     "meters": [{"device_id": "main", "carrier": "electricity", "sub_item": "main"}]},
]}

# Daily values (every day of 2025), and their annual sums x 365:
A_MAIN, A_HVAC, A_GAS = 10_000.0, 4_000.0, 500.0       # 3,650,000 kWh; 1,460,000 kWh; 182,500 m3
A_GEN, A_EXPORT, A_EV = 400.0, 100.0, 50.0              # 146,000; 36,500; 18,250 kWh
A_FROM_GRID = A_MAIN + A_EV - A_GEN + A_EXPORT          # 9,750 kWh/day: load + EV - self-consumed PV
A_SESSION, A_SESSION_PV = 50.0, 20.0                    # 2 sessions a day
B_MAIN = 16_000.0                                       # 5,840,000 kWh


def daily_lines(day: dt.date) -> list[str]:
    ts = int(local_midnight(day).timestamp() * 1000)
    m = {"building_code": A, "device_kind": "meter"}
    return [
        encode_line("meter_1d", {**m, "device_id": "main", "carrier": "electricity", "sub_item": "main"},
                    {"consumption_kwh": A_MAIN, "readings": 96}, ts),
        encode_line("meter_1d", {**m, "device_id": "hvac", "carrier": "electricity", "sub_item": "hvac"},
                    {"consumption_kwh": A_HVAC, "readings": 96}, ts),
        encode_line("meter_1d", {**m, "device_id": "gas", "carrier": "natural_gas"},
                    {"consumption_m3": A_GAS, "readings": 96}, ts),
        encode_line("pv_1d", {"building_code": A, "device_id": "pv1", "device_kind": "pv_inverter"},
                    {"generation_kwh": A_GEN, "readings": 96}, ts),
        encode_line("pv_1d", {"building_code": A, "device_id": "pv1", "device_kind": "pv_meter"},
                    {"to_grid_kwh": A_EXPORT, "from_grid_kwh": A_FROM_GRID, "readings": 96}, ts),
        encode_line("ev_pile_1d", {"building_code": A, "device_id": "ev1", "device_kind": "ev_pile"},
                    {"consumption_kwh": A_EV, "readings": 96}, ts),
        encode_line("ev_session_1d", {"building_code": A, "device_id": "ev1", "event": "stop"},
                    {"energy_kwh": A_SESSION, "pv_energy_kwh": A_SESSION_PV, "readings": 2}, ts),
        encode_line("meter_1d", {"building_code": B, "device_kind": "meter", "device_id": "main",
                                 "carrier": "electricity", "sub_item": "main"},
                    {"consumption_kwh": B_MAIN, "readings": 96}, ts),
    ]


@pytest.fixture(scope="module")
def city(influxd, tmp_path_factory):
    name = "svc_" + tmp_path_factory.mktemp("x").name.replace("-", "_")
    db = InfluxHTTP(influxd.url, name)
    db.create_database()
    lines = []
    for i in range(DAYS):
        lines += daily_lines(dt.date(YEAR, 1, 1) + dt.timedelta(days=i))
    # Where the rollup job keeps the rollups (and the report command reads them).
    rollup.ensure_rollup_rp(db)
    out = rollup.rollup_client(db, rollup.ROLLUP_RP)
    for k in range(0, len(lines), 5000):
        out.write_lines(lines[k:k + 5000])
    # The job's own steps: each day's building balance from the device days, then the months.
    rollup.rebuild_balance_days(out, dt.date(YEAR, 1, 1), dt.date(YEAR + 1, 1, 1))
    engine = make_engine(f"sqlite:///{tmp_path_factory.mktemp('reg') / 'r.db'}")
    migrate(engine)
    for month in range(1, 13):  # the job's own month step: <measurement>_1mo and the SQL balance table
        rollup.rollup_month(out, dt.date(YEAR, month, 1), store=engine)
    with session_scope(engine) as s:
        repo.replace_fleet(session=s, fleet=Fleet.model_validate(FLEET))
    yield out, engine
    db.query_raw(f'DROP DATABASE "{name}"', post=True)
    out.close()
    db.close()


AFTER = dt.datetime(2026, 2, 1, tzinfo=dt.UTC)  # 2025 complete


def test_annual_frame_worked_example(city):
    db, engine = city
    with session_scope(engine) as s:
        df = service.annual_frame(influx=db, session=s, year=YEAR, now=AFTER)
    a, b = df.loc[A], df.loc[B]
    assert_allclose(a.electricity_kwh, 3_668_250)  # from grid 3,558,750 + self-consumed (146,000 - 36,500)
    assert_allclose(a.electricity_from_grid_kwh, 3_558_750)  # 9,750 x 365
    assert_allclose(a.energy_tce, 672.437675)  # 3,668,250 x 0.1229 / 1000 = 450.827925 + 182,500 x 1.2143 / 1000
    assert_allclose(a.pv_self_consumption, 0.75)  # (146,000 - 36,500) / 146,000
    assert_allclose(a.renewable_substitution_rate, 13.45755 / 672.437675)  # 109,500 x 0.1229 / 1000 tce
    assert_allclose(a.ev_green_share, 0.4)  # 20 / 50 kWh a day
    assert a.ev_sessions == 730  # 2 x 365
    assert_allclose(a.hvac_share, 0.4)  # 1,460,000 / 3,650,000 (share of the main meter)
    assert_allclose(a.eui_electricity_kwh_per_m2, 366.825)  # 3,668,250 / 10,000 m2
    assert_allclose(a.coverage, 1.0)  # 6 devices x 96 x 365 readings, all present
    assert_allclose(a.carbon_tco2, 3_558_750 * 0.1404 / 1000)  # Sichuan (CN-51) 2022 factor, grid import only
    assert a.grid_factor_source == "CN-51 2022"
    assert a.quota_status == "no_quota"  # the shipped quota table holds EXAMPLE values only: no standard
    assert_allclose(a.measured_days, 365.0)  # coverage 1 x 365 days since 1 January
    assert_allclose(a.period_coverage, 1.0)  # 365 / 365
    assert_allclose(b.energy_tce, 717.736)  # 5,840,000 x 0.1229 / 1000
    assert b.rank_in_type == 1 and b.buildings_in_type == 1
    assert (a.basis, a.table_version) == ("equivalent_gbt2589", "gbt2589-2020.v1")
    assert math.isnan(a.yoy_energy_tce)  # no 2024 data: no year-on-year change, not 0 or inf


def test_audit_list_calendar_year_and_projection(city):
    db, engine = city
    with session_scope(engine) as s:
        done = service.audit_list(influx=db, session=s, year=YEAR, now=AFTER)
        assert set(done.window) == {"calendar_year", "rolling_12_months"}  # year complete: no projection
        cal = done[done.window == "calendar_year"]
        assert cal.index.tolist() == [B]  # A: 672.4 tce and 3.67 GWh, below both
        assert cal.loc[B, "triggered_by"] == "electricity"
        assert_allclose(cal.loc[B, "electricity_excess_kwh"], 840_000)  # 5,840,000 - 5,000,000
        early = service.audit_list(influx=db, session=s, year=YEAR, now=dt.datetime(2025, 3, 1, 12, tzinfo=dt.UTC),
                                   windows=("projected_year_end",))
    row = early.loc[B]
    # 1 Jan - 28 Feb = 59 days x 16,000 = 944,000 kWh; x 365 / 59 = 5,840,000 kWh projected
    assert_allclose(row.electricity_kwh, 5_840_000)
    assert row.projection_basis == "measured_days_rate from 2025-02-28"  # no 2024 data to shape it
    assert row.verdict == "projected"
    assert_allclose(row.measured_days, 59.0)  # every reading of the 59 days present
    assert row.triggered_by == "electricity"


def test_city_and_district_indicators(city):
    db, engine = city
    with session_scope(engine) as s:
        c = service.city_indicators(influx=db, session=s, year=YEAR, now=AFTER)
        d = service.district_indicators(influx=db, session=s, year=YEAR, now=AFTER)
    i = c.indicators
    assert c.buildings == 2
    assert_allclose(i["energy_tce"], 1390.173675)  # 672.437675 + 717.736
    assert_allclose(i["electrification_share"], 1168.563925 / 1390.173675)  # (450.827925 + 717.736) / total
    assert_allclose(i["renewable_substitution_rate"], 13.45755 / 1390.173675)  # 0.97%, far from 8%
    assert i["pv_coverage"] == 1.0  # the one new state-organ building (A, 2022) has PV
    progress = {(p["indicator"], p["year"]): p for p in c.plan_progress}
    assert progress[("renewable_substitution_rate", 2025)]["met"] is False
    assert progress[("electrification_share", 2025)]["met"] is True  # 84% > 55%
    assert progress[("electrification_share", 2030)]["met"] is True  # 84% > 65%
    assert progress[("energy_per_m2_change", 2025)]["met"] is None  # no baseline year given
    assert_allclose(d.loc["Wutongqiao", "energy_tce"], 717.736)
    assert d.loc["Shizhong", "buildings"] == 1


def test_building_indicators_and_unknown_building(city):
    db, engine = city
    with session_scope(engine) as s:
        r = service.building_indicators(influx=db, session=s, building_code=A, year=YEAR, now=AFTER)
        with pytest.raises(service.BuildingNotFound, match="510402A999"):
            service.building_indicators(influx=db, session=s, building_code="510402A999", year=YEAR, now=AFTER)
    assert r.attributes["floor_area_m2"] == 10_000
    assert_allclose(r.indicators["energy_kgce_per_person"], 672_437.675 / 500)  # kgce / occupants
    assert {a["window"] for a in r.audit} == {"calendar_year", "rolling_12_months"}
    assert r.basis == "equivalent_gbt2589"


def test_equal_value_basis_flows_through(city):
    db, engine = city
    with session_scope(engine) as s:
        with pytest.raises(ValueError, match="no equal_value factor.*CN-51"):
            service.annual_frame(influx=db, session=s, year=YEAR, now=AFTER, basis="equal_value")
        df = service.annual_frame(influx=db, session=s, year=YEAR, now=AFTER, basis="equal_value",
                                  region="CN-31", with_previous=False)
    assert_allclose(df.loc[B, "energy_tce"], 1639.872)  # 5,840,000 x 0.2808 / 1000
    assert (df.basis == "equal_value").all()


def test_report_cli_subprocess_writes_table_and_csv(city, tmp_path):
    import subprocess
    import sys
    from pathlib import Path

    import pandas as pd

    db, engine = city
    out = tmp_path / "audit.csv"
    r = subprocess.run(
        [sys.executable, "-m", "analytics", "--influx-url", db.url, "--influx-db", db.database,
         "--registry-url", engine.url.render_as_string(hide_password=False),
         "report", "--year", str(YEAR), "--as-of", "2025-12-31", "--csv", str(out)],
        cwd=Path(__file__).resolve().parents[2], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert "Audit list 2025" in r.stdout and B in r.stdout and A not in r.stdout.split("City indicators")[0]
    audit = pd.read_csv(out, dtype={"building_code": str})
    assert set(audit.building_code) == {B}
    assert set(audit.window) == {"calendar_year", "rolling_12_months"}
    city_rows = pd.read_csv(tmp_path / "audit_city.csv")
    energy = city_rows[(city_rows.section == "indicator") & (city_rows.name == "energy_tce")].value.astype(float)
    assert_allclose(energy.iloc[0], 1390.173675)  # same city total as the service test


def test_rolling_window_mixes_months_and_edge_days(city):
    db, engine = city
    with session_scope(engine) as s:
        r = service.audit_frame(influx=db, session=s, year=YEAR, as_of=dt.date(2025, 6, 15), now=AFTER,
                                windows=("rolling_12_months",))
    # 16 Jun 2024 - 15 Jun 2025: no 2024 data; Jan-May 2025 from building_1mo (151 days) + 1-15 June
    # from meter_1d (15 days) = 166 days x 16,000 kWh = 2,656,000 kWh
    assert_allclose(r.loc[B, "electricity_kwh"], 2_656_000)
    assert_allclose(r.loc[B, "coverage"], 166 / 365, rtol=1e-3)  # expected readings from the registry's install dates


def test_registry_read_once_gives_the_same_frames(city):
    """A caller building both the annual frame and the audit list may read the registry once and
    hand it to both: the same frames as each reading its own."""
    db, engine = city
    with session_scope(engine) as s:
        reg = reader.registry_frame(session=s)
        pd.testing.assert_frame_equal(service.annual_frame(influx=db, session=s, year=YEAR, now=AFTER, registry=reg),
                                      service.annual_frame(influx=db, session=s, year=YEAR, now=AFTER))
        pd.testing.assert_frame_equal(service.audit_list(influx=db, session=s, year=YEAR, now=AFTER, registry=reg),
                                      service.audit_list(influx=db, session=s, year=YEAR, now=AFTER))


@pytest.mark.parametrize("now, as_of", [(AFTER, None), (AFTER, dt.date(2025, 6, 15))])
def test_audit_reuses_the_annual_windows(city, monkeypatch, now, as_of):
    """The audit handed the annual frame's windows computes only the windows the annual frame did
    not (the rolling 12 months and the projection's year-to-date), and gives the same frame."""
    db, engine = city
    computed = []
    window_frame = service.window_frame

    def counting(**kw):
        computed.append((kw["start"], kw["end"]))
        return window_frame(**kw)

    with session_scope(engine) as s:
        reg = reader.registry_frame(session=s)
        expected = service.audit_frame(influx=db, session=s, year=YEAR, as_of=as_of, now=now, registry=reg)
        monkeypatch.setattr(service, "window_frame", counting)
        frames: service.WindowFrames = {}
        service.annual_frame(influx=db, session=s, year=YEAR, now=now, registry=reg, window_frames=frames)
        annual_windows = list(computed)
        got = service.audit_frame(influx=db, session=s, year=YEAR, as_of=as_of, now=now, registry=reg,
                                  window_frames=frames)
    pd.testing.assert_frame_equal(got, expected)
    # The annual frame computes 2025 and 2024; the audit adds only what is not a calendar year.
    assert annual_windows == [service.year_window(y, service.TZ_NAME) for y in (YEAR, YEAR - 1)]
    audit_windows = computed[len(annual_windows):]
    assert all((st, en) not in annual_windows for st, en in audit_windows)
    # as_of None: 2025 is complete, its rolling 12 months are the calendar year: nothing new.
    # as_of 15 June: rolling 12 months, the year to date and 2024 to 15 June are new; 2024 whole
    # (the projection's last-year total) is the annual frame's previous year: 3, not 4.
    assert len(audit_windows) == (0 if as_of is None else 3)
