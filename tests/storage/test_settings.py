"""The one InfluxDB connection settings class: names, credentials, misspelt variables."""

from __future__ import annotations

import logging

import pytest

from storage.settings import InfluxSettings, RollupSettings, misspelt_variables


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch):
    for var in list(__import__("os").environ):
        if var.startswith("EP_"):
            monkeypatch.delenv(var)


def test_reads_every_connection_variable(monkeypatch):
    for var, value in {"EP_INFLUX_URL": "http://db:8086", "EP_INFLUX_DB": "city", "EP_INFLUX_RP": "raw",
                       "EP_INFLUX_USERNAME": "svc", "EP_INFLUX_PASSWORD": "pw", "EP_INFLUX_TOKEN": "tok",
                       "EP_INFLUX_TIMEOUT_S": "7.5", "EP_ROLLUP_RP": "r2"}.items():
        monkeypatch.setenv(var, value)
    s = RollupSettings()
    assert (s.influx_url, s.influx_db, s.influx_rp, s.rollup_rp) == ("http://db:8086", "city", "raw", "r2")
    assert (s.influx_username, s.influx_password, s.influx_token, s.influx_timeout_s) == ("svc", "pw", "tok", 7.5)
    with s.influx() as raw, s.rollups() as rollups:
        assert (raw.username, raw.password, raw.token, raw.timeout_s) == ("svc", "pw", "tok", 7.5)
        assert (raw.retention_policy, rollups.retention_policy) == ("raw", "r2")


def test_misspelt_variable_is_named_with_the_setting_it_resembles():
    env = {"EP_INFLUX_USER": "svc", "EP_INFLUX_PASWORD": "pw", "EP_INFLUX_BUCKET": "b",
           "EP_INFLUX_URL": "http://x", "EP_WEBHOOK_SIGNING_KEY": "k", "EP_SOMETHING_ELSE": "1", "HOME": "/"}
    got = misspelt_variables(InfluxSettings, env)
    # EP_INFLUX_BUCKET resembles nothing but is in the InfluxDB namespace: reported without a hint.
    # EP_WEBHOOK_SIGNING_KEY is another service's (loaded here through api.settings if imported) or
    # far from every InfluxDB name; EP_SOMETHING_ELSE resembles nothing: neither is reported.
    assert got == {"EP_INFLUX_USER": "EP_INFLUX_USERNAME", "EP_INFLUX_PASWORD": "EP_INFLUX_PASSWORD",
                   "EP_INFLUX_BUCKET": None}


def test_misspelt_variable_is_logged_when_settings_are_built(monkeypatch, caplog):
    monkeypatch.setenv("EP_INFLUX_USERNAM", "svc")
    with caplog.at_level(logging.WARNING, logger="storage.settings"):
        s = InfluxSettings()
    assert s.influx_username is None
    assert "EP_INFLUX_USERNAM is not a setting of InfluxSettings" in caplog.text
    assert "did you mean EP_INFLUX_USERNAME?" in caplog.text


def test_settings_modules_build_nothing_at_import():
    # A settings object built at import time would read the environment before a test or a
    # command line could set it; these modules only define classes.
    import subprocess
    import sys

    code = ("import pydantic_settings as p; n = []; orig = p.BaseSettings.__init__\n"
            "def spy(self, *a, **k): n.append(type(self).__name__); orig(self, *a, **k)\n"
            "p.BaseSettings.__init__ = spy\n"
            "import storage.settings, ingest.settings, analytics.settings, api.settings, dashboards.common, api.app\n"
            "print(n)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"
