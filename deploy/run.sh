#!/usr/bin/env bash
# Run the platform on a fresh machine: installs what is missing (deploy/bootstrap.sh), then starts
# Mosquitto, InfluxDB, ingest, the API and a simulated fleet (deploy/run.py) and prints where each
# listens. Ctrl-C stops everything. Options go to deploy/run.py (e.g. --fleet-size 100).
set -euo pipefail
cd "$(dirname "$0")/.."
bash deploy/bootstrap.sh
exec .venv/bin/python -m deploy.run "$@"
