"""Publish the generated dashboards to a running Grafana over its HTTP API (grafana-client).

Idempotent: the folder is looked up by its fixed uid and created only when missing; each
dashboard is saved with ``overwrite=True`` under its fixed uid, so a second push updates the
same dashboard (Grafana bumps its version) and never creates a copy.
"""

from __future__ import annotations

from dataclasses import dataclass

from grafana_client import GrafanaApi
from grafana_client.client import GrafanaClientError

from dashboards import common


@dataclass(frozen=True)
class Pushed:
    uid: str
    version: int | None
    url: str | None


def ensure_folder(api: GrafanaApi, uid: str = common.FOLDER_UID, title: str = common.FOLDER_TITLE) -> None:
    try:
        api.folder.get_folder(uid)
    except GrafanaClientError as e:
        if e.status_code != 404:
            raise
        api.folder.create_folder(title, uid=uid)


def client(url: str, token: str, *, timeout_s: float = 10.0) -> GrafanaApi:
    """grafana-client on ``url`` with a service-account token (``Authorization: Bearer``)."""
    if not token:
        raise ValueError("a Grafana API token is required (--token or GRAFANA_TOKEN)")
    return GrafanaApi.from_url(url, credential=token, timeout=timeout_s)


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
    missing = [d.get("title", "?") for d in dashboards if not d.get("uid")]
    if missing:
        raise ValueError(f"dashboards without a uid cannot be pushed idempotently: {missing}")
    api = client(url, token, timeout_s=timeout_s)
    ensure_folder(api)
    out = []
    for d in dashboards:
        # A numeric id would tie the model to one Grafana instance; the uid is the identity.
        model = {k: v for k, v in d.items() if k not in ("id", "version")}
        r = api.dashboard.update_dashboard({"dashboard": model, "folderUid": common.FOLDER_UID,
                                            "overwrite": True, "message": message})
        out.append(Pushed(uid=r.get("uid", d["uid"]), version=r.get("version"), url=r.get("url")))
    return out
