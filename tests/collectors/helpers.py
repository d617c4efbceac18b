"""Shared helpers of the collector gateway tests: a registry with one building, its meters and
collectors imported from CSV; the gateway in-process on a free port; InfluxDB read-back."""

from __future__ import annotations

import asyncio
import contextlib
import csv
import datetime as dt
import uuid
from pathlib import Path

from collectors.directory import load_directory
from collectors.mqtt import AckingPublisher, make_mqtt_client
from collectors.profile import Profile
from collectors.server import Gateway
from collectors.settings import GatewaySettings
from registry import repo
from registry.collectors import import_collectors, read_collector_csv
from registry.db import make_engine, migrate, session_scope
from registry.fleet import BuildingSpec, Fleet, MeterSpec

BUILDING = "330100A088"  # the building of the protocol examples
SECRET = "Zm9yLXRlc3RzLW9ubHktMzItYnl0ZXMtbG9uZy1rZXk="  # a Fernet key: 32 bytes, URL-safe base64
TEXT_KEY = "0123456789abcdef"  # 16 characters: the AES key of 'text' profiles
HEX_KEY = "00112233445566778899aabbccddeeff"  # 32 hex digits: the AES key of 'hex' profiles

METERS = [
    MeterSpec(device_id="E-MAIN", carrier="electricity", sub_item="main"),
    MeterSpec(device_id="E-LS", carrier="electricity", sub_item="lighting_sockets", parent_device_id="E-MAIN"),
    MeterSpec(device_id="E-HVAC", carrier="electricity", sub_item="hvac", parent_device_id="E-MAIN"),
    MeterSpec(device_id="W-1", carrier="water"),
    MeterSpec(device_id="G-1", carrier="natural_gas"),
    MeterSpec(device_id="H-1", carrier="district_heat"),
]
#: (meter_id, function_id, item_code, device_id, quantity, unit)
POINTS = [
    ("1", "1", "01A00", "E-LS", "register", "kWh"),
    ("2", "1", "01B00", "E-HVAC", "register", "kWh"),
    ("2", "2", "01B00", "E-HVAC", "power", "kW"),
    ("3", "1", "02000", "W-1", "register", "m3"),
    ("4", "1", "03000", "G-1", "register", "m3"),
    ("5", "1", "04000", "H-1", "register", "GJ"),
    ("6", "1", "01000", "E-MAIN", "register", "kWh"),
]


def key_for(profile: Profile) -> str:
    return HEX_KEY if profile.key_encoding == "hex" else TEXT_KEY


def write_csv(path: Path, header: list[str], rows: list) -> Path:
    with path.open("w", encoding="utf-8", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(header)
        w.writerows(rows)
    return path


def make_registry(tmp: Path, collectors: list[tuple[str, str, str]], *, buildings: tuple[str, ...] = (BUILDING,),
                  installed_on: str = "2012-01-01"):
    """A SQLite registry: ``buildings`` with :data:`METERS`, and ``collectors`` (building, gateway, key),
    each with :data:`POINTS`, imported through the CSV path."""
    engine = make_engine(f"sqlite:///{tmp / 'registry.db'}")
    migrate(engine)
    fleet = Fleet(buildings=[BuildingSpec(building_code=b, name=f"building {b}", floor_area_m2=10000, district="Xihu",
                                          latitude_deg=30.27, longitude_deg=120.15, meters=METERS)
                             for b in buildings])
    with session_scope(engine) as s:
        repo.replace_fleet(session=s, fleet=fleet)
    cfile = write_csv(tmp / "collectors.csv", ["building_code", "gateway_id", "key", "installed_on"],
                      [(b, g, k, installed_on) for b, g, k in collectors])
    pfile = write_csv(tmp / "collector_points.csv",
                      ["building_code", "gateway_id", "meter_id", "function_id", "item_code", "device_id",
                       "quantity", "unit"],
                      [(b, g, *p) for b, g, _ in collectors for p in POINTS])
    with session_scope(engine) as s:
        data, errors = read_collector_csv(s, cfile, pfile)
        assert not errors, errors
        import_collectors(session=s, data=data, secret=SECRET)
    return engine


@contextlib.asynccontextmanager
async def running_gateway(engine, profile: Profile, mqtt_port: int, *, on_accepted=None, **settings):
    """The gateway in this event loop (on a free port unless ``port`` is given), publishing to the
    broker at ``mqtt_port``."""
    s = GatewaySettings(**{"host": "127.0.0.1", "port": 0, "mqtt_port": mqtt_port, **settings})
    directory = await asyncio.to_thread(load_directory, engine, SECRET)
    publisher = AckingPublisher(make_mqtt_client(client_id=f"gw-test-{uuid.uuid4().hex[:8]}"),
                                asyncio.get_running_loop())
    publisher.connect("127.0.0.1", mqtt_port)
    await asyncio.to_thread(publisher.connected.wait, 10)
    gw = Gateway(s, profile, directory, publisher, on_accepted=on_accepted)
    await gw.start()
    try:
        yield gw
    finally:
        await gw.stop()
        await asyncio.to_thread(publisher.close)


def local_day(text: str) -> dt.date:
    return dt.date.fromisoformat(text)


def stored(influx, building: str) -> dict[tuple[str, int], dict]:
    """(device_id, ts_ms) -> {field: value, 'carrier': ..., 'sub_item': ...} of the meter measurement."""
    from storage.influx import InfluxError

    try:
        series = influx.query(f"SELECT * FROM meter WHERE building_code = '{building}'")  # noqa: S608 - test
    except InfluxError as e:
        if "database not found" in e.body:
            return {}
        raise
    out = {}
    for s in series:
        cols = s["columns"]
        for row in s["values"]:
            rec = {c: v for c, v in zip(cols, row, strict=True) if v is not None}
            out[(rec.pop("device_id"), rec.pop("time"))] = rec
    return out


def registry_for_plans(tmp: Path, fleet, plans):
    """A SQLite registry holding ``fleet`` and the simulator's collector ``plans`` (imported from CSV)."""
    from simulators.collectors import write_registry_csv

    engine = make_engine(f"sqlite:///{tmp / 'registry.db'}")
    migrate(engine)
    with session_scope(engine) as s:
        repo.replace_fleet(session=s, fleet=fleet)
    cfile, pfile = write_registry_csv(plans, tmp / "csv")
    with session_scope(engine) as s:
        data, errors = read_collector_csv(s, cfile, pfile)
        assert not errors, errors
        import_collectors(session=s, data=data, secret=SECRET)
    return engine


def fleet_of(codes: list[str]):
    return Fleet(buildings=[BuildingSpec(building_code=b, name=f"building {b}", floor_area_m2=10000,
                                         district="Xihu", latitude_deg=30.27, longitude_deg=120.15, meters=METERS)
                            for b in codes])


#: Stored field and factor to it from the simulator's register unit: 1 GJ = 1e9 J / 3.6e6 J per kWh.
STORED = {"kWh": ("register_kwh", 1.0), "m3": ("register_m3", 1.0), "GJ": ("register_kwh", 1e9 / 3.6e6)}


def compare_with_truth(influx, sims) -> tuple[int, list]:
    """(values compared, mismatches) between every simulator's ground truth and InfluxDB."""
    n, bad = 0, []
    for sim in sims:
        got = stored(influx, sim.plan.building_code)
        units = {q.device_id: q.unit for q in sim.plan.points}
        for (_b, device, ts), value in sim.truth.items():
            fieldname, factor = STORED[units[device]]
            have = got.get((device, ts), {}).get(fieldname)
            n += 1
            if have is None or abs(have - value * factor) > 1e-9 * max(1.0, abs(value * factor)):
                bad.append((sim.plan.building_code, device, ts, value, have))
    return n, bad


def start_ingest(mqtt_port: int, influx_url: str, db: str, log_path: Path):
    """The real ingest service in its own share group (a killed ingest of another test keeps its
    persistent shared subscription, which would take its share of our messages). -> (process, metrics port)"""
    import uuid

    from tests.ingest.helpers import IngestProcess, ingest_argv, with_metrics

    argv, metrics_port = with_metrics(ingest_argv(mqtt_port, influx_url, db, "--share-group",
                                                  f"g{uuid.uuid4().hex[:6]}"))
    proc = IngestProcess(argv, log_path).start()
    proc.wait_connected()
    return proc, metrics_port
