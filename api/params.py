"""Validated types for path and query parameters, shared by every route.

A parameter is declared with one of these types, so FastAPI converts and checks it before the
route runs and a bad value is a 422 ``{code, message, field}`` naming the parameter (the handler
in ``api/errors.py``), never a 500 from a conversion further in. Text is never checked by hand
and converted afterwards: ``"²".isdigit()`` is true and ``int("²")`` raises, and Python's ``$``
matches before a trailing newline. Pydantic parses integers and times from ASCII only and its
patterns anchor ``$`` at the very end.

The public disclosure pages take form values where an empty string means "all";
``validate_form`` checks those against the same types.
"""

from __future__ import annotations

import re
from typing import Annotated, Any

from pydantic import AfterValidator, AwareDatetime, BaseModel, Field, ValidationError

from api.errors import APIError
from contract.vocabulary import BuildingCode, DeviceId
from storage.timerange import check_storable

__all__ = ["BuildingCode", "DbId", "DeviceId", "FilterText", "StorageTime", "Year", "validate_form"]

#: C0 and C1 control characters and DEL: never part of a name, a district or a search.
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


def _no_control(v: str) -> str:
    if _CONTROL.search(v):
        raise ValueError("must not contain control characters")
    return v


#: A calendar year the platform reports on.
Year = Annotated[int, Field(ge=2000, le=2100, description="calendar year, 2000..2100")]
#: A database row id (the tables' integer keys are 32-bit signed).
DbId = Annotated[int, Field(ge=1, le=2**31 - 1)]
#: Free text that filters or searches (district, name): no control characters, at most 100 characters.
FilterText = Annotated[str, Field(max_length=100), AfterValidator(_no_control)]
#: A time with its zone, within what InfluxDB can store; given back in UTC.
StorageTime = Annotated[AwareDatetime, AfterValidator(check_storable)]


def validate_form(model: type[BaseModel], values: dict[str, Any]) -> BaseModel:
    """``model`` from form or query strings where an empty (or blank) value means "not given";
    the first problem becomes a 422 ``APIError`` naming its field."""
    given = {k: v.strip() for k, v in values.items() if isinstance(v, str) and v.strip()}
    try:
        return model.model_validate(given)
    except ValidationError as exc:
        first = exc.errors()[0]
        field = str(first["loc"][0]) if first["loc"] else "request"  # the form field, not a union branch
        raise APIError(422, "invalid_value", f"{field}: {given.get(field)!r} is not valid: {first['msg']}"[:300],
                       field) from None
