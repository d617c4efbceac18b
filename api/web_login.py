"""Log-in by API key for the server-rendered pages (the disclosure review pages, the live building
page): one form, one cookie rule, for every page area.

The key goes into an ``HttpOnly``, ``SameSite=Strict`` cookie scoped to the area's path, and
``Secure`` whenever clients reach us over TLS, also when a proxy terminates it and the request
arrives here as http (``Settings.serves_tls``): the key must never travel back in clear.
"""

from __future__ import annotations

from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates

from api.disclosure.web import KEY_COOKIE, DSession
from api.security import authenticate

#: How long a page log-in lasts. [s]
COOKIE_MAX_AGE_S = 8 * 3600


class PageLogin:
    """The log-in, log-out and redirect of one page area (``/disclosures``, ``/live``)."""

    def __init__(self, *, area: str, home: str, after_logout: str, templates: Jinja2Templates):
        self.area, self.home, self.after_logout, self.templates = area, home, after_logout, templates

    def safe_next(self, next_url: str | None) -> str:
        # Only this area's paths: a crafted link must not bounce a fresh login to another site.
        if next_url and next_url.startswith(self.area) and "//" not in next_url:
            return next_url
        return self.home

    def redirect(self, request: Request) -> RedirectResponse:
        """To the log-in form, coming back to the page asked for."""
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        return RedirectResponse(f"{self.area}/login?next={quote(target, safe='')}", status_code=303)

    def add_routes(self, router: APIRouter) -> None:
        """``GET/POST {area}/login`` and ``POST {area}/logout`` on ``router`` (prefixed ``area``)."""

        @router.get("/login", response_class=HTMLResponse)
        def login_form(request: Request, next: str | None = None) -> HTMLResponse:  # noqa: A002 - the query name
            return self.templates.TemplateResponse(request, "login.html", {"next": self.safe_next(next), "error": None})

        @router.post("/login", response_class=HTMLResponse)
        def login(request: Request, session: DSession, api_key: Annotated[str, Form(max_length=200)],
                  next: Annotated[str | None, Form()] = None) -> Response:  # noqa: A002
            settings = request.app.state.settings
            user = authenticate(session, presented=api_key.strip(), cache_ttl_s=settings.key_cache_ttl_s)
            if user is None:
                return self.templates.TemplateResponse(request, "login.html", {
                    "next": self.safe_next(next),
                    "error": "密钥无效 The API key is unknown or revoked (code unauthenticated)"}, status_code=401)
            resp = RedirectResponse(self.safe_next(next), status_code=303)
            resp.set_cookie(KEY_COOKIE, api_key.strip(), httponly=True, samesite="strict", path=self.area,
                            secure=request.url.scheme == "https" or settings.serves_tls, max_age=COOKIE_MAX_AGE_S)
            return resp

        @router.post("/logout")
        def logout() -> RedirectResponse:
            resp = RedirectResponse(self.after_logout, status_code=303)
            resp.delete_cookie(KEY_COOKIE, path=self.area)
            return resp
