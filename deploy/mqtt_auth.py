"""Per-device MQTT credentials and an ACL for Mosquitto, made from the fleet file.

Every device gets its own user (``<building_code>.<device_id>``) that may publish only to its own
topics; a building's gateway may publish only its building's batch topic; the ingest user may read
device topics and publish dead letters; the API user publishes alerts. Nobody else reads or writes
anything, so a leaked device password exposes one meter, not the city.

    python -m deploy.mqtt_auth --fleet fleet.yaml --out var/mqtt-auth

writes ``passwords`` (hashed by ``mosquitto_passwd -U``, PBKDF2-SHA512), ``acl`` and
``credentials.csv`` (the plaintext passwords to provision devices with; mode 0600, keep it secret).
Start the broker with ``Mosquitto(..., password_file=..., acl_file=...)`` (deploy/localservers.py).
With ``--tls-dir`` every account also gets a client certificate whose common name is its user
name, for mutual TLS (deploy/tls.py).

The credentials lifecycle, while the broker runs (it reads both files again on SIGHUP, keeping
every other connection)::

    python -m deploy.mqtt_auth --out var/mqtt-auth --rotate 511102A001.E1 --broker-pid-file PIDFILE
    python -m deploy.mqtt_auth --out var/mqtt-auth --revoke 511102A001.E1 --broker-pid-file PIDFILE

A rotated password is written to ``credentials.csv`` only, never printed or logged.
"""

from __future__ import annotations

import argparse
import csv
import os
import shutil
import signal
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from contract.topics import GATEWAY, PREFIX, deadletter_topic, gateway_topic
from deploy.passwords import new_password
from deploy.tls import issue_client_cert
from registry.fleet import Fleet
from storage.private import write_private

INGEST_USER = "svc-ingest"
API_USER = "svc-api"


@dataclass(frozen=True)
class Account:
    username: str
    password: str
    building_code: str | None
    device_id: str | None


def _acl_lines(fleet: Fleet) -> tuple[list[Account], list[str]]:
    accounts: list[Account] = []
    acl: list[str] = []

    def add(username: str, topics: list[tuple[str, str]], building: str | None = None, dev: str | None = None):
        accounts.append(Account(username, new_password(18), building, dev))
        acl.append(f"user {username}")
        acl.extend(f"topic {access} {t}" for access, t in topics)
        acl.append("")

    for b in fleet.buildings:
        kinds = [("meter", m.device_id) for m in b.meters]
        kinds += [("pv_meter" if p.has_grid_meter else "pv_inverter", p.device_id) for p in b.pv]
        kinds += [("ev_pile", p.device_id) for p in b.ev_piles]
        for kind, dev in kinds:
            topics = [("write", f"{PREFIX}/{b.building_code}/{kind}/{dev}/+")]
            if kind == "pv_meter":
                # A PV system with a grid meter reports from its inverter too, under the same id.
                topics.append(("write", f"{PREFIX}/{b.building_code}/pv_inverter/{dev}/+"))
            add(f"{b.building_code}.{dev}", topics, b.building_code, dev)
        if b.gateway_id:
            batch = gateway_topic(b.building_code, b.gateway_id)
            add(f"{b.building_code}.{GATEWAY}.{b.gateway_id}", [("write", batch)], b.building_code, b.gateway_id)
    add(INGEST_USER, [("read", f"{PREFIX}/+/+/+/+"), ("write", deadletter_topic("#"))])
    add(API_USER, [("write", f"{PREFIX}/alerts/#"), ("read", deadletter_topic("#"))])
    return accounts, acl


def _hash_in_place(path: Path) -> None:
    """Replace the plaintext ``user:password`` lines of ``path`` by their hashes (PBKDF2-SHA512),
    in one ``mosquitto_passwd`` call: one process for thousands of devices, and no password on a
    command line where ``ps`` would show it."""
    passwd_tool = shutil.which("mosquitto_passwd")
    if passwd_tool is None:
        raise RuntimeError("mosquitto_passwd not found; install the mosquitto package (deploy/bootstrap.sh)")
    subprocess.run([passwd_tool, "-U", str(path)], check=True, capture_output=True)


def _write_credentials(out: Path, accounts: list[Account]) -> None:
    fd = os.open(out / "credentials.csv.tmp", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["username", "password", "building_code", "device_id"])
        w.writerows([a.username, a.password, a.building_code or "", a.device_id or ""] for a in accounts)
    os.replace(out / "credentials.csv.tmp", out / "credentials.csv")


def read_credentials(out: Path) -> list[Account]:
    with open(out / "credentials.csv", newline="") as f:
        return [Account(r["username"], r["password"], r["building_code"] or None, r["device_id"] or None)
                for r in csv.DictReader(f)]


def write_auth(fleet: Fleet, out: Path, tls_dir: Path | None = None) -> list[Account]:
    """Write the password file, ACL file and credentials CSV for ``fleet`` into ``out``; with
    ``tls_dir`` (the CA's folder), also a client certificate per account, named by its user."""
    out.mkdir(parents=True, exist_ok=True)
    accounts, acl = _acl_lines(fleet)
    pw = out / "passwords"
    # Plaintext first (owner-only from creation on), hashed in place.
    write_private(pw, "".join(f"{a.username}:{a.password}\n" for a in accounts).encode())
    _hash_in_place(pw)
    (out / "acl").write_text("\n".join(acl))
    _write_credentials(out, accounts)
    if tls_dir is not None:
        for a in accounts:
            issue_client_cert(tls_dir, a.username)
    return accounts


def _replace_private(path: Path, text: str) -> None:
    """Rewrite a file the broker reads, atomically and owner-only, keeping its owner (Mosquitto
    started as root reads it as the ``mosquitto`` user, deploy/localservers.py)."""
    st = path.stat()
    write_private(path, text.encode())
    os.chown(path, st.st_uid, st.st_gid)


def _without_user(out: Path, username: str) -> tuple[list[str], list[Account]]:
    lines = (out / "passwords").read_text().splitlines()
    kept = [ln for ln in lines if ln.split(":", 1)[0] != username]
    if len(kept) == len(lines):
        raise KeyError(f"no MQTT account {username!r} in {out / 'passwords'}")
    return kept, [a for a in read_credentials(out) if a.username != username]


def rotate_password(out: Path, username: str) -> str:
    """Give ``username`` a new random password in ``out`` (password file and credentials CSV);
    returns it. The broker takes it on its next reload (:func:`reload_broker`)."""
    kept, others = _without_user(out, username)
    old = next((a for a in read_credentials(out) if a.username == username), Account(username, "", None, None))
    new = new_password(18)
    with tempfile.TemporaryDirectory(dir=out) as tmp:
        one = Path(tmp) / "one"
        write_private(one, f"{username}:{new}\n".encode())
        _hash_in_place(one)
        hashed = one.read_text().strip()
    _replace_private(out / "passwords", "\n".join([*kept, hashed]) + "\n")
    _write_credentials(out, [*others, Account(username, new, old.building_code, old.device_id)])
    return new


def revoke(out: Path, username: str) -> None:
    """Remove ``username`` from the password file, the ACL and the credentials CSV: after the
    broker's reload it can neither log in with a password nor, with a client certificate of that
    name, publish or read anything (no ACL entry = nothing allowed)."""
    kept, others = _without_user(out, username)
    _replace_private(out / "passwords", "\n".join(kept) + "\n" if kept else "")
    acl, skipping = [], False
    for ln in (out / "acl").read_text().splitlines():
        if ln.startswith("user "):
            skipping = ln[5:].strip() == username
        if not skipping:
            acl.append(ln)
    _replace_private(out / "acl", "\n".join(acl) + "\n")
    _write_credentials(out, others)


def reload_broker(pid_file: Path) -> None:
    """SIGHUP the broker whose pid ``pid_file`` holds: it reads password and ACL files again."""
    os.kill(int(pid_file.read_text().strip()), signal.SIGHUP)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", type=Path, required=True, help="folder of passwords, acl and credentials.csv")
    what = ap.add_mutually_exclusive_group(required=True)
    what.add_argument("--fleet", type=Path, help="write every account of this fleet (replaces the files)")
    what.add_argument("--rotate", metavar="USER", help="give one account a new password")
    what.add_argument("--revoke", metavar="USER", help="remove one account")
    ap.add_argument("--tls-dir", type=Path, help="with --fleet: the CA folder; issue a client certificate per account")
    ap.add_argument("--broker-pid-file", type=Path, help="SIGHUP this broker afterwards (its state folder's pid)")
    args = ap.parse_args()
    try:
        if args.fleet:
            accounts = write_auth(Fleet.load(args.fleet), args.out, args.tls_dir)
            print(f"{len(accounts)} accounts written to {args.out} "
                  "(credentials.csv holds the plaintext: keep it secret)")
        elif args.rotate:
            rotate_password(args.out, args.rotate)
            print(f"new password of {args.rotate} written to {args.out / 'credentials.csv'}")
        else:
            revoke(args.out, args.revoke)
            print(f"{args.revoke} revoked")
    except (KeyError, OSError, RuntimeError, subprocess.CalledProcessError) as e:
        raise SystemExit(f"error: {e}") from None
    if args.broker_pid_file:
        reload_broker(args.broker_pid_file)
        print(f"broker reloaded (SIGHUP to the pid in {args.broker_pid_file})")


if __name__ == "__main__":
    main()
