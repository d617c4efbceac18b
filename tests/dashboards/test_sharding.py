"""Sharding InfluxDB by district (docs/scaling.md), exercised on the read side: the small city
split over two real InfluxDB servers by the building code's division prefix gives, shard by
shard, exactly the rows one server gives for the whole city. No dashboard query joins districts,
so a Grafana data source per shard (or a mixed data source) shows the same numbers."""

from __future__ import annotations

import httpx
import pytest

from dashboards import attributes
from dashboards import common as c
from storage.influx import InfluxHTTP
from tests.dashboards import fleet_data as fd
from tests.dashboards.grafana_emulation import run_panel
from tests.dashboards.test_panels_run import ALL, panel

pytestmark = pytest.mark.servers

SHARDS = {"510402": "shard_a", "510403": "shard_b"}


def _fill(url: str, db: str, district: str, t_end: int) -> None:
    httpx.post(f"{url}/query", data={"q": f'CREATE DATABASE "{db}"'}).raise_for_status()
    lines = [ln for ln in fd.lines(t_end) if f"building_code={district}" in ln]
    fd.write(url, db, lines)
    fd.rollup_daily(url, db, t_end - fd.INTERVALS * fd.STEP_MS, t_end)
    fleet = fd.fleet()
    mine = fleet.model_copy(update={"buildings": [b for b in fleet.buildings if b.building_code.startswith(district)]})
    attributes.sync(mine, InfluxHTTP(url, db), ts_ms=t_end)


@pytest.mark.parametrize("title", ["Audit list", "Top 10 by energy (tce)", "Top 10 by energy use intensity"])
def test_district_shards_add_up_to_the_single_node_city(city, generated, own_influxd, influxd, title):
    p = panel(generated[c.OVERVIEW_UID], title)
    start = fd.day_floor_ms(city.t0_ms)
    whole = run_panel(p, ALL, from_ms=start, to_ms=city.t_end_ms, url=city.url, db=city.db)
    servers = {"510402": own_influxd.url, "510403": influxd.url}
    sharded = []
    try:
        for district, db in SHARDS.items():
            db = f"{db}_{city.db}"
            _fill(servers[district], db, district, city.t_end_ms)
            part = run_panel(p, ALL, from_ms=start, to_ms=city.t_end_ms, url=servers[district], db=db)
            for ref in part.series:
                sharded += [(ref, sorted(r.items())) for r in part.rows(ref)]
    finally:
        httpx.post(f"{influxd.url}/query", data={"q": f'DROP DATABASE "{SHARDS["510403"]}_{city.db}"'})
    single = [(ref, sorted(r.items())) for ref in whole.series for r in whole.rows(ref)]
    # top() keeps the 10 largest per server; with fewer than 10 buildings per shard nothing is cut.
    assert sorted(sharded) == sorted(single)
    assert single  # the comparison is over real rows
