#!/usr/bin/env bash
# Install everything the platform and its tests need on a fresh Debian machine:
# Mosquitto and InfluxDB 1.x from Debian's packages (only when missing), a Python 3.11
# virtual environment in .venv, and the project with its dev dependencies.
# Idempotent: a second run only checks.
set -euo pipefail
cd "$(dirname "$0")/.."

need_apt=()
command -v mosquitto >/dev/null 2>&1 || [ -x /usr/sbin/mosquitto ] || need_apt+=(mosquitto mosquitto-clients)
command -v influxd >/dev/null 2>&1 || need_apt+=(influxdb)
# Headless Chromium renders the disclosure pages in tests; the CJK font makes the Chinese labels
# legible in the kept screenshots.
command -v chromium >/dev/null 2>&1 || need_apt+=(chromium)
[ -e /usr/share/fonts/truetype/wqy/wqy-microhei.ttc ] || need_apt+=(fonts-wqy-microhei)
# `docker-compose config` validates deploy/docker-compose.yml offline (no engine needed).
command -v docker-compose >/dev/null 2>&1 || need_apt+=(docker-compose)
if [ ${#need_apt[@]} -gt 0 ]; then
  echo "bootstrap: apt-get install ${need_apt[*]}"
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  # policy-rc.d may refuse to start the packaged services; we run our own instances anyway.
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need_apt[@]}" >/dev/null
fi

PY=${PYTHON:-}
if [ -z "$PY" ]; then
  for cand in python3.11 python3; do
    if command -v "$cand" >/dev/null 2>&1 && "$cand" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11))'; then
      PY=$cand; break
    fi
  done
fi
[ -n "$PY" ] || { echo "bootstrap: Python 3.11 is required (set PYTHON=/path/to/python3.11)" >&2; exit 1; }

if [ ! -x .venv/bin/python ]; then
  echo "bootstrap: creating .venv with $PY"
  "$PY" -m venv .venv
fi
# Reinstall only when pyproject.toml changed since the last successful install.
stamp=.venv/.installed-pyproject
if [ ! -f "$stamp" ] || ! cmp -s pyproject.toml "$stamp"; then
  echo "bootstrap: installing Python dependencies"
  .venv/bin/python -m pip install -q --upgrade pip >/dev/null
  .venv/bin/python -m pip install -q -e '.[dev]'
  # grafana-client (no longer a dependency) brought urllib3-future, which copies itself over the
  # urllib3 package at every interpreter start and breaks requests and schemathesis. A .venv
  # installed before it was dropped gets the real urllib3 back; a fresh one never has it.
  if .venv/bin/python -c 'import importlib.util, sys; sys.exit(importlib.util.find_spec("urllib3_future") is None)'; then
    echo "bootstrap: removing urllib3-future (it shadows urllib3)"
    .venv/bin/python -m pip uninstall -q -y grafana-client niquests urllib3-future
    .venv/bin/python -m pip install -q --force-reinstall --no-deps 'urllib3>=1.26,<3'
  fi
  cp pyproject.toml "$stamp"
fi
