"""Run the whole platform on this machine, with no container engine.

Starts Mosquitto and InfluxDB (deploy/localservers.py), the ingest service, the API, the MOHURD
collector gateway, and a simulated fleet (a generated fleet file imported into the registry, a
backfilled history, then live data; three more buildings report through simulated data collectors
over TCP to the gateway), prints where each one listens, and stops everything on Ctrl-C or SIGTERM.

State (configs, data, logs, the registry database) lives under ``var/platform/``; the platform's
settings (its ``EP_`` variables) are written to ``var/platform/platform.env`` (mode 0600), where
every hand-run command line finds them (storage/settings.py; with another ``--state``, point
``EP_PLATFORM_ENV`` at its ``platform.env``).

By default everything that crosses a socket is encrypted: the broker listens only on MQTT over TLS
(8883) with a server certificate of the platform's own CA (``var/platform/tls/ca.pem``, made on the
first start, deploy/tls.py), ingest, the simulator and the alert publisher verify it, and the API
serves HTTPS with the same certificate. A city with its own PKI gives ``--tls-cert-file``,
``--tls-key-file`` and ``--tls-ca-file`` instead. ``--no-tls`` runs everything in clear (1883, http).
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

from contract.broker import PLAIN_PORT, TLS_PORT
from deploy.localservers import Influxd, Mosquitto, check_port_free, free_port
from deploy.tls import CertFiles, ensure_server_cert
from storage.influx import InfluxHTTP
from storage.settings import InfluxSettings, write_platform_env

ROOT = Path(__file__).resolve().parents[1]
PY = sys.executable
#: The platform's database: the services' default (storage/settings.py), so a hand-run command finds it.
INFLUX_DB = InfluxSettings.model_fields["influx_db"].default
#: The simulated history counts as caught up when its newest reading is at most this old: two of
#: the simulator's 15-minute intervals (a live tick lands at most one interval after its time). [s]
CAUGHT_UP_S = 2 * 15 * 60
#: Fixed ports of the services (the broker's: 1883 in clear, 8883 over TLS); ``--port NAME=N``
#: changes one, 0 takes any free port.
DEFAULT_PORTS = {"influx": 8086, "api": 8000, "metrics": 9108, "collectors": 8808}
#: Longest wait for the catch-up before the banner is printed anyway, with a warning. [s]
CATCH_UP_TIMEOUT_S = 1800.0


def _port(preferred: int, what: str) -> int:
    """The fixed port of ``what``, or an error naming it when something else holds it.

    A quiet fallback to a random port moved the broker off 1883 after a quick restart (the old
    socket in TIME_WAIT made a plain bind fail) and every client configured for 1883 lost it; the
    check binds with SO_REUSEADDR as the servers do (deploy.localservers.check_port_free), so a
    port in TIME_WAIT is free and a port that is really taken stops the start with its name.
    """
    if preferred == 0:  # asked for any free port (tests beside other platforms)
        return free_port()
    check_port_free(preferred, what)
    return preferred


class Platform:
    def __init__(self, state: Path, *, fleet_size: int, seed: int, backfill_days: int,
                 rollup_every_s: float = 300, tls: bool | CertFiles = True, ports: dict[str, int] | None = None):
        self.state = state
        self.rollup_every_s = rollup_every_s
        self._stopping = threading.Event()
        self._refitted = 0.0  # monotonic time of the last baseline refit; 0: never
        self._refit_proc: subprocess.Popen | None = None
        self.fleet_size, self.seed, self.backfill_days = fleet_size, seed, backfill_days
        self.procs: list[tuple[str, subprocess.Popen]] = []
        #: The platform CA's server certificate for the broker and the API; None: all in clear.
        self.tls = tls if isinstance(tls, CertFiles) else ensure_server_cert(state / "tls") if tls else None
        port = {**DEFAULT_PORTS, "mqtt": TLS_PORT if self.tls else PLAIN_PORT, **(ports or {})}
        if self.tls:
            self.mq = Mosquitto(state / "mosquitto", tls=self.tls, tls_port=_port(port["mqtt"], "MQTT broker (TLS)"),
                                plain=False)
        else:
            self.mq = Mosquitto(state / "mosquitto", port=_port(port["mqtt"], "MQTT broker"))
        self.ix = Influxd(state / "influxdb", port=_port(port["influx"], "InfluxDB"))
        self.api_port = _port(port["api"], "API")
        self.metrics_port = _port(port["metrics"], "ingest metrics")
        self.collectors_port = _port(port["collectors"], "collector gateway")
        tls_env = {"EP_MQTT_TLS": "true", "EP_MQTT_CA_FILE": str(self.tls.ca)} if self.tls else {}
        self.env = {**os.environ, "EP_ENV": os.environ.get("EP_ENV", "development"), **tls_env,
                    "EP_MQTT_HOST": "127.0.0.1", "EP_MQTT_PORT": str(self.mq.listen_port),
                    "EP_INFLUX_URL": self.ix.url, "EP_INFLUX_DB": INFLUX_DB,
                    "EP_DATABASE_URL": f"sqlite:///{state / 'registry.db'}"}

    def _spawn(self, name: str, *args: str) -> subprocess.Popen:
        log = open(self.state / f"{name}.log", "ab")  # noqa: SIM115 - the child owns it
        p = subprocess.Popen([PY, "-m", *args], cwd=ROOT, env=self.env, stdout=log, stderr=subprocess.STDOUT,
                             start_new_session=True)
        self.procs.append((name, p))
        return p

    def _run(self, what: str, *args: str) -> None:
        print(f"  {what} ...", flush=True)
        subprocess.run([PY, "-m", *args], cwd=ROOT, env=self.env, check=True)

    def up(self) -> None:
        self.state.mkdir(parents=True, exist_ok=True)
        self.mq.start()
        self.ix.start()
        # The attribute sync below writes before ingest (which creates the database) has started.
        with InfluxHTTP(self.ix.url, INFLUX_DB) as influx:
            influx.create_database()
        fleet = self.state / "fleet.yaml"
        if not fleet.exists():
            self._run("generating a fleet", "simulators", "fleet", "--seed", str(self.seed),
                      "--size", str(self.fleet_size), "--out", str(fleet))
        self._import_buildings("importing the fleet into the registry", fleet)
        self._register_weather_stations(fleet)
        admin_key = self._admin_key()
        self._spawn("ingest", "ingest", "--fleet-file", str(fleet), "--metrics-port", str(self.metrics_port))
        https = ["--tls-cert-file", str(self.tls.cert), "--tls-key-file", str(self.tls.key)] if self.tls else []
        self._spawn("api", "api", "--host", "127.0.0.1", "--port", str(self.api_port), *https)
        mqtt = ["--mqtt-host", "127.0.0.1", "--mqtt-port", str(self.mq.listen_port)]
        if self.tls:
            mqtt += ["--mqtt-tls", "--mqtt-ca-file", str(self.tls.ca)]
        # One live run at real time from a past start: it catches up the history as fast as ingest
        # accepts, then goes on live with continuous registers.
        start = dt.datetime.now(dt.UTC).date() - dt.timedelta(days=self.backfill_days)
        self._spawn("simulator", "simulators", "live", "--fleet", str(fleet), "--seed", str(self.seed),
                    "--start", start.isoformat(), "--weather-stations", *mqtt)
        self._spawn("alerts", "api", "alerts")
        self._collectors(start)
        # The banner promises indicators: the history must be in and rolled up before it is printed
        # (a rollup before the data left every indicator zero until the next one, minutes later).
        self._wait_caught_up()
        print("  rolling up the history ...", flush=True)
        self._rollup_once()
        threading.Thread(target=self._rollup_loop, name="rollup", daemon=True).start()
        # What a hand-run command needs to act on this platform (docs/settings.md).
        write_platform_env(self.state / "platform.env", {k: v for k, v in self.env.items()
                                                       if k.startswith("EP_") and k != "EP_PLATFORM_ENV"})
        mqtt_url = f"{'mqtts' if self.tls else 'mqtt'}://127.0.0.1:{self.mq.listen_port}"
        api_url = f"{'https' if self.tls else 'http'}://127.0.0.1:{self.api_port}"
        ca = (f"  TLS              CA certificate {self.tls.ca}\n"
              f"                   (trust it in clients and the browser; --no-tls runs in clear)\n") if self.tls else ""
        print(f"""
The platform is running (state and logs in {self.state}):
{ca}  MQTT broker      {mqtt_url}   (topics ep/v1/#, dead letters ep/v1/deadletter/#)
  InfluxDB         {self.ix.url}   (database "{INFLUX_DB}"; InfluxQL at /query)
  API              {api_url}/docs   (public disclosures at /disclosures)
                   administrator key: {admin_key}   (also in {self.state / 'admin-key.txt'})
  building page    http://127.0.0.1:{self.api_port}/live   (live page per building; log in with an API key)
  ingest metrics   http://127.0.0.1:{self.metrics_port}/metrics
  collector gateway tcp://127.0.0.1:{self.collectors_port}   (MOHURD protocol, profile "default"; docs/collectors.md)
  Grafana          on this platform's InfluxDB: .venv/bin/python -m deploy.grafana_env, then
                   docker compose -f deploy/grafana-joined.yml up -d (docs/dashboards.md)
Press Ctrl-C to stop.""", flush=True)

    def _collectors(self, start: dt.date) -> None:
        """The gateway, and three buildings whose simulated data collectors report to it over TCP
        (their own serials, 900+, so they do not collide with the MQTT-simulated fleet)."""
        self.env["EP_COLLECTOR_KEY_SECRET"] = self._secret("collector-key-secret.txt", lambda: subprocess.run(
            [PY, "-m", "collectors", "new-secret"], cwd=ROOT, env=self.env, check=True, capture_output=True,
            text=True).stdout.strip())
        plans = self.state / "collectors"
        if not (plans / "collectors.csv").exists():
            self._run("planning simulated data collectors", "simulators", "collectors", "plan", "--fleet",
                      str(self.state / "fleet.yaml"), "--out", str(plans), "--buildings", "3", "--serial-from", "900",
                      "--seed", str(self.seed))
        self._import_buildings("importing their buildings", plans / "fleet.yaml")
        self._run("importing the collectors", "registry", "import", "--collectors", str(plans / "collectors.csv"),
                  "--points", str(plans / "collector_points.csv"))
        self._spawn("collectors", "collectors", "serve", "--host", "127.0.0.1", "--port", str(self.collectors_port))
        self._spawn("collector-sim", "simulators", "collectors", "run", "--plans", str(plans), "--port",
                    str(self.collectors_port), "--start", start.isoformat(), "--live", "--seed", str(self.seed))

    def _import_buildings(self, what: str, fleet: Path) -> None:
        """Import a fleet file into the registry, then copy its buildings' floor area, PV capacity
        and quota into InfluxDB (measurement ``building``), which the dashboards divide by: every
        import is followed by the sync, so a changed fleet file changes the panels too."""
        self._run(what, "registry", "import", "--fleet", str(fleet))
        self._run("copying their attributes for the dashboards", "dashboards", "sync-buildings", "--fleet", str(fleet))

    def _secret(self, name: str, make) -> str:
        """A secret created once and kept (mode 0600) in the state folder for the next start."""
        path = self.state / name
        if path.exists():
            return path.read_text().strip()
        value = make()
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(value + "\n")
        return value

    def _admin_key(self) -> str:
        """A development administrator, created once; its key is kept (mode 0600) for the next start."""
        keyfile = self.state / "admin-key.txt"
        if keyfile.exists():
            return keyfile.read_text().strip()
        out = subprocess.run([PY, "-m", "api", "create-admin", "--name", "admin"], cwd=ROOT, env=self.env,
                             check=True, capture_output=True, text=True).stdout
        key = out.strip().splitlines()[-1]
        fd = os.open(keyfile, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(key + "\n")
        return key

    def _register_weather_stations(self, fleet: Path) -> None:
        """The simulator's stations (one per weather cell, ``--weather-stations``), each assigned to the
        buildings of its cell, so baselines and the weather-aware alerts have measured weather."""
        from registry.db import make_engine, session_scope
        from registry.importer import read_fleet_file
        from registry.weather import add_station, assign
        from simulators.weather import station_hosts

        buildings = read_fleet_file(fleet)[0].buildings
        hosts = station_hosts(buildings)
        cell = lambda b: (round(b.latitude_deg * 2) / 2, round(b.longitude_deg * 2) / 2)  # noqa: E731
        host_of = {cell(b): b for b in buildings if b.building_code in hosts}
        engine = make_engine(self.env["EP_DATABASE_URL"])
        with session_scope(engine) as s:
            for h in host_of.values():
                add_station(session=s, host_building_code=h.building_code, device_id=hosts[h.building_code],
                            latitude_deg=h.latitude_deg, longitude_deg=h.longitude_deg,
                            installed_on=dt.date(2000, 1, 1))
            for b in buildings:
                h = host_of[cell(b)]
                assign(session=s, host_building_code=h.building_code, device_id=hosts[h.building_code],
                       building_code=b.building_code)
        engine.dispose()

    def _wait_caught_up(self) -> None:
        """Until the simulator's newest reading in InfluxDB is recent (``CAUGHT_UP_S``)."""
        from storage.influx import InfluxError, InfluxHTTP

        print("  catching up the simulated history ...", flush=True)
        deadline = time.monotonic() + CATCH_UP_TIMEOUT_S
        with InfluxHTTP(self.ix.url, "energy") as db:
            while time.monotonic() < deadline:
                self._check_alive()
                try:
                    series = db.query("SELECT * FROM meter ORDER BY time DESC LIMIT 1")
                except InfluxError:  # ingest has not created the database yet
                    series = []
                if series and series[0]["values"]:
                    age_s = time.time() - int(series[0]["values"][0][0]) / 1000
                    if age_s <= CAUGHT_UP_S:
                        return
                time.sleep(2)
        print(f"  warning: the history has not caught up after {CATCH_UP_TIMEOUT_S:.0f} s; indicators may be "
              f"incomplete until it has (see {self.state / 'simulator.log'})", flush=True)

    def _rollup_once(self) -> None:
        # Indicators and dashboards read the rollups; the baselines are refitted after a rollup (weekly
        # in production, docs/baselines.md; daily here, where a small fleet's history grows by the hour).
        with open(self.state / "rollup.log", "ab") as log:
            subprocess.run([PY, "-m", "analytics", "rollup"], cwd=ROOT, env=self.env, stdout=log,
                           stderr=subprocess.STDOUT)
            # In the background: an OpenDSM fit costs ~12 s of CPU (docs/benchmarks/baselines.md), and
            # the rollups must not wait for the baselines; one refit at a time.
            idle = self._refit_proc is None or self._refit_proc.poll() is not None
            if idle and (time.monotonic() - self._refitted > 86_400 or not self._refitted):
                self._refit_proc = subprocess.Popen([PY, "-m", "analytics", "baselines"], cwd=ROOT, env=self.env,
                                                    stdout=log, stderr=subprocess.STDOUT)
                self._refitted = time.monotonic()

    def _rollup_loop(self) -> None:
        # Keep the rollups current while the platform runs (the first run was before the banner).
        while not self._stopping.wait(self.rollup_every_s):
            self._rollup_once()

    def _check_alive(self) -> None:
        for name, p in self.procs:
            if p.poll() is not None:
                raise RuntimeError(f"{name} exited with {p.returncode}; see {self.state / (name + '.log')}")

    def watch(self) -> None:
        while True:
            self._check_alive()
            time.sleep(1)

    def down(self) -> None:
        self._stopping.set()
        if self._refit_proc is not None and self._refit_proc.poll() is None:
            self._refit_proc.terminate()  # redone at the next start (each fit is its own point)
        for _, p in reversed(self.procs):
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
        for _, p in self.procs:
            try:
                p.wait(20)
            except subprocess.TimeoutExpired:
                p.kill()
        self.ix.stop()
        self.mq.stop()


def _interrupt(signum, frame) -> None:
    # SIGTERM stops the platform the same orderly way as Ctrl-C.
    raise KeyboardInterrupt


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--state", type=Path, default=ROOT / "var" / "platform")
    ap.add_argument("--fleet-size", type=int, default=20, help="buildings in the generated fleet")
    ap.add_argument("--seed", type=int, default=2025)
    ap.add_argument("--backfill-days", type=int, default=7, help="days of history caught up before going live")
    ap.add_argument("--rollup-every-s", type=float, default=300, help="how often the rollup job runs")
    ap.add_argument("--port", action="append", default=[], metavar="NAME=N",
                    help="another port for mqtt, influx, api, metrics or collectors (0: any free port)")
    ap.add_argument("--no-tls", action="store_true", help="MQTT and the API in clear (default: TLS, own CA)")
    city = ap.add_argument_group("a city's own certificates (instead of the platform's CA)")
    city.add_argument("--tls-cert-file", type=Path, help="server certificate (PEM) for the broker and the API")
    city.add_argument("--tls-key-file", type=Path, help="its key (PEM)")
    city.add_argument("--tls-ca-file", type=Path, help="the CA clients verify it with (PEM)")
    args = ap.parse_args()
    own = (args.tls_cert_file, args.tls_key_file, args.tls_ca_file)
    if any(own) and not all(own):
        ap.error("--tls-cert-file, --tls-key-file and --tls-ca-file go together")
    ports = {}
    for item in args.port:
        name, _, number = item.partition("=")
        if name not in ("mqtt", *DEFAULT_PORTS) or not number.isdigit():
            ap.error(f"--port {item}: expected NAME=N with NAME one of mqtt, {', '.join(DEFAULT_PORTS)}")
        ports[name] = int(number)
    tls = False if args.no_tls else CertFiles(*(f.resolve() for f in own)) if all(own) else True
    platform = Platform(args.state.resolve(), fleet_size=args.fleet_size, seed=args.seed,
                        backfill_days=args.backfill_days, rollup_every_s=args.rollup_every_s, tls=tls,
                        ports=ports)
    signal.signal(signal.SIGTERM, _interrupt)
    try:
        platform.up()
        platform.watch()
    except KeyboardInterrupt:
        print("\nstopping ...", flush=True)
    finally:
        platform.down()


if __name__ == "__main__":
    main()
