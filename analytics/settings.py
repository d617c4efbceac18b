"""Settings of the analytics jobs: command line > environment > defaults. The InfluxDB connection
is every service's (storage/settings.py: ``EP_INFLUX_URL``, ``EP_INFLUX_DB``, ...), so one
environment serves them all."""

from __future__ import annotations

from pydantic import AliasChoices, Field

from contract.localtime import TZ_NAME
from storage.settings import RollupSettings


class AnalyticsSettings(RollupSettings):
    #: Whole-year queries take longer than one API request. [s]
    influx_timeout_s: float = Field(120.0, gt=0)
    #: Registry database (SQLAlchemy URL); default ``sqlite:///var/registry.db``.
    registry_url: str | None = Field(None, validation_alias=AliasChoices("registry_url", "EP_DATABASE_URL"))
    tz: str = TZ_NAME
