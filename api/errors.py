"""One error shape for every 4xx the API returns.

``{"code": "not_found", "message": "building 510402A999 does not exist", "field": "building_code"}``

``code`` is stable and machine-readable; ``message`` names the bad field or value; ``field``
is the offending parameter (dotted for nested body fields) or null.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from starlette.exceptions import HTTPException as StarletteHTTPException


class ErrorBody(BaseModel):
    code: str
    message: str
    field: str | None = None


class APIError(Exception):
    """Raised by routes; turned into ``ErrorBody`` JSON with ``status``."""

    def __init__(self, status: int, code: str, message: str, field: str | None = None,
                 headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.field, self.headers = status, code, message, field, headers


def not_found(what: str, value: Any, field: str) -> APIError:
    return APIError(404, "not_found", f"{what} {value} does not exist", field)


_STATUS_CODES = {400: "bad_request", 401: "unauthenticated", 403: "forbidden", 404: "not_found",
                 405: "method_not_allowed", 409: "conflict", 413: "too_large", 415: "unsupported_media_type",
                 422: "invalid_value"}


def _field_of(loc: tuple | list) -> str | None:
    # FastAPI prefixes the location ("query", "path", "body"); the caller wants the parameter.
    parts = [str(p) for p in loc if p not in ("query", "path", "body", "header", "cookie")]
    return ".".join(parts) or None


def install(app: FastAPI) -> None:
    """Register the handlers that give every error the ``ErrorBody`` shape."""

    @app.exception_handler(APIError)
    async def _api_error(_: Request, exc: APIError) -> JSONResponse:
        body = ErrorBody(code=exc.code, message=exc.message, field=exc.field)
        return JSONResponse(body.model_dump(), status_code=exc.status, headers=exc.headers)

    @app.exception_handler(RequestValidationError)
    async def _validation(_: Request, exc: RequestValidationError) -> JSONResponse:
        errors = exc.errors()
        first = errors[0] if errors else {"loc": (), "msg": "invalid request"}
        field = _field_of(first.get("loc", ()))
        message = f"{field or 'request'}: {first.get('msg', 'invalid')}"
        if "input" in first and first.get("type") != "missing" and len(repr(first["input"])) < 80:
            message += f" (got {first['input']!r})"
        if len(errors) > 1:
            message += f"; and {len(errors) - 1} more problem(s)"
        return JSONResponse(ErrorBody(code="invalid_value", message=message, field=field).model_dump(),
                            status_code=422)

    @app.exception_handler(StarletteHTTPException)
    async def _http(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = _STATUS_CODES.get(exc.status_code, "http_error")
        return JSONResponse(ErrorBody(code=code, message=str(exc.detail)).model_dump(),
                            status_code=exc.status_code, headers=getattr(exc, "headers", None))
