"""Run a generated panel the way Grafana would, against a real InfluxDB, without Grafana.

Each InfluxQL target is interpolated by :func:`dashboards.interpolate.interpolate` (variables,
``$timeFilter``, ``$__interval``) and sent to InfluxDB's ``/query``. What Grafana does after
that is reproduced only as far as the dashboards use it: server-side math over single numbers
(``$A / $B``), and the table transformations joinByField (inner), calculateField (binary),
sortBy, limit and organize (includeByName).
"""

from __future__ import annotations

import ast
import operator
from dataclasses import dataclass

import httpx

from dashboards.interpolate import Variable, interpolate, parse_duration_ms

DEFAULT_MAX_DATA_POINTS = 1000  # Grafana uses the panel's pixel width; a wide panel is ~1000 px
DATASOURCE_MIN_INTERVAL = "15m"  # jsonData.timeInterval of the provisioned data source


class QueryFailed(AssertionError):
    pass


@dataclass
class PanelRun:
    panel: dict
    queries: dict[str, str]  # refId -> interpolated InfluxQL
    series: dict[str, list[dict]]  # refId -> InfluxDB series (name, tags, columns, values)
    numbers: dict[str, float | None]  # refId of math expressions -> value

    def rows(self, ref_id: str) -> list[dict]:
        """One dict per result row: tags + columns, as a table-format frame shows them."""
        out = []
        for s in self.series[ref_id]:
            for v in s["values"]:
                row = dict(s.get("tags") or {})
                row.update(zip(s["columns"], v, strict=True))
                out.append(row)
        return out

    def total(self, ref_id: str, column: str) -> float:
        return sum(r[column] or 0 for r in self.rows(ref_id))


def effective_range(panel: dict, from_ms: int, to_ms: int) -> tuple[int, int]:
    """A panel's relative-time override (``timeFrom: "1y"``) replaces the dashboard range."""
    tf = panel.get("timeFrom")
    return (to_ms - parse_duration_ms(tf), to_ms) if tf else (from_ms, to_ms)


def query_influx(url: str, db: str, q: str) -> list[dict]:
    r = httpx.post(f"{url}/query", params={"db": db, "epoch": "ms"}, data={"q": q}, timeout=30)
    body = r.json()
    if r.status_code != 200 or "error" in body:
        raise QueryFailed(f"InfluxDB refused the query ({r.status_code}): {body}\n{q}")
    res = body["results"][0]
    if "error" in res:
        raise QueryFailed(f"InfluxDB error: {res['error']}\n{q}")
    return res.get("series", [])


def run_panel(panel: dict, variables: dict[str, Variable], *, from_ms: int, to_ms: int, url: str,
              db: str) -> PanelRun:
    f, t = effective_range(panel, from_ms, to_ms)
    min_interval = panel.get("interval") or DATASOURCE_MIN_INTERVAL
    max_points = panel.get("maxDataPoints") or DEFAULT_MAX_DATA_POINTS
    run = PanelRun(panel, {}, {}, {})
    for tgt in panel.get("targets", []):
        if tgt["datasource"]["uid"] == "__expr__":
            continue
        q = interpolate(tgt["query"], variables, from_ms=f, to_ms=t, max_data_points=max_points,
                        min_interval=min_interval)
        run.queries[tgt["refId"]] = q
        run.series[tgt["refId"]] = query_influx(url, db, q)
    for tgt in panel.get("targets", []):
        if tgt["datasource"]["uid"] == "__expr__":
            run.numbers[tgt["refId"]] = math_expression(tgt["expression"], run)
    return run


def single_number(run: PanelRun, ref_id: str) -> float | None:
    """The one value a target must reduce to for Grafana math over numbers."""
    values = [v for s in run.series.get(ref_id, []) for row in s["values"] for v in row[1:]]
    if len(values) > 1:
        raise AssertionError(f"target {ref_id} returned {len(values)} values, math needs one: {values[:5]}")
    return values[0] if values else None


_OPS = {ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul, ast.Div: operator.truediv}


def math_expression(expression: str, run: PanelRun) -> float | None:
    """Grafana's math expression over numbers: ``$A``-style references and + - * / only.
    A missing operand gives no value (Grafana drops the result)."""
    src = expression.replace("$", "REF_")
    tree = ast.parse(src, mode="eval")

    def ev(node):
        if isinstance(node, ast.Expression):
            return ev(node.body)
        if isinstance(node, ast.BinOp) and type(node.op) in _OPS:
            a, b = ev(node.left), ev(node.right)
            return None if a is None or b is None else _OPS[type(node.op)](a, b)
        if isinstance(node, ast.Name) and node.id.startswith("REF_"):
            ref = node.id[4:]
            return run.numbers[ref] if ref in run.numbers else single_number(run, ref)
        if isinstance(node, ast.Constant) and isinstance(node.value, int | float):
            return node.value
        raise ValueError(f"unsupported math expression {expression!r}")

    return ev(tree)


def transformed_table(run: PanelRun) -> list[dict]:
    """Apply the panel's table transformations to its targets' rows."""
    frames = [run.rows(ref) for ref in run.series]
    rows = frames[0] if frames else []
    for tr in run.panel.get("transformations", []):
        o = tr["options"]
        if tr["id"] == "joinByField":
            key = o["byField"]
            rows = frames[0]
            for other in frames[1:]:
                index = {r[key]: r for r in other}
                rows = [{**r, **{k: v for k, v in index[r[key]].items() if k != "time"}}
                        for r in rows if r[key] in index]
        elif tr["id"] == "calculateField":
            b = o["binary"]
            op = {"/": operator.truediv, "*": operator.mul, "+": operator.add, "-": operator.sub}[b["operator"]]
            rows = [{**r, o["alias"]: op(r[b["left"]], r[b["right"]])} for r in rows]
        elif tr["id"] == "sortBy":
            s = o["sort"][0]
            rows = sorted(rows, key=lambda r: r[s["field"]], reverse=s.get("desc", False))
        elif tr["id"] == "limit":
            rows = rows[: o["limitField"]]
        elif tr["id"] == "organize" and "includeByName" in o:
            rows = [{k: v for k, v in r.items() if o["includeByName"].get(k)} for r in rows]
    return rows
