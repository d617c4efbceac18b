"""Template variables shared by the dashboards, and the building filters built from them.

District and building type are not InfluxDB tags: the registry (SQLite) holds them. But both
are encoded in the building code (MOHURD 2008): the first 6 digits are the administrative
division (the district) and the 7th character the type letter A-H. So the variables filter
``building_code`` with a regex, ``/^${district}${building_type}[0-9]{3}$/``, and need no join.
"All" is a custom all-value (``[0-9]{6}``, ``[A-H]``) so the regex stays short for a city of
thousands of buildings instead of listing every code.
"""

from __future__ import annotations

from grafana_foundation_sdk.builders import dashboard as db
from grafana_foundation_sdk.models import dashboard as dm

from contract.vocabulary import BuildingType
from dashboards.influxql import eq, matches
from dashboards.panels import DATASOURCE

DISTRICT = "district"
BUILDING_TYPE = "building_type"
BUILDING = "building"
GAP_S = "gap_s"

#: Building codes of the selected districts and types (multi-value variables become ``(a|b)``).
CODE_REGEX = "^${district}${building_type}[0-9]{3}$"
SELECTED_BUILDINGS = matches("building_code", CODE_REGEX)
#: The one building of the detail dashboard.
THIS_BUILDING = eq("building_code", "${building}")

_ALL_CODES_QUERY = 'SHOW TAG VALUES FROM "meter" WITH KEY = "building_code"'


def district() -> db.QueryVariable:
    # The capture group makes Grafana keep only the 6-digit division code of each building code.
    return (db.QueryVariable(DISTRICT).label("District (division code)").datasource(DATASOURCE)
            .query(_ALL_CODES_QUERY).regex("/^([0-9]{6})/").multi(True).include_all(True)
            .all_value("[0-9]{6}").refresh(dm.VariableRefresh.ON_DASHBOARD_LOAD)
            .sort(dm.VariableSort.ALPHABETICAL_ASC)
            .current(dm.VariableOption(text="All", value="$__all", selected=True)))


def building_type() -> db.CustomVariable:
    pairs = ",".join(f"{t.value} : {t.name}" for t in BuildingType)
    options = [dm.VariableOption(text=t.value, value=t.name, selected=False) for t in BuildingType]
    return (db.CustomVariable(BUILDING_TYPE).label("Building type").values(pairs).multi(True)
            .include_all(True).all_value("[A-H]").options(options)
            .current(dm.VariableOption(text="All", value="$__all", selected=True)))


def building() -> db.QueryVariable:
    return (db.QueryVariable(BUILDING).label("Building").datasource(DATASOURCE)
            .query(f"{_ALL_CODES_QUERY} WHERE {SELECTED_BUILDINGS}").multi(False).include_all(False)
            .refresh(dm.VariableRefresh.ON_DASHBOARD_LOAD).sort(dm.VariableSort.ALPHABETICAL_ASC))


def assigned_building(codes: list[str]) -> db.CustomVariable:
    """The building choice of a facility manager's copy of the detail dashboard: exactly the
    codes assigned to them (``python -m dashboards permissions``), no free text, no "All".
    Building codes contain no comma, so Grafana's comma-separated custom list holds them as is."""
    if not codes:
        raise ValueError("a facility manager's dashboard needs at least one assigned building")
    options = [dm.VariableOption(text=code, value=code, selected=(i == 0)) for i, code in enumerate(codes)]
    return (db.CustomVariable(BUILDING).label("Building").values(",".join(codes)).multi(False)
            .include_all(False).allow_custom_value(False).options(options)
            .current(dm.VariableOption(text=codes[0], value=codes[0], selected=True)))


def gap_threshold() -> db.CustomVariable:
    options = [dm.VariableOption(text=t, value=v, selected=(v == "1800"))
               for t, v in (("30 min", "1800"), ("1 h", "3600"), ("6 h", "21600"), ("1 day", "86400"))]
    return (db.CustomVariable(GAP_S).label("Gap longer than").values(
        "30 min : 1800,1 h : 3600,6 h : 21600,1 day : 86400").multi(False).include_all(False)
        .options(options).current(dm.VariableOption(text="30 min", value="1800", selected=True)))
