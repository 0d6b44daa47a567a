#!/usr/bin/env bash
# Make sure a Docker daemon answers; start Debian's dockerd in the background if none does.
#
# - If `docker info` already answers, do nothing (a daemon this script did not start is never
#   touched, and stop-dockerd.sh will leave it alone).
# - Else install Debian's docker.io if dockerd is missing, start dockerd with its log in
#   $SPLITBRAIN_DOCKERD_DIR/dockerd.log and its pid in $SPLITBRAIN_DOCKERD_DIR/dockerd.pid, and
#   wait (at most $SPLITBRAIN_DOCKERD_WAIT seconds, default 60) until `docker info` answers.
# Exit 0 when a daemon answers, non-zero with the tail of the daemon's log otherwise.
set -euo pipefail

state_dir="${SPLITBRAIN_DOCKERD_DIR:-/tmp/splitbrain-dockerd}"
wait_s="${SPLITBRAIN_DOCKERD_WAIT:-60}"
log="$state_dir/dockerd.log"
pidfile="$state_dir/dockerd.pid"

# /usr/local/bin/docker may be a newer client than Debian's daemon (API 1.41): let the CLI
# negotiate unless the caller pinned a version.
docker_cli() {
    if [ -z "${DOCKER_API_VERSION:-}" ] && ! docker version >/dev/null 2>&1; then
        DOCKER_API_VERSION=1.41 docker "$@"
    else
        docker "$@"
    fi
}

answers() {
    command -v docker >/dev/null 2>&1 && docker_cli info >/dev/null 2>&1
}

if answers; then
    echo "start-dockerd: a Docker daemon already answers; nothing to do"
    exit 0
fi

if [ "$(id -u)" != 0 ]; then
    echo "start-dockerd: no Docker daemon answers and starting one needs root;" \
        "run this script as root or start Docker yourself" >&2
    exit 1
fi

if ! command -v dockerd >/dev/null 2>&1; then
    echo "start-dockerd: installing Debian's docker.io"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends docker.io iptables >/dev/null
fi

mkdir -p "$state_dir"
if [ -f "$pidfile" ] && [ "$(cat "/proc/$(cat "$pidfile")/comm" 2>/dev/null)" = dockerd ]; then
    echo "start-dockerd: dockerd (pid $(cat "$pidfile")) was started earlier; waiting for it"
else
    rm -f "$pidfile"
    # A stale socket or pidfile from a daemon that died keeps a new one from starting.
    if [ -f /var/run/docker.pid ] && ! kill -0 "$(cat /var/run/docker.pid)" 2>/dev/null; then
        rm -f /var/run/docker.pid
    fi
    echo "start-dockerd: starting dockerd (log: $log)"
    nohup dockerd --pidfile /var/run/docker.pid >"$log" 2>&1 </dev/null &
    echo $! >"$pidfile"
fi

deadline=$((SECONDS + wait_s))
while ! answers; do
    if ! kill -0 "$(cat "$pidfile")" 2>/dev/null; then
        echo "start-dockerd: dockerd exited; last lines of $log:" >&2
        tail -n 30 "$log" >&2 || true
        rm -f "$pidfile"
        exit 1
    fi
    if [ "$SECONDS" -ge "$deadline" ]; then
        echo "start-dockerd: dockerd did not answer within ${wait_s}s; last lines of $log:" >&2
        tail -n 30 "$log" >&2 || true
        exit 1
    fi
    sleep 0.5
done
echo "start-dockerd: dockerd answers (pid $(cat "$pidfile"), server $(docker_cli version --format '{{.Server.Version}}' 2>/dev/null || echo '?'))"
