"""A small city in the storage schema of docs/glossary.md, with round numbers so that every
panel's expected value can be worked out by hand (see the constants and test_panels_run.py).

Two days at 15-minute intervals ending at the last quarter hour before now; every value is
stamped at the end of its interval, as ingest stores it. Until the simulator and ingest run in
this test, the points are written as line protocol directly (the shape ingest writes).
"""

from __future__ import annotations

import datetime as dt
import time

import httpx

from analytics import rollup
from contract.localtime import local_date, local_midnight
from dashboards import common as c
from registry.fleet import BuildingSpec, Fleet, MeterSpec, PileSpec, PvSpec
from storage.influx import InfluxHTTP

STEP_MS = 900_000
INTERVALS = 192  # 2 days x 96
GAS_GAP_INTERVALS = 8  # A001's gas meter misses 8 readings; the next one closes a 9-interval gap
WATER_SILENT_INTERVALS = 12  # A001's water meter stops 3 h before the end

A001, B002, C003, E004 = "510402A001", "510402B002", "510402C003", "510403E004"
#: kWh (or m3) per 15-minute interval, per building and meter.
PER_INTERVAL = {
    (A001, "el-main"): 10.0, (A001, "el-ls"): 4.0, (A001, "el-hvac"): 6.0,
    (A001, "gas"): 1.0, (A001, "water"): 0.5, (A001, "heat"): 2.0,
    (B002, "el-main"): 30.0, (C003, "el-main"): 30000.0,
    (E004, "el-main"): 100.0, (E004, "gas"): 4500.0,
}
FLOOR_AREA_M2 = {A001: 1000.0, B002: 5000.0, C003: 20000.0, E004: 10000.0}
PV_KWP = {A001: 20.0, B002: 50.0}
PV_GEN_KWH = {A001: 1.0, B002: 2.0}  # per interval
B002_EXPORT_KWH, B002_IMPORT_KWH = 0.5, 0.1
EV_CHARGING_KW = 7.0
SESSIONS = ((10.0, 4.0), (6.0, 2.0))  # (energy_kwh, pv_energy_kwh) of the two finished sessions


def _meters(code: str) -> list[MeterSpec]:
    kinds = {"el-main": ("electricity", "main"), "el-ls": ("electricity", "lighting_sockets"),
             "el-hvac": ("electricity", "hvac"), "gas": ("natural_gas", None), "water": ("water", None),
             "heat": ("district_heat", None)}
    return [MeterSpec(device_id=dev, carrier=kinds[dev][0], sub_item=kinds[dev][1])
            for (b, dev) in PER_INTERVAL if b == code]


def fleet() -> Fleet:
    def b(code, name, pv=(), piles=()):
        return BuildingSpec(building_code=code, name=name, floor_area_m2=FLOOR_AREA_M2[code], district="Shizhong",
                            latitude_deg=29.55, longitude_deg=103.77, meters=_meters(code), pv=list(pv),
                            ev_piles=list(piles))
    return Fleet(buildings=[
        b(A001, "Office A", pv=[PvSpec(device_id="inv1", capacity_kwp=PV_KWP[A001], has_grid_meter=False)],
          piles=[PileSpec(device_id="ev1", pile_kind="ac_7kw", rated_power_kw=7.0)]),
        b(B002, "Mall B", pv=[PvSpec(device_id="pvm1", capacity_kwp=PV_KWP[B002])]),
        b(C003, "Hotel C"),
        b(E004, "Hospital E"),
    ])


def end_ms(now_ms: int | None = None) -> int:
    now = int(time.time() * 1000) if now_ms is None else now_ms
    return now // STEP_MS * STEP_MS


def lines(t_end_ms: int) -> list[str]:
    t0 = t_end_ms - INTERVALS * STEP_MS
    out: list[str] = []
    carriers = {m.device_id: m for b in fleet().buildings for m in b.meters}
    for (code, dev), value in PER_INTERVAL.items():
        m = carriers[dev]
        field = "consumption_m3" if m.carrier in ("natural_gas", "water") else "consumption_kwh"
        tags = f"meter,building_code={code},carrier={m.carrier.value},device_id={dev},device_kind=meter"
        if m.sub_item is not None:
            tags += f",sub_item={m.sub_item.value}"
        owed = 0
        for i in range(1, INTERVALS + 1):
            ts = t0 + i * STEP_MS
            if code == A001 and dev == "gas" and 50 <= i < 50 + GAS_GAP_INTERVALS:
                owed += 1
                continue
            if code == A001 and dev == "water" and i > INTERVALS - WATER_SILENT_INTERVALS:
                continue
            n = owed + 1
            owed = 0
            power = f",power_kw={value * 4}" if dev.startswith("el-") else ""
            out.append(f"{tags} {field}={value * n},interval_s={900 * n}i{power} {ts}")
    for code, gen in PV_GEN_KWH.items():
        kind, dev = ("pv_inverter", "inv1") if code == A001 else ("pv_meter", "pvm1")
        for i in range(1, INTERVALS + 1):
            f = f"generation_kwh={gen},power_kw={gen * 4},interval_s=900i"
            if kind == "pv_meter":
                f += f",to_grid_kwh={B002_EXPORT_KWH},from_grid_kwh={B002_IMPORT_KWH}"
            out.append(f"pv,building_code={code},device_id={dev},device_kind={kind} {f} {t0 + i * STEP_MS}")
    for i in range(1, INTERVALS + 1):
        charging = i % 2 == 0
        status, kw = ("charging", EV_CHARGING_KW) if charging else ("idle", 0.0)
        out.append(f'ev_pile,building_code={A001},device_id=ev1,device_kind=ev_pile '
                   f'consumption_kwh={kw / 4},power_kw={kw},status="{status}",interval_s=900i {t0 + i * STEP_MS}')
    for k, (e, pv) in enumerate(SESSIONS):
        ts = t0 + (10 + 20 * k) * STEP_MS
        out.append(f'ev_session,building_code={A001},device_id=ev1,event=start session_id="s{k}" {ts}')
        out.append(f'ev_session,building_code={A001},device_id=ev1,event=stop session_id="s{k}",'
                   f'energy_kwh={e},pv_energy_kwh={pv} {ts + 4 * STEP_MS}')
    for k, reason in enumerate(("bad_json", "bad_json", "bad_json", "unknown_unit", "unknown_unit")):
        out.append(f'ingest_deadletter,reason={reason},client_id=w1 topic="t/x",detail="d" '
                   f'{t_end_ms - 600_000 - k * 1000}')
    # Data-quality findings as ingest writes them (ingest/findings.py): 2 jitters and a spike of one
    # meter, a gap of another.
    for k, (code, dev) in enumerate((("register_jitter", "el"), ("register_jitter", "el"), ("spike", "el"),
                                     ("gap", "gas"))):
        out.append(f'data_quality,code={code},building_code={A001},device_id={dev} '
                   f'period_start_ms={t_end_ms - 1_800_000}i,detail="d{k}",value=1.0 {t_end_ms - 900_000 - k * 1000}')
    for k in range(60):
        out.append(f"ingest_stats,client_id=w1 received={1000 * k}i,written={1000 * k}i,rejected=0i,"
                   f"queue_depth=0i,lag_s=2.0 {t_end_ms - (60 - k) * 60_000}")
    return out


def rollup_daily(url: str, db: str, from_ms: int, to_ms: int) -> None:
    """The analytics rollup job itself over the local days of ``(from_ms, to_ms]``: per-device
    ``_1d`` rollups and the building energy balance ``building_1d`` the panels read, in the rollup
    retention policy the job creates."""
    first = local_date(dt.datetime.fromtimestamp(from_ms / 1000, dt.UTC))
    last = local_date(dt.datetime.fromtimestamp((to_ms - 1) / 1000, dt.UTC))
    with InfluxHTTP(url, db) as client:
        rollup.run(client, start=first, end=last, now=dt.datetime.fromtimestamp(to_ms / 1000, dt.UTC),
                   rollup_rp=c.ROLLUP_RP, rederive=False)


def write(url: str, db: str, text_lines: list[str]) -> None:
    for i in range(0, len(text_lines), 5000):
        r = httpx.post(f"{url}/write", params={"db": db, "precision": "ms"},
                       content="\n".join(text_lines[i:i + 5000]).encode(), timeout=60)
        assert r.status_code == 204, r.text


def day_floor_ms(ms: int) -> int:
    """Start of the local (China) day holding ``ms``: where the daily rollups are stamped."""
    return int(local_midnight(local_date(dt.datetime.fromtimestamp(ms / 1000, dt.UTC))).timestamp() * 1000)
