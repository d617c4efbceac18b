"""Every panel's queries, substituted as Grafana does, run against the real InfluxDB filled with
the small city of fleet_data.py, and return what the worked examples say.

Worked numbers (per 15-minute interval x 192 intervals = 2 days; factors of
dashboards.indicators: 0.1229 kgce/kWh electricity, 1.2143 kgce/m3 gas, 0.122832 kgce/kWh heat):

- A001 office: main meter (its load) 10 x 192 = 1920 kWh; EV pile 1.75 kWh every other interval =
  96 x 1.75 = 168 kWh; PV inverter 1 x 192 = 192 kWh, no grid meter (all self-consumed, the load is
  larger every day) -> grid import 1920 + 168 - 192 = 1896 kWh, electricity used 1896 + 192 = 2088
  kWh; gas 1 x 192 = 192 m3; heat 2 x 192 = 384 kWh
- B002 mall: grid meter import 0.1 x 192 = 19.2 kWh, export 0.5 x 192 = 96 kWh, generation
  2 x 192 = 384 kWh -> electricity used 19.2 + 384 - 96 = 307.2 kWh (the grid meter wins over the
  main meter's 5760 kWh, docs/analytics.md; the synthetic data do not balance)
- C003 hotel: electricity 30000 x 192 = 5,760,000 kWh  -> electricity test (>= 5,000,000 kWh)
- E004 hospital: electricity 100 x 192 = 19,200 kWh; gas 4500 x 192 = 864,000 m3
  -> 19,200 x 0.0001229 + 864,000 x 0.0012143 = 2.35968 + 1049.1552 = 1051.51488 tce (>= 1000 tce)

These are worked from the fleet's readings by hand, never with the dashboard's query: the panels
read the balance the rollup job writes (building_1d), so a double-counted PV or a missing EV pile
shows up here.
"""

from __future__ import annotations

import re

import pytest
from numpy.testing import assert_allclose

from dashboards import common as c
from dashboards.interpolate import Variable, interpolate
from dashboards.titles import english
from tests.dashboards import fleet_data as fd
from tests.dashboards.grafana_emulation import run_panel, transformed_table

pytestmark = pytest.mark.servers

ALL = {
    "district": Variable(("510402", "510403"), multi=True, include_all=True, all_value="[0-9]{6}", is_all=True),
    "building_type": Variable(tuple("ABCDEFGH"), multi=True, include_all=True, all_value="[A-H]", is_all=True),
    "gap_s": Variable("1800"),
}
K_EL, K_GAS, K_HEAT = 0.1229e-3, 1.2143e-3, 0.122832e-3  # tce per kWh / m3 / kWh


def panel(dash: dict, title_start: str) -> dict:
    found = [p for p in dash["panels"] if english(p["title"]).startswith(title_start)]
    assert len(found) == 1, f"{len(found)} panels titled {title_start!r} in {dash['uid']}"
    return found[0]


def run(city, dash, title, variables=ALL, *, day_aligned=False):
    start = fd.day_floor_ms(city.t0_ms) if day_aligned else city.t0_ms
    return run_panel(panel(dash, title), variables, from_ms=start, to_ms=city.t_end_ms, url=city.url, db=city.db)


def test_every_panel_query_runs_without_error(city, generated):
    for dash in generated.values():
        variables = {**ALL, "building": Variable(fd.A001)}
        for p in dash["panels"]:
            r = run_panel(p, variables, from_ms=fd.day_floor_ms(city.t0_ms), to_ms=city.t_end_ms,
                          url=city.url, db=city.db)
            for q in r.queries.values():
                left = re.search(r"\$\w|\$\{|\[\[", q)
                assert not left, f"unsubstituted variable in {dash['uid']} / {p['title']}: {q}"


def test_overview_audit_list_names_each_triggered_test(city, generated):
    r = run(city, generated[c.OVERVIEW_UID], "Audit list", day_aligned=True)
    rows = {row["building_code"]: row for row in r.rows("A")}
    assert set(rows) == {fd.C003, fd.E004}
    assert rows[fd.C003]["electricity_kwh"] == 5_760_000  # 30000 kWh x 192
    assert_allclose(rows[fd.C003]["energy_tce"], 5_760_000 * K_EL)  # 707.904 tce, below 1000
    assert rows[fd.E004]["electricity_kwh"] == 19_200  # below 5,000,000
    assert_allclose(rows[fd.E004]["energy_tce"], 19_200 * K_EL + 864_000 * K_GAS)  # 1051.51488 tce
    assert_allclose(rows[fd.C003]["electricity_of_threshold"], 1.152)  # 5,760,000 / 5,000,000
    assert rows[fd.C003]["energy_of_threshold"] < 1  # 707.904 / 1000: only the electricity test
    assert rows[fd.E004]["electricity_of_threshold"] < 1  # 19,200 / 5,000,000
    assert_allclose(rows[fd.E004]["energy_of_threshold"], 1.05151488)  # 1051.51488 / 1000


def test_overview_top_consumers_in_order(city, generated):
    dash = generated[c.OVERVIEW_UID]
    kwh = run(city, dash, "Top 10 by grid electricity", day_aligned=True).rows("A")
    # grid import: 5,760,000; 19,200; A001 1896 (load + EV - PV); B002 19.2 (its grid meter)
    assert [r["building_code"] for r in kwh] == [fd.C003, fd.E004, fd.A001, fd.B002]
    assert_allclose([r["electricity_from_grid_kwh"] for r in kwh], [5_760_000, 19_200, 1896, 19.2], rtol=1e-9)
    tce = run(city, dash, "Top 10 by energy (tce)", day_aligned=True).rows("A")
    a001_tce = 2088 * K_EL + 192 * K_GAS + 384 * K_HEAT  # 0.536928288 (EV charging included)
    assert [r["building_code"] for r in tce] == [fd.E004, fd.C003, fd.A001, fd.B002]
    assert_allclose([r["energy_tce"] for r in tce],
                    [1051.51488, 707.904, a001_tce, 307.2 * K_EL], rtol=1e-9)


def test_overview_intensity_joins_registry_floor_area(city, generated):
    rows = transformed_table(run(city, generated[c.OVERVIEW_UID], "Top 10 by energy use intensity",
                                 day_aligned=True))
    assert [r["building_code"] for r in rows] == [fd.E004, fd.C003, fd.A001, fd.B002]
    assert_allclose([r["intensity_kgce_per_m2"] for r in rows], [
        1051514.88 / 10_000,  # E004: 105.151488 kgce/m2
        707904 / 20_000,  # C003: 35.3952
        (2088 * K_EL + 192 * K_GAS + 384 * K_HEAT) * 1000 / 1000,  # A001: 0.536928288
        307.2 * K_EL * 1000 / 5000,  # B002: 0.007550976
    ], rtol=1e-9)


def test_overview_electrification_and_renewable_shares(city, generated):
    dash = generated[c.OVERVIEW_UID]
    # grid import, not the main meters: PV self-consumption is not counted twice, EV charging is in
    grid = (1896 + 19.2 + 5_760_000 + 19_200) * K_EL  # 710.32 tce
    fuel = (192 + 864_000) * K_GAS + 384 * K_HEAT  # 1049.435513088 tce
    pv_self = (192 + 384 - 96) * K_EL  # generation - export = 480 kWh -> 0.058992 tce
    r = run(city, dash, "Electrification share", day_aligned=True)
    assert_allclose(r.numbers["D"], (grid + pv_self) / (grid + fuel + pv_self), rtol=1e-9)  # ~0.40397
    r = run(city, dash, "Renewable substitution", day_aligned=True)
    assert_allclose(r.numbers["D"], pv_self / (grid + fuel + pv_self), rtol=1e-9)  # ~3.35e-5


def test_overview_buildings_by_type_per_repeated_district(city, generated):
    p = panel(generated[c.OVERVIEW_UID], "Buildings reporting in district")
    assert p["repeat"] == "district"
    counts = {}
    for district in ("510402", "510403"):
        variables = {**ALL, "district": Variable(district, multi=True, include_all=True, all_value="[0-9]{6}")}
        r = run_panel(p, variables, from_ms=fd.day_floor_ms(city.t0_ms), to_ms=city.t_end_ms, url=city.url,
                      db=city.db)
        counts[district] = {col: v for ref in r.series for row in r.rows(ref) for col, v in row.items()
                            if col != "time"}
    assert counts == {"510402": {"office": 1, "mall": 1, "hotel": 1}, "510403": {"medical": 1}}


def test_overview_filters_by_type(city, generated):
    offices = {**ALL, "building_type": Variable(("A",), multi=True, include_all=True, all_value="[A-H]")}
    rows = run(city, generated[c.OVERVIEW_UID], "Top 10 by grid electricity", offices, day_aligned=True).rows("A")
    assert [r["building_code"] for r in rows] == [fd.A001]


def test_building_detail(city, generated):
    dash = generated[c.BUILDING_UID]
    v = {**ALL, "building": Variable(fd.A001)}
    r = run(city, dash, "Electricity by sub-item", v)
    assert r.queries["A"].count("GROUP BY time(15m)") == 1  # 2 days / 1000 points < 15 min minimum
    by_item = {s["tags"]["sub_item"]: sum(x[1] for x in s["values"]) for s in r.series["A"]}
    assert by_item == {"lighting_sockets": 4 * 192, "hvac": 6 * 192}  # 768 + 1152 = 1920 kWh = main
    assert_allclose([x[1] for x in run(city, dash, "Load profile", v).series["A"][0]["values"] if x[1]], 40.0)
    base = [x[1] for x in run(city, dash, "Base load", v).series["A"][0]["values"]]
    assert base and all(b == 40.0 for b in base)  # constant 40 kW load: every hour's mean is 40
    gas = run(city, dash, "Natural gas", v)
    assert sum(x[1] for x in gas.series["A"][0]["values"]) == 192  # the gap's energy arrives with the closer
    water = run(city, dash, "Water", v)
    assert sum(x[1] for x in water.series["A"][0]["values"]) == 0.5 * (192 - fd.WATER_SILENT_INTERVALS)
    eui = run(city, dash, "Electricity use intensity", v)
    assert_allclose(eui.numbers["EUI"], 2088 / 1000)  # electricity used 1920 + 168 EV kWh / 1000 m2
    pv = run(city, dash, "Rooftop PV of this building", v)
    assert sum(x[1] for x in pv.series["A"][0]["values"]) == 192  # 1 kWh x 192
    ev = run(city, dash, "EV charging energy", v)
    assert sum(x[1] for x in ev.series["A"][0]["values"]) == 96 * 7.0 / 4  # 96 charging intervals x 1.75 kWh
    cov = {row["device_id"]: row["coverage"] for row in run(city, dash, "Data coverage", v).rows("A")}
    assert cov["el-main"] == 1.0  # 192 x 900 s / 172,800 s
    assert cov["water"] == (192 - 12) * 900 / 172_800  # 0.9375
    assert cov["gas"] == (192 - 8) * 900 / 172_800  # 8 missing readings


def test_base_load_of_a_range_that_starts_late_in_the_evening(city, generated):
    # Grafana's "last 2 days" opened at 22:00 local starts the first local day with 8 readings.
    # InfluxDB 1.6's percentile(5) of fewer than 10 values is null, and a null first bucket emptied
    # the whole panel (CI at 21:30 local). The lowest hourly mean has a value for any hour with a
    # reading: 2 hours (22:00-24:00) of a constant 40 kW -> 40, then today's hours up to the end -> 40.
    panel_ = panel(generated[c.BUILDING_UID], "Base load")
    from_ms = fd.day_floor_ms(city.t_end_ms) - 2 * 3_600_000  # 22:00 local, inside the 2 days of data
    r = run_panel(panel_, {**ALL, "building": Variable(fd.A001)}, from_ms=from_ms, to_ms=city.t_end_ms,
                  url=city.url, db=city.db)
    assert [x[1] for x in r.series["A"][0]["values"]] == [40.0, 40.0]  # the evening's local day, today


def test_building_quota_from_registry_sync(city, generated):
    # The shipped quota table holds EXAMPLE values only: none is synced, the panel shows no quota.
    r = run(city, generated[c.BUILDING_UID], "Electricity use intensity", {**ALL, "building": Variable(fd.A001)})
    assert r.numbers.get("QUOTA") is None


def test_pv_dashboard(city, generated):
    dash = generated[c.PV_UID]
    r = run(city, dash, "PV generation and export")
    totals = [sum(row[i] for row in r.series["A"][0]["values"]) for i in (1, 2)]
    assert totals == [(1 + 2) * 192, 0.5 * 192]  # 576 kWh generated, 96 kWh exported
    share = {row["building_code"]: row["self_consumption"] for row in run(city, dash, "Self-consumption").rows("A")}
    assert share == {fd.A001: 1.0, fd.B002: (384 - 96) / 384}  # inverter only: no export known
    rows = transformed_table(run(city, dash, "Specific yield"))
    assert [(r["building_code"], r["specific_yield_kwh_per_kwp"]) for r in rows] == [
        (fd.A001, 192 / 20), (fd.B002, 384 / 50)]  # 9.6 and 7.68 kWh/kWp


def test_ev_dashboard(city, generated):
    dash = generated[c.EV_UID]
    assert run(city, dash, "Finished charging sessions").total("A", "sessions") == 2
    energy = run(city, dash, "Charging energy")
    assert energy.total("A", "energy_kwh") == 16 and energy.total("A", "pv_energy_kwh") == 6
    green = run(city, dash, "PV (green) share").rows("A")
    assert_allclose(green[0]["green_share"], 6 / 16)  # (4 + 2) / (10 + 6)
    util = run(city, dash, "Utilization per pile").rows("A")
    assert [(u["device_id"], u["utilization"]) for u in util] == [("ev1", 0.5)]  # every other report
    power = [x[1] for x in run(city, dash, "Charging power").series["A"][0]["values"] if x[1] is not None]
    assert max(power) == 7.0 and min(power) == 0.0


def test_data_quality_dashboard(city, generated):
    dash = generated[c.QUALITY_UID]
    silent = run(city, dash, "Meters silent")
    assert silent.numbers["C"] == 1  # 10 meters seen in 30 days, 9 in the last hour: A001 water
    gaps = run(city, dash, "Gaps longer than").rows("A")
    assert [(g["device_id"], g["gaps"], g["longest_gap_s"]) for g in gaps] == [("gas", 1, 9 * 900)]
    found = run(city, dash, "Data-quality findings").rows("A")
    assert sorted((f["code"], f["device_id"], f["findings"]) for f in found) == [
        ("gap", "gas", 1), ("register_jitter", "el", 2), ("spike", "el", 1)]  # as written in fleet_data.py
    # d0 is stamped t_end - 900 s, d1 one second earlier: the last detail is d0.
    assert {f["last_detail"] for f in found if f["code"] == "register_jitter"} == {"d0"}
    dl = run(city, dash, "Dead-lettered messages")
    assert {s["tags"]["reason"]: sum(x[1] for x in s["values"]) for s in dl.series["A"]} == {
        "bad_json": 3, "unknown_unit": 2}
    lag = run(city, dash, "Ingest lag")
    assert {x[1] for x in lag.series["A"][0]["values"] if x[1] is not None} == {2.0}
    rate = run(city, dash, "Readings written per second")
    assert_allclose([x[1] for x in rate.series["A"][0]["values"] if x[1] is not None], 1000 / 60, rtol=0.5)


def test_alert_rules_fire_for_exactly_the_buildings_over_each_test(city):
    """The provisioned rules' query over their 365-day window, reduced (last) and compared (>=)
    as Grafana does: one firing instance per building at or over the threshold."""
    from dashboards import alerts
    from tests.dashboards.grafana_emulation import query_influx

    firing = {}
    for rule in alerts.provisioning_document()["groups"][0]["rules"]:
        a, reduce_, threshold = rule["data"]
        q = interpolate(a["model"]["query"], {}, from_ms=city.t_end_ms - a["relativeTimeRange"]["from"] * 1000,
                        to_ms=city.t_end_ms, min_interval="15m")
        assert reduce_["model"]["reducer"] == "last"
        limit = threshold["model"]["conditions"][0]["evaluator"]["params"][0]
        firing[rule["uid"]] = {s["tags"]["building_code"] for s in query_influx(city.url, city.db, q)
                               if s["values"][-1][1] >= limit}
    assert firing == {"energy-audit-electricity": {fd.C003},  # 5,760,000 kWh >= 5,000,000
                      "energy-audit-tce": {fd.E004}}  # 1051.51 tce >= 1000; C003 has 707.9 tce


def test_variable_queries_list_districts_and_buildings(city, generated):
    from tests.dashboards.grafana_emulation import query_influx

    variables = {v["name"]: v for v in generated[c.BUILDING_UID]["templating"]["list"]}
    tf = dict(from_ms=city.t0_ms, to_ms=city.t_end_ms)
    codes = [row[1] for s in query_influx(city.url, city.db, interpolate(variables["district"]["query"], ALL, **tf))
             for row in s["values"]]
    regex = re.compile(variables["district"]["regex"].strip("/"))
    assert sorted({regex.match(code).group(1) for code in codes}) == ["510402", "510403"]
    one = {**ALL, "district": Variable(("510402",), multi=True, include_all=True, all_value="[0-9]{6}"),
           "building_type": Variable(("A", "B"), multi=True, include_all=True, all_value="[A-H]")}
    q = interpolate(variables["building"]["query"], one, **tf)
    assert [row[1] for s in query_influx(city.url, city.db, q) for row in s["values"]] == [fd.A001, fd.B002]
