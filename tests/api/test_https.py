"""The API over real HTTPS (``python -m api serve --tls-cert-file ... --tls-key-file ...``):
its certificate verifies against the platform's CA, HSTS is sent, the review pages' login
cookie is Secure, HttpOnly and SameSite; production refuses plain HTTP unless behind a TLS proxy."""

from __future__ import annotations

import os
import ssl
import subprocess
import sys
import time
from http.cookies import SimpleCookie
from pathlib import Path

import httpx
import pytest

from deploy.localservers import free_port
from deploy.tls import ensure_server_cert

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.servers


@pytest.fixture
def env(tmp_path, influxd) -> dict[str, str]:
    return {**os.environ, "EP_ENV": "production", "EP_DATABASE_URL": f"sqlite:///{tmp_path}/registry.db",
            "EP_INFLUX_URL": influxd.url, "EP_WEBHOOK_SIGNING_KEY": "https-test-signing-key"}


def _run(env, *args) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "api", *args], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=120)


class Served:
    def __init__(self, env, *args: str):
        self.port = free_port()
        self.proc = subprocess.Popen([sys.executable, "-m", "api", "serve", "--host", "127.0.0.1", "--port",
                                      str(self.port), "--no-access-log", *args], cwd=ROOT, env=env,
                                     stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)

    def wait(self, url: str, verify) -> None:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"the API exited {self.proc.returncode}: {self.proc.stderr.read().decode()}")
            try:
                httpx.get(f"{url}/health", timeout=1, verify=verify)
                return
            except httpx.HTTPError:
                time.sleep(0.2)
        raise TimeoutError("the API did not answer")

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(15)


def _login_cookie(client: httpx.Client, key: str) -> dict[str, str]:
    r = client.post("/disclosures/login", data={"api_key": key, "next": "/disclosures/review"})
    assert r.status_code == 303, r.text
    morsel = SimpleCookie(r.headers["set-cookie"])["ep_key"]
    return {"secure": morsel["secure"], "httponly": morsel["httponly"], "samesite": morsel["samesite"].lower()}


def test_api_over_https_with_its_certificate(env, tmp_path):
    tls = ensure_server_cert(tmp_path / "ca")
    key = _run(env, "create-admin", "--name", "admin").stdout.strip()
    assert key.startswith("ep_")
    api = Served(env, "--tls-cert-file", str(tls.cert), "--tls-key-file", str(tls.key))
    try:
        url = f"https://127.0.0.1:{api.port}"
        api.wait(url, verify=ssl.create_default_context(cafile=tls.ca))
        with httpx.Client(base_url=url, verify=ssl.create_default_context(cafile=tls.ca), timeout=10) as c:
            me = c.get("/users/me", headers={"Authorization": f"Bearer {key}"})
            assert me.status_code == 200 and me.json()["role"] == "administrator"
            assert me.headers["strict-transport-security"] == "max-age=31536000"  # 365 x 86 400 s
            assert _login_cookie(c, key) == {"secure": True, "httponly": True, "samesite": "strict"}
        # A client that does not trust the platform's CA refuses the certificate ...
        with pytest.raises(httpx.ConnectError, match="CERTIFICATE_VERIFY_FAILED"):
            httpx.get(f"{url}/health", timeout=5)
        # ... and nothing answers in plain HTTP on that port.
        with pytest.raises(httpx.HTTPError):
            httpx.get(f"http://127.0.0.1:{api.port}/health", timeout=5)
    finally:
        api.stop()


def test_production_without_tls_refuses_to_start(env):
    out = _run(env, "serve", "--port", str(free_port()))
    assert out.returncode == 2
    assert "refuses to serve the API over plain HTTP" in out.stderr and "EP_TLS_CERT_FILE" in out.stderr
    assert "EP_BEHIND_TLS_PROXY" in out.stderr


def test_only_one_of_certificate_and_key_is_refused(env, tmp_path):
    tls = ensure_server_cert(tmp_path / "ca")
    out = _run(env, "serve", "--port", str(free_port()), "--tls-cert-file", str(tls.cert))
    assert out.returncode == 2 and "both EP_TLS_CERT_FILE and EP_TLS_KEY_FILE" in out.stderr
    assert "https-test-signing-key" not in out.stderr  # settings errors never echo a secret


def test_behind_a_tls_proxy_production_serves_http_with_secure_cookies(env):
    env = {**env, "EP_BEHIND_TLS_PROXY": "true"}
    key = _run(env, "create-admin", "--name", "admin").stdout.strip()
    api = Served(env)
    try:
        url = f"http://127.0.0.1:{api.port}"
        api.wait(url, verify=True)
        with httpx.Client(base_url=url, timeout=10) as c:
            # The request reached us in plain HTTP from the proxy: the cookie is Secure all the same,
            # since the browser is on the proxy's HTTPS side.
            assert _login_cookie(c, key) == {"secure": True, "httponly": True, "samesite": "strict"}
            # The proxy (here: from 127.0.0.1, uvicorn's default trusted address) says the client used
            # HTTPS, so the answer carries HSTS; without that header it does not.
            proxied = c.get("/health", headers={"X-Forwarded-Proto": "https"})
            assert proxied.headers.get("strict-transport-security") == "max-age=31536000"
            assert "strict-transport-security" not in c.get("/health").headers
    finally:
        api.stop()
