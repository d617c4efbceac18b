"""Evaluate the rules, drain the outbox and copy the alert events to InfluxDB for Grafana
(api/alerts/export.py) on a schedule, in daemon threads of the API process (or alone:
``python -m api alerts``)."""

from __future__ import annotations

import dataclasses
import logging
import threading

from sqlalchemy.orm import Session, sessionmaker

from api.alerts import engine, export, outbox
from api.alerts.channels import default_senders
from api.db import utcnow
from api.settings import Settings
from storage.influx import InfluxHTTP

log = logging.getLogger(__name__)


class AlertScheduler:
    """Three periodic jobs; an exception in one round is logged and the next round runs anyway."""

    def __init__(self, *, settings: Settings, sessions: sessionmaker[Session], influx: InfluxHTTP,
                 ctx: engine.Context, senders: dict | None = None) -> None:
        self.settings, self.sessions, self.influx, self.ctx = settings, sessions, influx, ctx
        self.senders = senders or default_senders(settings)
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []

    def evaluate_once(self) -> engine.EvaluationReport:
        with self.sessions() as s:
            return engine.evaluate(s, influx=self.influx, ctx=self.ctx, now=utcnow())

    def drain_once(self) -> outbox.DrainReport:
        with self.sessions() as s:
            return outbox.drain(s, senders=self.senders, now=utcnow(), base_s=self.settings.outbox_backoff_base_s,
                                cap_s=self.settings.outbox_backoff_cap_s)

    def export_once(self) -> int:
        """Alert events not yet in InfluxDB copied there; returns how many were written."""
        with self.sessions() as s:
            return export.export_events(s, self.influx)

    def _loop(self, job, every_s: float) -> None:
        while not self._stop.is_set():
            try:
                job()
            except Exception:  # noqa: BLE001 - a failing round must not end the schedule
                log.exception("alert job %s failed; retrying in %.0f s", job.__name__, every_s)
            self._stop.wait(every_s)

    def start(self) -> AlertScheduler:
        # The silence rules of the schedule count from its start (engine.silence_judged); a single
        # evaluation (--once, POST /alerts/evaluate) judges them at once.
        if self.ctx.watching_since is None:
            self.ctx = dataclasses.replace(self.ctx, watching_since=utcnow())
        # The copy for Grafana runs as often as the outbox, so an acknowledgement shows as soon.
        for job, every in ((self.evaluate_once, self.settings.alert_interval_s),
                           (self.drain_once, self.settings.outbox_interval_s),
                           (self.export_once, self.settings.outbox_interval_s)):
            t = threading.Thread(target=self._loop, args=(job, every), daemon=True, name=f"alerts-{job.__name__}")
            t.start()
            self._threads.append(t)
        return self

    def stop(self, timeout_s: float = 10) -> None:
        self._stop.set()
        for t in self._threads:
            t.join(timeout_s)
