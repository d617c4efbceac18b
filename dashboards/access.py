"""Who sees what in Grafana, generated from the API's users and building assignments.

``python -m dashboards permissions`` reads the API's users and assignments (the SQL database,
``EP_DATABASE_URL``) and makes a running Grafana match them over its HTTP API (grafana-client):

- per facility manager with at least one assigned building: a team ``energy-fm-<user id>``, a
  folder with the same uid that only this team may view, and in it a copy of the building detail
  dashboard (uid ``energy-building-fm-<user id>``) whose building choice is the assigned codes;
- per city-wide role (bureau staff, auditor): a team ``energy-role-<role>``; the city-wide folder
  (``energy-supervision``) may be viewed by these two teams only. Grafana organisation Admins see
  everything whatever a folder says (Grafana's rule), so API administrators are Grafana Admins.

A team holds the Grafana user whose login or e-mail equals the API user's name or e-mail (the
same identity when both sign in through one directory). The names and uids derive from the API
user id, so a run finds what an earlier run made; it changes only what differs, and it deletes the
teams and folders (with their dashboard) of users who are no longer facility managers or have no
building left. What Grafana OSS can and cannot restrict: docs/dashboards.md, "Facility managers".

The API's tables are read through the API's own models (one definition of the users and the
assignments); this module is the one place outside ``api/`` that imports them.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field

from grafana_client import GrafanaApi
from grafana_client.client import GrafanaClientError
from sqlalchemy import select
from sqlalchemy.orm import Session

from api.db import Assignment, User
from api.security import Role
from dashboards import building, common
from dashboards.provisioning import as_json
from dashboards.push import ensure_folder

FM_PREFIX = "energy-fm-"
FM_DASHBOARD_PREFIX = "energy-building-fm-"
ROLE_TEAM_PREFIX = "energy-role-"
#: The API roles that see the whole city in Grafana; administrators are Grafana Admins instead.
CITY_ROLES = (Role.bureau_staff, Role.auditor)
#: Grafana's folder permission levels are 1 View, 2 Edit, 4 Admin; every team here only views.
VIEW = 1


@dataclass(frozen=True)
class Person:
    user_id: int
    name: str
    email: str | None


@dataclass(frozen=True)
class ManagerAccess:
    person: Person
    buildings: tuple[str, ...]

    @property
    def key(self) -> str:
        """Team name and folder uid."""
        return f"{FM_PREFIX}{self.person.user_id}"

    @property
    def dashboard_uid(self) -> str:
        return f"{FM_DASHBOARD_PREFIX}{self.person.user_id}"

    @property
    def folder_title(self) -> str:
        return f"Facility manager {self.person.name}"

    def dashboard(self) -> dict:
        d = building.build(uid=self.dashboard_uid, owner=self.person.name, buildings=list(self.buildings))
        return as_json(d)


@dataclass(frozen=True)
class AccessPlan:
    managers: tuple[ManagerAccess, ...]
    #: API role -> the users holding it, for the city-wide teams.
    city: dict[str, tuple[Person, ...]]


@dataclass
class Report:
    changes: list[str] = field(default_factory=list)
    #: API users no Grafana user matches (yet: a directory login creates them at first sign-in).
    unmatched: list[str] = field(default_factory=list)


def role_team(role: str) -> str:
    return f"{ROLE_TEAM_PREFIX}{role}"


def read_plan(session: Session) -> AccessPlan:
    users = session.scalars(select(User).order_by(User.id)).all()
    codes: dict[int, list[str]] = defaultdict(list)
    for a in session.scalars(select(Assignment).order_by(Assignment.user_id, Assignment.building_code)):
        codes[a.user_id].append(a.building_code)
    people = {u.id: Person(u.id, u.name, u.email) for u in users}
    managers = tuple(ManagerAccess(people[u.id], tuple(codes[u.id])) for u in users
                     if u.role == Role.facility_manager and codes[u.id])
    city = {role: tuple(people[u.id] for u in users if u.role == role) for role in CITY_ROLES}
    return AccessPlan(managers, city)


def _grafana_user_ids(api: GrafanaApi) -> dict[str, int]:
    """Lower-cased login and e-mail -> Grafana user id, over the organisation's users
    (``GET /api/org/users``: an org Admin's token may read it; ``/api/users/lookup`` needs a
    server admin)."""
    ids: dict[str, int] = {}
    for u in api.organization.get_current_organization_users():
        for key in (u.get("login"), u.get("email")):
            if key:
                ids[key.lower()] = u["userId"]
    return ids


def _match(people: tuple[Person, ...], ids: dict[str, int], report: Report) -> set[int]:
    found = set()
    for p in people:
        uid = ids.get(p.name.lower()) or (ids.get(p.email.lower()) if p.email else None)
        if uid is None:
            report.unmatched.append(f"{p.name} (API user {p.user_id})")
        else:
            found.add(uid)
    return found


def _team(api: GrafanaApi, name: str, existing: dict[str, dict], report: Report) -> int:
    if name in existing:
        return existing[name]["id"]
    team_id = api.teams.add_team({"name": name})["teamId"]
    report.changes.append(f"team {name} created")
    return team_id


def _members(api: GrafanaApi, team_id: int, name: str, want: set[int], report: Report) -> None:
    have = {m["userId"] for m in api.teams.get_team_members(team_id)}
    for uid in sorted(want - have):
        api.teams.add_team_member(team_id, uid)
        report.changes.append(f"team {name}: Grafana user {uid} added")
    for uid in sorted(have - want):
        api.teams.remove_team_member(team_id, uid)
        report.changes.append(f"team {name}: Grafana user {uid} removed")


def _folder(api: GrafanaApi, uid: str, title: str, report: Report) -> None:
    try:
        current = api.folder.get_folder(uid)
    except GrafanaClientError as e:
        if e.status_code != 404:
            raise
        api.folder.create_folder(title, uid=uid)
        report.changes.append(f"folder {uid} created")
        return
    if current.get("title") != title:
        api.folder.update_folder(uid, title=title, overwrite=True)
        report.changes.append(f"folder {uid} renamed to {title!r}")


def _viewers(api: GrafanaApi, folder_uid: str, team_ids: list[int], report: Report) -> None:
    """Only these teams may view the folder. Grafana's POST replaces every entry, so the
    default "every Viewer / Editor" entries of a new folder go too."""
    def entry(p: dict) -> tuple:
        return p.get("role") or "", p.get("teamId") or 0, p.get("userId") or 0, p["permission"]

    want = sorted(("", t, 0, VIEW) for t in team_ids)
    if sorted(entry(p) for p in api.folder.get_folder_permissions(folder_uid)) == want:
        return
    api.folder.update_folder_permissions(folder_uid, {"items": [{"teamId": t, "permission": VIEW}
                                                                for t in sorted(team_ids)]})
    report.changes.append(f"folder {folder_uid}: viewable by teams {sorted(team_ids)} only")


def _dashboard(api: GrafanaApi, model: dict, folder_uid: str, report: Report) -> None:
    def strip(d: dict) -> dict:
        return {k: v for k, v in d.items() if k not in ("id", "version")}

    try:
        stored = api.dashboard.get_dashboard(model["uid"])
    except GrafanaClientError as e:
        if e.status_code != 404:
            raise
        stored = None
    if (stored is not None and stored["meta"].get("folderUid") == folder_uid
            and strip(stored["dashboard"]) == strip(model)):
        return
    api.dashboard.update_dashboard({"dashboard": strip(model), "folderUid": folder_uid, "overwrite": True,
                                    "message": "python -m dashboards permissions"})
    report.changes.append(f"dashboard {model['uid']} saved in folder {folder_uid}")


def apply(api: GrafanaApi, plan: AccessPlan) -> Report:
    """Make Grafana match ``plan``; returns what changed (nothing on a second run)."""
    report = Report()
    ids = _grafana_user_ids(api)
    teams = {t["name"]: t for prefix in (FM_PREFIX, ROLE_TEAM_PREFIX)
             for t in api.teams.search_teams(query=prefix) if t["name"].startswith(prefix)}

    city_team_ids = []
    for role, people in plan.city.items():
        name = role_team(role)
        team_id = _team(api, name, teams, report)
        _members(api, team_id, name, _match(people, ids, report), report)
        city_team_ids.append(team_id)
    ensure_folder(api)
    _viewers(api, common.FOLDER_UID, city_team_ids, report)

    for m in plan.managers:
        team_id = _team(api, m.key, teams, report)
        _members(api, team_id, m.key, _match((m.person,), ids, report), report)
        # Permissions before the dashboard: a new folder is open to every Viewer until then.
        _folder(api, m.key, m.folder_title, report)
        _viewers(api, m.key, [team_id], report)
        _dashboard(api, m.dashboard(), m.key, report)

    wanted = {m.key for m in plan.managers}
    for f in api.folder.get_all_folders():
        if f["uid"].startswith(FM_PREFIX) and f["uid"] not in wanted:
            api.folder.delete_folder(f["uid"])  # with the dashboard in it
            report.changes.append(f"folder {f['uid']} deleted")
    for name, t in sorted(teams.items()):
        if name.startswith(FM_PREFIX) and name not in wanted:
            api.teams.delete_team(t["id"])
            report.changes.append(f"team {name} deleted")
    return report
