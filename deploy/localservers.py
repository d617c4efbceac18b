"""Start, stop and restart a real Mosquitto and a real InfluxDB 1.x on loopback.

Used by the platform runner (``deploy/run.sh``) and by the test suite, so both run the
same servers the same way. Every instance keeps its config, data and logs under one
project-local state folder, listens on 127.0.0.1 only, and can be restarted in place
(the failure tests stop InfluxDB for 30 s and restart the broker mid-stream).

Command line::

    python -m deploy.localservers start --state var/platform   # prints the ports as JSON
    python -m deploy.localservers start --state var/platform --tls   # MQTT over TLS only (8883)
    EP_INFLUX_PASSWORD=... python -m deploy.localservers start --state var/platform --influx-auth
    python -m deploy.localservers stop --state var/platform
"""

from __future__ import annotations

import argparse
import json
import os
import pwd
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from contract.broker import MqttConnection
from deploy.passwords import new_password
from deploy.tls import CertFiles, ensure_server_cert
from storage.clip import clip
from storage.influx import quote_ident, quote_literal
from storage.private import write_private


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
    tail = _log_tail(log) if log is not None else ""
    raise RuntimeError(f"{what} did not answer within {timeout_s:.0f} s{tail}")


def _port_open(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.settimeout(0.2)
        return s.connect_ex(("127.0.0.1", port)) == 0


def _log_tail(log: Path, lines: int = 20) -> str:
    if not log.exists():
        return ""
    return "\n--- last log lines ---\n" + "\n".join(log.read_text(errors="replace").splitlines()[-lines:])


def check_port_free(port: int, what: str) -> None:
    """Raise, naming the port, when something already listens on 127.0.0.1:``port``.

    Checked before the server starts because the readiness probes cannot tell our server from
    another one: a Mosquitto or InfluxDB already on the port answers, while ours dies with
    "address already in use", and the start looked successful. SO_REUSEADDR as the servers set
    it, so a port left in TIME_WAIT by a restart counts as free, as it is for them.
    """
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
        except OSError as exc:
            raise RuntimeError(f"{what}: port {port} on 127.0.0.1 is already in use ({exc.strerror}); "
                               "stop what holds it or choose another port") from None


def _listening_inodes(port: int) -> set[str]:
    """Socket inodes listening on 127.0.0.1:``port`` (Linux /proc/net/tcp; empty elsewhere)."""
    try:
        rows = Path("/proc/net/tcp").read_text().splitlines()[1:]
    except OSError:
        return set()
    local = f"0100007F:{port:04X}"  # 127.0.0.1 in little-endian hex, port in hex
    return {cols[9] for cols in (r.split() for r in rows) if cols[1] == local and cols[3] == "0A"}


def owns_listener(pid: int, port: int) -> bool:
    """Whether process ``pid`` holds the socket listening on 127.0.0.1:``port``; True when the
    system cannot tell (no /proc), so the check never fails a start on its own."""
    inodes = _listening_inodes(port)
    if not inodes:
        return not Path("/proc/net/tcp").exists()
    try:
        fds = list(Path(f"/proc/{pid}/fd").iterdir())
    except OSError:
        return True
    held = set()
    for fd in fds:
        try:
            held.add(os.readlink(fd))
        except OSError:
            continue
    return any(f"socket:[{inode}]" in held for inode in inodes)


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

    def _check_ready(self, port: int, what: str) -> None:
        """After the probe answered: the answer must come from the process we started."""
        if self.proc is None or self.proc.poll() is not None:
            code = None if self.proc is None else self.proc.returncode
            raise RuntimeError(f"{what} exited with {code} right after starting{_log_tail(self.log_path)}")
        pid = self.proc.pid
        if not owns_listener(pid, port):
            self.stop()
            raise RuntimeError(f"{what}: port {port} answers, but not from the server started here (pid {pid}): "
                               f"another process holds the port{_log_tail(self.log_path)}")

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
    #: Server certificate, key and CA for a TLS listener on ``tls_port`` (None: no TLS listener).
    tls: CertFiles | None = None
    tls_port: int = 0
    #: The plain listener on ``port``; production switches it off so nothing travels in clear.
    plain: bool = True
    #: Mutual TLS: a client certificate signed by the CA is required on the TLS listener and its
    #: common name becomes the MQTT user name, so that user's ACL applies (deploy/mqtt_auth.py).
    client_certs: bool = False

    def __post_init__(self) -> None:
        self.port = self.port or free_port()
        if self.tls is not None:
            self.tls_port = self.tls_port or free_port()
        elif not self.plain or self.client_certs:
            raise ValueError("Mosquitto: plain=False or client_certs=True needs tls=CertFiles(...)")

    @property
    def listen_port(self) -> int:
        """The port clients should dial: the TLS one when there is one."""
        return self.tls_port if self.tls is not None else self.port

    def connection(self, **fields) -> MqttConnection:
        """How a client reaches this broker (over TLS, trusting its CA, when it has a TLS
        listener); ``fields`` add credentials, e.g. ``mqtt_username=...``."""
        base = {"mqtt_host": "127.0.0.1", "mqtt_port": self.listen_port}
        if self.tls is not None:
            base |= {"mqtt_tls": True, "mqtt_ca_file": self.tls.ca}
        return MqttConnection(**(base | fields))

    def _listener_lines(self) -> list[str]:
        lines = [f"listener {self.port} 127.0.0.1", "protocol mqtt"] if self.plain else []
        if self.tls is not None:
            ca, cert, key = self._tls_copies()
            lines += [f"listener {self.tls_port} 127.0.0.1", "protocol mqtt", f"cafile {ca}",
                      f"certfile {cert}", f"keyfile {key}", "tls_version tlsv1.2"]
            if self.client_certs:
                lines += ["require_certificate true", "use_identity_as_username true"]
        return lines

    def _tls_copies(self) -> tuple[Path, Path, Path]:
        """The broker's own owner-only copies of CA, certificate and key in its state folder:
        Mosquitto started as root reads them after dropping to its user, who must not be able to
        read the folder holding the CA's key."""
        folder = self.state_dir.resolve() / "tls"
        folder.mkdir(parents=True, exist_ok=True)
        os.chmod(folder, 0o700)
        copies = (folder / "ca.pem", folder / "server.pem", folder / "server.key")
        for src, dst in zip((self.tls.ca, self.tls.cert, self.tls.key), copies, strict=True):
            write_private(dst, Path(src).read_bytes())
        return copies

    def write_config(self) -> Path:
        data = self.state_dir / "data"
        data.mkdir(parents=True, exist_ok=True)
        lines = [
            *self._listener_lines(),
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
        if self.plain:
            check_port_free(self.port, "mosquitto")
        if self.tls is not None:
            check_port_free(self.tls_port, "mosquitto (TLS)")
        conf = self.write_config()
        if os.geteuid() == 0:
            # Started as root, Mosquitto drops to the `mosquitto` user and exits silently when
            # that user cannot write its persistence folder.
            try:
                pw = pwd.getpwnam("mosquitto")
                for p in [self.state_dir, self.state_dir / "data", *(self.state_dir / "data").iterdir()]:
                    os.chown(p, pw.pw_uid, pw.pw_gid)
                tls = self.state_dir / "tls"
                tls_files = [tls, *tls.iterdir()] if tls.exists() else []
                for f in (self.password_file, self.acl_file, *tls_files):
                    if f:
                        os.chown(f, pw.pw_uid, pw.pw_gid)
                        os.chmod(f, 0o700 if Path(f).is_dir() else 0o600)
            except KeyError:
                pass
        self._spawn([_binary("mosquitto", "/usr/sbin/mosquitto"), "-c", str(conf)])
        what = f"mosquitto on port {self.listen_port}"
        try:
            _wait_until(lambda: self._alive_and_listening(), timeout_s, what, self.log_path)
            self._check_ready(self.listen_port, what)
        except RuntimeError:
            self.stop()
            raise
        return self

    def _alive_and_listening(self) -> bool:
        if self.proc is not None and self.proc.poll() is not None:
            raise RuntimeError(f"mosquitto on port {self.listen_port} exited with {self.proc.returncode}; see "
                               f"{self.log_path}:\n" + self.log_path.read_text(errors="replace")[-2000:])
        return _port_open(self.listen_port)

    def reload(self) -> None:
        """SIGHUP: Mosquitto reads its password and ACL files again, keeping every connection and
        session (credential rotation and revocation without a restart, deploy/mqtt_auth.py)."""
        if not self.running:
            raise RuntimeError("mosquitto is not running")
        self.proc.send_signal(signal.SIGHUP)

    def restart(self) -> Mosquitto:
        self.stop()
        _wait_until(lambda: not _port_open(self.listen_port), 10, "mosquitto port release")
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
            self.admin_password = new_password(16)

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
        check_port_free(self.port, "influxd (HTTP)")
        check_port_free(self.rpc_port, "influxd (backup/restore RPC)")
        self.state_dir.mkdir(parents=True, exist_ok=True)
        conf = self.write_config()
        self._spawn([_binary("influxd", "/usr/bin/influxd"), "-config", str(conf)])
        what = f"influxd on port {self.port}"
        try:
            _wait_until(self._ping, timeout_s, what, self.log_path)
            self._check_ready(self.port, what)
            if self.auth_enabled:
                self._ensure_admin()
        except RuntimeError:
            self.stop()
            raise
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
            raise RuntimeError(f"influxd on port {self.port} exited with {self.proc.returncode}; see {self.log_path}:\n"
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


def start_all(state: Path, mqtt_port: int = 0, influx_port: int = 0, tls_port: int | None = None,
              influx_admin_password: str | None = None) -> dict:
    """Start both servers, or neither: when InfluxDB fails, the broker just started is stopped.

    ``tls_port``: MQTT over TLS only, on that port, with the platform CA's server certificate
    under ``state/tls`` (deploy/tls.py). With ``influx_admin_password`` InfluxDB runs with
    authentication and an admin ``admin`` (the services then need ``EP_INFLUX_USERNAME``/
    ``EP_INFLUX_PASSWORD``)."""
    if tls_port is not None:
        mq = Mosquitto(state / "mosquitto", tls=ensure_server_cert(state / "tls"), tls_port=tls_port, plain=False)
    else:
        mq = Mosquitto(state / "mosquitto", port=mqtt_port)
    mq.start()
    try:
        ix = Influxd(state / "influxdb", port=influx_port, auth_enabled=influx_admin_password is not None,
                     admin_password=influx_admin_password).start()
    except BaseException:
        mq.stop()
        raise
    info = {"mqtt_host": "127.0.0.1", "mqtt_port": mq.listen_port, "influx_url": ix.url,
            "influx_username": ix.admin_user if ix.auth_enabled else None,
            "mosquitto_pid": mq.proc.pid, "influxd_pid": ix.proc.pid}
    if mq.tls is not None:
        info |= {"mqtt_tls": True, "mqtt_ca_file": str(mq.tls.ca)}
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
    ap.add_argument("--tls", action="store_true", help="MQTT over TLS only, on --mqtt-tls-port")
    ap.add_argument("--mqtt-tls-port", type=int, default=8883)
    ap.add_argument("--influx-auth", action="store_true",
                    help="start InfluxDB with authentication; the admin 'admin' gets the password of "
                         "EP_INFLUX_PASSWORD (the services' own variable), which must be set")
    args = ap.parse_args()
    if args.action == "start":
        password = os.environ.get("EP_INFLUX_PASSWORD") if args.influx_auth else None
        if args.influx_auth and not password:
            ap.error("--influx-auth needs EP_INFLUX_PASSWORD in the environment")
        try:
            info = start_all(args.state.resolve(), args.mqtt_port, args.influx_port,
                             args.mqtt_tls_port if args.tls else None, password)
        except RuntimeError as exc:
            # Loud and non-zero: the runner must not go on with a server that is not there.
            print(f"localservers: start failed: {exc}", file=sys.stderr)
            sys.exit(1)
        print(json.dumps(info))
    else:
        stop_all(args.state.resolve())


if __name__ == "__main__":
    main()
