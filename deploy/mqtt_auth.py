"""Per-device MQTT credentials and an ACL for Mosquitto, made from the fleet file.

Every device gets its own user (``<building_code>.<device_id>``) that may publish only to its own
topics; a building's gateway may publish only its building's batch topic; the ingest user may read
device topics and publish dead letters; the API user publishes alerts. Nobody else reads or writes
anything, so a leaked device password exposes one meter, not the city.

    python -m deploy.mqtt_auth --fleet fleet.yaml --out var/mqtt-auth

writes ``passwords`` (hashed by ``mosquitto_passwd -U``, PBKDF2-SHA512), ``acl`` and
``credentials.csv`` (the plaintext passwords to provision devices with; mode 0600, keep it secret).
Start the broker with ``Mosquitto(..., password_file=..., acl_file=...)`` (deploy/localservers.py).
"""

from __future__ import annotations

import argparse
import csv
import os
import secrets
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from contract.topics import GATEWAY, PREFIX, deadletter_topic, gateway_topic
from registry.fleet import Fleet

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
        accounts.append(Account(username, secrets.token_urlsafe(18), building, dev))
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


def write_auth(fleet: Fleet, out: Path) -> list[Account]:
    """Write the password file, ACL file and credentials CSV for ``fleet`` into ``out``."""
    passwd_tool = shutil.which("mosquitto_passwd")
    if passwd_tool is None:
        raise RuntimeError("mosquitto_passwd not found; install the mosquitto package (deploy/bootstrap.sh)")
    out.mkdir(parents=True, exist_ok=True)
    accounts, acl = _acl_lines(fleet)
    pw = out / "passwords"
    # Plaintext first, hashed in place in one call (one process for thousands of devices).
    fd = os.open(pw, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.writelines(f"{a.username}:{a.password}\n" for a in accounts)
    subprocess.run([passwd_tool, "-U", str(pw)], check=True, capture_output=True)
    (out / "acl").write_text("\n".join(acl))
    fd = os.open(out / "credentials.csv", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["username", "password", "building_code", "device_id"])
        w.writerows([a.username, a.password, a.building_code or "", a.device_id or ""] for a in accounts)
    return accounts


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--fleet", type=Path, required=True)
    ap.add_argument("--out", type=Path, required=True)
    args = ap.parse_args()
    accounts = write_auth(Fleet.load(args.fleet), args.out)
    print(f"{len(accounts)} accounts written to {args.out} (credentials.csv holds the plaintext: keep it secret)")


if __name__ == "__main__":
    main()
