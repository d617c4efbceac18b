"""Structural checks on the generated dashboards and provisioning files: unique uids and panel
ids, no overlapping grid positions, every panel bound to the provisioned data source, a unit
on every panel, the template variables, the links between overview and detail, and generated
files in git equal to what the code produces."""

from __future__ import annotations

import itertools
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from dashboards import alerts, common, provisioning
from dashboards.panels import DATASOURCE_UID, Grid

ROOT = Path(__file__).resolve().parents[2]
PROVISIONING = ROOT / "deploy" / "grafana" / "provisioning"
NO_QUERY_PANELS = {"alertlist", "text", "row"}


def _boxes_overlap(a: dict, b: dict) -> bool:
    cols = a["x"] < b["x"] + b["w"] and b["x"] < a["x"] + a["w"]
    return cols and a["y"] < b["y"] + b["h"] and b["y"] < a["y"] + a["h"]


def test_uids_unique_and_fixed(generated):
    assert set(generated) == {common.OVERVIEW_UID, common.BUILDING_UID, common.PV_UID, common.EV_UID,
                              common.QUALITY_UID}
    assert len({d["title"] for d in generated.values()}) == 5


def test_titles_chinese_and_english(generated):
    """Every dashboard and panel title reads "<Chinese> / <English>" (dashboards/titles.py): the
    first half has Chinese characters, the second none."""
    cjk = re.compile("[\u4e00-\u9fff]")
    titles = [d["title"] for d in generated.values()] + [p["title"] for d in generated.values() for p in d["panels"]]
    for title in titles:
        zh, sep, en = title.partition(" / ")
        assert sep and cjk.search(zh) and en and not cjk.search(en), title
    assert generated[common.OVERVIEW_UID]["title"] == "城市能耗监管总览 / City energy supervision overview"


@pytest.mark.parametrize("uid", [common.OVERVIEW_UID, common.BUILDING_UID, common.PV_UID, common.EV_UID,
                                 common.QUALITY_UID])
def test_panels_ids_grid_datasource_unit(generated, uid):
    panels = generated[uid]["panels"]
    ids = [p["id"] for p in panels]
    assert len(ids) == len(set(ids)), f"duplicate panel ids in {uid}: {ids}"
    for p in panels:
        g = p["gridPos"]
        assert 0 <= g["x"] and g["x"] + g["w"] <= 24 and g["h"] > 0, (uid, p["title"], g)
    for a, b in itertools.combinations(panels, 2):
        assert not _boxes_overlap(a["gridPos"], b["gridPos"]), f"{uid}: {a['title']!r} overlaps {b['title']!r}"
    for p in panels:
        assert p["fieldConfig"]["defaults"].get("unit"), f"{uid}: panel {p['title']!r} has no unit"
        if p["type"] in NO_QUERY_PANELS:
            continue
        assert p["datasource"] == {"type": "influxdb", "uid": DATASOURCE_UID}, (uid, p["title"])
        assert p["targets"], f"{uid}: panel {p['title']!r} has no query"
        for t in p["targets"]:
            assert t["datasource"]["uid"] in (DATASOURCE_UID, "__expr__"), (uid, p["title"], t)
            if t["datasource"]["uid"] == DATASOURCE_UID:
                assert t["rawQuery"] is True and t["query"].startswith("SELECT "), (uid, p["title"])
        refs = [t["refId"] for t in p["targets"]]
        assert len(refs) == len(set(refs)), (uid, p["title"], refs)


def test_template_variables(generated):
    for uid, d in generated.items():
        names = [v["name"] for v in d["templating"]["list"]]
        assert names[:2] == ["district", "building_type"], uid
    detail = {v["name"]: v for v in generated[common.BUILDING_UID]["templating"]["list"]}
    assert detail["building"]["multi"] is False and "${district}${building_type}" in detail["building"]["query"]
    district = detail["district"]
    assert district["regex"] == "/^([0-9]{6})/" and district["allValue"] == "[0-9]{6}"


def test_links_between_overview_and_detail(generated):
    overview = generated[common.OVERVIEW_UID]
    urls = [link["url"] for p in overview["panels"] for o in p["fieldConfig"].get("overrides", [])
            for prop in o["properties"] if prop["id"] == "links" for link in prop["value"]]
    assert urls and all(u.startswith(f"/d/{common.BUILDING_UID}?var-building=${{__value.raw}}") for u in urls)
    for d in generated.values():
        targets = {link["url"] for link in d["links"]}
        assert f"/d/{common.OVERVIEW_UID}" in targets and f"/d/{common.BUILDING_UID}" in targets
        assert all(link["includeVars"] and link["keepTime"] for link in d["links"])


def test_provisioned_datasource_and_provider():
    ds = yaml.safe_load((PROVISIONING / "datasources" / "influxdb.yaml").read_text())["datasources"]
    assert [(d["uid"], d["type"], d["jsonData"]["version"]) for d in ds] == [(DATASOURCE_UID, "influxdb", "InfluxQL")]
    assert ds[0]["secureJsonData"]["password"] == "$INFLUX_PASSWORD"  # no secret in git
    prov = yaml.safe_load((PROVISIONING / "dashboards" / "energy.yaml").read_text())["providers"][0]
    assert prov["folderUid"] == common.FOLDER_UID and prov["options"]["path"] == provisioning.CONTAINER_DASHBOARDS


def test_alert_rules_are_consistent():
    doc = yaml.safe_load((PROVISIONING / "alerting" / "audit.yaml").read_text())
    assert doc == alerts.provisioning_document()
    rules = doc["groups"][0]["rules"]
    assert len({r["uid"] for r in rules}) == len(rules) == 2
    for r in rules:
        refs = {q["refId"] for q in r["data"]}
        assert r["condition"] in refs
        assert {q["datasourceUid"] for q in r["data"]} == {DATASOURCE_UID, "__expr__"}
        threshold = r["data"][2]["model"]["conditions"][0]["evaluator"]
        assert threshold["type"] == "gte"
    assert sorted(r["data"][2]["model"]["conditions"][0]["evaluator"]["params"][0] for r in rules) == [1000, 5_000_000]


def _rollup_names(text: str) -> list[str]:
    """Every ``FROM`` of a rollup measurement, with whatever policy qualifies it."""
    return re.findall(r'FROM ((?:"[^"]+"\.)?"[a-z_]+_1(?:h|d|mo)")', text)


def test_every_rollup_read_names_the_rollup_policy(generated):
    queries = [t["query"] for d in generated.values() for p in d["panels"] for t in p.get("targets", [])
               if "query" in t]
    queries += [q["model"]["query"] for r in alerts.provisioning_document()["groups"][0]["rules"]
                for q in r["data"] if "query" in q["model"]]
    names = [n for q in queries for n in _rollup_names(q)]
    assert len(names) > 10  # the overview, building detail, PV and both alert rules read the balance
    # every energy figure reads the building energy balance, never re-derives it from device rollups
    assert set(names) == {f'"{common.ROLLUP_RP}"."building_1d"'}


def test_build_with_a_renamed_rollup_policy(tmp_path):
    import os

    env = {**os.environ, "EP_ROLLUP_RP": "rollups_b"}
    build = subprocess.run([sys.executable, "-m", "dashboards", "build", "--out", str(tmp_path)],
                           cwd=ROOT, capture_output=True, text=True, timeout=120, env=env)
    assert build.returncode == 0, build.stderr
    text = "".join(f.read_text() for f in tmp_path.rglob("*.*") if f.suffix in (".json", ".yaml"))
    names = set(_rollup_names(text.replace('\\"', '"')))
    assert names == {'"rollups_b"."building_1d"'}


def test_generated_files_in_git_are_current():
    assert provisioning.stale() == [], "run `python -m dashboards build` and commit deploy/grafana"


def test_check_command_detects_stale_output(tmp_path):
    def check():
        return subprocess.run([sys.executable, "-m", "dashboards", "check", "--out", str(tmp_path)],
                              cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert check().returncode == 1  # nothing built yet
    build = subprocess.run([sys.executable, "-m", "dashboards", "build", "--out", str(tmp_path)],
                           cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert build.returncode == 0, build.stderr
    assert check().returncode == 0
    f = tmp_path / "dashboards" / f"{common.PV_UID}.json"
    f.write_text(f.read_text().replace("Rooftop PV", "Rooftop PV (edited)"))
    r = check()
    assert r.returncode == 1 and f"{common.PV_UID}.json" in r.stderr


def test_grid_starts_a_new_row_below_the_tallest_panel():
    g = Grid()
    a, b, c = g.place(16, 9), g.place(8, 4), g.place(12, 5)
    assert (a.x, a.y, b.x, b.y, c.x, c.y) == (0, 0, 16, 0, 0, 9)  # c wraps below the 9-high panel
    with pytest.raises(ValueError, match="1..24"):
        g.place(25, 1)


def test_dashboards_load_back_into_the_sdk_model(generated):
    """Each JSON model parses with the SDK's own Grafana 11 schema types and serialises back to
    the same panels (nothing the SDK does not know about was written)."""
    import json

    from grafana_foundation_sdk.cog.encoder import JSONEncoder
    from grafana_foundation_sdk.models.dashboard import Dashboard

    for uid, d in generated.items():
        again = json.loads(json.dumps(Dashboard.from_json(d), cls=JSONEncoder))
        assert again == d, uid
