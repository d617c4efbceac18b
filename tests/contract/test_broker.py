"""The one MQTT connection model: its checks hold in every service's settings that inherit it."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from api.settings import Settings
from contract.broker import MqttConnection, make_client
from deploy.tls import ensure_server_cert
from ingest.settings import IngestSettings


@pytest.mark.parametrize("model", [MqttConnection, IngestSettings, Settings])
def test_tls_files_without_tls_are_refused(model, tmp_path):
    ca = ensure_server_cert(tmp_path / "ca").ca
    with pytest.raises(ValidationError, match="mqtt_tls is off"):
        model(mqtt_ca_file=ca)


@pytest.mark.parametrize("model", [MqttConnection, IngestSettings, Settings])
def test_missing_file_and_half_a_client_certificate_are_refused(model, tmp_path):
    files = ensure_server_cert(tmp_path / "ca")
    with pytest.raises(ValidationError, match="does not exist"):
        model(mqtt_tls=True, mqtt_ca_file=tmp_path / "nope.pem")
    with pytest.raises(ValidationError, match="both mqtt_cert_file and mqtt_key_file"):
        model(mqtt_tls=True, mqtt_cert_file=files.cert)


@pytest.mark.parametrize("model", [IngestSettings, Settings])
def test_settings_read_the_connection_from_the_environment(model, tmp_path, monkeypatch):
    ca = ensure_server_cert(tmp_path / "ca").ca
    monkeypatch.setenv("EP_MQTT_TLS", "true")
    monkeypatch.setenv("EP_MQTT_PORT", "8883")
    monkeypatch.setenv("EP_MQTT_CA_FILE", str(ca))
    monkeypatch.setenv("EP_MQTT_CERT_FILE", "")  # empty = unset (compose files), not the current folder
    s = model()
    assert (s.mqtt_tls, s.mqtt_port, s.mqtt_ca_file, s.mqtt_cert_file) == (True, 8883, ca, None)
    assert s.url == "mqtts://127.0.0.1:8883"


def test_password_stays_out_of_repr_and_url():
    conn = MqttConnection(mqtt_username="dev", mqtt_password="s3cret-pw")
    assert "s3cret-pw" not in repr(conn) and "s3cret-pw" not in conn.url


def test_client_verifies_the_broker_certificate_and_host_name(tmp_path):
    files = ensure_server_cert(tmp_path / "ca")
    c = make_client(MqttConnection(mqtt_tls=True, mqtt_ca_file=files.ca), "t")
    ctx = c._ssl_context  # paho keeps the context it will wrap the socket with
    assert ctx.check_hostname and ctx.verify_mode.name == "CERT_REQUIRED"
