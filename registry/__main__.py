"""Registry command line.

    python -m registry migrate [--database-url URL]
    python -m registry import --fleet fleet.yaml [--prune] [--replace-devices] [--dry-run] [--database-url URL]
    python -m registry import --buildings buildings.csv [--devices devices.csv] [...]
    python -m registry export --fleet out.yaml | --buildings b.csv --devices d.csv [--database-url URL]
    python -m registry station --host 510402A001 --device WS-01 --lat 29.55 --lon 103.77 \
        [--installed-on 2025-01-01] [--district Shizhong ...] [--building 510402B002 ...]
    python -m registry import --collectors collectors.csv [--points collector_points.csv] [--dry-run]

Exit status: 0 on success, 1 when the input has errors (each printed as ``file:line: field: reason``
on stderr, nothing written), 2 for usage errors.
"""

from __future__ import annotations

import argparse
import sys

from registry.db import database_url, make_engine, migrate, no_buildings_message, session_scope
from registry.importer import import_into, read_csv_pair, read_fleet_file, write_csv_pair
from registry.repo import fleet_from_db


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m registry", description=__doc__.split("\n\n")[0])
    p.add_argument("--database-url", "--url", dest="url",
                   help="SQLAlchemy URL (default: EP_DATABASE_URL, from the environment or the running platform's "
                        "var/platform/platform.env, else sqlite:///var/registry.db; --url is its former name)")
    sub = p.add_subparsers(dest="cmd", required=True)
    sub.add_parser("migrate", help="create or upgrade every table of the database (registry, API, disclosure)")
    imp = sub.add_parser("import", help="import a fleet file or a buildings/devices CSV pair")
    exp = sub.add_parser("export", help="export the registry as a fleet file or CSV pair")
    for sp in (imp, exp):
        sp.add_argument("--fleet", help="fleet file (YAML)")
        sp.add_argument("--buildings", help="buildings CSV (one row per building)")
        sp.add_argument("--devices", help="devices CSV (one row per device)")
    st = sub.add_parser("station", help="record a weather station and the districts/buildings it stands for")
    st.add_argument("--host", required=True, help="code of the building the station stands on (its topic)")
    st.add_argument("--device", required=True, help="the station's device id")
    st.add_argument("--lat", type=float, required=True)
    st.add_argument("--lon", type=float, required=True)
    st.add_argument("--installed-on", default="2000-01-01", help="YYYY-MM-DD")
    st.add_argument("--district", action="append", default=[], help="assign to every building of a district")
    st.add_argument("--building", action="append", default=[], help="assign to one building")
    imp.add_argument("--collectors", help="MOHURD collectors CSV (keys are sealed, docs/collectors.md)")
    imp.add_argument("--points", help="collector points CSV: meter/function -> device and quantity")
    imp.add_argument("--prune", action="store_true", help="delete buildings that are not in the input")
    imp.add_argument("--replace-devices", action="store_true",
                     help="delete a listed building's stored devices that the input does not name "
                          "(default: keep them, so an attributes-only import never deletes a meter)")
    imp.add_argument("--dry-run", action="store_true", help="validate and list what would be deleted; write nothing")
    args = p.parse_args(argv)

    engine = make_engine(database_url(args.url))
    migrate(engine)
    if args.cmd == "station":
        return _station(engine, args)
    if args.cmd == "migrate":
        print(f"schema (registry, API, disclosure tables) at head on {engine.url.render_as_string(hide_password=True)}")
        return 0
    if args.cmd == "import" and args.collectors:
        return _import_collectors(engine, args)
    if bool(args.fleet) == bool(args.buildings):
        p.error("give exactly one of --fleet or --buildings")
    if args.cmd == "import":
        fleet, errors = read_fleet_file(args.fleet) if args.fleet else read_csv_pair(args.buildings, args.devices)
        with session_scope(engine) as session:
            report = import_into(session=session, fleet=fleet, errors=errors, prune=args.prune,
                                 replace_devices=args.replace_devices, dry_run=args.dry_run)
        for err in report.errors:
            print(err, file=sys.stderr)
        if not report.ok:
            print(f"{len(report.errors)} error(s); nothing imported", file=sys.stderr)
            return 1
        verb = "validated" if args.dry_run else "imported"
        print(f"{verb} {report.buildings} buildings, {report.devices} devices")
        would = "would delete" if args.dry_run else "deleted"
        for code in report.plan.buildings_deleted:
            print(f"{would} building {code} (--prune: not in the input)")
        for code, device in report.plan.devices_deleted:
            print(f"{would} device {device} of {code} (--replace-devices: not in the input)")
        return 0
    if args.buildings and not args.devices:
        p.error("export --buildings needs --devices too")
    with session_scope(engine) as session:
        fleet = fleet_from_db(session=session)
    if not fleet.buildings:
        print(f"export: {no_buildings_message(engine)}; nothing written", file=sys.stderr)
        return 1
    if args.fleet:
        fleet.dump(args.fleet)
    else:
        write_csv_pair(fleet, args.buildings, args.devices)
    print(f"exported {len(fleet.buildings)} buildings")
    return 0


def _station(engine, args) -> int:
    import datetime as dt

    from registry.weather import WeatherRegistryError, add_station, assign

    try:
        installed = dt.date.fromisoformat(args.installed_on)
        with session_scope(engine) as session:
            add_station(session=session, host_building_code=args.host, device_id=args.device, latitude_deg=args.lat,
                        longitude_deg=args.lon, installed_on=installed)
            for d in args.district:
                assign(session=session, host_building_code=args.host, device_id=args.device, district=d)
            for b in args.building:
                assign(session=session, host_building_code=args.host, device_id=args.device, building_code=b)
    except (ValueError, WeatherRegistryError) as e:
        print(f"station: {e}", file=sys.stderr)
        return 1
    print(f"station {args.host}/{args.device}: {len(args.district)} districts, {len(args.building)} buildings")
    return 0


def _import_collectors(engine, args) -> int:
    from registry.collectors import import_collectors, read_collector_csv

    with session_scope(engine) as session:
        data, errors = read_collector_csv(session, args.collectors, args.points)
        for err in errors:
            print(err, file=sys.stderr)
        if data is None:
            print(f"{len(errors)} error(s); nothing imported", file=sys.stderr)
            return 1
        if not args.dry_run:
            import_collectors(session=session, data=data)
    verb = "validated" if args.dry_run else "imported"
    print(f"{verb} {len(data.collectors)} collectors, {len(data.points)} points")
    return 0


if __name__ == "__main__":
    sys.exit(main())
