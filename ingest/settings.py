"""Settings of the ingest service: command line > environment (``EP_...``) > defaults."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from pydantic import AliasChoices, Field

from contract.broker import MqttConnection
from storage.settings import InfluxSettings, option_help


def _env(name: str, *more: str) -> AliasChoices:
    # Field name first so that Settings(client_id=...) works in-process too.
    return AliasChoices(name, *more)


class IngestSettings(InfluxSettings, MqttConnection):
    """One settings class for the service; every option has an ``EP_`` environment variable.
    The InfluxDB connection (``influx_*``) is every service's (storage/settings.py); the broker's
    address, credentials and TLS files are :class:`contract.broker.MqttConnection`'s."""

    #: MQTT client id of this worker; its persistent session is kept under it.
    client_id: str = Field("ingest-1", min_length=1, validation_alias=_env("client_id", "EP_INGEST_CLIENT_ID"))
    #: Empty = a plain subscription (one worker only).
    share_group: str = Field("ingest", validation_alias=_env("share_group", "EP_INGEST_SHARE_GROUP"))
    #: MQTT v5 receive maximum: unacknowledged messages the broker may have in flight to us. [1]
    receive_maximum: int = Field(20_000, ge=1, le=65_535)
    #: How long the broker keeps our session (and queues for it) while we are away. [s]
    session_expiry_s: int = Field(7 * 24 * 3600, ge=0)
    #: MQTT keep-alive interval. [s]
    keepalive_s: int = Field(30, ge=5)

    #: A batch is written when it holds this many lines... [1]
    batch_size_lines: int = Field(5000, ge=1, le=1_000_000)
    #: ... or when it is this old. [ms]
    flush_interval_ms: int = Field(1000, ge=10)
    #: A batch at least this old is sealed early when no message waits and the writer is idle:
    #: waiting for the full flush interval would add latency, not throughput. Younger batches
    #: keep filling, or every message would become its own write. [ms]
    idle_seal_ms: int = Field(100, ge=0)
    #: Retry backoff of failed writes: first delay, cap (retried without end: nothing is dropped). [ms]
    retry_initial_ms: int = Field(200, ge=1)
    #: Cap of the retry backoff. [ms]
    retry_max_ms: int = Field(10_000, ge=1)
    #: How long a SIGTERM waits for pending batches before leaving them to the broker. [s]
    close_timeout_s: float = Field(20.0, ge=0)

    #: Port of the Prometheus metrics (0 = none).
    metrics_port: int = Field(9108, ge=0, le=65535)
    #: How often ingest writes its own ``ingest_stats`` point. [s]
    stats_interval_s: float = Field(10.0, gt=0)
    #: Fleet file (registry/fleet.py): installation and replacement dates, registry-aware checks, rated powers.
    fleet_file: Path | None = None
    #: A reading further ahead of the ingest clock than this is ``future_timestamp``. [s]
    future_tolerance_s: float = Field(300.0, ge=0)
    #: Readings before this instant are ``timestamp_before_device`` (default 2010-01-01). [ms]
    ts_floor_ms: int = Field(1_262_304_000_000, ge=0)
    #: Register readings kept per device for interval derivation. [1]
    register_cache_points: int = Field(48, ge=2)
    #: Memory the register cache may use (~5.3 kB per series at 48 readings, ingest/intervals.py);
    #: beyond it the least recently used series are forgotten and looked up in InfluxDB when they
    #: next report. Not part of ``memory_budget_mib``. [MiB]
    register_cache_mib: int = Field(512, ge=1)
    #: Python log level of the JSON logs.
    log_level: str = "INFO"

    #: With a fleet file: what to do with a device it does not know, ``reject`` (dead-letter
    #: `unknown_device`) or ``accept`` (store, with an `unknown_device` data-quality finding).
    unknown_devices: str = Field("reject", pattern="^(reject|accept)$")
    #: Overrides of the plausible ranges, JSON: ``{"power_kw": 50000, "rate_kwh_per_h": 20000}``
    #: (contract/plausibility.py). A value outside is dead-lettered `value_out_of_range`.
    plausible_limits: dict[str, float] = Field(default_factory=dict)
    #: Silence longer than this is a ``gap`` finding. [s]
    gap_s: float = Field(3600.0, gt=0)
    #: A register that does not move for this long while its device reports power through it is a
    #: ``stuck_register`` finding. [s]
    stuck_s: float = Field(6 * 3600.0, gt=0)
    #: A device clock off by more than this is a ``clock_skew`` finding. [s]
    clock_skew_s: float = Field(60.0, ge=0)
    #: Where the delivery counts of redelivered messages are kept (survives a worker crash);
    #: default: the system temporary directory, one subdirectory per client id.
    delivery_state_dir: Path | None = None
    #: Memory budget of the worker's message data (open and sealed batches) and of the service's
    #: queue to the worker. [MiB]
    memory_budget_mib: int = Field(512, ge=16)
    #: Once idle after a backlog, the worker process is replaced by a fresh one when its RSS exceeds
    #: its size at start by more than this: what malloc_trim cannot return (fragmented CPython
    #: arenas) comes back only with the process. 0 = never. [B]
    worker_recycle_rss_bytes: int = Field(32 * 1024 * 1024, ge=0)
    #: Shortest time between two such replacements: each one empties the register cache, so a limit
    #: below the cache's live size must not cost a cache refill at every idle moment. [s]
    worker_recycle_min_interval_s: float = Field(300.0, ge=0)

    @property
    def subscription(self) -> str:
        from contract.topics import INGEST_FILTER, shared

        return shared(INGEST_FILTER, self.share_group) if self.share_group else INGEST_FILTER


def parse_args(argv: list[str] | None = None) -> IngestSettings:
    """Build settings from the command line; options not given fall back to ``EP_*`` and defaults."""
    ap = argparse.ArgumentParser(prog="python -m ingest", description="MQTT -> InfluxDB ingest service")
    for name, info in IngestSettings.model_fields.items():
        flag = "--" + name.replace("_", "-")
        typ = info.annotation
        text = option_help(IngestSettings, name)
        if typ is bool:  # a switch: --mqtt-tls
            ap.add_argument(flag, dest=name, action="store_const", const=True, default=None, help=text)
            continue
        kind = int if typ is int else float if typ is float else json.loads if typ == dict[str, float] else str
        ap.add_argument(flag, dest=name, type=kind, default=None, help=text)
    args = ap.parse_args(argv)
    given = {k: v for k, v in vars(args).items() if v is not None}
    return IngestSettings(**given)
