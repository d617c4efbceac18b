"""Grafana-managed alert rules for buildings over the audit threshold, as a file-provisioning
document (``deploy/grafana/provisioning/alerting/audit.yaml``), and the panel listing the API's
open alerts.

Two rules, one per test, because the plan's tests are independent ("1000 tce or 5 million
kWh"): each evaluates the last 365 days of daily rollups per building and fires one alert
instance per building (label ``building_code``) at or above its threshold.
"""

from __future__ import annotations

from grafana_foundation_sdk.builders import alerting as ab
from grafana_foundation_sdk.builders import expr as eb
from grafana_foundation_sdk.builders import table
from grafana_foundation_sdk.models import alerting as am

from contract.vocabulary import ALERT_EVENT_MEASUREMENT
from dashboards import common as c
from dashboards import indicators as ind
from dashboards.influxql import Select, agg, col, neq
from dashboards.panels import DATASOURCE, DATASOURCE_UID, EXPR_UID, InfluxQLQuery, _Built, influx
from dashboards.titles import t

YEAR_S = 365 * 86400
RULE_GROUP = "audit-threshold"
EVALUATE_EVERY = "1h"
#: Rule keys the file-provisioning format does not accept (they belong to the HTTP API form).
_API_ONLY = ("orgID", "folderUID", "ruleGroup", "id", "updated", "provenance")


def rule_query(field_name: str) -> Select:
    """Per building, the last 365 days of one audit quantity from the daily energy balance."""
    inner = ind.energy_by_building(c.BALANCE_1D, ())
    return Select((agg("sum", field_name, alias=field_name),), (inner,), group_by=("building_code",))


def _rule(uid: str, title: str, field_name: str, threshold: float, unit_text: str) -> ab.Rule:
    data = _Built(InfluxQLQuery("A", rule_query(field_name).render(), "time_series", None, False))
    reduce_ = eb.TypeReduce().ref_id("B").expression("A").reducer("last")
    cond = (eb.TypeThreshold().ref_id("C").expression("B")
            .conditions([eb.ExprTypeThresholdConditions().evaluator(
                eb.ExprTypeThresholdConditionsEvaluator().type("gte").params([float(threshold)]))]))
    return (ab.Rule(title).uid(uid).condition("C").for_val("0s").no_data_state("OK").exec_err_state("Error")
            .queries([
                ab.Query("A").datasource_uid(DATASOURCE_UID).model(data)
                .relative_time_range(am.RelativeTimeRange(from_val=YEAR_S, to=0)),
                ab.Query("B").datasource_uid(EXPR_UID).model(reduce_)
                .relative_time_range(am.RelativeTimeRange(from_val=0, to=0)),
                ab.Query("C").datasource_uid(EXPR_UID).model(cond)
                .relative_time_range(am.RelativeTimeRange(from_val=0, to=0)),
            ])
            .labels({"team": "auditors", "test": field_name})
            .annotations({
                "summary": f"Building {{{{ $labels.building_code }}}} is over the audit threshold ({title})",
                "description": f"Last 365 days: {{{{ $values.B }}}} {unit_text} >= {threshold:,.0f} {unit_text}. "
                               f"Leshan plan: buildings with energy consumption of {ind.AUDIT_ENERGY_TCE} tce (or "
                               f"{ind.AUDIT_ELECTRICITY_KWH:,} kWh) and above are audited.",
                "__dashboardUid__": c.OVERVIEW_UID,
            }))


def rules() -> list[ab.Rule]:
    return [
        _rule("energy-audit-electricity", f"Electricity >= {ind.AUDIT_ELECTRICITY_KWH:,} kWh", "electricity_kwh",
              ind.AUDIT_ELECTRICITY_KWH, "kWh"),
        _rule("energy-audit-tce", f"Energy >= {ind.AUDIT_ENERGY_TCE} tce", "energy_tce", ind.AUDIT_ENERGY_TCE, "tce"),
    ]


def provisioning_document() -> dict:
    """The ``apiVersion: 1`` alert-rule file Grafana reads at start-up."""
    out_rules = []
    for r in rules():
        d = r.build().to_json()
        for key in _API_ONLY:
            d.pop(key, None)
        d["data"] = [_to_plain(q) for q in d["data"]]
        out_rules.append(d)
    return {"apiVersion": 1, "groups": [{"orgId": 1, "name": RULE_GROUP, "folder": c.FOLDER_TITLE,
                                         "interval": EVALUATE_EVERY, "rules": out_rules}]}


def _to_plain(obj):
    """SDK objects -> plain dicts and lists, so the document can be written as YAML."""
    if hasattr(obj, "to_json"):
        return _to_plain(obj.to_json())
    if isinstance(obj, dict):
        return {k: _to_plain(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_to_plain(v) for v in obj]
    return obj


def open_api_alerts_query(building_filter: str) -> Select:
    """The API's alerts whose latest state is not ``resolved``, one row per alert, from the
    ``alert_event`` copy of their state changes (api/alerts/export.py). No time filter: an alert
    opened before the dashboard's range is still open."""
    latest = Select((agg("last", "state", alias="state"), agg("last", "message", alias="message"),
                     agg("last", "actor", alias="by")), (ALERT_EVENT_MEASUREMENT,), (building_filter,),
                    group_by=("alert_id", "building_code", "rule"))
    return Select((col("state"), col("message"), col("by")), (latest,), (neq("state", "resolved"),),
                  group_by=("alert_id", "building_code", "rule"))


def open_api_alerts_panel(panel_id: int, building_filter: str, pos) -> table.Panel:
    return (table.Panel().id(panel_id).title(t("Open alerts (API rules)")).datasource(DATASOURCE).unit(c.COUNT)
            .description("Alerts of the API's rules (night base load, use above expected, meter offline, data "
                         "gap, PV underperformance, quota, audit) that are open or acknowledged, with the time of "
                         "their last change; acknowledge and resolve them in the API (docs/alerts.md).")
            .with_target(influx("A", open_api_alerts_query(building_filter), table=True))
            .grid_pos(pos))
