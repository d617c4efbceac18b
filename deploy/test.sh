#!/usr/bin/env bash
# Run the whole test suite on a fresh machine: installs what is missing, then pytest.
# The test fixtures (tests/conftest.py) start a real Mosquitto and a real InfluxDB on free
# loopback ports under var/test/, and stop them when the run ends.
# Extra arguments go to pytest, e.g. `deploy/test.sh -k ingest -x`.
set -euo pipefail
cd "$(dirname "$0")/.."
bash deploy/bootstrap.sh
.venv/bin/python -m ruff check .
set +e
.venv/bin/python -m pytest "$@"
rc=$?
set -e
# pytest's 5 means "no tests collected": treat a filter that selects nothing as a failure too.
exit $rc
