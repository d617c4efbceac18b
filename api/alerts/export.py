"""Copy the API's alert state changes into InfluxDB (measurement ``alert_event``) for Grafana.

The API's database keeps every state change of every alert (``api_alert_event``: opened,
acknowledged, resolved); Grafana can only query InfluxDB. This copies each event as one point,
tags ``alert_id``, ``building_code``, ``rule``, fields ``event_id``, ``event``, ``state`` (after
the event), ``actor``, ``message``, at the event's time (docs/glossary.md). A panel then lists the
alerts whose latest ``state`` is not ``resolved`` (dashboards/alerts.py).

Nothing is lost: the database is the record and the copy resumes after the highest ``event_id``
already in InfluxDB, less ``OVERLAP_EVENTS`` (a database other than SQLite may commit a lower id
after a higher one; SQLite has one writer at a time). Copying an event again writes the same
point (same series, same time), so the overlap and a retry after a failed write change nothing.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from api.db import Alert, AlertEvent, as_utc
from contract.vocabulary import ALERT_EVENT_MEASUREMENT
from storage.influx import InfluxHTTP, quote_ident
from storage.lineproto import encode_line

#: The alert's state after each event (api.db.Alert.state).
STATE_AFTER = {"opened": "open", "acknowledged": "acknowledged", "resolved": "resolved"}
#: Events copied again below the highest id InfluxDB holds; see the module docstring.
OVERLAP_EVENTS = 1000


def exported_up_to(influx: InfluxHTTP) -> int:
    """Highest ``event_id`` in InfluxDB; 0 when none."""
    series = influx.query(f'SELECT max("event_id") FROM {quote_ident(ALERT_EVENT_MEASUREMENT)}')  # noqa: S608 - quoted
    return int(series[0]["values"][0][1]) if series else 0


def event_line(e: AlertEvent, a: Alert) -> str:
    at_ms = int(as_utc(e.at).timestamp() * 1000)
    line = encode_line(ALERT_EVENT_MEASUREMENT,
                       {"alert_id": str(a.id), "building_code": a.building_code, "rule": a.rule},
                       {"event_id": int(e.id), "event": e.event, "state": STATE_AFTER[e.event], "actor": e.actor,
                        "message": a.message}, at_ms)
    assert line is not None  # event_id is always there
    return line


def export_events(session: Session, influx: InfluxHTTP, *, batch: int = 5000) -> int:
    """Copy the events after the highest one InfluxDB holds; returns how many were written.
    Raises :class:`storage.influx.InfluxError` when InfluxDB refuses (the next round retries)."""
    after = max(0, exported_up_to(influx) - OVERLAP_EVENTS)
    written = 0
    while True:
        rows = session.execute(select(AlertEvent, Alert).join(Alert, Alert.id == AlertEvent.alert_id)
                               .where(AlertEvent.id > after).order_by(AlertEvent.id).limit(batch)).all()
        if not rows:
            return written
        influx.write_lines([event_line(e, a) for e, a in rows])
        written += len(rows)
        after = rows[-1][0].id
