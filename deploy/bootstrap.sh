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
step() { echo "bootstrap: [$1/3] $2 ($(date +%H:%M:%S))"; }

if [ ${#need_apt[@]} -gt 0 ]; then
  step 1 "apt-get install ${need_apt[*]} (a few minutes on a fresh machine)"
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  # policy-rc.d may refuse to start the packaged services; we run our own instances anyway.
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need_apt[@]}" >/dev/null
else
  step 1 "Debian packages: all present"
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
  step 2 "creating .venv with $PY"
  "$PY" -m venv .venv
else
  step 2 ".venv exists"
fi
# Reinstall only when pyproject.toml changed since the last successful install.
stamp=.venv/.installed-pyproject
if [ ! -f "$stamp" ] || ! cmp -s pyproject.toml "$stamp"; then
  step 3 "installing Python dependencies into .venv (pip prints each package it collects)"
  .venv/bin/python -m pip install -q --upgrade pip >/dev/null
  # Not -q: on a fresh machine this is the longest step, and a silent terminal looks hung.
  set +e
  .venv/bin/python -m pip install --progress-bar off -e '.[dev]' | grep --line-buffered -E '^(Collecting|Successfully)'
  rc=${PIPESTATUS[0]}
  set -e
  [ "$rc" -eq 0 ] || { echo "bootstrap: pip install failed (exit $rc)" >&2; exit 1; }
  # grafana-client 4 and later bring urllib3-future (through niquests), which copies itself over
  # the urllib3 package at every interpreter start and breaks requests and schemathesis; we pin
  # grafana-client < 4. A .venv installed before the pin gets the real urllib3 back.
  if .venv/bin/python -c 'import importlib.util, sys; sys.exit(importlib.util.find_spec("urllib3_future") is None)'; then
    echo "bootstrap: removing urllib3-future (it shadows urllib3)"
    .venv/bin/python -m pip uninstall -q -y niquests urllib3-future
    .venv/bin/python -m pip install -q --force-reinstall --no-deps 'urllib3>=1.26,<3'
  fi
  cp pyproject.toml "$stamp"
else
  step 3 "Python dependencies: up to date"
fi
