"""Units accepted on the wire and the one conversion to the platform's base units.

Conversion happens once, at the ingest boundary; everything stored in InfluxDB and
everything downstream uses the base unit, whose suffix is part of the field name
(``register_kwh``, ``consumption_m3``, ``power_kw``). See docs/glossary.md.
"""

from __future__ import annotations

from enum import StrEnum


class Dimension(StrEnum):
    energy = "energy"
    volume = "volume"
    mass = "mass"
    power = "power"
    temperature = "temperature"
    irradiance = "irradiance"


#: unit on the wire -> (dimension, factor to the base unit of that dimension)
UNITS: dict[str, tuple[Dimension, float]] = {
    "Wh": (Dimension.energy, 1e-3),
    "kWh": (Dimension.energy, 1.0),
    "MWh": (Dimension.energy, 1e3),
    # 1 kWh = 3.6 MJ exactly.
    "MJ": (Dimension.energy, 1 / 3.6),
    "GJ": (Dimension.energy, 1e3 / 3.6),
    "L": (Dimension.volume, 1e-3),
    "m3": (Dimension.volume, 1.0),
    "kg": (Dimension.mass, 1.0),
    "t": (Dimension.mass, 1e3),
    "W": (Dimension.power, 1e-3),
    "kW": (Dimension.power, 1.0),
    "MW": (Dimension.power, 1e3),
    # Temperature is affine (degF = degC x 1.8 + 32), so only Celsius is accepted on the wire:
    # a factor cannot convert it, and weather stations in China report Celsius.
    "degC": (Dimension.temperature, 1.0),
    "W/m2": (Dimension.irradiance, 1.0),
    "kW/m2": (Dimension.irradiance, 1e3),
}

#: base unit of each dimension and the suffix it gives a stored field name
BASE_SUFFIX: dict[Dimension, str] = {
    Dimension.energy: "kwh",
    Dimension.volume: "m3",
    Dimension.mass: "kg",
    Dimension.power: "kw",
    Dimension.temperature: "degc",
    Dimension.irradiance: "w_per_m2",
}


class UnitError(ValueError):
    """A unit that is unknown, or of the wrong dimension for its quantity."""


def to_base(value: float, unit: str, expected: Dimension) -> float:
    """Convert ``value`` in ``unit`` to the base unit of ``expected``.

    Raises
    ------
    UnitError
        If ``unit`` is unknown or measures another dimension than ``expected``.
    """
    try:
        dim, factor = UNITS[unit]
    except KeyError:
        raise UnitError(f"unknown unit {unit!r}; accepted: {', '.join(UNITS)}") from None
    if dim is not expected:
        raise UnitError(f"unit {unit!r} measures {dim.value}, expected {expected.value}")
    return value * factor
