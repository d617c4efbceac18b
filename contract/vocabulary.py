"""The platform's one vocabulary: carriers, sub-items, device kinds and quantities.

The same names are used in MQTT payloads, InfluxDB tags and fields, DataFrame columns and
API schemas (docs/glossary.md lists them with their meaning).
"""

from __future__ import annotations

import re
from enum import StrEnum
from typing import Annotated

from pydantic import StringConstraints

from contract.units import BASE_SUFFIX, Dimension

# Anchored with \Z: Python's ``$`` also matches before a trailing newline, which let
# "510402A001\n" through ``.match`` and crash later uses of the value.
#: 6-digit administrative division code + type letter A-H + 3-digit serial (MOHURD 2008).
# The patterns are for pydantic (its Rust regex anchors ``$`` at the very end of the text); the
# compiled forms end in ``\Z`` because Python's ``$`` also matches before a trailing newline.
BUILDING_CODE_PATTERN = r"^[0-9]{6}[A-H][0-9]{3}$"
BUILDING_CODE_RE = re.compile(BUILDING_CODE_PATTERN[:-1] + r"\Z")
#: Device and gateway ids: safe in an MQTT topic level and an InfluxDB tag.
DEVICE_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,63}$"
DEVICE_ID_RE = re.compile(DEVICE_ID_PATTERN[:-1] + r"\Z")
#: The same rules as pydantic field types (payloads, the fleet file, API bodies).
BuildingCode = Annotated[str, StringConstraints(pattern=BUILDING_CODE_PATTERN)]
DeviceId = Annotated[str, StringConstraints(pattern=DEVICE_ID_PATTERN)]


class BuildingType(StrEnum):
    """MOHURD 2008 building type letters."""

    A = "office"
    B = "mall"
    C = "hotel"
    D = "education"
    E = "medical"
    F = "sports"
    G = "comprehensive"
    H = "other"


class Carrier(StrEnum):
    electricity = "electricity"
    water = "water"
    natural_gas = "natural_gas"
    lpg = "lpg"
    manufactured_gas = "manufactured_gas"
    district_heat = "district_heat"
    district_cooling = "district_cooling"
    diesel = "diesel"
    gasoline = "gasoline"
    coal = "coal"


#: What a carrier's register and consumption measure (and so their base unit).
CARRIER_DIMENSION: dict[Carrier, Dimension] = {
    Carrier.electricity: Dimension.energy,
    Carrier.water: Dimension.volume,
    Carrier.natural_gas: Dimension.volume,
    Carrier.lpg: Dimension.mass,
    Carrier.manufactured_gas: Dimension.volume,
    Carrier.district_heat: Dimension.energy,
    Carrier.district_cooling: Dimension.energy,
    Carrier.diesel: Dimension.mass,
    Carrier.gasoline: Dimension.mass,
    Carrier.coal: Dimension.mass,
}


class SubItem(StrEnum):
    """Electricity sub-items (MOHURD 2008), plus ``main`` for a building's incoming meter."""

    lighting_sockets = "lighting_sockets"
    hvac = "hvac"
    power = "power"
    special = "special"
    main = "main"


class DeviceKind(StrEnum):
    meter = "meter"
    pv_inverter = "pv_inverter"
    pv_meter = "pv_meter"
    ev_pile = "ev_pile"
    #: Air temperature and global horizontal irradiance measured near a building; the registry
    #: assigns a station to the buildings or districts whose weather it stands for.
    weather_station = "weather_station"


class PileKind(StrEnum):
    ac_7kw = "ac_7kw"
    dc_60kw = "dc_60kw"
    dc_120kw = "dc_120kw"


class PileStatus(StrEnum):
    idle = "idle"
    charging = "charging"
    fault = "fault"
    offline = "offline"


class Stream(StrEnum):
    telemetry = "telemetry"
    session = "session"


class SessionEvent(StrEnum):
    start = "start"
    stop = "stop"


#: InfluxDB measurement for each device kind.
MEASUREMENT: dict[DeviceKind, str] = {
    DeviceKind.meter: "meter",
    DeviceKind.pv_inverter: "pv",
    DeviceKind.pv_meter: "pv",
    DeviceKind.ev_pile: "ev_pile",
    DeviceKind.weather_station: "weather",
}
SESSION_MEASUREMENT = "ev_session"
#: The API's alert state changes, copied from its database for Grafana (api/alerts/export.py).
ALERT_EVENT_MEASUREMENT = "alert_event"

#: Numeric telemetry quantities a device kind may send, with their dimension. ``None`` means
#: "the carrier's dimension" (a water meter's register is in m3, an electricity meter's in kWh).
TELEMETRY_QUANTITIES: dict[DeviceKind, dict[str, Dimension | None]] = {
    DeviceKind.meter: {"register": None, "consumption": None, "power": Dimension.power},
    DeviceKind.pv_inverter: {
        "generation_register": Dimension.energy,
        "generation": Dimension.energy,
        "power": Dimension.power,
    },
    DeviceKind.pv_meter: {
        "generation_register": Dimension.energy,
        "to_grid_register": Dimension.energy,
        "from_grid_register": Dimension.energy,
        "power": Dimension.power,
    },
    DeviceKind.ev_pile: {"register": Dimension.energy, "power": Dimension.power},
    # Air temperature 2 m above ground [degC], global horizontal irradiance [W/m2] (mean over the
    # interval ending at ts_ms, or instantaneous; the station's documentation says which).
    DeviceKind.weather_station: {"air_temperature": Dimension.temperature, "ghi": Dimension.irradiance},
}
#: String-valued telemetry quantities (no unit).
STATUS_QUANTITIES: dict[DeviceKind, dict[str, type[StrEnum]]] = {DeviceKind.ev_pile: {"status": PileStatus}}

#: A cumulative register and the interval quantity ingest derives from it.
REGISTER_TO_INTERVAL: dict[str, str] = {
    "register": "consumption",
    "generation_register": "generation",
    "to_grid_register": "to_grid",
    "from_grid_register": "from_grid",
}

#: Quantities where a negative value is a physical impossibility (and so a rejected reading).
#: Power at a ``pv_meter`` is signed: positive = import from the grid.
#: Air temperature is below zero in winter.
SIGNED_QUANTITIES: dict[DeviceKind, frozenset[str]] = {
    DeviceKind.pv_meter: frozenset({"power"}),
    DeviceKind.weather_station: frozenset({"air_temperature"}),
}


def field_name(quantity: str, dimension: Dimension) -> str:
    """Stored field name: the quantity with its base-unit suffix, e.g. ``register_kwh``."""
    return f"{quantity}_{BASE_SUFFIX[dimension]}"
