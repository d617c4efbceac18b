"""The whole chain with real processes: simulator fleet and backfill (with its ground-truth file)
-> MQTT -> ingest -> InfluxDB -> rollup -> analytics. The rolled-up sums and the indicators must
equal those computed from the simulator's ground truth."""

from __future__ import annotations

import datetime as dt
import json
import subprocess
import sys
import uuid
from collections import defaultdict
from pathlib import Path

import pandas as pd
import pytest
from numpy.testing import assert_allclose

from analytics import balance_store, reader, rollup, service
from analytics.energy import energy_tce
from contract.localtime import local_midnight
from registry.db import make_engine, session_scope
from storage.influx import InfluxHTTP
from tests.ingest.helpers import IngestProcess, ingest_argv, wait_acked, with_metrics

pytestmark = [pytest.mark.servers, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]
START, END = dt.date(2025, 7, 1), dt.date(2025, 7, 4)  # three local days of summer (PV, cooling)


def run(*argv: str, timeout_s: float = 240) -> subprocess.CompletedProcess:
    r = subprocess.run([sys.executable, *argv], cwd=ROOT, capture_output=True, text=True, timeout=timeout_s)
    assert r.returncode == 0, f"{argv}: {r.stdout[-2000:]}\n{r.stderr[-2000:]}"
    return r


def total_points(db: InfluxHTTP) -> int:
    n = 0
    for m in ("meter", "pv", "ev_pile", "ev_session"):
        for s in db.query(f'SELECT count(*) FROM "{m}"'):
            # count(*) gives one column per field; a point has at least one, the widest is the point count
            n += max(v for v in s["values"][0][1:] if v is not None)
    return n


@pytest.fixture(scope="module")
def pipeline(mosquitto, influxd, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("pipeline")
    fleet, gt = tmp / "fleet.yaml", tmp / "gt.csv"
    run("-m", "simulators", "fleet", "--seed", "3", "--size", "4", "--out", str(fleet))
    url = f"sqlite:///{tmp / 'registry.db'}"
    run("-m", "registry", "--url", url, "import", "--fleet", str(fleet))
    db_name = f"pipe_{tmp.name.replace('-', '_')}"
    db = InfluxHTTP(influxd.url, db_name, timeout_s=120)
    db.create_database()
    # A share group of its own: a persistent ingest session another test left on the session-wide broker
    # under the default group would otherwise be handed a share of these messages.
    argv, metrics_port = with_metrics(ingest_argv(mosquitto.port, influxd.url, db_name, "--fleet-file", str(fleet),
                                                  "--share-group", f"pipe{uuid.uuid4().hex[:6]}"))
    ingest = IngestProcess(argv, tmp / "ingest.log").start()
    try:
        ingest.wait_connected()
        r = run("-m", "simulators", "backfill", "--fleet", str(fleet), "--seed", "3",
                "--start", START.isoformat(), "--end", END.isoformat(), "--mqtt-port", str(mosquitto.port),
                "--ground-truth", str(gt))
        messages = json.loads(r.stdout.strip().splitlines()[-1])["messages"]
        # Acked means written: a stored-point count cannot tell, since a gateway batch is one message.
        wait_acked(metrics_port, messages)
    finally:
        ingest.terminate()
    # The month step also writes the SQL balance table the annual readers read (analytics.balance_store).
    rollup.run(db, start=START - dt.timedelta(days=1), end=END, now=dt.datetime(2026, 1, 1, tzinfo=dt.UTC),
               store=make_engine(url))
    # The tests read the rollups, from the retention policy the job created for them.
    yield (rollup.rollup_client(db, rollup.ROLLUP_RP), make_engine(url),
           pd.read_csv(gt, dtype={"building_code": str, "carrier": str, "sub_item": str}))
    db.query_raw(f'DROP DATABASE "{db_name}"', post=True)
    db.close()


def _window():
    return local_midnight(START), local_midnight(END)


def test_rollups_equal_ground_truth_totals(pipeline):
    db, _engine, gt = pipeline
    start, end = _window()
    # Totals over the whole backfill: the simulator attributes the interval ending at 00:00 to the
    # new day, the rollups to the day it ends (docs/analytics.md); over the period both agree.
    got = defaultdict(float)
    q = (f"SELECT sum(consumption_kwh), sum(consumption_m3) FROM meter_1d WHERE time >= "  # noqa: S608
         f"{int(start.timestamp() * 1000)}ms AND time < {int(end.timestamp() * 1000)}ms "
         "GROUP BY building_code, carrier, sub_item")
    for s in db.query(q):
        t = s["tags"]
        _, kwh, m3 = s["values"][0]
        got[(t["building_code"], t["carrier"], t.get("sub_item") or "")] += (kwh or 0.0) + (m3 or 0.0)
    meters = gt[gt.measurement == "meter"].fillna({"sub_item": "", "consumption_kwh": 0, "consumption_m3": 0})
    want = meters.groupby(["building_code", "carrier", "sub_item"])[["consumption_kwh", "consumption_m3"]].sum()
    assert len(want) > 10
    for (code, carrier, sub), row in want.iterrows():
        assert got[(code, carrier, sub)] == pytest.approx(row.consumption_kwh + row.consumption_m3, rel=1e-9,
                                                          abs=1e-6), (code, carrier, sub)
    balance = reader.read_balance(influx=db, start=start, end=end)
    pv = gt[gt.measurement == "pv"].groupby("building_code")[["generation_kwh", "to_grid_kwh", "from_grid_kwh"]].sum()
    for code, row in pv.iterrows():
        assert_allclose(balance.at[code, "pv_generation_kwh"], row.generation_kwh, rtol=1e-9, atol=1e-6)
        if row.to_grid_kwh > 0 or row.from_grid_kwh > 0:
            assert_allclose(balance.at[code, "pv_to_grid_kwh"], row.to_grid_kwh, rtol=1e-9, atol=1e-6)
            assert_allclose(balance.at[code, "electricity_from_grid_kwh"], row.from_grid_kwh, rtol=1e-9, atol=1e-6)
    ev = gt[gt.measurement == "ev_pile"].groupby("building_code")[["consumption_kwh", "pv_energy_kwh",
                                                                     "sessions"]].sum()
    # the generated fleet exercises PV with a grid meter, EV sessions and gas (its PV is smaller than
    # the load, so export and PV-charged EV energy are 0 here; the service test covers those)
    assert (pv.from_grid_kwh > 0).any() and (ev.sessions > 0).any()
    assert (want.consumption_m3 > 0).any()
    for code, row in ev.iterrows():
        assert_allclose(balance.at[code, "ev_energy_kwh"], row.consumption_kwh, rtol=1e-9, atol=1e-6)
        assert_allclose(balance.at[code, "ev_pv_energy_kwh"], row.pv_energy_kwh, rtol=1e-9, atol=1e-6)
        assert balance.at[code, "ev_sessions"] == row.sessions


def gt_energy_tce(gt: pd.DataFrame, code: str) -> float:
    """E from the ground truth by the written definition: grid import + self-consumed PV + fuels."""
    b = gt[gt.building_code == code]
    b = b.fillna({c: 0.0 for c in b.columns if b[c].dtype.kind == "f"})
    meter = b[b.measurement == "meter"]
    main = meter[(meter.carrier == "electricity") & (meter.sub_item == "main")].consumption_kwh.sum()
    ev = b[b.measurement == "ev_pile"].consumption_kwh.sum()
    pv = b[b.measurement == "pv"]
    gen, export, from_grid = pv.generation_kwh.sum(), pv.to_grid_kwh.sum(), pv.from_grid_kwh.sum()
    grid = from_grid if (export > 0 or from_grid > 0) else max(main + ev - gen, 0.0)
    q = {"electricity_from_grid_kwh": grid, "pv_generation_kwh": gen, "pv_to_grid_kwh": export,
         "natural_gas_m3": meter[meter.carrier == "natural_gas"].consumption_m3.sum(),
         "district_heat_kwh": meter[meter.carrier == "district_heat"].consumption_kwh.sum()}
    return energy_tce(q).energy_tce


def test_indicators_equal_ground_truth(pipeline):
    db, engine, gt = pipeline
    start, end = _window()
    with session_scope(engine) as s:
        attrs, devices = reader.registry_frame(session=s)
        frame = service.window_frame(influx=db, attrs=attrs, devices=devices, start=start, end=end,
                                     basis="equivalent_gbt2589", region=None)
    for code in attrs.index:
        assert_allclose(frame.at[code, "energy_tce"], gt_energy_tce(gt, code), rtol=1e-9, atol=1e-9)
    # every device reported every interval of the three days: coverage is complete but for the
    # first reading of each device, which has no previous register: 287 / 288 = 0.9965
    assert (frame.coverage > 0.99).all() and (frame.coverage <= 1.0).all()


def test_month_path_equals_day_path(pipeline):
    db, _engine, _gt = pipeline
    # July as a whole month comes from building_1mo; 1-3 July as days from the per-device _1d rollups.
    months = reader.read_balance(influx=db, start=local_midnight(dt.date(2025, 7, 1)),
                                 end=local_midnight(dt.date(2025, 8, 1)))
    days = reader.read_balance(influx=db, start=local_midnight(START), end=local_midnight(END))
    assert reader.split_window(local_midnight(dt.date(2025, 7, 1)), local_midnight(dt.date(2025, 8, 1)))[0][0] == "1mo"
    assert len(days) >= 4
    pd.testing.assert_frame_equal(months.sort_index()[sorted(days.columns)], days.sort_index()[sorted(days.columns)],
                                  check_dtype=False, rtol=1e-12)


def test_sql_balance_equals_influx_balance(pipeline):
    """The month step writes the simulator's buildings' balance to the SQL table from the same frame
    as ``building_1mo``: July and the whole year 2025 read from the table equal the InfluxDB reads."""
    db, engine, gt = pipeline
    for first, end in ((dt.date(2025, 7, 1), dt.date(2025, 8, 1)), (dt.date(2025, 1, 1), dt.date(2026, 1, 1))):
        from_influx = reader.read_balance(influx=db, start=local_midnight(first), end=local_midnight(end))
        with session_scope(engine) as s:
            months = balance_store.month_starts(first, end)
            assert balance_store.stored_months(s, months) == [dt.date(2025, 7, 1)]  # the simulated month
            stored = balance_store.read_months(s, balance_store.stored_months(s, months))
            via_reader = reader.read_balance(influx=db, start=local_midnight(first), end=local_midnight(end), session=s)
        assert set(stored.index) == set(gt.building_code)
        pd.testing.assert_frame_equal(stored.sort_index(), from_influx.sort_index(), check_dtype=False, rtol=1e-12)
        pd.testing.assert_frame_equal(via_reader.sort_index(), from_influx.sort_index(), check_dtype=False,
                                      rtol=1e-12)


def test_months_missing_from_the_table_come_from_influxdb(pipeline, tmp_path):
    """A database upgraded mid-year holds only the months rolled up since the upgrade: a window read
    takes the other months from ``building_1mo``, never silently fewer months. Here a fresh table
    holds a made-up August only (1,000 kWh of load for one building) and not July, which InfluxDB
    has: July-August must be InfluxDB's July plus that August."""
    db, _, gt = pipeline
    store = make_engine(f"sqlite:///{tmp_path / 'store.db'}")
    balance_store.metadata.create_all(store)
    code = sorted(gt.building_code.unique())[0]
    august = pd.DataFrame({f: [0.0] for f in balance_store.BALANCE_FIELDS},
                          index=pd.Index([code], name="building_code"))
    august["load_kwh"] = 1000.0
    balance_store.write_month(store, dt.date(2025, 8, 1), august)
    first, end = local_midnight(dt.date(2025, 7, 1)), local_midnight(dt.date(2025, 9, 1))
    july = reader.read_balance(influx=db, start=first, end=end)  # InfluxDB only: July's data, no August
    with session_scope(store) as s:
        assert balance_store.stored_months(s, balance_store.month_starts(dt.date(2025, 7, 1), dt.date(2025, 9, 1))) \
            == [dt.date(2025, 8, 1)]
        mixed = reader.read_balance(influx=db, start=first, end=end, session=s)
    assert set(mixed.index) == set(july.index) and july.loc[code, "load_kwh"] > 0
    expected = july.copy()
    expected.loc[code, "load_kwh"] += 1000.0  # July from InfluxDB + August from the table
    pd.testing.assert_frame_equal(mixed.sort_index(), expected.sort_index(), check_dtype=False, rtol=1e-12)
