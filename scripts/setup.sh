#!/usr/bin/env bash
# Everything splitbrain needs on a fresh machine: a virtual environment with the package and its
# test extras, and the Toxiproxy server. Idempotent: a second run only checks.
set -euo pipefail
cd "$(dirname "$0")/.."
python=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
    echo "setup: creating .venv with $($python --version)"
    "$python" -m venv .venv
fi
.venv/bin/python -m pip install --quiet --upgrade pip
.venv/bin/python -m pip install --quiet -e '.[test]'
bash scripts/install-toxiproxy.sh
bash scripts/install-nats.sh
echo "setup: done (.venv/bin/splitbrain, $(command -v toxiproxy-server || echo "$HOME/.local/bin/toxiproxy-server"))"
