"""A small InfluxDB HTTP client over the API every version speaks: ``/write`` and ``/query``.

Reusable outside ingest (analytics and the API import it for InfluxQL queries)::

    db = InfluxHTTP("http://127.0.0.1:8086", database="energy")
    rows = db.query("SELECT last(register_kwh) FROM meter WHERE device_id = $d", params={"d": "E-1"})

Authentication: ``username``/``password`` (InfluxDB 1.x, sent as HTTP basic auth) or ``token``
(sent as ``Authorization: Token <token>``, what 2.x and 3.x accept on their v1-compatible API).
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import httpx

from storage.clip import clip


def quote_ident(name: str) -> str:
    """An InfluxQL identifier in double quotes, with backslash and quote escaped.

    >>> quote_ident('my "db"')
    '"my \\\\"db\\\\""'
    """
    if not name:
        raise ValueError("an InfluxQL identifier cannot be empty")
    if "\n" in name:
        raise ValueError(f"identifier {name!r} contains a newline")
    return '"' + name.replace("\\", "\\\\").replace('"', '\\"') + '"'


def quote_literal(value: str) -> str:
    """An InfluxQL string literal in single quotes, with backslash and quote escaped."""
    if "\n" in value:
        raise ValueError(f"string literal {value!r} contains a newline")
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


class InfluxError(RuntimeError):
    """An answer from InfluxDB that is not a success; ``status`` is the HTTP status (0: no answer)."""

    def __init__(self, status: int, body: str):
        # Said first, so that a caller that shortens the text keeps it.
        hint = " (credentials refused or missing: EP_INFLUX_USERNAME / EP_INFLUX_PASSWORD or EP_INFLUX_TOKEN)" \
            if status in (401, 403) else ""
        super().__init__(f"InfluxDB answered {status}{hint}: {clip(body, 500)}")
        self.status = status
        self.body = body

    @property
    def retryable(self) -> bool:
        """429, 5xx and no answer at all are worth retrying; other 4xx are about the request."""
        return self.status == 0 or self.status == 429 or self.status >= 500

    @property
    def unauthorized(self) -> bool:
        """Missing or wrong credentials (401), or a user without the right (403)."""
        return self.status in (401, 403)

    @property
    def partial_write(self) -> bool:
        return self.status == 400 and "partial write" in self.body

    @property
    def database_not_found(self) -> bool:
        return self.status == 404 and "database not found" in self.body


@dataclass
class InfluxHTTP:
    """``/write`` (line protocol, ms precision) and ``/query`` (InfluxQL) on one database.

    Parameters
    ----------
    url : str
        Base URL, e.g. ``http://127.0.0.1:8086``.
    database : str
        Database (InfluxDB 2.x: the database name mapped to a bucket).
    retention_policy : str, optional
        Retention policy; the database default when None.
    timeout_s : float
        Timeout of one HTTP request. [s]
    """

    url: str
    database: str
    retention_policy: str | None = None
    username: str | None = None
    password: str | None = None
    token: str | None = None
    timeout_s: float = 30.0

    def __post_init__(self) -> None:
        headers = {"Authorization": f"Token {self.token}"} if self.token else {}
        auth = (self.username, self.password or "") if self.username and not self.token else None
        self._http = httpx.Client(base_url=self.url.rstrip("/"), headers=headers, auth=auth,
                                  timeout=self.timeout_s)

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> InfluxHTTP:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def _params(self, **extra: str) -> dict[str, str]:
        p = {"db": self.database, **extra}
        if self.retention_policy:
            p["rp"] = self.retention_policy
        return p

    def write_lines(self, lines: list[str] | bytes) -> None:
        """POST line protocol (ms precision); returns on 204, raises :class:`InfluxError` otherwise.

        Connection failures raise ``InfluxError`` with status 0, so callers retry one way.
        """
        body = lines if isinstance(lines, bytes) else "\n".join(lines).encode("utf-8")
        try:
            r = self._http.post("/write", params=self._params(precision="ms"), content=body)
        except httpx.HTTPError as e:
            raise InfluxError(0, f"{type(e).__name__}: {e}") from None
        if r.status_code != 204:
            raise InfluxError(r.status_code, r.text)

    def query_raw(self, influxql: str, params: dict[str, object] | None = None, *,
                  epoch: str | None = "ms", post: bool = False) -> list[dict]:
        """Run one or more ``;``-separated statements; one result dict per statement.

        ``params`` are bound server-side (``$name`` in the query), so values need no quoting.
        Raises :class:`InfluxError` on an HTTP error or when a statement reports an error.
        """
        q = self._params(q=influxql)
        if epoch:
            q["epoch"] = epoch
        if params:
            q["params"] = json.dumps(params)
        try:
            r = self._http.post("/query", data=q) if post else self._http.get("/query", params=q)
        except httpx.HTTPError as e:
            raise InfluxError(0, f"{type(e).__name__}: {e}") from None
        if r.status_code != 200:
            raise InfluxError(r.status_code, r.text)
        body = r.json()
        if "error" in body:
            raise InfluxError(400, body["error"])
        results = body.get("results", [])
        for res in results:
            if "error" in res:
                raise InfluxError(400, f"statement {res.get('statement_id')}: {res['error']}")
        return results

    def query(self, influxql: str, params: dict[str, object] | None = None, *,
              epoch: str | None = "ms") -> list[dict]:
        """Series of a query as dicts ``{name, tags, columns, values}`` (all statements together).

        Times are integers in ``epoch`` units (ms by default); ``epoch=None`` gives RFC 3339 text.
        """
        out: list[dict] = []
        for res in self.query_raw(influxql, params, epoch=epoch):
            for s in res.get("series", []):
                out.append({"name": s.get("name"), "tags": s.get("tags", {}), "columns": s["columns"],
                            "values": s["values"]})
        return out

    def create_database(self) -> None:
        """``CREATE DATABASE`` (a no-op when it exists)."""
        self.query_raw(f"CREATE DATABASE {quote_ident(self.database)}", epoch=None, post=True)

    def ping(self) -> bool:
        try:
            return self._http.get("/ping").status_code == 204
        except httpx.HTTPError:
            return False
