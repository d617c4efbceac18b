"""What every dashboard shares: uids, folder, the measurement names, the time settings, the
navigation links between dashboards, and the unit ids Grafana understands."""

from __future__ import annotations

from grafana_foundation_sdk.builders import dashboard as db
from grafana_foundation_sdk.models import dashboard as dm

from contract.localtime import TZ_NAME
from contract.quality import MEASUREMENT as QUALITY_MEASUREMENT
from dashboards.influxql import Measurement
from dashboards.panels import dashboard_link
from storage.settings import RollupSettings

FOLDER_UID = "energy-supervision"
FOLDER_TITLE = "Energy supervision"

OVERVIEW_UID = "energy-city-overview"
BUILDING_UID = "energy-building-detail"
PV_UID = "energy-rooftop-pv"
EV_UID = "energy-ev-charging"
QUALITY_UID = "energy-data-quality"

#: Raw measurements (docs/glossary.md), in the database's default retention policy.
METER, PV, EV_PILE, EV_SESSION = "meter", "pv", "ev_pile", "ev_session"
#: Building attributes copied from the registry by ``python -m dashboards sync-buildings``.
BUILDING_MEASUREMENT = "building"
DEADLETTER, INGEST_STATS = "ingest_deadletter", "ingest_stats"
#: Data-quality findings ingest records (contract/quality.py).
DATA_QUALITY = QUALITY_MEASUREMENT

#: Grafana unit ids (``fieldConfig.defaults.unit``).
KWH = "kwatth"
KW = "kwatt"
M3 = "m3"
SHARE = "percentunit"
COUNT = "short"
SECONDS = "s"
TCE = "suffix: tce"
KGCE_PER_M2 = "suffix: kgce/m²"
KWH_PER_M2 = "suffix: kWh/m²"
KWH_PER_KWP = "suffix: kWh/kWp"

#: The sites' local time (contract.localtime), so day buckets match the rollups and the API.
TIMEZONE = TZ_NAME


def new_dashboard(uid: str, title: str, description: str, *, time_from: str = "now-7d") -> db.Dashboard:
    return (db.Dashboard(title).uid(uid).description(description)
            .tags(["energy", "public-buildings"]).timezone(TIMEZONE).time(time_from, "now")
            .refresh("5m").tooltip(dm.DashboardCursorSync.CROSSHAIR).editable()
            .links([dashboard_link("City overview", OVERVIEW_UID, tooltip="Back to the city supervision overview"),
                    dashboard_link("Building detail", BUILDING_UID, tooltip="One building in depth"),
                    dashboard_link("Rooftop PV", PV_UID, tooltip="PV generation, self-consumption, export"),
                    dashboard_link("EV charging", EV_UID, tooltip="Charging sessions and piles"),
                    dashboard_link("Data quality", QUALITY_UID, tooltip="Offline meters, gaps, dead letters")]))


def building_detail_url(code_expr: str = "${__value.raw}") -> str:
    """Data link from any cell holding a building code to the detail dashboard for it."""
    return f"/d/{BUILDING_UID}?var-building={code_expr}&${{__url_time_range}}"


def __getattr__(name: str):
    """``ROLLUP_RP``, ``METER_1D``, ``PV_1D``, read from the environment when a dashboard is built,
    not when this module is imported (PEP 562), so ``EP_ROLLUP_RP`` set after the import counts.

    ``ROLLUP_RP``: retention policy of the analytics rollups, ``EP_ROLLUP_RP`` else ``rollup`` (the
    setting the rollup job, the API and the disclosure command read). The generated JSON and alert
    rules carry the name, so renaming the policy means rebuilding them. ``METER_1D``, ``PV_1D``:
    the daily rollups (``<measurement>_1d``), qualified with that policy. ``RETROFIT_SAVINGS``:
    verified retrofit savings per month, written by ``python -m analytics baselines``
    (docs/baselines.md), in the same policy. ``BALANCE_1D``: the daily building energy balance the
    rollup job writes (analytics/balance.py): every building, district and city energy figure reads it.
    """
    if name in ("ROLLUP_RP", "METER_1D", "PV_1D", "RETROFIT_SAVINGS"):
        rp = RollupSettings().rollup_rp
        return rp if name == "ROLLUP_RP" else Measurement(name.lower(), rp)
    if name == "BALANCE_1D":
        return Measurement("building_1d", RollupSettings().rollup_rp)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
