"""Ingest service: MQTT -> validation -> unit normalization -> line protocol -> InfluxDB (docs/ingest.md)."""
