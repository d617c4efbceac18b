"""The worker reads stored neighbours only once what it sealed before is written (real InfluxDB)."""

from __future__ import annotations

import json
import multiprocessing
import threading
import time

import pytest

from ingest.messages import Inbound
from ingest.settings import IngestSettings
from ingest.worker import _STOP, Worker
from storage.influx import InfluxHTTP
from tests.ingest.helpers import STEP_MS, T0_MS, meter_msg, meter_topic

pytestmark = pytest.mark.servers


def test_a_late_reading_waits_for_its_neighbours_still_in_a_sealed_batch(influxd, fresh_db, tmp_path):
    """InfluxDB holds T0. A sealed batch, not yet written, holds T1, T3 and T4, more than the cache
    keeps (2 readings: T3, T4). A late T2 arrives: its neighbours T1 and T3 must come from InfluxDB
    after that batch is written. Read before, storage gave T0, and T2 counted T0..T1 a second time."""
    s = IngestSettings(mqtt_port=1, influx_url=influxd.url, influx_db=fresh_db, metrics_port=0, client_id="t",
                       delivery_state_dir=tmp_path, register_cache_points=2)
    _from_worker, to_service = multiprocessing.Pipe(duplex=False)
    worker = Worker(s, None, to_service)
    builder = worker._builder
    register_kwh = {0: 100.0, 1: 101.0, 2: 102.0, 3: 103.0, 4: 104.0}

    def sealed(slots: list[int]):
        msg = meter_msg("E-1", [(T0_MS + k * STEP_MS, {"register": register_kwh[k]}) for k in slots])
        builder.add(Inbound(0, slots[0], 1, meter_topic("E-1"), json.dumps(msg).encode(), T0_MS))
        return builder.seal()

    worker._writer.write(sealed([0]).lines)  # stored before: T0
    worker._batches.put(sealed([1, 3, 4]))  # sealed, waiting for a writer

    def writer_later() -> None:
        time.sleep(0.5)
        worker._write_loop()  # the worker's own writer thread, started late: the batch is written now

    writer = threading.Thread(target=writer_later, daemon=True)
    writer.start()
    late = sealed([2])  # its lookup waits for the batch before it
    worker._batches.put(late)
    worker._batches.put(_STOP)
    writer.join(60)
    assert not writer.is_alive()

    rows = InfluxHTTP(influxd.url, fresh_db).query("SELECT consumption_kwh, interval_s FROM meter")[0]["values"]
    got = {(ts - T0_MS) // STEP_MS: (c, i) for ts, c, i in rows}
    assert got[2] == (1.0, 900)  # 102 - 101 over 15 min, from T1 (not 102 - 100 over 30 min from T0)
    assert got[3] == (1.0, 900)  # 103 - 102: rewritten now that T2 is known
    assert sum(c for c, _i in got.values() if c is not None) == 4.0  # 104 - 100: nothing counted twice
