"""A small HTTP server with the few Grafana API endpoints ``python -m dashboards push`` uses,
run with uvicorn in its own process by the push tests: a real HTTP peer for the push client.

Behaviour follows Grafana's documented API: Bearer token required (401 otherwise), folders by
uid (404 when missing, 409 on a duplicate uid), ``POST /api/dashboards/db`` creating or, with
``overwrite``, updating by uid and bumping ``version``; without ``overwrite`` an existing uid
is a 412 version-mismatch. A dashboard with the same title in the same folder under another
uid is refused (412 name-exists), as Grafana does.

    python -m tests.dashboards.fake_grafana --port 3000 --token secret
"""

from __future__ import annotations

import argparse
import os

import uvicorn
from fastapi import Depends, FastAPI, Header, HTTPException

TOKEN = os.environ.get("FAKE_GRAFANA_TOKEN", "test-token")
app = FastAPI()
folders: dict[str, dict] = {}
dashboards: dict[str, dict] = {}
calls: list[str] = []


def auth(authorization: str = Header(default="")) -> None:
    if authorization != f"Bearer {TOKEN}":
        raise HTTPException(401, detail={"message": "Unauthorized"})


@app.get("/api/folders/{uid}", dependencies=[Depends(auth)])
def get_folder(uid: str) -> dict:
    calls.append(f"GET folder {uid}")
    if uid not in folders:
        raise HTTPException(404, detail={"message": "folder not found"})
    return folders[uid]


@app.post("/api/folders", dependencies=[Depends(auth)])
def create_folder(body: dict) -> dict:
    calls.append(f"POST folder {body.get('uid')}")
    uid = body.get("uid") or f"f{len(folders) + 1}"
    if uid in folders:
        raise HTTPException(409, detail={"message": "a folder with the same uid already exists"})
    folders[uid] = {"uid": uid, "title": body["title"], "id": len(folders) + 1}
    return folders[uid]


@app.post("/api/dashboards/db", dependencies=[Depends(auth)])
def save_dashboard(body: dict) -> dict:
    d = body["dashboard"]
    folder = body.get("folderUid", "")
    calls.append(f"POST dashboard {d.get('uid')}")
    if folder and folder not in folders:
        raise HTTPException(400, detail={"message": "folder not found"})
    uid = d.get("uid")
    if not uid:
        raise HTTPException(400, detail={"message": "this fake needs a uid"})
    for other_uid, other in dashboards.items():
        if other_uid != uid and other["folderUid"] == folder and other["dashboard"]["title"] == d["title"]:
            raise HTTPException(412, detail={"status": "name-exists", "message": "same title in folder"})
    if uid in dashboards and not body.get("overwrite"):
        raise HTTPException(412, detail={"status": "version-mismatch", "message": "dashboard exists"})
    version = dashboards[uid]["dashboard"]["version"] + 1 if uid in dashboards else 1
    dashboards[uid] = {"dashboard": {**d, "version": version, "id": hash(uid) % 10_000}, "folderUid": folder}
    return {"status": "success", "uid": uid, "version": version, "url": f"/d/{uid}/x",
            "id": dashboards[uid]["dashboard"]["id"]}


@app.get("/api/dashboards/uid/{uid}", dependencies=[Depends(auth)])
def get_dashboard(uid: str) -> dict:
    if uid not in dashboards:
        raise HTTPException(404, detail={"message": "Dashboard not found"})
    entry = dashboards[uid]
    return {"dashboard": entry["dashboard"], "meta": {"folderUid": entry["folderUid"]}}


@app.get("/api/search", dependencies=[Depends(auth)])
def search() -> list[dict]:
    return [{"uid": u, "title": e["dashboard"]["title"], "type": "dash-db", "folderUid": e["folderUid"]}
            for u, e in dashboards.items()] + [{"uid": u, "title": f["title"], "type": "dash-folder"}
                                                for u, f in folders.items()]


@app.get("/api/health")
def health() -> dict:
    return {"database": "ok"}


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--token", default=TOKEN)
    a = ap.parse_args()
    TOKEN = a.token
    uvicorn.run(app, host="127.0.0.1", port=a.port, log_level="warning")
