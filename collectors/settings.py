"""Settings of the collector gateway: command line > environment > defaults.

Gateway options use ``EP_COLLECTORS_...``; the broker and the registry use the platform's
``EP_MQTT_*`` (contract/broker.py: host, port, credentials, TLS; docs/security.md) and
``EP_DATABASE_URL`` like every other service.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from pydantic import AliasChoices, Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from contract.broker import MqttConnection
from storage.settings import option_help


def _env(name: str, env: str) -> AliasChoices:
    return AliasChoices(name, env)


class GatewaySettings(BaseSettings, MqttConnection):
    model_config = SettingsConfigDict(env_prefix="EP_COLLECTORS_", populate_by_name=True, extra="ignore")

    #: Address the data centre listens on (collectors connect from the buildings' networks).
    host: str = "0.0.0.0"  # noqa: S104 - collectors connect from the buildings' networks
    #: TCP port of the data centre; 8808 is one of the ports seen in deployments; 0 = any free port.
    port: int = Field(8808, ge=0, le=65535)
    #: Profile name in collectors/profiles or a file path (docs/collectors.md, "Profiles").
    profile: str = "default"
    mqtt_host: str = Field("127.0.0.1", validation_alias=_env("mqtt_host", "EP_MQTT_HOST"))
    mqtt_port: int = Field(1883, ge=1, le=65535, validation_alias=_env("mqtt_port", "EP_MQTT_PORT"))
    mqtt_username: str | None = Field(None, validation_alias=_env("mqtt_username", "EP_MQTT_USERNAME"))
    mqtt_password: str | None = Field(None, repr=False, validation_alias=_env("mqtt_password", "EP_MQTT_PASSWORD"))
    mqtt_tls: bool = Field(False, validation_alias=_env("mqtt_tls", "EP_MQTT_TLS"))
    mqtt_ca_file: Path | None = Field(None, validation_alias=_env("mqtt_ca_file", "EP_MQTT_CA_FILE"))
    mqtt_cert_file: Path | None = Field(None, validation_alias=_env("mqtt_cert_file", "EP_MQTT_CERT_FILE"))
    mqtt_key_file: Path | None = Field(None, validation_alias=_env("mqtt_key_file", "EP_MQTT_KEY_FILE"))
    #: MQTT client id of the gateway's publisher.
    client_id: str = "collectors-1"
    #: Registry database (SQLAlchemy URL) holding the collectors and their points.
    registry_url: str | None = Field(None, validation_alias=_env("registry_url", "EP_DATABASE_URL"))
    #: Largest packet payload (encrypted XML) accepted; larger ones close the connection. [bytes]
    max_packet_bytes: int = Field(256 * 1024, ge=1024)
    #: Sustained packets per second per connection, and the burst above it; a faster collector is
    #: slowed down (its packets wait), not dropped: a month's resend must not cost its link. [1/s], [1]
    packets_per_s: float = Field(200.0, gt=0)
    #: Packets a connection may send at once above that rate before it is slowed down. [1]
    packet_burst: int = Field(1000, ge=1)
    #: A connection must pass authentication within this time. [s]
    auth_timeout_s: float = Field(30.0, gt=0)
    #: A connection with no packet for this long is closed (collectors send heartbeats). [s]
    idle_timeout_s: float = Field(600.0, gt=0)
    #: How long a data packet waits for the broker's acknowledgement of its readings; without it
    #: the packet is not acknowledged and the collector sends it again. [s]
    ack_timeout_s: float = Field(30.0, gt=0)
    #: Collection period sent to each collector after it authenticates (config/period). [min]
    period_min: int = Field(15, ge=3, le=60)
    #: Readings timed further ahead of the gateway clock are refused (future_time). [s]
    future_tolerance_s: float = Field(300.0, ge=0)
    #: How often the registry is read again (new collectors, keys, mappings). [s]
    refresh_s: float = Field(60.0, gt=0)
    #: Collector connections held at once; more are refused. [1]
    max_connections: int = Field(20_000, ge=1)
    #: Upstream forwarding (docs/collectors.md, "Upstream"): a YAML file; none = off.
    upstream: str | None = None
    #: Python log level of the JSON logs.
    log_level: str = "INFO"


def parse_args(argv: list[str] | None = None) -> GatewaySettings:
    ap = argparse.ArgumentParser(prog="python -m collectors serve", description="MOHURD collector gateway")
    for name, info in GatewaySettings.model_fields.items():
        typ, flag, text = info.annotation, "--" + name.replace("_", "-"), option_help(GatewaySettings, name)
        if typ is bool:  # a switch: --mqtt-tls
            ap.add_argument(flag, dest=name, action="store_const", const=True, default=None, help=text)
            continue
        kind = int if typ is int else float if typ is float else str
        ap.add_argument(flag, dest=name, type=kind, default=None, help=text)
    args = ap.parse_args(argv)
    return GatewaySettings(**{k: v for k, v in vars(args).items() if v is not None})
