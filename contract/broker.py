"""How every part of the platform reaches the MQTT broker: one settings model, one client factory.

Ingest, the simulators' publisher and the API's alert publisher all connect through
:func:`make_client`, so plain MQTT, TLS (server verified against a CA file, or the system's CAs for
a publicly signed broker) and mutual TLS (a client certificate) behave the same everywhere.

:class:`MqttConnection` is a pydantic model whose field names carry the ``mqtt_`` prefix, so a
service's ``BaseSettings`` inherits it and reads ``EP_MQTT_HOST``, ``EP_MQTT_TLS``,
``EP_MQTT_CA_FILE``, ... from the environment with no second copy of the fields.
"""

from __future__ import annotations

import ssl
from pathlib import Path

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion, MQTTProtocolVersion
from pydantic import BaseModel, Field, field_validator, model_validator

#: IANA ports: MQTT in clear and MQTT over TLS.
PLAIN_PORT = 1883
TLS_PORT = 8883


class MqttConnection(BaseModel):
    """Where the broker is and how to prove who we are to it."""

    #: Host name or address of the broker.
    mqtt_host: str = "127.0.0.1"
    #: Port of the broker: 1883 in clear, 8883 over TLS.
    mqtt_port: int = Field(PLAIN_PORT, ge=1, le=65535)
    #: MQTT user name (per-device accounts: docs/security.md); None = anonymous.
    mqtt_username: str | None = None
    #: Password of that user; never logged.
    mqtt_password: str | None = Field(None, repr=False)
    #: Connect over TLS. The broker's certificate is verified (against ``mqtt_ca_file``, else the
    #: system's CAs) and so is its host name: there is no switch to skip either.
    mqtt_tls: bool = False
    #: The CA that signed the broker's certificate (PEM); None = the system's trusted CAs.
    mqtt_ca_file: Path | None = None
    #: Client certificate and key (PEM) for mutual TLS; the broker may take the certificate's
    #: common name as the MQTT user name (docs/security.md).
    mqtt_cert_file: Path | None = None
    #: The client certificate's private key (PEM), with ``mqtt_cert_file``.
    mqtt_key_file: Path | None = None

    @field_validator("mqtt_username", "mqtt_password", "mqtt_ca_file", "mqtt_cert_file", "mqtt_key_file",
                     mode="before")
    @classmethod
    def _empty_is_unset(cls, v):
        # An empty environment variable (``EP_MQTT_CA_FILE=`` in a compose file) means "not set",
        # not the current folder.
        return None if v == "" else v

    @model_validator(mode="after")
    def _tls_files_consistent(self) -> MqttConnection:
        tls_files = (self.mqtt_ca_file, self.mqtt_cert_file, self.mqtt_key_file)
        if any(tls_files) and not self.mqtt_tls:
            raise ValueError("mqtt_ca_file/mqtt_cert_file/mqtt_key_file are given but mqtt_tls is off; "
                             "set EP_MQTT_TLS=true (or --mqtt-tls) to use them")
        if (self.mqtt_cert_file is None) != (self.mqtt_key_file is None):
            raise ValueError("a client certificate needs both mqtt_cert_file and mqtt_key_file")
        for f in tls_files:
            if f is not None and not Path(f).is_file():
                raise ValueError(f"TLS file {f} does not exist or is not a file")
        return self

    @property
    def url(self) -> str:
        """For logs and messages: never holds a credential."""
        return f"{'mqtts' if self.mqtt_tls else 'mqtt'}://{self.mqtt_host}:{self.mqtt_port}"


def tls_context(conn: MqttConnection) -> ssl.SSLContext:
    """A client context that verifies the broker's certificate and host name (TLS 1.2 at least)."""
    ctx = ssl.create_default_context(ssl.Purpose.SERVER_AUTH,
                                     cafile=str(conn.mqtt_ca_file) if conn.mqtt_ca_file else None)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    if conn.mqtt_cert_file:
        ctx.load_cert_chain(str(conn.mqtt_cert_file), str(conn.mqtt_key_file))
    return ctx


def make_client(conn: MqttConnection, client_id: str, **kwargs) -> mqtt.Client:
    """A paho 2.x MQTT v5 client with ``conn``'s credentials and TLS set; ``kwargs`` go to
    ``mqtt.Client`` (e.g. ``manual_ack=True``). The caller connects with ``conn.mqtt_host`` and
    ``conn.mqtt_port``."""
    c = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id, protocol=MQTTProtocolVersion.MQTTv5, **kwargs)
    if conn.mqtt_username:
        c.username_pw_set(conn.mqtt_username, conn.mqtt_password)
    if conn.mqtt_tls:
        c.tls_set_context(tls_context(conn))
    return c
