"""The write path against the real InfluxDB: refused lines isolated, settings, metrics, stats."""

from __future__ import annotations

import threading
import uuid

import httpx
import pytest

from deploy.localservers import free_port
from ingest.metrics import Metrics
from ingest.service import IngestService
from ingest.settings import IngestSettings, parse_args
from ingest.writer import Writer
from storage.influx import InfluxError, InfluxHTTP, quote_ident, quote_literal
from storage.retry import capped_backoff
from tests.ingest.helpers import T0_MS, Collector, Publisher, gateway, meter_msg, wait_until


def test_backoff_is_capped_exponential_with_jitter():
    assert capped_backoff(0, 200, 10_000, rng=lambda: 1.0) == 200  # 200 x 2^0, top of the jitter range
    assert capped_backoff(3, 200, 10_000, rng=lambda: 0.0) == 800  # 200 x 2^3 = 1600, bottom half: 800
    assert capped_backoff(10, 200, 10_000, rng=lambda: 1.0) == 10_000  # 200 x 1024 capped at 10 000


def test_quoting_of_influxql_identifiers_and_literals():
    assert quote_ident('a"b\\c') == '"a\\"b\\\\c"'
    assert quote_literal("o'clock\\") == "'o\\'clock\\\\'"
    with pytest.raises(ValueError, match="newline"):
        quote_literal("a\nb")


def test_settings_from_command_line_and_environment(monkeypatch):
    monkeypatch.setenv("EP_INGEST_CLIENT_ID", "from-env")
    monkeypatch.setenv("EP_MQTT_PORT", "1999")
    monkeypatch.setenv("EP_INGEST_SHARE_GROUP", "")
    s = parse_args(["--batch-size-lines", "100", "--influx-db", "x"])
    assert (s.client_id, s.mqtt_port, s.batch_size_lines, s.influx_db, s.subscription) == \
        ("from-env", 1999, 100, "x", "ep/v1/+/+/+/+")  # empty share group: plain subscription
    assert parse_args(["--client-id", "cli"]).client_id == "cli"  # the command line wins
    with pytest.raises(ValueError, match="batch_size_lines"):
        parse_args(["--batch-size-lines", "0"])


def test_hardening_settings_from_command_line_and_environment(monkeypatch, tmp_path):
    from contract.plausibility import Limits

    s = parse_args(["--plausible-limits", '{"power_kw": 5000, "rate_kwh_per_h": 200}', "--unknown-devices",
                    "accept", "--delivery-state-dir", str(tmp_path)])
    assert (s.unknown_devices, s.delivery_state_dir) == ("accept", tmp_path)
    limits = Limits(s.plausible_limits)
    assert (limits.max_abs("power_kw"), limits.max_rate_per_h("register_kwh")) == (5000, 200)
    assert limits.max_abs("register_kwh") == 1e10  # default of kWh fields
    monkeypatch.setenv("EP_PLAUSIBLE_LIMITS", '{"register_m3": 1e6}')
    assert parse_args([]).plausible_limits == {"register_m3": 1e6}
    with pytest.raises(ValueError, match="unknown_devices"):
        parse_args(["--unknown-devices", "maybe"])
    with pytest.raises(ValueError, match="positive finite"):
        Limits({"power_kw": -1})


@pytest.mark.servers
def test_writer_isolates_lines_refused_by_influxdb(influxd, fresh_db):
    db = InfluxHTTP(influxd.url, fresh_db)
    db.write_lines([f"m,d=a x=\"text\" {T0_MS}"])  # x is a string field in this shard from now on
    lines = [f"m,d=b x={i}.5 {T0_MS + i}" for i in range(10)] + [f"m,d=c y=1 {T0_MS}"]
    lines[6] = f"m,d=c x=\"also text\" {T0_MS + 6}"  # the only line of the right type
    refused = Writer(db, Metrics(), initial_ms=1, max_ms=1, abort=threading.Event()).write(lines)
    assert [i for i, _ in refused] == [0, 1, 2, 3, 4, 5, 7, 8, 9]  # the float x lines, one by one
    assert all("field type conflict" in err for _, err in refused)
    rows = db.query("SELECT x, y FROM m WHERE d = 'c'")
    assert rows[0]["values"] == [[T0_MS, None, 1.0], [T0_MS + 6, "also text", None]]


@pytest.mark.servers
def test_refused_line_is_dead_lettered_and_the_rest_stored(mosquitto, influxd, fresh_db):
    db = InfluxHTTP(influxd.url, fresh_db)
    # A field stored earlier with another type (e.g. by a faulty tool) makes one reading unstorable.
    db.write_lines([f'meter,building_code=510402A001,device_id=E-X power_kw="broken" {T0_MS - 1}'])
    port = free_port()
    s = IngestSettings(mqtt_port=mosquitto.port, influx_url=influxd.url, influx_db=fresh_db, metrics_port=port,
                       client_id=f"wp-{uuid.uuid4().hex[:6]}", share_group=f"g{uuid.uuid4().hex[:6]}",
                       flush_interval_ms=100, stats_interval_s=0.3)
    dead = Collector(mosquitto.port, "ep/v1/deadletter/#")
    svc = IngestService(s).start()
    try:
        wait_until(lambda: svc.subscribed, 10, "subscribed")
        pub = Publisher(mosquitto.port)
        pub.publish(*gateway("GW1", [meter_msg("E-X", [(T0_MS, {"power": 1.0})]),
                                     meter_msg("E-Y", [(T0_MS, {"register": 5.0})])]))
        pub.close()
        letters = dead.wait_for(1, 30)
        wait_until(lambda: svc.acked == 1, 10, "acked")
        scrape = httpx.get(f"http://127.0.0.1:{port}/metrics").text
        stats = wait_until(lambda: db.query("SELECT * FROM ingest_stats WHERE client_id = "
                                            f"'{s.client_id}' AND rejected = 1"), 10, "ingest_stats point")
    finally:
        svc.stop()
        dead.close()
    assert letters[0][1]["reason"] == "write_rejected" and "field type conflict" in letters[0][1]["detail"]
    assert db.query("SELECT register_kwh FROM meter WHERE device_id = 'E-Y'")[0]["values"] == [[T0_MS, 5.0]]
    assert 'ep_ingest_rejected_messages_total{reason="write_rejected"} 1.0' in scrape
    assert "ep_ingest_received_messages_total 1.0" in scrape
    cols = stats[0]["columns"]
    last = dict(zip(cols, stats[0]["values"][-1], strict=True))
    assert last["received"] == 1 and last["rejected"] == 1 and last["written"] >= 2


@pytest.mark.servers
def test_basic_auth_is_sent(state_root):
    from deploy.localservers import Influxd

    # The server creates its admin through the HTTP API (tests/deploy/test_localservers.py).
    server = Influxd(state_root / f"influx-auth-{uuid.uuid4().hex[:6]}", auth_enabled=True,
                     admin_password="s3cret").start()
    try:
        good = InfluxHTTP(server.url, "authdb", username="admin", password="s3cret")
        good.create_database()
        good.write_lines([f"m x=1 {T0_MS}"])
        assert good.query("SELECT x FROM m")[0]["values"] == [[T0_MS, 1.0]]
        with pytest.raises(InfluxError) as e:
            InfluxHTTP(server.url, "authdb", username="admin", password="wrong").write_lines([f"m x=2 {T0_MS}"])
        assert e.value.status == 401 and not e.value.retryable
    finally:
        server.stop()
