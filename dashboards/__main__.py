"""Dashboards as code.

    python -m dashboards build [--out deploy/grafana]     write dashboard JSON and provisioning files
    python -m dashboards check [--out deploy/grafana]     exit 1 if the generated files are stale
    python -m dashboards push --url URL --token TOKEN     create/update the dashboards in a Grafana
    python -m dashboards sync-buildings --fleet FILE --influx-url URL --db NAME
                                                          copy floor area, PV kWp, quota to InfluxDB
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
    p = sub.add_parser("push")
    p.add_argument("--url", default=os.environ.get("GRAFANA_URL", "http://127.0.0.1:3000"))
    p.add_argument("--token", default=os.environ.get("GRAFANA_TOKEN", ""),
                   help="service-account token (or env GRAFANA_TOKEN)")
    p.add_argument("--timeout-s", type=float, default=10.0)
    p = sub.add_parser("sync-buildings")
    p.add_argument("--fleet", type=Path, required=True)
    p.add_argument("--influx-url", default=os.environ.get("INFLUX_URL", "http://127.0.0.1:8086"))
    p.add_argument("--db", default=os.environ.get("INFLUX_DB", "energy"))
    p.add_argument("--user", default=os.environ.get("INFLUX_USER") or None)
    p.add_argument("--password", default=os.environ.get("INFLUX_PASSWORD") or None)
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
    from dashboards.attributes import DEFAULT_QUOTA_CSV, sync
    from registry.fleet import Fleet

    n = sync(Fleet.load(args.fleet), args.influx_url, args.db, quota_csv=args.quota_csv or DEFAULT_QUOTA_CSV,
             user=args.user, password=args.password)
    print(f"wrote {n} building points to {args.db}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
