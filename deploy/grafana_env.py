"""Write ``deploy/.env`` for a Grafana that joins the running platform (deploy/grafana-joined.yml).

    python -m deploy.grafana_env [--out deploy/.env] [--force]

The platform ``deploy/run.sh`` runs keeps its settings in ``var/platform/platform.env``; this reads
its InfluxDB connection the way every service does (``storage.settings.InfluxSettings``: the
environment, then that file) and writes what the compose file needs:

- ``PLATFORM_INFLUX_URL``, ``INFLUX_DB``: the running platform's InfluxDB and database, so Grafana
  shows its whole history (Grafana runs on the host network and reaches the loopback address);
- ``INFLUX_READ_USER``, ``INFLUX_READ_PASSWORD``: with authentication on, a read-only InfluxDB user
  (``grafana``, created or given the new password with the platform's admin credentials, granted
  READ on the database): Grafana never holds a credential that writes. Without authentication
  both stay empty;
- ``GRAFANA_ADMIN_PASSWORD``: generated once; an existing one is kept unless ``--force`` (Grafana
  only reads it when its data volume is first created, so a new one would not take effect);
- ``GRAFANA_PORT``: kept, else 3000.

Other lines of an existing file (the full stack's settings) are kept. The file is mode 0600.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from dotenv import dotenv_values

from deploy.passwords import new_password
from storage.influx import InfluxError, InfluxHTTP, quote_ident, quote_literal
from storage.private import write_private
from storage.settings import InfluxSettings

DEFAULT_OUT = Path(__file__).resolve().parent / ".env"
READ_USER = "grafana"
DEFAULT_GRAFANA_PORT = "3000"


def ensure_read_user(admin: InfluxHTTP, user: str, password: str) -> None:
    """Create ``user`` (or set its password) and grant it READ on ``admin``'s database only."""
    users = {row[0] for s in admin.query("SHOW USERS", epoch=None) for row in s["values"]}
    verb = "SET PASSWORD FOR {u} = {p}" if user in users else "CREATE USER {u} WITH PASSWORD {p}"
    admin.query_raw(verb.format(u=quote_ident(user), p=quote_literal(password)), epoch=None, post=True)
    admin.query_raw(f"GRANT READ ON {quote_ident(admin.database)} TO {quote_ident(user)}", epoch=None, post=True)


def settings_for_grafana(existing: dict[str, str], *, force: bool) -> tuple[dict[str, str], list[str]]:
    """The values to write and what to tell the operator."""
    s = InfluxSettings()
    notes = []
    values = {"PLATFORM_INFLUX_URL": s.influx_url, "INFLUX_DB": s.influx_db,
              "GRAFANA_PORT": existing.get("GRAFANA_PORT") or DEFAULT_GRAFANA_PORT}
    keep = existing.get("GRAFANA_ADMIN_PASSWORD")
    values["GRAFANA_ADMIN_PASSWORD"] = keep if keep and not force else new_password(24)
    if s.influx_token:
        raise SystemExit("grafana_env: the platform's InfluxDB uses a token (EP_INFLUX_TOKEN); make a read-only "
                         "token for Grafana by hand and put it in deploy/.env as INFLUX_READ_PASSWORD")
    if s.influx_username:
        user = existing.get("INFLUX_READ_USER") or READ_USER
        password = existing.get("INFLUX_READ_PASSWORD")
        password = password if password and not force else new_password(24)
        with s.influx() as admin:
            ensure_read_user(admin, user, password)
        values |= {"INFLUX_READ_USER": user, "INFLUX_READ_PASSWORD": password}
        notes.append(f"InfluxDB user {user!r} may read database {s.influx_db!r} and nothing else")
    else:
        values |= {"INFLUX_READ_USER": "", "INFLUX_READ_PASSWORD": ""}
        notes.append(f"InfluxDB at {s.influx_url} runs without authentication: Grafana connects without a user")
    return values, notes


def write_env(path: Path, values: dict[str, str]) -> None:
    """Replace the lines of ``values``' keys in ``path`` (others kept), append the missing ones;
    mode 0600 (the file holds passwords)."""
    lines = path.read_text().splitlines() if path.exists() else []
    done = set()
    for i, line in enumerate(lines):
        key = line.split("=", 1)[0].strip()
        if "=" in line and not line.lstrip().startswith("#") and key in values:
            lines[i] = f"{key}={values[key]}"
            done.add(key)
    lines += [f"{k}={v}" for k, v in values.items() if k not in done]
    write_private(path, ("\n".join(lines) + "\n").encode())


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m deploy.grafana_env", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", type=Path, default=DEFAULT_OUT)
    ap.add_argument("--force", action="store_true",
                    help="new Grafana admin and InfluxDB read passwords even when the file has them")
    args = ap.parse_args(argv)
    existing = {k: v for k, v in dotenv_values(args.out).items() if v is not None} if args.out.exists() else {}
    try:
        values, notes = settings_for_grafana(existing, force=args.force)
    except InfluxError as exc:
        print(f"grafana_env: could not create the read-only InfluxDB user: {exc}", file=sys.stderr)
        return 1
    write_env(args.out, values)
    print(f"wrote {args.out} (mode 0600): Grafana reads {values['PLATFORM_INFLUX_URL']} database "
          f"{values['INFLUX_DB']}, admin password in GRAFANA_ADMIN_PASSWORD")
    for note in notes:
        print(f"  {note}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
