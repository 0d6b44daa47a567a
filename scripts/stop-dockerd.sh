#!/usr/bin/env bash
# Stop the dockerd that start-dockerd.sh started, and only that one.
#
# Does nothing when start-dockerd.sh found a daemon already running (no pidfile), so a
# developer's own Docker is never stopped. Waits up to 30 s for a clean exit, then SIGKILLs.
set -euo pipefail

state_dir="${SPLITBRAIN_DOCKERD_DIR:-/tmp/splitbrain-dockerd}"
pidfile="$state_dir/dockerd.pid"

if [ ! -f "$pidfile" ]; then
    echo "stop-dockerd: no dockerd started by start-dockerd.sh; nothing to stop"
    exit 0
fi
pid="$(cat "$pidfile")"
if ! kill -0 "$pid" 2>/dev/null || [ "$(cat "/proc/$pid/comm" 2>/dev/null)" != dockerd ]; then
    echo "stop-dockerd: dockerd (pid $pid) already gone"
    rm -f "$pidfile"
    exit 0
fi
kill -TERM "$pid"
for _ in $(seq 60); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.5
done
if kill -0 "$pid" 2>/dev/null; then
    echo "stop-dockerd: dockerd (pid $pid) ignored SIGTERM for 30s; killing it" >&2
    kill -KILL "$pid" || true
fi
rm -f "$pidfile"
echo "stop-dockerd: dockerd (pid $pid) stopped"
