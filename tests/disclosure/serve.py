"""The app the disclosure tests serve with a real uvicorn: the API's own ``create_app``.

Until the API's app factory includes the disclosure router (one line in api/app.py), it is
included here, so the tests exercise exactly what production will serve.
"""

from __future__ import annotations

from fastapi import FastAPI

from api import disclosure
from api.app import create_app


def make_app() -> FastAPI:
    app = create_app()
    included = any(getattr(r, "original_router", None) is disclosure.router
                   or str(getattr(r, "path", "")).startswith("/disclosures") for r in app.routes)
    if not included:
        app.include_router(disclosure.router)
    return app
