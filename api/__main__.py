"""Command line of the API service.

    python -m api [serve] [--host 127.0.0.1] [--port 8000]   run the API with uvicorn
    python -m api create-admin --name NAME                   create an administrator, print its key once
    python -m api alerts [--once]                            evaluate rules and drain the outbox
"""

from __future__ import annotations

import argparse
import sys
import time


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m api", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd")
    serve = sub.add_parser("serve", help="run the API (default)")
    for p in (ap, serve):
        p.add_argument("--host", default="127.0.0.1")
        p.add_argument("--port", type=int, default=8000)
        p.add_argument("--workers", type=int, default=1)
        p.add_argument("--no-access-log", action="store_true", help="do not log every request")
    admin = sub.add_parser("create-admin", help="create an administrator and print its API key once")
    admin.add_argument("--name", required=True)
    admin.add_argument("--email", default=None)
    alerts = sub.add_parser("alerts", help="run the alert scheduler alone")
    alerts.add_argument("--once", action="store_true", help="one evaluation and one outbox round")
    args = ap.parse_args(argv)

    if args.cmd == "create-admin":
        from sqlalchemy import select

        from api.db import User
        from api.security import Role, create_user
        from api.settings import get_settings
        from registry import db as registry_db

        engine = registry_db.make_engine(get_settings().database_url)
        registry_db.migrate(engine)
        with registry_db.make_sessionmaker(engine)() as s:
            if s.scalar(select(User).where(User.name == args.name)) is not None:
                print(f"error: a user named {args.name!r} exists", file=sys.stderr)
                return 1
            _, key = create_user(s, name=args.name, role=Role.administrator, email=args.email)
            s.commit()
        print(key)
        return 0
    if args.cmd == "alerts":
        from api.alerts.scheduler import AlertScheduler
        from api.app import create_app

        app = create_app()
        sched = AlertScheduler(settings=app.state.settings, sessions=app.state.sessions,
                               influx=app.state.influx, ctx=app.state.alert_context)
        if args.once:
            from storage.influx import InfluxError

            try:
                r = sched.evaluate_once()
            except InfluxError as exc:  # down, or credentials refused: say so, not a traceback
                print(f"alerts: {exc}", file=sys.stderr)
                return 1
            d = sched.drain_once()
            print(f"{r.buildings} buildings, {len(r.findings)} findings, opened {len(r.opened)}, "
                  f"resolved {len(r.resolved)}; delivered {d.delivered}, failed {d.failed}")
            return 0
        sched.start()
        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            sched.stop()
        return 0

    import uvicorn

    uvicorn.run("api.app:create_app", factory=True, host=args.host, port=args.port, workers=args.workers,
                access_log=not args.no_access_log)
    return 0


if __name__ == "__main__":
    sys.exit(main())
