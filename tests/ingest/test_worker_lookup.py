"""The worker reads stored neighbours only once what it sealed before is written."""

from __future__ import annotations

import threading
import time

from ingest.intervals import LookupResult, RegisterReading
from ingest.settings import IngestSettings
from ingest.worker import Worker
from tests.ingest.helpers import STEP_MS, T0_MS

KEY = ("meter", "510402A001", "E-1", "register_kwh")


def test_a_storage_lookup_waits_for_the_batches_sealed_before_it(tmp_path):
    """A reading older than the cache holds is looked up in InfluxDB, while the batch that holds its
    neighbour (sealed, a collector's day, say) still waits for the writer: the lookup must see it."""
    s = IngestSettings(mqtt_port=1, influx_url="http://127.0.0.1:9", influx_db="t", metrics_port=0, client_id="t",
                       delivery_state_dir=tmp_path)
    worker = Worker(s, None, None)
    stored: list[tuple[int, float]] = []  # what InfluxDB holds
    worker._lookup = lambda missing: {k: LookupResult(stored[-1] if stored else None, [], None) for k in missing}
    worker._batches.put("a sealed batch holding the reading at T0 (100 kWh)")

    def writer() -> None:
        time.sleep(0.3)
        worker._batches.get()
        stored.append((T0_MS, 100.0))  # written
        worker._batches.task_done()

    threading.Thread(target=writer, daemon=True).start()
    updates = worker.tracker.apply([RegisterReading(KEY, "meter,device_id=E-1", "consumption_kwh", 1.0,
                                                    T0_MS + STEP_MS, 101.5)])
    assert [u.fields for u in updates] == [{"consumption_kwh": 1.5, "interval_s": 900.0}]  # 101.5 - 100, 15 min
