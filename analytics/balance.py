"""A building's energy balance, computed once (pure; the rollup job writes it as ``building_1d``
and ``building_1mo``, and every reader -- analytics, the API, the alert engine, the Grafana panels,
the disclosure -- reads those points instead of re-deriving it).

Electricity accounting (docs/analytics.md, "Energy balance"): the ``main`` meter measures the
building's load downstream of its PV (as the simulator and a sub-item metering system see it),
EV piles are separate loads. Grid import is the ``pv_meter``'s ``from_grid_kwh`` where a
grid-point meter exists; otherwise load + EV - PV (a PV system without grid meter counts as fully
self-consumed, up to the load). Each day's balance is derived from that day's device sums, and
longer periods are sums of days, so every field is additive.
"""

from __future__ import annotations

from collections import defaultdict

import numpy as np
import pandas as pd

from analytics.compare import SUB_ITEMS
from analytics.energy import FUEL_COLUMNS

#: Nominal interval of a reading (MOHURD 2008: 15 minutes); a reading stored without
#: ``interval_s`` (a device that sends its own interval values) counts as one such interval. [s]
NOMINAL_INTERVAL_S = 900.0
#: An unmetered remainder (main meter minus its sub-meters) above this share of the main meter is
#: a data-quality finding (an unmetered circuit or a missing sub-meter); a negative one always is.
#: Platform choice: MOHURD 2008 sub-item metering is meant to cover the main loads. [-]
UNMETERED_MAX_SHARE = 0.2

#: Fields of ``building_1d`` and ``building_1mo``; all additive over days and buildings.
BALANCE_FIELDS: tuple[str, ...] = (
    "load_kwh", "main_meter_kwh", *(f"{s}_kwh" for s in SUB_ITEMS), "unmetered_kwh",
    "electricity_from_grid_kwh", "electricity_kwh",
    "pv_generation_kwh", "pv_self_consumed_kwh", "pv_to_grid_kwh",
    "ev_energy_kwh", "ev_session_energy_kwh", "ev_pv_energy_kwh", "ev_sessions",
    *FUEL_COLUMNS.values(), "water_m3",
    "readings", "covered_s", "metered_days",
)
#: Integer fields (counts).
COUNT_FIELDS = frozenset({"readings", "ev_sessions", "metered_days"})


def _covered(r: dict) -> float:
    """Seconds covered by a device's readings; rollups written before ``covered_s`` existed count
    each reading as one nominal interval."""
    v = r.get("covered_s")
    return float(v) if v is not None else float(r.get("readings") or 0) * NOMINAL_INTERVAL_S


def device_sums(rows: dict[str, list[dict]]) -> dict[str, dict[str, float]]:
    """Per-device rollup sums -> per-building raw sums (before the balance is derived).

    ``rows[measurement]`` are dicts with the stored field names of the rollups
    (``consumption_kwh``, ``generation_kwh``, ``readings``, ``covered_s``, ...) and the tags.
    """
    acc: dict[str, dict[str, float]] = defaultdict(lambda: defaultdict(float))
    for r in rows.get("meter", []):
        b, carrier, sub = acc[r["building_code"]], r.get("carrier") or "", r.get("sub_item") or ""
        value = next((r[k] for k in ("consumption_kwh", "consumption_m3", "consumption_kg")
                      if r.get(k) is not None), 0.0)
        b["readings"] += r.get("readings") or 0
        b["covered_s"] += _covered(r)
        if carrier == "electricity":
            b["main_meter_kwh" if sub in ("main", "") else f"{sub}_kwh"] += value
        elif carrier == "water":
            b["water_m3"] += value
        elif carrier in FUEL_COLUMNS:
            b[FUEL_COLUMNS[carrier]] += value
    for r in rows.get("pv", []):
        b, kind = acc[r["building_code"]], r.get("device_kind")
        b["readings"] += r.get("readings") or 0
        b["covered_s"] += _covered(r)
        b[f"{kind}_generation_kwh"] += r.get("generation_kwh") or 0.0
        if kind == "pv_meter":
            b["pv_grid_meters"] = 1.0
            b["pv_meter_to_grid_kwh"] += r.get("to_grid_kwh") or 0.0
            b["pv_meter_from_grid_kwh"] += r.get("from_grid_kwh") or 0.0
    for r in rows.get("ev_pile", []):
        b = acc[r["building_code"]]
        b["ev_energy_kwh"] += r.get("consumption_kwh") or 0.0
        b["readings"] += r.get("readings") or 0
        b["covered_s"] += _covered(r)
    for r in rows.get("ev_session", []):
        b = acc[r["building_code"]]
        b["ev_session_energy_kwh"] += r.get("energy_kwh") or 0.0
        b["ev_pv_energy_kwh"] += r.get("pv_energy_kwh") or 0.0
        b["ev_sessions"] += r.get("readings") or 0
    return acc


def derive(raw: dict[str, float], has_main_meter: bool = False) -> dict[str, float]:
    """One building's balance of one day from its raw sums (:func:`device_sums`).
    ``has_main_meter``: the building's ``main`` meter has reported on this day or before.

    Returns every :data:`BALANCE_FIELDS` entry:

    - ``load_kwh``: the ``main`` meter, or the sum of the sub-items for a building that has none.
      A main meter that is silent on a day (offline) still counts, as 0: its register keeps
      counting, so the reading back carries the missed energy, and counting the sub-items on the
      silent days would count that energy twice;
    - ``unmetered_kwh``: main meter minus its sub-meters where both exist (else 0), negative
      when the sub-meters read more (also on the days a main meter is silent: the reading back
      evens it out over the period);
    - ``pv_generation_kwh``: inverters, or the grid meter's generation if no inverter reports;
    - ``pv_to_grid_kwh`` / ``electricity_from_grid_kwh``: the grid meter's where there is one,
      else (generation - load - EV)+ and (load + EV - generation)+;
    - ``pv_self_consumed_kwh`` = generation - export; ``electricity_kwh`` = grid import + PV
      self-consumed (electricity used);
    - ``metered_days``: 1 when any device reported.
    """
    def g(k: str) -> float:
        return float(raw.get(k, 0.0) or 0.0)

    subs = sum(g(f"{s}_kwh") for s in SUB_ITEMS)
    main = g("main_meter_kwh")
    metered = has_main_meter or main > 0
    load = main if metered else subs
    gen = g("pv_inverter_generation_kwh") or g("pv_meter_generation_kwh")
    use = load + g("ev_energy_kwh")
    if raw.get("pv_grid_meters"):
        to_grid, from_grid = g("pv_meter_to_grid_kwh"), g("pv_meter_from_grid_kwh")
    else:
        to_grid, from_grid = max(gen - use, 0.0), max(use - gen, 0.0)
    out = {f: g(f) for f in BALANCE_FIELDS}
    out.update(load_kwh=load, unmetered_kwh=(main - subs) if metered and subs > 0 else 0.0,
               pv_generation_kwh=gen, pv_to_grid_kwh=to_grid, pv_self_consumed_kwh=gen - to_grid,
               electricity_from_grid_kwh=from_grid, electricity_kwh=from_grid + gen - to_grid,
               metered_days=1.0 if g("readings") > 0 else 0.0)
    return out


def building_days(rows: dict[str, list[dict]], main_metered: frozenset[str] | set[str] = frozenset()
                  ) -> dict[str, dict[str, float]]:
    """Per-device sums of one local day -> each building's balance of that day. ``main_metered``:
    the buildings whose ``main`` meter has reported on this day or before (:func:`derive`)."""
    return {code: derive(raw, code in main_metered) for code, raw in device_sums(rows).items()}


def main_meter_codes(rows: dict[str, list[dict]]) -> set[str]:
    """Buildings with a ``main`` electricity meter among one day's per-device sums."""
    return {r["building_code"] for r in rows.get("meter", [])
            if r.get("carrier") == "electricity" and (r.get("sub_item") or "") in ("main", "")}


def balance_frame(acc: dict[str, dict[str, float]]) -> pd.DataFrame:
    """The balance as a DataFrame (index ``building_code``, every :data:`BALANCE_FIELDS` column)."""
    df = pd.DataFrame.from_dict({k: dict(v) for k, v in acc.items()}, orient="index", dtype=float)
    df = df.reindex(columns=list(BALANCE_FIELDS)).fillna(0.0)
    df.index.name = "building_code"
    return df


def unmetered_finding(unmetered_kwh, main_meter_kwh, *, max_share: float = UNMETERED_MAX_SHARE):
    """Data-quality finding of the sub-item tree: ``negative`` (sub-meters read more than their
    parent), ``above_share`` (remainder above ``max_share`` of the parent) or ``""``."""
    u, m = np.asarray(unmetered_kwh, dtype=float), np.asarray(main_meter_kwh, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        share = np.where(m > 0, u / np.where(m > 0, m, 1.0), 0.0)
    # A rounding-sized negative remainder (float sums) is not a finding: 1 Wh per MWh.
    out = np.where(u < -1e-6 * np.maximum(m, 1.0), "negative", np.where(share > max_share, "above_share", ""))
    if isinstance(unmetered_kwh, pd.Series):
        return pd.Series(out, index=unmetered_kwh.index)
    return str(out) if np.ndim(out) == 0 else out
