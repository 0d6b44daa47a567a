#!/usr/bin/env bash
# Builds nats-server (the NATS system under test) from the Go module proxy into the project's cache,
# ~/.cache/splitbrain/nats-server/<version>/nats-server ($SPLITBRAIN_CACHE overrides the root).
#
# Usage: scripts/install-nats.sh [VERSION ...]
#   No VERSION: the default release of `--system nats`. A version already built is only checked.
#   An unknown version fails with the list of published releases. Needs Go 1.22+ and .venv.
set -euo pipefail
cd "$(dirname "$0")/.."
[[ -x .venv/bin/python ]] || { echo "install-nats: no .venv: run scripts/setup.sh first" >&2; exit 1; }
if ! command -v go >/dev/null 2>&1 && [[ -x /usr/local/go/bin/go ]]; then
    PATH="${PATH}:/usr/local/go/bin"
fi
exec .venv/bin/python -m systems.nats "$@"
