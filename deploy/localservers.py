"""Start, stop and restart a real Mosquitto and a real InfluxDB 1.x on loopback.

Used by the platform runner (``deploy/run.sh``) and by the test suite, so both run the
same servers the same way. Every instance keeps its config, data and logs under one
project-local state folder, listens on 127.0.0.1 only, and can be restarted in place
(the failure tests stop InfluxDB for 30 s and restart the broker mid-stream).

Command line::

    python -m deploy.localservers start --state var/platform   # prints the ports as JSON
    EP_INFLUX_PASSWORD=... python -m deploy.localservers start --state var/platform --influx-auth
    python -m deploy.localservers stop --state var/platform
"""

from __future__ import annotations

import argparse
import json
import os
import pwd
import secrets
import shutil
import signal
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from storage.clip import clip
from storage.influx import quote_ident, quote_literal


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_until(check, timeout_s: float, what: str, log: Path | None = None) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.05)
    tail = ""
    if log is not None and log.exists():
        tail = "\n--- last log lines ---\n" + "\n".join(log.read_text(errors="replace").splitlines()[-20:])
    raise RuntimeError(f"{what} did not answer within {timeout_s:.0f} s{tail}")


def _port_open(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.settimeout(0.2)
        return s.connect_ex(("127.0.0.1", port)) == 0


@dataclass
class _Server:
    state_dir: Path
    proc: subprocess.Popen | None = field(default=None, init=False)

    @property
    def log_path(self) -> Path:
        return self.state_dir / "server.log"

    def _spawn(self, argv: list[str]) -> None:
        self.state_dir.mkdir(parents=True, exist_ok=True)
        log = open(self.log_path, "ab")  # noqa: SIM115 - kept open for the child's lifetime
        # A new session so that Ctrl-C in a terminal does not reach the server before we stop it.
        self.proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        (self.state_dir / "pid").write_text(str(self.proc.pid))

    def stop(self, timeout_s: float = 15) -> None:
        """SIGTERM, then SIGKILL after ``timeout_s``; safe to call twice."""
        if self.proc is None or self.proc.poll() is not None:
            self.proc = None
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout_s)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(5)
        self.proc = None

    def kill(self) -> None:
        """SIGKILL: a crash, for the failure tests."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(5)
        self.proc = None

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None


@dataclass
class Mosquitto(_Server):
    """A Mosquitto 2.x broker with persistence, sized so that QoS 1 sessions of a slow
    subscriber are queued rather than dropped (see docs/reference.md section 6)."""

    port: int = 0
    password_file: Path | None = None
    acl_file: Path | None = None

    def __post_init__(self) -> None:
        self.port = self.port or free_port()

    def write_config(self) -> Path:
        data = self.state_dir / "data"
        data.mkdir(parents=True, exist_ok=True)
        lines = [
            f"listener {self.port} 127.0.0.1",
            "protocol mqtt",
            f"persistence_location {data}/",
            "persistence true",
            "autosave_interval 30",
            # Unlimited in-flight: ingest acknowledges only after the InfluxDB write, so a whole
            # batch (thousands of messages) is in flight at once; the client's MQTT v5
            # receive-maximum is what bounds it.
            "max_inflight_messages 0",
            # A persistent session must hold a backlog while ingest is down or InfluxDB is out.
            "max_queued_messages 2000000",
            "max_queued_bytes 0",
            "message_size_limit 0",
            "log_dest stdout",
            "log_type error",
            "log_type warning",
            "log_type notice",
            "connection_messages false",
        ]
        if self.password_file:
            lines += ["allow_anonymous false", f"password_file {self.password_file}"]
        else:
            lines += ["allow_anonymous true"]
        if self.acl_file:
            lines.append(f"acl_file {self.acl_file}")
        conf = self.state_dir / "mosquitto.conf"
        conf.write_text("\n".join(lines) + "\n")
        return conf

    def start(self, timeout_s: float = 15) -> Mosquitto:
        if self.running:
            return self
        conf = self.write_config()
        if os.geteuid() == 0:
            # Started as root, Mosquitto drops to the `mosquitto` user and exits silently when
            # that user cannot write its persistence folder.
            try:
                pw = pwd.getpwnam("mosquitto")
                for p in [self.state_dir, self.state_dir / "data", *(self.state_dir / "data").iterdir()]:
                    os.chown(p, pw.pw_uid, pw.pw_gid)
                for f in (self.password_file, self.acl_file):
                    if f:
                        os.chown(f, pw.pw_uid, pw.pw_gid)
                        os.chmod(f, 0o600)
            except KeyError:
                pass
        self._spawn([_binary("mosquitto", "/usr/sbin/mosquitto"), "-c", str(conf)])
        _wait_until(lambda: self._alive_and_listening(), timeout_s, f"mosquitto on port {self.port}",
                    self.log_path)
        return self

    def _alive_and_listening(self) -> bool:
        if self.proc is not None and self.proc.poll() is not None:
            raise RuntimeError(f"mosquitto exited with {self.proc.returncode}; see {self.log_path}:\n"
                               + self.log_path.read_text(errors="replace")[-2000:])
        return _port_open(self.port)

    def restart(self) -> Mosquitto:
        self.stop()
        _wait_until(lambda: not _port_open(self.port), 10, "mosquitto port release")
        return self.start()


@dataclass
class Influxd(_Server):
    """An InfluxDB 1.x server speaking ``/write`` and ``/query`` (the storage contract).

    With ``auth_enabled`` every request but ``/ping`` needs credentials; the first start creates
    the admin ``admin_user`` / ``admin_password`` through the HTTP API (InfluxDB 1.x lets the
    first ``CREATE USER ... WITH ALL PRIVILEGES`` through unauthenticated), as an operator would.
    """

    port: int = 0
    rpc_port: int = 0
    auth_enabled: bool = False
    admin_user: str = "admin"
    #: Generated when not given (and auth is enabled); kept in memory only.
    admin_password: str | None = None

    def __post_init__(self) -> None:
        self.port = self.port or free_port()
        self.rpc_port = self.rpc_port or free_port()
        if self.auth_enabled and not self.admin_password:
            self.admin_password = secrets.token_urlsafe(16)

    @property
    def auth(self) -> tuple[str, str] | None:
        """(user, password) of the admin for HTTP basic auth; None without authentication."""
        return (self.admin_user, self.admin_password or "") if self.auth_enabled else None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def write_config(self) -> Path:
        d = self.state_dir
        conf = d / "influxdb.conf"
        conf.write_text(f"""reporting-enabled = false
bind-address = "127.0.0.1:{self.rpc_port}"
[meta]
  dir = "{d}/meta"
[data]
  dir = "{d}/data"
  wal-dir = "{d}/wal"
  query-log-enabled = false
  # The default 1M series cap is generous; the platform stays far below it.
  max-values-per-tag = 0
[monitor]
  store-enabled = false
[http]
  enabled = true
  bind-address = "127.0.0.1:{self.port}"
  auth-enabled = {str(self.auth_enabled).lower()}
  log-enabled = false
  max-body-size = 0
[continuous_queries]
  enabled = true
  log-enabled = false
[logging]
  level = "warn"
""")
        return conf

    def start(self, timeout_s: float = 30) -> Influxd:
        if self.running:
            return self
        self.state_dir.mkdir(parents=True, exist_ok=True)
        conf = self.write_config()
        self._spawn([_binary("influxd", "/usr/bin/influxd"), "-config", str(conf)])
        _wait_until(self._ping, timeout_s, f"influxd on port {self.port}", self.log_path)
        if self.auth_enabled:
            self._ensure_admin()
        return self

    def _ensure_admin(self) -> None:
        """Create the admin user unless it exists (a restart keeps the users in ``meta/``)."""
        if httpx.get(f"{self.url}/query", params={"q": "SHOW USERS"}, auth=self.auth).status_code == 200:
            return
        q = (f"CREATE USER {quote_ident(self.admin_user)} WITH PASSWORD {quote_literal(self.admin_password or '')}"
             " WITH ALL PRIVILEGES")
        r = httpx.post(f"{self.url}/query", data={"q": q})
        if r.status_code != 200 or "error" in r.text:
            raise RuntimeError(f"influxd on port {self.port}: could not create the admin user: "
                               f"HTTP {r.status_code} {clip(r.text)}")

    def _ping(self) -> bool:
        if self.proc is not None and self.proc.poll() is not None:
            raise RuntimeError(f"influxd exited with {self.proc.returncode}; see {self.log_path}:\n"
                               + self.log_path.read_text(errors="replace")[-2000:])
        try:
            return httpx.get(f"{self.url}/ping", timeout=0.5).status_code == 204
        except httpx.HTTPError:
            return False

    def restart(self) -> Influxd:
        self.stop()
        return self.start()


def _binary(name: str, fallback: str) -> str:
    found = shutil.which(name) or (fallback if Path(fallback).exists() else None)
    if not found:
        raise RuntimeError(f"{name} is not installed; run deploy/bootstrap.sh (it apt-get installs it)")
    return found


# -- command line: used by deploy/run.sh -------------------------------------------------------

def _state_file(state: Path) -> Path:
    return state / "servers.json"


def start_all(state: Path, mqtt_port: int = 0, influx_port: int = 0, influx_admin_password: str | None = None) -> dict:
    """Start both servers; with ``influx_admin_password`` InfluxDB runs with authentication and
    an admin ``admin`` (the services then need ``EP_INFLUX_USERNAME``/``EP_INFLUX_PASSWORD``)."""
    mq = Mosquitto(state / "mosquitto", port=mqtt_port).start()
    ix = Influxd(state / "influxdb", port=influx_port, auth_enabled=influx_admin_password is not None,
                 admin_password=influx_admin_password).start()
    info = {"mqtt_host": "127.0.0.1", "mqtt_port": mq.port, "influx_url": ix.url,
            "influx_username": ix.admin_user if ix.auth_enabled else None,
            "mosquitto_pid": mq.proc.pid, "influxd_pid": ix.proc.pid}
    _state_file(state).write_text(json.dumps(info))
    # Detach: the runner outlives this helper process.
    mq.proc = ix.proc = None
    return info


def stop_all(state: Path) -> None:
    f = _state_file(state)
    if not f.exists():
        return
    info = json.loads(f.read_text())
    for key in ("mosquitto_pid", "influxd_pid"):
        pid = info.get(key)
        if not pid:
            continue
        try:
            os.kill(pid, signal.SIGTERM)
        except ProcessLookupError:
            continue
        for _ in range(150):
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                break
            time.sleep(0.1)
        else:
            os.kill(pid, signal.SIGKILL)
    f.unlink()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("action", choices=["start", "stop"])
    ap.add_argument("--state", type=Path, default=Path("var/platform"))
    ap.add_argument("--mqtt-port", type=int, default=1883)
    ap.add_argument("--influx-port", type=int, default=8086)
    ap.add_argument("--influx-auth", action="store_true",
                    help="start InfluxDB with authentication; the admin 'admin' gets the password of "
                         "EP_INFLUX_PASSWORD (the services' own variable), which must be set")
    args = ap.parse_args()
    if args.action == "start":
        password = os.environ.get("EP_INFLUX_PASSWORD") if args.influx_auth else None
        if args.influx_auth and not password:
            ap.error("--influx-auth needs EP_INFLUX_PASSWORD in the environment")
        print(json.dumps(start_all(args.state.resolve(), args.mqtt_port, args.influx_port, password)))
    else:
        stop_all(args.state.resolve())


if __name__ == "__main__":
    main()
