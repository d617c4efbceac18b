"""Prometheus counters of one ingest service (own registry, so several can run in one process)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, start_http_server


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.received = Counter("ep_ingest_received_messages", "MQTT messages received", registry=r)
        self.readings = Counter("ep_ingest_received_readings", "readings in valid device messages", registry=r)
        self.written = Counter("ep_ingest_written_lines", "line-protocol lines written (204)", registry=r)
        self.acked = Counter("ep_ingest_acked_messages", "MQTT messages acknowledged", registry=r)
        self.rejected = Counter("ep_ingest_rejected_messages", "messages (or device messages of a batch) "
                                "dead-lettered", ["reason"], registry=r)
        self.retries = Counter("ep_ingest_write_retries", "InfluxDB write attempts retried", registry=r)
        self.lookups = Counter("ep_ingest_register_lookups", "register series looked up in InfluxDB",
                               registry=r)
        self.evictions = Counter("ep_ingest_register_cache_evictions", "register series forgotten to keep the "
                                 "register cache within --register-cache-mib", registry=r)
        self.cache_bytes = Gauge("ep_ingest_register_cache_bytes", "the worker's register cache (upper estimate)",
                                 registry=r)
        self.queue_depth = Gauge("ep_ingest_queue_depth", "messages received and not yet acknowledged",
                                 registry=r)
        self.lag = Gauge("ep_ingest_lag_seconds", "now - newest timestamp written", registry=r)
        self.recycles = Counter("ep_ingest_worker_recycles", "worker processes replaced by a fresh one after a "
                                "backlog (memory above its idle size: docs/ingest.md)", registry=r)
        self.connected = Gauge("ep_ingest_mqtt_connected", "1 while connected to the broker", registry=r)

    def serve(self, port: int):
        """Start the scrape endpoint on 127.0.0.1:``port``; returns the server (``shutdown()`` to stop)."""
        server, _thread = start_http_server(port, addr="127.0.0.1", registry=self.registry)
        return server

    def rejected_total(self) -> float:
        return sum(s.value for m in self.rejected.collect() for s in m.samples if s.name.endswith("_total"))

    def snapshot(self) -> dict:
        """Counter values a worker process reports to the parent (see :meth:`apply_snapshot`)."""
        rejected = {}
        for metric in self.rejected.collect():
            for s in metric.samples:
                if s.name.endswith("_total"):
                    rejected[s.labels["reason"]] = s.value
        return {"readings": self.readings._value.get(), "written": self.written._value.get(),
                "retries": self.retries._value.get(), "lookups": self.lookups._value.get(),
                "evictions": self.evictions._value.get(), "rejected": rejected}

    def apply_snapshot(self, snap: dict, last: dict) -> None:
        """Advance this process's counters to a worker's ``snap``, given the one before (``last``)."""
        for name in ("readings", "written", "retries", "lookups", "evictions"):
            delta = snap.get(name, 0) - last.get(name, 0)
            if delta > 0:
                getattr(self, name).inc(delta)
        before = last.get("rejected", {})
        for reason, value in snap["rejected"].items():
            delta = value - before.get(reason, 0)
            if delta > 0:
                self.rejected.labels(reason).inc(delta)
