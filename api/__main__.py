"""Command line of the API service.

    python -m api [serve] [--host 127.0.0.1] [--port 8000]   run the API with uvicorn
        [--tls-cert-file server.pem --tls-key-file server.key]  ... over HTTPS
    python -m api create-admin --name NAME                   create an administrator, print its key once
    python -m api alerts [--once]                            evaluate rules, drain the outbox, copy the
                                                             alert events to InfluxDB (for Grafana)
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
        p.add_argument("--tls-cert-file", help="serve HTTPS with this certificate (PEM); or EP_TLS_CERT_FILE")
        p.add_argument("--tls-key-file", help="and this key (PEM); or EP_TLS_KEY_FILE")
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
                copied = sched.export_once()
            except InfluxError as exc:  # down, or credentials refused: say so, not a traceback
                print(f"alerts: {exc}", file=sys.stderr)
                return 1
            d = sched.drain_once()
            print(f"{r.buildings} buildings, {len(r.findings)} findings, opened {len(r.opened)}, "
                  f"resolved {len(r.resolved)}; delivered {d.delivered}, failed {d.failed}; "
                  f"{copied} alert events copied to InfluxDB")
            return 0
        sched.start()
        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            sched.stop()
        return 0

    return _serve(args)


def _serve(args) -> int:
    import os

    import uvicorn
    from pydantic import ValidationError

    from api.settings import get_settings

    # Through the environment, so that every uvicorn worker's create_app reads the same settings.
    for flag, var in ((args.tls_cert_file, "EP_TLS_CERT_FILE"), (args.tls_key_file, "EP_TLS_KEY_FILE")):
        if flag:
            os.environ[var] = flag
    get_settings.cache_clear()
    try:
        settings = get_settings()
    except ValidationError as e:  # each problem without its input value: that may be a secret
        for err in e.errors():
            print(f"error: {'.'.join(map(str, err['loc'])) or 'settings'}: {err['msg']}", file=sys.stderr)
        return 2
    problem = settings.transport_problem()
    if problem:
        print(f"error: {problem}", file=sys.stderr)
        return 2
    if args.workers > 1 and settings.run_scheduler:
        # Each worker runs the app's lifespan: N workers would evaluate every rule N times.
        print(f"error: --workers {args.workers} with EP_RUN_SCHEDULER=true would run {args.workers} alert "
              "schedulers; run the workers with EP_RUN_SCHEDULER=false and one `python -m api alerts`",
              file=sys.stderr)
        return 2
    tls = {}
    if settings.tls_cert_file:
        tls = {"ssl_certfile": str(settings.tls_cert_file), "ssl_keyfile": str(settings.tls_key_file)}
    # Behind a TLS proxy, X-Forwarded-Proto makes request.url.scheme "https" (cookies, HSTS); uvicorn
    # trusts it from FORWARDED_ALLOW_IPS (default 127.0.0.1), which the deployment sets.
    uvicorn.run("api.app:create_app", factory=True, host=args.host, port=args.port, workers=args.workers,
                access_log=not args.no_access_log, proxy_headers=True, **tls)
    return 0


if __name__ == "__main__":
    sys.exit(main())
