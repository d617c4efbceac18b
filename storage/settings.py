"""The one InfluxDB connection settings class, shared by every service and command line.

Every process that talks to InfluxDB (ingest, the analytics rollup and report, the API and its
alert scheduler, the disclosure command, the dashboards building sync) builds its settings from a
subclass of :class:`InfluxSettings`, so one environment serves them all::

    EP_INFLUX_URL        http://127.0.0.1:8086
    EP_INFLUX_DB         energy
    EP_INFLUX_RP         retention policy of the raw data (the database's default when unset)
    EP_INFLUX_USERNAME   InfluxDB 1.x user (HTTP basic auth) ...
    EP_INFLUX_PASSWORD   ... and its password
    EP_INFLUX_TOKEN      sent as ``Authorization: Token ...`` (2.x / 3.x v1-compatible API)
    EP_INFLUX_TIMEOUT_S  one HTTP request [s]

Nothing here is instantiated at import time: a settings object reads the environment when a
service builds it, so tests and command lines can set variables first.

An ``EP_`` variable that no settings class of the process reads but that looks like one it does
(``EP_INFLUX_USER`` for ``EP_INFLUX_USERNAME``) is logged as a warning: a misspelt credential
would otherwise show up only as a 401 far from its cause.

Below the environment, every settings class (and the registry's database URL, registry/db.py)
reads the running platform's settings file, ``var/platform/platform.env``, which deploy/run.py
writes at start: a hand-run ``python -m registry export`` or ``python -m analytics report`` then
acts on the running platform, not on an empty default database. ``EP_PLATFORM_ENV`` names another
file; set it empty to read none. An ``EP_`` variable in the environment always wins over the file.
"""

from __future__ import annotations

import difflib
import inspect
import logging
import os
from pathlib import Path

from dotenv import dotenv_values
from pydantic import Field
from pydantic_settings import BaseSettings, DotEnvSettingsSource, PydanticBaseSettingsSource, SettingsConfigDict

from storage.influx import InfluxHTTP
from storage.private import write_private

log = logging.getLogger(__name__)

#: Retention policy of the analytics rollups (hourly, daily, the checkpoint) unless ``EP_ROLLUP_RP``
#: renames it; the raw data stays in the database's default policy. Shared by the rollup job (which
#: creates it), the API, the disclosure command and the generated dashboards.
ROLLUP_RP = "rollup"

PREFIX = "EP_"
#: How alike an unknown name must be to a known one to be called a misspelling (difflib ratio):
#: EP_INFLUX_USER ~ EP_INFLUX_USERNAME is 0.875; EP_MQTT_HOST ~ EP_SMTP_HOST (two real, distinct
#: settings of the API) is 0.83 and must not count.
MISSPELLING_RATIO = 0.85
_warned: set[str] = set()

#: Where deploy/run.py writes the running platform's ``EP_`` settings (mode 0600: it may hold
#: credentials); read by every process below its environment (module docstring).
PLATFORM_ENV_FILE = Path(__file__).resolve().parents[1] / "var" / "platform" / "platform.env"


def platform_env_file() -> Path | None:
    """The platform settings file to read: ``EP_PLATFORM_ENV`` (empty: none), else the default."""
    named = os.environ.get("EP_PLATFORM_ENV")
    if named is not None:
        return Path(named) if named else None
    return PLATFORM_ENV_FILE


def platform_env() -> dict[str, str]:
    """The variables of the platform settings file; empty when there is none."""
    path = platform_env_file()
    if path is None or not path.is_file():
        return {}
    return {k: v for k, v in dotenv_values(path).items() if v is not None}


def write_platform_env(path: Path, values: dict[str, str]) -> None:
    """Write ``values`` as the platform settings file (mode 0600, replaced whole)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    text = "# Written by deploy/run.py at start: the running platform's settings (docs/settings.md).\n"
    write_private(path, (text + "".join(f"{k}='{v}'\n" for k, v in sorted(values.items()))).encode())


def _all_subclasses(cls: type) -> list[type]:
    out = []
    for sub in cls.__subclasses__():
        out += [sub, *_all_subclasses(sub)]
    return out


def env_names(cls: type[BaseSettings]) -> set[str]:
    """The environment variables a settings class reads (field names and ``EP_`` aliases)."""
    names = set()
    for name, info in cls.model_fields.items():
        alias = info.validation_alias
        choices = getattr(alias, "choices", None) or ([alias] if isinstance(alias, str) else [])
        aliases = [a.upper() for a in choices if isinstance(a, str) and a.upper().startswith(PREFIX)]
        names.update(aliases or [PREFIX + name.upper()])
    return names


def misspelt_variables(cls: type[BaseSettings], environ: dict[str, str] | None = None) -> dict[str, str | None]:
    """``EP_`` variables of ``environ`` that ``cls`` ignores but that look meant for it:
    name -> the setting it resembles (None: an unknown ``EP_INFLUX_`` name close to nothing)."""
    environ = os.environ if environ is None else environ
    ours = env_names(cls)
    # A variable another settings class of this process reads is not a misspelling (one
    # environment serves every service: the API's EP_WEBHOOK_SIGNING_KEY reaches ingest too).
    known = set(ours)
    for other in _all_subclasses(EnvSettings):
        known |= env_names(other)
    out: dict[str, str | None] = {}
    for var in environ:
        name = var.upper()
        if not name.startswith(PREFIX) or name in known:
            continue
        # A shortened name (EP_INFLUX_USER) means the longer one, though EP_INFLUX_URL is as alike.
        close = sorted(k for k in ours if k.startswith(name)) or difflib.get_close_matches(
            name, sorted(ours), n=1, cutoff=MISSPELLING_RATIO)
        if close or name.startswith(PREFIX + "INFLUX_"):
            out[var] = close[0] if close else None
    return out


class EnvSettings(BaseSettings):
    """Base of every service's settings: ``EP_`` environment variables, misspellings warned about."""

    model_config = SettingsConfigDict(env_prefix=PREFIX, populate_by_name=True, extra="ignore")

    @classmethod
    def settings_customise_sources(cls, settings_cls: type[BaseSettings], init_settings: PydanticBaseSettingsSource,
                                   env_settings: PydanticBaseSettingsSource,
                                   dotenv_settings: PydanticBaseSettingsSource,
                                   file_secret_settings: PydanticBaseSettingsSource):
        # Arguments, then the environment, then the running platform's settings file.
        platform = DotEnvSettingsSource(settings_cls, env_file=platform_env_file())
        return init_settings, env_settings, platform, file_secret_settings

    def model_post_init(self, context: object, /) -> None:
        for var, meant in misspelt_variables(type(self)).items():
            if var in _warned:
                continue
            _warned.add(var)
            hint = f"; did you mean {meant}?" if meant else ""
            log.warning("environment variable %s is not a setting of %s and is ignored%s",
                        var, type(self).__name__, hint)


class InfluxSettings(EnvSettings):
    """Where the time series live and how to authenticate (see the module docstring)."""

    #: Base URL of InfluxDB (``/write`` and ``/query`` are appended).
    influx_url: str = "http://127.0.0.1:8086"
    #: Database of the platform's time series.
    influx_db: str = Field("energy", min_length=1)
    #: Retention policy of the raw readings; None = the database's default policy.
    influx_rp: str | None = None
    #: User for InfluxDB 1.x authentication (with ``influx_password``).
    influx_username: str | None = None
    #: Password of that user; never logged.
    influx_password: str | None = None
    #: Token for InfluxDB 2.x/3.x (instead of user and password).
    influx_token: str | None = None
    #: One HTTP request to InfluxDB. [s]
    influx_timeout_s: float = Field(30.0, gt=0)

    def influx(self, retention_policy: str | None = None) -> InfluxHTTP:
        """A client of the database, in ``retention_policy`` (default: ``influx_rp``)."""
        return InfluxHTTP(self.influx_url, self.influx_db, retention_policy=retention_policy or self.influx_rp,
                          username=self.influx_username, password=self.influx_password, token=self.influx_token,
                          timeout_s=self.influx_timeout_s)


class RollupSettings(InfluxSettings):
    """InfluxDB settings of a process that also reads or writes the analytics rollups."""

    #: Retention policy of the rollups (``EP_ROLLUP_RP``); the raw data stays in ``influx_rp``.
    rollup_rp: str = Field(ROLLUP_RP, min_length=1)

    def rollups(self) -> InfluxHTTP:
        """A client of the rollup retention policy."""
        return self.influx(self.rollup_rp)


def field_help(cls: type, name: str) -> str:
    """Help text of a settings field for ``--help``: its ``Field(description=)``, else the ``#:``
    comment written above it in the class (or a base class) that declares it, so the one
    description next to the field serves both readers of the code and of the command line."""
    info = cls.model_fields[name]
    if info.description:
        return info.description
    for klass in cls.__mro__:
        if name not in getattr(klass, "__annotations__", {}):
            continue
        try:
            lines = inspect.getsource(klass).splitlines()
        except (OSError, TypeError):
            continue
        for i, line in enumerate(lines):
            if line.strip().startswith(f"{name}:"):
                doc = []
                j = i - 1
                while j >= 0 and lines[j].strip().startswith("#:"):
                    doc.insert(0, lines[j].strip()[2:].strip())
                    j -= 1
                if doc:
                    return " ".join(doc).replace("%", "%%")  # argparse formats help with %
                break
        # Declared again without a comment (an alias added, say): the base class may describe it.
    return ""


def field_env(cls: type, name: str) -> str:
    """The ``EP_`` environment variable(s) a settings field reads, for ``--help``."""
    alias = cls.model_fields[name].validation_alias
    named = [c for c in getattr(alias, "choices", [alias]) if isinstance(c, str) and c.startswith("EP_")]
    return " or ".join(named) if named else f"{PREFIX}{name.upper()}"


def option_help(cls: type, name: str) -> str:
    """``--help`` text of a settings field: what it is, its variable and its default."""
    default = cls.model_fields[name].get_default(call_default_factory=True)
    shown = "unset" if default is None else repr(default)
    return f"{field_help(cls, name)} [{field_env(cls, name)}; default {shown}]".lstrip()
