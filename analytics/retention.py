"""The retention policy the rollups live in (docs/analytics.md, "Retention policy"): created when
missing, never altered, an expiring one refused."""

from __future__ import annotations

import dataclasses
import logging
import re

from storage.influx import InfluxHTTP, quote_ident

# The default policy name's home is the shared settings (storage/settings.py): one default for all.
from storage.settings import ROLLUP_RP

log = logging.getLogger(__name__)

#: Shard group duration of a created rollup policy: a year of daily points in one or two shards.
ROLLUP_SHARD_DURATION = "52w"


def rollup_client(db: InfluxHTTP, rollup_rp: str | None) -> InfluxHTTP:
    """A client like ``db`` whose writes and unqualified reads use ``rollup_rp``."""
    return db if rollup_rp is None else dataclasses.replace(db, retention_policy=rollup_rp)


def _duration_h(text: str) -> float:
    """``52w`` / ``365d`` / ``8760h`` or InfluxDB's ``8736h0m0s`` in hours."""
    units = {"w": 168.0, "d": 24.0, "h": 1.0, "m": 1 / 60, "s": 1 / 3600}
    return sum(float(n) * units[u] for n, u in re.findall(r"([0-9.]+)([wdhms])", text))


def ensure_rollup_rp(db: InfluxHTTP, rollup_rp: str = ROLLUP_RP, shard_duration: str = ROLLUP_SHARD_DURATION
                     ) -> bool:
    """Create the rollup retention policy when it is missing (kept forever, one shard group per
    ``shard_duration``); an existing policy is left as it is.

    Why: with the default 7-day shard groups a year of daily points spans 53 shards and an annual
    ``GROUP BY building_code`` costs one iterator per series and shard (docs/benchmarks/analytics.md
    measures the difference). An existing policy is never altered (its settings are the operator's
    choice); a different shard duration is only logged, a finite retention is refused.

    Parameters
    ----------
    db : InfluxHTTP
        Client of the database (its own retention policy does not matter).
    rollup_rp : str
        Name of the policy.
    shard_duration : str
        Shard group duration of a created policy, like ``52w``, ``365d`` or ``8760h``. [w, d or h]

    Returns
    -------
    bool
        True when this call created the policy.

    Raises
    ------
    ValueError
        For a malformed ``shard_duration``, an empty name, or an existing policy that expires data.
    """
    if not re.fullmatch(r"[0-9]+[hdw]", shard_duration):
        raise ValueError(f"shard_duration {shard_duration!r} is not like 52w, 365d or 8760h")
    if not rollup_rp:
        raise ValueError("rollup_rp (EP_ROLLUP_RP) cannot be empty")
    for s in db.query(f"SHOW RETENTION POLICIES ON {quote_ident(db.database)}"):
        for row in s["values"]:
            rec = dict(zip(s["columns"], row, strict=True))
            if rec["name"] == rollup_rp:
                if _duration_h(str(rec["duration"])) != 0:
                    # Expiring rollups would be lost, and the checkpoint (stamped at time 0) refused.
                    raise ValueError(f"retention policy {rollup_rp!r} keeps data for {rec['duration']}; the "
                                     "rollups need one that keeps it forever (DURATION INF)")
                if abs(_duration_h(str(rec["shardGroupDuration"])) - _duration_h(shard_duration)) > 1e-6:
                    log.info("retention policy %r exists with shard groups of %s, not %s: left as it is",
                                rollup_rp, rec["shardGroupDuration"], shard_duration)
                return False
    db.query_raw(f"CREATE RETENTION POLICY {quote_ident(rollup_rp)} ON {quote_ident(db.database)} "
                 f"DURATION INF REPLICATION 1 SHARD DURATION {shard_duration}", epoch=None, post=True)
    log.info("created retention policy %r on %r (shard duration %s)", rollup_rp, db.database, shard_duration)
    return True
