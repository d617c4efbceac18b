"""Analytics command line.

    python -m analytics rollup [--from 2025-01-01] [--to 2025-01-31] [--lookback-days 1] [--no-rederive]
    python -m analytics report --year 2025 [--as-of 2025-06-30] [--basis equal_value --region CN-31]
                               [--baseline-year 2020] [--csv out.csv]

    python -m analytics baselines [--end 2026-01-25] [--part 3/7]
    python -m analytics import-weather --csv history.csv --station 510402A001/WS-01 [--dry-run]

``report`` prints the audit list and the city indicators with plan-target progress; ``--csv out.csv``
also writes the audit list to ``out.csv`` and the city indicators and targets to ``out_city.csv``.
Connection: ``--influx-url``/``--influx-db``/``--database-url`` or ``EP_INFLUX_URL``, ``EP_INFLUX_DB``,
``EP_DATABASE_URL`` (environment, else the running platform's var/platform/platform.env);
credentials ``EP_INFLUX_USERNAME``/``EP_INFLUX_PASSWORD`` or ``EP_INFLUX_TOKEN``
(docs/settings.md). Raw data is read from ``EP_INFLUX_RP`` (the database's default policy when
unset); the rollups live in ``--rollup-rp`` / ``EP_ROLLUP_RP`` (default ``rollup``), which ``rollup``
creates when missing (infinite retention, 52-week shard groups).
"""

from __future__ import annotations

import argparse
import datetime as dt
import logging
import sys
from pathlib import Path

import pandas as pd

from analytics import rollup, service
from analytics.audit import ELECTRICITY_THRESHOLD_KWH, ENERGY_THRESHOLD_TCE, MIN_COVERAGE
from analytics.settings import AnalyticsSettings
from analytics.tables import BASES, DEFAULT_BASIS
from storage.influx import InfluxError


def _date(text: str) -> dt.date:
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a date like 2025-06-30") from None


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m analytics", description=__doc__.split("\n\n")[0])
    p.add_argument("--influx-url")
    p.add_argument("--influx-db")
    p.add_argument("--database-url", "--registry-url", dest="registry_url",
                   help="registry database, SQLAlchemy URL (default: EP_DATABASE_URL; --registry-url: former name)")
    p.add_argument("--influx-rp", help="retention policy of the raw data (default: the database's default)")
    p.add_argument("--rollup-rp", help="retention policy of the rollups (default: EP_ROLLUP_RP, else 'rollup')")
    sub = p.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("rollup", help="hourly and daily rollups (restartable, idempotent)")
    r.add_argument("--from", dest="start", type=_date, help="first local day (default: checkpoint - lookback)")
    r.add_argument("--to", dest="end", type=_date, help="last local day (default: today)")
    r.add_argument("--lookback-days", type=int, default=1)
    r.add_argument("--no-rederive", action="store_true",
                   help="sum the stored interval values as they are, without recomputing them from the registers "
                        "first (saves reading every register point again; exact only with one ingest worker)")
    # Kept so existing scripts still run: the policy is created whenever it is missing.
    r.add_argument("--create-rp", action="store_true", help=argparse.SUPPRESS)
    r.add_argument("--shard-duration", default=rollup.ROLLUP_SHARD_DURATION,
                   help="shard group duration if the rollup policy has to be created (default 52w)")
    rep = sub.add_parser("report", help="audit list and city indicators for a year")
    rep.add_argument("--year", type=int, required=True)
    rep.add_argument("--as-of", type=_date, help="end of the rolling window / year-to-date (default: yesterday)")
    rep.add_argument("--basis", choices=BASES, default=DEFAULT_BASIS)
    rep.add_argument("--region", help="CN-<province code> for the equal_value factor, e.g. CN-31")
    rep.add_argument("--baseline-year", type=int, help="base year of the energy-per-m2 target")
    rep.add_argument("--all", action="store_true", help="list every building, not only triggered ones")
    rep.add_argument("--csv", type=Path, help="write the audit list here and the city table to <stem>_city.csv")
    bl = sub.add_parser("baselines", help="fit and store every building's baselines (weekly; --part nightly)")
    bl.add_argument("--end", type=_date, help="first local day after the fit period (default: today)")
    bl.add_argument("--part", type=_part, metavar="K/N",
                    help="fit only part K of N of the buildings (0 <= K < N, a stable hash of the code); "
                         "e.g. `--part $(( $(date +%%u) %% 7 ))/7` nightly refits every building once a week")
    w = sub.add_parser("import-weather", help="import a station's historical weather from CSV (all or nothing)")
    w.add_argument("--csv", type=Path, required=True,
                   help="columns time, air_temperature_degc, ghi_w_per_m2 (docs/analytics.md)")
    w.add_argument("--station", required=True, help="host building code / device id, e.g. 510402A001/WS-01")
    w.add_argument("--dry-run", action="store_true", help="check the file, write nothing")
    return p


def _part(text: str) -> tuple[int, int]:
    k, sep, n = text.partition("/")
    if not (sep and k.isdigit() and n.isdigit() and 0 <= int(k) < int(n)):
        raise argparse.ArgumentTypeError(f"{text!r} is not K/N with 0 <= K < N, e.g. 3/7")
    return int(k), int(n)


def baselines(args, settings: AnalyticsSettings) -> int:
    from collections import Counter

    from analytics.baseline_job import refit
    from analytics.savings import refresh_savings
    from registry.db import make_engine, session_scope

    end = args.end or dt.date.today()
    engine = make_engine(settings.registry_url)
    with settings.influx() as db, settings.rollups() as rdb, session_scope(engine) as session:
        fits = refit(influx=db, rollups=rdb, session=session, end=end, tz=settings.tz, part=args.part,
                     progress=True)
        savings = refresh_savings(influx=db, rollups=rdb, session=session, today=end, tz=settings.tz)
    statuses = Counter(f.status for _, _, f in fits)
    verdicts = Counter(f.guideline14 for _, _, f in fits if f.ok)
    print(f"fitted {len(fits)} baselines ending {end}: status {dict(statuses)}, Guideline 14 {dict(verdicts)}; "
          f"verified {len(savings)} retrofits: {dict(Counter(s for _, s in savings))}")
    return 0


def import_weather(args, settings: AnalyticsSettings) -> int:
    from analytics.weather import import_weather_csv, read_weather_csv

    host, _, device = args.station.partition("/")
    try:
        parsed = read_weather_csv(args.csv, tz=settings.tz)
    except (OSError, UnicodeDecodeError) as e:
        print(f"import-weather: cannot read {args.csv}: {e}", file=sys.stderr)
        return 2
    for err in parsed.errors:
        print(err, file=sys.stderr)
    if parsed.errors:
        print(f"import-weather: {len(parsed.errors)} errors, nothing written", file=sys.stderr)
        return 1
    if args.dry_run:
        print(f"{len(parsed.rows)} rows ok (dry run, nothing written)")
        return 0
    try:
        with settings.influx() as db:
            n = import_weather_csv(db, parsed, host_building_code=host, device_id=device)
    except ValueError as e:
        print(f"import-weather: {e}", file=sys.stderr)
        return 2
    print(f"wrote {n} weather points for station {host}/{device}")
    return 0


AUDIT_COLUMNS = ["name", "district", "building_type", "window", "verdict", "energy_tce", "electricity_kwh",
                 "triggered_by", "energy_excess_tce", "electricity_excess_kwh", "coverage", "measured_days",
                 "period_coverage", "projection_basis"]


def report(args, settings: AnalyticsSettings) -> int:
    from registry.db import make_engine, no_buildings_message, session_scope
    from registry.repo import count_buildings

    engine = make_engine(settings.registry_url)
    with session_scope(engine) as session:
        if not count_buildings(session=session):
            print(f"report: {no_buildings_message(engine)}", file=sys.stderr)
            return 1
    with settings.rollups() as db, session_scope(engine) as session:
        audit = service.audit_list(influx=db, session=session, year=args.year, as_of=args.as_of, basis=args.basis,
                                   region=args.region, only_triggered=not args.all, tz=settings.tz)
        city = service.city_indicators(influx=db, session=session, year=args.year, basis=args.basis,
                                       region=args.region, baseline_year=args.baseline_year, tz=settings.tz)
    with pd.option_context("display.width", 200, "display.max_columns", 20, "display.max_rows", 500,
                           "display.float_format", "{:,.3f}".format):
        print(f"Audit list {args.year} (>= {ENERGY_THRESHOLD_TCE:,.0f} tce or >= {ELECTRICITY_THRESHOLD_KWH:,.0f} "
              f"kWh; basis {city.basis}, factor table {city.table_version}; a reassuring verdict needs "
              f"{MIN_COVERAGE:.0%} of the period measured)")
        print(audit[AUDIT_COLUMNS].to_string() if len(audit) else "  (no building meets either test)")
        print(f"\nCity indicators {args.year}: {city.indicators.get('buildings_reporting', 0)} of {city.buildings} "
              f"buildings reported, {city.indicators.get('floor_area_reporting_m2', 0):,.0f} m2; coverage of "
              f"every registered building {city.indicators.get('coverage_registered', 0):.1%}")
        keys = ["energy_tce", "electricity_kwh", "electrification_share", "renewable_substitution_rate",
                "renewable_substitution_rate_with_export", "pv_coverage", "pv_self_consumption", "ev_green_share",
                "eui_kgce_per_m2", "carbon_tco2", "coverage", "energy_per_m2_change"]
        for k in keys:
            v = city.indicators.get(k)
            print(f"  {k:42s} {'n/a' if v is None else format(v, ',.4f')}")
        progress = pd.DataFrame(city.plan_progress)
        print("\nPlan targets")
        print(progress[["indicator", "year", "comparison", "target", "actual", "verdict", "gap", "coverage"]]
              .to_string(index=False))
    if args.csv:
        audit.to_csv(args.csv)
        city_csv = args.csv.with_name(args.csv.stem + "_city.csv")
        rows = [{"section": "indicator", "name": k, "value": v} for k, v in city.indicators.items()]
        rows += [{"section": "target", "name": f"{p['indicator']} {p['year']}", "value": p["actual"],
                  "target": p["target"], "comparison": p["comparison"], "met": p["met"], "gap": p["gap"],
                  "source": p["source"]} for p in city.plan_progress]
        meta = {"year": city.year, "basis": city.basis, "table_version": city.table_version}
        pd.DataFrame([{**meta, **r} for r in rows]).to_csv(city_csv, index=False)
        print(f"\nwrote {args.csv} and {city_csv}")
    return 0


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    overrides = {k: v for k, v in {"influx_url": args.influx_url, "influx_db": args.influx_db,
                                   "registry_url": args.registry_url, "influx_rp": args.influx_rp,
                                   "rollup_rp": args.rollup_rp}.items() if v}
    settings = AnalyticsSettings(**overrides)
    try:
        return _run(args, settings)
    except InfluxError as exc:  # down, or credentials refused: say so, not a traceback
        print(f"{args.cmd}: {settings.influx_url} database {settings.influx_db}: {exc}", file=sys.stderr)
        return 1


def _replacements(settings: AnalyticsSettings) -> dict[tuple[str, str], int]:
    """Recorded device replacements (registry ``replaced_on``) for the re-derivation; none without a
    registry. [ms]"""
    if settings.registry_url is None:
        return {}
    from registry import repo
    from registry.db import make_engine, session_scope

    with session_scope(make_engine(settings.registry_url)) as session:
        return repo.replacement_instants_ms(session=session)


def _balance_store(settings: AnalyticsSettings):
    """The SQL database the month step writes the balance to (analytics.balance_store): the
    registry's, migrated; None without a registry (InfluxDB only)."""
    if settings.registry_url is None:
        return None
    from registry.db import make_engine, migrate

    engine = make_engine(settings.registry_url)
    migrate(engine)
    return engine


def _snapshot(store, settings: AnalyticsSettings):
    """The rollup's last step: the indicator snapshot the API serves (analytics/snapshot.py). A
    failure is logged, not fatal: the rollups are written, and the API does not use a snapshot
    older than the completed rollup (it builds the frames itself)."""
    from analytics import snapshot

    def step(rollups, stamp_ms: int) -> None:
        try:
            snapshot.refresh(store, rollups, rollup_ms=stamp_ms, tz=settings.tz)
        except Exception:  # noqa: BLE001 - any failure: the run's rollups stand, the API falls back
            logging.getLogger("analytics.snapshot").exception("indicator snapshot not written")

    return step


def _run(args, settings: AnalyticsSettings) -> int:
    if args.cmd == "rollup":
        with settings.influx() as db:
            try:
                rollup.ensure_rollup_rp(db, settings.rollup_rp, args.shard_duration)
            except ValueError as exc:
                print(f"rollup: {exc}", file=sys.stderr)
                return 2
            stats = rollup.run(db, start=args.start, end=args.end, lookback_days=args.lookback_days, tz=settings.tz,
                               rollup_rp=settings.rollup_rp, rederive=not args.no_rederive,
                               replaced_ms=_replacements(settings), store=(store := _balance_store(settings)),
                               before_completion=None if store is None else _snapshot(store, settings))
        print(f"rolled up {stats.days} days: {stats.hourly_points} hourly and {stats.daily_points} daily points; "
              f"checkpoint {stats.checkpoint}; re-derived interval values: {stats.rederive_checked} checked, "
              f"{stats.rederive_rewritten} rewritten" + (" (skipped: --no-rederive)" if args.no_rederive else ""))
        return 0
    if args.cmd == "baselines":
        return baselines(args, settings)
    if args.cmd == "import-weather":
        return import_weather(args, settings)
    return report(args, settings)


if __name__ == "__main__":
    sys.exit(main())
