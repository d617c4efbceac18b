"""Generate a fleet of public buildings from a seed and a size.

Every fleet starts with three fixed-role buildings so audits and alerts can be demonstrated:

1. a mall whose electricity alone passes the audit threshold (about 8 GWh/a >= 5 GWh/a);
2. a hotel below 5 GWh/a of electricity whose total passes 1000 tce thanks to gas
   (3.9 GWh x 0.1229 kgce/kWh = 479 tce, plus 510,000 m3 x 1.2143 kgce/m3 = 619 tce: 1098 tce);
3. a small office far below both (about 0.42 GWh/a, 52 tce).

The rest is drawn per type from simulators/data/building_types.csv.
"""

from __future__ import annotations

import numpy as np

from contract.vocabulary import BuildingType, Carrier, PileKind, SubItem
from registry.fleet import (
    BuildingSpec,
    Fleet,
    MeterSpec,
    Ownership,
    PileSpec,
    PvSpec,
    SimulationTargets,
)
from simulators.catalog import TypeRanges, building_types, districts

TYPE_WEIGHTS = {"A": 0.30, "B": 0.08, "C": 0.08, "D": 0.20, "E": 0.10, "F": 0.05, "G": 0.09, "H": 0.10}
#: Floor area per occupant by type. [m2/person]
AREA_PER_PERSON_M2 = {"A": 12, "B": 8, "C": 25, "D": 10, "E": 20, "F": 15, "G": 12, "H": 15}
PILE_POWER_KW = {PileKind.ac_7kw: 7.0, PileKind.dc_60kw: 60.0, PileKind.dc_120kw: 120.0}
SUB_METER_IDS = {SubItem.lighting_sockets: "E-LS-1", SubItem.hvac: "E-HVAC-1", SubItem.power: "E-PWR-1",
                 SubItem.special: "E-SPC-1"}
MIN_SIZE = 3

# (type, floor area [m2], electricity [kWh/m2], gas [m3/m2] or None) of the fixed-role buildings.
_FIXED = [("B", 40_000.0, 200.0, 3.0), ("C", 30_000.0, 130.0, 17.0), ("A", 6_000.0, 70.0, None)]


def _inner(rng: np.random.Generator, lo_hi: tuple[float, float]) -> float:
    # The middle 80 % of a range, so day-to-day noise keeps the annual total inside the range.
    lo, hi = lo_hi
    return float(lo + (hi - lo) * rng.uniform(0.1, 0.9))


def _meters(rng: np.random.Generator, letter: str, tr: TypeRanges, gas: bool | None) -> tuple[list, dict]:
    meters = [MeterSpec(device_id="E-MAIN", carrier=Carrier.electricity, sub_item=SubItem.main)]
    meters += [MeterSpec(device_id=i, carrier=Carrier.electricity, sub_item=s, parent_device_id="E-MAIN")
               for s, i in SUB_METER_IDS.items()]
    meters.append(MeterSpec(device_id="W-1", carrier=Carrier.water))
    targets: dict = {"water_m3_per_m2": round(_inner(rng, tr.water_m3_per_m2), 3)}
    has_gas = rng.uniform() < tr.gas_probability if gas is None else gas
    if has_gas:
        meters.append(MeterSpec(device_id="G-1", carrier=Carrier.natural_gas))
        targets["gas_m3_per_m2"] = round(_inner(rng, tr.gas_m3_per_m2), 3)
    if gas is None and rng.uniform() < tr.heat_probability:
        meters.append(MeterSpec(device_id="H-1", carrier=Carrier.district_heat))
        targets["heat_kwh_per_m2"] = round(_inner(rng, tr.heat_kwh_per_m2), 2)
    return meters, targets


def _piles(rng: np.random.Generator, count: int) -> list[PileSpec]:
    kinds = rng.choice([PileKind.ac_7kw, PileKind.dc_60kw, PileKind.dc_120kw], size=count, p=[0.7, 0.2, 0.1])
    return [PileSpec(device_id=f"EV{i + 1}", pile_kind=k, rated_power_kw=PILE_POWER_KW[PileKind(k)])
            for i, k in enumerate(kinds)]


def _ownership(rng: np.random.Generator, letter: str, area_m2: float) -> Ownership:
    if letter == "A" and rng.uniform() < 0.6:
        return Ownership.state_organ_office
    if letter in "DE":
        return Ownership.state_funded_public_welfare
    # MOHURD counts public buildings above 20,000 m2 as large public buildings.
    return Ownership.large_public if area_m2 > 20_000 else Ownership.other


def generate_fleet(seed: int, size: int, city: str = "leshan") -> Fleet:
    """A reproducible fleet of ``size`` buildings around a city.

    Parameters
    ----------
    seed : int
        Random seed; the same seed and size give the same fleet. [-]
    size : int
        Number of buildings, at least 3 (the three fixed-role buildings). [-]
    city : str
        City in simulators/data/districts.csv (district codes and centres).

    Returns
    -------
    Fleet
        Buildings with meters, PV and charging piles, and simulation targets.
    """
    if size < MIN_SIZE:
        raise ValueError(f"size={size}: a fleet needs at least {MIN_SIZE} buildings (the audit demonstrators)")
    rng = np.random.default_rng([seed, size])
    types = building_types()
    dist = districts(city)
    letters = [f[0] for f in _FIXED] + list(rng.choice(list(TYPE_WEIGHTS), size=size - len(_FIXED),
                                                         p=list(TYPE_WEIGHTS.values())))
    serials: dict[tuple[str, str], int] = {}
    buildings = []
    for i, letter in enumerate(letters):
        tr = types[letter]
        d = dist.iloc[i % len(dist)] if i < len(dist) else dist.iloc[int(rng.integers(len(dist)))]
        serial = serials.get((d.district_code, letter), 0) + 1
        serials[(d.district_code, letter)] = serial
        if serial > 999:
            raise ValueError(f"more than 999 type-{letter} buildings in district {d.district_code}")
        if i < len(_FIXED):
            _, area, eui, gas = _FIXED[i]
            meters, targets = _meters(rng, letter, tr, gas is not None)
            if gas is not None:
                targets["gas_m3_per_m2"] = gas
        else:
            lo, hi = tr.floor_area_m2
            area = float(np.exp(rng.uniform(np.log(lo), np.log(hi))))
            eui = _inner(rng, tr.electricity_eui_kwh_per_m2)
            meters, targets = _meters(rng, letter, tr, None)
        area = round(area, -1)
        pv_p = 0.7 if letter == "A" else 0.4
        pv = []
        if i in (0, 2) or (i >= len(_FIXED) and rng.uniform() < pv_p):
            cap = float(np.clip(area * rng.uniform(0.004, 0.012), 20.0, 800.0))
            pv = [PvSpec(device_id="PV1", capacity_kwp=round(cap, 1), tilt_deg=round(float(rng.uniform(10, 30)), 1),
                         azimuth_deg=round(float(rng.uniform(150, 210)), 1))]
        pile_p = 0.6 if letter in "BCG" else 0.3
        n_piles = 4 if i == 0 else (int(rng.integers(1, 7)) if i >= len(_FIXED) and rng.uniform() < pile_p else 0)
        buildings.append(BuildingSpec(
            building_code=f"{d.district_code}{letter}{serial:03d}",
            name=f"{d.district} {BuildingType[letter].value} {serial:03d}",
            floor_area_m2=area,
            district=str(d.district),
            ownership=_ownership(rng, letter, area),
            latitude_deg=round(float(d.center_lat_deg + rng.normal(0, 0.02)), 5),
            longitude_deg=round(float(d.center_lon_deg + rng.normal(0, 0.02)), 5),
            occupants=int(area / AREA_PER_PERSON_M2[letter]),
            year_built=int(rng.integers(1985, 2021)),
            gateway_id="GW1" if (i == 1 or (i >= len(_FIXED) and rng.uniform() < 0.3)) else None,
            meters=meters,
            pv=pv,
            ev_piles=_piles(rng, n_piles),
            simulation=SimulationTargets(electricity_eui_kwh_per_m2=round(eui, 2), **targets),
        ))
    return Fleet(buildings=buildings)
