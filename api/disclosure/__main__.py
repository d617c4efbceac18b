"""Disclosure command line.

    python -m api.disclosure generate --year 2025 [--building 510402A001 ...] [--basis equal_value --region CN-51]
    python -m api.disclosure discard --year 2025 --reason "built from 2 % of the year" --by "Wang (bureau)" \
        [--building 510402A001 ...] [--below-min-coverage]
    python -m api.disclosure migrate

``generate`` freezes the analytics of ``--year`` into a new draft version for every building of
the registry (or the listed ones), one transaction per building, with a progress bar. A building
whose open version already holds the same figures is left alone. Settings come from the API's
environment (``EP_DATABASE_URL``, the InfluxDB connection of storage/settings.py: ``EP_INFLUX_URL``,
``EP_INFLUX_DB``, ``EP_INFLUX_USERNAME``/``EP_INFLUX_PASSWORD`` or ``EP_INFLUX_TOKEN``, ``EP_ROLLUP_RP``).

``discard`` closes the drafts (draft and returned records) of ``--year``, each with a ``discard``
event holding the reason and who asked; ``--below-min-coverage`` keeps those at or above
``EP_MIN_COVERAGE``.

Exit status: 0 when every building got its draft (or was unchanged), 1 when some failed (each
printed on stderr with its reason; the others are stored), 2 for usage errors.
"""

from __future__ import annotations

import argparse
import sys

from tqdm import tqdm

from analytics.rollup import ensure_rollup_rp
from analytics.tables import BASES, DEFAULT_BASIS
from api.disclosure.service import SYSTEM_ACTOR, act, list_records, store_draft
from api.disclosure.source import collect
from api.disclosure.workflow import SYSTEM_ROLE, Action, Actor, State
from api.settings import Settings
from registry import db as registry_db
from registry.repo import count_buildings
from storage.influx import InfluxError


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m api.disclosure", description=__doc__.split("\n\n")[0])
    sub = p.add_subparsers(dest="cmd", required=True)
    sub.add_parser("migrate", help="create or upgrade every table of the database (disclosure, registry, API)")
    gen = sub.add_parser("generate", help="generate draft disclosures for a reporting year")
    gen.add_argument("--year", type=int, required=True, help="reporting (calendar) year, e.g. 2025")
    gen.add_argument("--building", action="append", dest="codes", metavar="CODE",
                     help="only this building (repeatable); ranks are still among all buildings")
    gen.add_argument("--basis", choices=BASES, default=DEFAULT_BASIS, help="electricity conversion basis")
    gen.add_argument("--region", help="CN-<province> for the equal_value basis, e.g. CN-51")
    gen.add_argument("--no-progress", action="store_true", help="no progress bar (logs, CI)")
    dis = sub.add_parser("discard", help="discard the drafts of a reporting year, with a reason")
    dis.add_argument("--year", type=int, required=True, help="reporting (calendar) year, e.g. 2025")
    dis.add_argument("--reason", required=True, help="why (kept in each record's history)")
    dis.add_argument("--by", required=True, help="who asks (kept in each record's history)")
    dis.add_argument("--building", action="append", dest="codes", metavar="CODE", help="only this building")
    dis.add_argument("--below-min-coverage", action="store_true",
                     help="only drafts whose coverage is below EP_MIN_COVERAGE")
    args = p.parse_args(argv)
    if args.cmd in ("generate", "discard") and not 2000 <= args.year <= 2100:
        p.error(f"--year {args.year} is not between 2000 and 2100")

    settings = Settings()
    engine = registry_db.make_engine(settings.database_url)
    registry_db.migrate(engine)  # every table of the database, the disclosure's too
    if args.cmd == "migrate":
        print(f"schema (registry, API, disclosure tables) at head on {engine.url.render_as_string(hide_password=True)}")
        return 0
    if args.cmd == "discard":
        return _discard(args, registry_db.make_sessionmaker(engine), settings.min_coverage)
    with registry_db.session_scope(engine) as session:
        if not count_buildings(session=session):
            print(f"generate: {registry_db.no_buildings_message(engine)}", file=sys.stderr)
            return 1

    # Only the rollups are read, from their own retention policy (EP_ROLLUP_RP), as the API reads them.
    influx = settings.rollups()
    try:
        # A database the rollup job has not run on yet has no rollup policy: no data, not a failure.
        ensure_rollup_rp(influx, settings.rollup_rp)
    except InfluxError as exc:  # down, or credentials refused: nothing can be generated
        influx.close()
        print(f"generate: {settings.influx_url} database {settings.influx_db}: {exc}", file=sys.stderr)
        return 1
    sessions = registry_db.make_sessionmaker(engine)
    created = unchanged = 0
    failed: list[tuple[str, str]] = []
    try:
        with sessions() as read_session:
            results = list(collect(influx=influx, session=read_session, year=args.year, codes=args.codes,
                                   basis=args.basis, region=args.region))
        for code, figures in tqdm(results, desc=f"drafts {args.year}", unit="building", disable=args.no_progress):
            if isinstance(figures, Exception):
                failed.append((code, str(figures)))
                continue
            try:
                with sessions() as s:
                    result = store_draft(session=s, figures=figures, actor=SYSTEM_ACTOR)
            except Exception as exc:  # noqa: BLE001 - one building's failure must not stop the others
                failed.append((code, f"{type(exc).__name__}: {exc}"))
                continue
            created += result.created
            unchanged += not result.created
    finally:
        influx.close()
    for code, reason in failed:
        print(f"{code}: {reason}", file=sys.stderr)
    print(f"year {args.year}: {created} new draft(s), {unchanged} unchanged, {len(failed)} failed")
    return 1 if failed else 0


def _discard(args: argparse.Namespace, sessions, min_coverage: float) -> int:  # noqa: ANN001 - sessionmaker
    if not args.reason.strip() or not args.by.strip():
        print("--reason and --by must not be empty", file=sys.stderr)
        return 2
    actor = Actor(user_id=0, name=args.by.strip()[:100], role=SYSTEM_ROLE)
    n = 0
    with sessions() as s:
        rows = list_records(session=s, actor=actor, year=args.year,
                            states=[State.draft.value, State.returned.value])
        ids = [r.id for r in rows if (not args.codes or r.building_code in args.codes)
               and (not args.below_min_coverage or r.coverage < min_coverage)]
        for rid in ids:
            act(session=s, record_id=rid, action=Action.discard, actor=actor, text=args.reason,
                min_coverage=min_coverage)
            n += 1
    print(f"year {args.year}: {n} draft(s) discarded")
    return 0


if __name__ == "__main__":
    sys.exit(main())
