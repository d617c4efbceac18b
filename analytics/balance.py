"""From per-device rollup sums to a building's energy balance (pure; used by the reader and by the
rollup job's building-level month step).

Electricity accounting (docs/analytics.md): the ``main`` meter measures the building's load
downstream of its PV (as the simulator and a sub-item metering system see it) and EV piles are
separate loads. Grid import is the ``pv_meter``'s ``from_grid_kwh`` where a grid-point meter
exists; otherwise load + EV - PV (a PV system without grid meter counts as fully self-consumed,
up to the load).
"""

from __future__ import annotations

from collections import defaultdict

import numpy as np
import pandas as pd

from analytics.compare import SUB_ITEMS
from analytics.energy import FUEL_COLUMNS

#: Per raw measurement: query alias -> rollup field, and the tags its rows are grouped by.
SOURCES: dict[str, tuple[dict[str, str], tuple[str, ...]]] = {
    "meter": ({"kwh": "consumption_kwh", "m3": "consumption_m3", "kg": "consumption_kg", "n": "readings"},
              ("building_code", "carrier", "sub_item")),
    "pv": ({"gen": "generation_kwh", "to": "to_grid_kwh", "from": "from_grid_kwh", "n": "readings"},
           ("building_code", "device_kind")),
    "ev_pile": ({"e": "consumption_kwh", "n": "readings"}, ("building_code",)),
    "ev_session": ({"e": "energy_kwh", "pv": "pv_energy_kwh", "n": "readings"}, ("building_code",)),
}

#: Fields of the building-level monthly rollup ``building_1mo`` (all additive).
BUILDING_FIELDS: tuple[str, ...] = (
    "main_meter_kwh", *(f"{s}_kwh" for s in SUB_ITEMS), *FUEL_COLUMNS.values(), "water_m3", "readings",
    "pv_inverter_generation_kwh", "pv_meter_generation_kwh", "pv_to_grid_kwh", "pv_from_grid_kwh",
    "pv_grid_meters", "ev_energy_kwh", "ev_session_energy_kwh", "ev_pv_energy_kwh", "ev_sessions",
)


def accumulate(rows: dict[str, list[dict]], acc: dict[str, dict[str, float]] | None = None
               ) -> dict[str, dict[str, float]]:
    """Add per-device (or per-group) rollup sums into per-building :data:`BUILDING_FIELDS`.

    ``rows[measurement]`` are dicts with the aliases of :data:`SOURCES` and the tags.
    """
    acc = acc if acc is not None else defaultdict(lambda: defaultdict(float))
    for r in rows.get("meter", []):
        b, carrier, sub = acc[r["building_code"]], r.get("carrier") or "", r.get("sub_item") or ""
        value = next((r[k] for k in ("kwh", "m3", "kg") if r.get(k) is not None), 0.0)
        b["readings"] += r.get("n") or 0
        if carrier == "electricity":
            b["main_meter_kwh" if sub in ("main", "") else f"{sub}_kwh"] += value
        elif carrier == "water":
            b["water_m3"] += value
        elif carrier in FUEL_COLUMNS:
            b[FUEL_COLUMNS[carrier]] += value
    for r in rows.get("pv", []):
        b, kind = acc[r["building_code"]], r.get("device_kind")
        b["readings"] += r.get("n") or 0
        b[f"{kind}_generation_kwh"] += r.get("gen") or 0.0
        if kind == "pv_meter":
            b["pv_grid_meters"] = 1.0
            b["pv_to_grid_kwh"] += r.get("to") or 0.0
            b["pv_from_grid_kwh"] += r.get("from") or 0.0
    for r in rows.get("ev_pile", []):
        acc[r["building_code"]]["ev_energy_kwh"] += r.get("e") or 0.0
        acc[r["building_code"]]["readings"] += r.get("n") or 0
    for r in rows.get("ev_session", []):
        b = acc[r["building_code"]]
        b["ev_session_energy_kwh"] += r.get("e") or 0.0
        b["ev_pv_energy_kwh"] += r.get("pv") or 0.0
        b["ev_sessions"] += r.get("n") or 0
    return acc


def add_building_rows(acc: dict[str, dict[str, float]], rows: list[dict]) -> None:
    """Add ``building_1mo`` sums (field names as in :data:`BUILDING_FIELDS`) into ``acc``."""
    for r in rows:
        b = acc[r["building_code"]]
        for f in BUILDING_FIELDS:
            v = r.get(f)
            if v is None:
                continue
            if f == "pv_grid_meters":
                b[f] = max(b.get(f, 0.0), 1.0 if v > 0 else 0.0)
            else:
                b[f] += v


def balance_frame(acc: dict[str, dict[str, float]]) -> pd.DataFrame:
    """The balance columns of :mod:`analytics.indicators` from accumulated building fields."""
    df = pd.DataFrame.from_dict({k: dict(v) for k, v in acc.items()}, orient="index").fillna(0.0)
    df.index.name = "building_code"

    def col(name: str) -> pd.Series:
        return df[name] if name in df else pd.Series(0.0, index=df.index)

    subs = sum(col(f"{s}_kwh") for s in SUB_ITEMS)
    load = col("main_meter_kwh").where(col("main_meter_kwh") > 0, subs)
    # An inverter's generation is the measurement; a grid-point meter's is only a fallback.
    gen = col("pv_inverter_generation_kwh").where(col("pv_inverter_generation_kwh") > 0,
                                                  col("pv_meter_generation_kwh"))
    has_grid_meter = col("pv_grid_meters") > 0
    use = load + col("ev_energy_kwh")
    df["pv_generation_kwh"] = gen
    df["pv_to_grid_kwh"] = np.where(has_grid_meter, col("pv_to_grid_kwh"), (gen - use).clip(lower=0.0))
    df["electricity_from_grid_kwh"] = np.where(has_grid_meter, col("pv_from_grid_kwh"),
                                               (use - gen).clip(lower=0.0))
    return df.drop(columns=[c for c in ("pv_inverter_generation_kwh", "pv_meter_generation_kwh",
                                        "pv_from_grid_kwh", "pv_grid_meters") if c in df])
