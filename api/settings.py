"""The API service's settings, read from the environment (prefix ``EP_``).

Required secrets have no default. In ``development`` a missing secret falls back to a
placeholder so a demo runs with no setup; outside development a placeholder is refused at
start-up, so a production instance can never run with a well-known secret.
"""

from __future__ import annotations

from enum import StrEnum
from functools import lru_cache

from pydantic import Field, model_validator

from storage.settings import RollupSettings

#: Values that mark a secret as "not set by the operator".
PLACEHOLDER_SECRETS = frozenset({"", "changeme", "change-me", "secret", "development-only-secret"})
DEV_PLACEHOLDER = "development-only-secret"


class Environment(StrEnum):
    development = "development"
    production = "production"


class Settings(RollupSettings):
    """The InfluxDB connection (``influx_*``, ``rollup_rp``) is every service's (storage/settings.py)."""

    env: Environment = Environment.development
    #: The registry's database; the API's own tables (users, keys, alerts, outbox) live beside it.
    #: None: the registry's own choice (``REGISTRY_DATABASE_URL``, else ``sqlite:///var/registry.db``).
    database_url: str | None = None
    #: Key for the HMAC-SHA256 signature of outgoing webhooks. Required outside development.
    webhook_signing_key: str | None = None
    mqtt_host: str = "127.0.0.1"
    mqtt_port: int = Field(default=1883, ge=1, le=65535)
    smtp_host: str = "127.0.0.1"
    smtp_port: int = Field(default=25, ge=1, le=65535)
    smtp_sender: str = "alerts@energy-platform.invalid"
    #: Run the alert scheduler inside the API process (one process of a deployment should).
    run_scheduler: bool = False
    #: How often the scheduler evaluates all alert rules and drains the outbox.
    alert_interval_s: float = Field(default=900, gt=0)
    outbox_interval_s: float = Field(default=10, gt=0)
    #: Capped exponential backoff of the delivery outbox: base * 2**attempts, at most the cap.
    outbox_backoff_base_s: float = Field(default=5, gt=0)
    outbox_backoff_cap_s: float = Field(default=3600, gt=0)
    #: Verified API keys are cached this long so a request does not pay for scrypt each time;
    #: a revoked key stops working after at most this delay on other processes.
    key_cache_ttl_s: float = Field(default=60, ge=0)
    #: City-wide indicator and audit frames are reused this long (they change with the daily rollups).
    indicator_cache_ttl_s: float = Field(default=300, ge=0)
    #: Largest page a list endpoint returns.
    max_page_limit: int = Field(default=1000, ge=1)

    @model_validator(mode="after")
    def _refuse_placeholder_secrets(self) -> Settings:
        if self.webhook_signing_key is None or self.webhook_signing_key in PLACEHOLDER_SECRETS:
            if self.env is not Environment.development:
                raise ValueError(
                    "EP_WEBHOOK_SIGNING_KEY must be set to a real secret when EP_ENV="
                    f"{self.env.value} (got {'nothing' if self.webhook_signing_key is None else 'a placeholder'})"
                )
            self.webhook_signing_key = DEV_PLACEHOLDER
        return self


@lru_cache
def get_settings() -> Settings:
    return Settings()
