"""A small HTTP server with the few Grafana API endpoints ``python -m dashboards push`` uses,
run with uvicorn in its own process by the push tests: a real HTTP peer for grafana-client.

Behaviour follows Grafana's documented API: Bearer token required (401 otherwise), folders by
uid (404 when missing, 409 on a duplicate uid), ``POST /api/dashboards/db`` creating or, with
``overwrite``, updating by uid and bumping ``version``; without ``overwrite`` an existing uid
is a 412 version-mismatch. A dashboard with the same title in the same folder under another
uid is refused (412 name-exists), as Grafana does.

For ``python -m dashboards permissions`` (Grafana 11 docs, developers/http_api team.md, folder.md,
folder_permissions.md, org.md): teams (search with ``perPage``, create -> ``teamId``, 409 on a
taken name, delete, members: add with 400 when already a member, remove), organisation users
(``GET /api/org/users``), folder list, rename and delete (with the dashboards inside), folder
permissions (a new folder has Grafana's default entries, role Viewer View and role Editor Edit;
POST replaces every entry; deleting a team drops its entries). The creator's own Admin entry of a
new folder is left out. ``POST /api/admin/users`` (basic auth as server admin in Grafana, the
token here) seeds users. ``GET /fake/writes`` is not Grafana's: the tests read from it every
request that changed something.

    python -m tests.dashboards.fake_grafana --port 3000 --token secret
"""

from __future__ import annotations

import argparse
import os

import uvicorn
from fastapi import Depends, FastAPI, Header, HTTPException, Request

TOKEN = os.environ.get("FAKE_GRAFANA_TOKEN", "test-token")
app = FastAPI()
folders: dict[str, dict] = {}
dashboards: dict[str, dict] = {}
calls: list[str] = []
teams: dict[int, dict] = {}
members: dict[int, set[int]] = {}
org_users: dict[int, dict] = {}
permissions: dict[str, list[dict]] = {}
writes: list[str] = []
_ids = {"team": 0, "user": 0}


@app.middleware("http")
async def record_writes(request: Request, call_next):
    response = await call_next(request)
    if request.method != "GET" and request.url.path.startswith("/api/") and response.status_code < 400:
        writes.append(f"{request.method} {request.url.path}")
    return response


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
    folders[uid] = {"uid": uid, "title": body["title"], "id": len(folders) + 1, "version": 1}
    permissions[uid] = [{"role": "Viewer", "teamId": 0, "userId": 0, "permission": 1},
                        {"role": "Editor", "teamId": 0, "userId": 0, "permission": 2}]
    return folders[uid]


@app.get("/api/folders", dependencies=[Depends(auth)])
def list_folders() -> list[dict]:
    return [{"id": f["id"], "uid": f["uid"], "title": f["title"]} for f in folders.values()]


@app.put("/api/folders/{uid}", dependencies=[Depends(auth)])
def update_folder(uid: str, body: dict) -> dict:
    if uid not in folders:
        raise HTTPException(404, detail={"message": "folder not found"})
    if not body.get("overwrite") and body.get("version") != folders[uid]["version"]:
        raise HTTPException(412, detail={"status": "version-mismatch", "message": "folder changed"})
    folders[uid].update(title=body.get("title", folders[uid]["title"]), version=folders[uid]["version"] + 1)
    return folders[uid]


@app.delete("/api/folders/{uid}", dependencies=[Depends(auth)])
def delete_folder(uid: str) -> dict:
    if uid not in folders:
        raise HTTPException(404, detail={"message": "folder not found"})
    for d_uid in [u for u, e in dashboards.items() if e["folderUid"] == uid]:
        del dashboards[d_uid]
    permissions.pop(uid, None)
    f = folders.pop(uid)
    return {"message": "Folder deleted", "id": f["id"], "title": f["title"]}


def _permission_item(p: dict) -> dict:
    team = teams.get(p["teamId"], {}).get("name", "") if p["teamId"] else ""
    name = {1: "View", 2: "Edit", 4: "Admin"}[p["permission"]]
    return {"role": p["role"], "teamId": p["teamId"], "team": team, "userId": p["userId"],
            "permission": p["permission"], "permissionName": name}


@app.get("/api/folders/{uid}/permissions", dependencies=[Depends(auth)])
def get_permissions(uid: str) -> list[dict]:
    if uid not in folders:
        raise HTTPException(404, detail={"message": "folder not found"})
    return [_permission_item(p) for p in permissions[uid]]


@app.post("/api/folders/{uid}/permissions", dependencies=[Depends(auth)])
def set_permissions(uid: str, body: dict) -> dict:
    if uid not in folders:
        raise HTTPException(404, detail={"message": "folder not found"})
    items = []
    for item in body["items"]:
        if item.get("teamId") and item["teamId"] not in teams:
            raise HTTPException(400, detail={"message": "team not found"})
        if item.get("permission") not in (1, 2, 4):
            raise HTTPException(400, detail={"message": "invalid permission"})
        items.append({"role": item.get("role", ""), "teamId": item.get("teamId", 0),
                      "userId": item.get("userId", 0), "permission": item["permission"]})
    permissions[uid] = items
    return {"message": "Folder permissions updated", "id": folders[uid]["id"], "title": folders[uid]["title"]}


@app.get("/api/teams/search", dependencies=[Depends(auth)])
def search_teams(query: str = "", page: int = 1, perpage: int = 1000) -> dict:
    found = sorted((t for t in teams.values() if query in t["name"]), key=lambda t: t["name"])
    rows = [{**t, "memberCount": len(members[t["id"]])} for t in found[(page - 1) * perpage:page * perpage]]
    return {"totalCount": len(found), "teams": rows, "page": page, "perPage": perpage}


@app.post("/api/teams", dependencies=[Depends(auth)])
def add_team(body: dict) -> dict:
    if any(t["name"] == body["name"] for t in teams.values()):
        raise HTTPException(409, detail={"message": "Team name taken"})
    _ids["team"] += 1
    team_id = _ids["team"]
    teams[team_id] = {"id": team_id, "orgId": 1, "name": body["name"], "email": body.get("email", ""),
                      "avatarUrl": ""}
    members[team_id] = set()
    return {"message": "Team created", "teamId": team_id, "uid": f"team{team_id}"}


@app.delete("/api/teams/{team_id}", dependencies=[Depends(auth)])
def delete_team(team_id: int) -> dict:
    if team_id not in teams:
        raise HTTPException(404, detail={"message": "Failed to delete Team. ID not found"})
    del teams[team_id], members[team_id]
    for uid in permissions:
        permissions[uid] = [p for p in permissions[uid] if p["teamId"] != team_id]
    return {"message": "Team deleted"}


@app.get("/api/teams/{team_id}/members", dependencies=[Depends(auth)])
def team_members(team_id: int) -> list[dict]:
    return [{"orgId": 1, "teamId": team_id, "userId": u, "email": org_users[u]["email"],
             "login": org_users[u]["login"], "avatarUrl": ""} for u in sorted(members.get(team_id, ()))]


@app.post("/api/teams/{team_id}/members", dependencies=[Depends(auth)])
def add_member(team_id: int, body: dict) -> dict:
    if team_id not in teams:
        raise HTTPException(404, detail={"message": "Team not found"})
    if body["userId"] in members[team_id]:
        raise HTTPException(400, detail={"message": "User is already added to this team"})
    members[team_id].add(body["userId"])
    return {"message": "Member added to Team"}


@app.delete("/api/teams/{team_id}/members/{user_id}", dependencies=[Depends(auth)])
def remove_member(team_id: int, user_id: int) -> dict:
    if user_id not in members.get(team_id, ()):
        raise HTTPException(404, detail={"message": "Team member not found"})
    members[team_id].discard(user_id)
    return {"message": "Team Member removed"}


@app.get("/api/org/users", dependencies=[Depends(auth)])
def list_org_users() -> list[dict]:
    return [{"orgId": 1, "userId": u["id"], "email": u["email"], "login": u["login"], "role": "Viewer",
             "avatarUrl": ""} for u in org_users.values()]


@app.post("/api/admin/users", dependencies=[Depends(auth)])
def create_user(body: dict) -> dict:
    _ids["user"] += 1
    org_users[_ids["user"]] = {"id": _ids["user"], "login": body.get("login") or body["email"],
                               "email": body.get("email", ""), "name": body.get("name", "")}
    return {"id": _ids["user"], "message": "User created"}


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


@app.get("/fake/writes")
def fake_writes() -> list[str]:
    return writes


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
