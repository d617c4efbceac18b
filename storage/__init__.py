"""The library below the services (it imports nothing else of the project).

- The storage contract: InfluxDB's `/write` (line protocol, ``lineproto``) and `/query`
  (InfluxQL, ``influx``), which InfluxDB 1.x, 2.x (v1 compatibility) and 3.x all speak; ingest
  writes through it, analytics, the API, the alert engine, the disclosure and the dashboards sync
  read and write through it.
- ``settings``: the one InfluxDB connection settings class every service builds on.
- ``schema`` and ``migrations/``: the one Alembic history of the SQL database's tables.
- ``retry``, ``utc``, ``clip``, ``logs``: backoff and the retry loop, UTC times, error text of a loggable
  length, structured (JSON) logs and the once-per-cause gate every service logs through.

It knows nothing of MQTT or of the platform's vocabulary.
"""
