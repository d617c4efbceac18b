"""Settings of the analytics jobs: command line > environment > defaults. The InfluxDB variables
are the ingest service's (``EP_INFLUX_URL``, ``EP_INFLUX_DB``, ...), so one environment serves both."""

from __future__ import annotations

from pydantic import AliasChoices, Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from analytics.rollup import ROLLUP_RP
from contract.localtime import TZ_NAME
from storage.influx import InfluxHTTP


class AnalyticsSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="EP_", populate_by_name=True, extra="ignore")

    influx_url: str = "http://127.0.0.1:8086"
    influx_db: str = "energy"
    influx_rp: str | None = None
    influx_username: str | None = None
    influx_password: str | None = None
    influx_token: str | None = None
    influx_timeout_s: float = Field(120.0, gt=0)
    #: Retention policy of the rollups (``EP_ROLLUP_RP``), created by the rollup job when missing;
    #: the raw data stays in ``influx_rp`` (the database's default policy when None). Year-long
    #: shard groups keep annual queries fast (docs/analytics.md).
    rollup_rp: str = Field(ROLLUP_RP, min_length=1)
    #: Registry database (SQLAlchemy URL); default ``sqlite:///var/registry.db``.
    registry_url: str | None = Field(None, validation_alias=AliasChoices("registry_url", "REGISTRY_DATABASE_URL"))
    tz: str = TZ_NAME

    def influx(self, rollups: bool = False) -> InfluxHTTP:
        """Client of the raw data, or with ``rollups`` of the rollup retention policy."""
        rp = self.rollup_rp if rollups else self.influx_rp
        return InfluxHTTP(self.influx_url, self.influx_db, retention_policy=rp,
                          username=self.influx_username, password=self.influx_password, token=self.influx_token,
                          timeout_s=self.influx_timeout_s)
