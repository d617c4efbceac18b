"""Publish the generated dashboards to a running Grafana over its HTTP API.

Idempotent: the folder is looked up by its fixed uid and created only when missing; each
dashboard is saved with ``overwrite=True`` under its fixed uid, so a second push updates the
same dashboard (Grafana bumps its version) and never creates a copy.

Three calls of Grafana's documented HTTP API (``GET /api/folders/{uid}``, ``POST /api/folders``,
``POST /api/dashboards/db``) with httpx, the project's HTTP client. grafana-client was dropped
for them: since 4.0 it depends on niquests, whose urllib3-future replaces the ``urllib3``
package in the environment (it re-copies itself over it at every interpreter start), and
``requests`` and schemathesis then fail on every request.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import quote

import httpx

from dashboards import common


class GrafanaError(RuntimeError):
    """Grafana answered with an error; ``status_code`` is the HTTP status (401: bad token)."""

    def __init__(self, status_code: int, method: str, path: str, body: str) -> None:
        super().__init__(f"Grafana answered {status_code} to {method} {path}: {body[:300]}")
        self.status_code = status_code


@dataclass(frozen=True)
class Pushed:
    uid: str
    version: int | None
    url: str | None


def _call(client: httpx.Client, method: str, path: str, body: dict | None = None) -> dict:
    r = client.request(method, path, json=body)
    if r.status_code >= 400:
        raise GrafanaError(r.status_code, method, path, r.text)
    return r.json()


def ensure_folder(client: httpx.Client, uid: str = common.FOLDER_UID, title: str = common.FOLDER_TITLE) -> None:
    try:
        _call(client, "GET", f"/api/folders/{quote(uid, safe='')}")
    except GrafanaError as e:
        if e.status_code != 404:
            raise
        _call(client, "POST", "/api/folders", {"uid": uid, "title": title})


def push(url: str, token: str, dashboards: list[dict], *, timeout_s: float = 10.0,
         message: str = "python -m dashboards push") -> list[Pushed]:
    """Create or update every dashboard in the energy-supervision folder.

    Parameters
    ----------
    url : str
        Grafana base URL, e.g. ``http://127.0.0.1:3000``.
    token : str
        A service-account token with the Editor role (sent as ``Authorization: Bearer``).
    dashboards : list of dict
        Dashboard JSON models, each with a ``uid``.
    timeout_s : float
        Per-request timeout. [s]
    """
    if not token:
        raise ValueError("a Grafana API token is required (--token or GRAFANA_TOKEN)")
    missing = [d.get("title", "?") for d in dashboards if not d.get("uid")]
    if missing:
        raise ValueError(f"dashboards without a uid cannot be pushed idempotently: {missing}")
    headers = {"Authorization": f"Bearer {token}", "Accept": "application/json"}
    out = []
    with httpx.Client(base_url=url.rstrip("/"), headers=headers, timeout=timeout_s) as client:
        ensure_folder(client)
        for d in dashboards:
            # A numeric id would tie the model to one Grafana instance; the uid is the identity.
            model = {k: v for k, v in d.items() if k not in ("id", "version")}
            r = _call(client, "POST", "/api/dashboards/db", {"dashboard": model, "folderUid": common.FOLDER_UID,
                                                             "overwrite": True, "message": message})
            out.append(Pushed(uid=r.get("uid", d["uid"]), version=r.get("version"), url=r.get("url")))
    return out
