"""With InfluxDB not answering (a loopback port nobody listens on), the page says so in both
languages with a 503, instead of an error trace or the API's JSON."""

from __future__ import annotations

from fastapi.testclient import TestClient

from api.app import create_app
from api.db import Assignment
from api.security import create_user
from api.settings import Settings
from deploy.localservers import free_port
from registry import repo
from registry.fleet import Fleet
from tests.api.live.conftest import FM_BUILDING, _spec


def test_page_when_influxdb_does_not_answer(tmp_path):
    dead = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    app = create_app(Settings(database_url=f"sqlite:///{tmp_path / 'r.db'}", influx_url=dead, influx_db="x",
                              influx_timeout_s=2))
    with app.state.sessions() as s:
        repo.upsert_building(session=s, spec=Fleet.model_validate({"buildings": [_spec(FM_BUILDING, "x")]})
                             .buildings[0])
        user, key = create_user(s, name="fm", role="facility_manager")
        s.add(Assignment(user_id=user.id, building_code=FM_BUILDING))
        s.commit()
    c = TestClient(app)  # no lifespan: nothing else touches the dead store
    assert c.post("/live/login", data={"api_key": key}, follow_redirects=False).status_code == 303
    r = c.get(f"/live/{FM_BUILDING}")
    assert r.status_code == 503 and r.headers["content-type"].startswith("text/html")
    assert "时序数据库暂时无法访问" in r.text and "did not answer" in r.text
    app.state.engine.dispose()
