"""The API service's settings, read from the environment (prefix ``EP_``).

Required secrets have no default. In ``development`` a missing secret falls back to a
placeholder so a demo runs with no setup; outside development a placeholder is refused at
start-up, so a production instance can never run with a well-known secret. Likewise production
refuses to serve plain HTTP (:meth:`Settings.transport_problem`): API keys and the review pages'
login cookie must never cross a network in clear.
"""

from __future__ import annotations

from enum import StrEnum
from functools import lru_cache
from pathlib import Path

from pydantic import Field, field_validator, model_validator

from analytics.audit import MIN_COVERAGE
from contract.broker import MqttConnection
from storage.settings import RollupSettings

#: Values that mark a secret as "not set by the operator".
PLACEHOLDER_SECRETS = frozenset({"", "changeme", "change-me", "secret", "development-only-secret"})
DEV_PLACEHOLDER = "development-only-secret"


class Environment(StrEnum):
    development = "development"
    production = "production"


class Settings(RollupSettings, MqttConnection):
    """The InfluxDB connection (``influx_*``, ``rollup_rp``) is every service's (storage/settings.py);
    the alert publisher's broker connection (``EP_MQTT_HOST``, ``EP_MQTT_TLS``, ...) is
    :class:`contract.broker.MqttConnection`'s."""

    env: Environment = Environment.development
    #: The registry's database; the API's own tables (users, keys, alerts, outbox) live beside it.
    #: None: the registry's own choice (``sqlite:///var/registry.db``).
    database_url: str | None = None
    #: Key for the HMAC-SHA256 signature of outgoing webhooks. Required outside development.
    webhook_signing_key: str | None = None
    #: Serve HTTPS with this certificate (PEM, with its chain) and key; ``python -m api serve
    #: --tls-cert-file/--tls-key-file`` set them too.
    tls_cert_file: Path | None = None
    tls_key_file: Path | None = None
    #: The API sits behind a reverse proxy that terminates TLS (and sets X-Forwarded-Proto):
    #: production may then listen in plain HTTP on its private network.
    behind_tls_proxy: bool = False
    smtp_host: str = "127.0.0.1"
    smtp_port: int = Field(default=25, ge=1, le=65535)
    smtp_sender: str = "alerts@energy-platform.invalid"
    #: Run the alert scheduler inside the API process (one process of a deployment should).
    run_scheduler: bool = False
    #: How often the scheduler evaluates all alert rules and drains the outbox.
    alert_interval_s: float = Field(default=900, gt=0)
    #: Wait after the scheduler starts before meter_offline and data_gap judge (a fleet still catching
    #: up after a start is not offline); unset: their own limit, gap_intervals x interval_s (1 h). [s]
    alert_silence_grace_s: float | None = Field(default=None, ge=0)
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
    #: The coverage rule's minimum (``EP_MIN_COVERAGE``, analytics.audit.MIN_COVERAGE, the one home):
    #: a disclosure whose data cover less than this share of the year's expected readings cannot be
    #: submitted, approved or published without a bureau override, and its public page says
    #: "insufficient data" instead of a reassuring verdict (docs/disclosure.md, Coverage).
    min_coverage: float = Field(default_factory=lambda: MIN_COVERAGE, gt=0, le=1)

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

    @field_validator("tls_cert_file", "tls_key_file", mode="before")
    @classmethod
    def _https_empty_is_unset(cls, v):  # not _empty_is_unset: that would replace MqttConnection's
        # ``EP_TLS_CERT_FILE=`` (compose behind a proxy) means "no certificate", not the current folder.
        return None if v == "" else v

    @model_validator(mode="after")
    def _https_files_consistent(self) -> Settings:
        if (self.tls_cert_file is None) != (self.tls_key_file is None):
            raise ValueError("HTTPS needs both EP_TLS_CERT_FILE and EP_TLS_KEY_FILE (or neither)")
        for f in (self.tls_cert_file, self.tls_key_file):
            if f is not None and not f.is_file():
                raise ValueError(f"TLS file {f} does not exist or is not a file")
        return self

    @property
    def serves_tls(self) -> bool:
        """Clients reach the API over HTTPS: served by uvicorn itself, or by a proxy in front."""
        return self.tls_cert_file is not None or self.behind_tls_proxy

    def transport_problem(self) -> str | None:
        """Why this configuration must not serve HTTP, or None. Checked where the API starts to
        serve (``python -m api serve`` and the app's start-up), not by the command-line tools that
        only read the settings."""
        if self.env is Environment.development or self.serves_tls:
            return None
        return (f"EP_ENV={self.env.value} refuses to serve the API over plain HTTP (API keys and login cookies "
                "would cross the network in clear). Give it a certificate: EP_TLS_CERT_FILE and EP_TLS_KEY_FILE "
                "(or `python -m api serve --tls-cert-file ... --tls-key-file ...`), or, when a reverse proxy "
                "terminates TLS in front of it, set EP_BEHIND_TLS_PROXY=true.")


@lru_cache
def get_settings() -> Settings:
    return Settings()
