"""The storage contract: InfluxDB's `/write` (line protocol) and `/query` (InfluxQL).

A library below the services: ingest writes through it, analytics, the API, the alert engine,
the disclosure and the dashboards sync read and write through it. It knows nothing of MQTT or of
the platform's vocabulary; InfluxDB 1.x, 2.x (v1 compatibility) and 3.x all speak what it uses.
"""
