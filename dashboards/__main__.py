"""Dashboards as code.

    python -m dashboards build [--out deploy/grafana]     write dashboard JSON and provisioning files
    python -m dashboards check [--out deploy/grafana]     exit 1 if the generated files are stale
    python -m dashboards push --url URL --token TOKEN     create/update the dashboards in a Grafana
    python -m dashboards sync-buildings --fleet FILE [--influx-url URL] [--db NAME]
                                                          copy floor area, PV kWp, quota to InfluxDB
    python -m dashboards permissions --url URL --token TOKEN [--database-url URL]
                                                          teams, folders and dashboards per facility
                                                          manager from the API's users (org Admin token)

permissions reads the API's users from ``--database-url``, else ``EP_DATABASE_URL`` (docs/settings.md).
sync-buildings connects like every service (storage/settings.py): ``EP_INFLUX_URL``, ``EP_INFLUX_DB``,
``EP_INFLUX_USERNAME``/``EP_INFLUX_PASSWORD`` or ``EP_INFLUX_TOKEN``; ``--influx-url``/``--db`` override.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from dashboards import provisioning


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m dashboards", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    for name in ("build", "check"):
        p = sub.add_parser(name)
        p.add_argument("--out", type=Path, default=provisioning.DEFAULT_OUT)
    for name in ("push", "permissions"):
        p = sub.add_parser(name)
        p.add_argument("--url", default=os.environ.get("GRAFANA_URL", "http://127.0.0.1:3000"))
        p.add_argument("--token", default=os.environ.get("GRAFANA_TOKEN", ""),
                       help="service-account token (or env GRAFANA_TOKEN)")
        p.add_argument("--timeout-s", type=float, default=10.0)
    p.add_argument("--database-url", help="the API's database (default: EP_DATABASE_URL, docs/settings.md)")
    p = sub.add_parser("sync-buildings")
    p.add_argument("--fleet", type=Path, required=True)
    p.add_argument("--influx-url", help="default: EP_INFLUX_URL, else http://127.0.0.1:8086")
    p.add_argument("--db", help="default: EP_INFLUX_DB, else energy")
    p.add_argument("--quota-csv", type=Path, default=None,
                   help="quota table (default: analytics/data/eui_quota.csv when present)")
    args = ap.parse_args(argv)

    if args.cmd == "build":
        for path in provisioning.write(args.out):
            print(path)
        return 0
    if args.cmd == "check":
        bad = provisioning.stale(args.out)
        for rel in bad:
            print(f"stale: {args.out / rel} (run `python -m dashboards build`)", file=sys.stderr)
        return 1 if bad else 0
    if args.cmd == "push":
        from dashboards.push import push

        for r in push(args.url, args.token, provisioning.dashboards(), timeout_s=args.timeout_s):
            print(f"{r.uid}\tversion {r.version}\t{r.url}")
        return 0
    if args.cmd == "permissions":
        return _permissions(args)
    from dashboards.attributes import DEFAULT_QUOTA_CSV, sync
    from registry.fleet import Fleet
    from storage.influx import InfluxError
    from storage.settings import InfluxSettings

    overrides = {k: v for k, v in {"influx_url": args.influx_url, "influx_db": args.db}.items() if v}
    settings = InfluxSettings(**overrides)
    with settings.influx() as influx:
        try:
            n = sync(Fleet.load(args.fleet), influx, quota_csv=args.quota_csv or DEFAULT_QUOTA_CSV)
        except InfluxError as exc:
            print(f"sync-buildings: {settings.influx_url} database {settings.influx_db}: {exc}", file=sys.stderr)
            return 1
    print(f"wrote {n} building points to {settings.influx_db}")
    return 0


def _permissions(args: argparse.Namespace) -> int:
    from dashboards.access import apply, read_plan
    from dashboards.push import client
    from registry import db as registry_db

    engine = registry_db.make_engine(registry_db.database_url(args.database_url))
    registry_db.migrate(engine)  # as every command line that opens the database (docs/registry.md)
    with registry_db.make_sessionmaker(engine)() as session:
        plan = read_plan(session)
    try:
        api = client(args.url, args.token, timeout_s=args.timeout_s)
    except ValueError as exc:
        print(f"permissions: {exc}", file=sys.stderr)
        return 2
    report = apply(api, plan)
    for line in report.changes:
        print(line)
    for who in report.unmatched:
        print(f"warning: no Grafana user has the login or e-mail of {who}; their team stays without them "
              "until they have signed in to Grafana once and this command runs again", file=sys.stderr)
    if not report.changes:
        print(f"Grafana already matches the API's {len(plan.managers)} facility managers and city-wide roles")
    return 0


if __name__ == "__main__":
    sys.exit(main())
