"""Data files of the simulator: building-type ranges and district centres (with their sources)."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import pandas as pd

_DATA = Path(__file__).parent / "data"


@dataclass(frozen=True)
class TypeRanges:
    """Plausible ranges for one MOHURD building type (simulators/data/building_types.csv)."""

    letter: str
    floor_area_m2: tuple[float, float]
    electricity_eui_kwh_per_m2: tuple[float, float]
    gas_m3_per_m2: tuple[float, float]
    water_m3_per_m2: tuple[float, float]
    heat_kwh_per_m2: tuple[float, float]
    shares: dict[str, float]  # electricity sub-item -> share of the building's electricity [-]
    gas_probability: float
    heat_probability: float


@lru_cache(maxsize=1)
def building_types() -> dict[str, TypeRanges]:
    df = pd.read_csv(_DATA / "building_types.csv")
    out: dict[str, TypeRanges] = {}
    for r in df.itertuples(index=False):
        shares = {s: float(getattr(r, f"share_{s}")) for s in ("lighting_sockets", "hvac", "power", "special")}
        if abs(sum(shares.values()) - 1.0) > 1e-9:
            raise ValueError(f"building_types.csv: sub-item shares of type {r.type_letter} sum to "
                             f"{sum(shares.values())}, not 1")
        out[r.type_letter] = TypeRanges(
            letter=r.type_letter,
            floor_area_m2=(r.floor_area_min_m2, r.floor_area_max_m2),
            electricity_eui_kwh_per_m2=(r.electricity_eui_min_kwh_per_m2, r.electricity_eui_max_kwh_per_m2),
            gas_m3_per_m2=(r.gas_min_m3_per_m2, r.gas_max_m3_per_m2),
            water_m3_per_m2=(r.water_min_m3_per_m2, r.water_max_m3_per_m2),
            heat_kwh_per_m2=(r.heat_min_kwh_per_m2, r.heat_max_kwh_per_m2),
            shares=shares,
            gas_probability=float(r.gas_probability),
            heat_probability=float(r.heat_probability),
        )
    return out


@lru_cache(maxsize=4)
def districts(city: str = "leshan") -> pd.DataFrame:
    df = pd.read_csv(_DATA / "districts.csv", dtype={"district_code": str})
    sel = df[df["city"] == city]
    if sel.empty:
        raise ValueError(f"no districts for city {city!r} in districts.csv; known: {sorted(df['city'].unique())}")
    return sel.reset_index(drop=True)
